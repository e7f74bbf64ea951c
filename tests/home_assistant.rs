//! camrelay against a real Home Assistant (core 2025.4.4 from PyPI, in
//! target/ha/venv made by scripts/setup-ha-venv.sh) and a real Mosquitto with
//! the ACL docs/mqtt.md gives. Home Assistant's MQTT integration is set up
//! through its own config flow; everything is read back through its own APIs
//! (tests/ha/ha_client.py): the states, the entity registry, the
//! `state_changed` events, its log. The expectations are written from the
//! Home Assistant user's side, before running: the entity ids and names the
//! user sees, a rename that survives, a state whose attributes are already
//! the new ones, a manual switch that says manual.
//!
//! Without the venv or Mosquitto the test is ignored (build.rs), never passed;
//! `.ci/run` installs both and requires it.

mod common;
mod mqtt_support;

use common::{post, traject, Daemon};
use mqtt_support::{eventually, Broker, USERS};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);

fn venv() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ha/venv")
}

fn client_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ha/ha_client.py")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One Home Assistant with its own config dir, on a loopback port.
struct Hass {
    child: Option<Child>,
    dir: tempfile::TempDir,
    url: String,
    port: u16,
    token: String,
    watcher: Option<Child>,
}

impl Hass {
    fn start(broker: &Broker) -> Hass {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        // What the onboarding, the config flow and the APIs need; no
        // default_config (it pulls far more than a test needs).
        std::fs::write(
            dir.path().join("configuration.yaml"),
            format!(
                "http:\n  server_host: 127.0.0.1\n  server_port: {port}\napi:\nconfig:\nwebsocket_api:\nonboarding:\nmqtt:\nlogger:\n  default: warning\n"
            ),
        )
        .unwrap();
        let mut hass = Hass {
            child: None,
            dir,
            url: format!("http://127.0.0.1:{port}"),
            port,
            token: String::new(),
            watcher: None,
        };
        hass.run();
        let (user, pass) = USERS.iter().find(|(u, _)| *u == "homeassistant").unwrap();
        let setup = hass.client(&["setup", &hass.url.clone(), &broker.port.to_string(), user, pass]);
        hass.token = setup["token"].as_str().unwrap().to_string();
        hass
    }

    fn run(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("stdout.log")).unwrap();
        let child = Command::new(venv().join("bin/hass"))
            .arg("-c")
            .arg(self.dir.path())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start hass");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let up = std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok_and(|mut s| {
                use std::io::{Read, Write};
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                let _ = s.write_all(b"GET /api/onboarding HTTP/1.0\r\n\r\n");
                let mut head = [0u8; 12];
                s.read_exact(&mut head).is_ok() && &head[9..12] == b"200"
            });
            if up {
                break;
            }
            assert!(Instant::now() < deadline, "Home Assistant did not answer: {}", self.log());
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Stop (SIGTERM, as its service manager does) and start again.
    fn restart(&mut self) {
        self.stop_watch();
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(c.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(60);
            while c.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    let _ = c.kill();
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        self.run();
    }

    fn client(&self, args: &[&str]) -> Value {
        let out = Command::new(venv().join("bin/python"))
            .arg(client_script())
            .args(args)
            .stderr(Stdio::piped())
            .output()
            .expect("run ha_client.py");
        assert!(out.status.success(), "ha_client.py {}: {}", args[0], String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    fn states(&self) -> Vec<Value> {
        match self.client(&["states", &self.url, &self.token]) {
            Value::Array(a) => a,
            other => panic!("states: {other}"),
        }
    }

    fn state(&self, entity: &str) -> Option<Value> {
        self.states().into_iter().find(|s| s["entity_id"] == entity)
    }

    fn registry(&self) -> Vec<Value> {
        match self.client(&["registry", &self.url, &self.token]) {
            Value::Array(a) => a.into_iter().filter(|e| e["platform"] == "mqtt").collect(),
            other => panic!("registry: {other}"),
        }
    }

    /// Home Assistant's own log file.
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("home-assistant.log")).unwrap_or_default()
    }

    fn events_path(&self) -> PathBuf {
        self.dir.path().join("state_changed.jsonl")
    }

    /// Record every `state_changed` from now on, with its arrival time.
    fn watch(&mut self) {
        let child = Command::new(venv().join("bin/python"))
            .arg(client_script())
            .args(["watch", &self.url, &self.token])
            .arg(self.events_path())
            .stdout(Stdio::null())
            .spawn()
            .expect("start the watcher");
        self.watcher = Some(child);
        eventually(WAIT, "the watcher subscribed", || {
            std::fs::read_to_string(self.events_path()).is_ok_and(|t| t.contains("\"subscribed\": true"))
        });
    }

    fn stop_watch(&mut self) {
        if let Some(mut w) = self.watcher.take() {
            let _ = w.kill();
            let _ = w.wait();
        }
    }

    fn events(&self) -> Vec<Value> {
        std::fs::read_to_string(self.events_path())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v.get("entity_id").is_some())
            .collect()
    }
}

impl Drop for Hass {
    fn drop(&mut self) {
        self.stop_watch();
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The rules of a Pi called "nodea": a gate opened for a known plate, a porch
/// light held by a person in the front yard, two cameras (one reads plates).
fn rules(broker: &Broker, dir: &Path, with_porch: bool) -> String {
    let mut r = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[api]\nlisten = \"127.0.0.1:0\"\ntoken = \"t0ken\"\n[gpio]\nbackend = \"mock\"\nmock_log = \"{{MOCK_LOG}}\"\n{}",
        broker.section("nodea", dir)
    );
    r.push_str(
        r#"
[[relay]]
name = "gate"
line = 18
max_on = "1m"

[[camera]]
name = "drive"
mac = "58:5b:69:5f:42:1b"

[[camera]]
name = "gate_lpr"
mac = "58:5b:69:00:00:02"

[[zone]]
name = "front_yard"
camera = "drive"
polygon = [[0, 0], [10000, 0], [10000, 10000], [0, 10000]]

[[area]]
name = "outside"
zones = ["front_yard"]

[[rule]]
name = "residents"
when = { event = "plate", camera = "gate_lpr", plate = ["ABC1234"] }
then = { relay = "gate", action = "pulse", duration = "1s" }
"#,
    );
    if with_porch {
        r.push_str(
            r#"
[[relay]]
name = "porch_light"
line = 17
max_on = "10m"

[[rule]]
name = "porch light"
when = { event = "presence", zone = "front_yard", class = "person" }
then = { relay = "porch_light", action = "hold", hold = "30s" }
"#,
        );
    }
    r
}

/// The entities a Home Assistant user sees, with the names it shows them
/// under: written from the documentation (docs/mqtt.md), not from a run.
fn expected(with_porch: bool) -> Vec<(&'static str, &'static str)> {
    let mut e = vec![
        ("switch.camrelay_nodea_relay_gate", "camrelay nodea Gate"),
        ("button.camrelay_nodea_relay_gate_release", "camrelay nodea Gate back to rules"),
        ("button.camrelay_nodea_relay_gate_pulse", "camrelay nodea Gate pulse"),
        ("binary_sensor.camrelay_nodea_zone_front_yard", "camrelay nodea Front yard occupied"),
        ("sensor.camrelay_nodea_zone_front_yard_count", "camrelay nodea Front yard count"),
        ("binary_sensor.camrelay_nodea_area_outside", "camrelay nodea Outside occupied"),
        ("sensor.camrelay_nodea_area_outside_count", "camrelay nodea Outside count"),
        ("binary_sensor.camrelay_nodea_camera_drive_online", "Drive posting"),
        ("event.camrelay_nodea_camera_drive_detection", "Drive detection"),
        ("image.camrelay_nodea_camera_drive_picture", "Drive event picture"),
        ("binary_sensor.camrelay_nodea_camera_gate_lpr_online", "Gate lpr posting"),
        ("sensor.camrelay_nodea_camera_gate_lpr_plate", "Gate lpr last plate"),
        ("event.camrelay_nodea_camera_gate_lpr_detection", "Gate lpr detection"),
        ("image.camrelay_nodea_camera_gate_lpr_picture", "Gate lpr event picture"),
        ("event.camrelay_nodea_safety", "camrelay nodea safety cut-off"),
        ("sensor.camrelay_nodea_reload", "camrelay nodea last reload"),
    ];
    if with_porch {
        e.extend([
            ("switch.camrelay_nodea_relay_porch_light", "camrelay nodea Porch light"),
            ("button.camrelay_nodea_relay_porch_light_release", "camrelay nodea Porch light back to rules"),
            ("button.camrelay_nodea_relay_porch_light_pulse", "camrelay nodea Porch light pulse"),
        ]);
    }
    e
}

/// WARNING and ERROR lines of Home Assistant's MQTT integration.
fn mqtt_complaints(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| (l.contains(" WARNING ") || l.contains(" ERROR ")) && l.contains("components.mqtt"))
        .map(str::to_string)
        .collect()
}

fn person(id: u32) -> (u32, &'static str, [u32; 4]) {
    (id, "person", [4000, 4000, 5000, 6000])
}

const DETECTION: &str = "event.camrelay_nodea_camera_drive_detection";

/// The intrusion post with a real JPEG where the vendor's sample has placeholders.
fn intrusion_with_picture() -> Vec<u8> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(common::fixture("camera/driveway.jpg"));
    String::from_utf8(intrusion())
        .unwrap()
        .replace("BASE64_JPEG_OVERVIEW_IMAGE", &b64)
        .replace("BASE64_JPEG_TARGET_CROP", &b64)
        .into_bytes()
}

/// The vendor's perimeter intrusion post, from the drive camera.
fn intrusion() -> Vec<u8> {
    let body = String::from_utf8(common::fixture("ipc-v1x/perimeter-intrusion.xml")).unwrap();
    body.replacen("<smartType", "<mac type=\"string\">58:5b:69:5f:42:1b</mac><smartType", 1).into_bytes()
}

/// How many state changes of the drive camera's detection entity Home Assistant made.
fn detections(hass: &Hass) -> usize {
    hass.events().iter().filter(|e| e["entity_id"] == DETECTION).count()
}

fn connections(broker: &Broker) -> usize {
    let log = std::fs::read_to_string(broker.dir.path().join("mosquitto.log")).unwrap_or_default();
    log.lines().filter(|l| l.contains("New client connected") && l.contains("as camrelay-nodea")).count()
}

fn available(hass: &Hass, entity: &str) -> bool {
    hass.state(entity).is_some_and(|s| s["state"] != "unavailable")
}

#[test]
#[cfg_attr(not(camrelay_ha), ignore = "needs Home Assistant: bash scripts/setup-ha-venv.sh (and mosquitto)")]
fn a_real_home_assistant_sees_every_entity_keeps_renames_and_gets_fresh_attributes() {
    let started = Instant::now();
    let broker = Broker::start();
    let secrets = tempfile::tempdir().unwrap();
    let mut hass = Hass::start(&broker);
    let mut starts = 0;
    let mut camrelay = Daemon::start(&rules(&broker, secrets.path(), true));
    starts += 1;

    // Every documented entity, with the intended id and name.
    let want = expected(true);
    eventually(Duration::from_secs(60), "every entity in Home Assistant", || {
        let states = hass.states();
        want.iter().all(|(id, _)| states.iter().any(|s| s["entity_id"] == *id && s["state"] != "unavailable"))
    });
    let states = hass.states();
    for (id, name) in &want {
        let s = states.iter().find(|s| s["entity_id"] == *id).unwrap();
        assert_eq!(s["attributes"]["friendly_name"], *name, "{id}: {s}");
    }
    let ours: Vec<&str> = states
        .iter()
        .filter_map(|s| s["entity_id"].as_str())
        .filter(|id| id.contains("camrelay_nodea"))
        .collect();
    assert_eq!(ours.len(), want.len(), "no more than documented (no plate sensor for drive): {ours:?}");
    println!("entities as Home Assistant lists them:");
    for (id, name) in &want {
        println!("  {id:55} {name}");
    }

    // Defect 3: a state change carries its own attributes.
    hass.watch();
    for _ in 0..10 {
        post(camrelay.posts, "/API", &traject(&[person(7)]));
    }
    eventually(WAIT, "porch light on in Home Assistant", || {
        hass.events().iter().any(|e| {
            e["entity_id"] == "switch.camrelay_nodea_relay_porch_light" && e["new_state"]["state"] == "on"
        })
    });
    let events = hass.events();
    let zone_on = events
        .iter()
        .find(|e| {
            e["entity_id"] == "binary_sensor.camrelay_nodea_zone_front_yard"
                && e["old_state"]["state"] == "off"
                && e["new_state"]["state"] == "on"
        })
        .expect("the zone's off→on state_changed");
    assert_eq!(zone_on["new_state"]["attributes"]["total"], 1, "{zone_on}");
    assert_eq!(zone_on["new_state"]["attributes"]["person"], 1, "{zone_on}");
    let porch_on = events
        .iter()
        .find(|e| {
            e["entity_id"] == "switch.camrelay_nodea_relay_porch_light" && e["new_state"]["state"] == "on"
        })
        .unwrap();
    assert_eq!(porch_on["new_state"]["attributes"]["why"]["rule"], "porch light", "{porch_on}");
    assert!(porch_on["new_state"]["attributes"].get("state").is_none(), "{porch_on}");

    // Post → Home Assistant state change, on loopback: an intrusion post
    // becomes the camera's detection event entity's new state.
    let samples: usize = std::env::var("CAMRELAY_HA_SAMPLES").ok().and_then(|n| n.parse().ok()).unwrap_or(20);
    let mut latencies = Vec::new();
    for _ in 0..samples {
        let seen = detections(&hass);
        let sent = chrono::Utc::now();
        post(camrelay.posts, "/API", &intrusion());
        eventually(WAIT, "the detection in Home Assistant", || detections(&hass) > seen);
        let e = hass.events().into_iter().rev().find(|e| e["entity_id"] == DETECTION).unwrap();
        let changed =
            chrono::DateTime::parse_from_rfc3339(e["new_state"]["last_changed"].as_str().unwrap()).unwrap();
        latencies
            .push((changed.with_timezone(&chrono::Utc) - sent).num_microseconds().unwrap() as f64 / 1000.0);
        assert_eq!(e["new_state"]["attributes"]["event_type"], "intrusion", "{e}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // A detection with its pictures: the camera's image entity shows it
    // (its state becomes the time the picture came).
    const PICTURE: &str = "image.camrelay_nodea_camera_drive_picture";
    let before = hass.state(PICTURE).map(|s| s["state"].clone());
    post(camrelay.posts, "/API", &intrusion_with_picture());
    eventually(WAIT, "the picture in Home Assistant", || {
        hass.state(PICTURE).is_some_and(|s| Some(s["state"].clone()) != before && s["state"] != "unknown")
    });
    latencies.sort_by(f64::total_cmp);
    let pct =
        |p: f64| latencies[((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1];
    println!(
        "post -> Home Assistant state change over {} posts: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        latencies.len(),
        pct(0.5),
        pct(0.99),
        latencies[latencies.len() - 1]
    );

    // Defect 4: a manual switch from Home Assistant shows a fresh why.
    hass.client(&[
        "service",
        &hass.url,
        &hass.token,
        "switch",
        "turn_off",
        "switch.camrelay_nodea_relay_porch_light",
    ]);
    eventually(WAIT, "porch light off", || {
        hass.state("switch.camrelay_nodea_relay_porch_light").is_some_and(|s| s["state"] == "off")
    });
    hass.client(&[
        "service",
        &hass.url,
        &hass.token,
        "switch",
        "turn_on",
        "switch.camrelay_nodea_relay_porch_light",
    ]);
    eventually(WAIT, "porch light on by hand", || {
        hass.events().iter().any(|e| {
            e["entity_id"] == "switch.camrelay_nodea_relay_porch_light"
                && e["new_state"]["state"] == "on"
                && e["new_state"]["attributes"]["why"]["rule"] == "manual"
        })
    });
    let manual_on: Vec<Value> = hass
        .events()
        .into_iter()
        .filter(|e| {
            e["entity_id"] == "switch.camrelay_nodea_relay_porch_light" && e["new_state"]["state"] == "on"
        })
        .collect();
    let last = manual_on.last().unwrap();
    assert_eq!(last["new_state"]["attributes"]["why"]["rule"], "manual", "{last}");
    assert_eq!(last["new_state"]["attributes"]["why"]["event"], "on", "{last}");

    // Defect 1: a user's rename survives 10 camrelay restarts and 2 Home Assistant restarts.
    let renamed = hass.client(&[
        "rename",
        &hass.url,
        &hass.token,
        "switch.camrelay_nodea_relay_gate",
        "switch.front_gate",
        "Front gate",
    ]);
    assert_eq!(renamed["entity_entry"]["entity_id"], "switch.front_gate", "{renamed}");
    let keeps_rename = |hass: &Hass, when: &str| {
        let entry = hass
            .registry()
            .into_iter()
            .find(|e| e["unique_id"] == "camrelay_nodea_relay_gate")
            .unwrap_or_else(|| panic!("{when}: the gate's entity is gone"));
        assert_eq!(entry["entity_id"], "switch.front_gate", "{when}: {entry}");
        assert_eq!(entry["name"], "Front gate", "{when}: {entry}");
    };
    for run in 0..10 {
        camrelay.signal("TERM");
        let _ = camrelay.wait_exit(Duration::from_secs(10));
        // Availability: a stopped camrelay is "unavailable", not a stale state.
        eventually(WAIT, "unavailable after a stop", || !available(&hass, "switch.front_gate"));
        camrelay = Daemon::start(&rules(&broker, secrets.path(), true));
        starts += 1;
        eventually(WAIT, "available after a start", || available(&hass, "switch.front_gate"));
        keeps_rename(&hass, &format!("camrelay restart {}", run + 1));
    }
    for run in 0..2 {
        hass.restart();
        eventually(Duration::from_secs(60), "entities back after a Home Assistant restart", || {
            available(&hass, "switch.front_gate")
                && available(&hass, "binary_sensor.camrelay_nodea_zone_front_yard")
        });
        keeps_rename(&hass, &format!("Home Assistant restart {}", run + 1));
    }

    // Defect 2: exactly one broker connection per camrelay start.
    assert_eq!(connections(&broker), starts, "one connection per start");

    // A relay removed from the rules (a restart: relay changes need one)
    // removes its entities only.
    camrelay.signal("TERM");
    let _ = camrelay.wait_exit(Duration::from_secs(10));
    camrelay = Daemon::start(&rules(&broker, secrets.path(), false));
    eventually(WAIT, "the porch light's entities removed", || {
        !hass.registry().iter().any(|e| e["unique_id"].as_str().is_some_and(|u| u.contains("porch_light")))
    });
    let registry = hass.registry();
    for (id, _) in expected(false) {
        let id = if id == "switch.camrelay_nodea_relay_gate" { "switch.front_gate" } else { id };
        assert!(registry.iter().any(|e| e["entity_id"] == id), "{id} must stay: {registry:#?}");
    }
    keeps_rename(&hass, "after removing the porch light");

    let complaints = mqtt_complaints(&hass.log());
    assert!(
        complaints.is_empty(),
        "Home Assistant's MQTT integration complained:\n{}",
        complaints.join("\n")
    );
    drop(camrelay);
    println!("real Home Assistant test: {:.1} s", started.elapsed().as_secs_f64());
}
