//! One remembered event: what the history keeps of an item of the core's
//! stream, in the words a user searches by (camera, relay, rule, zone, plate,
//! who). Owns the mapping from [`Happened`] to a row; it must never keep what
//! every post brings (the targets of a traject post) one row per post.

use crate::command::RemoteAction;
use crate::happened::Happened;
use serde::Serialize;
use std::time::Duration;

/// What kind of event a row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A relay's line switched on or off, with its reason.
    Switched,
    /// A rule issued a command (a hold renewed on every post is one row with a count).
    Fired,
    /// A rule matched and changed nothing, with the reason.
    NoEffect,
    /// An alarm post: intrusion, line crossing, plate, face, ...
    Detection,
    /// A device went silent or was heard again.
    Device,
    /// The rules file was re-read, applied or refused.
    Reload,
    /// A rule commanded another node's relay.
    Remote,
    /// Someone switched a relay by hand, and who.
    Manual,
    /// A tracked target came and went: first and last seen, class, zones.
    Visit,
    /// An `[[input]]` changed level (a door opened, a button was pressed).
    Input,
    /// A relay switched on and its `confirm` input did not move.
    DidNotMove,
    /// A second vehicle while the gate was open.
    Tailgating,
}

impl Kind {
    pub const ALL: [Kind; 12] = [
        Kind::Switched,
        Kind::Fired,
        Kind::NoEffect,
        Kind::Detection,
        Kind::Device,
        Kind::Reload,
        Kind::Remote,
        Kind::Manual,
        Kind::Visit,
        Kind::Input,
        Kind::DidNotMove,
        Kind::Tailgating,
    ];

    /// The word stored, filtered by and shown.
    pub fn word(self) -> &'static str {
        match self {
            Kind::Switched => "switched",
            Kind::Fired => "fired",
            Kind::NoEffect => "no_effect",
            Kind::Detection => "detection",
            Kind::Device => "device",
            Kind::Reload => "reload",
            Kind::Remote => "remote",
            Kind::Manual => "manual",
            Kind::Visit => "visit",
            Kind::Input => "input",
            Kind::DidNotMove => "did_not_move",
            Kind::Tailgating => "tailgating",
        }
    }

    pub fn from_word(word: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.word() == word)
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.word())
    }
}

/// One row of the history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// Its row id; 0 before it is written.
    pub id: i64,
    /// Wall-clock time, milliseconds since 1970 (UTC), of its first occurrence.
    pub at_ms: i64,
    /// Of its last occurrence: a row that folds repeats spans `at_ms..=last_ms`.
    pub last_ms: i64,
    /// How many times it happened in that span.
    pub count: u32,
    pub kind: Kind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub camera: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relay: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    /// Who did it, for manual actions: `api token`, `web session …`, `mqtt`, `command line`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub who: Option<String>,
    /// The rest in words: `on`, `hold 10s`, `cooldown: 12s left`, `offline`, the reload message.
    pub detail: String,
    /// A detection's scene and its target crop (the thumbnail), as names
    /// under the history's `pictures/` folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thumb: Option<String>,
    /// Bytes its pictures take on disk.
    #[serde(skip)]
    pub picture_bytes: u64,
}

/// A detection's pictures, to be joined to its row.
#[derive(Debug, Clone, PartialEq)]
pub struct PictureNote {
    pub at_ms: i64,
    pub camera: String,
    pub kind: String,
    pub plate: Option<String>,
    pub picture: crate::happened::Pictures,
}

/// What the history takes from one item of the stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Remembered {
    Row(Entry),
    Picture(PictureNote),
}

impl Remembered {
    pub fn of(what: &Happened, at_ms: i64) -> Option<Remembered> {
        match what {
            Happened::Picture { camera, kind, plate, picture, .. } => {
                Some(Remembered::Picture(PictureNote {
                    at_ms,
                    camera: camera.clone(),
                    kind: kind.clone(),
                    plate: plate.clone(),
                    picture: picture.clone(),
                }))
            }
            other => Entry::of(other, at_ms).map(Remembered::Row),
        }
    }
}

impl Entry {
    fn new(kind: Kind, at_ms: i64, detail: String) -> Entry {
        Entry {
            id: 0,
            at_ms,
            last_ms: at_ms,
            count: 1,
            kind,
            camera: None,
            relay: None,
            rule: None,
            zone: None,
            plate: None,
            target: None,
            class: None,
            who: None,
            detail,
            picture: None,
            thumb: None,
            picture_bytes: 0,
        }
    }

    /// What the history keeps of one item of the stream, at wall time
    /// `at_ms`; `None` for what it does not keep (targets, occupancy counts:
    /// a visit is remembered by its detections and the rules it fired).
    pub fn of(what: &Happened, at_ms: i64) -> Option<Entry> {
        let e = match what {
            Happened::Switched { relay, on, reason, why, .. } => {
                // The controller's reason ends with the rule's why, which
                // the row keeps in its own columns: only the cause stays.
                let cause = match reason.split("; rule ").next().unwrap_or(reason) {
                    r if r.starts_with("rule ") => "rule",
                    r => r,
                };
                let mut e = Entry::new(
                    Kind::Switched,
                    at_ms,
                    format!("{} ({cause})", if *on { "on" } else { "off" }),
                );
                e.relay = Some(relay.clone());
                if let Some(why) = why {
                    e.with_why(why);
                }
                e
            }
            Happened::Fired { relay, action, why, .. } => {
                // `hold until 12.345s` names an instant of the daemon's own
                // clock: the row's span says until when it was renewed.
                let action =
                    if action.starts_with("hold until ") { "hold".to_string() } else { action.clone() };
                let mut e = Entry::new(Kind::Fired, at_ms, action);
                e.relay = Some(relay.clone());
                e.with_why(why);
                e
            }
            Happened::NoEffect { rule, reason, detail, .. } => {
                let text = if detail.is_empty() { reason.clone() } else { format!("{reason}: {detail}") };
                let mut e = Entry::new(Kind::NoEffect, at_ms, text);
                e.rule = Some(rule.clone());
                e
            }
            Happened::Detected { detection: d, .. } => {
                let mut e = Entry::new(Kind::Detection, at_ms, d.kind.clone());
                e.camera = Some(d.camera.clone());
                e.zone = (!d.zones.is_empty()).then(|| d.zones.join(", "));
                e.plate = d.plate.clone();
                e.class = d.class.map(str::to_string);
                if let Some(group) = &d.group {
                    e.detail = format!("{} ({group})", d.kind);
                }
                e
            }
            Happened::Device { device, camera, online, first, .. } => {
                let word = match (online, first) {
                    (true, true) => "first post",
                    (true, false) => "online",
                    (false, _) => "offline",
                };
                let mut e = Entry::new(Kind::Device, at_ms, format!("{word} ({device})"));
                e.camera = Some(camera.clone());
                e
            }
            Happened::Reloaded { applied, message, who, .. } => {
                let word = if *applied { "applied" } else { "refused" };
                let mut e = Entry::new(Kind::Reload, at_ms, format!("{word}: {message}"));
                e.who = who.clone();
                e
            }
            Happened::Remote { node, relay, action, why, .. } => {
                let words = match action {
                    RemoteAction::Hold { .. } => "hold".to_string(),
                    RemoteAction::Pulse { ms, .. } => {
                        format!("pulse {}", crate::words::fmt_duration(Duration::from_millis(*ms)))
                    }
                    RemoteAction::On => "on".into(),
                    RemoteAction::Off => "off".into(),
                    RemoteAction::Toggle => "toggle".into(),
                    RemoteAction::Blink { ms, .. } => {
                        format!("blink for {}", crate::words::fmt_duration(Duration::from_millis(*ms)))
                    }
                };
                let mut e = Entry::new(Kind::Remote, at_ms, words);
                e.relay = Some(format!("{node}/{relay}"));
                e.with_why(why);
                e
            }
            Happened::Manual { relay, request, who, .. } => {
                let mut e = Entry::new(Kind::Manual, at_ms, request.clone());
                e.relay = Some(relay.clone());
                e.who = Some(who.clone());
                e
            }
            Happened::Visit { at_ms: end, first_ms, last_ms, visit } => {
                // `at_ms` (wall) is when the core saw it gone: the visit's
                // own times are that far before it on the same clock.
                let wall = |ms: &u64| at_ms - end.saturating_sub(*ms) as i64;
                let seconds = last_ms.saturating_sub(*first_ms) as f64 / 1000.0;
                let mut e = Entry::new(
                    Kind::Visit,
                    wall(first_ms),
                    format!("{} for {seconds:.1}s", visit.class.word()),
                );
                e.last_ms = wall(last_ms);
                e.camera = Some(visit.camera.clone());
                e.target = Some(visit.target);
                e.class = Some(visit.class.word().to_string());
                e.zone = (!visit.zones.is_empty()).then(|| visit.zones.join(", "));
                e
            }
            // The input's name leads the detail: rows have no column for it.
            Happened::Input { input, on, .. } => {
                Entry::new(Kind::Input, at_ms, format!("{input} {}", if *on { "on" } else { "off" }))
            }
            Happened::Inputs {
                news: crate::engine::InputNews::DidNotMove { relay, input, to, within_ms },
                ..
            } => {
                let mut e = Entry::new(
                    Kind::DidNotMove,
                    at_ms,
                    format!(
                        "{input} did not go {} within {}",
                        if *to { "on" } else { "off" },
                        crate::words::fmt_duration(Duration::from_millis(*within_ms))
                    ),
                );
                e.relay = Some(relay.clone());
                e
            }
            Happened::Inputs {
                news: crate::engine::InputNews::Tailgating { rule, input, camera, vehicles, plate },
                ..
            } => {
                let mut e = Entry::new(
                    Kind::Tailgating,
                    at_ms,
                    format!("{vehicles} vehicles while {input} said open"),
                );
                e.rule = Some(rule.clone());
                e.camera = Some(camera.clone());
                e.plate = plate.clone();
                e
            }
            Happened::Targets { .. } | Happened::Occupancy { .. } | Happened::Picture { .. } => return None,
        };
        Some(e)
    }

    fn with_why(&mut self, why: &crate::command::Why) {
        self.rule = Some(why.rule.clone());
        self.camera = why.camera.clone().or(self.camera.take());
        self.target = why.target;
        self.zone = why.area.clone().or_else(|| why.zone.clone());
        self.plate = why.plate.clone();
    }

    /// Whether later repeats of it fold into its row.
    pub fn may_fold(&self) -> bool {
        matches!(self.kind, Kind::Fired | Kind::NoEffect | Kind::Remote)
    }

    /// Whether `note`'s pictures belong to this row: the same camera's
    /// detection of the same kind and plate, within 10 s (the NVR's copy
    /// of a detection the camera posted comes up to 1.5 s later).
    pub fn pictured_by(&self, note: &PictureNote) -> bool {
        self.kind == Kind::Detection
            && self.picture.is_none()
            && self.thumb.is_none()
            && self.camera.as_deref() == Some(note.camera.as_str())
            && self.detail.split(' ').next() == Some(note.kind.as_str())
            && self.plate == note.plate
            && (note.at_ms - self.at_ms).abs() <= 10_000
    }

    /// Whether `other` is the same thing happening again, so one row with a
    /// count says it (a hold renewed on every post, a cooldown refusing
    /// every post of a tracked car).
    pub fn repeats(&self, other: &Entry) -> bool {
        self.kind == other.kind
            && self.may_fold()
            && self.camera == other.camera
            && self.relay == other.relay
            && self.rule == other.rule
            && self.zone == other.zone
            && self.plate == other.plate
            && self.target == other.target
            && self.gist() == other.gist()
    }

    /// The detail without what changes from one post to the next (`cooldown:
    /// 12s left`, `11.75s left`, ...): the first one's stays on the row.
    fn gist(&self) -> &str {
        match self.kind {
            Kind::NoEffect => self.detail.split(": ").next().unwrap_or(&self.detail),
            _ => &self.detail,
        }
    }
}
