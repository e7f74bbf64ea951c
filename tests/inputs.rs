//! Inputs (issue 28) end to end: the real `camrelay run` with the mock
//! backend, its inputs set through `POST /api/inputs/{name}` as a contact
//! would make them, relays read back from `mock_log`. Each scene's outcome
//! is written from the homeowner's side first: what the gate, the button and
//! the lamps should do. The real kernel's edges are the GPIO VM test's.

mod common;

use common::*;
use std::time::{Duration, Instant};

const TOKEN: (&str, &str) = ("Authorization", "Bearer s3cret");

fn rules(debounce: &str, extra: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"

[api]
listen = "127.0.0.1:0"
token = "s3cret"

[gpio]
backend = "mock"
mock_log = "{{MOCK_LOG}}"

[presence]
target_timeout = "5s"

[[input]]
name = "button"
line = 5
debounce = "{debounce}"

[[input]]
name = "gate_closed"
line = 6
active_low = true
bias = "pull_up"
device_class = "garage_door"
debounce = "0s"

[[input]]
name = "gate_moving"
line = 13
debounce = "0s"

[[relay]]
name = "buzzer"
line = 17
max_on = "5s"
min_off = "0s"

[[relay]]
name = "gate"
line = 27
max_on = "3s"
min_off = "0s"
confirm = {{ input = "gate_closed", to = "off", within = "1s" }}

[[relay]]
name = "fault"
line = 22
max_on = "1m"
min_off = "0s"

[[relay]]
name = "siren"
line = 23
max_on = "1m"
min_off = "0s"

[[camera]]
name = "driveway"
mac = "58:5b:69:5f:42:1b"

[[rule]]
name = "the button sounds the buzzer"
when = {{ event = "input", input = "button", to = "on" }}
then = {{ relay = "buzzer", action = "pulse", duration = "300ms" }}

[[rule]]
name = "fault lamp when the gate did not move"
when = {{ event = "did_not_move", input = "gate_closed" }}
then = {{ relay = "fault", action = "on" }}
{extra}
"#
    )
}

fn set(d: &Daemon, input: &str, on: bool) {
    let body = format!("{{\"on\":{on}}}");
    let r = request(d.api, "POST", &format!("/api/inputs/{input}"), &[TOKEN], body.as_bytes());
    assert_eq!(r.status, 200, "{}", r.body);
}

fn status(d: &Daemon) -> serde_json::Value {
    let r = request(d.api, "GET", "/api/status", &[], b"");
    assert_eq!(r.status, 200);
    serde_json::from_str(&r.body).expect("status JSON")
}

fn input(d: &Daemon, name: &str) -> serde_json::Value {
    let s = status(d);
    s["inputs"].as_array().and_then(|a| a.iter().find(|i| i["name"] == name)).cloned().unwrap_or_default()
}

fn switched_on(log: &[LineChange], relay: &str) -> usize {
    log.iter().filter(|c| c.relay == relay && c.on).count()
}

fn wait_input(d: &Daemon, name: &str, pred: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let i = input(d, name);
        if pred(&i) {
            return i;
        }
        assert!(Instant::now() < deadline, "input {name} never got there: {i}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_button_press_pulses_the_buzzer_once() {
    // The homeowner presses the doorbell button for a moment: the buzzer
    // sounds once, for its 300 ms, and the page shows the button back off.
    let d = Daemon::start(&rules("30ms", ""));
    set(&d, "button", true);
    std::thread::sleep(Duration::from_millis(150));
    set(&d, "button", false);
    let log = d.wait_log(Duration::from_secs(10), |l| {
        l.iter().filter(|c| c.relay == "buzzer").count() >= 3 // startup off, on, off
    });
    assert_eq!(switched_on(&log, "buzzer"), 1, "{log:#?}");
    let i = wait_input(&d, "button", |i| i["changes"] == 2);
    assert_eq!(i["on"], false, "{i}");
    assert!(d.stderr_text().contains("input on"), "the change is logged");
}

#[test]
fn a_press_shorter_than_the_debounce_is_nothing() {
    // A contact that closes for 50 ms under a 300 ms debounce: no buzzer, no change.
    let d = Daemon::start(&rules("300ms", ""));
    set(&d, "button", true);
    std::thread::sleep(Duration::from_millis(50));
    set(&d, "button", false);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(switched_on(&d.mock_log(), "buzzer"), 0);
    assert_eq!(input(&d, "button")["changes"], 0);
}

#[test]
fn a_contact_bouncing_for_a_second_makes_one_change_and_one_buzz() {
    // A bad contact chatters hundreds of times, then stays closed: one
    // change, one buzz, not hundreds.
    let d = Daemon::start(&rules("30ms", ""));
    let mut stream = std::net::TcpStream::connect(d.api).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    // Head and body go in two writes: without this, each waits for a delayed ACK.
    stream.set_nodelay(true).expect("nodelay");
    let started = Instant::now();
    let mut edges = 0;
    while started.elapsed() < Duration::from_secs(1) {
        let body = format!("{{\"on\":{}}}", edges % 2 == 0);
        let r =
            request_on(&mut stream, d.api, "POST", "/api/inputs/button", &[TOKEN], body.as_bytes(), false);
        assert_eq!(r.status, 200, "{}", r.body);
        edges += 1;
    }
    set(&d, "button", true);
    assert!(edges > 100, "the contact bounced {edges} times");
    let i = wait_input(&d, "button", |i| i["changes"] == 1);
    assert_eq!(i["on"], true);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(input(&d, "button")["changes"], 1, "still one change after the contact settled");
    assert_eq!(switched_on(&d.mock_log(), "buzzer"), 1);
}

#[test]
fn a_gate_that_does_not_move_lights_the_fault_lamp_and_one_that_moves_does_not() {
    // The gate is closed (its contact on). The opener is pulsed by hand and
    // the gate leaves its contact within the second: no fault. Later the
    // opener is pulsed and the gate stays shut: the fault lamp comes on.
    let d = Daemon::start(&rules("30ms", ""));
    set(&d, "gate_closed", true);
    wait_input(&d, "gate_closed", |i| i["on"] == true);
    let pulse = br#"{"action":"pulse","duration":"500ms"}"#;
    let r = request(d.api, "POST", "/api/relays/gate", &[TOKEN], pulse);
    assert_eq!(r.status, 200, "{}", r.body);
    std::thread::sleep(Duration::from_millis(300));
    set(&d, "gate_closed", false);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(switched_on(&d.mock_log(), "fault"), 0, "the gate moved: no fault");

    set(&d, "gate_closed", true);
    std::thread::sleep(Duration::from_millis(1100)); // the gate's min_off and a clear start
    let r = request(d.api, "POST", "/api/relays/gate", &[TOKEN], pulse);
    assert_eq!(r.status, 200, "{}", r.body);
    let log = d.wait_log(Duration::from_secs(10), |l| switched_on(l, "fault") == 1);
    let gate_on = log.iter().rfind(|c| c.relay == "gate" && c.on).expect("gate pulsed").ms;
    let fault_on = log.iter().find(|c| c.relay == "fault" && c.on).expect("fault").ms;
    let late = fault_on - gate_on;
    assert!((1000..1600).contains(&late), "fault {late} ms after the pulse, within is 1 s");
    assert!(d.stderr_text().contains("did not move"), "{}", d.stderr_text());
}

#[test]
fn a_gate_left_open_for_its_time_raises_the_alarm_once() {
    // The gate stays open a second past its "for": the siren comes on once;
    // a gate open for less than that raises nothing.
    let extra = r#"
[[rule]]
name = "gate left open"
when = { event = "input", input = "gate_closed", to = "off", for = "1s" }
then = { relay = "siren", action = "pulse", duration = "200ms" }
"#;
    let d = Daemon::start(&rules("30ms", extra));
    set(&d, "gate_closed", true);
    set(&d, "gate_closed", false);
    std::thread::sleep(Duration::from_millis(400));
    set(&d, "gate_closed", true);
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(switched_on(&d.mock_log(), "siren"), 0, "open 0.4 s: nothing");
    set(&d, "gate_closed", false);
    let log = d.wait_log(Duration::from_secs(10), |l| switched_on(l, "siren") == 1);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(switched_on(&d.mock_log(), "siren"), 1, "once per time it is left open: {log:#?}");
}

#[test]
fn the_opener_is_not_pulsed_while_the_gate_is_moving() {
    // A person at the gate pulses the opener, except while the gate-moving
    // contact is on.
    let extra = r#"
[[rule]]
name = "open for a person"
when = { event = "presence", class = "person", input_off = "gate_moving" }
then = { relay = "buzzer", action = "pulse", duration = "200ms", cooldown = "1s" }
"#;
    let d = Daemon::start(&rules("30ms", extra));
    set(&d, "gate_moving", true);
    wait_input(&d, "gate_moving", |i| i["on"] == true);
    assert_eq!(post(d.posts, "/API", &traject(&[(1, "person", [100, 100, 200, 400])])).status, 200);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(switched_on(&d.mock_log(), "buzzer"), 0, "moving: held back");
    let why = request(d.api, "GET", "/api/rules/open%20for%20a%20person/why", &[], b"");
    assert!(why.body.contains("state"), "why-not names the state: {}", why.body);
    set(&d, "gate_moving", false);
    wait_input(&d, "gate_moving", |i| i["on"] == false);
    assert_eq!(post(d.posts, "/API", &traject(&[(2, "person", [100, 100, 200, 400])])).status, 200);
    d.wait_log(Duration::from_secs(10), |l| switched_on(l, "buzzer") == 1);
}

#[test]
fn a_second_car_while_the_gate_is_open_is_tailgating() {
    // A car waits at the gate, the gate opens (its contact goes off), the car
    // drives on: nothing. A second car appears while the gate is still open:
    // the siren sounds, once for that car.
    let extra = r#"
[[rule]]
name = "tailgating alert"
when = { event = "tailgating", input = "gate_closed", to = "off", camera = "driveway" }
then = { relay = "siren", action = "pulse", duration = "200ms" }
"#;
    let d = Daemon::start(&rules("30ms", extra));
    set(&d, "gate_closed", true);
    wait_input(&d, "gate_closed", |i| i["on"] == true);
    let car = |x: u32| [x, 3000, x + 1500, 5000];
    assert_eq!(post(d.posts, "/API", &traject(&[(1, "car", car(1000))])).status, 200);
    set(&d, "gate_closed", false);
    wait_input(&d, "gate_closed", |i| i["on"] == false);
    assert_eq!(post(d.posts, "/API", &traject(&[(1, "car", car(1500))])).status, 200);
    assert_eq!(post(d.posts, "/API", &traject(&[(1, "car", car(2000))])).status, 200);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(switched_on(&d.mock_log(), "siren"), 0, "the first car is the one let in");
    assert_eq!(post(d.posts, "/API", &traject(&[(1, "car", car(2500)), (2, "car", car(200))])).status, 200);
    assert_eq!(post(d.posts, "/API", &traject(&[(2, "car", car(400))])).status, 200);
    d.wait_log(Duration::from_secs(10), |l| switched_on(l, "siren") == 1);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(switched_on(&d.mock_log(), "siren"), 1, "once for the second car");
    assert!(d.stderr_text().contains("tailgating: 2 vehicles"), "{}", d.stderr_text());
}

#[test]
fn inputs_show_in_status_and_metrics_and_a_real_backend_refuses_setting_them() {
    let d = Daemon::start(&rules("30ms", ""));
    let i = input(&d, "gate_closed");
    assert_eq!(i["on"], false, "the mock starts every input off: {i}");
    assert_eq!(i["device_class"], "garage_door");
    let unknown = request(d.api, "POST", "/api/inputs/doorbell", &[TOKEN], br#"{"on":true}"#);
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    let anonymous = request(d.api, "POST", "/api/inputs/button", &[], br#"{"on":true}"#);
    assert_eq!(anonymous.status, 401, "setting an input needs the same right as a relay");
    let metrics = request(d.api, "GET", "/metrics", &[], b"");
    assert!(metrics.body.contains("camrelay_input_on{input=\"gate_closed\"} 0"), "{}", metrics.body);
}

#[test]
fn check_refuses_what_run_would_refuse_about_inputs() {
    let base = rules("30ms", "");
    let cases = [
        // An input on a relay's line.
        (base.replace("line = 13", "line = 17"), "which relay \"buzzer\" drives"),
        // Two inputs on one line.
        (
            base.replace("line = 13", "line = 6"),
            "as input \"gate_closed\" does; each input needs its own line",
        ),
        // A confirm naming no input.
        (
            base.replace(
                "input = \"gate_closed\", to = \"off\", within",
                "input = \"gate_shut\", to = \"off\", within",
            ),
            "gate_shut",
        ),
        // `for` without `to`.
        (
            base.replace(
                "when = { event = \"input\", input = \"button\", to = \"on\" }",
                "when = { event = \"input\", input = \"button\", for = \"5m\" }",
            ),
            "\"for\"",
        ),
        // An unknown bias word.
        (base.replace("bias = \"pull_up\"", "bias = \"pullup\""), "did you mean \"pull_up\""),
    ];
    for (text, needle) in cases {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("rules.toml");
        std::fs::write(&path, text.replace("{MOCK_LOG}", "/tmp/x.jsonl")).expect("write");
        let out = camrelay_command().arg("check").arg(&path).output().expect("check");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "check accepted a file run refuses ({needle})");
        assert!(stderr.contains(needle), "{needle:?} not in: {stderr}");
        assert!(stderr.contains("rules.toml:"), "the message points at the file: {stderr}");
    }
}

/// The TOML block after `<!-- recipe: gate-position -->` in docs/rules.md.
fn gate_recipe() -> String {
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/rules.md")).expect("docs");
    let start = docs.find("<!-- recipe: gate-position -->").expect("the gate recipe");
    let rest = &docs[start..];
    let open = rest.find("```toml\n").expect("its TOML block") + "```toml\n".len();
    let close = rest[open..].find("```").expect("its end");
    rest[open..open + close].to_string()
}

/// The gate recipe with the relays and the camera it names.
fn gate_house() -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"

[api]
listen = "127.0.0.1:0"
token = "s3cret"

[gpio]
backend = "mock"
mock_log = "{{MOCK_LOG}}"

[[relay]]
name = "fault_lamp"
line = 5
max_on = "1h"

[[relay]]
name = "alarm"
line = 6
max_on = "1m"

[[camera]]
name = "gate_cam"
mac = "58:5b:69:00:00:09"
{}"#,
        gate_recipe()
    )
}

/// A resident's plate (the fixture's ABC1234, on the white list) or another, from the gate camera.
fn plate_post(plate: &str) -> Vec<u8> {
    String::from_utf8(fixture("ipc-v1x/lpr.xml"))
        .expect("utf-8")
        .replacen("<smartType", "<mac type=\"string\">58:5b:69:00:00:09</mac><smartType", 1)
        .replace("ABC1234", plate)
        .into_bytes()
}

#[test]
fn recipe_a_gate_that_knows_where_it_is() {
    // docs/rules.md's gate, as written: a resident's plate pulses the opener;
    // the gate stays shut (its contact stays on), so five seconds later the
    // fault lamp says it did not move. The alarm stays quiet.
    let d = Daemon::start(&gate_house());
    set(&d, "gate_closed", true);
    wait_input(&d, "gate_closed", |i| i["on"] == true);
    std::thread::sleep(Duration::from_millis(1100)); // the opener's min_off after startup
    assert_eq!(post(d.posts, "/API", &plate_post("ABC1234")).status, 200);
    let log = d.wait_log(Duration::from_secs(15), |l| switched_on(l, "fault_lamp") == 1);
    assert_eq!(switched_on(&log, "gate"), 1, "the resident's plate pulsed the opener: {log:#?}");
    let gate_on = log.iter().find(|c| c.relay == "gate" && c.on).expect("gate").ms;
    let fault_on = log.iter().find(|c| c.relay == "fault_lamp" && c.on).expect("fault").ms;
    assert!((5000..6000).contains(&(fault_on - gate_on)), "within is 5 s: {}", fault_on - gate_on);
    assert_eq!(switched_on(&log, "alarm"), 0, "no tailgating, not left open");
}

#[test]
fn replay_of_a_record_dir_plays_the_inputs_as_they_came() {
    // The button pressed and a gate that did not move, recorded live; replay
    // of the record_dir switches the same relays in the same order, and the
    // fault lamp comes the same time after the gate's pulse.
    let text = rules("30ms", "").replace("[api]", "record_dir = \"{RECORD_DIR}\"\n\n[api]");
    let mut d = Daemon::start(&text);
    set(&d, "gate_closed", true);
    set(&d, "button", true);
    std::thread::sleep(Duration::from_millis(150));
    set(&d, "button", false);
    std::thread::sleep(Duration::from_millis(1100));
    let pulse = br#"{"action":"pulse","duration":"500ms"}"#;
    assert_eq!(request(d.api, "POST", "/api/relays/gate", &[TOKEN], pulse).status, 200);
    let live = d.wait_log(Duration::from_secs(10), |l| switched_on(l, "fault") == 1);
    d.signal("TERM");
    d.wait_exit(Duration::from_secs(10));

    let record = d.dir.path().join("record");
    let inputs = std::fs::read_dir(&record)
        .expect("record_dir")
        .filter(|e| e.as_ref().is_ok_and(|e| e.file_name().to_string_lossy().ends_with("-input.json")))
        .count();
    assert_eq!(inputs, 3 + 3, "three first readings, then gate_closed on, button on, button off");
    let config = camrelay::config::parse(
        &text.replace("{MOCK_LOG}", "/dev/null").replace("{RECORD_DIR}", "/tmp"),
        "rules.toml".as_ref(),
    )
    .expect("rules");
    let posts = camrelay::replay::load_posts(&[record]).expect("capture");
    let tl = camrelay::replay::replay(&config, &posts);
    assert!(tl.errors.is_empty(), "{:?}", tl.errors);
    let replayed: Vec<(String, bool)> = tl.transitions.iter().map(|t| (t.relay.clone(), t.on)).collect();
    let lived: Vec<(String, bool)> =
        live.iter().filter(|c| c.reason != "startup").map(|c| (c.relay.clone(), c.on)).collect();
    // Replay runs the timers on past the recording: the fault lamp's max_on ends it there.
    let names: Vec<String> = posts.iter().map(|p| p.label.clone()).collect();
    assert!(
        replayed.len() >= lived.len(),
        "live {lived:?} replayed {replayed:?} from {names:#?} notes {:#?}",
        tl.notices
    );
    assert_eq!(replayed[..lived.len()], lived, "replayed {replayed:?}");
    assert!(replayed.contains(&("fault".to_string(), true)), "{replayed:?}");
    let at = |relay: &str| {
        tl.transitions.iter().find(|t| t.relay == relay && t.on).map(|t| t.at.as_millis() as i64)
    };
    let late = at("fault").unwrap() - at("gate").unwrap();
    assert!(
        (1000..1100).contains(&late),
        "in replay the fault came {late} ms after the pulse (within is 1 s)"
    );
    assert!(tl.notices.iter().any(|n| n.text.contains("did not move")), "the timeline says so");
}

#[test]
fn a_door_must_have_been_closed_for_its_time_before_the_light_goes_on() {
    // "Door closed for half a second": a person right after the door closed
    // does not switch the lamp; the same person a moment later does.
    let extra = r#"
[[rule]]
name = "lamp once the door has settled"
when = { event = "presence", class = "person", input_on = "gate_closed", input_for = "500ms" }
then = { relay = "siren", action = "pulse", duration = "100ms", cooldown = "10s" }
"#;
    let d = Daemon::start(&rules("30ms", extra));
    set(&d, "gate_closed", true);
    wait_input(&d, "gate_closed", |i| i["on"] == true);
    assert_eq!(post(d.posts, "/API", &traject(&[(1, "person", [100, 100, 200, 400])])).status, 200);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(switched_on(&d.mock_log(), "siren"), 0, "closed for less than 500 ms");
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(post(d.posts, "/API", &traject(&[(2, "person", [100, 100, 200, 400])])).status, 200);
    d.wait_log(Duration::from_secs(10), |l| switched_on(l, "siren") == 1);
}

#[test]
fn check_says_in_words_what_inputs_confirms_and_input_rules_do() {
    let extra = r#"
[[rule]]
name = "gate left open"
when = { event = "input", input = "gate_closed", to = "off", for = "5m" }
then = { relay = "siren", action = "pulse", duration = "200ms" }
"#;
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("rules.toml");
    std::fs::write(&path, rules("30ms", extra).replace("{MOCK_LOG}", "/tmp/x.jsonl")).expect("write");
    let out = camrelay_command().arg("check").arg(&path).output().expect("check");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    for sentence in [
        "gate_closed: line 6, active low (a low line is on), bias pull_up, debounce 0s",
        "after switching on, input \"gate_closed\" must go off within 1s or it did not move",
        "When input \"button\" turns on: switch relay \"buzzer\" on for 300ms",
        "When a relay with confirm switched on and input \"gate_closed\" did not follow in time",
        "When input \"gate_closed\" has been off for 5m",
    ] {
        assert!(text.contains(sentence), "{sentence:?} not in:\n{text}");
    }
}

#[test]
fn safe_state_drives_the_relays_off_and_leaves_the_inputs_alone() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("rules.toml");
    std::fs::write(
        &path,
        rules("30ms", "").replace("{MOCK_LOG}", &dir.path().join("m.jsonl").display().to_string()),
    )
    .expect("write");
    let out = camrelay_command().args(["safe-state", "--config"]).arg(&path).output().expect("safe-state");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.lines().filter(|l| l.starts_with("relay ")).count(), 4, "{stdout}");
    assert!(!stdout.contains("button") && !stdout.contains("gate_closed"), "inputs are not driven: {stdout}");
}

#[test]
fn an_input_line_that_cannot_be_read_stops_startup_naming_the_input() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("rules.toml");
    let text =
        "[server]\nlisten = \"127.0.0.1:0\"\n[api]\nlisten = \"127.0.0.1:0\"\n[gpio]\nbackend = \"cdev\"\n\
                [[input]]\nname = \"gate_closed\"\nline = 6\nchip = \"gpiochip99\"\n";
    std::fs::write(&path, text).expect("write");
    let out = camrelay_command().args(["run", "--config"]).arg(&path).output().expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started without its input: {stderr}");
    assert!(stderr.contains("cannot read the lines of its [[input]] blocks"), "{stderr}");
    assert!(stderr.contains("gpiochip99") && stderr.contains("not found"), "{stderr}");
}

#[test]
fn recipe_the_gate_opens_moves_and_a_second_plate_behind_it_is_tailgating() {
    // The resident's plate opens the gate, which leaves its contact in time:
    // no fault. While it is open, a second car's plate is read: the alarm
    // sounds for tailgating. Another read of the resident's own plate is not
    // a second car.
    let d = Daemon::start(&gate_house());
    set(&d, "gate_closed", true);
    wait_input(&d, "gate_closed", |i| i["on"] == true);
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(post(d.posts, "/API", &plate_post("ABC1234")).status, 200);
    d.wait_log(Duration::from_secs(10), |l| switched_on(l, "gate") == 1);
    set(&d, "gate_closed", false);
    wait_input(&d, "gate_closed", |i| i["on"] == false);
    assert_eq!(post(d.posts, "/API", &plate_post("ABC1234")).status, 200);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(switched_on(&d.mock_log(), "alarm"), 0, "the same car read again");
    assert_eq!(post(d.posts, "/API", &plate_post("XY999Z")).status, 200);
    d.wait_log(Duration::from_secs(10), |l| switched_on(l, "alarm") == 1);
    std::thread::sleep(Duration::from_millis(5500));
    assert_eq!(switched_on(&d.mock_log(), "fault_lamp"), 0, "the gate moved within 5 s");
}
