//! The engine, driven with explicit instants: one test per condition, action and edge.

use camrelay::clock::{Instant, Now};
use camrelay::command::{Action, Command};
use camrelay::config::{parse, Config};
use camrelay::decode::{
    Alarm, Device, Dialect, Event, EventKind, Plate, PlateDirection, Rect, SmartStatus, Target, TargetClass,
};
use camrelay::engine::Engine;
use camrelay::words::Retrigger;
use chrono::{DateTime, TimeZone, Utc};
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

const MAC: &str = "58:5b:69:5f:42:1b";

const BASE: &str = r#"
[site]
latitude = 52.52
longitude = 13.405
timezone = "Europe/Berlin"

[[relay]]
name = "porch_light"
line = 17
max_on = "15m"

[[relay]]
name = "gate"
line = 27
max_on = "3s"

[[camera]]
name = "driveway"
mac = "58:5b:69:5f:42:1b"

[[camera]]
name = "lpr"
ip = "192.168.1.21"

[[camera]]
name = "backyard"
nvr = "192.168.1.30"
channel = 3

[[zone]]
name = "porch"
camera = "driveway"
polygon = [[1000, 5000], [6000, 5000], [6000, 10000], [1000, 10000]]
"#;

fn config(rules: &str) -> Config {
    let text = format!("{BASE}\n{rules}");
    match parse(&text, Path::new("test.toml")) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    }
}

/// Noon UTC on 2026-06-21 plus `ms`.
fn at(ms: u64) -> Now {
    at_wall(Utc.with_ymd_and_hms(2026, 6, 21, 12, 0, 0).unwrap(), ms)
}

fn at_wall(base: DateTime<Utc>, ms: u64) -> Now {
    Now { at: Instant::from_millis(ms), wall: base + chrono::Duration::milliseconds(ms as i64) }
}

fn event(kind: EventKind) -> Event {
    let device = Device { mac: Some(MAC.into()), name: Some("FaceCam".into()), ..Device::default() };
    Event { dialect: Dialect::Ipc, version: Some("1.7".into()), ..Event::bare(kind, device) }
}

fn rect(x1: u32, y1: u32, x2: u32, y2: u32) -> Rect {
    Rect { x1, y1, x2, y2 }
}

/// Bottom centre (3500, 9000): inside the porch.
const IN: Rect = Rect { x1: 3000, y1: 6000, x2: 4000, y2: 9000 };
/// Bottom centre (7500, 9000): outside the porch.
const OUT: Rect = Rect { x1: 7000, y1: 6000, x2: 8000, y2: 9000 };

fn traject(targets: &[(u32, TargetClass, Rect)]) -> Event {
    let mut e = event(EventKind::Traject);
    e.targets = targets
        .iter()
        .map(|(id, class, r)| Target { id: Some(*id), class: *class, rect: Some(*r) })
        .collect();
    e
}

fn person(id: u32, r: Rect) -> Event {
    traject(&[(id, TargetClass::Person, r)])
}

fn plate_event(number: &str, list: Option<&str>) -> Event {
    let mut e = event(EventKind::Plate);
    e.device = Device { ip: Some("192.168.1.21".into()), ..Device::default() };
    e.plate = Some(Plate {
        number: number.into(),
        list: list.map(str::to_string),
        confidence: Some(95.0),
        direction: Some(PlateDirection::Approach),
        ..Plate::default()
    });
    e
}

fn hold_until(c: &Command) -> u64 {
    match c.action {
        Action::Hold { until } => until.as_millis(),
        other => panic!("expected a hold, got {other:?}"),
    }
}

const PORCH_HOLD: &str = r#"
[[rule]]
name = "porch"
when = { event = "presence", class = "person", zone = "porch" }
then = { relay = "porch_light", action = "hold", hold = "30s" }
"#;

#[test]
fn entry_at_the_third_in_zone_post_and_not_before() {
    let cfg = config(&format!(
        "{PORCH_HOLD}\n[[rule]]\nname = \"entry\"\nwhen = {{ event = \"zone_entry\", zone = \"porch\" }}\nthen = {{ relay = \"gate\", action = \"pulse\", duration = \"1s\" }}\n"
    ));
    let mut e = Engine::new(&cfg);
    assert!(e.handle(&person(1, OUT), None, at(0)).is_empty(), "outside");
    assert!(e.handle(&person(1, IN), None, at(100)).is_empty(), "1st in-zone post");
    assert!(e.handle(&person(1, IN), None, at(200)).is_empty(), "2nd in-zone post");
    let cmds = e.handle(&person(1, IN), None, at(300));
    let rules: Vec<&str> = cmds.iter().map(|c| c.why.rule.as_str()).collect();
    assert_eq!(rules, ["porch", "entry"], "3rd in-zone post: hold and entry");
    assert_eq!(hold_until(&cmds[0]), 30_300);
    assert_eq!(cmds[1].why.event, "zone_entry");
    assert_eq!(cmds[1].why.zone.as_deref(), Some("porch"));
    // Entry fires once; hold continues on every post.
    let cmds = e.handle(&person(1, IN), None, at(400));
    assert_eq!(cmds.len(), 1);
    assert_eq!(hold_until(&cmds[0]), 30_400);
}

#[test]
fn an_out_of_zone_post_restarts_the_count() {
    let mut e = Engine::new(&config(PORCH_HOLD));
    for (ms, r) in [(0, IN), (100, IN), (200, OUT), (300, IN), (400, IN)] {
        assert!(e.handle(&person(1, r), None, at(ms)).is_empty(), "post at {ms}");
    }
    assert_eq!(e.handle(&person(1, IN), None, at(500)).len(), 1);
}

#[test]
fn a_target_on_the_polygon_edge_is_in_the_zone() {
    let cfg = config(&format!("[presence]\ninertia = 1\n{PORCH_HOLD}"));
    let cases = [
        ("bottom edge", rect(3000, 6000, 4000, 10000), true),
        ("left edge", rect(500, 6000, 1500, 8000), true),
        ("corner", rect(0, 4000, 2000, 5000), true),
        ("just above the top edge", rect(3000, 3000, 4000, 4999), false),
        ("just left of the left edge", rect(0, 6000, 1998, 8000), false),
    ];
    for (what, r, inside) in cases {
        let mut e = Engine::new(&cfg);
        let cmds = e.handle(&person(1, r), None, at(0));
        assert_eq!(!cmds.is_empty(), inside, "{what}: anchor {:?}", r.bottom_center());
    }
}

#[test]
fn hold_is_extended_by_a_second_person() {
    let mut e = Engine::new(&config(&format!("[presence]\ninertia = 1\n{PORCH_HOLD}")));
    let mut last = 0;
    // Person 1 on the porch 0..5 s, person 2 from 3 s to 10 s.
    for ms in (0..=10_000).step_by(100) {
        let mut targets = Vec::new();
        if ms <= 5_000 {
            targets.push((1, TargetClass::Person, IN));
        }
        if ms >= 3_000 {
            targets.push((2, TargetClass::Person, IN));
        }
        let cmds = e.handle(&traject(&targets), None, at(ms));
        // One hold per person present: each claims for itself, so a max_on
        // cut can spend one person's claim and not the next one's.
        let held: Vec<Option<u32>> = cmds.iter().map(|c| c.why.target).collect();
        let expected: Vec<Option<u32>> = targets.iter().map(|(id, _, _)| Some(*id)).collect();
        assert_eq!(held, expected, "at {ms}");
        last = cmds.iter().map(hold_until).max().unwrap();
    }
    assert_eq!(last, 40_000, "30 s after person 2's last post");
}

#[test]
fn release_is_exactly_hold_after_the_last_post() {
    use camrelay::replay::{replay_inputs, Input, InputKind};
    let cfg = config(PORCH_HOLD);
    let base = Utc.with_ymd_and_hms(2026, 6, 21, 12, 0, 0).unwrap();
    let inputs: Vec<Input> = (0..=20)
        .map(|i| Input {
            label: format!("{i}"),
            wall: base + chrono::Duration::milliseconds(i * 150),
            source: None,
            event: Ok(InputKind::Post(person(7, IN))),
        })
        .collect();
    let tl = replay_inputs(&cfg, &inputs, None);
    let switches: Vec<(u64, bool)> = tl.transitions.iter().map(|t| (t.at.as_millis(), t.on)).collect();
    // On at the 3rd post (300 ms); last post at 3000 ms; off 30 s later.
    assert_eq!(switches, [(300, true), (33_000, false)]);
    assert_eq!(
        tl.transitions[1].reason,
        "hold ended; rule \"porch\" on presence from camera \"driveway\" target 7 in zone \"porch\": hold"
    );
}

#[test]
fn pulse_has_its_length_and_retrigger_mode() {
    use camrelay::replay::{replay_inputs, Input, InputKind};
    for (retrigger, expected_off) in [("single", 1_000), ("restart", 1_500)] {
        let cfg = config(&format!(
            "[[rule]]\nname = \"gate\"\nwhen = {{ event = \"plate\" }}\nthen = {{ relay = \"gate\", action = \"pulse\", duration = \"1s\", retrigger = \"{retrigger}\" }}\n"
        ));
        let base = Utc.with_ymd_and_hms(2026, 6, 21, 12, 0, 0).unwrap();
        let inputs: Vec<Input> = [0, 500]
            .iter()
            .map(|ms| Input {
                label: String::new(),
                wall: base + chrono::Duration::milliseconds(*ms),
                source: None,
                event: Ok(InputKind::Post(plate_event("B AB 123", None))),
            })
            .collect();
        let tl = replay_inputs(&cfg, &inputs, None);
        let cmd = &tl.commands[0].command;
        assert_eq!(
            cmd.action,
            Action::Pulse {
                duration: Duration::from_secs(1),
                retrigger: if retrigger == "single" { Retrigger::Single } else { Retrigger::Restart }
            }
        );
        let switches: Vec<(u64, bool)> = tl.transitions.iter().map(|t| (t.at.as_millis(), t.on)).collect();
        assert_eq!(switches, [(0, true), (expected_off, false)], "retrigger {retrigger}");
    }
}

#[test]
fn cooldown_per_rule() {
    let cfg = config(
        "[[rule]]\nname = \"gate\"\nwhen = { event = \"plate\" }\nthen = { relay = \"gate\", action = \"pulse\", duration = \"1s\", cooldown = \"10s\" }\n",
    );
    let mut e = Engine::new(&cfg);
    let fired: Vec<bool> = [(0, "A1"), (5_000, "B2"), (9_999, "C3"), (10_000, "A1"), (15_000, "B2")]
        .iter()
        .map(|(ms, p)| !e.handle(&plate_event(p, None), None, at(*ms)).is_empty())
        .collect();
    assert_eq!(fired, [true, false, false, true, false]);
    assert_eq!(e.counters()[0].matched, 5);
    assert_eq!(e.counters()[0].commands, 2);
}

#[test]
fn cooldown_per_plate_lets_the_next_car_through() {
    let cfg = config(
        "[[rule]]\nname = \"gate\"\nwhen = { event = \"plate\" }\nthen = { relay = \"gate\", action = \"pulse\", duration = \"1s\", plate_cooldown = \"30s\" }\n",
    );
    let mut e = Engine::new(&cfg);
    let posts =
        [(0, "B-AB 123"), (1_000, "bab123"), (6_000, "M XY 9"), (29_999, "BAB 123"), (30_000, "B AB123")];
    let fired: Vec<Option<String>> = posts
        .iter()
        .map(|(ms, p)| {
            e.handle(&plate_event(p, None), None, at(*ms)).first().and_then(|c| c.why.plate.clone())
        })
        .collect();
    assert_eq!(fired, [Some("BAB123".into()), None, Some("MXY9".into()), None, Some("BAB123".into())]);
}

fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> Now {
    let wall = chrono_tz::Europe::Berlin.with_ymd_and_hms(y, m, d, h, min, 0).unwrap().with_timezone(&Utc);
    Now { at: Instant::from_millis(0), wall }
}

#[test]
fn schedule_across_midnight_with_days() {
    let cfg = config(
        "[[rule]]\nname = \"night\"\nwhen = { event = \"intrusion\", after = \"22:00\", before = \"06:00\", days = [\"fri\"] }\nthen = { relay = \"gate\", action = \"pulse\", duration = \"1s\" }\n",
    );
    // 2026-03-27 is a Friday; 2026-03-29 the switch to summer time.
    let cases = [
        (local(2026, 3, 27, 21, 59), false, "Friday before the window"),
        (local(2026, 3, 27, 22, 0), true, "Friday 22:00"),
        (local(2026, 3, 28, 3, 0), true, "Saturday 03:00, window started Friday"),
        (local(2026, 3, 28, 5, 59), true, "Saturday 05:59"),
        (local(2026, 3, 28, 6, 0), false, "Saturday 06:00: window ended"),
        (local(2026, 3, 28, 22, 30), false, "Saturday night is not Friday"),
        (local(2026, 3, 26, 23, 0), false, "Thursday night"),
    ];
    for (now, expected, what) in cases {
        let mut e = Engine::new(&cfg);
        assert_eq!(!e.handle(&event(EventKind::Intrusion), None, now).is_empty(), expected, "{what}");
    }
}

#[test]
fn schedule_around_sunset_for_a_fixed_site_and_date() {
    // Berlin, 2026-06-21: sunset 21:32:54, sunrise 04:43:28 (CEST).
    let cfg = config(
        "[[rule]]\nname = \"dark\"\nwhen = { event = \"intrusion\", after = \"sunset-30m\", before = \"sunrise+15m\" }\nthen = { relay = \"gate\", action = \"pulse\", duration = \"1s\" }\n",
    );
    let cases = [
        (local(2026, 6, 21, 21, 1), false, "31 min before sunset"),
        (local(2026, 6, 21, 21, 4), true, "28 min before sunset"),
        (local(2026, 6, 22, 2, 0), true, "middle of the night"),
        (local(2026, 6, 22, 4, 57), true, "14 min after sunrise"),
        (local(2026, 6, 22, 5, 0), false, "17 min after sunrise"),
        (local(2026, 6, 22, 12, 0), false, "noon"),
    ];
    for (now, expected, what) in cases {
        let mut e = Engine::new(&cfg);
        assert_eq!(!e.handle(&event(EventKind::Intrusion), None, now).is_empty(), expected, "{what}");
    }
}

#[test]
fn two_rules_on_one_relay_keep_it_on_while_either_holds() {
    use camrelay::replay::{replay_inputs, Input, InputKind};
    let cfg = config(&format!(
        "{PORCH_HOLD}\n[[rule]]\nname = \"cars\"\nwhen = {{ event = \"presence\", class = \"vehicle\" }}\nthen = {{ relay = \"porch_light\", action = \"hold\", hold = \"1m\" }}\n"
    ));
    let base = Utc.with_ymd_and_hms(2026, 6, 21, 12, 0, 0).unwrap();
    let mut inputs = Vec::new();
    // A car passes outside the zone at 0..1 s; a person is on the porch 10..12 s.
    for ms in (0..=1_000).step_by(200) {
        inputs.push((ms, traject(&[(5, TargetClass::Vehicle, OUT)])));
    }
    for ms in (10_000..=12_000).step_by(200) {
        inputs.push((ms, person(6, IN)));
    }
    let inputs: Vec<Input> = inputs
        .into_iter()
        .map(|(ms, ev)| Input {
            label: String::new(),
            wall: base + chrono::Duration::milliseconds(ms),
            source: None,
            event: Ok(InputKind::Post(ev)),
        })
        .collect();
    let tl = replay_inputs(&cfg, &inputs, None);
    let switches: Vec<(u64, bool, &str)> =
        tl.transitions.iter().map(|t| (t.at.as_millis(), t.on, t.reason.as_str())).collect();
    // The car's hold (until 61 s) outlasts the person's (12.0 + 30 = 42 s).
    assert_eq!(
        switches,
        [
            (0, true, "rule \"cars\" on presence from camera \"driveway\" target 5: hold"),
            (61_000, false, "hold ended; rule \"cars\" on presence from camera \"driveway\" target 5: hold")
        ]
    );
    let porch: Vec<u64> = tl
        .commands
        .iter()
        .filter(|c| c.command.why.rule == "porch")
        .map(|c| hold_until(&c.command))
        .collect();
    assert_eq!(porch.last(), Some(&42_000));
}

#[test]
fn derived_zone_exit_on_leaving_and_on_timeout() {
    let cfg = config(
        "[[rule]]\nname = \"exit\"\nwhen = { event = \"zone_exit\", zone = \"porch\" }\nthen = { relay = \"gate\", action = \"pulse\", duration = \"1s\" }\n",
    );
    let mut e = Engine::new(&cfg);
    for ms in [0, 100, 200] {
        assert!(e.handle(&person(1, IN), None, at(ms)).is_empty());
    }
    assert!(e.handle(&person(1, OUT), None, at(300)).is_empty());
    assert!(e.handle(&person(1, OUT), None, at(400)).is_empty());
    let cmds = e.handle(&person(1, OUT), None, at(500));
    assert_eq!(cmds.len(), 1, "third out-of-zone post");
    assert_eq!(cmds[0].why.event, "zone_exit");

    // Person 2 stops being posted while inside: gone after target_timeout (2 s).
    for ms in [1_000, 1_100, 1_200] {
        e.handle(&person(2, IN), None, at(ms));
    }
    // Person 1 (last seen at 500, already out of the zone) goes first, silently.
    assert_eq!(e.next_deadline(), Some(Instant::from_millis(2_500)));
    assert!(e.tick(at(2_500)).is_empty());
    assert_eq!(e.next_deadline(), Some(Instant::from_millis(3_200)));
    assert!(e.tick(at(3_199)).is_empty());
    let cmds = e.tick(at(3_200));
    assert_eq!(cmds.len(), 1);
    assert_eq!((cmds[0].why.target, cmds[0].why.zone.as_deref()), (Some(2), Some("porch")));
    assert_eq!(e.next_deadline(), None);
}

#[test]
fn camera_zone_entry_posts_fire_zone_entry_rules() {
    let cfg = config(
        "[[rule]]\nname = \"entry\"\nwhen = { event = \"zone_entry\", class = \"person\" }\nthen = { relay = \"gate\", action = \"pulse\", duration = \"1s\" }\n",
    );
    let mut e = Engine::new(&cfg);
    let mut ev = event(EventKind::ZoneEntry);
    ev.targets = vec![Target { id: Some(9), class: TargetClass::Person, rect: Some(IN) }];
    let cmds = e.handle(&ev, None, at(0));
    assert_eq!(cmds.len(), 1);
    assert_eq!((cmds[0].why.event.as_str(), cmds[0].why.target), ("zone_entry", Some(9)));
    // A SMART_STOP closes an event already reported: it fires nothing.
    ev.status = Some(SmartStatus::Stop);
    assert!(e.handle(&ev, None, at(100)).is_empty());
}

#[test]
fn dwell_delays_the_hold() {
    let cfg = config(
        "[presence]\ninertia = 1\n[[rule]]\nname = \"dwell\"\nwhen = { event = \"presence\", zone = \"porch\", dwell = \"2s\" }\nthen = { relay = \"porch_light\", action = \"hold\", hold = \"10s\" }\n",
    );
    let mut e = Engine::new(&cfg);
    let first = (0..=3_000).step_by(500).find(|ms| !e.handle(&person(1, IN), None, at(*ms)).is_empty());
    assert_eq!(first, Some(2_000));
}

#[test]
fn target_conditions_class_area_and_aspect() {
    let cfg = config(
        "[presence]\ninertia = 1\n[[rule]]\nname = \"tall people\"\nwhen = { event = \"presence\", class = [\"person\", \"motor\"], min_area = 0.01, max_area = 0.5, max_aspect = 0.6 }\nthen = { relay = \"porch_light\", action = \"hold\", hold = \"10s\" }\n",
    );
    let cases = [
        (TargetClass::Person, rect(3000, 6000, 4000, 9000), true), // area 0.03, aspect 0.33
        (TargetClass::Vehicle, rect(3000, 6000, 4000, 9000), false), // class
        (TargetClass::Motor, rect(3000, 6000, 4000, 9000), true),
        (TargetClass::Person, rect(3000, 6000, 3500, 7000), false), // area 0.005
        (TargetClass::Person, rect(0, 0, 10000, 9000), false),      // area 0.9
        (TargetClass::Person, rect(3000, 6000, 6000, 9000), false), // aspect 1.0
    ];
    for (class, r, expected) in cases {
        let mut e = Engine::new(&cfg);
        assert_eq!(
            !e.handle(&traject(&[(1, class, r)]), None, at(0)).is_empty(),
            expected,
            "{class:?} {r:?}"
        );
    }
}

#[test]
fn plate_conditions() {
    let cfg = config(
        r#"
[[rule]]
name = "listed"
when = { event = "plate", plate = ["B AB 123", "m-xy-9"], plate_group = ["whiteList", "Residents"], direction = "approach", min_confidence = 90 }
then = { relay = "gate", action = "pulse", duration = "1s" }

[[rule]]
name = "pattern"
when = { event = "plate", plate_pattern = "^HH[A-Z]+7$" }
then = { relay = "gate", action = "pulse", duration = "1s" }
"#,
    );
    let fires = |p: Plate| -> Vec<String> {
        let mut e = Engine::new(&cfg);
        let mut ev = plate_event("", None);
        ev.plate = Some(p);
        e.handle(&ev, None, at(0)).into_iter().map(|c| c.why.rule).collect()
    };
    let good = Plate {
        number: "bab123".into(),
        list: Some("whitelist".into()),
        confidence: Some(95.0),
        direction: Some(PlateDirection::Approach),
        ..Plate::default()
    };
    assert_eq!(fires(good.clone()), ["listed"]);
    assert_eq!(fires(Plate { group: Some("Residents".into()), list: None, ..good.clone() }), ["listed"]);
    assert!(fires(Plate { list: Some("blackList".into()), ..good.clone() }).is_empty());
    assert!(fires(Plate { direction: Some(PlateDirection::Leave), ..good.clone() }).is_empty());
    assert!(fires(Plate { confidence: Some(80.0), ..good.clone() }).is_empty());
    assert!(
        fires(Plate { confidence: None, ..good.clone() }).is_empty(),
        "no confidence fails min_confidence"
    );
    assert!(fires(Plate { number: "BAB124".into(), ..good.clone() }).is_empty());
    assert_eq!(fires(Plate { number: "HH AB 7".into(), ..Plate::default() }), ["pattern"]);
}

#[test]
fn alarm_by_name_and_state_and_camera_offline() {
    let cfg = config(
        r#"
[[rule]]
name = "perimeter on"
when = { event = "alarm", alarm = "perimeterAlarm" }
then = { relay = "gate", action = "pulse", duration = "1s" }

[[rule]]
name = "motion off"
when = { event = "alarm", alarm = ["motionAlarm"], alarm_state = false }
then = { relay = "gate", action = "off" }

[[rule]]
name = "backyard offline"
when = { event = "camera_offline", camera = "backyard" }
then = { relay = "porch_light", action = "on" }
"#,
    );
    let mut e = Engine::new(&cfg);
    let mut ev = event(EventKind::AlarmStatus);
    ev.alarms = vec![
        Alarm { name: "perimeterAlarm".into(), id: Some(1), active: true },
        Alarm { name: "motionAlarm".into(), id: Some(1), active: true },
    ];
    let rules = |cmds: Vec<Command>| cmds.into_iter().map(|c| (c.why.rule, c.why.event)).collect::<Vec<_>>();
    assert_eq!(
        rules(e.handle(&ev, None, at(0))),
        [("perimeter on".into(), "alarm perimeterAlarm=true".into())]
    );
    ev.alarms = vec![Alarm { name: "motionAlarm".into(), id: Some(1), active: false }];
    assert_eq!(
        rules(e.handle(&ev, None, at(100))),
        [("motion off".into(), "alarm motionAlarm=false".into())]
    );

    // The NVR reports its channel 3 lost.
    let mut nvr = event(EventKind::AlarmStatus);
    nvr.dialect = Dialect::Nvr;
    nvr.device = Device { ip: Some("192.168.1.30".into()), ..Device::default() };
    nvr.alarms = vec![Alarm { name: "chlOfflineAlarm".into(), id: Some(3), active: true }];
    assert_eq!(rules(e.handle(&nvr, None, at(200))), [("backyard offline".into(), "camera_offline".into())]);
    nvr.alarms[0].id = Some(4);
    assert!(e.handle(&nvr, None, at(300)).is_empty(), "channel 4 is not the backyard");

    // The daemon's own offline event for a device behind the NVR.
    let mut off = event(EventKind::DeviceOffline);
    off.device = Device { ip: Some("192.168.1.30".into()), channel: Some(3), ..Device::default() };
    assert_eq!(rules(e.handle(&off, None, at(400))), [("backyard offline".into(), "camera_offline".into())]);
}

#[test]
fn cameras_match_by_source_address_and_channel() {
    let cfg = config(
        r#"
[[rule]]
name = "lpr only"
when = { event = "plate", camera = "lpr" }
then = { relay = "gate", action = "pulse", duration = "1s" }

[[rule]]
name = "channel 3"
when = { event = "intrusion", channel = 3 }
then = { relay = "gate", action = "pulse", duration = "1s" }
"#,
    );
    let mut e = Engine::new(&cfg);
    let mut ev = plate_event("AB1", None);
    ev.device = Device::default();
    assert!(e.handle(&ev, None, at(0)).is_empty(), "unknown device");
    let src: IpAddr = "192.168.1.21".parse().unwrap();
    let cmds = e.handle(&ev, Some(src), at(100));
    assert_eq!(cmds[0].why.camera.as_deref(), Some("lpr"), "matched by the post's source address");

    let mut intr = event(EventKind::Intrusion);
    intr.device = Device { ip: Some("192.168.1.30".into()), channel: Some(3), ..Device::default() };
    let cmds = e.handle(&intr, None, at(200));
    assert_eq!(cmds[0].why.camera.as_deref(), Some("backyard"));
    intr.device.channel = Some(2);
    assert!(e.handle(&intr, None, at(300)).is_empty());
}

#[test]
fn edge_triggered_actions_fire_once_per_target() {
    let cfg = config(
        "[presence]\ninertia = 1\n[[rule]]\nname = \"pulse\"\nwhen = { event = \"presence\", zone = \"porch\" }\nthen = { relay = \"gate\", action = \"pulse\", duration = \"1s\" }\n",
    );
    let mut e = Engine::new(&cfg);
    let fired: Vec<usize> = [(1, IN), (1, IN), (1, OUT), (1, IN), (2, IN)]
        .iter()
        .enumerate()
        .map(|(i, (id, r))| e.handle(&person(*id, *r), None, at(i as u64 * 100)).len())
        .collect();
    assert_eq!(fired, [1, 0, 0, 1, 1]);
}

#[test]
fn every_command_explains_itself() {
    let mut e = Engine::new(&config(&format!("[presence]\ninertia = 1\n{PORCH_HOLD}")));
    let cmds = e.handle(&person(42, IN), None, at(0));
    assert_eq!(
        cmds[0].why.to_string(),
        "rule \"porch\" on presence from camera \"driveway\" target 42 in zone \"porch\""
    );
    assert_eq!(cmds[0].relay, "porch_light");
}

#[test]
fn reload_keeps_presence_for_cameras_that_remain() {
    let cfg = config(PORCH_HOLD);
    let mut e = Engine::new(&cfg);
    for ms in [0, 100, 200] {
        e.handle(&person(1, IN), None, at(ms));
    }
    // Same camera and zone, a new rule name for the same job, plus a counter check.
    let cfg2 = config(&PORCH_HOLD.replace("hold = \"30s\"", "hold = \"45s\""));
    e.reload(&cfg2);
    let cmds = e.handle(&person(1, IN), None, at(300));
    assert_eq!(hold_until(&cmds[0]), 45_300, "still in the zone: no new inertia after reload");
    assert_eq!(e.counters()[0].matched, 2, "counters survive a reload under the same rule name");

    let no_camera =
        parse("[[relay]]\nname = \"porch_light\"\nline = 17\nmax_on = \"15m\"\n", Path::new("x.toml"))
            .unwrap();
    e.reload(&no_camera);
    assert_eq!(e.next_deadline(), None, "tracks of a removed camera are dropped");
}

/// Hostile-LAN finding 5, in the engine: a client inventing target ids
/// cannot grow the tracks past MAX_TRACKS_PER_CAMERA; the ones ignored are
/// counted, a target already tracked keeps working, and all of it is freed
/// when the tracks time out.
#[test]
fn finding_05_memory_tracks_per_camera_are_bounded_and_freed() {
    let cfg = config(
        r#"
[[rule]]
name = "porch"
when = { event = "presence", class = "person", zone = "porch" }
then = { relay = "porch_light", action = "hold", hold = "30s" }
"#,
    );
    let mut engine = Engine::new(&cfg);
    let max = camrelay::engine::MAX_TRACKS_PER_CAMERA as u32;
    for post in 0..40u32 {
        let targets: Vec<(u32, TargetClass, Rect)> =
            (0..200).map(|i| (post * 200 + i, TargetClass::Person, OUT)).collect();
        engine.handle(&traject(&targets), None, at(u64::from(post)));
    }
    assert_eq!(engine.tracked_targets(), max as usize);
    assert_eq!(engine.ignored_targets(), 40 * 200 - u64::from(max));
    // A target already tracked still drives its rule (three posts: inertia).
    for t in 0..3 {
        engine.handle(&person(5, IN), None, at(100 + t));
    }
    let commands = engine.handle(&person(5, IN), None, at(103));
    assert!(commands.iter().any(|c| c.relay == "porch_light"), "{commands:?}");
    engine.tick(at(60_000));
    assert_eq!(engine.tracked_targets(), 0, "every track timed out and was freed");
}

/// Rules for real scenes (issue 13), the misread plate: a listed `A8C1234`
/// read as `ABC1234`, `A8CI234` and `ABCI234` within 7.5 s. With
/// `plate_distance = 1` each read matches the listed plate, and
/// `plate_cooldown` keys on that plate, so a one-button opener is pressed once.
#[test]
fn misread_plates_match_the_listed_plate_and_cool_down_on_it() {
    let cfg = config(
        r#"
[[rule]]
name = "gate"
when = { event = "plate", camera = "lpr", plate = ["A8C1234"], plate_distance = 1 }
then = { relay = "gate", action = "pulse", duration = "1s", plate_cooldown = "30s" }
"#,
    );
    let mut e = Engine::new(&cfg);
    let fired: Vec<Option<String>> =
        [(0, "ABC1234"), (2_500, "A8CI234"), (5_000, "ABCI234"), (7_500, "ABC1234")]
            .iter()
            .flat_map(|(ms, p)| e.handle(&plate_event(p, None), None, at(*ms)))
            .map(|c| c.why.plate)
            .collect();
    assert_eq!(fired, vec![Some("A8C1234".to_string())], "one press, named by the listed plate");
    assert_eq!(e.take_unfired().iter().filter(|u| u.reason == "plate_cooldown").count(), 3);
    // Too far: an ordinary substitution and a confusion (1.5 > 1).
    let commands = e.handle(&plate_event("XBC1234", None), None, at(60_000));
    assert!(commands.is_empty(), "{commands:?}");
    // Exact stays the default.
    let exact = config(
        r#"
[[rule]]
name = "gate"
when = { event = "plate", camera = "lpr", plate = ["A8C1234"] }
then = { relay = "gate", action = "pulse", duration = "1s" }
"#,
    );
    assert!(Engine::new(&exact).handle(&plate_event("ABC1234", None), None, at(0)).is_empty());
}

#[test]
fn occupancy_counts_each_class_per_zone_and_an_area_as_its_busiest_camera() {
    let mut e = Engine::new(&config(
        r#"[presence]
inertia = 1

[[zone]]
name = "drive"
camera = "driveway"
polygon = [[0, 0], [10000, 0], [10000, 4000], [0, 4000]]

[[area]]
name = "front"
zones = ["porch", "drive"]
"#,
    ));
    let high = rect(3000, 1000, 4000, 3000);
    e.handle(
        &traject(&[
            (1, TargetClass::Person, IN),
            (2, TargetClass::Person, IN),
            (3, TargetClass::Vehicle, high),
        ]),
        None,
        at(0),
    );
    let o = e.occupancy();
    let of = |name: &str| o.iter().find(|x| x.place == name).map(|x| (x.area, x.counts)).unwrap();
    assert_eq!(of("porch"), (false, [2, 0, 0, 0]));
    assert_eq!(of("drive"), (false, [0, 1, 0, 0]));
    assert_eq!(of("front"), (true, [2, 1, 0, 0]), "one camera sees all three");
    // The names come only for what changed: counts and names line up.
    let mut counts = Vec::new();
    e.place_counts(&mut counts);
    assert_eq!(counts.len(), 3);
    assert_eq!(e.place(2), Some(("front", true)));
    assert_eq!(e.place(3), None);
    // Everyone leaves the zones: all counts go to zero.
    e.handle(&traject(&[(1, TargetClass::Person, OUT), (2, TargetClass::Person, OUT)]), None, at(100));
    let o = e.occupancy();
    assert_eq!(o.iter().find(|x| x.place == "porch").unwrap().counts, [0, 0, 0, 0]);
    assert_eq!(
        o.iter().find(|x| x.place == "front").unwrap().counts,
        [0, 1, 0, 0],
        "the car is still up the drive"
    );
}
