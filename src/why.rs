//! "Why not": per rule, what happened on its recent events, for the API and `replay --why`.
//!
//! Owns the history only: the engine's [`Verdict`]s (fired, or the first
//! condition that failed) joined with what the relay controller did with a
//! fired rule's command (`min_off`, `interlock`, `relay condition`, ...).
//! Bounded: the last [`KEPT`] changes per rule: a verdict repeated on every
//! post (a parked car, 7 times a second) is one entry with its count and its
//! last time, so the ring reaches back minutes or hours, far enough to answer
//! "why did the light not come on at 21:32?". It must never evaluate a rule
//! or touch a relay; the core feeds it after each event.

use crate::clock::Instant;
use crate::engine::{Engine, Verdict};
use serde::Serialize;
use std::collections::VecDeque;

/// Entries (changes of verdict) kept per rule.
pub const KEPT: usize = 64;

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
    /// What the verdict says beyond its words, in a homeowner's: "plate
    /// JP116D is on visitors only from Sat 12 Dec 09:00".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// For a fired rule whose command changed nothing: what the relay
    /// controller said (`min_off`, `interlock`, `manual override`, `relay condition`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relay: Option<&'static str>,
    /// With `relay`: which relay conditions (`garage_door off`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub relay_detail: Option<String>,
    /// The plate read, on plate events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plate: Option<String>,
    /// Counting rules: how many targets were there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// The same verdict on this many events in a row, the last at `until`.
    pub times: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<Instant>,
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
        WhyEntry {
            at,
            event,
            camera,
            target,
            verdict,
            text: verdict.text(),
            detail: None,
            relay: None,
            relay_detail: None,
            plate: None,
            count: None,
            times: 1,
            until: None,
        }
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
        if let Some(p) = &self.plate {
            write!(f, " plate {p:?}")?;
        }
        write!(f, ": {}", self.detail.as_deref().unwrap_or(self.text))?;
        if let Some(n) = self.count {
            write!(f, " ({n} there)")?;
        }
        match self.relay {
            Some(r) if crate::relays::controller::is_delay(r) => {
                write!(f, ", and {}", crate::engine::verdict::relay_words(r))?
            }
            Some(r) => write!(f, ", but {}", crate::engine::verdict::relay_words(r))?,
            None => {}
        }
        if let Some(d) = &self.relay_detail {
            write!(f, " ({d})")?;
        }
        if self.times > 1 {
            write!(f, "; {} times", self.times)?;
            if let Some(u) = self.until {
                write!(f, ", the last at {u}")?;
            }
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
    detail: Option<std::sync::Arc<str>>,
    relay: Option<&'static str>,
    relay_detail: Option<std::sync::Arc<str>>,
    plate: Option<std::sync::Arc<str>>,
    count: Option<u32>,
    times: u32,
    until: Instant,
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
        let plate: Option<std::sync::Arc<str>> = engine.plate_read().map(std::sync::Arc::from);
        for v in engine.verdicts() {
            let Some((_, ring)) = self.rules.get_mut(v.rule) else { continue };
            let camera = v.camera.and_then(|c| self.cameras.get(c).cloned());
            let plate = if v.event == "plate" { plate.clone() } else { None };
            let detail = engine.verdict_detail(v.rule);
            if let Some(last) = ring.back_mut() {
                // The same answer again: one entry, counted.
                if last.verdict == v.verdict
                    && last.detail.as_deref() == detail
                    && last.relay.is_none()
                    && last.event == v.event
                    && last.camera == camera
                    && last.target == v.target
                    && last.plate == plate
                    && last.count == v.count
                {
                    last.times = last.times.saturating_add(1);
                    last.until = v.at;
                    continue;
                }
            }
            if ring.len() == KEPT {
                ring.pop_front();
            }
            ring.push_back(Kept {
                at: v.at,
                event: v.event,
                camera,
                target: v.target,
                verdict: v.verdict,
                detail: detail.map(std::sync::Arc::from),
                relay: None,
                relay_detail: None,
                plate,
                count: v.count,
                times: 1,
                until: v.at,
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
    pub fn relay_did_nothing(&mut self, rule: &str, reason: &'static str, detail: Option<&str>) {
        let last = self.rules.iter_mut().find(|(n, _)| n == rule).and_then(|(_, r)| r.back_mut());
        let Some(last) = last else { return };
        if last.verdict != Verdict::Fired || last.relay.is_some() {
            return;
        }
        let mut this = last.clone();
        this.relay = Some(reason);
        this.relay_detail = detail.map(std::sync::Arc::from);
        if last.times > 1 {
            // The earlier firings of the run took effect; this one did not.
            last.times -= 1;
            this.times = 1;
            this.at = this.until;
            if let Some(ring) = self.rules.iter_mut().find(|(n, _)| n == rule).map(|(_, r)| r) {
                if ring.len() == KEPT {
                    ring.pop_front();
                }
                ring.push_back(this);
            }
        } else {
            *last = this;
        }
    }

    /// The recent entries of `rule`, oldest first.
    pub fn of(&self, rule: &str) -> Vec<WhyEntry> {
        let Some((_, ring)) = self.rules.iter().find(|(n, _)| n == rule) else { return Vec::new() };
        ring.iter()
            .map(|k| WhyEntry {
                detail: k.detail.as_deref().map(str::to_string),
                relay: k.relay,
                relay_detail: k.relay_detail.as_deref().map(str::to_string),
                plate: k.plate.as_deref().map(str::to_string),
                count: k.count,
                times: k.times,
                until: (k.times > 1).then_some(k.until),
                ..WhyEntry::new(k.at, k.event, k.camera.as_deref().map(str::to_string), k.target, k.verdict)
            })
            .collect()
    }
}
