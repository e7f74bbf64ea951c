//! "Why not": per rule, what happened on its recent events, for the API and `replay --why`.
//!
//! Owns the history only: the engine's [`Verdict`]s (fired, or the first
//! condition that failed) joined with what the relay controller did with a
//! fired rule's command (`min_off`, `interlock`, `relay condition`, ...).
//! Bounded: the last [`KEPT`] entries per rule. It must never evaluate a rule
//! or touch a relay; the core feeds it after each event.

use crate::clock::Instant;
use crate::engine::{Engine, Verdict};
use serde::Serialize;
use std::collections::{HashMap, VecDeque};

/// Entries kept per rule.
pub const KEPT: usize = 32;

/// One rule on one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WhyEntry {
    pub at: Instant,
    pub event: &'static str,
    pub camera: Option<String>,
    pub target: Option<u32>,
    pub verdict: Verdict,
    /// The verdict in words.
    pub text: &'static str,
    /// For a fired rule whose command changed nothing: what the relay
    /// controller said (`min_off`, `interlock`, `manual override`, `relay condition`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relay: Option<&'static str>,
}

impl std::fmt::Display for WhyEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.event)?;
        if let Some(c) = &self.camera {
            write!(f, " from camera {c:?}")?;
        }
        if let Some(t) = self.target {
            write!(f, " target {t}")?;
        }
        write!(f, ": {}", self.text)?;
        if let Some(r) = self.relay {
            write!(f, ", but the relay did nothing: {r}")?;
        }
        Ok(())
    }
}

/// The recent verdicts of every rule.
#[derive(Debug, Default)]
pub struct WhyLog {
    rules: HashMap<String, VecDeque<WhyEntry>>,
}

impl WhyLog {
    pub fn new() -> WhyLog {
        WhyLog::default()
    }

    /// Take the engine's verdicts on the event it just handled.
    pub fn record(&mut self, engine: &Engine) {
        for v in engine.verdicts() {
            let Some(rule) = engine.rule_name(v.rule) else { continue };
            let entry = WhyEntry {
                at: v.at,
                event: v.event,
                camera: v.camera.and_then(|c| engine.camera_name(c)).map(str::to_string),
                target: v.target,
                verdict: v.verdict,
                text: v.verdict.text(),
                relay: None,
            };
            let ring = match self.rules.get_mut(rule) {
                Some(r) => r,
                None => self.rules.entry(rule.to_string()).or_default(),
            };
            if ring.len() == KEPT {
                ring.pop_front();
            }
            ring.push_back(entry);
        }
    }

    /// A fired command of `rule` changed nothing on the relay, and why.
    pub fn relay_did_nothing(&mut self, rule: &str, reason: &'static str) {
        if let Some(last) = self.rules.get_mut(rule).and_then(|r| r.back_mut()) {
            if last.verdict == Verdict::Fired && last.relay.is_none() {
                last.relay = Some(reason);
            }
        }
    }

    /// The recent entries of `rule`, oldest first.
    pub fn of(&self, rule: &str) -> Vec<WhyEntry> {
        self.rules.get(rule).map(|r| r.iter().cloned().collect()).unwrap_or_default()
    }

    /// Forget rules that no longer exist (after a reload).
    pub fn retain_rules(&mut self, names: &[&str]) {
        self.rules.retain(|k, _| names.contains(&k.as_str()));
    }
}
