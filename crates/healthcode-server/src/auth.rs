//! Who is calling: a staff or department account (bearer API token) or a resident (bearer
//! session token from a phone login). Each handler states the roles it admits.

use crate::AppState;
use crate::error::ApiError;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use healthcode_store::{Account, Actor, Person};
use serde::{Deserialize, Serialize};

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
}

pub const STAFF_ROLES: [Role; 7] = [
    Role::Checkpoint,
    Role::VenueManager,
    Role::HealthOfficial,
    Role::CommunityWorker,
    Role::Department,
    Role::Auditor,
    Role::Admin,
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

fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    value
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

impl Caller {
    /// The caller a token stands for: a staff or department API token, or a resident session.
    pub async fn from_token(state: &AppState, token: &str) -> Result<Caller, ApiError> {
        // Resident sessions carry their own prefix, so each token costs one lookup.
        if !token.starts_with(SESSION_PREFIX) {
            let account = match state.caches.account(token) {
                Some(account) => account,
                None => {
                    let account = state
                        .store
                        .account_by_token(token)
                        .await?
                        .ok_or_else(ApiError::unauthorized)?;
                    state.caches.remember_account(token, &account);
                    account
                }
            };
            let role = Role::parse(&account.role).ok_or_else(ApiError::forbidden)?;
            return Ok(Caller::Staff { account, role });
        }
        let phone_index = state
            .store
            .session_phone_index(token, state.now())
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        let people = state.store.find_by_phone_index(&phone_index).await?;
        Ok(Caller::Resident {
            phone_index,
            people,
        })
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    /// A bearer token, or the web pages' session cookie when the request also carries the
    /// page's CSRF token in a header (what the pages' own scripts send).
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        let token = match bearer(parts) {
            Some(token) => token.to_owned(),
            None => crate::web::session::api_session(&parts.headers)
                .ok_or_else(ApiError::unauthorized)?,
        };
        Caller::from_token(state, &token).await
    }
}

/// `bytes` random bytes from the OS, as hex: tokens and identifiers.
pub fn random_hex(bytes: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rngs::OsRng;
    (0..bytes)
        .map(|_| format!("{:02x}", rng.r#gen::<u8>()))
        .collect()
}

/// A new staff or checkpoint API token: 32 random bytes, hex, prefixed `hc_`.
pub fn new_staff_token() -> String {
    format!("hc_{}", random_hex(32))
}
