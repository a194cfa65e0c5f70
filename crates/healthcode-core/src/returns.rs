//! The return journey (返程): an application to come back to the region, verified by the
//! community the person returns to, then travel on a ticket a carrier may only sell once the
//! application is approved. What may happen next is decided here, from the application's state
//! alone; the store keeps the states and every step.

use serde::{Deserialize, Serialize};
use time::{Date, Duration, OffsetDateTime};

/// Where an application stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReturnState {
    /// Waiting for the community to verify and decide.
    Submitted,
    /// The community approved: tickets may be sold for the window.
    Approved,
    /// The community refused, with a reason.
    Rejected,
    /// Scanned at the arrival station with a normal temperature; waits for the district's
    /// reception team.
    Arrived,
    /// A fever at the station: handed to the fever clinic instead of home.
    FeverClinic,
    /// Received by the district's reception team; waits for the street office.
    WithDistrict,
    /// Received by the street office; waits for the community.
    WithStreet,
    /// Received by the community: home observation runs (its end is the policy's).
    Observing,
}

/// Who receives a returning person next, from the station to their door (接站 → 区 → 街道 →
/// 社区).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    District,
    Street,
    Community,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::District => "district",
            Stage::Street => "street",
            Stage::Community => "community",
        }
    }

    /// The parts of a scope that receives at this stage: a district (1), a street (2), a
    /// community (3).
    pub fn scope_parts(self) -> usize {
        match self {
            Stage::District => 1,
            Stage::Street => 2,
            Stage::Community => 3,
        }
    }
}

/// The state a hand-off leads to: each stage receives from the one before it, in order.
pub fn receive(state: ReturnState, stage: Stage) -> Result<ReturnState, Refusal> {
    match (state, stage) {
        (ReturnState::Arrived, Stage::District) => Ok(ReturnState::WithDistrict),
        (ReturnState::WithDistrict, Stage::Street) => Ok(ReturnState::WithStreet),
        (ReturnState::WithStreet, Stage::Community) => Ok(ReturnState::Observing),
        _ => Err(Refusal::OutOfOrder),
    }
}

/// The state an arrival scan leads to: only an approved (or already arriving) family arrives,
/// and a fever in any of them routes it to the fever clinic.
pub fn arrive(state: ReturnState, fever: bool) -> Result<ReturnState, Refusal> {
    match state {
        ReturnState::Approved | ReturnState::Arrived if fever => Ok(ReturnState::FeverClinic),
        ReturnState::Approved | ReturnState::Arrived => Ok(ReturnState::Arrived),
        _ => Err(Refusal::OutOfOrder),
    }
}

/// Whether someone waits on a hand-off: arrived or received, not yet at home.
pub fn in_transit(state: ReturnState) -> bool {
    matches!(
        state,
        ReturnState::Arrived | ReturnState::WithDistrict | ReturnState::WithStreet
    )
}

impl ReturnState {
    pub fn as_str(self) -> &'static str {
        match self {
            ReturnState::Submitted => "submitted",
            ReturnState::Approved => "approved",
            ReturnState::Rejected => "rejected",
            ReturnState::Arrived => "arrived",
            ReturnState::FeverClinic => "fever_clinic",
            ReturnState::WithDistrict => "with_district",
            ReturnState::WithStreet => "with_street",
            ReturnState::Observing => "observing",
        }
    }

    pub fn parse(s: &str) -> Option<ReturnState> {
        [
            ReturnState::Submitted,
            ReturnState::Approved,
            ReturnState::Rejected,
            ReturnState::Arrived,
            ReturnState::FeverClinic,
            ReturnState::WithDistrict,
            ReturnState::WithStreet,
            ReturnState::Observing,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// How a community worker's call to the applicant went (电话核实).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum CallOutcome {
    Reached,
    NotReached,
    AddressConfirmed,
    Refused,
}

impl CallOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Reached => "reached",
            CallOutcome::NotReached => "not_reached",
            CallOutcome::AddressConfirmed => "address_confirmed",
            CallOutcome::Refused => "refused",
        }
    }
}

/// How the person travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    Train,
    Flight,
    Car,
}

impl Transport {
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Train => "train",
            Transport::Flight => "flight",
            Transport::Car => "car",
        }
    }
}

/// What a worker may do to an application, and what it becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Reject,
}

/// Why an action on an application is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The application was decided already.
    Decided,
    /// Approval needs a call that confirmed the address first.
    Unverified,
    /// Not the next step of the journey (a hand-off skipped, an arrival not approved).
    OutOfOrder,
}

/// The state a decision leads to. Only a submitted application is decided, and approving needs a
/// call that confirmed the address: an application nobody verified is never approved.
pub fn decide(
    state: ReturnState,
    decision: Decision,
    address_confirmed: bool,
) -> Result<ReturnState, Refusal> {
    match (state, decision) {
        (ReturnState::Submitted, Decision::Reject) => Ok(ReturnState::Rejected),
        (ReturnState::Submitted, Decision::Approve) if address_confirmed => {
            Ok(ReturnState::Approved)
        }
        (ReturnState::Submitted, Decision::Approve) => Err(Refusal::Unverified),
        _ => Err(Refusal::Decided),
    }
}

/// Days around the planned date in which an approved person may travel: from two days before
/// to `window_days` after.
pub fn travel_window(planned: Date, window_days: i64) -> (Date, Date) {
    (
        planned - Duration::days(2),
        planned + Duration::days(window_days.max(0)),
    )
}

/// A booking's state as a carrier reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BookingState {
    /// Seat held for payment (两小时内支付).
    Held,
    Paid,
    /// Held and not paid in time: the seat went back.
    Lapsed,
}

impl BookingState {
    pub fn as_str(self) -> &'static str {
        match self {
            BookingState::Held => "held",
            BookingState::Paid => "paid",
            BookingState::Lapsed => "lapsed",
        }
    }

    pub fn parse(s: &str) -> Option<BookingState> {
        [BookingState::Held, BookingState::Paid, BookingState::Lapsed]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// A booking's state at `now`: a held booking past its hold has lapsed, whatever was stored.
pub fn booking_state(
    stored: BookingState,
    held_until: OffsetDateTime,
    now: OffsetDateTime,
) -> BookingState {
    match stored {
        BookingState::Held if now > held_until => BookingState::Lapsed,
        other => other,
    }
}

/// Whether a carrier's report may move a booking from `from` (as of now) to `to`: held → paid,
/// held → lapsed, and the same state again (a report resent). Nothing comes back from lapsed,
/// and a paid booking stays paid.
pub fn booking_moves(from: BookingState, to: BookingState) -> bool {
    from == to
        || matches!(
            (from, to),
            (BookingState::Held, BookingState::Paid) | (BookingState::Held, BookingState::Lapsed)
        )
}

/// A community code as accounts and applications name it: the district's GB/T 2260 code, then
/// the street and the community, each 3 digits (`110105-003-002`). An account's scope is any
/// prefix of it ending at a part (`110105`, `110105-003`), and it sees what lies within.
pub fn valid_community(code: &str) -> bool {
    let parts: Vec<&str> = code.split('-').collect();
    parts.len() == 3
        && parts[0].len() == 6
        && parts[1..].iter().all(|p| p.len() == 3)
        && parts.iter().all(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether a scope (district, street or community) covers a community.
pub fn covers(scope: &str, community: &str) -> bool {
    community == scope
        || community
            .strip_prefix(scope)
            .is_some_and(|rest| rest.starts_with('-'))
}

/// A scope is a district, a street or a community code.
pub fn valid_scope(scope: &str) -> bool {
    let padded = match scope.split('-').count() {
        1 => format!("{scope}-000-000"),
        2 => format!("{scope}-000"),
        _ => scope.to_owned(),
    };
    valid_community(&padded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn only_a_verified_submission_is_approved_and_only_once() {
        use Decision::*;
        use ReturnState::*;
        assert_eq!(decide(Submitted, Approve, true), Ok(Approved));
        assert_eq!(decide(Submitted, Approve, false), Err(Refusal::Unverified));
        assert_eq!(decide(Submitted, Reject, false), Ok(Rejected));
        assert_eq!(decide(Approved, Reject, true), Err(Refusal::Decided));
        assert_eq!(decide(Rejected, Approve, true), Err(Refusal::Decided));
    }

    #[test]
    fn a_held_booking_lapses_at_its_time_and_never_comes_back() {
        let until = datetime!(2020-04-01 10:00 UTC);
        assert_eq!(
            booking_state(BookingState::Held, until, until),
            BookingState::Held
        );
        assert_eq!(
            booking_state(BookingState::Held, until, until + Duration::seconds(1)),
            BookingState::Lapsed
        );
        assert_eq!(
            booking_state(BookingState::Paid, until, until + Duration::days(1)),
            BookingState::Paid
        );
        assert!(booking_moves(BookingState::Held, BookingState::Paid));
        assert!(!booking_moves(BookingState::Lapsed, BookingState::Paid));
        assert!(!booking_moves(BookingState::Paid, BookingState::Held));
    }

    #[test]
    fn scopes_cover_what_lies_within_them() {
        assert!(valid_community("110105-003-002"));
        assert!(!valid_community("110105-003"));
        assert!(!valid_community("11010a-003-002"));
        assert!(
            valid_scope("110105") && valid_scope("110105-003") && valid_scope("110105-003-002")
        );
        assert!(!valid_scope("1101") && !valid_scope("110105-03"));
        assert!(covers("110105", "110105-003-002"));
        assert!(covers("110105-003", "110105-003-002"));
        assert!(covers("110105-003-002", "110105-003-002"));
        assert!(!covers("110105-003", "110105-004-002"));
        assert!(!covers("11010", "110105-003-002"));
        assert!(!covers("110105-003-00", "110105-003-002"));
    }

    #[test]
    fn hand_offs_go_in_order_from_the_station_to_the_door() {
        use ReturnState::*;
        assert_eq!(arrive(Approved, false), Ok(Arrived));
        assert_eq!(arrive(Arrived, true), Ok(FeverClinic));
        assert_eq!(arrive(Submitted, false), Err(Refusal::OutOfOrder));
        assert_eq!(receive(Arrived, Stage::District), Ok(WithDistrict));
        assert_eq!(receive(WithDistrict, Stage::Street), Ok(WithStreet));
        assert_eq!(receive(WithStreet, Stage::Community), Ok(Observing));
        assert_eq!(receive(Arrived, Stage::Street), Err(Refusal::OutOfOrder));
        assert_eq!(
            receive(FeverClinic, Stage::District),
            Err(Refusal::OutOfOrder)
        );
        assert!(in_transit(WithStreet) && !in_transit(Observing) && !in_transit(Approved));
    }

    #[test]
    fn the_window_opens_two_days_early() {
        assert_eq!(
            travel_window(date!(2020 - 04 - 10), 7),
            (date!(2020 - 04 - 08), date!(2020 - 04 - 17))
        );
    }
}
