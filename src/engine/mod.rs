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
//!   a target that times out inside a zone exits it then (in [`Engine::tick`]);
//! - a hold claims per target (the command names it), so the relay
//!   controller can spend the claim of a parked car at `max_on` and still let
//!   a person who walks up later switch the light on;
//! - a target of `stationary_classes` (vehicles by default) whose box stays
//!   put for `stationary_after` is stationary: it no longer satisfies
//!   `presence` (so it renews no hold and starts no dwell) and is not counted
//!   by counting rules, unless the rule has `include_stationary`; the
//!   occupancy shown on the page and MQTT still counts it;
//! - an area is a set of zones, on one camera or several; counting rules
//!   (`occupancy`, `area_occupied`, `area_empty`) count targets of the rule's
//!   class in its zones, as the most any one camera sees, after every post
//!   and whenever a target times out; area `dwell` is the time the place has
//!   been occupied without a break, whichever camera saw whom;
//! - every rule that listens to an event's kind leaves a [`Verdict`] on it
//!   ([`Engine::verdicts`]): fired, or the first condition that failed.

pub mod geometry;
pub mod inputs;
pub mod places;
pub mod plates;
pub mod presence;
mod rules;
pub mod schedule;
pub mod sun;
pub mod verdict;

pub use inputs::InputNews;
pub use verdict::{RuleVerdict, Verdict};

use crate::clock::{Instant, Now};
use crate::command::{Action, Command, Why};
use crate::config::{
    normalize_plate, ActionKind, Anchor, CameraConfig, Config, EventWord, Heading, PresenceConfig, SiteConfig,
};
use crate::decode::{Device, Event, EventKind, Point, Rect, Target, TargetClass};
use presence::{Track, ZoneState};
use rules::{kind_bits, Rule, TRAJECT_BITS};
use std::collections::{BTreeMap, HashMap, VecDeque};
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
    /// Commands the relay controller took and carries out when a limit
    /// allows, by the limit (`min_off`, `interlock`, `chatter lockout`).
    pub deferred: BTreeMap<String, u64>,
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

/// The cooldowns of one rule before it fired: a command the relay
/// controller did not carry out gives them back (see [`Engine::held_back`]).
struct FireMark {
    rule: usize,
    last_fired: Option<Instant>,
    /// The listed plate, and when it had fired before, if it had.
    plate: Option<(String, Option<Instant>)>,
}

/// One detection of a camera with two sources, as de-duplication compares it.
#[derive(Debug, Clone, PartialEq)]
struct Sighting {
    at: Instant,
    via: crate::config::Via,
    kind: EventKind,
    class: Option<TargetClass>,
    plate: Option<String>,
}

impl Sighting {
    /// The same detection: kind and plate text equal, and the class equal
    /// where both sources name one (an NVR may leave it out).
    fn same(&self, other: &Sighting) -> bool {
        let class = |c: Option<TargetClass>| c.filter(|c| *c != TargetClass::Unknown);
        self.kind == other.kind
            && self.plate == other.plate
            && match (class(self.class), class(other.class)) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }
}

/// Unpaired detections kept per camera: a burst past this forgets the oldest.
const MAX_SIGHTINGS: usize = 32;

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

/// Verdicts kept for one call of [`Engine::handle`] or [`Engine::tick`].
const MAX_VERDICTS: usize = 4096;

/// A target that stopped moving, or moved again: the daemon logs it, replay prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub camera: String,
    pub target: u32,
    pub class: TargetClass,
    /// `true`: it became stationary; `false`: it moves again.
    pub stationary: bool,
}

/// A tracked target's visit, once it is gone: one row of the history
/// instead of one per traject post.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Visit {
    pub camera: String,
    pub target: u32,
    pub class: TargetClass,
    #[serde(skip)]
    pub first_seen: Instant,
    #[serde(skip)]
    pub last_seen: Instant,
    /// The zones it was in, in zone order.
    pub zones: Vec<String>,
}

/// A tracked target, for the status API.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TargetStatus {
    pub camera: String,
    pub id: u32,
    pub class: &'static str,
    pub stationary: bool,
    /// Zones it is in now.
    pub zones: Vec<String>,
    /// Tracked for this long.
    pub seen_for_ms: u64,
    /// Its last box on the picture (0–10000), for drawing.
    pub rect: Option<crate::decode::Rect>,
}

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
    /// Some rule reads the local time: a window, or a plate list.
    has_schedule: bool,
    tracks: BTreeMap<(u32, u32), Track>,
    unknown_devices: HashMap<String, u32>,
    sun_cache: Option<(chrono::NaiveDate, Option<(i64, i64)>)>,
    ignored_targets: u64,
    unfired: Vec<Unfired>,
    /// Verdicts of the last `handle` / `tick`.
    verdicts: Vec<RuleVerdict>,
    /// What each command of the last `handle` or `tick` changed in its
    /// rule's cooldowns, by the command's place in the returned list.
    fired: Vec<FireMark>,
    /// The plate of the event being (last) handled, for why-not.
    plate_read: Option<String>,
    /// Verdicts of the last `handle` / `tick` that say more than their
    /// variant, by rule ("plate JP116D is on visitors only from ...").
    details: Vec<(usize, String)>,
    /// `[[plates.<list>]]`, as the rules file has them.
    plate_lists: Vec<crate::config::PlateList>,
    /// Per camera: offline now (a `camera_offline` event, until `camera_online`).
    offline: Vec<bool>,
    /// Per camera with two sources: its recent detections not yet paired
    /// with their copy from the other source.
    recent: Vec<VecDeque<Sighting>>,
    /// The last event handled was the other source's copy of a detection.
    duplicate: bool,
    notices: Vec<Notice>,
    /// Visits that ended, until the daemon takes them (at most [`MAX_UNFIRED`]).
    visits: Vec<Visit>,
    /// `stationary_tolerance` in picture units.
    tolerance: u32,
    /// Some rule counts targets in a place.
    has_counting: bool,
    /// `[[area]]` names with their zone indices, for [`Engine::occupancy`].
    areas: Vec<(String, Vec<usize>)>,
    /// While [`Engine::handle_from_node`] runs: the camera every lookup resolves to.
    from_node: Option<usize>,
    /// Input levels, confirmations awaited, tailgating windows.
    inputs: inputs::Inputs,
}

/// What a rule-level check needs to know about the event.
struct EventCtx {
    /// When the event happened: `input_for` is measured to it.
    at: Instant,
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
            verdicts: Vec::new(),
            fired: Vec::new(),
            recent: Vec::new(),
            duplicate: false,
            offline: Vec::new(),
            plate_read: None,
            details: Vec::new(),
            plate_lists: Vec::new(),
            notices: Vec::new(),
            visits: Vec::new(),
            tolerance: 0,
            has_counting: false,
            areas: Vec::new(),
            from_node: None,
            inputs: inputs::Inputs::default(),
        };
        e.install(config);
        e
    }

    fn install(&mut self, config: &Config) {
        // Offline cameras stay offline across a reload, by name; pairs of
        // detections waiting for their copy are forgotten.
        let offline: Vec<bool> = config
            .cameras
            .iter()
            .map(|c| {
                self.cameras.iter().position(|o| o.name == c.name).and_then(|i| self.offline.get(i).copied())
                    == Some(true)
            })
            .collect();
        self.offline = offline;
        self.recent.clear();
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
        let area_zones =
            |n: &str| config.areas.iter().find(|a| a.name == n).map(|a| a.zones.clone()).unwrap_or_default();
        self.rules =
            config.rules.iter().map(|r| Rule::compile(r, &cam_idx, &zone_idx, &area_zones)).collect();
        self.has_counting = self.rules.iter().any(|r| r.counting);
        self.areas = config
            .areas
            .iter()
            .map(|a| (a.name.clone(), a.zones.iter().filter_map(|z| zone_idx(z)).collect()))
            .collect();
        self.site = config.site.clone();
        self.presence = config.presence;
        self.tolerance = (config.presence.stationary_tolerance * 10_000.0).round() as u32;
        // Local time is worked out only when something reads it: a window,
        // or a plate list (its entries' dates and hours).
        self.has_schedule = config.rules.iter().any(|r| {
            r.when.schedule.is_some()
                || !r.when.plate_lists.is_empty()
                || r.when.unless.as_ref().is_some_and(|u| u.schedule.is_some() || !u.plate_lists.is_empty())
        });
        self.plate_lists = config.plates.clone();
        self.sun_cache = None;
        self.install_inputs(config);
    }

    /// Replace rules, zones and cameras at once. Presence is kept for cameras
    /// that still exist (zone memberships by zone name, rule edges by rule
    /// name), and so are counters of rules that keep their name.
    pub fn reload(&mut self, config: &Config) {
        let old_cameras: Vec<String> = self.cameras.iter().map(|c| c.name.clone()).collect();
        let old_zones: Vec<String> = self.zones.iter().map(|z| z.name.clone()).collect();
        let old_rules: Vec<(String, u64, u64)> =
            self.rules.iter().map(|r| (r.name.clone(), r.matched, r.commands)).collect();
        let old_cooldowns: Vec<_> = self
            .rules
            .iter()
            .map(|r| (r.last_fired, r.plate_fired.clone(), r.occupied, r.occupied_since))
            .collect();
        self.install(config);
        for r in self.rules.iter_mut() {
            if let Some(i) = old_rules.iter().position(|(n, _, _)| *n == r.name) {
                r.matched = old_rules[i].1;
                r.commands = old_rules[i].2;
                r.last_fired = old_cooldowns[i].0;
                r.plate_fired = old_cooldowns[i].1.clone();
                (r.occupied, r.occupied_since) = (old_cooldowns[i].2, old_cooldowns[i].3);
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
                deferred: BTreeMap::new(),
            })
            .collect()
    }

    /// The matches since the last call that issued no command, and why.
    pub fn take_unfired(&mut self) -> Vec<Unfired> {
        std::mem::take(&mut self.unfired)
    }

    /// Each listening rule's verdict on the last [`Engine::handle`] or
    /// [`Engine::tick`] (why it fired, or the first condition that failed).
    pub fn verdicts(&self) -> &[RuleVerdict] {
        &self.verdicts
    }

    /// What rule `rule`'s verdict on the last [`Engine::handle`] says beyond
    /// its words, if anything: which plate list, and why the entry did not count.
    pub fn verdict_detail(&self, rule: usize) -> Option<&str> {
        self.details.iter().find(|(r, _)| *r == rule).map(|(_, d)| d.as_str())
    }

    /// The plate number of the event [`Engine::handle`] took last, as read.
    pub fn plate_read(&self) -> Option<&str> {
        self.plate_read.as_deref()
    }

    /// Rule names by index, as in [`RuleVerdict::rule`].
    pub fn rule_name(&self, index: usize) -> Option<&str> {
        self.rules.get(index).map(|r| r.name.as_str())
    }

    /// Camera names by index, as in [`RuleVerdict::camera`].
    pub fn camera_name(&self, index: usize) -> Option<&str> {
        self.cameras.get(index).map(|c| c.name.as_str())
    }

    /// Visits that ended (targets gone) since the last call.
    pub fn take_visits(&mut self) -> Vec<Visit> {
        std::mem::take(&mut self.visits)
    }

    /// Targets that became stationary or moved again since the last call.
    pub fn take_notices(&mut self) -> Vec<Notice> {
        std::mem::take(&mut self.notices)
    }

    /// The camera a post's device is, as targets and explanations name it:
    /// its `[[camera]]` name, else what the device says it is.
    pub fn camera_of(&self, device: &Device, source: Option<IpAddr>) -> String {
        self.camera_label(self.resolve(device, source, None), device, source)
    }

    /// The targets tracked now: all, or those of one camera (by [`Engine::camera_of`]).
    pub fn targets(&self, now: Instant, camera: Option<&str>) -> Vec<TargetStatus> {
        self.tracks
            .iter()
            .filter(|(_, t)| camera.map_or(true, |c| t.camera == c))
            .map(|(&(_, id), t)| TargetStatus {
                camera: t.camera.clone(),
                id,
                class: t.class.word(),
                stationary: t.stationary,
                zones: t
                    .zones
                    .iter()
                    .enumerate()
                    .filter(|(_, z)| z.inside)
                    .map(|(i, _)| self.zones[i].name.clone())
                    .collect(),
                seen_for_ms: now.since(t.first_seen).as_millis() as u64,
                rect: t.rect,
            })
            .collect()
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
        let tracks = self.tracks.values().map(|t| t.last_seen + self.presence.target_timeout).min();
        tracks.into_iter().chain(self.inputs_deadline()).min()
    }

    /// Advance time: targets not seen for `target_timeout` are gone, and leave their zones.
    pub fn tick(&mut self, now: Now) -> Vec<Command> {
        self.verdicts.clear();
        self.details.clear();
        self.fired.clear();
        let mut out = Vec::new();
        self.expire(now, &mut out);
        self.inputs_tick(now, &mut out);
        out
    }

    /// One decoded event from `source` (the post's peer address) at `now`.
    /// An event another node saw on its camera `camera` (a `[[camera]]` with
    /// `node`), evaluated as if that camera had posted here. `None` when no
    /// such camera is configured. Traject never comes this way.
    pub fn handle_from_node(&mut self, camera: &str, event: &Event, now: Now) -> Option<Vec<Command>> {
        if event.kind == EventKind::Traject {
            return None;
        }
        let cam = self.cameras.iter().position(|c| c.name == camera && c.node.is_some())?;
        self.from_node = Some(cam);
        let out = self.handle(event, None, now);
        self.from_node = None;
        Some(out)
    }

    pub fn handle(&mut self, event: &Event, source: Option<IpAddr>, now: Now) -> Vec<Command> {
        self.verdicts.clear();
        self.details.clear();
        self.fired.clear();
        self.duplicate = false;
        self.plate_read = event.plate.as_ref().map(|p| p.number.clone());
        if matches!(event.kind, EventKind::DeviceOffline | EventKind::DeviceOnline) {
            if let Some(c) = self.resolve(&event.device, source, None) {
                if self.offline.len() < self.cameras.len() {
                    self.offline.resize(self.cameras.len(), false);
                }
                self.offline[c] = event.kind == EventKind::DeviceOffline;
            }
        }
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

    /// Was the last event [`Engine::handle`] took the second copy of a
    /// detection, from the other source of a camera with two (its NVR
    /// forwards what it posted itself)? No rule saw it; its pictures are
    /// still worth keeping.
    pub fn was_duplicate(&self) -> bool {
        self.duplicate
    }

    /// Is this event the other source's copy of a detection camera `c` saw
    /// within its `duplicate_window`? Pairs one to one, so two people
    /// crossing a line a second apart are two detections from each source.
    fn is_copy(
        &mut self,
        c: usize,
        ev: &Event,
        source: Option<IpAddr>,
        plate: Option<&str>,
        at: Instant,
    ) -> bool {
        let camera = &self.cameras[c];
        if !camera.has_two_sources() || self.from_node.is_some() {
            return false;
        }
        let Some(via) = camera.via(&ev.device, source, ev.device.channel) else { return false };
        let window = camera.duplicate_window;
        if self.recent.len() <= c {
            self.recent.resize_with(c + 1, VecDeque::new);
        }
        let recent = &mut self.recent[c];
        recent.retain(|s| s.at + window >= at);
        let seen = Sighting {
            at,
            via,
            kind: ev.kind.clone(),
            class: ev.targets.first().map(|t| t.class),
            plate: plate.map(str::to_string),
        };
        if let Some(i) = recent.iter().position(|s| s.via != via && s.same(&seen)) {
            recent.remove(i);
            return true;
        }
        if recent.len() >= MAX_SIGHTINGS {
            recent.pop_front();
        }
        recent.push_back(seen);
        false
    }

    /// The relay controller did not carry out command `index` of the last
    /// [`Engine::handle`] or [`Engine::tick`]: a relay condition, an override,
    /// `max_on` spent or a running single pulse held it back. Its rule's
    /// `cooldown` and `plate_cooldown` are as they were before it fired, so
    /// the resident whose first read was held back is not locked out. A
    /// command only delayed (`min_off`, an interlock) is carried out later
    /// and keeps its cooldown.
    pub fn held_back(&mut self, index: usize) {
        let Some(mark) = self.fired.get_mut(index) else { return };
        let Some(rule) = self.rules.get_mut(mark.rule) else { return };
        rule.last_fired = mark.last_fired;
        if let Some((plate, before)) = mark.plate.take() {
            match before {
                Some(t) => rule.plate_fired.insert(plate, t),
                None => rule.plate_fired.remove(&plate),
            };
        }
    }

    // ---- cameras -------------------------------------------------------------

    fn resolve(&self, d: &Device, source: Option<IpAddr>, channel: Option<u32>) -> Option<usize> {
        if self.from_node.is_some() {
            return self.from_node;
        }
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
        EventCtx { at: now.at, camera, channel, local, sun }
    }

    // ---- evaluation ----------------------------------------------------------

    fn traject(&mut self, ev: &Event, source: Option<IpAddr>, now: Now, out: &mut Vec<Command>) {
        let cam = self.resolve(&ev.device, source, None);
        let cam_id = self.track_camera(cam, &ev.device, source);
        let label = self.camera_label(cam, &ev.device, source);
        let inertia = self.presence.inertia;
        let (tolerance, still_after) = (self.tolerance, self.presence.stationary_after);
        let may_stop = self.presence.stationary_classes;
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
            if let Some(rect) = t.rect {
                if let Some(change) =
                    track.observe_box(rect, tolerance, still_after, may_stop.contains(t.class), now.at)
                {
                    if self.notices.len() < MAX_UNFIRED {
                        self.notices.push(Notice {
                            camera: label.clone(),
                            target: id,
                            class: t.class,
                            stationary: change == presence::Stillness::BecameStationary,
                        });
                    }
                }
            }
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
        self.update_area_dwell(now.at);
        let ctx = self.ctx(cam, ev.device.channel, now);
        let mut hits: Vec<(&'static str, u32, Option<usize>)> = Vec::new();
        for ri in 0..self.rules.len() {
            let rule = &self.rules[ri];
            if rule.mask & TRAJECT_BITS == 0 || rule.counting {
                continue;
            }
            let failed = self.event_check(ri, &ctx);
            let rule = &self.rules[ri];
            hits.clear();
            // The furthest any target got, for the why-not trace.
            let mut best = Verdict::NoTarget;
            let mut best_target = None;
            let mut note = |v: Verdict, id: u32| {
                if v > best {
                    best = v;
                    best_target = Some(id);
                }
            };
            if rule.has(EventWord::Presence) {
                for t in &ev.targets {
                    let Some(id) = t.id else { continue };
                    let Some(track) = self.tracks.get_mut(&(cam_id, id)) else { continue };
                    let checked = match failed {
                        Some(v) => Err(v),
                        None => check_target(rule, &self.zones, cam, track, t.class, t.rect.as_ref(), now.at),
                    };
                    match checked {
                        Ok(zone) if rule.is_hold() => hits.push(("presence", id, zone)),
                        Ok(zone) => {
                            let rising = !track.latched[ri];
                            track.latched[ri] = true;
                            if !rising {
                                note(Verdict::AlreadyMatched, id);
                            } else if hits.is_empty() {
                                hits.push(("presence", id, zone));
                            }
                        }
                        Err(v) => {
                            track.latched[ri] = false;
                            note(v, id);
                        }
                    }
                }
            }
            if hits.is_empty() && failed.is_none() {
                for &(id, z, entered) in &transitions {
                    let word = if entered { EventWord::ZoneEntry } else { EventWord::ZoneExit };
                    if !rule.has(word) || !(rule.zones.is_empty() || rule.zones.contains(&z)) {
                        continue;
                    }
                    let Some(track) = self.tracks.get(&(cam_id, id)) else { continue };
                    let verdict = if !rule.class_ok(track.class) {
                        Some(Verdict::WrongClass)
                    } else if !rule.box_ok(track.rect.as_ref()) {
                        Some(Verdict::BoxFilter)
                    } else if entered && !rule.from_zones.is_empty() && !came_from(rule, track, z) {
                        Some(Verdict::WrongOrder)
                    } else if rule
                        .heading
                        .is_some_and(|(h, hz)| !heading_ok(&self.zones[hz], cam, track, h, now.at))
                    {
                        Some(Verdict::WrongDirection)
                    } else {
                        None
                    };
                    match verdict {
                        Some(v) => note(v, id),
                        None => {
                            hits.push((word.word(), id, Some(z)));
                            break;
                        }
                    }
                }
            }
            if hits.is_empty()
                && failed.is_none()
                && !rule.has(EventWord::Presence)
                && best == Verdict::NoTarget
            {
                // Out of the polygon but not yet out of the zone: say so.
                let lingering = rule.has(EventWord::ZoneExit)
                    && ev.targets.iter().filter_map(|t| t.id).any(|id| {
                        self.tracks.get(&(cam_id, id)).is_some_and(|track| {
                            rule.zones.iter().any(|&z| track.zones[z].inside && track.zones[z].streak > 0)
                        })
                    });
                best = if lingering { Verdict::Inertia } else { Verdict::NoTransition };
            }
            let event = if rule.has(EventWord::Presence) { "presence" } else { first_word(rule.mask) };
            if hits.is_empty() {
                self.verdict(ri, event, cam, best_target, failed.unwrap_or(best), now.at);
                continue;
            }
            // A hold claims per target: a `max_on` cut spends the claims of
            // the targets holding then (a parked car), not of one who comes later.
            let mut verdict = Verdict::Fired;
            let first = hits[0];
            for &(word, id, zone) in &hits {
                let subject = Subject { event: word, camera: &label, target: Some(id), zone, plate: None };
                let v = self.fire(ri, &subject, now, out);
                verdict = verdict.min(v);
            }
            self.verdict(ri, first.0, cam, Some(first.1), verdict, now.at);
        }
        self.update_places(cam, &label, true, now, out);
        if self.inputs.windows.iter().any(Option::is_some) {
            let vehicles: Vec<u32> = ev
                .targets
                .iter()
                .filter_map(|t| t.id)
                .filter(|id| {
                    self.tracks.get(&(cam_id, *id)).is_some_and(|t| t.class.is_vehicle() && !t.stationary)
                })
                .collect();
            for id in vehicles {
                self.saw_vehicle(cam, cam_id, Some(id), None, &label, now, out);
            }
        }
    }

    /// Area rules with `dwell`: the place's continuous occupied time, counted
    /// across its cameras, by targets of the rule's class that move (or any,
    /// with `include_stationary`).
    fn update_area_dwell(&mut self, now: Instant) {
        for ri in 0..self.rules.len() {
            let rule = &self.rules[ri];
            if rule.area.is_none() || rule.when.dwell.is_none() || rule.counting {
                continue;
            }
            let (n, _) = self.place_count(ri, !rule.when.include_stationary);
            let rule = &mut self.rules[ri];
            if n == 0 {
                rule.occupied_since = None;
            } else if rule.occupied_since.is_none() {
                rule.occupied_since = Some(now);
            }
        }
    }

    /// Targets of rule `ri`'s class inside its zones: the most any one camera
    /// sees (two cameras on one driveway see the same people), with one of them.
    fn place_count(&self, ri: usize, moving_only: bool) -> (u32, Option<(u32, u32, usize)>) {
        let rule = &self.rules[ri];
        let (mut best, mut current, mut camera) = (0u32, 0u32, None);
        let mut example = None;
        for (&(c, id), t) in &self.tracks {
            if camera != Some(c) {
                best = best.max(current);
                current = 0;
                camera = Some(c);
            }
            if c >= UNKNOWN_DEVICE_BASE || !rule.class_ok(t.class) || (moving_only && t.stationary) {
                continue;
            }
            if let Some(&z) =
                rule.zones.iter().find(|&&z| self.zones[z].camera == c as usize && t.zones[z].inside)
            {
                current += 1;
                example.get_or_insert((c, id, z));
            }
        }
        (best.max(current), example)
    }

    /// Counting rules (`occupancy`, `area_occupied`, `area_empty`) after the
    /// tracks changed: on every traject post (`renew`: holds on occupancy are
    /// renewed) and when targets time out.
    fn update_places(
        &mut self,
        cam: Option<usize>,
        label: &str,
        renew: bool,
        now: Now,
        out: &mut Vec<Command>,
    ) {
        if !self.has_counting {
            return;
        }
        let ctx = self.ctx(None, None, now);
        for ri in 0..self.rules.len() {
            if !self.rules[ri].counting {
                continue;
            }
            // A parked car does not keep a place occupied for a rule (point 5
            // of issue 25): it would keep a light that counts from coming on.
            let (n, example) = self.place_count(ri, !self.rules[ri].when.include_stationary);
            let in_window = match &self.rules[ri].when.schedule {
                Some(s) => ctx.local.is_some_and(|local| schedule::in_schedule(s, local, ctx.sun)),
                None => true,
            };
            let rule = &mut self.rules[ri];
            let (word, fire) = if rule.has(EventWord::Occupancy) {
                let ok = rule.count_ok(n);
                let rising = ok && !rule.occupied;
                rule.occupied = ok;
                ("occupancy", ok && if rule.is_hold() { renew } else { rising })
            } else {
                let occupied = n > 0;
                let was = std::mem::replace(&mut rule.occupied, occupied);
                match (was, occupied) {
                    (false, true) => ("area_occupied", rule.has(EventWord::AreaOccupied)),
                    (true, false) => ("area_empty", rule.has(EventWord::AreaEmpty)),
                    _ => (first_word(rule.mask), false),
                }
            };
            let target = example.map(|(_, id, _)| id);
            if !fire || !in_window {
                if renew {
                    let v = if fire { Verdict::OutsideWindow } else { Verdict::Count };
                    self.verdict(ri, word, cam, target, v, now.at);
                    if let Some(last) = self.verdicts.last_mut().filter(|l| l.rule == ri) {
                        last.count = Some(n);
                    }
                }
                continue;
            }
            let zone = example.map(|(_, _, z)| z);
            let camera = match example {
                Some((c, _, _)) => self.cameras[c as usize].name.clone(),
                None => label.to_string(),
            };
            let subject = Subject { event: word, camera: &camera, target, zone, plate: None };
            let v = self.fire(ri, &subject, now, out);
            self.verdict(ri, word, cam, target, v, now.at);
        }
    }

    fn discrete(&mut self, ev: &Event, bits: u32, source: Option<IpAddr>, now: Now, out: &mut Vec<Command>) {
        let cam = self.resolve(&ev.device, source, None);
        let label = self.camera_label(cam, &ev.device, source);
        let ctx = self.ctx(cam, ev.device.channel, now);
        let plate = ev.plate.as_ref();
        let plate_norm = plate.map(|p| normalize_plate(&p.number));
        if let Some(c) = cam {
            if self.is_copy(c, ev, source, plate_norm.as_deref(), now.at) {
                self.duplicate = true;
                for ri in 0..self.rules.len() {
                    let mask = self.rules[ri].mask & bits;
                    if mask != 0 {
                        self.verdict(ri, first_word(mask), cam, None, Verdict::Duplicate, now.at);
                    }
                }
                return;
            }
        }
        self.discrete_rules(ev, bits, cam, &label, &ctx, plate, plate_norm.as_deref(), now, out);
        if let Some(p) = plate_norm.filter(|p| !p.is_empty()) {
            // A plate is a vehicle at the gate: after this post's own rules
            // (the one that opens the gate), it may be one too many.
            let cam_id = self.track_camera(cam, &ev.device, source);
            self.saw_vehicle(cam, cam_id, None, Some(&p), &label, now, out);
        }
    }

    /// The rules of a discrete event (not traject, not alarms), past de-duplication.
    #[allow(clippy::too_many_arguments)]
    fn discrete_rules(
        &mut self,
        ev: &Event,
        bits: u32,
        cam: Option<usize>,
        label: &str,
        ctx: &EventCtx,
        plate: Option<&crate::decode::Plate>,
        plate_norm: Option<&str>,
        now: Now,
        out: &mut Vec<Command>,
    ) {
        for ri in 0..self.rules.len() {
            let rule = &self.rules[ri];
            if rule.mask & bits == 0 {
                continue;
            }
            let word = first_word(rule.mask & bits);
            if let Some(v) = self.event_check(ri, ctx) {
                self.verdict(ri, word, cam, None, v, now.at);
                continue;
            }
            if !rule.plate_ok(plate) {
                self.verdict(ri, word, cam, None, Verdict::Plate, now.at);
                continue;
            }
            let on_list = match (plate_norm, rule.when.plate_lists.is_empty()) {
                (_, true) => None,
                (Some(read), false) => {
                    match self.on_lists(&rule.when.plate_lists, read, rule.distance_limit(), ctx) {
                        Ok(on) => Some(on.entry.plate.clone()),
                        Err(why) => {
                            self.verdict(ri, word, cam, None, Verdict::PlateList, now.at);
                            self.detail(ri, why);
                            continue;
                        }
                    }
                }
                (None, false) => {
                    self.verdict(ri, word, cam, None, Verdict::Plate, now.at);
                    continue;
                }
            };
            if rule.when.unless.as_ref().is_some_and(|u| u.reads_plates())
                && self.unless_holds(ri, ctx, plate)
            {
                let lists = rule.when.unless.as_ref().map(|u| u.plate_lists.clone()).unwrap_or_default();
                self.verdict(ri, word, cam, None, Verdict::Unless, now.at);
                if let Some(on) = plate_norm.and_then(|read| self.on_lists(&lists, read, 0, ctx).ok()) {
                    let why = format!("plate {} is on {}", on.entry.plate, on.list);
                    self.detail(ri, why);
                }
                continue;
            }
            let (target, zone) = if rule.needs_target() {
                match self.find_target(rule, &ev.targets, cam) {
                    Ok(x) => x,
                    Err(v) => {
                        self.verdict(ri, word, cam, None, v, now.at);
                        continue;
                    }
                }
            } else {
                (ev.targets.first().and_then(|t| t.id), None)
            };
            // A fuzzy match is named, and cooled down, by the plate it matched
            // (a `plate` of the rule, else the plate list's entry).
            let listed: Option<String> = match plate_norm {
                Some(read) if !rule.when.plates.is_empty() => rule.listed_plate(read).map(str::to_string),
                _ => None,
            }
            .or(on_list);
            let plate = listed.as_deref().or(plate_norm);
            let subject = Subject { event: word, camera: label, target, zone, plate };
            let v = self.fire(ri, &subject, now, out);
            self.verdict(ri, word, cam, target, v, now.at);
        }
    }

    fn find_target(
        &self,
        rule: &Rule,
        targets: &[Target],
        cam: Option<usize>,
    ) -> Result<(Option<u32>, Option<usize>), Verdict> {
        // Zones are on cameras: a post from no zone's camera (or from a
        // device matching no `[[camera]]`, such as a smartData post without
        // the MAC the camera is known by) fails on the camera, not the zone.
        if !rule.zones.is_empty() && !rule.zones.iter().any(|&z| Some(self.zones[z].camera) == cam) {
            return Err(Verdict::WrongCamera);
        }
        let mut best = Verdict::NoTarget;
        for t in targets {
            if !rule.class_ok(t.class) {
                best = best.max(Verdict::WrongClass);
                continue;
            }
            if !rule.box_ok(t.rect.as_ref()) {
                best = best.max(Verdict::BoxFilter);
                continue;
            }
            if rule.zones.is_empty() {
                return Ok((t.id, None));
            }
            let Some(rect) = t.rect.as_ref() else { continue };
            let zone = rule.zones.iter().copied().find(|&z| {
                let zone = &self.zones[z];
                Some(zone.camera) == cam && geometry::target_in_zone(rect, zone.anchor, &zone.polygon)
            });
            if zone.is_some() {
                return Ok((t.id, zone));
            }
            best = best.max(Verdict::OutsideZone);
        }
        Err(best)
    }

    fn alarms(&mut self, ev: &Event, source: Option<IpAddr>, now: Now, out: &mut Vec<Command>) {
        for alarm in &ev.alarms {
            if alarm.name.eq_ignore_ascii_case("chlOfflineAlarm") {
                // The NVR lost (or got back) one of its cameras: the alarm id is the channel.
                let channel = alarm.id.or(ev.device.channel);
                let cam = self.resolve(&ev.device, source, channel);
                let label = self.camera_label(cam, &ev.device, source);
                let ctx = self.ctx(cam, channel, now);
                let word = if alarm.active { EventWord::CameraOffline } else { EventWord::CameraOnline };
                for ri in 0..self.rules.len() {
                    if !self.rules[ri].has(word) {
                        continue;
                    }
                    if let Some(v) = self.event_check(ri, &ctx) {
                        self.verdict(ri, word.word(), cam, None, v, now.at);
                        continue;
                    }
                    let subject =
                        Subject { event: word.word(), camera: &label, target: None, zone: None, plate: None };
                    let v = self.fire(ri, &subject, now, out);
                    self.verdict(ri, word.word(), cam, None, v, now.at);
                }
            }
            let cam = self.resolve(&ev.device, source, None);
            let label = self.camera_label(cam, &ev.device, source);
            let ctx = self.ctx(cam, ev.device.channel, now);
            let word = format!("alarm {}={}", alarm.name, alarm.active);
            for ri in 0..self.rules.len() {
                let rule = &self.rules[ri];
                if !rule.has(EventWord::Alarm) {
                    continue;
                }
                let failed =
                    if rule.alarm_ok(alarm) { self.event_check(ri, &ctx) } else { Some(Verdict::Alarm) };
                if let Some(v) = failed {
                    self.verdict(ri, "alarm", cam, None, v, now.at);
                    continue;
                }
                let subject = Subject { event: &word, camera: &label, target: None, zone: None, plate: None };
                let v = self.fire(ri, &subject, now, out);
                self.verdict(ri, "alarm", cam, None, v, now.at);
            }
        }
    }

    /// The rule-level conditions (camera, channel, time window): the first that fails.
    fn event_check(&self, ri: usize, ctx: &EventCtx) -> Option<Verdict> {
        let rule = &self.rules[ri];
        if !rule.cameras.is_empty() && !ctx.camera.is_some_and(|c| rule.cameras.contains(&c)) {
            return Some(Verdict::WrongCamera);
        }
        if !rule.when.channels.is_empty() && !ctx.channel.is_some_and(|c| rule.when.channels.contains(&c)) {
            return Some(Verdict::WrongChannel);
        }
        if let Some(s) = &rule.when.schedule {
            let Some(local) = ctx.local else { return Some(Verdict::OutsideWindow) };
            if !schedule::in_schedule(s, local, ctx.sun) {
                return Some(Verdict::OutsideWindow);
            }
        }
        if rule.offline.as_ref().is_some_and(|cams| !self.any_offline(cams))
            || (!rule.occupied_zones.is_empty() && !self.occupied(&rule.occupied_zones))
            || !self.inputs.hold(&rule.input_states, rule.when.input_for, ctx.at)
        {
            return Some(Verdict::State);
        }
        if rule.when.unless.as_ref().is_some_and(|u| !u.reads_plates()) && self.unless_holds(ri, ctx, None) {
            return Some(Verdict::Unless);
        }
        None
    }

    /// Is one of `cams` (empty: any camera) offline now?
    fn any_offline(&self, cams: &[usize]) -> bool {
        if cams.is_empty() {
            self.offline.iter().any(|o| *o)
        } else {
            cams.iter().any(|&c| self.offline.get(c).copied().unwrap_or(false))
        }
    }

    /// Is a moving target in one of `zones` now?
    fn occupied(&self, zones: &[usize]) -> bool {
        self.tracks.iter().any(|(&(c, _), t)| {
            c < UNKNOWN_DEVICE_BASE
                && !t.stationary
                && zones.iter().any(|&z| self.zones[z].camera == c as usize && t.zones[z].inside)
        })
    }

    /// Does everything in rule `ri`'s `unless` hold (with `plate`, the read)?
    fn unless_holds(&self, ri: usize, ctx: &EventCtx, plate: Option<&crate::decode::Plate>) -> bool {
        let rule = &self.rules[ri];
        let Some(u) = rule.when.unless.as_deref() else { return false };
        if let Some(s) = &u.schedule {
            if !ctx.local.is_some_and(|local| schedule::in_schedule(s, local, ctx.sun)) {
                return false;
            }
        }
        if rule.unless_offline.as_ref().is_some_and(|cams| !self.any_offline(cams)) {
            return false;
        }
        if !rule.unless_occupied.is_empty() && !self.occupied(&rule.unless_occupied) {
            return false;
        }
        if let Some(u) = rule.when.unless.as_deref() {
            if !self.inputs.hold(&rule.unless_inputs, u.input_for, ctx.at) {
                return false;
            }
        }
        if u.reads_plates() {
            let Some(p) = plate else { return false };
            let n = normalize_plate(&p.number);
            let listed = u.plates.contains(&n);
            let in_group = u.plate_groups.iter().any(|g| {
                p.list.as_deref().is_some_and(|l| l.eq_ignore_ascii_case(g))
                    || p.group.as_deref().is_some_and(|l| l.eq_ignore_ascii_case(g))
            });
            // Exact, as `plate` here: a misread must not hold an alert back.
            let on_list = !u.plate_lists.is_empty() && self.on_lists(&u.plate_lists, &n, 0, ctx).is_ok();
            // Any of the plate keys given holds.
            let plates_hold = listed || in_group || on_list;
            if !plates_hold {
                return false;
            }
        }
        true
    }

    /// The read looked up in the plate lists `names` at the event's local time.
    fn on_lists(
        &self,
        names: &[String],
        read: &str,
        limit: u32,
        ctx: &EventCtx,
    ) -> Result<plates::OnList<'_>, String> {
        // In the rule's order, as its why-not names them.
        let lists: Vec<&crate::config::PlateList> =
            names.iter().filter_map(|n| self.plate_lists.iter().find(|l| l.name == *n)).collect();
        // Set whenever a rule names a list (see `install`).
        let Some(local) = ctx.local else { return Err("the local time is not known".into()) };
        plates::lookup(&lists, read, limit, local)
    }

    /// Say more about rule `ri`'s verdict on the event being handled.
    fn detail(&mut self, ri: usize, text: String) {
        if self.details.len() < MAX_VERDICTS {
            self.details.push((ri, text));
        }
    }

    fn event_ok(&self, ri: usize, ctx: &EventCtx) -> bool {
        self.event_check(ri, ctx).is_none()
    }

    /// Note rule `ri`'s verdict on the event being handled (bounded).
    fn verdict(
        &mut self,
        ri: usize,
        event: &'static str,
        camera: Option<usize>,
        target: Option<u32>,
        verdict: Verdict,
        at: Instant,
    ) {
        if self.verdicts.len() < MAX_VERDICTS {
            self.verdicts.push(RuleVerdict { rule: ri, at, event, camera, target, verdict, count: None });
        }
    }

    /// Count a match and, unless a cooldown holds it back, issue the rule's command.
    fn fire(&mut self, ri: usize, s: &Subject, now: Now, out: &mut Vec<Command>) -> Verdict {
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
                return Verdict::Cooldown;
            }
        }
        let mut mark = FireMark { rule: ri, last_fired: rule.last_fired, plate: None };
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
                    return Verdict::PlateCooldown;
                }
            }
            if rule.plate_fired.len() >= 256 {
                // Bounded memory whatever plates arrive: forget the ones no longer cooling down.
                rule.plate_fired.retain(|_, t| *t + cd > now.at);
            }
            mark.plate = Some((p.to_string(), rule.plate_fired.insert(p.to_string(), now.at)));
        }
        rule.last_fired = Some(now.at);
        rule.commands += 1;
        let action = match rule.action {
            ActionKind::Hold { hold } => Action::Hold { until: now.at + hold },
            ActionKind::Pulse { duration, retrigger } => Action::Pulse { duration, retrigger },
            ActionKind::Blink { on, off, duration, retrigger } => {
                Action::Blink { on, off, duration, retrigger }
            }
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
                camera: (!s.camera.is_empty()).then(|| s.camera.to_string()),
                input: None,
                target: s.target,
                zone: zone_name,
                area: rule.area.clone(),
                plate: s.plate.map(str::to_string),
            },
            requires: rule.when.relays.clone(),
        });
        self.fired.push(mark);
        Verdict::Fired
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
            if self.visits.len() < MAX_UNFIRED {
                self.visits.push(Visit {
                    camera: track.camera.clone(),
                    target: key.1,
                    class: track.class,
                    first_seen: track.first_seen,
                    last_seen: track.last_seen,
                    zones: track
                        .zones
                        .iter()
                        .zip(&self.zones)
                        .filter(|(state, _)| state.visited || state.inside)
                        .map(|(_, zone)| zone.name.clone())
                        .collect(),
                });
            }
            let ctx = self.ctx(cam, track.channel, now);
            for (z, state) in track.zones.iter().enumerate() {
                if !state.inside {
                    continue;
                }
                for ri in 0..self.rules.len() {
                    let rule = &self.rules[ri];
                    if rule.has(EventWord::ZoneExit)
                        && !rule.counting
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
                        let v = self.fire(ri, &subject, now, out);
                        self.verdict(ri, "zone_exit", cam, Some(key.1), v, now.at);
                    }
                }
            }
        }
        self.update_area_dwell(now.at);
        self.update_places(None, "", false, now, out);
    }
}

/// The target-level conditions of rule `rule` for one tracked target, in
/// [`Verdict`] order: the zone it is in (if the rule names zones), or the
/// first condition that fails.
fn check_target(
    rule: &Rule,
    zones: &[Zone],
    cam: Option<usize>,
    track: &Track,
    class: TargetClass,
    rect: Option<&Rect>,
    now: Instant,
) -> Result<Option<usize>, Verdict> {
    if !rule.class_ok(class) {
        return Err(Verdict::WrongClass);
    }
    if !rule.box_ok(rect) {
        return Err(Verdict::BoxFilter);
    }
    let zone = if rule.zones.is_empty() {
        None
    } else {
        let mut inside = rule.zones.iter().copied().filter(|&z| track.zones[z].inside);
        let first = inside.next().ok_or(Verdict::OutsideZone)?;
        // Zone dwell: any zone the target has been in long enough.
        match (rule.when.dwell, rule.area.is_none()) {
            (Some(d), true) => Some(
                std::iter::once(first)
                    .chain(inside)
                    .find(|&z| now.since(track.zones[z].entered_at) >= d)
                    .unwrap_or(first),
            ),
            _ => Some(first),
        }
    };
    if let Some(z) = zone {
        if !rule.from_zones.is_empty() && !came_from(rule, track, z) {
            return Err(Verdict::WrongOrder);
        }
    }
    if let Some((h, hz)) = rule.heading {
        if !heading_ok(&zones[hz], cam, track, h, now) {
            return Err(Verdict::WrongDirection);
        }
    }
    if track.stationary && !rule.when.include_stationary {
        return Err(Verdict::Stationary);
    }
    if let Some(d) = rule.when.dwell {
        let since = match (rule.area.is_some(), zone) {
            (true, _) => rule.occupied_since,
            (false, Some(z)) => Some(track.zones[z].entered_at),
            (false, None) => Some(track.first_seen),
        };
        if !since.is_some_and(|s| now.since(s) >= d) {
            return Err(Verdict::Dwell);
        }
    }
    Ok(zone)
}

/// Zone order: the target was in one of the rule's `from_zone`s before it
/// entered `zone`, and left it at most `within` before entering (or is still in it).
fn came_from(rule: &Rule, track: &Track, zone: usize) -> bool {
    let entered = track.zones[zone].entered_at;
    rule.from_zones.iter().any(|&f| {
        let a = track.zones[f];
        f != zone
            && a.visited
            && a.entered_at <= entered
            && (a.inside || entered.since(a.left_at) <= rule.when.within)
    })
}

/// How much closer (or further) the anchor must get to a zone's centre over
/// [`presence::HEADING_WINDOW`] to count as moving towards (away from) it:
/// 3% of the picture, well above the jitter of a standing person's box.
pub const HEADING_MIN: f64 = 300.0;

/// Travel direction: the target's bottom centre came [`HEADING_MIN`] closer
/// to (went further from) the centre of `zone`, the mean of its corners,
/// between the oldest point of the last 2 s and now. Only for a zone on the
/// target's own camera: pictures of two cameras share no coordinates.
fn heading_ok(zone: &Zone, cam: Option<usize>, track: &Track, heading: Heading, now: Instant) -> bool {
    if cam != Some(zone.camera) {
        return false;
    }
    let Some((from, to)) = track.travel(now) else { return false };
    let n = zone.polygon.len().max(1) as f64;
    let cx = zone.polygon.iter().map(|p| p.x as f64).sum::<f64>() / n;
    let cy = zone.polygon.iter().map(|p| p.y as f64).sum::<f64>() / n;
    let dist = |p: Point| ((p.x as f64 - cx).powi(2) + (p.y as f64 - cy).powi(2)).sqrt();
    let closer = dist(from) - dist(to);
    match heading {
        Heading::Towards => closer >= HEADING_MIN,
        Heading::AwayFrom => -closer >= HEADING_MIN,
    }
}

fn first_word(bits: u32) -> &'static str {
    EventWord::ALL.iter().find(|w| bits & w.bit() != 0).map(|w| w.word()).unwrap_or("event")
}
