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
        let mut zones: Vec<[u32; 4]> = vec![[0; 4]; self.zones.len()];
        for (&(camera, _), t) in &self.tracks {
            if camera >= UNKNOWN_DEVICE_BASE {
                continue;
            }
            for (z, state) in t.zones.iter().enumerate() {
                if state.inside {
                    if let Some(counts) = zones.get_mut(z) {
                        counts[class_index(t.class)] += 1;
                    }
                }
            }
        }
        let mut out: Vec<Occupancy> = self
            .zones
            .iter()
            .zip(&zones)
            .map(|(z, counts)| Occupancy { place: z.name.clone(), area: false, counts: *counts })
            .collect();
        for (name, members) in &self.areas {
            let mut best = [0u32; 4];
            let mut per_camera: std::collections::BTreeMap<u32, [u32; 4]> = Default::default();
            for (&(camera, _), t) in &self.tracks {
                let inside = members.iter().any(|&z| {
                    self.zones[z].camera == camera as usize && t.zones.get(z).is_some_and(|s| s.inside)
                });
                if camera < UNKNOWN_DEVICE_BASE && inside {
                    per_camera.entry(camera).or_default()[class_index(t.class)] += 1;
                }
            }
            for counts in per_camera.values() {
                for (b, c) in best.iter_mut().zip(counts) {
                    *b = (*b).max(*c);
                }
            }
            out.push(Occupancy { place: name.clone(), area: true, counts: best });
        }
        out
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
