//! The relay controller: the only owner of the lines, and the safety limits no rule can override.
//!
//! Owns each relay's state (rule claims, pulses, latch, manual override), its
//! timers, and the limits `max_on`, `min_off` and `interlock`. Time is passed
//! in (a virtual clock), so every transition is testable to the millisecond;
//! the runtime sleeps until [`Controller::next_deadline`] and calls
//! [`Controller::tick`]. It must never read a clock, evaluate rules, or let a
//! limit be bypassed by a rule or a manual request.
//!
//! # Semantics
//!
//! A relay is *wanted* on while a manual `On`/`Pulse` override is in force, or
//! (without an override) while any rule's hold claim is live, a rule pulse
//! runs, a rule blink is in an on phase, or a rule latched it with
//! `On`/`Toggle`. Hold claims are kept per rule and target (the command's
//! `Why` names the camera and target id; a command without a target claims
//! for its rule), so one target's claim can be spent while another's is not.
//! A command whose `requires` (relay on, off, or without manual override)
//! does not hold at that instant changes nothing (`relay condition`). A manual `Off` keeps it off
//! whatever the rules say; `Release` hands it back to the rules (whose claims
//! were kept up to date meanwhile). A manual pulse ends by itself and then
//! hands the relay back to the rules.
//!
//! Pulses (rule and manual) start their clock when the relay actually
//! switches on, so a gate pulse delayed by `min_off` or an interlock is still
//! a full pulse. A manual `Off` cancels the rule pulse, and a rule pulse
//! arriving during a manual `Off` is ignored: a gate must not open minutes
//! later when the override is released. Holds and the latch are states, not
//! one-shots, so they are kept and apply again after `Release`.
//!
//! Instants must not run backwards; an instant earlier than one already seen
//! is taken as that one.
//!
//! Safety limits, in order of precedence:
//! - **max_on**: a relay on for `max_on` without a break is switched off at
//!   exactly `since + max_on` (reason `max_on`, logged at warn, counted). The
//!   cut-off *spends* what was keeping it on: the rule pulse, the blink, the
//!   latch and a manual `On`/`Pulse` are dropped, and every live hold claim
//!   (each target's) is marked spent.
//!   A spent claim no longer switches the relay on, even when its rule renews
//!   it (a person standing under a light keeps renewing its hold), until it
//!   lapses (its `until` passes without renewal) or an `Off` clears it. Any
//!   other command is new and may switch the relay on again: a hold for a
//!   target that had no live claim at the cut-off (the person who walks up to
//!   a parked car), a pulse, a blink, `On`, `Toggle`, a manual `On` or `Pulse`. So a held light cannot flicker back on while the
//!   presence that held it continues, while a gate pulse can be re-requested.
//! - **min_off**: switching off is never delayed; a switch-on wanted sooner
//!   than `min_off` after the last switch-off waits until exactly
//!   `last_off + min_off`, and happens then only if still wanted (reason
//!   `min_off elapsed; ...`). The startup drive-off counts as a switch-off
//!   (for `interlock_wait` too): we do not know what the line did before we
//!   started.
//! - **switch_limit**: at most `switch_limit` switch-ons in any
//!   [`SWITCH_WINDOW`]. A switch-on that would exceed it does not happen: the
//!   relay is locked off for [`LOCKOUT`] (logged at warn, counted as a
//!   `chatter_lockout`), and switches on when the lockout ends only if it is
//!   still wanted. With `min_off` this bounds what any rule, flood or manual
//!   request can do to a line: a `toggle` fed a fresh target per post, or an
//!   `on`/`off` pair fighting each other, switches at most `switch_limit`
//!   times a minute, each off lasting `min_off`, and then rests.
//! - **interlock**: relays sharing a group are never on at the same instant.
//!   A relay may switch on only when every other relay of its group is off and
//!   has been off (confirmed by a successful write) for the switching
//!   relay's `interlock_wait`. Priority is
//!   first come, first served with no pre-emption: the relay that is on stays
//!   on until its own demand ends (or `max_on` cuts it); waiting relays go in
//!   the order they became wanted (ties: configuration order), and only the
//!   head of the queue may switch on, so a relay that re-requests cannot jump
//!   ahead of one that has been waiting. Manual requests queue the same way.
//!
//! # Backend errors
//!
//! A failed write is logged at error level and counted; the controller keeps
//! going with the state it asked for, so its timers (and `max_on`) still run
//! and the next transition writes the line again. A failed switch-*off* is the
//! dangerous case (the load may still be powered), so it is retried every
//! [`WRITE_RETRY`] until a write succeeds, and while it is unconfirmed the
//! relay counts as on for its interlock group: its partner does not switch on
//! against a line that may still be driving.

use super::{Backend, GpioError};
use crate::clock::Instant;
use crate::command::{Action, Command, Why};
use crate::config::{LineRef, RelayConfig};
use crate::words::{RelayCondition, Retrigger};
use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;
use thiserror::Error;

/// How often an unconfirmed switch-off is written again.
pub const WRITE_RETRY: Duration = Duration::from_secs(1);

use crate::words::SWITCH_WINDOW;

/// How long a relay that wanted more than `switch_limit` switch-ons in a
/// window stays off. As long as the window, so the count is clean afterwards.
pub const LOCKOUT: Duration = SWITCH_WINDOW;

/// A manual request from the management API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Manual {
    /// On until `Off` or `Release` (bounded by `max_on`).
    On,
    /// Off whatever the rules say, until `On`, `Pulse` or `Release`.
    Off,
    /// On for this long (from the moment it actually switches on), then back to the rules.
    Pulse(Duration),
    /// Back to the rules.
    Release,
}

impl std::fmt::Display for Manual {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Manual::On => f.write_str("on"),
            Manual::Off => f.write_str("off"),
            Manual::Pulse(d) => write!(f, "pulse {}", crate::words::fmt_duration(*d)),
            Manual::Release => f.write_str("release"),
        }
    }
}

/// A manual override in force, as reported in the status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum ManualOverride {
    On,
    Off,
    /// `started` is `None` while the pulse waits for `min_off` or an interlock.
    Pulse {
        #[serde(with = "ms")]
        duration: Duration,
        started: Option<Instant>,
    },
}

/// Why a manual request was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ControlError {
    #[error("no relay named {relay:?}; relays: {known}")]
    UnknownRelay { relay: String, known: String },
    #[error("a manual pulse needs a duration above zero")]
    ZeroPulse,
}

/// Why a reload could not be applied to the relays.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ReconfigureError {
    /// Lines are requested once at startup: these changes take a restart.
    #[error("relay changes need a restart: {}", .changes.join("; "))]
    NeedsRestart { changes: Vec<String> },
}

/// A switch-on that is wanted but not allowed yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PendingSwitch {
    /// When it will switch on if still wanted; `None` while another relay of
    /// the interlock group is on or ahead in the queue.
    pub at: Option<Instant>,
    /// `min_off`, `interlock_wait`, `interlock: "gate_close" is on`, ...
    pub waiting_for: String,
}

/// One relay, for `GET /api/status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RelayStatus {
    pub name: String,
    pub on: bool,
    /// The reason of the last transition (`max_on`, `manual on`, `rule "porch" on presence ...: hold`).
    pub reason: String,
    /// What keeps the relay in its state now: the rule (latest claim, pulse or
    /// latch), or `manual`; `None` when nothing wants it on.
    pub why: Option<Why>,
    /// Instant of the last transition.
    pub since: Instant,
    /// When it will switch off if nothing changes (demand end or `max_on`); `None` when off.
    pub until: Option<Instant>,
    pub manual: Option<ManualOverride>,
    pub pending: Option<PendingSwitch>,
    /// A switch-off could not be written and is being retried.
    pub write_fault: bool,
    /// Live hold claims, one per rule and target: who holds the relay, and
    /// whose claim `max_on` spent.
    pub claims: Vec<ClaimStatus>,
}

/// Counters for metrics, per relay.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct RelayStats {
    pub name: String,
    /// Times switched on.
    pub switches_on: u64,
    /// Times switched off (including safety cut-offs and shutdown).
    pub switches_off: u64,
    /// Total time on, up to the last instant the controller was given.
    pub on_time_ms: u64,
    /// `max_on` cut-offs.
    pub safety_cutoffs: u64,
    /// Lockouts for wanting more than `switch_limit` switch-ons in a minute.
    pub chatter_lockouts: u64,
    /// Failed line writes.
    pub write_errors: u64,
}

mod ms {
    pub fn serialize<S: serde::Serializer>(d: &std::time::Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis().min(u64::MAX as u128) as u64)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Limits {
    name: String,
    max_on: Duration,
    min_off: Duration,
    switch_limit: Option<u32>,
    interlock: Option<String>,
    interlock_wait: Duration,
}

impl Limits {
    fn from(cfg: &RelayConfig) -> Limits {
        Limits {
            name: cfg.name.clone(),
            max_on: cfg.max_on,
            min_off: cfg.min_off,
            switch_limit: cfg.switch_limit,
            interlock: cfg.interlock.clone(),
            interlock_wait: cfg.interlock_wait,
        }
    }
}

#[derive(Debug, Clone)]
struct Claim {
    until: Instant,
    why: Why,
    /// Cut by `max_on` while live: renewals do not switch the relay on again.
    spent: bool,
}

/// A rule's blink: flashes from `started` (when the relay first switched on for it).
#[derive(Debug, Clone)]
struct RuleBlink {
    on: Duration,
    off: Duration,
    duration: Duration,
    started: Option<Instant>,
    why: Why,
}

impl RuleBlink {
    fn period(&self) -> Duration {
        self.on + self.off
    }

    /// In an on phase at `now` (before it started: yes, it wants its first flash).
    fn lit(&self, now: Instant) -> bool {
        match self.started {
            None => true,
            Some(s) => {
                let period = self.period().as_millis().max(1) as u64;
                now.since(s).as_millis() as u64 % period < self.on.as_millis() as u64
            }
        }
    }

    /// The next phase change after `now`, or the end.
    fn next_edge(&self, now: Instant) -> Option<Instant> {
        let s = self.started?;
        let period = self.period().as_millis().max(1) as u64;
        let elapsed = now.since(s).as_millis() as u64;
        let in_period = elapsed % period;
        let on = self.on.as_millis() as u64;
        let next = if in_period < on { elapsed - in_period + on } else { elapsed - in_period + period };
        Some((s + Duration::from_millis(next)).min(s + self.duration))
    }
}

/// The key of a hold claim: per rule and target, so a `max_on` cut spends
/// the claims of the targets that held the relay then, and a new target
/// claims afresh. Commands without a target claim per rule.
fn claim_key(why: &Why) -> String {
    match why.target {
        Some(t) => format!("{}\u{1f}{}\u{1f}{t}", why.rule, why.camera.as_deref().unwrap_or("")),
        None => why.rule.clone(),
    }
}

/// One hold claim, for `GET /api/status`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClaimStatus {
    pub why: Why,
    pub until: Instant,
    /// Cut by `max_on`: it no longer switches the relay on until it lapses.
    pub spent: bool,
}

/// Hold claims kept per relay at most (a claim lasts `hold` past its last renewal).
const MAX_CLAIMS: usize = 4096;

#[derive(Debug, Clone)]
struct RulePulse {
    duration: Duration,
    started: Option<Instant>,
    why: Why,
}

#[derive(Debug)]
struct Relay {
    limits: Limits,
    /// The state we last asked the backend for.
    on: bool,
    since: Instant,
    last_off: Instant,
    reason: String,
    claims: BTreeMap<String, Claim>,
    pulse: Option<RulePulse>,
    blink: Option<RuleBlink>,
    latch: Option<Why>,
    manual: Option<ManualOverride>,
    /// When the current uninterrupted want began (interlock queue order).
    want_since: Option<Instant>,
    /// What last added demand: the reason given when the relay switches on.
    on_cause: String,
    /// What last removed demand: the reason given when the relay switches off.
    off_cause: String,
    pending: Option<PendingSwitch>,
    /// Next retry of a switch-off that the backend refused.
    retry_off: Option<Instant>,
    /// Switch-ons within the last [`SWITCH_WINDOW`] (at most `switch_limit` kept).
    recent_ons: VecDeque<Instant>,
    /// Off until then: it wanted more than `switch_limit` switch-ons in a window.
    lockout_until: Option<Instant>,
    stats: RelayStats,
}

impl Relay {
    fn new(cfg: &RelayConfig, now: Instant) -> Relay {
        Relay {
            limits: Limits::from(cfg),
            on: false,
            since: now,
            last_off: now,
            reason: "startup".into(),
            claims: BTreeMap::new(),
            pulse: None,
            blink: None,
            latch: None,
            manual: None,
            want_since: None,
            on_cause: String::new(),
            off_cause: String::new(),
            pending: None,
            retry_off: None,
            recent_ons: VecDeque::new(),
            lockout_until: None,
            stats: RelayStats { name: cfg.name.clone(), ..RelayStats::default() },
        }
    }

    fn wanted(&self, now: Instant) -> bool {
        match self.manual {
            Some(ManualOverride::On) | Some(ManualOverride::Pulse { .. }) => true,
            Some(ManualOverride::Off) => false,
            None => {
                self.latch.is_some()
                    || self.pulse.is_some()
                    || self.blink.as_ref().is_some_and(|b| b.lit(now))
                    || self.claims.values().any(|c| !c.spent && c.until > now)
            }
        }
    }

    /// Drop whatever ended by `now`.
    fn expire(&mut self, now: Instant) {
        let mut ended = None;
        self.claims.retain(|_, c| {
            let live = c.until > now;
            if !live && !c.spent {
                ended = Some(format!("hold ended; {}: hold", c.why));
            }
            live
        });
        if let Some(e) = ended {
            self.off_cause = e;
        }
        if let Some(p) = &self.pulse {
            if p.started.is_some_and(|s| s + p.duration <= now) {
                self.off_cause = format!("pulse ended; {}: pulse", p.why);
                self.pulse = None;
            }
        }
        if let Some(b) = &self.blink {
            if b.started.is_some_and(|s| s + b.duration <= now) {
                self.off_cause = format!("blink ended; {}: blink", b.why);
                self.blink = None;
            } else if !b.lit(now) {
                self.off_cause = format!("blink; {}: blink", b.why);
            }
        }
        if let Some(ManualOverride::Pulse { duration, started: Some(s) }) = self.manual {
            if s + duration <= now {
                self.manual = None;
                self.off_cause = "manual pulse ended".into();
            }
        }
    }

    /// The rule or manual request keeping the relay on (or a manual off keeping it off).
    fn current_why(&self, now: Instant) -> Option<Why> {
        let manual = |event: &str| Why { rule: "manual".into(), event: event.into(), ..Why::default() };
        match self.manual {
            Some(ManualOverride::On) => return Some(manual("on")),
            Some(ManualOverride::Off) => return Some(manual("off")),
            Some(ManualOverride::Pulse { .. }) => return Some(manual("pulse")),
            None => {}
        }
        if let Some(w) = &self.latch {
            return Some(w.clone());
        }
        if let Some(p) = &self.pulse {
            return Some(p.why.clone());
        }
        if let Some(b) = &self.blink {
            return Some(b.why.clone());
        }
        self.claims
            .values()
            .filter(|c| !c.spent && c.until > now)
            .max_by_key(|c| c.until)
            .map(|c| c.why.clone())
    }

    /// When the relay switches off if nothing changes. `None`: never by itself (before max_on).
    fn demand_end(&self, now: Instant) -> Option<Instant> {
        match self.manual {
            Some(ManualOverride::On) => return None,
            Some(ManualOverride::Off) => return Some(now),
            Some(ManualOverride::Pulse { duration, started }) => {
                return Some(started.unwrap_or(now) + duration)
            }
            None => {}
        }
        if self.latch.is_some() {
            return None;
        }
        let pulse = self.pulse.as_ref().map(|p| p.started.unwrap_or(now) + p.duration);
        let blink = self.blink.as_ref().and_then(|b| b.next_edge(now));
        let claims = self.claims.values().filter(|c| !c.spent && c.until > now).map(|c| c.until).max();
        pulse.max(claims).max(blink)
    }
}

/// Does this answer of [`Controller::apply`] mean "taken, and carried out
/// when the relay's limit allows" (`min_off`, an interlock, the chatter
/// lockout) rather than "not carried out"?
pub fn is_delay(reason: &str) -> bool {
    matches!(reason, "min_off" | "interlock" | "chatter lockout")
}

/// The only owner of the relay lines.
pub struct Controller {
    relays: Vec<Relay>,
    /// Line, chip and active level per relay, fixed until restart.
    wiring: Vec<(LineRef, Option<String>, bool)>,
    backend: Box<dyn Backend>,
    /// The latest instant seen: time never runs backwards here, and `Drop` uses it.
    last_now: Instant,
    all_off_logged: bool,
    /// The instant of the last [`Controller::settle`], while nothing changed
    /// since: settling again at that instant would change nothing, and a
    /// post's commands all arrive at one instant.
    settled: Option<Instant>,
}

impl Controller {
    /// Take the lines and drive every relay off (reason `startup`). A failed
    /// write here is an error: we cannot vouch for a safe state.
    pub fn new(
        relays: &[RelayConfig],
        backend: Box<dyn Backend>,
        now: Instant,
    ) -> Result<Controller, GpioError> {
        let mut ctl = Controller {
            relays: relays.iter().map(|r| Relay::new(r, now)).collect(),
            wiring: relays.iter().map(|r| (r.line.clone(), r.chip.clone(), r.active_low)).collect(),
            backend,
            last_now: now,
            all_off_logged: false,
            settled: None,
        };
        for i in 0..ctl.relays.len() {
            ctl.backend.set(i, false, now, "startup")?;
        }
        tracing::info!(backend = %ctl.backend.describe(), relays = ctl.relays.len(), "relays off at startup");
        Ok(ctl)
    }

    fn index(&self, relay: &str) -> Option<usize> {
        self.relays.iter().position(|r| r.limits.name == relay)
    }

    /// Apply one command from the engine. Commands for unknown relays are
    /// logged and ignored. Returns why the command changed nothing on the
    /// line when that is so (`manual override`, `retrigger single`,
    /// `max_on spent`, `min_off`, `interlock`, `chatter lockout`), for the
    /// "why did nothing happen" counters; `None` when it took effect, or
    /// extended what was already on.
    pub fn apply(&mut self, cmd: &Command, now: Instant) -> Option<&'static str> {
        let now = self.settle_once(now);
        let unmet = self.unmet(&cmd.requires);
        self.apply_judged(cmd, now, unmet)
    }

    /// The commands of one post (or one tick), in order. Every command's
    /// relay conditions are judged on the relays as they were before the
    /// first of them: a rule's place in the file never changes what its
    /// `relay_off` sees. One result per command, as [`Controller::apply`].
    pub fn apply_all(&mut self, cmds: &[&Command], now: Instant) -> Vec<Option<&'static str>> {
        let now = self.settle_once(now);
        let unmet: Vec<Option<String>> = cmds.iter().map(|c| self.unmet(&c.requires)).collect();
        cmds.iter().zip(unmet).map(|(c, unmet)| self.apply_judged(c, now, unmet)).collect()
    }

    fn apply_judged(&mut self, cmd: &Command, now: Instant, unmet: Option<String>) -> Option<&'static str> {
        let Some(i) = self.index(&cmd.relay) else {
            tracing::warn!(relay = %cmd.relay, why = %cmd.why, "command for an unknown relay ignored");
            return Some("unknown relay");
        };
        if let Some(failed) = unmet {
            tracing::debug!(relay = %cmd.relay, why = %cmd.why, condition = %failed, "command held back by a relay condition");
            return Some("relay condition");
        }
        let mut ignored: Option<&'static str> = None;
        self.settled = None;
        let r = &mut self.relays[i];
        let word = match cmd.action {
            Action::Hold { .. } => "hold",
            Action::Pulse { .. } => "pulse",
            Action::Blink { .. } => "blink",
            Action::On => "on",
            Action::Off => "off",
            Action::Toggle => "toggle",
        };
        let reason = format!("{}: {word}", cmd.why);
        tracing::debug!(relay = %r.limits.name, action = %cmd.action, %reason, "command");
        match cmd.action {
            Action::Hold { until } => {
                if until > now {
                    let key = claim_key(&cmd.why);
                    match r.claims.get_mut(&key) {
                        Some(c) => {
                            c.until = until;
                            c.why = cmd.why.clone();
                            if c.spent {
                                ignored = Some("max_on spent");
                            }
                        }
                        None => {
                            if r.claims.len() >= MAX_CLAIMS {
                                // Bounded whatever the targets: the claim ending soonest goes.
                                let soonest =
                                    r.claims.iter().min_by_key(|(_, c)| c.until).map(|(k, _)| k.clone());
                                if let Some(k) = soonest {
                                    r.claims.remove(&k);
                                }
                            }
                            r.claims.insert(key, Claim { until, why: cmd.why.clone(), spent: false });
                        }
                    }
                    r.on_cause = reason;
                }
            }
            Action::Blink { on, off, duration, retrigger } => {
                if on.is_zero() || duration.is_zero() {
                    ignored = Some("zero pulse");
                } else if r.manual == Some(ManualOverride::Off) {
                    ignored = Some("manual override");
                } else {
                    match (&mut r.blink, retrigger) {
                        (Some(_), Retrigger::Single) => ignored = Some("retrigger single"),
                        (b, _) => {
                            *b = Some(RuleBlink { on, off, duration, started: None, why: cmd.why.clone() });
                            r.on_cause = reason;
                        }
                    }
                }
            }
            Action::Pulse { duration, retrigger } => {
                if duration.is_zero() {
                    tracing::warn!(relay = %r.limits.name, %reason, "zero-length pulse ignored");
                    ignored = Some("zero pulse");
                } else if r.manual == Some(ManualOverride::Off) {
                    ignored = Some("manual override");
                } else {
                    match (&mut r.pulse, retrigger) {
                        (Some(_), Retrigger::Single) => {
                            ignored = Some("retrigger single");
                        }
                        (Some(p), Retrigger::Restart) => {
                            p.duration = duration;
                            p.started = if r.on { Some(now) } else { None };
                            p.why = cmd.why.clone();
                            r.on_cause = reason;
                        }
                        (None, _) => {
                            r.pulse = Some(RulePulse { duration, started: None, why: cmd.why.clone() });
                            r.on_cause = reason;
                        }
                    }
                }
            }
            Action::On => {
                r.latch = Some(cmd.why.clone());
                r.on_cause = reason;
            }
            Action::Off => {
                r.claims.clear();
                r.pulse = None;
                r.blink = None;
                r.latch = None;
                r.off_cause = reason;
            }
            Action::Toggle => {
                if r.latch.take().is_some() {
                    r.off_cause = reason;
                } else {
                    r.latch = Some(cmd.why.clone());
                    r.on_cause = reason;
                }
            }
        }
        self.settle(now);
        let r = &self.relays[i];
        if ignored.is_none() && !matches!(cmd.action, Action::Off) && !r.on {
            // Wanted but not on: say what it waits for.
            ignored = match (&r.manual, &r.pending) {
                (Some(ManualOverride::Off), _) => Some("manual override"),
                (_, Some(p)) if p.waiting_for == "min_off" => Some("min_off"),
                (_, Some(p)) if p.waiting_for == "chatter lockout" => Some("chatter lockout"),
                (_, Some(p)) if p.waiting_for.starts_with("interlock") => Some("interlock"),
                _ => None,
            };
        } else if ignored.is_none()
            && matches!(r.manual, Some(ManualOverride::On | ManualOverride::Pulse { .. }))
        {
            ignored = Some("manual override");
        }
        ignored
    }

    /// The first of `requires` that does not hold now, in words.
    fn unmet(&self, requires: &[RelayCondition]) -> Option<String> {
        requires.iter().find_map(|c| {
            let (name, ok, word) = match c {
                RelayCondition::On(n) => (n, self.index(n).is_some_and(|i| self.relays[i].on), "on"),
                RelayCondition::Off(n) => (n, self.index(n).is_some_and(|i| !self.relays[i].on), "off"),
                RelayCondition::NoManual(n) => (
                    n,
                    self.index(n).is_some_and(|i| self.relays[i].manual.is_none()),
                    "without manual override",
                ),
            };
            (!ok).then(|| format!("relay {name:?} is not {word}"))
        })
    }

    /// A manual request from the management API. It beats the rules until
    /// `Release`, and is still bounded by `max_on`, `min_off` and interlocks.
    pub fn manual(&mut self, relay: &str, req: Manual, now: Instant) -> Result<(), ControlError> {
        let now = self.settle(now);
        let Some(i) = self.index(relay) else {
            return Err(ControlError::UnknownRelay {
                relay: relay.to_string(),
                known: self
                    .relays
                    .iter()
                    .map(|r| format!("{:?}", r.limits.name))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        };
        self.settled = None;
        let r = &mut self.relays[i];
        match req {
            Manual::On => {
                r.manual = Some(ManualOverride::On);
                r.on_cause = "manual on".into();
            }
            Manual::Off => {
                r.manual = Some(ManualOverride::Off);
                r.off_cause = "manual off".into();
                // A pulse is a one-shot: it must not resume when the override is released.
                r.pulse = None;
                r.blink = None;
            }
            Manual::Pulse(duration) => {
                if duration.is_zero() {
                    return Err(ControlError::ZeroPulse);
                }
                r.manual =
                    Some(ManualOverride::Pulse { duration, started: if r.on { Some(now) } else { None } });
                r.on_cause = format!("manual pulse {}ms", duration.as_millis());
            }
            Manual::Release => {
                r.manual = None;
                r.on_cause = "manual release, back to rules".into();
                r.off_cause = "manual release, back to rules".into();
            }
        }
        tracing::info!(relay = %relay, request = %req, "manual request");
        self.settle(now);
        Ok(())
    }

    /// Let time pass: expire holds and pulses, enforce `max_on`, start delayed switches.
    pub fn tick(&mut self, now: Instant) {
        self.settle_once(now);
    }

    /// The next instant at which [`Controller::tick`] may change something
    /// (possibly one already reached, e.g. `max_on = "0s"`: tick at once).
    /// `None`: nothing will change until the next command.
    pub fn next_deadline(&self) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut consider = |t: Instant| next = Some(next.map_or(t, |n| n.min(t)));
        for r in &self.relays {
            if r.on {
                consider(r.since + r.limits.max_on);
            }
            for c in r.claims.values().filter(|c| !c.spent) {
                consider(c.until);
            }
            if let Some(RulePulse { duration, started: Some(s), .. }) = &r.pulse {
                consider(*s + *duration);
            }
            if let Some(edge) = r.blink.as_ref().and_then(|b| b.next_edge(self.last_now)) {
                consider(edge);
            }
            if let Some(ManualOverride::Pulse { duration, started: Some(s) }) = r.manual {
                consider(s + duration);
            }
            if let Some(PendingSwitch { at: Some(at), .. }) = &r.pending {
                consider(*at);
            }
            if let Some(t) = r.retry_off {
                consider(t);
            }
        }
        next
    }

    /// Safe state: every relay off now, ignoring `min_off`, and every rule
    /// claim, pulse, latch and manual override dropped. Every line is written,
    /// including those already off.
    pub fn all_off(&mut self, now: Instant, reason: &str) {
        self.settled = None;
        let now = now.max(self.last_now);
        self.last_now = now;
        for i in 0..self.relays.len() {
            let r = &mut self.relays[i];
            r.claims.clear();
            r.pulse = None;
            r.blink = None;
            r.latch = None;
            r.manual = None;
            r.pending = None;
            r.want_since = None;
            if r.on {
                Self::record_switch(r, false, now, reason);
            } else {
                r.reason = reason.to_string();
            }
            self.write(i, false, now, reason);
        }
        // `Drop` drives the lines again after the daemon's own final all-off:
        // written twice on purpose, logged once.
        if self.all_off_logged {
            tracing::debug!(%reason, "all relays off (again)");
        } else {
            tracing::info!(%reason, "all relays off");
            self.all_off_logged = true;
        }
    }

    /// What keeps relay `index` in its state now (see [`RelayStatus::why`]):
    /// a switch is published with it, so a manual on never shows the rule
    /// whose hold had ended.
    pub fn why_of(&self, index: usize, now: Instant) -> Option<Why> {
        self.relays.get(index)?.current_why(now.max(self.last_now))
    }

    /// Every relay's state, for the status API.
    pub fn status(&self, now: Instant) -> Vec<RelayStatus> {
        let now = now.max(self.last_now);
        self.relays
            .iter()
            .map(|r| RelayStatus {
                name: r.limits.name.clone(),
                on: r.on,
                reason: r.reason.clone(),
                why: r.current_why(now),
                since: r.since,
                until: if r.on {
                    let cut = r.since + r.limits.max_on;
                    Some(r.demand_end(now).map_or(cut, |e| e.min(cut)))
                } else {
                    None
                },
                manual: r.manual,
                pending: r.pending.clone(),
                write_fault: r.retry_off.is_some(),
                claims: r
                    .claims
                    .values()
                    .filter(|c| c.until > now)
                    .map(|c| ClaimStatus { why: c.why.clone(), until: c.until, spent: c.spent })
                    .collect(),
            })
            .collect()
    }

    /// Counters for metrics; on-time includes the running interval up to the
    /// latest instant the controller was given.
    pub fn stats(&self) -> Vec<RelayStats> {
        self.relays
            .iter()
            .map(|r| {
                let mut s = r.stats.clone();
                if r.on {
                    s.on_time_ms += self.last_now.since(r.since).as_millis() as u64;
                }
                s
            })
            .collect()
    }

    /// Reload: new limits (`max_on`, `min_off`, `interlock`, `interlock_wait`)
    /// take effect at once, keeping every relay's state. A changed line, chip or
    /// active level, or a relay added, removed or reordered, is refused as a
    /// whole: lines are requested once at startup.
    pub fn reconfigure(&mut self, relays: &[RelayConfig], now: Instant) -> Result<(), ReconfigureError> {
        let now = self.settle(now);
        let mut changes = Vec::new();
        let old: Vec<&str> = self.relays.iter().map(|r| r.limits.name.as_str()).collect();
        let new: Vec<&str> = relays.iter().map(|r| r.name.as_str()).collect();
        for name in &new {
            if !old.contains(name) {
                changes.push(format!("relay {name:?} added"));
            }
        }
        for name in &old {
            if !new.contains(name) {
                changes.push(format!("relay {name:?} removed"));
            }
        }
        if changes.is_empty() && old != new {
            changes.push(format!("relays reordered ({} → {})", old.join(", "), new.join(", ")));
        }
        if changes.is_empty() {
            for (cfg, (line, chip, active_low)) in relays.iter().zip(self.wiring.iter()) {
                if &cfg.line != line {
                    changes.push(format!("relay {:?} line {} → {}", cfg.name, line, cfg.line));
                }
                if &cfg.chip != chip {
                    changes.push(format!(
                        "relay {:?} chip {} → {}",
                        cfg.name,
                        chip.as_deref().unwrap_or("(default)"),
                        cfg.chip.as_deref().unwrap_or("(default)")
                    ));
                }
                if cfg.active_low != *active_low {
                    changes
                        .push(format!("relay {:?} active_low {} → {}", cfg.name, active_low, cfg.active_low));
                }
            }
        }
        if !changes.is_empty() {
            return Err(ReconfigureError::NeedsRestart { changes });
        }
        self.settled = None;
        for (r, cfg) in self.relays.iter_mut().zip(relays) {
            let limits = Limits::from(cfg);
            if r.limits != limits {
                tracing::info!(relay = %cfg.name, "relay limits reloaded");
                r.limits = limits;
            }
        }
        self.settle(now);
        Ok(())
    }

    /// Bring every relay up to date at `now` (clamped so time never runs
    /// backwards) and return the instant used.
    /// [`Controller::settle`], unless already settled at this instant with nothing changed since.
    fn settle_once(&mut self, now: Instant) -> Instant {
        let now = now.max(self.last_now);
        if self.settled == Some(now) {
            return now;
        }
        self.settle(now)
    }

    fn settle(&mut self, now: Instant) -> Instant {
        let now = now.max(self.last_now);
        self.last_now = now;
        for r in &mut self.relays {
            r.expire(now);
        }
        // max_on first: it overrides everything.
        for i in 0..self.relays.len() {
            let r = &self.relays[i];
            if r.on && now >= r.since + r.limits.max_on {
                self.cut(i, now);
            }
        }
        self.enforce_interlock(now);
        for i in 0..self.relays.len() {
            let r = &self.relays[i];
            if r.on && !r.wanted(now) {
                let reason =
                    if r.off_cause.is_empty() { "no longer wanted".to_string() } else { r.off_cause.clone() };
                self.switch(i, false, now, &reason);
            }
        }
        for i in 0..self.relays.len() {
            let r = &self.relays[i];
            if !r.on && r.retry_off.is_some_and(|t| t <= now) {
                self.write(i, false, now, "retry switch-off after a write error");
                let r = &mut self.relays[i];
                if r.retry_off.is_none() {
                    // The line is confirmed off only now: interlock and min_off time from here.
                    r.last_off = now;
                }
            }
        }
        for r in &mut self.relays {
            let wanted = r.wanted(now);
            if !wanted {
                r.want_since = None;
            } else if r.want_since.is_none() {
                r.want_since = Some(now);
            }
            r.pending = None;
        }
        self.switch_on_allowed(now);
        // Pulses time from the moment the relay is really on.
        for r in &mut self.relays {
            if r.on {
                if let Some(p) = &mut r.pulse {
                    p.started.get_or_insert(now);
                }
                if let Some(b) = &mut r.blink {
                    b.started.get_or_insert(now);
                }
                if let Some(ManualOverride::Pulse { started, .. }) = &mut r.manual {
                    started.get_or_insert(now);
                }
            }
        }
        self.settled = Some(now);
        now
    }

    /// Switch on every relay that is wanted and allowed; note why the others wait.
    fn switch_on_allowed(&mut self, now: Instant) {
        let mut groups_done: Vec<String> = Vec::new();
        for i in 0..self.relays.len() {
            let r = &self.relays[i];
            if r.on || r.want_since.is_none() {
                continue;
            }
            let Some(group) = r.limits.interlock.clone() else {
                let at = r.last_off + r.limits.min_off;
                self.switch_on_or_wait(i, at, Instant::ZERO, now);
                continue;
            };
            if groups_done.contains(&group) {
                continue;
            }
            groups_done.push(group.clone());
            let members: Vec<usize> = (0..self.relays.len())
                .filter(|&m| self.relays[m].limits.interlock.as_deref() == Some(group.as_str()))
                .collect();
            let mut queue: Vec<usize> = members
                .iter()
                .copied()
                .filter(|&m| !self.relays[m].on && self.relays[m].want_since.is_some())
                .collect();
            queue.sort_by_key(|&m| (self.relays[m].want_since, m));
            let Some(&head) = queue.first() else { continue };
            let blocker = members
                .iter()
                .copied()
                .find(|&m| m != head && (self.relays[m].on || self.relays[m].retry_off.is_some()));
            let head_name = self.relays[head].limits.name.clone();
            for &waiting in &queue[1..] {
                self.relays[waiting].pending = Some(PendingSwitch {
                    at: None,
                    waiting_for: format!("interlock: queued behind {head_name:?}"),
                });
            }
            if let Some(b) = blocker {
                let what = if self.relays[b].on { "is on" } else { "has an unconfirmed switch-off" };
                self.relays[head].pending = Some(PendingSwitch {
                    at: None,
                    waiting_for: format!("interlock: {:?} {what}", self.relays[b].limits.name),
                });
                continue;
            }
            let h = &self.relays[head];
            let interlock_at = members
                .iter()
                .filter(|&&m| m != head)
                .map(|&m| self.relays[m].last_off + h.limits.interlock_wait)
                .max()
                .unwrap_or(Instant::ZERO);
            let min_off_at = h.last_off + h.limits.min_off;
            self.switch_on_or_wait(head, min_off_at, interlock_at, now);
        }
    }

    fn switch_on_or_wait(&mut self, i: usize, min_off_at: Instant, interlock_at: Instant, now: Instant) {
        let r = &mut self.relays[i];
        let lockout_at = r.lockout_until;
        let at = min_off_at.max(interlock_at).max(lockout_at.unwrap_or(Instant::ZERO));
        if at > now {
            let waiting_for = if lockout_at == Some(at) {
                "chatter lockout"
            } else if min_off_at >= interlock_at {
                "min_off"
            } else {
                "interlock_wait"
            };
            r.pending = Some(PendingSwitch { at: Some(at), waiting_for: waiting_for.into() });
            return;
        }
        if let Some(limit) = r.limits.switch_limit {
            while r.recent_ons.front().is_some_and(|&t| t + SWITCH_WINDOW <= now) {
                r.recent_ons.pop_front();
            }
            if r.recent_ons.len() >= limit as usize {
                let until = now + LOCKOUT;
                r.lockout_until = Some(until);
                r.stats.chatter_lockouts += 1;
                tracing::warn!(
                    relay = %r.limits.name,
                    switch_limit = limit,
                    lockout_s = LOCKOUT.as_secs(),
                    cause = %r.on_cause,
                    "safety: more than switch_limit switch-ons in a minute, relay locked off"
                );
                r.pending = Some(PendingSwitch { at: Some(until), waiting_for: "chatter lockout".into() });
                return;
            }
        }
        let want_since = r.want_since.unwrap_or(now);
        let reason = if lockout_at == Some(at) && want_since < now {
            format!("chatter lockout ended; {}", r.on_cause)
        } else if want_since >= now {
            r.on_cause.clone()
        } else if at <= want_since {
            format!("interlock released; {}", r.on_cause)
        } else if min_off_at >= interlock_at {
            format!("min_off elapsed; {}", r.on_cause)
        } else {
            format!("interlock_wait elapsed; {}", r.on_cause)
        };
        r.lockout_until = None;
        self.switch(i, true, now, &reason);
    }

    /// Two relays of one group on at once can only follow a reload that
    /// merged groups: keep the one on longest, switch the others off (they queue).
    fn enforce_interlock(&mut self, now: Instant) {
        for i in 0..self.relays.len() {
            let r = &self.relays[i];
            let Some(group) = r.limits.interlock.clone() else { continue };
            if !r.on {
                continue;
            }
            let keeper = (0..self.relays.len())
                .filter(|&m| {
                    self.relays[m].on && self.relays[m].limits.interlock.as_deref() == Some(group.as_str())
                })
                .min_by_key(|&m| (self.relays[m].since, m));
            if keeper != Some(i) {
                self.switch(i, false, now, "interlock: another relay of the group is on (reload)");
            }
        }
    }

    /// `max_on` reached: off at once, and spend what was keeping it on.
    fn cut(&mut self, i: usize, now: Instant) {
        let r = &mut self.relays[i];
        r.stats.safety_cutoffs += 1;
        let spent: Vec<String> =
            r.claims.values().filter(|c| !c.spent && c.until > now).map(|c| c.why.to_string()).collect();
        tracing::warn!(
            relay = %r.limits.name,
            max_on_ms = r.limits.max_on.as_millis() as u64,
            since = %r.since,
            spent = %spent.join("; "),
            "safety: max_on reached, relay forced off; the claims holding it are spent until they lapse"
        );
        for c in r.claims.values_mut() {
            c.spent = true;
        }
        r.pulse = None;
        r.blink = None;
        r.latch = None;
        if matches!(r.manual, Some(ManualOverride::On) | Some(ManualOverride::Pulse { .. })) {
            r.manual = None;
        }
        self.switch(i, false, now, "max_on");
    }

    fn switch(&mut self, i: usize, on: bool, now: Instant, reason: &str) {
        let r = &mut self.relays[i];
        if r.on == on {
            return;
        }
        Self::record_switch(r, on, now, reason);
        tracing::info!(relay = %r.limits.name, on, %reason, "relay switched");
        self.write(i, on, now, reason);
    }

    fn record_switch(r: &mut Relay, on: bool, now: Instant, reason: &str) {
        if on {
            r.stats.switches_on += 1;
            if let Some(limit) = r.limits.switch_limit {
                r.recent_ons.push_back(now);
                while r.recent_ons.len() > limit as usize {
                    r.recent_ons.pop_front();
                }
            }
        } else {
            r.stats.switches_off += 1;
            r.stats.on_time_ms += now.since(r.since).as_millis() as u64;
            r.last_off = now;
        }
        r.on = on;
        r.since = now;
        r.reason = reason.to_string();
        r.pending = None;
    }

    /// Write a line; on failure keep the asked-for state, and retry a switch-off.
    fn write(&mut self, i: usize, on: bool, now: Instant, reason: &str) {
        let result = self.backend.set(i, on, now, reason);
        let r = &mut self.relays[i];
        match result {
            Ok(()) => {
                if r.retry_off.take().is_some() && !on {
                    tracing::warn!(relay = %r.limits.name, "switch-off confirmed after earlier write errors");
                }
            }
            Err(e) => {
                r.stats.write_errors += 1;
                if on {
                    r.retry_off = None;
                    tracing::error!(relay = %r.limits.name, error = %e, "switch-on failed; keeping the on state and its timers");
                } else {
                    r.retry_off = Some(now + WRITE_RETRY);
                    tracing::error!(relay = %r.limits.name, error = %e, "switch-off failed; retrying, interlock partners wait");
                }
            }
        }
    }
}

impl Drop for Controller {
    /// A panic unwinding through the owner, or a plain return, still leaves every relay off.
    fn drop(&mut self) {
        let now = self.last_now;
        self.all_off(now, "shutdown");
    }
}
