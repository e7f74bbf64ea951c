//! The scripted porch-walk capture (a person walks onto the porch, stays 20 s,
//! leaves; a car passes outside the zone) replayed on the virtual clock and
//! posted over HTTP in real time to `camrelay run` with the mock backend: both
//! must give the same relay transitions, within 50 ms.
//!
//! The example rules are used with two changes that keep the test short and
//! independent of the time of day: the porch rule's night window is removed
//! (the live daemon sees today's clock, the capture is from an evening), and
//! its hold is 2 s instead of 1 min.

mod common;

use camrelay::replay::{load_posts, replay};
use common::*;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const TOLERANCE_MS: i64 = 50;

fn rules() -> String {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let example = std::fs::read_to_string(root.join("rules.example.toml")).expect("example rules");
    let edited = example
        .replace(", after = \"sunset-30m\", before = \"sunrise+15m\"", "")
        .replace("hold = \"1m\"", "hold = \"2s\"")
        .replace("listen = \"0.0.0.0:5002\"", "listen = \"127.0.0.1:0\"")
        .replace("mock_log = \"mock-gpio.jsonl\"", "mock_log = \"{MOCK_LOG}\"")
        .replace("token = \"s3cret\"", "token = \"s3cret\"\nlisten = \"127.0.0.1:0\"");
    assert_ne!(edited, example);
    assert!(
        !edited.contains("sunset-30m") && edited.contains("hold = \"2s\""),
        "example rules changed shape"
    );
    edited
}

#[test]
fn porch_walk_over_http_switches_the_relays_replay_predicts() {
    let text = rules();
    let capture = PathBuf::from(FIXTURES).join("replay/porch-walk");
    let posts = load_posts(&[capture]).expect("capture");
    let first_wall = posts[0].record.expect("record names carry times").timeline_ms();

    // What the virtual clock says.
    let config = camrelay::config::parse(&text.replace("{MOCK_LOG}", "/dev/null"), "rules.toml".as_ref())
        .expect("edited example rules are valid");
    let predicted: Vec<(String, bool, i64)> = replay(&config, &posts)
        .transitions
        .iter()
        .map(|t| (t.relay.clone(), t.on, t.at.as_millis() as i64))
        .collect();
    assert_eq!(
        predicted.iter().map(|(r, on, _)| (r.as_str(), *on)).collect::<Vec<_>>(),
        [("porch_light", true), ("porch_light", false)],
        "{predicted:?}"
    );

    // The same posts over HTTP, each at its recorded offset.
    let d = Daemon::start(&text);
    let sync = clock_offset(&d);
    let start = Instant::now() + Duration::from_millis(200);
    for post_ in &posts {
        let offset = (post_.record.expect("time").timeline_ms() - first_wall) as u64;
        let due = start + Duration::from_millis(offset);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        let reply = post(d.posts, "/API", &post_.body);
        assert_eq!(reply.status, 200, "{}: {}", post_.label, reply.body);
    }
    let log =
        d.wait_log(Duration::from_secs(20), |l| l.iter().filter(|c| c.relay == "porch_light").count() >= 3);
    let actual: Vec<(String, bool, i64)> = log
        .iter()
        .filter(|c| c.reason != "startup")
        .map(|c| (c.relay.clone(), c.on, c.ms as i64 - sync.daemon_ms_at(start)))
        .collect();
    assert_eq!(actual.len(), predicted.len(), "live {actual:?} vs replay {predicted:?}");
    for (live, replayed) in actual.iter().zip(&predicted) {
        assert_eq!((&live.0, live.1), (&replayed.0, replayed.1));
        assert!(
            (live.2 - replayed.2).abs() <= TOLERANCE_MS,
            "{} {} at {} ms live, {} ms in replay",
            live.0,
            if live.1 { "on" } else { "off" },
            live.2,
            replayed.2
        );
    }
}
