//! `GET /api/events`: the core's one stream of what happened, as Server-Sent
//! Events, read by a real HTTP client while the daemon works: a traject post
//! gives the camera's targets, the rule's command and the relay's switch;
//! a manual request and a refused reload are on it too.

mod common;

use common::*;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const RULES: &str = r#"[server]
listen = "127.0.0.1:0"

[api]
listen = "127.0.0.1:0"
token = "t"

[gpio]
backend = "mock"
mock_log = "{MOCK_LOG}"

[presence]
inertia = 1

[[relay]]
name = "porch_light"
line = 17
max_on = "1m"
min_off = "0s"

[[camera]]
name = "driveway"
mac = "58:5b:69:5f:42:1b"

[[zone]]
name = "porch"
camera = "driveway"
polygon = [[1000, 5000], [6000, 5000], [6000, 10000], [1000, 10000]]

[[rule]]
name = "porch"
when = { event = "presence", zone = "porch" }
then = { relay = "porch_light", action = "hold", hold = "1s" }
"#;

fn traject() -> Vec<u8> {
    "<?xml version=\"1.0\"?><config version=\"1.7\" xmlns=\"http://www.ipc.com/ver10\"><mac type=\"string\"><![CDATA[58:5b:69:5f:42:1b]]></mac><traject type=\"list\" count=\"1\"><item><targetId type=\"uint32\">7</targetId><rect><x1>2000</x1><y1>6000</y1><x2>3000</x2><y2>9000</y2></rect><targetType type=\"targetType\">person</targetType></item></traject></config>"
        .as_bytes()
        .to_vec()
}

/// Events (name, JSON data) read from an open stream until `until` holds or the time is up.
fn read_until(
    reader: &mut BufReader<TcpStream>,
    seen: &mut Vec<(String, serde_json::Value)>,
    until: impl Fn(&[(String, serde_json::Value)]) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut name = String::new();
    while !until(seen) {
        assert!(Instant::now() < deadline, "timed out; events so far: {seen:#?}");
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            panic!("the stream ended; events so far: {seen:#?}");
        }
        let line = line.trim_end();
        if let Some(n) = line.strip_prefix("event: ") {
            name = n.to_string();
        } else if let Some(d) = line.strip_prefix("data: ") {
            seen.push((name.clone(), serde_json::from_str(d).expect("JSON data")));
        }
    }
}

#[test]
fn the_stream_carries_targets_commands_switches_manual_requests_and_reloads() {
    let d = Daemon::start(RULES);
    let mut s = TcpStream::connect(d.api).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(s, "GET /api/events HTTP/1.1\r\nHost: {}\r\n\r\n", d.api).unwrap();
    let mut reader = BufReader::new(s);
    let mut head = String::new();
    while !head.ends_with("\r\n\r\n") {
        reader.read_line(&mut head).unwrap();
    }
    assert!(head.starts_with("HTTP/1.1 200") && head.contains("text/event-stream"), "{head}");

    // The handler subscribed before it sent the head just read.
    assert_eq!(post(d.posts, "/API", &traject()).status, 200);
    let mut seen = Vec::new();
    read_until(&mut reader, &mut seen, |s| s.iter().any(|(n, v)| n == "switched" && v["on"] == true));
    let kinds: Vec<&str> = seen.iter().map(|(n, _)| n.as_str()).collect();
    // The camera's first post says it posts; then what that post did.
    assert_eq!(kinds, ["device", "targets", "fired", "switched"], "{seen:#?}");
    assert_eq!(seen[0].1["camera"], "driveway");
    assert_eq!(seen[0].1["online"], true);
    let targets = &seen[1].1;
    assert_eq!(targets["camera"], "driveway");
    assert_eq!(targets["targets"][0]["id"], 7);
    assert_eq!(targets["targets"][0]["zones"], serde_json::json!(["porch"]));
    assert_eq!(seen[2].1["why"]["rule"], "porch");
    assert_eq!(seen[3].1["relay"], "porch_light");
    // The zone's count changed with that post.
    read_until(&mut reader, &mut seen, |s| s.iter().any(|(n, _)| n == "occupancy"));
    let occupancy = &seen.iter().find(|(n, _)| n == "occupancy").unwrap().1;
    assert_eq!(occupancy["occupancy"]["place"], "porch");
    assert_eq!(occupancy["occupancy"]["counts"], serde_json::json!([1, 0, 0, 0]));
    // The hold ends a second later: the switch off is on the stream too.
    read_until(&mut reader, &mut seen, |s| s.iter().any(|(n, v)| n == "switched" && v["on"] == false));

    // A manual request switches through the controller, and shows.
    let r = request(
        d.api,
        "POST",
        "/api/relays/porch_light",
        &[("Authorization", "Bearer t")],
        br#"{"action":"on"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    read_until(&mut reader, &mut seen, |s| {
        s.iter().any(|(n, v)| n == "switched" && v["on"] == true && v["reason"] == "manual on")
    });

    // A refused reload says so.
    std::fs::write(&d.config_path, format!("{RULES}\n[[rule]]\nname = \"broken\"\n")).unwrap();
    d.signal("HUP");
    read_until(&mut reader, &mut seen, |s| s.iter().any(|(n, v)| n == "reloaded" && v["applied"] == false));
    let (_, reloaded) = seen.iter().find(|(n, _)| n == "reloaded").unwrap();
    assert!(reloaded["message"].as_str().unwrap().contains("is missing \"when\""), "{reloaded}");
}
