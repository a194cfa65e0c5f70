//! Who is calling: a staff or department account (bearer API token, or a page session opened on
//! the staff login page) or a resident (session token from a phone login). Each handler states
//! the roles it admits.

use crate::AppState;
use crate::error::ApiError;
use crate::web::cookies;
use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use healthcode_store::{Account, Actor, FactStamp, Person};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Resident,
    Checkpoint,
    VenueManager,
    HealthOfficial,
    CommunityWorker,
    Department,
    Auditor,
    Admin,
    /// A hub official: decides regions' proposals and revokes keys (on the hub only).
    HubOfficial,
    /// A carrier (the role of 12306): asks whether a passenger may travel and reports bookings.
    Carrier,
}

pub const STAFF_ROLES: [Role; 9] = [
    Role::Checkpoint,
    Role::VenueManager,
    Role::HealthOfficial,
    Role::CommunityWorker,
    Role::Department,
    Role::Auditor,
    Role::Admin,
    Role::HubOfficial,
    Role::Carrier,
];

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Resident => "resident",
            Role::Checkpoint => "checkpoint",
            Role::VenueManager => "venue_manager",
            Role::HealthOfficial => "health_official",
            Role::CommunityWorker => "community_worker",
            Role::Department => "department",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
            Role::HubOfficial => "hub_official",
            Role::Carrier => "carrier",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        STAFF_ROLES
            .into_iter()
            .chain([Role::Resident])
            .find(|r| r.as_str() == s)
    }
}

/// The authenticated caller.
#[derive(Debug, Clone)]
pub enum Caller {
    Staff {
        account: Account,
        role: Role,
    },
    /// A resident logged in by phone: the people enrolled under that phone (themselves and the
    /// children in their care), and the phone's blind index.
    Resident {
        phone_index: Vec<u8>,
        people: Vec<Person>,
        /// Where their reads of their own code go: the read replica when it can serve this
        /// request, else the primary (`replica::store_for`).
        reads: healthcode_store::Store,
        /// Each person's fact stamp, read with the session from `reads`: what a status read in
        /// this request compares its kept colour with.
        stamps: HashMap<String, FactStamp>,
    },
}

impl Caller {
    pub fn role(&self) -> Role {
        match self {
            Caller::Staff { role, .. } => *role,
            Caller::Resident { .. } => Role::Resident,
        }
    }

    /// Refuses with 403 unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.contains(&self.role()) {
            Ok(())
        } else {
            Err(ApiError::forbidden())
        }
    }

    /// The audit actor for this caller, acting for `purpose`.
    pub fn actor(&self, purpose: impl Into<String>) -> Actor {
        match self {
            Caller::Staff { account, role } => {
                Actor::new(account.id.clone(), role.as_str(), purpose)
            }
            Caller::Resident { people, .. } => Actor::new(
                people
                    .first()
                    .map_or_else(|| "resident".to_string(), |p| format!("resident:{}", p.id)),
                Role::Resident.as_str(),
                purpose,
            ),
        }
    }

    /// Whether a resident caller may act for this person (themselves or a child in their care).
    pub fn acts_for(&self, person_id: &str) -> bool {
        match self {
            Caller::Resident { people, .. } => people.iter().any(|p| p.id == person_id),
            Caller::Staff { .. } => false,
        }
    }
}

/// The prefix of resident session tokens (staff API tokens never start with it).
pub const SESSION_PREFIX: &str = "hs_";
/// The prefix of staff page sessions, opened on the staff login page (API tokens never start
/// with it either).
pub const STAFF_SESSION_PREFIX: &str = "hw_";

/// Whether a token is a session (resident or staff page session), as opposed to an API token.
pub fn is_session(token: &str) -> bool {
    token.starts_with(SESSION_PREFIX) || token.starts_with(STAFF_SESSION_PREFIX)
}

pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    value
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// The token a request presents: its bearer token, or else the pages' session cookie when the
/// request also carries the CSRF token bound to that session in a header (what the pages' own
/// scripts send).
pub fn presented_token(state: &AppState, headers: &HeaderMap) -> Option<String> {
    match bearer(headers) {
        Some(token) => Some(token.to_owned()),
        None => api_session(state, headers),
    }
}

impl Caller {
    /// The caller a token stands for: a resident session, a staff page session, or a staff or
    /// department API token. Each is looked up in the store on every request, so an ended
    /// session or a revoked account stops working at once.
    /// A read (`read`, on a node with a replica) may find a resident's session there.
    pub async fn from_token(
        state: &AppState,
        token: &str,
        read: Option<&crate::replica::ReadAfter>,
    ) -> Result<Caller, ApiError> {
        // Sessions carry their own prefixes, so each token costs one lookup.
        if token.starts_with(SESSION_PREFIX) {
            let on_replica = match crate::replica::store_for(state, read) {
                Some(replica) => replica
                    .session_people(token, state.now())
                    .await?
                    .map(|found| (found, replica)),
                None => None,
            };
            // A session opened moments ago may not have reached the replica yet: it and the
            // reads it makes go to the primary.
            let (session, reads) = match on_replica {
                Some(found) => found,
                None => (
                    state
                        .store
                        .session_people(token, state.now())
                        .await?
                        .ok_or_else(ApiError::unauthorized)?,
                    state.store.clone(),
                ),
            };
            return Ok(Caller::Resident {
                phone_index: session.phone_index,
                people: session.people,
                reads,
                stamps: session.stamps,
            });
        }
        let account = if token.starts_with(STAFF_SESSION_PREFIX) {
            state
                .store
                .staff_session_account(token, state.now())
                .await?
        } else {
            state.store.account_by_token(token).await?
        }
        .ok_or_else(ApiError::unauthorized)?;
        let role = Role::parse(&account.role).ok_or_else(ApiError::forbidden)?;
        Ok(Caller::Staff { account, role })
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    /// A bearer token, or the web pages' session cookie with its CSRF header.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        let token = presented_token(state, &parts.headers).ok_or_else(ApiError::unauthorized)?;
        Caller::from_token(state, &token, parts.extensions.get()).await
    }
}

/// `bytes` random bytes from the OS, as hex: tokens and identifiers.
pub fn random_hex(bytes: usize) -> String {
    use rand::RngCore;
    let mut buf = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut buf);
    hex::encode(buf)
}

/// A new staff or checkpoint API token: 32 random bytes, hex, prefixed `hc_`.
pub fn new_staff_token() -> String {
    format!("hc_{}", random_hex(32))
}

/// A new resident session token: 32 random bytes, hex, prefixed `hs_`.
pub fn new_session_token() -> String {
    format!("{SESSION_PREFIX}{}", random_hex(32))
}

/// A new staff page-session token: 32 random bytes, hex, prefixed `hw_`.
pub fn new_staff_session_token() -> String {
    format!("{STAFF_SESSION_PREFIX}{}", random_hex(32))
}

/// Ends the session a token stands for, resident or staff page session. An API token is not a
/// session (422 `not_a_session`: an admin revokes the account); an unknown or ended one is 401.
pub async fn end_session(state: &AppState, token: &str) -> Result<(), ApiError> {
    let ended = if token.starts_with(SESSION_PREFIX) {
        state.store.end_session(token).await?
    } else if token.starts_with(STAFF_SESSION_PREFIX) {
        state.store.end_staff_session(token).await?
    } else if state.store.account_by_token(token).await?.is_some() {
        return Err(ApiError::unprocessable(
            "not_a_session",
            "an API token is not a session and is not ended by logging out: an admin revokes the account (healthcode accounts revoke)",
            "API 令牌不是会话，无法通过退出登录作废，请由管理员吊销该账号",
        ));
    } else {
        false
    };
    if ended {
        Ok(())
    } else {
        Err(ApiError::unauthorized())
    }
}

fn is_token_like(v: &str) -> bool {
    (16..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The session in the cookie: only a session token; an API token there (as older versions set
/// for staff) counts for nothing.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    cookies::cookie(headers, cookies::SESSION_COOKIE).filter(|t| is_token_like(t) && is_session(t))
}

/// The session token for an API call made by a page's script: only with the CSRF token bound to
/// that session in the header, so another site cannot ride on the cookie, nor plant a CSRF
/// cookie of its own choosing.
pub fn api_session(state: &AppState, headers: &HeaderMap) -> Option<String> {
    let session = session_cookie(headers)?;
    let sent = headers.get(cookies::CSRF_HEADER)?.to_str().ok()?;
    cookies::same(sent, &state.store.session_csrf(session)).then(|| session.to_owned())
}
