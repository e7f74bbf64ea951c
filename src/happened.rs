//! What happened, as the one stream the core emits: relays switching, rules
//! firing or matching without effect, targets seen, devices going offline and
//! back, reloads.
//!
//! Outputs subscribe to it (`GET /api/events` as Server-Sent Events today;
//! the web page and MQTT are meant to be further subscribers), so none of them
//! reaches into the engine or touches a line. Owns the stream only: a bounded
//! broadcast, where a subscriber that falls behind loses the oldest items and
//! is told how many, and the core never waits for anyone. Targets are only
//! put on it while someone listens: they come with every traject post.

use crate::clock::Instant;
use crate::command::Why;
use serde::Serialize;
use std::sync::Arc;
use tokio::sync::broadcast;

/// Items a subscriber may fall behind by before it loses the oldest.
pub const BACKLOG: usize = 1024;

/// One thing that happened. `at_ms`: on the daemon's monotonic clock, as
/// `since` / `until` in `/api/status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Happened {
    /// A relay's line was switched.
    Switched { at_ms: u64, relay: String, on: bool, reason: String },
    /// A rule issued a command.
    Fired { at_ms: u64, relay: String, action: String, why: Why },
    /// A rule matched and nothing happened, and why (`cooldown`, `min_off`, ...).
    NoEffect { at_ms: u64, rule: String, reason: String, detail: String },
    /// The targets one camera tracks now, after its traject post.
    Targets { at_ms: u64, camera: String, targets: Vec<crate::engine::TargetStatus> },
    /// A device went silent (`online: false`) or was heard again.
    Device { at_ms: u64, device: String, online: bool },
    /// The rules file was re-read.
    Reloaded { at_ms: u64, applied: bool, message: String },
}

impl Happened {
    /// The SSE event name: the `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            Happened::Switched { .. } => "switched",
            Happened::Fired { .. } => "fired",
            Happened::NoEffect { .. } => "no_effect",
            Happened::Targets { .. } => "targets",
            Happened::Device { .. } => "device",
            Happened::Reloaded { .. } => "reloaded",
        }
    }
}

/// The stream. Cheap to clone: every clone sends into the same one.
#[derive(Debug, Clone)]
pub struct Feed {
    tx: broadcast::Sender<Arc<Happened>>,
}

impl Default for Feed {
    fn default() -> Self {
        Feed { tx: broadcast::channel(BACKLOG).0 }
    }
}

impl Feed {
    pub fn new() -> Feed {
        Feed::default()
    }

    /// Put it on the stream; nobody listening is fine.
    pub fn send(&self, h: Happened) {
        let _ = self.tx.send(Arc::new(h));
    }

    /// Is anyone listening (so per-post items are worth building)?
    pub fn watched(&self) -> bool {
        self.tx.receiver_count() > 0
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Happened>> {
        self.tx.subscribe()
    }
}

/// Milliseconds of an instant, for the items.
pub fn ms(at: Instant) -> u64 {
    at.as_millis()
}

/// One Server-Sent Events frame for an item.
pub fn sse_frame(h: &Happened) -> String {
    format!("event: {}\ndata: {}\n\n", h.kind(), serde_json::to_string(h).unwrap_or_else(|_| "{}".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subscriber_that_falls_behind_is_told_how_much_it_lost() {
        let feed = Feed::new();
        assert!(!feed.watched());
        let mut rx = feed.subscribe();
        assert!(feed.watched());
        for i in 0..(BACKLOG as u64 + 10) {
            feed.send(Happened::Device { at_ms: i, device: "cam".into(), online: true });
        }
        assert!(matches!(rx.try_recv(), Err(broadcast::error::TryRecvError::Lagged(10))));
        let first = rx.try_recv().unwrap();
        assert_eq!(*first, Happened::Device { at_ms: 10, device: "cam".into(), online: true });
        assert_eq!(
            sse_frame(&first),
            "event: device\ndata: {\"type\":\"device\",\"at_ms\":10,\"device\":\"cam\",\"online\":true}\n\n"
        );
    }
}
