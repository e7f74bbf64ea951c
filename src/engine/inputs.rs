//! Inputs as the rules see them: each input's debounced level and since
//! when, the rules on their changes (`event = "input"`, with `for`), a
//! relay's confirmation (`did_not_move`) and a gate's tailgating window.
//!
//! Levels arrive already debounced, with the instant of their edge; this
//! file never reads a line or a clock. Timers (`for`, `within`) are
//! deadlines the daemon's loop (or replay's virtual clock) wakes the engine
//! for through [`super::Engine::tick`].

use super::{Engine, EventCtx, Subject, Verdict};
use crate::clock::{Instant, Now};
use crate::command::Command;
use crate::config::{Config, EventWord};
use crate::decode::TargetClass;

/// One input's level as the engine knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Level {
    pub on: bool,
    pub since: Instant,
}

/// A relay switched on and its `confirm` input has not reached its level yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Awaited {
    pub relay: String,
    pub input: usize,
    pub to: bool,
    pub until: Instant,
    pub within: std::time::Duration,
}

/// A tailgating rule's window: the gate is open; the vehicles seen since.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Window {
    /// (camera, target id) of moving vehicles.
    pub targets: Vec<(u32, u32)>,
    /// Plates read.
    pub plates: Vec<String>,
}

/// Vehicles a window remembers; past it, it is tailgating many times over.
const MAX_WINDOW: usize = 64;

/// Plates read this recently before a gate opens belong to its window (the
/// plate that opened it is read before it moves).
const PLATE_LEAD_MS: u64 = 60_000;

/// What the inputs part of the engine saw, for the log, the page, MQTT and
/// the history. The daemon takes them after each call.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum InputNews {
    /// The relay switched on and its input did not reach `to` within `within`.
    DidNotMove { relay: String, input: String, to: bool, within_ms: u64 },
    /// While `input` said the gate was open, one more vehicle than one.
    Tailgating { rule: String, input: String, camera: String, vehicles: usize, plate: Option<String> },
}

/// The inputs' part of the engine's state.
#[derive(Debug, Default)]
pub(super) struct Inputs {
    pub names: Vec<String>,
    /// `None` until the first reading.
    pub levels: Vec<Option<Level>>,
    /// Per relay (config order): its confirm, resolved.
    pub confirms: Vec<Option<(usize, bool, std::time::Duration)>>,
    pub relay_names: Vec<String>,
    pub awaited: Vec<Awaited>,
    /// Per rule: a `for` rule already fired for the input's present stretch.
    pub held_fired: Vec<bool>,
    /// Per rule: its tailgating window, while the gate is open.
    pub windows: Vec<Option<Window>>,
    /// Plates read lately: (camera, plate, at), newest last.
    pub recent_plates: std::collections::VecDeque<(u32, String, Instant)>,
    pub news: Vec<InputNews>,
}

impl Inputs {
    pub fn index(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// Does every (input, level) hold, each for at least `held`?
    pub fn hold(&self, conditions: &[(usize, bool)], held: std::time::Duration, at: Instant) -> bool {
        conditions.iter().all(|&(i, on)| {
            self.levels.get(i).copied().flatten().is_some_and(|l| l.on == on && at.since(l.since) >= held)
        })
    }
}

impl Engine {
    /// Set up the inputs of `config`, keeping the levels of inputs that keep their name.
    pub(super) fn install_inputs(&mut self, config: &Config) {
        let old = std::mem::take(&mut self.inputs);
        let names: Vec<String> = config.inputs.iter().map(|i| i.name.clone()).collect();
        let levels =
            names.iter().map(|n| old.index(n).and_then(|i| old.levels.get(i).copied().flatten())).collect();
        let index = |n: &str| names.iter().position(|x| x == n);
        let confirms = config
            .relays
            .iter()
            .map(|r| r.confirm.as_ref().and_then(|c| Some((index(&c.input)?, c.to, c.within))))
            .collect();
        let pairs = |list: &[crate::config::InputCondition]| -> Vec<(usize, bool)> {
            list.iter().filter_map(|c| Some((index(&c.input)?, c.on))).collect()
        };
        for (rule, rc) in self.rules.iter_mut().zip(&config.rules) {
            rule.inputs = rc.when.inputs.iter().filter_map(|n| index(n)).collect();
            rule.input_states = pairs(&rc.when.input_states);
            rule.unless_inputs =
                rc.when.unless.as_deref().map(|u| pairs(&u.input_states)).unwrap_or_default();
        }
        self.inputs = Inputs {
            awaited: old.awaited.into_iter().filter(|a| names.get(a.input).is_some()).collect(),
            levels,
            confirms,
            relay_names: config.relays.iter().map(|r| r.name.clone()).collect(),
            held_fired: vec![false; self.rules.len()],
            windows: vec![None; self.rules.len()],
            recent_plates: old.recent_plates,
            names,
            news: Vec::new(),
        };
        // A window opens on the gate's level, whatever it was before the reload.
        for ri in 0..self.rules.len() {
            self.open_window_if_open(ri, None);
        }
    }

    /// An input's debounced level at `now` (its edge's instant). The first
    /// reading only sets the level: nothing changed, no rule fires.
    pub fn input(&mut self, index: usize, on: bool, now: Now) -> Vec<Command> {
        self.verdicts.clear();
        self.fired.clear();
        let mut out = Vec::new();
        self.expire(now, &mut out);
        let Some(slot) = self.inputs.levels.get_mut(index) else { return out };
        let first = slot.is_none();
        if slot.is_some_and(|l| l.on == on) {
            return out;
        }
        *slot = Some(Level { on, since: now.at });
        // A new stretch of this input: its `for` rules may fire again.
        for (ri, rule) in self.rules.iter().enumerate() {
            if rule.when.input_held.is_some() && rule.takes_input(index) {
                self.inputs.held_fired[ri] = false;
            }
        }
        // A relay waiting for this level has its confirmation.
        self.inputs.awaited.retain(|a| !(a.input == index && a.to == on));
        for ri in 0..self.rules.len() {
            if self.rules[ri].has(EventWord::Tailgating) && self.rules[ri].inputs.first() == Some(&index) {
                if self.rules[ri].when.input_to == Some(on) {
                    self.open_window_if_open(ri, Some(now.at));
                } else {
                    self.inputs.windows[ri] = None;
                }
            }
        }
        if first {
            return out;
        }
        let word = if on { "input on" } else { "input off" };
        let name = self.inputs.names[index].clone();
        let ctx = self.ctx(None, None, now);
        for ri in 0..self.rules.len() {
            let rule = &self.rules[ri];
            if !rule.has(EventWord::Input) {
                continue;
            }
            if !rule.takes_input(index) || rule.when.input_to.is_some_and(|t| t != on) {
                self.verdict(ri, "input", None, None, Verdict::OtherInput, now.at);
                continue;
            }
            if rule.when.input_held.is_some() {
                // Fires from `tick` once the level has lasted.
                continue;
            }
            self.input_rule(ri, word, &name, &ctx, now, &mut out);
        }
        out
    }

    /// Rule `ri` on an input's event, past its own input and level.
    fn input_rule(
        &mut self,
        ri: usize,
        word: &str,
        input: &str,
        ctx: &EventCtx,
        now: Now,
        out: &mut Vec<Command>,
    ) {
        let event = self.rules[ri].mask & (EventWord::Input.bit() | EventWord::DidNotMove.bit());
        let event = super::first_word(event);
        if let Some(v) = self.event_check(ri, ctx) {
            self.verdict(ri, event, None, None, v, now.at);
            return;
        }
        let subject = Subject { event: word, camera: "", target: None, zone: None, plate: None };
        let v = self.fire(ri, &subject, now, out);
        if let Some(c) = out.last_mut() {
            c.why.input = Some(input.to_string());
        }
        self.verdict(ri, event, None, None, v, now.at);
    }

    /// A relay's line went on (`on`) or off at `at`: a relay with `confirm`
    /// now waits for its input.
    pub fn relay_switched(&mut self, relay: &str, on: bool, at: Instant) {
        let Some(ri) = self.inputs.relay_names.iter().position(|r| r == relay) else { return };
        let Some((input, to, within)) = self.inputs.confirms.get(ri).copied().flatten() else { return };
        if !on {
            return;
        }
        // Already at the awaited level (the gate was open): nothing to confirm.
        if self.inputs.levels.get(input).copied().flatten().is_some_and(|l| l.on == to) {
            return;
        }
        self.inputs.awaited.retain(|a| a.relay != relay);
        self.inputs.awaited.push(Awaited { relay: relay.to_string(), input, to, until: at + within, within });
    }

    /// The earliest `for` or `within` deadline.
    pub(super) fn inputs_deadline(&self) -> Option<Instant> {
        let awaited = self.inputs.awaited.iter().map(|a| a.until).min();
        let held = (0..self.rules.len()).filter_map(|ri| self.lasting(ri).map(|(_, at)| at).min());
        awaited.into_iter().chain(held).min()
    }

    /// Rule `ri`'s `for`, not yet fired for the present stretch: each of its
    /// inputs at the rule's level, with the instant it will have lasted.
    fn lasting(&self, ri: usize) -> impl Iterator<Item = (usize, Instant)> + '_ {
        let rule = &self.rules[ri];
        let waiting = rule.has(EventWord::Input) && !self.inputs.held_fired.get(ri).copied().unwrap_or(true);
        let held = rule.when.input_held.zip(rule.when.input_to).filter(|_| waiting);
        (0..self.inputs.names.len()).filter_map(move |i| {
            let (held, to) = held?;
            let level = self.inputs.levels.get(i).copied().flatten()?;
            (rule.takes_input(i) && level.on == to).then_some((i, level.since + held))
        })
    }

    /// Confirmations that did not come and levels that have lasted, at `now`.
    pub(super) fn inputs_tick(&mut self, now: Now, out: &mut Vec<Command>) {
        let (late, waiting): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.inputs.awaited).into_iter().partition(|a| a.until <= now.at);
        self.inputs.awaited = waiting;
        for a in late {
            let input = self.inputs.names[a.input].clone();
            self.inputs.news.push(InputNews::DidNotMove {
                relay: a.relay.clone(),
                input: input.clone(),
                to: a.to,
                within_ms: a.within.as_millis() as u64,
            });
            let ctx = self.ctx(None, None, now);
            for ri in 0..self.rules.len() {
                let rule = &self.rules[ri];
                if !rule.has(EventWord::DidNotMove) {
                    continue;
                }
                if !rule.takes_input(a.input) {
                    self.verdict(ri, "did_not_move", None, None, Verdict::OtherInput, now.at);
                    continue;
                }
                let word = format!("{} did not move", a.relay);
                self.input_rule(ri, &word, &input, &ctx, now, out);
            }
        }
        for ri in 0..self.rules.len() {
            let Some((i, _)) = self.lasting(ri).find(|(_, at)| *at <= now.at) else { continue };
            let (Some(held), Some(to)) = (self.rules[ri].when.input_held, self.rules[ri].when.input_to)
            else {
                continue;
            };
            self.inputs.held_fired[ri] = true;
            let ctx = self.ctx(None, None, now);
            let word =
                format!("input {} for {}", if to { "on" } else { "off" }, crate::words::fmt_duration(held));
            let name = self.inputs.names[i].clone();
            self.input_rule(ri, &word, &name, &ctx, now, out);
        }
    }

    /// Open rule `ri`'s tailgating window if its gate input says open, seeded
    /// with the moving vehicles its cameras track now and the plates they
    /// read in the last minute (the car that opened the gate is one).
    fn open_window_if_open(&mut self, ri: usize, at: Option<Instant>) {
        let rule = &self.rules[ri];
        if !rule.has(EventWord::Tailgating) {
            return;
        }
        let (Some(&input), Some(to)) = (rule.inputs.first(), rule.when.input_to) else { return };
        let open = self.inputs.levels.get(input).copied().flatten().is_some_and(|l| l.on == to);
        if !open {
            self.inputs.windows[ri] = None;
            return;
        }
        if self.inputs.windows[ri].is_some() {
            return;
        }
        let cams = rule.cameras.clone();
        let seen = |c: u32| cams.is_empty() || cams.contains(&(c as usize));
        let mut w = Window::default();
        for (&(c, id), t) in &self.tracks {
            if seen(c) && t.class.is_vehicle() && !t.stationary && w.targets.len() < MAX_WINDOW {
                w.targets.push((c, id));
            }
        }
        if let Some(at) = at {
            for (c, plate, read) in &self.inputs.recent_plates {
                if seen(*c)
                    && at.since(*read).as_millis() as u64 <= PLATE_LEAD_MS
                    && !w.plates.contains(plate)
                {
                    w.plates.push(plate.clone());
                }
            }
        }
        self.inputs.windows[ri] = Some(w);
    }

    /// A vehicle (a moving target, or a plate read) seen by camera `cam`:
    /// in every open window it is one more, and past the first, tailgating.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn saw_vehicle(
        &mut self,
        cam: Option<usize>,
        cam_id: u32,
        target: Option<u32>,
        plate: Option<&str>,
        label: &str,
        now: Now,
        out: &mut Vec<Command>,
    ) {
        if let Some(p) = plate {
            if self.inputs.recent_plates.len() >= MAX_WINDOW {
                self.inputs.recent_plates.pop_front();
            }
            self.inputs.recent_plates.push_back((cam_id, p.to_string(), now.at));
        }
        for ri in 0..self.rules.len() {
            let Some(w) = self.inputs.windows.get_mut(ri).and_then(|w| w.as_mut()) else { continue };
            let rule = &self.rules[ri];
            if !rule.cameras.is_empty() && !cam.is_some_and(|c| rule.cameras.contains(&c)) {
                continue;
            }
            let (new, count) = match (plate, target) {
                (Some(p), _) => {
                    let new = !w.plates.iter().any(|x| x == p);
                    if new && w.plates.len() < MAX_WINDOW {
                        w.plates.push(p.to_string());
                    }
                    (new, w.plates.len())
                }
                (None, Some(id)) => {
                    let new = !w.targets.contains(&(cam_id, id));
                    if new && w.targets.len() < MAX_WINDOW {
                        w.targets.push((cam_id, id));
                    }
                    (new, w.targets.len())
                }
                (None, None) => (false, 0),
            };
            if !new || count < 2 {
                continue;
            }
            let input =
                rule.inputs.first().and_then(|&i| self.inputs.names.get(i)).cloned().unwrap_or_default();
            self.inputs.news.push(InputNews::Tailgating {
                rule: rule.name.clone(),
                input: input.clone(),
                camera: label.to_string(),
                vehicles: count,
                plate: plate.map(str::to_string),
            });
            let ctx = self.ctx(cam, None, now);
            if let Some(v) = self.event_check(ri, &ctx) {
                self.verdict(ri, "tailgating", cam, target, v, now.at);
                continue;
            }
            let what = format!("tailgating ({count} vehicles while {input} says open)");
            let subject = Subject { event: &what, camera: label, target, zone: None, plate };
            let v = self.fire(ri, &subject, now, out);
            if let Some(c) = out.last_mut() {
                c.why.input = Some(input);
            }
            self.verdict(ri, "tailgating", cam, target, v, now.at);
        }
    }

    /// What the inputs saw since the last call.
    pub fn take_input_news(&mut self) -> Vec<InputNews> {
        std::mem::take(&mut self.inputs.news)
    }

    /// Each input's level and since when (`None` before the first reading).
    pub fn input_levels(&self) -> Vec<(String, Option<(bool, Instant)>)> {
        self.inputs
            .names
            .iter()
            .zip(&self.inputs.levels)
            .map(|(n, l)| (n.clone(), l.map(|l| (l.on, l.since))))
            .collect()
    }
}

impl TargetClass {
    /// Cars and motorbikes: what passes a gate.
    pub fn is_vehicle(self) -> bool {
        matches!(self, TargetClass::Vehicle | TargetClass::Motor)
    }
}
