//! The arrow between the engine and the relays: what a rule asks a relay to do, and why.
//!
//! Plain data only. The engine produces [`Command`]s; the relay controller is
//! the only thing that turns them into line changes, bounded by its safety
//! limits. Nothing here knows about GPIO or about rules files.

use crate::clock::Instant;
use serde::Serialize;
use std::time::Duration;

/// One request from a rule to a relay.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Command {
    /// Relay name as written in the rules file.
    pub relay: String,
    pub action: Action,
    pub why: Why,
    /// Relay states that must hold when the command is applied (`relay_on`,
    /// `relay_off`, `no_manual`): the controller checks them at that instant,
    /// so live and replay decide alike.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub requires: Vec<crate::words::RelayCondition>,
}

/// What the rule wants. Every `on` state ends at a deadline or at the relay's
/// `max_on`, whichever comes first: the controller enforces the latter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum Action {
    /// Keep the relay on until `until`, on behalf of this rule. Sending it again
    /// moves the deadline (the countdown restarts). Several rules may hold one
    /// relay; it is on while any claim is live.
    Hold { until: Instant },
    /// On for `duration`, then off. `retrigger` says what a new pulse does while
    /// one is running.
    Pulse { duration: Duration, retrigger: Retrigger },
    /// Latch on (bounded only by `max_on`) until an `Off` or a toggle.
    On,
    /// Drop every claim and latch from rules and switch off.
    Off,
    /// Flip the latched state.
    Toggle,
    /// On for `on`, off for `off`, repeated for `duration` from the first
    /// flash; `retrigger` as for pulses. Bounded by `max_on` like any on state.
    Blink { on: Duration, off: Duration, duration: Duration, retrigger: Retrigger },
}

impl std::fmt::Display for Action {
    /// As a user reads it in a log line: `hold until 12.345s`, `pulse 1s (single)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::Hold { until } => write!(f, "hold until {until}"),
            Action::Pulse { duration, retrigger } => {
                let word = match retrigger {
                    Retrigger::Single => "single",
                    Retrigger::Restart => "restart",
                };
                write!(f, "pulse {} ({word})", crate::words::fmt_duration(*duration))
            }
            Action::On => f.write_str("on"),
            Action::Off => f.write_str("off"),
            Action::Toggle => f.write_str("toggle"),
            Action::Blink { on, off, duration, .. } => {
                use crate::words::fmt_duration as d;
                write!(f, "blink {}/{} for {}", d(*on), d(*off), d(*duration))
            }
        }
    }
}

use crate::words::Retrigger;

/// Why a command was issued: logged in one line so a user can see why the light came on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Why {
    /// Rule name (or `manual`, `safety`, `startup`, `shutdown`).
    pub rule: String,
    /// Event word (`presence`, `plate`, `zone_entry`, ...).
    pub event: String,
    pub camera: Option<String>,
    pub target: Option<u32>,
    pub zone: Option<String>,
    /// The `[[area]]` the target was counted in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub area: Option<String>,
    pub plate: Option<String>,
    /// The `[[input]]` whose event it was (a button, a gate's contact).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
}

impl std::fmt::Display for Why {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "rule {:?} on {}", self.rule, self.event)?;
        if let Some(c) = &self.camera {
            write!(f, " from camera {c:?}")?;
        }
        if let Some(t) = self.target {
            write!(f, " target {t}")?;
        }
        if let Some(z) = &self.zone {
            write!(f, " in zone {z:?}")?;
        }
        if let Some(a) = &self.area {
            write!(f, " in area {a:?}")?;
        }
        if let Some(p) = &self.plate {
            write!(f, " plate {p}")?;
        }
        if let Some(i) = &self.input {
            write!(f, " ({i:?})")?;
        }
        Ok(())
    }
}

/// An [`Action`] for a relay on another node, as it crosses the broker: no
/// instants (the two nodes' clocks share no origin), only durations from the
/// moment the owning node applies it. A hold renewed on every post arrives as
/// a fresh `hold` each time, so a lost broker or sender ends it within `for_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum RemoteAction {
    Hold {
        for_ms: u64,
    },
    Pulse {
        ms: u64,
        #[serde(default)]
        retrigger: Retrigger,
    },
    On,
    Off,
    Toggle,
    Blink {
        on_ms: u64,
        off_ms: u64,
        ms: u64,
        #[serde(default)]
        retrigger: Retrigger,
    },
}

/// No command from another node asks for more than this; the owning node's
/// `max_on` cuts far earlier anyway.
const REMOTE_MAX: Duration = Duration::from_secs(24 * 3600);

impl Action {
    /// This action as another node applies it, taken at `now`.
    pub fn remote(&self, now: Instant) -> RemoteAction {
        let ms = |d: Duration| d.as_millis().min(u64::MAX as u128) as u64;
        match *self {
            Action::Hold { until } => RemoteAction::Hold { for_ms: ms(until.since(now)) },
            Action::Pulse { duration, retrigger } => RemoteAction::Pulse { ms: ms(duration), retrigger },
            Action::On => RemoteAction::On,
            Action::Off => RemoteAction::Off,
            Action::Toggle => RemoteAction::Toggle,
            Action::Blink { on, off, duration, retrigger } => {
                RemoteAction::Blink { on_ms: ms(on), off_ms: ms(off), ms: ms(duration), retrigger }
            }
        }
    }
}

impl RemoteAction {
    /// The action on the owning node's clock, received at `now`. Zero or
    /// absurd durations are refused: they come from another program's bytes.
    pub fn at(&self, now: Instant) -> Option<Action> {
        let d = |ms: u64| Some(Duration::from_millis(ms)).filter(|d| !d.is_zero() && *d <= REMOTE_MAX);
        Some(match *self {
            RemoteAction::Hold { for_ms } => Action::Hold { until: now + d(for_ms)? },
            RemoteAction::Pulse { ms, retrigger } => Action::Pulse { duration: d(ms)?, retrigger },
            RemoteAction::On => Action::On,
            RemoteAction::Off => Action::Off,
            RemoteAction::Toggle => Action::Toggle,
            RemoteAction::Blink { on_ms, off_ms, ms, retrigger } => {
                Action::Blink { on: d(on_ms)?, off: d(off_ms)?, duration: d(ms)?, retrigger }
            }
        })
    }
}
