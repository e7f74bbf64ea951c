//! End to end: the real `camrelay run` binary with the mock backend, posts over
//! HTTP on loopback, relay transitions read back from `mock_log`.
//!
//! Timing is checked as intervals between the daemon's own log entries, bounded
//! by what the client observed (a post is received somewhere between its send
//! and its reply), plus a slack that holds on a loaded 2-core machine.

mod common;

use common::*;
use std::time::{Duration, Instant};

const SLACK_MS: i64 = 50;

fn rules(extra: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:0"
record_dir = "{{RECORD_DIR}}"

[api]
listen = "127.0.0.1:0"
token = "s3cret"

[gpio]
backend = "mock"
mock_log = "{{MOCK_LOG}}"

[presence]
target_timeout = "2s"
inertia = 3

[[relay]]
name = "porch_light"
line = 17
active_low = true
max_on = "15m"
# Timing below is measured from startup, which counts as a switch-off.
min_off = "0s"

[[relay]]
name = "gate"
line = 27
max_on = "3s"
min_off = "0s"

[[relay]]
name = "siren"
line = 22
max_on = "400ms"
min_off = "0s"

[[camera]]
name = "driveway"
mac = "58:5b:69:5f:42:1b"

[[zone]]
name = "porch"
camera = "driveway"
polygon = [[1000, 5000], [6000, 5000], [6000, 10000], [1000, 10000]]

[[rule]]
name = "porch light"
when = {{ event = "presence", class = "person", zone = "porch" }}
then = {{ relay = "porch_light", action = "hold", hold = "1s" }}
{extra}
"#
    )
}

const IN_PORCH: [u32; 4] = [2000, 4000, 3000, 9000];
const OUTSIDE: [u32; 4] = [7000, 1000, 9000, 3000];

fn for_relay<'a>(log: &'a [LineChange], relay: &str) -> Vec<&'a LineChange> {
    log.iter().filter(|c| c.relay == relay).collect()
}

/// A post's client-side window: sent at `.0`, answered at `.1`.
fn timed_post(d: &Daemon, body: &[u8]) -> (Instant, Instant) {
    let sent = Instant::now();
    let reply = post(d.posts, "/API", body);
    assert_eq!(reply.status, 200, "reply: {}", reply.body);
    assert_eq!(reply.body, SUCCESS_XML);
    (sent, Instant::now())
}

fn ms(d: Duration) -> i64 {
    d.as_millis() as i64
}

#[test]
fn traject_sequence_holds_the_porch_light_and_releases_exactly_hold_after_the_last_post() {
    let d = Daemon::start(&rules(""));
    // A car passing outside the zone does nothing.
    for _ in 0..3 {
        timed_post(&d, &traject(&[(7, "car", OUTSIDE)]));
    }
    // A person walks into the porch: the third in-zone post switches the light on.
    let mut windows = Vec::new();
    for _ in 0..6 {
        windows.push(timed_post(&d, &traject(&[(2157, "person", IN_PORCH)])));
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = d.wait_log(Duration::from_secs(10), |l| for_relay(l, "porch_light").len() >= 3);
    let porch = for_relay(&log, "porch_light");
    assert_eq!(porch.len(), 3, "startup off, on, off: {porch:#?}");
    assert_eq!((porch[0].on, porch[0].reason.as_str()), (false, "startup"));
    assert!(porch[1].on, "{porch:#?}");
    assert_eq!(porch[1].level, 0, "active-low relay drives its line low when on");
    assert!(porch[1].reason.contains("porch light"), "reason names the rule: {}", porch[1].reason);
    assert!(porch[1].reason.contains("2157"), "reason names the target: {}", porch[1].reason);
    assert!(!porch[2].on);
    assert_eq!(porch[2].level, 1);
    // On lasted from the 3rd post to 1 s after the 6th.
    let on_ms = porch[2].ms as i64 - porch[1].ms as i64;
    let (third, last) = (windows[2], windows[5]);
    let shortest = ms(last.0.duration_since(third.1)) + 1000;
    let longest = ms(last.1.duration_since(third.0)) + 1000;
    assert!(
        on_ms >= shortest - SLACK_MS && on_ms <= longest + SLACK_MS,
        "on for {on_ms} ms, expected between {shortest} and {longest} ms"
    );
    // Nothing else moved.
    assert!(for_relay(&log, "gate").iter().all(|c| !c.on));
}

#[test]
fn sigterm_while_relays_are_on_leaves_every_relay_off() {
    let mut d = Daemon::start(&rules(""));
    for relay in ["porch_light", "gate"] {
        let r = request(
            d.api,
            "POST",
            &format!("/api/relays/{relay}"),
            &[("Authorization", "Bearer s3cret")],
            br#"{"action":"on"}"#,
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }
    d.wait_log(Duration::from_secs(10), |l| l.iter().filter(|c| c.on).count() == 2);
    d.signal("TERM");
    let status = d.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "exit status {status:?}; stderr:\n{}", d.stderr_text());
    let log = d.mock_log();
    for relay in ["porch_light", "gate", "siren"] {
        let last = for_relay(&log, relay).last().copied().cloned().expect("logged");
        assert!(!last.on, "{relay} ends off: {last:?}");
    }
    let porch = for_relay(&log, "porch_light");
    assert_eq!(porch.last().map(|c| c.reason.as_str()), Some("shutdown"));
    assert_eq!(porch.last().map(|c| c.level), Some(1), "active-low off is a high level");
}

#[test]
fn manual_control_needs_the_token_and_release_hands_back_to_the_rules() {
    let d = Daemon::start(&rules(""));
    let body = br#"{"action":"on"}"#;
    let none = request(d.api, "POST", "/api/relays/gate", &[], body);
    assert_eq!(none.status, 401);
    assert!(none.body.contains("missing or wrong bearer token"), "{}", none.body);
    let wrong = request(d.api, "POST", "/api/relays/gate", &[("Authorization", "Bearer nope")], body);
    assert_eq!(wrong.status, 401);
    let unknown = request(d.api, "POST", "/api/relays/garage", &[("Authorization", "Bearer s3cret")], body);
    assert_eq!(unknown.status, 404);
    assert!(unknown.body.contains("no relay named \\\"garage\\\""), "{}", unknown.body);
    assert!(d.mock_log().iter().all(|c| !c.on), "refused calls switched nothing");

    let ok = request(d.api, "POST", "/api/relays/gate", &[("Authorization", "Bearer s3cret")], body);
    assert_eq!(ok.status, 200, "{}", ok.body);
    let log = d.wait_log(Duration::from_secs(10), |l| for_relay(l, "gate").iter().any(|c| c.on));
    assert_eq!(for_relay(&log, "gate").last().map(|c| c.reason.as_str()), Some("manual on"));

    let status = request(d.api, "GET", "/api/status", &[], b"");
    assert_eq!(status.status, 200);
    let json: serde_json::Value = serde_json::from_str(&status.body).expect("status JSON");
    let gate = json["relays"].as_array().and_then(|r| r.iter().find(|r| r["name"] == "gate")).cloned();
    assert_eq!(gate.as_ref().map(|g| g["on"].clone()), Some(serde_json::Value::Bool(true)), "{json}");

    let release = request(
        d.api,
        "POST",
        "/api/relays/gate",
        &[("Authorization", "Bearer s3cret")],
        br#"{"action":"release"}"#,
    );
    assert_eq!(release.status, 200);
    let log = d.wait_log(Duration::from_secs(10), |l| for_relay(l, "gate").last().is_some_and(|c| !c.on));
    let gate = for_relay(&log, "gate");
    assert_eq!(gate.len(), 3, "startup, manual on, off at release: {gate:#?}");
}

#[test]
fn alarm_status_posts_pulse_a_relay_and_max_on_bounds_a_latch() {
    let extra = r#"
[[rule]]
name = "gate on perimeter alarm"
when = { event = "alarm", alarm = "perimeterAlarm" }
then = { relay = "gate", action = "pulse", duration = "300ms" }

[[rule]]
name = "siren latched by a face"
when = { event = "face" }
then = { relay = "siren", action = "on" }
"#;
    let d = Daemon::start(&rules(extra));
    let window = timed_post(&d, &fixture("nvr-v2/alarm-status.xml"));
    let _ = window;
    let log = d.wait_log(Duration::from_secs(10), |l| for_relay(l, "gate").len() >= 3);
    let gate = for_relay(&log, "gate");
    assert!(gate[1].on && !gate[2].on, "{gate:#?}");
    let pulse = gate[2].ms as i64 - gate[1].ms as i64;
    assert!((300 - SLACK_MS..=300 + SLACK_MS).contains(&pulse), "pulse lasted {pulse} ms");

    // `on` latches, but the siren's max_on (400 ms) cuts it whatever the rules say.
    timed_post(&d, &fixture("nvr-v2/face-detection.xml"));
    let log = d.wait_log(Duration::from_secs(10), |l| for_relay(l, "siren").len() >= 3);
    let siren = for_relay(&log, "siren");
    assert!(siren[1].on && !siren[2].on, "{siren:#?}");
    assert_eq!(siren[2].reason, "max_on");
    let on = siren[2].ms as i64 - siren[1].ms as i64;
    assert!((400 - SLACK_MS..=400 + SLACK_MS).contains(&on), "latched on for {on} ms");
}

#[test]
fn malformed_post_is_refused_and_kept_then_the_next_post_is_processed() {
    let d = Daemon::start(&rules(""));
    let bad = post(d.posts, "/API", b"<config version=\"1.7\"><traject><item>");
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("truncated"), "{}", bad.body);
    for _ in 0..3 {
        timed_post(&d, &traject(&[(9, "person", IN_PORCH)]));
    }
    let log = d.wait_log(Duration::from_secs(10), |l| for_relay(l, "porch_light").iter().any(|c| c.on));
    assert!(for_relay(&log, "porch_light")[1].reason.contains("target 9"));
    let rejected = d.dir.path().join("record/rejected");
    let kept: Vec<_> = std::fs::read_dir(&rejected)
        .expect("rejected dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(kept.iter().any(|n| n.ends_with("-127.0.0.1.xml")), "{kept:?}");
    assert!(kept.iter().any(|n| n.ends_with(".reason")), "{kept:?}");
    let stderr = d.stderr_text();
    assert!(
        stderr.contains("127.0.0.1") && stderr.contains("truncated"),
        "warn names source and reason:\n{stderr}"
    );
}

fn status_json(d: &Daemon) -> serde_json::Value {
    let r = request(d.api, "GET", "/api/status", &[], b"");
    assert_eq!(r.status, 200);
    serde_json::from_str(&r.body).expect("status JSON")
}

fn rule_names(d: &Daemon) -> Vec<String> {
    status_json(d)["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .map(|r| r["rule"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn wait_stderr(d: &Daemon, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !d.stderr_text().contains(needle) {
        assert!(Instant::now() < deadline, "no {needle:?} in stderr:\n{}", d.stderr_text());
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn sighup_applies_a_valid_file_and_refuses_an_invalid_one_keeping_rules_and_relays() {
    let d = Daemon::start(&rules(""));
    assert_eq!(rule_names(&d), ["porch light"]);
    let on = request(
        d.api,
        "POST",
        "/api/relays/porch_light",
        &[("Authorization", "Bearer s3cret")],
        br#"{"action":"on"}"#,
    );
    assert_eq!(on.status, 200);
    d.wait_log(Duration::from_secs(10), |l| l.iter().any(|c| c.on));

    // A valid file with one more rule: applied at once, relay states kept.
    let original = std::fs::read_to_string(&d.config_path).expect("read rules");
    let extra = "\n[[rule]]\nname = \"gate for residents\"\nwhen = { event = \"plate\", plate_group = \"whiteList\" }\nthen = { relay = \"gate\", action = \"pulse\", duration = \"1s\" }\n";
    std::fs::write(&d.config_path, format!("{original}{extra}")).expect("write");
    d.signal("HUP");
    wait_stderr(&d, "rules reloaded");
    assert_eq!(rule_names(&d), ["porch light", "gate for residents"]);

    // Garbage: refused with the validation message; the previous rules stay.
    std::fs::write(&d.config_path, format!("{original}{extra}\n[[rule]]\nname = \"broken\"\nwhen = {{ event = \"presence\" }}\nthen = {{ relya = \"gate\" }}\n")).expect("write");
    d.signal("HUP");
    wait_stderr(&d, "reload refused");
    let stderr = d.stderr_text();
    assert!(stderr.contains("did you mean \"relay\""), "{stderr}");
    assert_eq!(rule_names(&d), ["porch light", "gate for residents"]);
    let json = status_json(&d);
    let porch =
        json["relays"].as_array().and_then(|r| r.iter().find(|r| r["name"] == "porch_light")).cloned();
    assert_eq!(
        porch.map(|p| p["on"].clone()),
        Some(serde_json::Value::Bool(true)),
        "relay state kept: {json}"
    );
    let log = d.mock_log();
    assert_eq!(for_relay(&log, "porch_light").len(), 2, "no switch during reloads: {log:#?}");

    // A changed listen address is reported as needing a restart, not half-applied.
    let moved = format!("{original}{extra}")
        .replace("listen = \"127.0.0.1:0\"\nrecord_dir", "listen = \"127.0.0.1:1\"\nrecord_dir");
    std::fs::write(&d.config_path, moved).expect("write");
    d.signal("HUP");
    wait_stderr(&d, "[server] listen changed; this takes effect after a restart");
    assert_eq!(status_json(&d)["pending_restart"], serde_json::json!(["[server] listen"]));
    assert_eq!(post(d.posts, "/API", &traject(&[(1, "car", OUTSIDE)])).status, 200, "still on the old port");
}

fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
}

#[test]
fn metrics_count_a_scripted_sequence() {
    let d = Daemon::start(&rules(""));
    for _ in 0..4 {
        timed_post(&d, &traject(&[(3, "person", IN_PORCH)]));
    }
    assert_eq!(post(d.posts, "/API", b"not xml at all").status, 400);
    assert_eq!(post(d.posts, "/API", b"").status, 200);
    d.wait_log(Duration::from_secs(10), |l| for_relay(l, "porch_light").iter().any(|c| c.on));
    let r = request(d.api, "GET", "/metrics", &[], b"");
    assert_eq!(r.status, 200);
    let m = r.body;
    assert_eq!(
        metric(&m, "camrelay_posts_total{device=\"58:5b:69:5f:42:1b\",kind=\"traject\"}"),
        Some(4.0),
        "{m}"
    );
    assert_eq!(metric(&m, "camrelay_decode_errors_total{reason=\"not_xml\"}"), Some(1.0), "{m}");
    assert_eq!(metric(&m, "camrelay_relay_switches_total{relay=\"porch_light\"}"), Some(1.0), "{m}");
    assert_eq!(metric(&m, "camrelay_relay_on{relay=\"porch_light\"}"), Some(1.0), "{m}");
    assert_eq!(
        metric(&m, "camrelay_rule_matches_total{rule=\"porch light\"}"),
        Some(2.0),
        "matches from the 3rd post: {m}"
    );
    assert_eq!(metric(&m, "camrelay_safety_cutoffs_total{relay=\"porch_light\"}"), Some(0.0), "{m}");
    assert!(m.contains("camrelay_request_seconds_bucket"), "{m}");
}

#[test]
fn a_silent_camera_is_reported_offline_once_and_rules_see_it() {
    let extra = r#"
[[rule]]
name = "siren when the driveway camera goes silent"
when = { event = "camera_offline", camera = "driveway" }
then = { relay = "siren", action = "pulse", duration = "100ms" }
"#;
    let text = rules(extra).replace("record_dir = \"{RECORD_DIR}\"", "offline_after = \"1s\"");
    let d = Daemon::start(&text);
    timed_post(&d, &traject(&[(1, "car", OUTSIDE)]));
    let log = d.wait_log(Duration::from_secs(10), |l| for_relay(l, "siren").len() >= 3);
    let siren = for_relay(&log, "siren");
    assert!(siren[1].on && siren[1].reason.contains("camera_offline"), "{siren:#?}");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(d.stderr_text().matches("device offline").count(), 1, "logged once:\n{}", d.stderr_text());
    assert_eq!(for_relay(&d.mock_log(), "siren").len(), 3, "fired once");
    let json = status_json(&d);
    assert_eq!(json["devices"][0]["online"], serde_json::Value::Bool(false), "{json}");
}

#[test]
fn sigterm_during_a_pulse_ends_with_the_relay_off_before_the_pulse_would() {
    let extra = r#"
[[rule]]
name = "gate for residents"
when = { event = "plate", plate_group = "whiteList" }
then = { relay = "gate", action = "pulse", duration = "3s" }
"#;
    let mut d = Daemon::start(&rules(extra));
    timed_post(&d, &fixture("ipc-v1x/lpr.xml"));
    let log = d.wait_log(Duration::from_secs(10), |l| for_relay(l, "gate").iter().any(|c| c.on));
    let on_ms = for_relay(&log, "gate")[1].ms;
    d.signal("TERM");
    let status = d.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    let log = d.mock_log();
    let gate = for_relay(&log, "gate");
    let last = gate.last().expect("gate logged");
    assert_eq!((last.on, last.reason.as_str()), (false, "shutdown"), "{gate:#?}");
    assert!(last.ms < on_ms + 3000, "cut by the shutdown, not by the end of the pulse: {gate:#?}");
}
