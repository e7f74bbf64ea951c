//! Home Assistant MQTT discovery: one device per node, its cameras as
//! devices `via_device` it, every entity with the node's availability.
//!
//! Unique ids come from names in the rules file (`camrelay_<node>_relay_<name>`),
//! so they survive restarts. Builds payloads only; the link publishes them.
//!
//! An entity whose attributes matter reads its state and its attributes
//! from one JSON message on one topic, so Home Assistant's `state_changed`
//! never carries a new state with the previous attributes. Both entity-id
//! keys are sent: `object_id` (Home Assistant before 2025.10) and
//! `default_entity_id` (2025.10 on, the only one from 2026.4); docs/mqtt.md
//! says which version reads which.

use super::payload::detection_kinds;
use super::topics::{level, Topics};
use crate::happened::State;
use serde_json::{json, Value};

/// One discovery message: its config topic and retained payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Entity {
    pub topic: String,
    pub payload: String,
}

/// Every entity of this node for the rules in force.
pub fn entities(t: &Topics, state: &State) -> Vec<Entity> {
    if t.discovery.is_none() {
        return Vec::new();
    }
    let node_id = t.device_id();
    let device = json!({
        "identifiers": [node_id],
        "name": format!("camrelay {}", t.node),
        "manufacturer": "camrelay",
        "model": "camrelay relay node",
        "sw_version": env!("CARGO_PKG_VERSION"),
    });
    let origin = json!({ "name": "camrelay", "sw_version": env!("CARGO_PKG_VERSION") });
    let mut out = Vec::new();
    let mut add = |component: &str, object: String, mut config: Value, dev: &Value| {
        let Some(topic) = t.discovery_config(component, &object) else { return };
        if let Some(map) = config.as_object_mut() {
            map.insert("unique_id".into(), format!("{node_id}_{object}").into());
            map.insert("object_id".into(), format!("{node_id}_{object}").into());
            map.insert("default_entity_id".into(), format!("{component}.{node_id}_{object}").into());
            map.insert("availability_topic".into(), t.availability().into());
            map.insert("device".into(), dev.clone());
            map.insert("origin".into(), origin.clone());
        }
        out.push(Entity { topic, payload: config.to_string() });
    };
    for r in &state.relays {
        let l = level(&r.name);
        let name = label(&r.name);
        let attributes = t.relay(&r.name, "attributes");
        add(
            "switch",
            format!("relay_{l}"),
            json!({
                "name": name,
                "state_topic": attributes,
                "value_template": "{{ value_json.state }}",
                "command_topic": t.relay(&r.name, "set"),
                "json_attributes_topic": attributes,
                "payload_on": "ON",
                "payload_off": "OFF",
                "state_on": "ON",
                "state_off": "OFF",
                "retain": false,
            }),
            &device,
        );
        add(
            "button",
            format!("relay_{l}_release"),
            json!({
                "name": format!("{name} back to rules"),
                "command_topic": t.relay(&r.name, "set"),
                "payload_press": "RELEASE",
                "retain": false,
            }),
            &device,
        );
        add(
            "button",
            format!("relay_{l}_pulse"),
            json!({
                "name": format!("{name} pulse"),
                "command_topic": t.relay(&r.name, "set"),
                "payload_press": "PULSE",
                "retain": false,
            }),
            &device,
        );
    }
    for i in &state.inputs {
        let mut config = json!({
            "name": label(&i.name),
            "state_topic": t.input(&i.name, "state"),
            "payload_on": "ON",
            "payload_off": "OFF",
        });
        if let (Some(class), Some(map)) = (&i.device_class, config.as_object_mut()) {
            map.insert("device_class".into(), class.clone().into());
        }
        add("binary_sensor", format!("input_{}", level(&i.name)), config, &device);
    }
    for o in &state.occupancy {
        let kind = if o.area { "area" } else { "zone" };
        let l = level(&o.place);
        let name = label(&o.place);
        let count = t.place(kind, &o.place, "count");
        add(
            "binary_sensor",
            format!("{kind}_{l}"),
            json!({
                "name": format!("{name} occupied"),
                "device_class": "occupancy",
                "state_topic": count,
                "value_template": "{{ 'ON' if value_json.total > 0 else 'OFF' }}",
                "json_attributes_topic": count,
                "payload_on": "ON",
                "payload_off": "OFF",
            }),
            &device,
        );
        add(
            "sensor",
            format!("{kind}_{l}_count"),
            json!({
                "name": format!("{name} count"),
                "state_topic": count,
                "value_template": "{{ value_json.total }}",
                "state_class": "measurement",
                "unit_of_measurement": "targets",
            }),
            &device,
        );
    }
    for camera in &state.cameras {
        let l = level(camera);
        let dev = json!({
            "identifiers": [format!("{node_id}_camera_{l}")],
            "name": label(camera),
            "manufacturer": "Viewtron",
            "via_device": node_id,
        });
        add(
            "binary_sensor",
            format!("camera_{l}_online"),
            json!({
                "name": "posting",
                "device_class": "connectivity",
                "state_topic": t.camera(camera, "online"),
                "payload_on": "ON",
                "payload_off": "OFF",
            }),
            &dev,
        );
        // A camera no rule reads plates from gets no plate sensor (its plate
        // topic is still published if it ever reads one).
        if state.plate_cameras.contains(camera) {
            add(
                "sensor",
                format!("camera_{l}_plate"),
                json!({
                    "name": "last plate",
                    "icon": "mdi:car-info",
                    "state_topic": t.camera(camera, "plate"),
                    "value_template": "{{ value_json.plate }}",
                    "json_attributes_topic": t.camera(camera, "plate"),
                }),
                &dev,
            );
        }
        add(
            "image",
            format!("camera_{l}_picture"),
            json!({
                "name": "event picture",
                "image_topic": t.camera(camera, "picture"),
                "content_type": "image/jpeg",
            }),
            &dev,
        );
        add(
            "event",
            format!("camera_{l}_detection"),
            json!({
                "name": "detection",
                "state_topic": t.camera(camera, "detection"),
                "event_types": detection_kinds(),
            }),
            &dev,
        );
    }
    add(
        "event",
        "safety".into(),
        json!({
            "name": "safety cut-off",
            "state_topic": t.safety(),
            "event_types": ["max_on", "chatter_lockout", "interlock"],
        }),
        &device,
    );
    add(
        "sensor",
        "reload".into(),
        json!({
            "name": "last reload",
            "state_topic": t.reload(),
            "value_template": "{{ 'applied' if value_json.applied else 'refused' }}",
            "json_attributes_topic": t.reload(),
            "entity_category": "diagnostic",
        }),
        &device,
    );
    out
}

/// A name from the rules file as Home Assistant shows it: `porch_light`
/// becomes "Porch light" (its friendly names were "pi1 porch_light back to rules").
pub fn label(name: &str) -> String {
    let spaced: String = name.chars().map(|c| if c == '_' || c == '-' { ' ' } else { c }).collect();
    let mut words = spaced.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some(first) = words.chars().next() {
        let upper: String = first.to_uppercase().collect();
        words.replace_range(..first.len_utf8(), &upper);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::places::Occupancy;

    #[test]
    fn every_entity_has_a_stable_id_availability_and_its_device() {
        let t = Topics::new("camrelay", "shed", Some("homeassistant"));
        let state = State {
            relays: Vec::new(),
            cameras: vec!["front door".into()],
            plate_cameras: Vec::new(),
            node_cameras: Vec::new(),
            devices: Vec::new(),
            occupancy: vec![Occupancy { place: "drive".into(), area: true, counts: [0; 4] }],
            last_reload: None,
            inputs: Vec::new(),
        };
        let all = entities(&t, &state);
        let topics: Vec<&str> = all.iter().map(|e| e.topic.as_str()).collect();
        assert!(topics.contains(&"homeassistant/binary_sensor/camrelay_shed/area_drive/config"));
        assert!(topics.contains(&"homeassistant/event/camrelay_shed/camera_front_door_detection/config"));
        for e in &all {
            let v: Value = serde_json::from_str(&e.payload).unwrap();
            assert_eq!(v["availability_topic"], "camrelay/shed/availability", "{}", e.topic);
            assert!(v["unique_id"].as_str().unwrap().starts_with("camrelay_shed_"));
            assert_eq!(v["origin"]["name"], "camrelay");
        }
        let cam: Value = serde_json::from_str(
            &all.iter().find(|e| e.topic.contains("front_door_online")).unwrap().payload,
        )
        .unwrap();
        assert_eq!(cam["device"]["via_device"], "camrelay_shed");
        assert!(entities(&Topics::new("camrelay", "shed", None), &state).is_empty());
    }

    #[test]
    fn ha_defect_6_names_read_as_words_and_only_plate_cameras_get_a_plate_sensor() {
        assert_eq!(label("porch_light"), "Porch light");
        assert_eq!(label("front-door  cam"), "Front door cam");
        assert_eq!(label("über_tor"), "Über tor");
        assert_eq!(label(""), "");
        let t = Topics::new("camrelay", "pi1", Some("homeassistant"));
        let state = State {
            relays: Vec::new(),
            cameras: vec!["front_door".into(), "gate_lpr".into()],
            plate_cameras: vec!["gate_lpr".into()],
            node_cameras: Vec::new(),
            devices: Vec::new(),
            occupancy: vec![Occupancy { place: "back_yard".into(), area: false, counts: [0; 4] }],
            last_reload: None,
            inputs: Vec::new(),
        };
        let all = entities(&t, &state);
        let plates: Vec<&str> =
            all.iter().filter(|e| e.topic.ends_with("_plate/config")).map(|e| e.topic.as_str()).collect();
        assert_eq!(plates, ["homeassistant/sensor/camrelay_pi1/camera_gate_lpr_plate/config"]);
        let zone: Value = serde_json::from_str(
            &all.iter().find(|e| e.topic.ends_with("/zone_back_yard/config")).unwrap().payload,
        )
        .unwrap();
        assert_eq!(zone["name"], "Back yard occupied");
        let camera: Value = serde_json::from_str(
            &all.iter().find(|e| e.topic.ends_with("/camera_front_door_online/config")).unwrap().payload,
        )
        .unwrap();
        assert_eq!(camera["device"]["name"], "Front door");
    }
}
