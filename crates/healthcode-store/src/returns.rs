//! The return journey as stored: applications with their members and every step, and the
//! bookings carriers report. Each step is written with its audit entry and the message telling
//! the applicant, in one transaction; a state changes only from the state the caller saw.

use crate::audit::{self, Actor};
use crate::db::{BeginWrite, numbered};
use crate::outbox::{NewNotice, queue_notices};
use crate::{Outbox, Store, StoreError, db, from_ms, ms, ordered_id};
use healthcode_core::Text;
use healthcode_core::returns::{BookingState, ReturnState, booking_moves, booking_state};
use serde::Serialize;
use time::{Date, OffsetDateTime};

/// One step of an application, as the applicant sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReturnStep {
    pub seq: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The account (or `resident:…`) that acted, and its role.
    pub actor: String,
    pub role: String,
    /// `applied`, `call`, `approved`, `rejected`, `booking`.
    pub kind: String,
    pub outcome: String,
    pub note: String,
}

/// An application to return, with its steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReturnApplication {
    pub id: String,
    pub applicant_id: String,
    /// Everyone returning on it: the applicant and children in their care.
    pub members: Vec<String>,
    /// GB/T 2260 code of the region returned from.
    pub origin: String,
    /// district-street-community code.
    pub community: String,
    pub address: String,
    pub reason: String,
    pub planned_date: Date,
    pub transport: String,
    pub origin_colour: String,
    /// `declared` (the applicant's word) or `attested` (the origin region's signed statement).
    pub origin_basis: String,
    pub state: ReturnState,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When a worker last acted on it.
    #[serde(with = "time::serde::rfc3339::option")]
    pub touched_at: Option<OffsetDateTime>,
    pub steps: Vec<ReturnStep>,
}

/// What an application is made of.
#[derive(Debug, Clone)]
pub struct NewReturn {
    pub applicant_id: String,
    pub members: Vec<String>,
    pub origin: String,
    pub community: String,
    pub address: String,
    pub reason: String,
    pub planned_date: Date,
    pub transport: String,
    pub origin_colour: String,
    pub origin_basis: String,
}

/// A step to add, the state it moves the application to (from the one the caller saw), and
/// the message that tells the applicant.
#[derive(Debug, Clone)]
pub struct NewStep<'a> {
    pub kind: &'a str,
    pub outcome: &'a str,
    pub note: &'a str,
    pub from: ReturnState,
    pub to: ReturnState,
    /// Whether a worker acted (which stops the escalation clock).
    pub touches: bool,
    pub message: Text,
}

/// A carrier's booking of a seat for a returning person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Booking {
    /// The carrier account.
    pub carrier: String,
    /// The carrier's own booking reference.
    pub reference: String,
    pub person_id: String,
    pub application_id: String,
    /// Train or flight number.
    pub service: String,
    pub travel_date: Date,
    /// The arrival station.
    pub station: String,
    pub seat: String,
    /// As of the read: a held booking past `held_until` is `lapsed`.
    pub state: BookingState,
    #[serde(with = "time::serde::rfc3339")]
    pub held_until: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// How many people stand where on the return journey (see [`Store::return_figures`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnFigures {
    pub by_state: Vec<(ReturnState, i64)>,
    /// Observing, and past the observation days since their arrival scan.
    pub released: i64,
    pub by_station: Vec<ExpectedArrivals>,
    pub by_district: Vec<ExpectedArrivals>,
}

/// People expected on a day at a place (an arrival station, or a district's code).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExpectedArrivals {
    pub date: Date,
    pub place: String,
    pub people: i64,
}

type AppRow = (
    String,
    String,
    String,
    String,
    Vec<u8>,
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    Option<i64>,
);

const SELECT_APP: &str = "SELECT id, applicant_id, origin, community, address_sealed, reason, planned_date, \
     transport, origin_colour, origin_basis, state, created_at, touched_at FROM return_applications";

type BookingRow = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    i64,
);

const SELECT_BOOKING: &str = "SELECT carrier, reference, person_id, application_id, service, travel_date, \
     station, seat, state, held_until, updated_at FROM bookings";

/// The bounds between which the codes within `scope` sort: `scope-` up to `scope.` ('.' follows
/// '-'), or every code for the empty scope (the whole region).
fn scope_range(scope: &str) -> (String, String) {
    if scope.is_empty() {
        (String::new(), "~".into())
    } else {
        (format!("{scope}-"), format!("{scope}."))
    }
}

fn address_context(id: &str) -> String {
    format!("return_applications.address/{id}")
}

fn parse_date(s: &str) -> Result<Date, StoreError> {
    Date::parse(s, &time::format_description::well_known::Iso8601::DATE)
        .map_err(|e| StoreError::Corrupt(format!("date {s:?}: {e}")))
}

fn date_text(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

impl Store {
    /// Files an application: its row, members, the first step, the audit entry and the message
    /// to the applicant.
    pub async fn create_return(
        &self,
        new: &NewReturn,
        message: &Text,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<ReturnApplication, StoreError> {
        let id = ordered_id(now);
        let sealed = self
            .vault
            .seal(new.address.as_bytes(), &address_context(&id));
        db::with_pool!(&self.backend, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO return_applications (id, applicant_id, origin, community, address_sealed, reason, \
                 planned_date, transport, origin_colour, origin_basis, state, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(&id).bind(&new.applicant_id).bind(&new.origin).bind(&new.community).bind(&sealed)
            .bind(&new.reason).bind(date_text(new.planned_date)).bind(&new.transport)
            .bind(&new.origin_colour).bind(&new.origin_basis).bind(ReturnState::Submitted.as_str())
            .bind(ms(now))
            .execute(&mut *tx)
            .await?;
            for member in &new.members {
                sqlx::query("INSERT INTO return_members (application_id, person_id) VALUES ($1, $2)")
                    .bind(&id)
                    .bind(member)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(
                "INSERT INTO return_steps (application_id, seq, at, actor, role, kind, outcome, note) \
                 VALUES ($1, 1, $2, $3, $4, 'applied', $5, '')",
            )
            .bind(&id).bind(ms(now)).bind(&actor.id).bind(&actor.role)
            .bind(ReturnState::Submitted.as_str())
            .execute(&mut *tx)
            .await?;
            self.tell_applicant(&mut *tx, &new.applicant_id, &format!("return:{id}:1"), message, now).await?;
            let detail = format!("return application {id} from {} to community {}", new.origin, new.community);
            audit::append(&mut *tx, ms(now), actor, "return.apply", Some(new.applicant_id.clone()), detail).await?;
            tx.commit().await?;
        });
        self.return_application(&id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("return application {id}")))
    }

    /// Queues a message to the applicant, in the app and by SMS, once per key.
    async fn tell_applicant<'c>(
        &self,
        conn: impl Into<db::Conn<'c>>,
        person_id: &str,
        key: &str,
        text: &Text,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let body = serde_json::to_vec(text).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let sealed = self.vault.seal(&body, Outbox::Notices.body_context());
        let notices: Vec<NewNotice> = ["app", "sms"]
            .into_iter()
            .map(|channel| NewNotice {
                person_id,
                channel,
                dedup_key: format!("{key}:{channel}"),
                colours: ("", ""),
                sealed: &sealed,
            })
            .collect();
        queue_notices(conn, &notices, now).await?;
        Ok(())
    }

    /// Adds a step, moving the application from `step.from` to `step.to`; a conflict when it is
    /// no longer in `step.from` (someone else acted first).
    pub async fn add_return_step(
        &self,
        id: &str,
        step: &NewStep<'_>,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<ReturnApplication, StoreError> {
        db::with_pool!(&self.backend, pool => {
            let mut tx = pool.begin_write().await?;
            let row: Option<(String,)> = sqlx::query_as(
                "UPDATE return_applications SET state = $1, touched_at = CASE WHEN $2 THEN $3 ELSE touched_at END \
                 WHERE id = $4 AND state = $5 RETURNING applicant_id",
            )
            .bind(step.to.as_str()).bind(step.touches).bind(ms(now)).bind(id).bind(step.from.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            let Some((applicant,)) = row else {
                return Err(StoreError::Conflict(format!(
                    "return application {id} is not {} any more", step.from.as_str()
                )));
            };
            let (seq,): (i64,) = sqlx::query_as(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM return_steps WHERE application_id = $1",
            )
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO return_steps (application_id, seq, at, actor, role, kind, outcome, note) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(id).bind(seq).bind(ms(now)).bind(&actor.id).bind(&actor.role)
            .bind(step.kind).bind(step.outcome).bind(step.note)
            .execute(&mut *tx)
            .await?;
            self.tell_applicant(&mut *tx, &applicant, &format!("return:{id}:{seq}"), &step.message, now).await?;
            let detail = format!("return application {id}: {} {}", step.kind, step.outcome);
            audit::append(&mut *tx, ms(now), actor, "return.step", Some(applicant), detail).await?;
            tx.commit().await?;
        });
        self.return_application(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("return application {id}")))
    }

    /// One application with its members and steps.
    pub async fn return_application(
        &self,
        id: &str,
    ) -> Result<Option<ReturnApplication>, StoreError> {
        let sql = format!("{SELECT_APP} WHERE id = $1");
        let rows: Vec<AppRow> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(&sql).bind(id).fetch_all(pool).await?
        });
        Ok(self.applications_from(rows).await?.pop())
    }

    /// The applications a person is on (as applicant or member), newest first.
    pub async fn returns_of_person(
        &self,
        person_id: &str,
    ) -> Result<Vec<ReturnApplication>, StoreError> {
        let sql = format!(
            "{SELECT_APP} WHERE id IN (SELECT application_id FROM return_members WHERE person_id = $1) \
             ORDER BY created_at DESC, id DESC"
        );
        let rows: Vec<AppRow> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(&sql).bind(person_id).fetch_all(pool).await?
        });
        self.applications_from(rows).await
    }

    /// The applications to communities within `scope` (a district, street or community code;
    /// empty for the whole region), oldest first, at most `limit`.
    pub async fn returns_in_scope(
        &self,
        scope: &str,
        limit: i64,
    ) -> Result<Vec<ReturnApplication>, StoreError> {
        let sql = format!(
            "{SELECT_APP} WHERE community = $1 OR (community > $2 AND community < $3) \
             ORDER BY created_at, id LIMIT $4"
        );
        let (lo, hi) = scope_range(scope);
        let rows: Vec<AppRow> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(&sql)
                .bind(scope)
                .bind(lo)
                .bind(hi)
                .bind(limit)
                .fetch_all(pool)
                .await?
        });
        self.applications_from(rows).await
    }

    async fn applications_from(
        &self,
        rows: Vec<AppRow>,
    ) -> Result<Vec<ReturnApplication>, StoreError> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<&String> = rows.iter().map(|r| &r.0).collect();
        let list = numbered(1, ids.len());
        let members_sql = format!(
            "SELECT application_id, person_id FROM return_members WHERE application_id IN ({list}) ORDER BY person_id"
        );
        let steps_sql = format!(
            "SELECT application_id, seq, at, actor, role, kind, outcome, note FROM return_steps \
             WHERE application_id IN ({list}) ORDER BY application_id, seq"
        );
        type StepRow = (String, i64, i64, String, String, String, String, String);
        let (members, steps): (Vec<(String, String)>, Vec<StepRow>) = db::with_pool!(&self.backend, pool => {
            let mut q = sqlx::query_as(&members_sql);
            for id in &ids {
                q = q.bind(*id);
            }
            let members = q.fetch_all(pool).await?;
            let mut q = sqlx::query_as(&steps_sql);
            for id in &ids {
                q = q.bind(*id);
            }
            (members, q.fetch_all(pool).await?)
        });
        rows.into_iter()
            .map(|r| {
                let id = r.0;
                let address = self.vault.open(&r.4, &address_context(&id))?;
                Ok(ReturnApplication {
                    members: members
                        .iter()
                        .filter(|(a, _)| *a == id)
                        .map(|(_, p)| p.clone())
                        .collect(),
                    steps: steps
                        .iter()
                        .filter(|s| s.0 == id)
                        .map(|s| ReturnStep {
                            seq: s.1,
                            at: from_ms(s.2),
                            actor: s.3.clone(),
                            role: s.4.clone(),
                            kind: s.5.clone(),
                            outcome: s.6.clone(),
                            note: s.7.clone(),
                        })
                        .collect(),
                    applicant_id: r.1,
                    origin: r.2,
                    community: r.3,
                    address: String::from_utf8_lossy(&address).into_owned(),
                    reason: r.5,
                    planned_date: parse_date(&r.6)?,
                    transport: r.7,
                    origin_colour: r.8,
                    origin_basis: r.9,
                    state: ReturnState::parse(&r.10)
                        .ok_or_else(|| StoreError::Corrupt(format!("return state {:?}", r.10)))?,
                    created_at: from_ms(r.11),
                    touched_at: r.12.map(from_ms),
                    id,
                })
            })
            .collect()
    }

    /// Records a carrier's report of a booking, or its next state (held → paid or lapsed; the
    /// same report again changes nothing). A booking is for an application the person is on.
    /// Returns the booking as of `now` and whether it is new.
    pub async fn report_booking(
        &self,
        booking: &Booking,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<(Booking, bool), StoreError> {
        let key = (booking.carrier.clone(), booking.reference.clone());
        let created = db::with_pool!(&self.backend, pool => {
            let mut tx = pool.begin_write().await?;
            let sql = format!("{SELECT_BOOKING} WHERE carrier = $1 AND reference = $2");
            let held: Option<BookingRow> = sqlx::query_as(&sql)
                .bind(&key.0).bind(&key.1).fetch_optional(&mut *tx).await?;
            let created = match held {
                Some(row) => {
                    let current = booking_from(row)?;
                    let now_state = booking_state(current.state, current.held_until, now);
                    if current.person_id != booking.person_id || !booking_moves(now_state, booking.state) {
                        return Err(StoreError::Conflict(format!(
                            "booking {} is {} and cannot become {}",
                            key.1, now_state.as_str(), booking.state.as_str()
                        )));
                    }
                    sqlx::query("UPDATE bookings SET state = $1, updated_at = $2 WHERE carrier = $3 AND reference = $4")
                        .bind(booking.state.as_str()).bind(ms(now)).bind(&key.0).bind(&key.1)
                        .execute(&mut *tx).await?;
                    false
                }
                None => {
                    sqlx::query(
                        "INSERT INTO bookings (carrier, reference, person_id, application_id, service, travel_date, \
                         station, seat, state, held_until, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
                    )
                    .bind(&key.0).bind(&key.1).bind(&booking.person_id).bind(&booking.application_id)
                    .bind(&booking.service).bind(date_text(booking.travel_date)).bind(&booking.station)
                    .bind(&booking.seat).bind(booking.state.as_str()).bind(ms(booking.held_until)).bind(ms(now))
                    .execute(&mut *tx).await?;
                    true
                }
            };
            let detail = format!(
                "booking {} ({} {} to {}): {}",
                key.1, booking.service, date_text(booking.travel_date), booking.station, booking.state.as_str()
            );
            audit::append(&mut *tx, ms(now), actor, "return.booking", Some(booking.person_id.clone()), detail).await?;
            tx.commit().await?;
            created
        });
        let sql = format!("{SELECT_BOOKING} WHERE carrier = $1 AND reference = $2");
        let row: BookingRow = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(&sql).bind(&key.0).bind(&key.1).fetch_one(pool).await?
        });
        let mut stored = booking_from(row)?;
        stored.state = booking_state(stored.state, stored.held_until, now);
        Ok((stored, created))
    }

    /// A person's bookings as of `now`, newest first.
    pub async fn bookings_of(
        &self,
        person_id: &str,
        now: OffsetDateTime,
    ) -> Result<Vec<Booking>, StoreError> {
        let sql =
            format!("{SELECT_BOOKING} WHERE person_id = $1 ORDER BY created_at DESC, reference");
        let rows: Vec<BookingRow> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as(&sql).bind(person_id).fetch_all(pool).await?
        });
        rows.into_iter()
            .map(|r| {
                let mut b = booking_from(r)?;
                b.state = booking_state(b.state, b.held_until, now);
                Ok(b)
            })
            .collect()
    }

    /// The figures of the return journey within `scope`, in people (members), not applications:
    /// how many stand in each state, how many of those observing have passed `observation` since
    /// their arrival scan (released), and who is expected on which day: by arrival station from
    /// the bookings that still stand, and by district from the planned dates of approved
    /// applications.
    pub async fn return_figures(
        &self,
        scope: &str,
        observation: time::Duration,
        now: OffsetDateTime,
    ) -> Result<ReturnFigures, StoreError> {
        const IN_SCOPE: &str = "(a.community = $1 OR (a.community > $2 AND a.community < $3))";
        let by_state_sql = format!(
            "SELECT a.state, COUNT(*) FROM return_applications a \
             JOIN return_members m ON m.application_id = a.id WHERE {IN_SCOPE} GROUP BY a.state"
        );
        let released_sql = format!(
            "SELECT COUNT(*) FROM return_applications a JOIN return_members m ON m.application_id = a.id \
             WHERE {IN_SCOPE} AND a.state = 'observing' AND EXISTS (SELECT 1 FROM return_steps s \
             WHERE s.application_id = a.id AND s.kind = 'arrival' AND s.at <= $4)"
        );
        let stations_sql = format!(
            "SELECT b.travel_date, b.station, COUNT(*) FROM bookings b \
             JOIN return_applications a ON a.id = b.application_id \
             WHERE {IN_SCOPE} AND a.state = 'approved' AND (b.state = 'paid' OR (b.state = 'held' AND b.held_until > $4)) \
             GROUP BY b.travel_date, b.station ORDER BY b.travel_date, b.station"
        );
        let districts_sql = format!(
            "SELECT a.planned_date, substr(a.community, 1, 6), COUNT(*) FROM return_applications a \
             JOIN return_members m ON m.application_id = a.id WHERE {IN_SCOPE} AND a.state = 'approved' \
             GROUP BY a.planned_date, substr(a.community, 1, 6) ORDER BY 1, 2"
        );
        let (lo, hi) = scope_range(scope);
        type Expected = Vec<(String, String, i64)>;
        let (by_state, released, stations, districts): (
            Vec<(String, i64)>,
            i64,
            Expected,
            Expected,
        ) = db::with_pool!(&self.backend, pool => {
            let by_state = sqlx::query_as(&by_state_sql)
                .bind(scope).bind(&lo).bind(&hi).fetch_all(pool).await?;
            let (released,): (i64,) = sqlx::query_as(&released_sql)
                .bind(scope).bind(&lo).bind(&hi).bind(ms(now - observation)).fetch_one(pool).await?;
            let stations = sqlx::query_as(&stations_sql)
                .bind(scope).bind(&lo).bind(&hi).bind(ms(now)).fetch_all(pool).await?;
            let districts = sqlx::query_as(&districts_sql)
                .bind(scope).bind(&lo).bind(&hi).fetch_all(pool).await?;
            (by_state, released, stations, districts)
        });
        let expected = |rows: Expected| -> Result<Vec<ExpectedArrivals>, StoreError> {
            rows.into_iter()
                .map(|(date, place, people)| {
                    Ok(ExpectedArrivals {
                        date: parse_date(&date)?,
                        place,
                        people,
                    })
                })
                .collect()
        };
        Ok(ReturnFigures {
            by_state: by_state
                .into_iter()
                .map(|(s, n)| {
                    ReturnState::parse(&s)
                        .map(|s| (s, n))
                        .ok_or_else(|| StoreError::Corrupt(format!("return state {s:?}")))
                })
                .collect::<Result<_, _>>()?,
            released,
            by_station: expected(stations)?,
            by_district: expected(districts)?,
        })
    }

    /// Sets the district, street or community an account works for.
    pub async fn set_account_scope(
        &self,
        id: &str,
        scope: &str,
        actor: &Actor,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        db::with_pool!(&self.backend, pool => {
            let mut tx = pool.begin_write().await?;
            let done = sqlx::query("UPDATE accounts SET scope = $1 WHERE id = $2")
                .bind(scope)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if done == 0 {
                return Err(StoreError::NotFound(format!("account {id}")));
            }
            audit::append(&mut *tx, ms(now), actor, "account.scope", None, format!("account {id} works for {scope}")).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The scope of an account, if it has one.
    pub async fn account_scope(&self, id: &str) -> Result<Option<String>, StoreError> {
        let row: Option<(Option<String>,)> = db::with_pool!(&self.backend, pool => {
            sqlx::query_as("SELECT scope FROM accounts WHERE id = $1").bind(id).fetch_optional(pool).await?
        });
        Ok(row.and_then(|(s,)| s))
    }
}

fn booking_from(r: BookingRow) -> Result<Booking, StoreError> {
    Ok(Booking {
        carrier: r.0,
        reference: r.1,
        person_id: r.2,
        application_id: r.3,
        service: r.4,
        travel_date: parse_date(&r.5)?,
        station: r.6,
        seat: r.7,
        state: BookingState::parse(&r.8)
            .ok_or_else(|| StoreError::Corrupt(format!("booking state {:?}", r.8)))?,
        held_until: from_ms(r.9),
        updated_at: from_ms(r.10),
    })
}
