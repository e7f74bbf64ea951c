//! What the engine can say about places and detections without a rule:
//! how many targets of each class are in every zone and area now, and what
//! one alarm post detected where. Outputs (MQTT, Home Assistant) publish
//! these; no rule depends on them. Pure reads of the engine's state: no I/O,
//! no clock.

use super::{Engine, UNKNOWN_DEVICE_BASE};
use crate::decode::{Event, EventKind, TargetClass};
use serde::Serialize;
use std::net::IpAddr;

/// Classes counted per place, in this order.
pub const CLASSES: [TargetClass; 4] =
    [TargetClass::Person, TargetClass::Vehicle, TargetClass::Motor, TargetClass::Unknown];

/// Targets in one zone or area now, per class (stationary ones included: a
/// parked car occupies the drive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Occupancy {
    pub place: String,
    /// `true` for an `[[area]]`, `false` for a `[[zone]]`.
    pub area: bool,
    /// Indexed like [`CLASSES`].
    pub counts: [u32; 4],
}

impl Occupancy {
    pub fn total(&self) -> u32 {
        self.counts.iter().sum()
    }
}

/// One alarm post as a detection: kind, camera, target class, the configured
/// zones its target is in, and the plate when it carries one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detection {
    pub camera: String,
    /// The event word rules use (`intrusion`, `plate`, `face`, ...).
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<&'static str>,
    pub zones: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plate: Option<String>,
    /// The NVR's plate group, else the camera's list (`whiteList`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<crate::decode::PlateDirection>,
    /// 0–100, when the camera sends one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f32>,
}

fn class_index(c: TargetClass) -> usize {
    CLASSES.iter().position(|x| *x == c).unwrap_or(3)
}

impl Engine {
    /// Every zone, then every area, with its counts now. Zones count the
    /// targets inside them (by the same inertia the rules see); an area
    /// counts, per class, the most any one of its cameras sees, as area rules do.
    pub fn occupancy(&self) -> Vec<Occupancy> {
        let mut counts = Vec::new();
        self.place_counts(&mut counts);
        counts
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let (place, area) = self.place(i)?;
                Some(Occupancy { place: place.to_string(), area, counts: *c })
            })
            .collect()
    }

    /// The counts of [`Engine::occupancy`] into `out`, without a name: the
    /// daemon runs this after every traject post and names only what changed.
    pub fn place_counts(&self, out: &mut Vec<[u32; 4]>) {
        out.clear();
        out.resize(self.zones.len() + self.areas.len(), [0; 4]);
        for (&(camera, _), t) in &self.tracks {
            if camera >= UNKNOWN_DEVICE_BASE {
                continue;
            }
            for (z, state) in t.zones.iter().enumerate().take(self.zones.len()) {
                if state.inside {
                    out[z][class_index(t.class)] += 1;
                }
            }
        }
        let max_into = |best: &mut [u32; 4], c: &[u32; 4]| {
            for (b, c) in best.iter_mut().zip(c) {
                *b = (*b).max(*c);
            }
        };
        for (a, (_, members)) in self.areas.iter().enumerate() {
            // Tracks are ordered by camera: count one camera at a time.
            let (mut best, mut current, mut on) = ([0u32; 4], [0u32; 4], None);
            for (&(camera, _), t) in &self.tracks {
                if camera >= UNKNOWN_DEVICE_BASE {
                    continue;
                }
                if on != Some(camera) {
                    max_into(&mut best, &current);
                    (current, on) = ([0; 4], Some(camera));
                }
                let inside = members.iter().any(|&z| {
                    self.zones[z].camera == camera as usize && t.zones.get(z).is_some_and(|s| s.inside)
                });
                if inside {
                    current[class_index(t.class)] += 1;
                }
            }
            max_into(&mut best, &current);
            out[self.zones.len() + a] = best;
        }
    }

    /// Place `i` of [`Engine::place_counts`]: its name, and whether it is an area.
    pub fn place(&self, i: usize) -> Option<(&str, bool)> {
        match self.zones.get(i) {
            Some(z) => Some((&z.name, false)),
            None => self.areas.get(i - self.zones.len()).map(|(name, _)| (name.as_str(), true)),
        }
    }

    /// An alarm post (not traject, keepalive or alarm status) as a detection.
    pub fn detection(&self, event: &Event, source: Option<IpAddr>) -> Option<Detection> {
        if matches!(
            event.kind,
            EventKind::Traject
                | EventKind::Keepalive
                | EventKind::AlarmStatus
                | EventKind::DeviceOffline
                | EventKind::DeviceOnline
        ) {
            return None;
        }
        let cam = self.resolve(&event.device, source, event.device.channel);
        let camera = self.camera_label(cam, &event.device, source);
        let target = event.targets.first();
        let zones = match (cam, target.and_then(|t| t.rect)) {
            (Some(c), Some(rect)) => self.camera_zones[c]
                .iter()
                .map(|&z| &self.zones[z])
                .filter(|z| super::geometry::target_in_zone(&rect, z.anchor, &z.polygon))
                .map(|z| z.name.clone())
                .collect(),
            _ => Vec::new(),
        };
        let plate = event.plate.as_ref();
        Some(Detection {
            camera,
            kind: event.kind.word().to_string(),
            class: target.map(|t| t.class.word()).or(plate.map(|_| TargetClass::Vehicle.word())),
            zones,
            plate: plate.map(|p| crate::config::normalize_plate(&p.number)),
            group: plate.and_then(|p| p.group.clone().or_else(|| p.list.clone())),
            direction: plate.and_then(|p| p.direction),
            confidence: plate.and_then(|p| p.confidence),
        })
    }
}
