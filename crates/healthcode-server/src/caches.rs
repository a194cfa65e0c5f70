//! A small in-memory cache that keeps the hot path (a checkpoint's scan) free of one read: the
//! checkpoint and venue of a checkpoint account, which never change once created. Tokens are not
//! cached: an API token or session is looked up on every request (one indexed read), so a
//! revoked account or an ended session stops working at once, on every node.

use healthcode_store::{Checkpoint, Venue};
use std::collections::HashMap;
use std::sync::Mutex;

/// Entries kept at most; past it the cache starts over.
const MAX_ENTRIES: usize = 100_000;

#[derive(Default)]
pub struct Caches {
    checkpoints: Mutex<HashMap<String, (Checkpoint, Venue)>>,
}

impl Caches {
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
