//! `camrelay replay` over a scripted traject capture (tests/fixtures/replay/porch-walk,
//! written by make-porch-walk.py): a person walks onto the porch, stays 20 s and
//! leaves; a car passes outside the zone. With rules.example.toml the porch light
//! must come on at the third in-zone post (1.5 s: the anchor crosses into the
//! zone at 1.2 s) and go off one minute after the last post that still counted
//! the person in the zone (23.1 s: the third out-of-zone post, 23.25 s, is the
//! exit under inertia 3), so at 83.1 s; the car changes nothing.

use camrelay::config::{load, Config};
use camrelay::decode::{Device, Dialect, Event, EventKind, Rect, Target, TargetClass};
use camrelay::ingest::record::RecordName;
use camrelay::replay::{load_posts, replay, replay_inputs, Input, InputKind, Post};
use chrono::{TimeZone, Utc};
use std::path::{Path, PathBuf};

fn capture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/replay/porch-walk")
}

fn example() -> Config {
    load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("rules.example.toml")).unwrap()
}

const EXPECTED: &str = "\
161 posts, 161 events, 0 not decoded, 145 commands, 2 relay switches (times in Europe/Berlin)
2026-03-27 22:15:23.024    +1.500s  porch_light  ON   rule \"porch light at night\" on presence from camera \"driveway\" target 2157 in zone \"porch\": hold
2026-03-27 22:16:44.624   +83.100s  porch_light  OFF  hold ended; rule \"porch light at night\" on presence from camera \"driveway\" target 2157 in zone \"porch\": hold
";

/// Just enough of the IPC traject format to script the events without the
/// decoder, so this test checks replay's own logic (clock, engine, relay model).
fn scripted_event(post: &Post) -> Event {
    let text = String::from_utf8_lossy(&post.body);
    let item = regex_lite::Regex::new(
        r"(?s)<targetId[^>]*>(\d+)</targetId>.*?<x1[^>]*>(\d+)</x1>\s*<y1[^>]*>(\d+)</y1>\s*<x2[^>]*>(\d+)</x2>\s*<y2[^>]*>(\d+)</y2>.*?<targetType[^>]*>(\w+)</targetType>",
    )
    .unwrap();
    let targets = item
        .captures_iter(&text)
        .map(|c| {
            let n = |i: usize| c[i].parse::<u32>().unwrap();
            Target {
                id: Some(n(1)),
                class: if &c[6] == "person" { TargetClass::Person } else { TargetClass::Vehicle },
                rect: Some(Rect { x1: n(2), y1: n(3), x2: n(4), y2: n(5) }),
            }
        })
        .collect();
    Event {
        dialect: Dialect::Ipc,
        version: Some("1.7".into()),
        device: Device {
            mac: Some("58:5b:69:5f:42:1b".into()),
            name: Some("FaceCam".into()),
            ..Device::default()
        },
        kind: EventKind::Traject,
        smart_type: None,
        time: None,
        status: None,
        event_id: None,
        targets,
        region: None,
        plate: None,
        faces: Vec::new(),
        alarms: Vec::new(),
        images: Vec::new(),
    }
}

#[test]
fn record_names_carry_time_sequence_and_source() {
    let old = RecordName::parse("1774646121524-000017-192.168.1.20.xml").unwrap();
    assert_eq!(
        (old.wall_ms, old.seq, old.source),
        (1_774_646_121_524, 17, Some("192.168.1.20".parse().unwrap()))
    );
    assert_eq!(RecordName::parse("traject.xml"), None);
}

#[test]
fn scripted_porch_walk_prints_the_expected_timeline() {
    let cfg = example();
    let posts = load_posts(&[capture_dir()]).unwrap();
    assert_eq!(posts.len(), 161);
    let inputs: Vec<Input> = posts
        .iter()
        .map(|p| Input {
            label: p.label.clone(),
            wall: Utc.timestamp_millis_opt(p.record.unwrap().timeline_ms()).unwrap(),
            source: p.record.unwrap().source,
            event: Ok(InputKind::Post(scripted_event(p))),
        })
        .collect();
    let tl = replay_inputs(&cfg, &inputs, None);
    assert_eq!(tl.to_text(&cfg.site), EXPECTED);
    // The car (target 2158) never produced a command.
    assert!(tl.commands.iter().all(|c| c.command.why.target == Some(2157)));
    let json = tl.to_json_lines();
    let last = json.lines().rfind(|l| l.contains("\"type\":\"switch\"")).unwrap();
    assert!(last.starts_with("{\"type\":\"switch\",\"at_ms\":83100,"), "{last}");
}

/// The same capture through the real decoder.
#[test]
fn porch_walk_through_the_decoder_prints_the_same_timeline() {
    let cfg = example();
    let posts = load_posts(&[capture_dir()]).unwrap();
    let tl = replay(&cfg, &posts);
    assert_eq!(tl.to_text(&cfg.site), EXPECTED);
}

#[test]
fn files_without_times_follow_file_order_at_100ms_steps() {
    use camrelay::replay::decode_posts;
    let posts: Vec<Post> = ["b.xml", "a.xml", "c.xml"]
        .iter()
        .map(|n| Post { label: n.to_string(), record: None, body: b"not xml at all <".to_vec() })
        .collect();
    let inputs = decode_posts(&posts, &example().site);
    let placed: Vec<(&str, i64)> =
        inputs.iter().map(|i| (i.label.as_str(), i.wall.timestamp_millis())).collect();
    assert_eq!(placed, [("b.xml", 0), ("a.xml", 100), ("c.xml", 200)]);
    let tl = replay_inputs(&example(), &inputs, None);
    assert_eq!((tl.posts, tl.events, tl.errors.len(), tl.transitions.len()), (3, 0, 3, 0));
}

/// Hostile-LAN finding 9: after wall-clock jumps, `record_dir` names were out
/// of order and replay disagreed with the daemon. The porch walk recorded
/// as the daemon names files now, with the wall clock stepped back an hour
/// and then forward two halfway through: replay orders by the receive
/// sequence and times by the monotonic clock, so the timeline is unchanged.
#[test]
fn finding_09_replay_orders_by_receive_sequence_across_a_wall_clock_jump() {
    let original = load_posts(&[capture_dir()]).unwrap();
    let first = original[0].record.unwrap().wall_ms;
    let dir = tempfile::tempdir().unwrap();
    for (i, p) in original.iter().enumerate() {
        let r = p.record.unwrap();
        let mono = (r.wall_ms - first) as u64;
        // What the wall clock said at receive: an hour back from post 60, an hour ahead from post 120.
        let jump: i64 = match i {
            0..=59 => 0,
            60..=119 => -3_600_000,
            _ => 3_600_000,
        };
        let name = RecordName {
            run_ms: Some(first),
            seq: i as u64 + 1,
            mono_ms: Some(mono),
            wall_ms: r.wall_ms + jump,
            source: r.source,
        };
        std::fs::write(dir.path().join(name.to_string()), &p.body).unwrap();
    }
    let posts = load_posts(&[dir.path().to_path_buf()]).unwrap();
    let seqs: Vec<u64> = posts.iter().map(|p| p.record.unwrap().seq).collect();
    assert_eq!(seqs, (1..=161).collect::<Vec<u64>>(), "files read in receive order");
    let cfg = example();
    assert_eq!(replay(&cfg, &posts).to_text(&cfg.site), EXPECTED);
}
