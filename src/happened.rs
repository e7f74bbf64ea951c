//! What happened, as the one stream the core emits: relays switching, rules
//! firing or matching without effect, targets seen, detections, occupancy
//! changes, commands for other nodes' relays, devices going offline and
//! back, reloads.
//!
//! Outputs subscribe to it (`GET /api/events`, the web page, MQTT), so none of them
//! reaches into the engine or touches a line. Owns the stream only: a bounded
//! broadcast, where a subscriber that falls behind loses the oldest items and
//! is told how many, and the core never waits for anyone. Targets are only
//! put on it while someone listens: they come with every traject post. An
//! output that publishes states (MQTT) follows only the changes
//! ([`Feed::changes`]), so what every post brings does not wake it.
//! Each item is serialized once, when its first subscriber asks, however
//! many pages and clients are listening.

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
    /// A relay's line was switched. `why`: what keeps it in its new state
    /// (the rule, or `manual`), as [`crate::relays::controller::RelayStatus::why`].
    Switched {
        at_ms: u64,
        relay: String,
        on: bool,
        reason: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        why: Option<Why>,
    },
    /// A rule issued a command.
    Fired { at_ms: u64, relay: String, action: String, why: Why },
    /// A rule matched and nothing happened, and why (`cooldown`, `min_off`, ...).
    NoEffect { at_ms: u64, rule: String, reason: String, detail: String },
    /// The targets one camera tracks now, after its traject post.
    Targets { at_ms: u64, camera: String, targets: Vec<crate::engine::TargetStatus> },
    /// A device went silent (`online: false`) or was heard again; `camera`
    /// is the `[[camera]]` it matches, else the device's own label.
    /// `first`: its first post since camrelay started, not a return.
    Device {
        at_ms: u64,
        device: String,
        camera: String,
        online: bool,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        first: bool,
    },
    /// The rules file was re-read; `who` asked (`SIGHUP`, `web page from
    /// …: zones of drive saved`), for the history.
    Reloaded {
        at_ms: u64,
        applied: bool,
        message: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        who: Option<String>,
    },
    /// An alarm post (intrusion, plate, face, ...) as a detection.
    Detected { at_ms: u64, detection: crate::engine::places::Detection },
    /// The count in a zone or area changed.
    Occupancy { at_ms: u64, occupancy: crate::engine::places::Occupancy },
    /// A detection's pictures (the NVR's copy of a detection the camera
    /// posted first brings them too): for the history and Home Assistant's
    /// picture. The JPEGs stay base64 inside the post's body, never copied.
    Picture {
        at_ms: u64,
        camera: String,
        /// The detection's kind and plate, to find the event they belong to.
        kind: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        plate: Option<String>,
        #[serde(skip)]
        picture: Pictures,
    },
    /// A tracked target is gone: its visit, first and last seen (on the
    /// same clock as `at_ms`), its class and the zones it was in.
    Visit { at_ms: u64, first_ms: u64, last_ms: u64, visit: crate::engine::Visit },
    /// Someone switched a relay by hand (the API, the web page, MQTT):
    /// `request` as `on`, `off`, `pulse 5s`, `release`; `who` in words.
    Manual { at_ms: u64, relay: String, request: String, who: String },
    /// A rule fired on a relay of another node (`node/relay`): the command
    /// leaves through the broker; that node's controller applies it.
    Remote { at_ms: u64, node: String, relay: String, action: crate::command::RemoteAction, why: Why },
    /// An input's debounced level changed (`at_ms`: its edge).
    Input { at_ms: u64, input: String, on: bool },
    /// What the inputs showed about the relays and the gate: a relay that
    /// did not move, tailgating.
    Inputs { at_ms: u64, news: crate::engine::InputNews },
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
            Happened::Detected { .. } => "detected",
            Happened::Occupancy { .. } => "occupancy",
            Happened::Remote { .. } => "remote",
            Happened::Manual { .. } => "manual",
            Happened::Picture { .. } => "picture",
            Happened::Visit { .. } => "visit",
            Happened::Input { .. } => "input",
            Happened::Inputs { news, .. } => match news {
                crate::engine::InputNews::DidNotMove { .. } => "did_not_move",
                crate::engine::InputNews::Tailgating { .. } => "tailgating",
            },
        }
    }
}

impl Happened {
    /// When it happened, on the daemon's monotonic clock.
    pub fn at_ms(&self) -> u64 {
        match self {
            Happened::Switched { at_ms, .. }
            | Happened::Fired { at_ms, .. }
            | Happened::NoEffect { at_ms, .. }
            | Happened::Targets { at_ms, .. }
            | Happened::Device { at_ms, .. }
            | Happened::Reloaded { at_ms, .. }
            | Happened::Detected { at_ms, .. }
            | Happened::Occupancy { at_ms, .. }
            | Happened::Remote { at_ms, .. }
            | Happened::Manual { at_ms, .. }
            | Happened::Picture { at_ms, .. }
            | Happened::Visit { at_ms, .. }
            | Happened::Input { at_ms, .. }
            | Happened::Inputs { at_ms, .. } => *at_ms,
        }
    }

    /// Whether it changes something outside the core shows (a relay, a
    /// device, a count, a detection, the rules, another node's relay), as
    /// opposed to what every post brings (a rule firing again, a match
    /// without effect, the targets).
    pub fn is_change(&self) -> bool {
        !matches!(self, Happened::Fired { .. } | Happened::NoEffect { .. } | Happened::Targets { .. })
    }
}

/// Where a post's JPEGs are: base64 ranges inside its body (shared, not copied).
#[derive(Clone, Default, PartialEq)]
pub struct Pictures {
    pub body: bytes::Bytes,
    /// The whole scene (`sourceBase64Data`).
    pub overview: Option<std::ops::Range<usize>>,
    /// The first target, face or plate crop (`targetBase64Data`): the thumbnail.
    pub crop: Option<std::ops::Range<usize>>,
}

impl Pictures {
    /// The pictures a decoded post carries, if any.
    pub fn of(event: &crate::decode::Event, body: &bytes::Bytes) -> Option<Pictures> {
        use crate::decode::ImageRole;
        let range = |role| {
            event.images_of(role).map(|i| i.range.clone()).find(|r| r.end <= body.len() && r.start < r.end)
        };
        let (overview, crop) = (range(ImageRole::Overview), range(ImageRole::Target));
        (overview.is_some() || crop.is_some()).then(|| Pictures { body: body.clone(), overview, crop })
    }

    /// The JPEG at `which` (the overview's or the crop's range), decoded
    /// from its base64 (line breaks tolerated); `None` if it is not a JPEG.
    pub fn jpeg(&self, which: std::ops::Range<usize>) -> Option<Vec<u8>> {
        use base64::Engine as _;
        let text = self.body.get(which)?;
        let clean: Vec<u8> = text.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
        let bytes = base64::engine::general_purpose::STANDARD.decode(clean).ok()?;
        bytes.starts_with(&[0xFF, 0xD8]).then_some(bytes)
    }
}

impl std::fmt::Debug for Pictures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pictures").field("overview", &self.overview).field("crop", &self.crop).finish()
    }
}

/// What is true now: an output that must (re)publish every state (MQTT after
/// a reconnect) starts from this, then follows the stream.
#[derive(Debug, Clone, Serialize)]
pub struct State {
    pub relays: Vec<crate::relays::controller::RelayStatus>,
    /// `[[camera]]` names of the cameras that post here, in file order.
    pub cameras: Vec<String>,
    /// Those of them a rule reads plates from ([`crate::config::Config::reads_plates`]).
    pub plate_cameras: Vec<String>,
    /// (node, camera) of the cameras of other nodes whose detections rules here use.
    pub node_cameras: Vec<(String, String)>,
    pub devices: Vec<crate::ingest::DeviceStatus>,
    /// Every zone, then every area.
    pub occupancy: Vec<crate::engine::places::Occupancy>,
    pub last_reload: Option<crate::reload::ReloadOutcome>,
    /// The `[[input]]` lines and their levels.
    pub inputs: Vec<crate::relays::input::InputStatus>,
}

/// One item on the stream with its Server-Sent Events frame, made once.
#[derive(Debug)]
pub struct Item {
    what: Happened,
    frame: std::sync::OnceLock<bytes::Bytes>,
}

impl Item {
    /// Its `event: ...\ndata: {...}\n\n` frame, shared by every subscriber.
    pub fn frame(&self) -> &bytes::Bytes {
        self.frame.get_or_init(|| bytes::Bytes::from(sse_frame(&self.what)))
    }

    /// The camera a `targets` item is about.
    pub fn targets_of(&self) -> Option<&str> {
        match &self.what {
            Happened::Targets { camera, .. } => Some(camera),
            _ => None,
        }
    }
}

impl std::ops::Deref for Item {
    type Target = Happened;
    fn deref(&self) -> &Happened {
        &self.what
    }
}

/// The stream. Cheap to clone: every clone sends into the same one.
#[derive(Debug, Clone)]
pub struct Feed {
    tx: broadcast::Sender<Arc<Item>>,
    /// The same items less the ones every post brings ([`Happened::is_change`]):
    /// an output that publishes states (MQTT) is not woken 500 times a second
    /// for items it drops.
    changes: broadcast::Sender<Arc<Item>>,
    /// Live viewers ([`Feed::watch`]): targets are only built while there are some.
    viewers: Arc<std::sync::atomic::AtomicUsize>,
}

impl Default for Feed {
    fn default() -> Self {
        Feed {
            tx: broadcast::channel(BACKLOG).0,
            changes: broadcast::channel(BACKLOG).0,
            viewers: Arc::default(),
        }
    }
}

/// A live viewer's subscription (`GET /api/events`, a page): while it
/// exists the core puts every traject post's targets on the stream.
#[derive(Debug)]
pub struct Watching {
    pub rx: broadcast::Receiver<Arc<Item>>,
    viewers: Arc<std::sync::atomic::AtomicUsize>,
}

impl Drop for Watching {
    fn drop(&mut self) {
        self.viewers.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Feed {
    pub fn new() -> Feed {
        Feed::default()
    }

    /// Put it on the stream; nobody listening is fine.
    pub fn send(&self, h: Happened) {
        let change = h.is_change();
        let item = Arc::new(Item { what: h, frame: Default::default() });
        if change && self.changes.receiver_count() > 0 {
            let _ = self.changes.send(item.clone());
        }
        let _ = self.tx.send(item);
    }

    /// Is a live viewer listening (so per-post targets are worth building)?
    pub fn watched(&self) -> bool {
        self.viewers.load(std::sync::atomic::Ordering::Relaxed) > 0
    }

    /// Subscribe as a live viewer: targets come too.
    pub fn watch(&self) -> Watching {
        self.viewers.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Watching { rx: self.tx.subscribe(), viewers: self.viewers.clone() }
    }

    /// Subscribe without asking for targets (a keeper of recent decisions):
    /// targets still arrive while a live viewer makes the core send them.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Item>> {
        self.tx.subscribe()
    }

    /// Subscribe to the changes only: no `fired`, `no_effect` or `targets`.
    /// Same order, same items, same loss rule as [`Feed::subscribe`].
    pub fn changes(&self) -> broadcast::Receiver<Arc<Item>> {
        self.changes.subscribe()
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
        let keeper = feed.subscribe();
        assert!(!feed.watched(), "a keeper does not ask for targets");
        let viewer = feed.watch();
        assert!(feed.watched());
        drop(viewer);
        assert!(!feed.watched());
        drop(keeper);
        let mut rx = feed.subscribe();
        for i in 0..(BACKLOG as u64 + 10) {
            feed.send(Happened::Device {
                at_ms: i,
                device: "cam".into(),
                camera: "cam".into(),
                online: true,
                first: false,
            });
        }
        assert!(matches!(rx.try_recv(), Err(broadcast::error::TryRecvError::Lagged(10))));
        let first = rx.try_recv().unwrap();
        assert_eq!(
            **first,
            Happened::Device {
                at_ms: 10,
                device: "cam".into(),
                camera: "cam".into(),
                online: true,
                first: false
            }
        );
        assert_eq!(
            &first.frame()[..],
            b"event: device\ndata: {\"type\":\"device\",\"at_ms\":10,\"device\":\"cam\",\"camera\":\"cam\",\"online\":true}\n\n"
        );
        assert_eq!(first.targets_of(), None);
    }

    #[test]
    fn the_changes_leave_out_what_every_post_brings() {
        let feed = Feed::new();
        let mut changes = feed.changes();
        let mut all = feed.subscribe();
        feed.send(Happened::NoEffect {
            at_ms: 1,
            rule: "r".into(),
            reason: "cooldown".into(),
            detail: String::new(),
        });
        feed.send(Happened::Targets { at_ms: 2, camera: "c".into(), targets: Vec::new() });
        feed.send(Happened::Switched {
            at_ms: 3,
            relay: "porch".into(),
            on: true,
            reason: "rule".into(),
            why: None,
        });
        assert_eq!(changes.try_recv().unwrap().kind(), "switched");
        assert!(changes.try_recv().is_err());
        let kinds: Vec<&str> = std::iter::from_fn(|| all.try_recv().ok()).map(|i| i.kind()).collect();
        assert_eq!(kinds, ["no_effect", "targets", "switched"]);
    }
}

#[cfg(test)]
mod picture_tests {
    use super::Pictures;

    #[test]
    fn only_a_jpeg_is_a_picture() {
        let body = bytes::Bytes::from_static(b"/9j/4AAQ|/9j/\n4AAQ|iVBORw0KGgo=|BASE64_JPEG_OVERVIEW_IMAGE");
        let p = Pictures { body, overview: None, crop: None };
        assert_eq!(p.jpeg(0..8), Some(vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10]));
        assert_eq!(p.jpeg(9..18), Some(vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10]), "line breaks tolerated");
        assert_eq!(p.jpeg(19..31), None, "a PNG");
        assert_eq!(p.jpeg(32..58), None, "the vendor docs' placeholder");
        assert_eq!(p.jpeg(50..90), None, "out of the body");
    }
}
