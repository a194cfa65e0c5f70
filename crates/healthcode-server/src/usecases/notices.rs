//! Draining the outboxes (colour notices and login codes) through a pluggable sender, with
//! back-off, and the scheduler that re-derives colours whose end by time has come (which is
//! what announces a colour turning back to green).

use crate::AppState;
use healthcode_store::{Outbox, Outgoing, StoreError};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use time::OffsetDateTime;

/// Delivers one message: an SMS gateway, a push service, or the log. It gets the message's
/// stable id, which a real gateway takes as its idempotency key, so a retry after a crash
/// between sending and marking sent is not delivered twice.
pub trait Sender: Send + Sync {
    fn send<'a>(
        &'a self,
        message: &'a Outgoing,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;
}

/// The demo's gateway: writes each message to the node's log. A login code's text is written
/// only with `show_codes` (`login.log_codes`, the demo's switch): anyone who reads the log
/// could otherwise log in as the phone.
pub struct LogSender {
    pub show_codes: bool,
}

impl Sender for LogSender {
    fn send<'a>(
        &'a self,
        message: &'a Outgoing,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>> {
        let to = match (&message.channel[..], &message.phone, &message.person_id) {
            ("sms", Some(phone), _) => healthcode_core::identity::mask_phone(phone),
            (_, _, Some(person)) => format!("app:{person}"),
            _ => "nobody".into(),
        };
        let kind = match message.outbox {
            Outbox::Notices => "notice",
            Outbox::LoginCodes => "login code",
        };
        let text = &message.text;
        if message.outbox == Outbox::LoginCodes && !self.show_codes {
            tracing::info!(id = %message.id, kind, channel = %message.channel, to = %to, "message (code withheld: login.log_codes is off)");
        } else {
            tracing::info!(id = %message.id, kind, channel = %message.channel, to = %to, zh = %text.zh, en = %text.en, "message");
        }
        Box::pin(std::future::ready(Ok(())))
    }
}

/// The sender the configuration names; `None` for `none`.
pub fn configured(
    name: &str,
    show_codes: bool,
) -> Result<Option<std::sync::Arc<dyn Sender>>, String> {
    match name {
        "log" => Ok(Some(std::sync::Arc::new(LogSender { show_codes }))),
        "none" => Ok(None),
        other => Err(format!(
            "notifications.sender {other:?} is not one of: log, none"
        )),
    }
}

/// What one drain did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Drained {
    pub sent: u64,
    pub retried: u64,
    pub failed: u64,
}

/// Sends what is due, once. A message that fails is retried after the configured back-off,
/// doubled for each attempt (at most an hour), and given up after `max_attempts`; an SMS to
/// someone with no phone on record is given up at once, and a login code when it expires.
pub async fn drain(state: &AppState, now: OffsetDateTime) -> Result<Drained, StoreError> {
    let mut drained = Drained::default();
    let Some(sender) = state.sender.clone() else {
        return Ok(drained);
    };
    let config = &state.config.notifications;
    let store = &state.store;
    let claimed = store
        .claim_messages(now, time::Duration::minutes(1), 200)
        .await?;
    // What was sent is marked in one transaction per outbox when the claim is done.
    let mut sent: HashMap<Outbox, Vec<String>> = HashMap::new();
    for m in claimed {
        let give_up = if m.channel == "sms" && m.phone.is_none() {
            Some("no phone on record")
        } else if m.expires_at.is_some_and(|t| t <= now) {
            Some("the code expired before it could be sent")
        } else {
            None
        };
        if let Some(reason) = give_up {
            store.mark_failed(m.outbox, &m.id, reason, None).await?;
            drained.failed += 1;
            continue;
        }
        match sender.send(&m).await {
            Ok(()) => {
                sent.entry(m.outbox).or_default().push(m.id.clone());
                drained.sent += 1;
            }
            Err(error) => {
                let attempts = m.attempts + 1;
                let retry_at = (attempts < config.max_attempts)
                    .then(|| {
                        let delay = config
                            .backoff_seconds
                            .max(1)
                            .saturating_mul(1 << (attempts - 1).clamp(0, 20))
                            .min(3600);
                        now + time::Duration::seconds(delay)
                    })
                    .filter(|at| m.expires_at.is_none_or(|t| *at < t));
                tracing::warn!(id = %m.id, attempts, error = %error, "message not delivered");
                if retry_at.is_some() {
                    drained.retried += 1;
                } else {
                    drained.failed += 1;
                }
                store.mark_failed(m.outbox, &m.id, &error, retry_at).await?;
            }
        }
    }
    for (outbox, ids) in sent {
        store.mark_sent(outbox, &ids, state.now()).await?;
    }
    Ok(drained)
}
