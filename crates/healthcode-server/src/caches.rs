//! Small in-memory caches that keep the hot path (a checkpoint's scan) free of reads: staff
//! accounts by token for a few seconds (so a revoked token stops working within that time), and
//! the checkpoint and venue of a checkpoint account, which never change once created.

use healthcode_store::{Account, Checkpoint, Venue};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a staff token is trusted without asking the store again.
pub const TOKEN_TTL: Duration = Duration::from_secs(5);
/// Entries kept at most per cache; past it the cache starts over.
const MAX_ENTRIES: usize = 100_000;

#[derive(Default)]
pub struct Caches {
    tokens: Mutex<HashMap<String, (Account, Instant)>>,
    checkpoints: Mutex<HashMap<String, (Checkpoint, Venue)>>,
}

impl Caches {
    pub fn account(&self, token: &str) -> Option<Account> {
        let tokens = self.tokens.lock().ok()?;
        let (account, at) = tokens.get(token)?;
        (at.elapsed() < TOKEN_TTL).then(|| account.clone())
    }

    pub fn remember_account(&self, token: &str, account: &Account) {
        if let Ok(mut tokens) = self.tokens.lock() {
            if tokens.len() >= MAX_ENTRIES {
                tokens.retain(|_, (_, at)| at.elapsed() < TOKEN_TTL);
            }
            if tokens.len() < MAX_ENTRIES {
                tokens.insert(token.to_owned(), (account.clone(), Instant::now()));
            }
        }
    }

    pub fn checkpoint(&self, account_id: &str) -> Option<(Checkpoint, Venue)> {
        self.checkpoints.lock().ok()?.get(account_id).cloned()
    }

    pub fn remember_checkpoint(&self, account_id: &str, found: (Checkpoint, Venue)) {
        if let Ok(mut checkpoints) = self.checkpoints.lock() {
            if checkpoints.len() >= MAX_ENTRIES {
                checkpoints.clear();
            }
            checkpoints.insert(account_id.to_owned(), found);
        }
    }
}
