//! What crosses the broker, byte for byte: relay commands in, states and
//! events out, and the command one node sends another. Parsing is strict and
//! total (another program's bytes), building is plain JSON. No I/O.

use crate::command::{RemoteAction, Why};
use crate::engine::places::{Detection, Occupancy, CLASSES};
use crate::relays::controller::Manual;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A post's picture for Home Assistant's image entity: the scene, else the
/// target crop, decoded from the post's base64; `None` if it is not a JPEG.
pub fn picture(p: &crate::happened::Pictures) -> Option<bytes::Bytes> {
    let scene = p.overview.clone().and_then(|r| p.jpeg(r));
    scene.or_else(|| p.crop.clone().and_then(|r| p.jpeg(r))).map(bytes::Bytes::from)
}

/// A `PULSE` without a duration lasts this long.
pub const DEFAULT_PULSE: Duration = Duration::from_secs(1);

/// A relay command from Home Assistant or any client, on `.../relay/<r>/set`:
/// `ON`, `OFF`, `RELEASE`, `PULSE`, `PULSE 5s`, or JSON
/// `{"action": "pulse", "duration": "5s"}`. Case does not matter.
pub fn parse_set(payload: &[u8]) -> Result<Manual, String> {
    let text = std::str::from_utf8(payload).map_err(|_| "the payload is not UTF-8".to_string())?.trim();
    let shown = shown(text);
    let (word, duration) = if text.starts_with('{') {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Json {
            action: String,
            duration: Option<String>,
        }
        let j: Json = serde_json::from_str(text).map_err(|e| {
            let e = e.to_string();
            let short: String = e.chars().take(100).collect();
            format!("bad JSON command: {short}{}", if short.len() < e.len() { "…" } else { "" })
        })?;
        (j.action, j.duration)
    } else {
        let mut parts = text.split_whitespace();
        let word = parts.next().unwrap_or("").to_string();
        let duration = parts.next().map(str::to_string);
        if parts.next().is_some() {
            return Err(format!("{shown}: expected ON, OFF, RELEASE or PULSE [duration]"));
        }
        (word, duration)
    };
    let word = word.to_ascii_uppercase();
    match (word.as_str(), duration) {
        ("ON", None) => Ok(Manual::On),
        ("OFF", None) => Ok(Manual::Off),
        ("RELEASE", None) => Ok(Manual::Release),
        ("PULSE", None) => Ok(Manual::Pulse(DEFAULT_PULSE)),
        ("PULSE", Some(d)) => {
            if d.len() > 20 {
                return Err(format!("PULSE {}: not a duration; write e.g. PULSE 2s", self::shown(&d)));
            }
            let d = crate::config::parse_duration(&d).map_err(|e| format!("PULSE: {e}"))?;
            if d.is_zero() {
                return Err("a pulse needs a duration above zero".into());
            }
            if d > crate::request::MAX_MANUAL_PULSE {
                return Err("a pulse longer than 24h is refused, as it is by the API".into());
            }
            Ok(Manual::Pulse(d))
        }
        (w @ ("ON" | "OFF" | "RELEASE"), Some(_)) => Err(format!("{w} takes no duration")),
        _ => Err(format!("{shown}: expected ON, OFF, RELEASE or PULSE [duration]")),
    }
}

/// Text from the broker as a log line may show it: quoted, at most 40
/// characters (a refused 9 KB payload is not a 9 KB line).
pub fn shown(text: &str) -> String {
    const MAX: usize = 40;
    let n = text.chars().count();
    if n <= MAX {
        format!("{text:?}")
    } else {
        let head: String = text.chars().take(MAX).collect();
        format!("{head:?}… ({n} characters)")
    }
}

/// The command a rule on one node sends a relay on another.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteCommand {
    /// The sending node.
    pub from: String,
    pub command: RemoteAction,
    pub why: WhyWire,
}

/// [`Why`] as it crosses the broker (everything optional but the rule).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WhyWire {
    pub rule: String,
    #[serde(default)]
    pub event: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub camera: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
}

impl From<&Why> for WhyWire {
    fn from(w: &Why) -> Self {
        WhyWire {
            rule: w.rule.clone(),
            event: w.event.clone(),
            camera: w.camera.clone(),
            target: w.target,
            zone: w.zone.clone(),
            area: w.area.clone(),
            plate: w.plate.clone(),
            input: w.input.clone(),
        }
    }
}

impl From<WhyWire> for Why {
    fn from(w: WhyWire) -> Self {
        Why {
            rule: w.rule,
            event: w.event,
            camera: w.camera,
            target: w.target,
            zone: w.zone,
            area: w.area,
            plate: w.plate,
            input: w.input,
        }
    }
}

/// The owning node's answer to a [`RemoteCommand`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    pub outcome: Outcome,
    /// What it waits for (`min_off`, `interlock`, `chatter lockout`), or why
    /// it was refused (`max_on spent`, `manual override`, `no relay ...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// In force now.
    Applied,
    /// Taken; the relay switches when its own limit allows.
    Waiting,
    /// Not taken.
    Refused,
}

pub fn on_off(on: bool) -> &'static str {
    if on {
        "ON"
    } else {
        "OFF"
    }
}

/// `.../count`: `{"person":1,"vehicle":0,"motor":0,"unknown":0,"total":1}`.
pub fn counts(o: &Occupancy) -> String {
    let mut map = serde_json::Map::new();
    for (class, n) in CLASSES.iter().zip(o.counts) {
        map.insert(class.word().to_string(), n.into());
    }
    map.insert("total".into(), o.total().into());
    serde_json::Value::Object(map).to_string()
}

/// The event types of a camera's Home Assistant `event` entity: every
/// detection kind, and `other` for a kind camrelay does not name.
pub fn detection_kinds() -> Vec<&'static str> {
    crate::decode::EventKind::DETECTIONS.iter().map(|k| k.word()).chain(["other"]).collect()
}

/// `.../camera/<c>/detection`, a Home Assistant event: `event_type` is the kind.
pub fn detection(d: &Detection) -> String {
    let mut v = serde_json::to_value(d).unwrap_or_default();
    if let Some(map) = v.as_object_mut() {
        let known = crate::decode::EventKind::DETECTIONS.iter().any(|k| k.word() == d.kind);
        let kind = if known { d.kind.as_str() } else { "other" };
        map.insert("event_type".into(), kind.into());
        map.insert("zone".into(), d.zones.first().cloned().into());
    }
    v.to_string()
}

/// Another node's detection, as [`detection`] published it: the event rules
/// here see for that node's camera (`[[camera]] node = ...`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RemoteDetection {
    pub kind: String,
    #[serde(default)]
    pub class: Option<String>,
    #[serde(default)]
    pub zones: Vec<String>,
    #[serde(default)]
    pub plate: Option<String>,
    #[serde(default)]
    pub group: Option<String>,
    #[serde(default)]
    pub direction: Option<String>,
    #[serde(default)]
    pub confidence: Option<f32>,
}

impl RemoteDetection {
    /// The event as if camera `camera` had posted it here (no boxes: the
    /// zones it is in were decided on its own node).
    pub fn event(&self, camera: &str) -> crate::decode::Event {
        use crate::decode::{Device, Event, EventKind, Plate, PlateDirection, Target, TargetClass};
        let device = Device { name: Some(camera.to_string()), ..Default::default() };
        let mut event = Event::bare(EventKind::from_word(&self.kind), device);
        let class = match self.class.as_deref() {
            Some("person") => Some(TargetClass::Person),
            Some("vehicle") => Some(TargetClass::Vehicle),
            Some("motor") => Some(TargetClass::Motor),
            Some(_) => Some(TargetClass::Unknown),
            None => None,
        };
        if let Some(class) = class {
            event.targets.push(Target { id: None, class, rect: None });
        }
        if let Some(number) = &self.plate {
            event.plate = Some(Plate {
                number: number.clone(),
                group: self.group.clone(),
                confidence: self.confidence,
                direction: match self.direction.as_deref() {
                    Some("approach") => Some(PlateDirection::Approach),
                    Some("leave") => Some(PlateDirection::Leave),
                    Some(_) => Some(PlateDirection::Unknown),
                    None => None,
                },
                ..Default::default()
            });
        }
        event
    }
}

/// `.../camera/<c>/plate`, retained: the last plate read.
pub fn plate(d: &Detection, wall: chrono::DateTime<chrono::Utc>) -> Option<String> {
    let plate = d.plate.as_ref()?;
    Some(
        serde_json::json!({
            "plate": plate,
            "group": d.group,
            "direction": d.direction,
            "confidence": d.confidence,
            "zone": d.zones.first(),
            "at": wall.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        })
        .to_string(),
    )
}

/// Which switch-offs are the safety limits acting (`.../safety` events).
pub fn safety_kind(reason: &str) -> Option<&'static str> {
    if reason == "max_on" {
        Some("max_on")
    } else if reason.contains("chatter") {
        Some("chatter_lockout")
    } else if reason.starts_with("interlock") {
        Some("interlock")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defect_9_an_mqtt_pulse_over_24h_is_refused_as_the_api_refuses_it() {
        assert_eq!(
            parse_set(b"PULSE 25h"),
            Err("a pulse longer than 24h is refused, as it is by the API".into())
        );
        assert!(parse_set(br#"{"action": "pulse", "duration": "1d1s"}"#).is_err());
    }

    #[test]
    fn defect_9_a_refused_payload_is_shown_in_40_characters() {
        let big = format!("OPEN {}", "A".repeat(9_000));
        let e = parse_set(big.as_bytes()).unwrap_err();
        assert!(e.len() < 120 && e.contains("(9005 characters)"), "{e}");
        let e = parse_set(format!("PULSE {}", "9".repeat(9_000)).as_bytes()).unwrap_err();
        assert!(e.len() < 120, "{e}");
    }

    #[test]
    fn set_commands_parse_and_refuse_with_a_reason() {
        assert_eq!(parse_set(b"ON"), Ok(Manual::On));
        assert_eq!(parse_set(b" off\n"), Ok(Manual::Off));
        assert_eq!(parse_set(b"release"), Ok(Manual::Release));
        assert_eq!(parse_set(b"PULSE"), Ok(Manual::Pulse(DEFAULT_PULSE)));
        assert_eq!(parse_set(b"PULSE 24h"), Ok(Manual::Pulse(Duration::from_secs(86_400))));
        assert_eq!(parse_set(b"PULSE 2500ms"), Ok(Manual::Pulse(Duration::from_millis(2500))));
        assert_eq!(
            parse_set(br#"{"action":"pulse","duration":"5s"}"#),
            Ok(Manual::Pulse(Duration::from_secs(5)))
        );
        assert!(parse_set(b"PULSE 0s").unwrap_err().contains("above zero"));
        assert!(parse_set(b"ON 5s").unwrap_err().contains("takes no duration"));
        assert!(parse_set(b"open").unwrap_err().contains("expected ON, OFF"));
        assert!(parse_set(b"\xff").unwrap_err().contains("UTF-8"));
        assert!(parse_set(br#"{"action":"on","x":1}"#).unwrap_err().contains("bad JSON"));
    }

    #[test]
    fn a_remote_command_round_trips_and_a_detection_is_a_home_assistant_event() {
        let c = RemoteCommand {
            from: "shed".into(),
            command: RemoteAction::Hold { for_ms: 30000 },
            why: WhyWire {
                rule: "yard".into(),
                event: "presence".into(),
                target: Some(7),
                ..Default::default()
            },
        };
        let text = serde_json::to_string(&c).unwrap();
        assert_eq!(
            text,
            r#"{"from":"shed","command":{"action":"hold","for_ms":30000},"why":{"rule":"yard","event":"presence","target":7}}"#
        );
        assert_eq!(serde_json::from_str::<RemoteCommand>(&text).unwrap(), c);
        let d = Detection {
            camera: "drive".into(),
            kind: "vfd_unknown".into(),
            class: Some("person"),
            zones: vec!["porch".into()],
            plate: None,
            group: None,
            direction: None,
            confidence: None,
        };
        let v: serde_json::Value = serde_json::from_str(&detection(&d)).unwrap();
        assert_eq!(v["event_type"], "other");
        assert_eq!(v["kind"], "vfd_unknown");
        assert_eq!(v["zone"], "porch");
        assert_eq!(safety_kind("max_on"), Some("max_on"));
        assert_eq!(safety_kind("hold ended; rule"), None);
    }
}
