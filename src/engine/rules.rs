//! One rule, compiled for evaluation: names resolved to indices, events to a bit mask.
//!
//! Owns the per-rule checks (event kind, target, plate, alarm) and the rule's
//! own memory (cooldowns, counters). Never touches presence or relays.

use crate::clock::Instant;
use crate::config::{normalize_plate, ActionKind, Conditions, EventWord, Heading, RuleConfig};
use crate::decode::{Alarm, EventKind, Plate, Rect, SmartStatus, TargetClass};
use std::collections::HashMap;
use std::time::Duration;

pub(crate) struct Rule {
    pub name: String,
    pub mask: u32,
    /// Camera indices.
    pub cameras: Vec<usize>,
    /// Zone indices: the rule's `zone`s, or every zone of its `area`s.
    pub zones: Vec<usize>,
    /// The rule names areas: `dwell` counts the place's occupied time, and
    /// `Why` names the area.
    pub area: Option<String>,
    /// `occupancy` / `area_occupied` / `area_empty`: the rule counts targets in `zones`.
    pub counting: bool,
    /// Zone indices of `from_zone`.
    pub from_zones: Vec<usize>,
    /// Zone index of `towards` / `away_from`.
    pub heading: Option<(Heading, usize)>,
    /// Counting rules: the condition (occupied, or the count in range) on the last evaluation.
    pub occupied: bool,
    /// Area rules with `dwell`: since when the place has held a matching,
    /// moving target without a break.
    pub occupied_since: Option<Instant>,
    pub when: Conditions,
    pub relay: String,
    pub action: ActionKind,
    pub cooldown: Option<Duration>,
    pub plate_cooldown: Option<Duration>,
    pub last_fired: Option<Instant>,
    pub plate_fired: HashMap<String, Instant>,
    pub matched: u64,
    pub commands: u64,
    /// `offline`: camera indices (empty: any camera).
    pub offline: Option<Vec<usize>>,
    /// `occupied`: zone indices (areas spelled out).
    pub occupied_zones: Vec<usize>,
    /// `unless`'s `offline` and `occupied`, resolved alike.
    pub unless_offline: Option<Vec<usize>>,
    pub unless_occupied: Vec<usize>,
    /// `input` (input indices; empty: any), `input_on` / `input_off` and
    /// `unless`'s, as (input, on): resolved when the engine installs its inputs.
    pub inputs: Vec<usize>,
    pub input_states: Vec<(usize, bool)>,
    pub unless_inputs: Vec<(usize, bool)>,
}

/// Bits of the traject-driven words.
pub(crate) const TRAJECT_BITS: u32 = (1 << EventWord::Presence as u32)
    | (1 << EventWord::ZoneEntry as u32)
    | (1 << EventWord::ZoneExit as u32)
    | (1 << EventWord::Occupancy as u32)
    | (1 << EventWord::AreaOccupied as u32)
    | (1 << EventWord::AreaEmpty as u32);

impl Rule {
    pub fn compile(
        r: &RuleConfig,
        camera_index: &dyn Fn(&str) -> Option<usize>,
        zone_index: &dyn Fn(&str) -> Option<usize>,
        area_zones: &dyn Fn(&str) -> Vec<String>,
    ) -> Rule {
        let mut zones: Vec<usize> = r.when.zones.iter().filter_map(|z| zone_index(z)).collect();
        for area in &r.when.areas {
            for z in area_zones(area) {
                if let Some(i) = zone_index(&z) {
                    if !zones.contains(&i) {
                        zones.push(i);
                    }
                }
            }
        }
        let places = |names: &[String]| -> Vec<usize> {
            let mut out: Vec<usize> = Vec::new();
            for n in names {
                let zs = match zone_index(n) {
                    Some(z) => vec![z],
                    None => area_zones(n).iter().filter_map(|z| zone_index(z)).collect(),
                };
                for z in zs {
                    if !out.contains(&z) {
                        out.push(z);
                    }
                }
            }
            out
        };
        let cams = |names: &Option<Vec<String>>| {
            names.as_ref().map(|ns| ns.iter().filter_map(|c| camera_index(c)).collect::<Vec<usize>>())
        };
        let unless = r.when.unless.as_deref();
        let counting = r
            .when
            .events
            .iter()
            .any(|e| matches!(e, EventWord::Occupancy | EventWord::AreaOccupied | EventWord::AreaEmpty));
        Rule {
            name: r.name.clone(),
            mask: r.when.events.iter().fold(0, |m, e| m | e.bit()),
            // Validation guarantees every name resolves.
            cameras: r.when.cameras.iter().filter_map(|c| camera_index(c)).collect(),
            zones,
            area: (!r.when.areas.is_empty()).then(|| r.when.areas.join(", ")),
            counting,
            from_zones: r.when.from_zones.iter().filter_map(|z| zone_index(z)).collect(),
            heading: r.when.heading.as_ref().and_then(|(h, z)| Some((*h, zone_index(z)?))),
            occupied: false,
            occupied_since: None,
            when: r.when.clone(),
            relay: r.then.relay.clone(),
            action: r.then.action,
            cooldown: r.then.cooldown,
            plate_cooldown: r.then.plate_cooldown,
            last_fired: None,
            plate_fired: HashMap::new(),
            matched: 0,
            commands: 0,
            offline: cams(&r.when.offline),
            occupied_zones: places(&r.when.occupied),
            unless_offline: unless.and_then(|u| cams(&u.offline)),
            unless_occupied: unless.map(|u| places(&u.occupied)).unwrap_or_default(),
            inputs: Vec::new(),
            input_states: Vec::new(),
            unless_inputs: Vec::new(),
        }
    }

    /// Does the rule take events of input `i` (its `input` names it, or names none)?
    pub fn takes_input(&self, i: usize) -> bool {
        self.inputs.is_empty() || self.inputs.contains(&i)
    }

    pub fn has(&self, w: EventWord) -> bool {
        self.mask & w.bit() != 0
    }

    pub fn is_hold(&self) -> bool {
        matches!(self.action, ActionKind::Hold { .. })
    }

    /// Does an `occupancy` count satisfy `min_count` / `max_count`? Without
    /// `min_count` the place must hold one target, or none when only
    /// `max_count` is given (`max_count = 0`: the place is empty).
    pub fn count_ok(&self, n: u32) -> bool {
        let min = self.when.min_count.unwrap_or(if self.when.max_count.is_some() { 0 } else { 1 });
        n >= min && !matches!(self.when.max_count, Some(max) if n > max)
    }

    /// Conditions on a target's class and box (not zones: those need presence or geometry).
    pub fn target_ok(&self, class: TargetClass, rect: Option<&Rect>) -> bool {
        self.class_ok(class) && self.box_ok(rect)
    }

    pub fn class_ok(&self, class: TargetClass) -> bool {
        self.when.classes.is_empty() || self.when.classes.contains(&class)
    }

    /// `min_area` .. `max_aspect`.
    pub fn box_ok(&self, rect: Option<&Rect>) -> bool {
        let w = &self.when;
        if w.min_area.is_some() || w.max_area.is_some() || w.min_aspect.is_some() || w.max_aspect.is_some() {
            let Some(r) = rect else { return false };
            let area = r.area_fraction();
            if w.min_area.is_some_and(|m| area < m) || w.max_area.is_some_and(|m| area > m) {
                return false;
            }
            if w.min_aspect.is_some() || w.max_aspect.is_some() {
                if r.height() == 0 {
                    return false;
                }
                let aspect = r.width() as f64 / r.height() as f64;
                if w.min_aspect.is_some_and(|m| aspect < m) || w.max_aspect.is_some_and(|m| aspect > m) {
                    return false;
                }
            }
        }
        true
    }

    /// Does this rule look at targets at all (class, box or zone conditions)?
    pub fn needs_target(&self) -> bool {
        let w = &self.when;
        !w.classes.is_empty()
            || !self.zones.is_empty()
            || w.min_area.is_some()
            || w.max_area.is_some()
            || w.min_aspect.is_some()
            || w.max_aspect.is_some()
    }

    /// The listed `plate` a (normalized) read matches: itself, or the
    /// closest one within `plate_distance`.
    pub fn listed_plate(&self, read: &str) -> Option<&str> {
        let w = &self.when;
        if let Some(p) = w.plates.iter().find(|p| *p == read) {
            return Some(p);
        }
        if w.plate_distance <= 0.0 {
            return None;
        }
        let limit = (w.plate_distance * 2.0).round() as u32;
        w.plates
            .iter()
            .map(|p| (super::plates::distance_halves(read, p), p))
            .filter(|(d, _)| *d <= limit)
            .min_by_key(|(d, _)| *d)
            .map(|(_, p)| p.as_str())
    }

    /// `plate_distance` in half-units, as [`super::plates::distance_halves`] counts.
    pub fn distance_limit(&self) -> u32 {
        (self.when.plate_distance.max(0.0) * 2.0).round() as u32
    }

    /// The plate conditions but `plate_list` (which needs the local time and the lists).
    pub fn plate_ok(&self, plate: Option<&Plate>) -> bool {
        let w = &self.when;
        let plate_conditions = !w.plates.is_empty()
            || w.plate_pattern.is_some()
            || !w.plate_groups.is_empty()
            || !w.plate_lists.is_empty()
            || w.direction.is_some()
            || w.min_confidence.is_some();
        let Some(p) = plate else { return !plate_conditions };
        if !w.plates.is_empty() || w.plate_pattern.is_some() {
            let n = normalize_plate(&p.number);
            if !w.plates.is_empty() && self.listed_plate(&n).is_none() {
                return false;
            }
            if let Some(pat) = &w.plate_pattern {
                if !pat.regex.is_match(&n) {
                    return false;
                }
            }
        }
        if !w.plate_groups.is_empty() {
            let in_group = |g: &str| {
                p.list.as_deref().is_some_and(|l| l.eq_ignore_ascii_case(g))
                    || p.group.as_deref().is_some_and(|l| l.eq_ignore_ascii_case(g))
            };
            if !w.plate_groups.iter().any(|g| in_group(g)) {
                return false;
            }
        }
        if let Some(d) = w.direction {
            if p.direction != Some(d) {
                return false;
            }
        }
        if let Some(m) = w.min_confidence {
            if !p.confidence.is_some_and(|c| c >= m) {
                return false;
            }
        }
        true
    }

    pub fn alarm_ok(&self, a: &Alarm) -> bool {
        a.active == self.when.alarm_state
            && (self.when.alarms.is_empty()
                || self.when.alarms.iter().any(|n| n.eq_ignore_ascii_case(&a.name)))
    }
}

/// The event-word bits a discrete (non-traject, non-alarm) event kind answers to.
pub(crate) fn kind_bits(kind: &EventKind, status: Option<SmartStatus>) -> u32 {
    use EventWord as W;
    // A camera's "stop" message closes an event already reported; it must not fire again.
    if status == Some(SmartStatus::Stop) && *kind != EventKind::ZoneExit {
        return 0;
    }
    match kind {
        EventKind::Intrusion => W::Intrusion.bit(),
        EventKind::LineCrossing => W::LineCrossing.bit(),
        EventKind::ZoneEntry => W::ZoneEntry.bit(),
        EventKind::ZoneExit => W::ZoneExit.bit(),
        EventKind::Loitering => W::Loitering.bit(),
        EventKind::IllegalParking => W::IllegalParking.bit(),
        EventKind::Plate => W::Plate.bit(),
        EventKind::Face => W::Face.bit(),
        EventKind::FaceMatch => W::Face.bit() | W::FaceMatch.bit(),
        EventKind::CountingByLine => W::Counting.bit() | W::CountingByLine.bit(),
        EventKind::CountingByArea => W::Counting.bit() | W::CountingByArea.bit(),
        EventKind::Metadata => W::Metadata.bit(),
        EventKind::Motion => W::Motion.bit(),
        EventKind::Sensor => W::Sensor.bit(),
        EventKind::Tamper => W::Tamper.bit(),
        EventKind::ObjectRemoval => W::ObjectRemoval.bit(),
        EventKind::CrowdDensity => W::CrowdDensity.bit(),
        EventKind::PeopleCounting => W::PeopleCounting.bit(),
        EventKind::PeopleIntrusion => W::PeopleIntrusion.bit(),
        EventKind::DeviceOffline => W::CameraOffline.bit(),
        EventKind::DeviceOnline => W::CameraOnline.bit(),
        EventKind::Keepalive | EventKind::AlarmStatus | EventKind::Traject | EventKind::Unknown(_) => 0,
    }
}
