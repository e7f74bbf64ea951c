//! The words the rules file, the engine and the relay controller share:
//! a duration as the file writes it, a relay condition, what a pulse does to
//! a running pulse, the switch window, a zone's anchor.
//!
//! A leaf: it uses nothing of the crate, so `config`, `command`,
//! `engine::geometry` and `relays::controller` can all use it without using
//! each other. It must never grow behaviour beyond saying these words.

use serde::Serialize;
use std::time::Duration;

/// The window `switch_limit` counts switch-ons in (also the longest
/// `switch_limit` window a rules file may write).
pub const SWITCH_WINDOW: Duration = Duration::from_secs(60);

/// `1 relay`, `2 relays`: counts in messages a homeowner reads.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else if ["s", "x", "ch", "sh"].iter().any(|end| noun.ends_with(end)) {
        format!("{n} {noun}es")
    } else {
        format!("{n} {noun}s")
    }
}

/// `90s` → `1m30s`, `1500ms` → `1.5s`: how durations are written back to users.
pub fn fmt_duration(d: Duration) -> String {
    let ms = d.as_millis() as u64;
    if ms == 0 {
        return "0s".into();
    }
    if ms % 1000 != 0 {
        if ms < 1000 {
            return format!("{ms}ms");
        }
        return format!("{}.{:03}s", ms / 1000, ms % 1000).trim_end_matches('0').to_string();
    }
    let mut s = ms / 1000;
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if s >= size {
            out.push_str(&format!("{}{unit}", s / size));
            s %= size;
        }
    }
    out
}

/// Which part of a target's box decides whether it is in a zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Anchor {
    /// Where feet and wheels touch the ground: the usual choice.
    #[default]
    BottomCenter,
    Center,
    /// The whole box must be inside.
    Box,
}

/// What a pulse does to a pulse already running on the same relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Retrigger {
    /// Ignore it: the running pulse ends on time.
    #[default]
    Single,
    /// Start the full duration again from now.
    Restart,
}

/// A relay's state a rule requires at the moment it fires.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "is", content = "relay")]
pub enum RelayCondition {
    /// `relay_on`: the relay is on.
    On(String),
    /// `relay_off`: the relay is off.
    Off(String),
    /// `no_manual`: the relay has no manual override in force.
    NoManual(String),
}

impl std::fmt::Display for RelayCondition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RelayCondition::On(r) => write!(f, "relay {r:?} must be on"),
            RelayCondition::Off(r) => write!(f, "relay {r:?} must be off"),
            RelayCondition::NoManual(r) => write!(f, "relay {r:?} must have no manual override"),
        }
    }
}

/// A rule's relay conditions in words, joined.
pub fn describe_relay_conditions(requires: &[RelayCondition]) -> String {
    requires.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(", ")
}
