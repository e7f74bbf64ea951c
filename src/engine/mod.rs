//! The engine: decoded events and the current instant in, relay commands out.
//!
//! Owns rule matching, presence tracking, geometry and schedules. It must never
//! do I/O, read a clock or know about GPIO: time arrives as [`crate::clock::Now`],
//! so every rule is testable to the millisecond and `replay` runs a day in a second.
//!
//! How traject becomes commands:
//! - every post updates the track of each target it names (per camera and
//!   target id) and, through `inertia`, the target's zone memberships;
//! - a `hold` rule on `presence` emits `Hold { until: now + hold }` on every
//!   post where a matching target is present (in its zone, past `dwell`), so
//!   the relay releases exactly `hold` after the last such post, and a second
//!   person extends it;
//! - other actions on `presence` fire once per target, when its conditions
//!   start to hold (the rising edge);
//! - `zone_entry` / `zone_exit` rules fire on the membership transitions
//!   derived from traject, and on the camera's own AOIENTRY / AOILEAVE posts;
//!   a target that times out inside a zone exits it then (in [`Engine::tick`]).

pub mod geometry;
pub mod plates;
pub mod presence;
mod rules;
pub mod schedule;
pub mod sun;

use crate::clock::{Instant, Now};
use crate::command::{Action, Command, Why};
use crate::config::{
    normalize_plate, ActionKind, Anchor, CameraConfig, Config, EventWord, PresenceConfig, SiteConfig,
};
use crate::decode::{Device, Event, EventKind, Point, Target};
use presence::{Track, ZoneState};
use rules::{kind_bits, Rule, TRAJECT_BITS};
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

/// How often a rule matched and how many commands it issued (status and metrics).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RuleCounter {
    pub rule: String,
    pub matched: u64,
    pub commands: u64,
    /// Matches that changed nothing, by reason (`cooldown`, `plate_cooldown`,
    /// and what the relay controller says: `min_off`, `manual override`, ...).
    /// Filled by the daemon, which sees both.
    pub no_effect: BTreeMap<String, u64>,
}

/// A match that issued no command, and why: the daemon logs and counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unfired {
    pub rule: String,
    /// A stable word: `cooldown`, `plate_cooldown`.
    pub reason: &'static str,
    /// For the log line: what was cooling down, and until when.
    pub detail: String,
}

struct Zone {
    name: String,
    camera: usize,
    polygon: Vec<Point>,
    anchor: Anchor,
}

/// Track ids of devices that match no `[[camera]]` start here, so they never
/// collide with camera indices across reloads.
const UNKNOWN_DEVICE_BASE: u32 = 1 << 24;

/// Targets tracked at once per camera (or unknown device). A camera follows
/// a few dozen at most; past this, new target ids are ignored (counted in
/// [`Engine::ignored_targets`]) until tracks time out, so a client inventing
/// a target per post cannot grow memory.
pub const MAX_TRACKS_PER_CAMERA: usize = 256;

/// Unfired matches kept until [`Engine::take_unfired`] drains them.
const MAX_UNFIRED: usize = 1024;

/// Unconfigured devices whose targets are tracked at once.
pub const MAX_UNKNOWN_DEVICES: usize = 64;

/// The rules engine. See the module documentation.
pub struct Engine {
    rules: Vec<Rule>,
    zones: Vec<Zone>,
    cameras: Vec<CameraConfig>,
    /// Zone indices per camera index.
    camera_zones: Vec<Vec<usize>>,
    site: SiteConfig,
    presence: PresenceConfig,
    has_schedule: bool,
    tracks: BTreeMap<(u32, u32), Track>,
    unknown_devices: HashMap<String, u32>,
    sun_cache: Option<(chrono::NaiveDate, Option<(i64, i64)>)>,
    ignored_targets: u64,
    unfired: Vec<Unfired>,
}

/// What a rule-level check needs to know about the event.
struct EventCtx {
    camera: Option<usize>,
    channel: Option<u32>,
    local: Option<schedule::LocalTime>,
    sun: Option<(i64, i64)>,
}

/// Who and where, for an explanation.
struct Subject<'a> {
    event: &'a str,
    camera: &'a str,
    target: Option<u32>,
    zone: Option<usize>,
    plate: Option<&'a str>,
}

impl Engine {
    pub fn new(config: &Config) -> Engine {
        let mut e = Engine {
            rules: Vec::new(),
            zones: Vec::new(),
            cameras: Vec::new(),
            camera_zones: Vec::new(),
            site: SiteConfig::default(),
            presence: PresenceConfig::default(),
            has_schedule: false,
            tracks: BTreeMap::new(),
            unknown_devices: HashMap::new(),
            sun_cache: None,
            ignored_targets: 0,
            unfired: Vec::new(),
        };
        e.install(config);
        e
    }

    fn install(&mut self, config: &Config) {
        self.cameras = config.cameras.clone();
        let cam_idx = |n: &str| config.cameras.iter().position(|c| c.name == n);
        self.zones = config
            .zones
            .iter()
            .filter_map(|z| {
                Some(Zone {
                    name: z.name.clone(),
                    camera: cam_idx(&z.camera)?,
                    polygon: z.polygon.clone(),
                    anchor: z.anchor,
                })
            })
            .collect();
        self.camera_zones = vec![Vec::new(); self.cameras.len()];
        for (i, z) in self.zones.iter().enumerate() {
            self.camera_zones[z.camera].push(i);
        }
        let zones = &self.zones;
        let zone_idx = |n: &str| zones.iter().position(|z| z.name == n);
        self.rules = config.rules.iter().map(|r| Rule::compile(r, &cam_idx, &zone_idx)).collect();
        self.site = config.site.clone();
        self.presence = config.presence;
        self.has_schedule = config.rules.iter().any(|r| r.when.schedule.is_some());
        self.sun_cache = None;
    }

    /// Replace rules, zones and cameras at once. Presence is kept for cameras
    /// that still exist (zone memberships by zone name, rule edges by rule
    /// name), and so are counters of rules that keep their name.
    pub fn reload(&mut self, config: &Config) {
        let old_cameras: Vec<String> = self.cameras.iter().map(|c| c.name.clone()).collect();
        let old_zones: Vec<String> = self.zones.iter().map(|z| z.name.clone()).collect();
        let old_rules: Vec<(String, u64, u64)> =
            self.rules.iter().map(|r| (r.name.clone(), r.matched, r.commands)).collect();
        let old_cooldowns: Vec<_> =
            self.rules.iter().map(|r| (r.last_fired, r.plate_fired.clone())).collect();
        self.install(config);
        for r in self.rules.iter_mut() {
            if let Some(i) = old_rules.iter().position(|(n, _, _)| *n == r.name) {
                r.matched = old_rules[i].1;
                r.commands = old_rules[i].2;
                r.last_fired = old_cooldowns[i].0;
                r.plate_fired = old_cooldowns[i].1.clone();
            }
        }
        let zone_map: Vec<Option<usize>> =
            self.zones.iter().map(|z| old_zones.iter().position(|n| *n == z.name)).collect();
        let rule_map: Vec<Option<usize>> =
            self.rules.iter().map(|r| old_rules.iter().position(|(n, _, _)| *n == r.name)).collect();
        let tracks = std::mem::take(&mut self.tracks);
        for ((cam, id), t) in tracks {
            let new_cam = if cam >= UNKNOWN_DEVICE_BASE {
                Some(cam)
            } else {
                old_cameras
                    .get(cam as usize)
                    .and_then(|name| self.cameras.iter().position(|c| c.name == *name))
                    .map(|i| i as u32)
            };
            let Some(new_cam) = new_cam else { continue };
            let mut nt = t.clone();
            nt.zones = zone_map
                .iter()
                .map(|o| o.and_then(|i| t.zones.get(i).copied()).unwrap_or(ZoneState::OUTSIDE))
                .collect();
            nt.latched =
                rule_map.iter().map(|o| o.and_then(|i| t.latched.get(i).copied()).unwrap_or(false)).collect();
            self.tracks.insert((new_cam, id), nt);
        }
    }

    pub fn counters(&self) -> Vec<RuleCounter> {
        self.rules
            .iter()
            .map(|r| RuleCounter {
                rule: r.name.clone(),
                matched: r.matched,
                commands: r.commands,
                no_effect: BTreeMap::new(),
            })
            .collect()
    }

    /// The matches since the last call that issued no command, and why.
    pub fn take_unfired(&mut self) -> Vec<Unfired> {
        std::mem::take(&mut self.unfired)
    }

    /// Targets ignored because their camera already had
    /// [`MAX_TRACKS_PER_CAMERA`] tracked (metrics).
    pub fn ignored_targets(&self) -> u64 {
        self.ignored_targets
    }

    /// Targets tracked now, over all cameras.
    pub fn tracked_targets(&self) -> usize {
        self.tracks.len()
    }

    /// The earliest instant at which [`Engine::tick`] has something to do
    /// (a target timing out), if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.tracks.values().map(|t| t.last_seen + self.presence.target_timeout).min()
    }

    /// Advance time: targets not seen for `target_timeout` are gone, and leave their zones.
    pub fn tick(&mut self, now: Now) -> Vec<Command> {
        let mut out = Vec::new();
        self.expire(now, &mut out);
        out
    }

    /// One decoded event from `source` (the post's peer address) at `now`.
    pub fn handle(&mut self, event: &Event, source: Option<IpAddr>, now: Now) -> Vec<Command> {
        let mut out = Vec::new();
        self.expire(now, &mut out);
        match &event.kind {
            EventKind::Traject => self.traject(event, source, now, &mut out),
            EventKind::AlarmStatus => self.alarms(event, source, now, &mut out),
            kind => {
                let bits = kind_bits(kind, event.status);
                if bits != 0 {
                    self.discrete(event, bits, source, now, &mut out);
                }
            }
        }
        out
    }

    // ---- cameras -------------------------------------------------------------

    fn resolve(&self, d: &Device, source: Option<IpAddr>, channel: Option<u32>) -> Option<usize> {
        let channel = channel.or(d.channel);
        self.cameras.iter().position(|c| c.matches(d, source, channel))
    }

    fn camera_label(&self, cam: Option<usize>, d: &Device, source: Option<IpAddr>) -> String {
        if let Some(c) = cam {
            return self.cameras[c].name.clone();
        }
        d.name
            .clone()
            .or_else(|| d.mac.clone())
            .or_else(|| d.ip.clone())
            .or_else(|| source.map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown device".into())
    }

    fn track_camera(&mut self, cam: Option<usize>, d: &Device, source: Option<IpAddr>) -> u32 {
        if let Some(c) = cam {
            return c as u32;
        }
        let key = format!(
            "{}|{}|{}|{}",
            d.mac.as_deref().unwrap_or(""),
            d.serial.as_deref().unwrap_or(""),
            d.name.as_deref().unwrap_or(""),
            source.map(|s| s.to_string()).unwrap_or_default()
        );
        if self.unknown_devices.len() >= MAX_UNKNOWN_DEVICES && !self.unknown_devices.contains_key(&key) {
            // Bounded memory against a flood of made-up devices: start over,
            // dropping the presence of unconfigured devices only.
            self.unknown_devices.clear();
            self.tracks.retain(|(cam, _), _| *cam < UNKNOWN_DEVICE_BASE);
        }
        let next = UNKNOWN_DEVICE_BASE + self.unknown_devices.len() as u32;
        *self.unknown_devices.entry(key).or_insert(next)
    }

    fn ctx(&mut self, camera: Option<usize>, channel: Option<u32>, now: Now) -> EventCtx {
        let (local, sun) = if self.has_schedule {
            let local = schedule::local_time(now.wall, &self.site);
            let sun = match self.sun_cache {
                Some((date, sun)) if date == local.date => sun,
                _ => {
                    let sun = schedule::sun_ms(local.date, &self.site);
                    self.sun_cache = Some((local.date, sun));
                    sun
                }
            };
            (Some(local), sun)
        } else {
            (None, None)
        };
        EventCtx { camera, channel, local, sun }
    }

    // ---- evaluation ----------------------------------------------------------

    fn traject(&mut self, ev: &Event, source: Option<IpAddr>, now: Now, out: &mut Vec<Command>) {
        let cam = self.resolve(&ev.device, source, None);
        let cam_id = self.track_camera(cam, &ev.device, source);
        let label = self.camera_label(cam, &ev.device, source);
        let inertia = self.presence.inertia;
        let (nzones, nrules) = (self.zones.len(), self.rules.len());
        // (target id, zone index, entered?)
        let mut transitions: Vec<(u32, usize, bool)> = Vec::new();
        // Counted only when a post names a target not tracked yet.
        let mut tracked: Option<usize> = None;
        for t in &ev.targets {
            let Some(id) = t.id else { continue };
            if !self.tracks.contains_key(&(cam_id, id)) {
                let n = tracked
                    .get_or_insert_with(|| self.tracks.range((cam_id, 0)..=(cam_id, u32::MAX)).count());
                if *n >= MAX_TRACKS_PER_CAMERA {
                    self.ignored_targets += 1;
                    continue;
                }
                *n += 1;
            }
            let track = self
                .tracks
                .entry((cam_id, id))
                .or_insert_with(|| Track::new(now.at, t.class, label.clone(), nzones, nrules));
            track.last_seen = now.at;
            track.class = t.class;
            track.rect = t.rect;
            track.channel = ev.device.channel;
            if let (Some(c), Some(rect)) = (cam, t.rect.as_ref()) {
                for &z in &self.camera_zones[c] {
                    let zone = &self.zones[z];
                    let inside = geometry::target_in_zone(rect, zone.anchor, &zone.polygon);
                    if let Some(entered) = track.zones[z].observe(inside, inertia, now.at) {
                        transitions.push((id, z, entered));
                    }
                }
            }
        }
        let ctx = self.ctx(cam, ev.device.channel, now);
        for ri in 0..self.rules.len() {
            if self.rules[ri].mask & TRAJECT_BITS == 0 {
                continue;
            }
            let event_ok = self.event_ok(ri, &ctx);
            let rule = &self.rules[ri];
            let mut hit: Option<(&'static str, u32, Option<usize>)> = None;
            if rule.has(EventWord::Presence) {
                let dwell = rule.when.dwell.unwrap_or_default();
                for t in &ev.targets {
                    let Some(id) = t.id else { continue };
                    let Some(track) = self.tracks.get_mut(&(cam_id, id)) else { continue };
                    let mut ok = event_ok && rule.target_ok(t.class, t.rect.as_ref());
                    let mut zone = None;
                    if ok {
                        if rule.zones.is_empty() {
                            ok = now.at.since(track.first_seen) >= dwell;
                        } else {
                            zone = rule.zones.iter().copied().find(|&z| {
                                let s = track.zones[z];
                                s.inside && now.at.since(s.entered_at) >= dwell
                            });
                            ok = zone.is_some();
                        }
                    }
                    if rule.is_hold() {
                        if ok && hit.is_none() {
                            hit = Some(("presence", id, zone));
                        }
                    } else {
                        let rising = ok && !track.latched[ri];
                        track.latched[ri] = ok;
                        if rising && hit.is_none() {
                            hit = Some(("presence", id, zone));
                        }
                    }
                }
            }
            if hit.is_none() && event_ok {
                for &(id, z, entered) in &transitions {
                    let word = if entered { EventWord::ZoneEntry } else { EventWord::ZoneExit };
                    if !rule.has(word) || !(rule.zones.is_empty() || rule.zones.contains(&z)) {
                        continue;
                    }
                    let Some(track) = self.tracks.get(&(cam_id, id)) else { continue };
                    if rule.target_ok(track.class, track.rect.as_ref()) {
                        hit = Some((word.word(), id, Some(z)));
                        break;
                    }
                }
            }
            if let Some((word, id, zone)) = hit {
                let subject = Subject { event: word, camera: &label, target: Some(id), zone, plate: None };
                self.fire(ri, &subject, now, out);
            }
        }
    }

    fn discrete(&mut self, ev: &Event, bits: u32, source: Option<IpAddr>, now: Now, out: &mut Vec<Command>) {
        let cam = self.resolve(&ev.device, source, None);
        let label = self.camera_label(cam, &ev.device, source);
        let ctx = self.ctx(cam, ev.device.channel, now);
        let plate = ev.plate.as_ref();
        let plate_norm = plate.map(|p| normalize_plate(&p.number));
        for ri in 0..self.rules.len() {
            let rule = &self.rules[ri];
            if rule.mask & bits == 0 || !self.event_ok(ri, &ctx) || !rule.plate_ok(plate) {
                continue;
            }
            let (target, zone) = if rule.needs_target() {
                match self.find_target(rule, &ev.targets, cam) {
                    Some(x) => x,
                    None => continue,
                }
            } else {
                (ev.targets.first().and_then(|t| t.id), None)
            };
            let word = first_word(rule.mask & bits);
            // A fuzzy match is named, and cooled down, by the plate it matched.
            let listed: Option<String> = match plate_norm.as_deref() {
                Some(read) if !rule.when.plates.is_empty() => rule.listed_plate(read).map(str::to_string),
                _ => None,
            };
            let plate = listed.as_deref().or(plate_norm.as_deref());
            let subject = Subject { event: word, camera: &label, target, zone, plate };
            self.fire(ri, &subject, now, out);
        }
    }

    fn find_target(
        &self,
        rule: &Rule,
        targets: &[Target],
        cam: Option<usize>,
    ) -> Option<(Option<u32>, Option<usize>)> {
        for t in targets {
            if !rule.target_ok(t.class, t.rect.as_ref()) {
                continue;
            }
            if rule.zones.is_empty() {
                return Some((t.id, None));
            }
            let Some(rect) = t.rect.as_ref() else { continue };
            let zone = rule.zones.iter().copied().find(|&z| {
                let zone = &self.zones[z];
                Some(zone.camera) == cam && geometry::target_in_zone(rect, zone.anchor, &zone.polygon)
            });
            if zone.is_some() {
                return Some((t.id, zone));
            }
        }
        None
    }

    fn alarms(&mut self, ev: &Event, source: Option<IpAddr>, now: Now, out: &mut Vec<Command>) {
        for alarm in &ev.alarms {
            if alarm.name.eq_ignore_ascii_case("chlOfflineAlarm") && alarm.active {
                // The NVR lost one of its cameras: the alarm id is the channel.
                let channel = alarm.id.or(ev.device.channel);
                let cam = self.resolve(&ev.device, source, channel);
                let label = self.camera_label(cam, &ev.device, source);
                let ctx = self.ctx(cam, channel, now);
                for ri in 0..self.rules.len() {
                    if self.rules[ri].has(EventWord::CameraOffline) && self.event_ok(ri, &ctx) {
                        let subject = Subject {
                            event: "camera_offline",
                            camera: &label,
                            target: None,
                            zone: None,
                            plate: None,
                        };
                        self.fire(ri, &subject, now, out);
                    }
                }
            }
            let cam = self.resolve(&ev.device, source, None);
            let label = self.camera_label(cam, &ev.device, source);
            let ctx = self.ctx(cam, ev.device.channel, now);
            let word = format!("alarm {}={}", alarm.name, alarm.active);
            for ri in 0..self.rules.len() {
                let rule = &self.rules[ri];
                if rule.has(EventWord::Alarm) && rule.alarm_ok(alarm) && self.event_ok(ri, &ctx) {
                    let subject =
                        Subject { event: &word, camera: &label, target: None, zone: None, plate: None };
                    self.fire(ri, &subject, now, out);
                }
            }
        }
    }

    fn event_ok(&self, ri: usize, ctx: &EventCtx) -> bool {
        let rule = &self.rules[ri];
        if !rule.cameras.is_empty() && !ctx.camera.is_some_and(|c| rule.cameras.contains(&c)) {
            return false;
        }
        if !rule.when.channels.is_empty() && !ctx.channel.is_some_and(|c| rule.when.channels.contains(&c)) {
            return false;
        }
        if let Some(s) = &rule.when.schedule {
            let Some(local) = ctx.local else { return false };
            if !schedule::in_schedule(s, local, ctx.sun) {
                return false;
            }
        }
        true
    }

    /// Count a match and, unless a cooldown holds it back, issue the rule's command.
    fn fire(&mut self, ri: usize, s: &Subject, now: Now, out: &mut Vec<Command>) {
        let zone_name = s.zone.map(|z| self.zones[z].name.clone());
        let rule = &mut self.rules[ri];
        rule.matched += 1;
        if let (Some(cd), Some(last)) = (rule.cooldown, rule.last_fired) {
            if now.at < last + cd {
                // Bounded: a caller that never drains (replay) keeps the first ones.
                if self.unfired.len() < MAX_UNFIRED {
                    self.unfired.push(Unfired {
                        rule: rule.name.clone(),
                        reason: "cooldown",
                        detail: format!("fired at {last}, cooldown until {}", last + cd),
                    });
                }
                return;
            }
        }
        if let (Some(cd), Some(p)) = (rule.plate_cooldown, s.plate) {
            if let Some(last) = rule.plate_fired.get(p) {
                if now.at < *last + cd {
                    if self.unfired.len() < MAX_UNFIRED {
                        self.unfired.push(Unfired {
                            rule: rule.name.clone(),
                            reason: "plate_cooldown",
                            detail: format!("plate {p} fired at {last}, cooldown until {}", *last + cd),
                        });
                    }
                    return;
                }
            }
            if rule.plate_fired.len() >= 256 {
                // Bounded memory whatever plates arrive: forget the ones no longer cooling down.
                rule.plate_fired.retain(|_, t| *t + cd > now.at);
            }
            rule.plate_fired.insert(p.to_string(), now.at);
        }
        rule.last_fired = Some(now.at);
        rule.commands += 1;
        let action = match rule.action {
            ActionKind::Hold { hold } => Action::Hold { until: now.at + hold },
            ActionKind::Pulse { duration, retrigger } => Action::Pulse { duration, retrigger },
            ActionKind::On => Action::On,
            ActionKind::Off => Action::Off,
            ActionKind::Toggle => Action::Toggle,
        };
        out.push(Command {
            relay: rule.relay.clone(),
            action,
            why: Why {
                rule: rule.name.clone(),
                event: s.event.to_string(),
                camera: Some(s.camera.to_string()),
                target: s.target,
                zone: zone_name,
                plate: s.plate.map(str::to_string),
            },
        });
    }

    /// Targets not seen for `target_timeout` are gone: they leave their zones
    /// (firing `zone_exit` rules) and their tracks are dropped.
    fn expire(&mut self, now: Now, out: &mut Vec<Command>) {
        let timeout = self.presence.target_timeout;
        if !self.next_deadline().is_some_and(|d| d <= now.at) {
            return;
        }
        let gone: Vec<(u32, u32)> =
            self.tracks.iter().filter(|(_, t)| t.last_seen + timeout <= now.at).map(|(k, _)| *k).collect();
        for key in gone {
            let Some(track) = self.tracks.remove(&key) else { continue };
            let cam = (key.0 < UNKNOWN_DEVICE_BASE).then_some(key.0 as usize);
            let ctx = self.ctx(cam, track.channel, now);
            for (z, state) in track.zones.iter().enumerate() {
                if !state.inside {
                    continue;
                }
                for ri in 0..self.rules.len() {
                    let rule = &self.rules[ri];
                    if rule.has(EventWord::ZoneExit)
                        && (rule.zones.is_empty() || rule.zones.contains(&z))
                        && rule.target_ok(track.class, track.rect.as_ref())
                        && self.event_ok(ri, &ctx)
                    {
                        let subject = Subject {
                            event: "zone_exit",
                            camera: &track.camera,
                            target: Some(key.1),
                            zone: Some(z),
                            plate: None,
                        };
                        self.fire(ri, &subject, now, out);
                    }
                }
            }
        }
    }
}

fn first_word(bits: u32) -> &'static str {
    EventWord::ALL.iter().find(|w| bits & w.bit() != 0).map(|w| w.word()).unwrap_or("event")
}
