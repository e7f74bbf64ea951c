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
use std::collections::VecDeque;

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

impl WhyEntry {
    /// A verdict, with its words.
    pub fn new(
        at: Instant,
        event: &'static str,
        camera: Option<String>,
        target: Option<u32>,
        verdict: Verdict,
    ) -> WhyEntry {
        WhyEntry { at, event, camera, target, verdict, text: verdict.text(), relay: None }
    }
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
        match self.relay {
            Some(r) if crate::relays::controller::is_delay(r) => write!(f, ", and the relay waits for {r}")?,
            Some(r) => write!(f, ", but the relay did nothing: {r}")?,
            None => {}
        }
        Ok(())
    }
}

/// The recent verdicts of every rule.
#[derive(Debug, Default)]
pub struct WhyLog {
    /// By rule index, with the rule's name (reloads map history by name).
    rules: Vec<(String, VecDeque<Kept>)>,
    /// Camera names by index, shared by the entries.
    cameras: Vec<std::sync::Arc<str>>,
}

/// An entry as kept: cheap to write on every event (no allocation).
#[derive(Debug, Clone)]
struct Kept {
    at: Instant,
    event: &'static str,
    camera: Option<std::sync::Arc<str>>,
    target: Option<u32>,
    verdict: Verdict,
    relay: Option<&'static str>,
}

impl WhyLog {
    pub fn new() -> WhyLog {
        WhyLog::default()
    }

    /// Take the engine's verdicts on the event it just handled.
    pub fn record(&mut self, engine: &Engine) {
        if self.rules.is_empty() && engine.rule_name(0).is_some() {
            self.follow(engine);
        }
        for v in engine.verdicts() {
            let Some((_, ring)) = self.rules.get_mut(v.rule) else { continue };
            if ring.len() == KEPT {
                ring.pop_front();
            }
            ring.push_back(Kept {
                at: v.at,
                event: v.event,
                camera: v.camera.and_then(|c| self.cameras.get(c).cloned()),
                target: v.target,
                verdict: v.verdict,
                relay: None,
            });
        }
    }

    /// The engine's rules and cameras changed (a reload): keep the history
    /// of rules that keep their name.
    pub fn follow(&mut self, engine: &Engine) {
        let mut old = std::mem::take(&mut self.rules);
        self.rules = (0..)
            .map_while(|i| engine.rule_name(i))
            .map(|name| {
                let kept = old.iter_mut().find(|(n, _)| n == name).map(|(_, r)| std::mem::take(r));
                (name.to_string(), kept.unwrap_or_default())
            })
            .collect();
        self.cameras = (0..).map_while(|i| engine.camera_name(i)).map(std::sync::Arc::from).collect();
    }

    /// A fired command of `rule` changed nothing on the relay, and why.
    pub fn relay_did_nothing(&mut self, rule: &str, reason: &'static str) {
        let last = self.rules.iter_mut().find(|(n, _)| n == rule).and_then(|(_, r)| r.back_mut());
        if let Some(last) = last {
            if last.verdict == Verdict::Fired && last.relay.is_none() {
                last.relay = Some(reason);
            }
        }
    }

    /// The recent entries of `rule`, oldest first.
    pub fn of(&self, rule: &str) -> Vec<WhyEntry> {
        let Some((_, ring)) = self.rules.iter().find(|(n, _)| n == rule) else { return Vec::new() };
        ring.iter()
            .map(|k| WhyEntry {
                relay: k.relay,
                ..WhyEntry::new(k.at, k.event, k.camera.as_deref().map(str::to_string), k.target, k.verdict)
            })
            .collect()
    }
}
