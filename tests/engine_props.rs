//! Properties of the engine over random event sequences, and of the zone geometry
//! against an independent floating-point implementation.

use camrelay::clock::{Instant, Now};
use camrelay::command::{Action, Command};
use camrelay::config::{parse, Config};
use camrelay::decode::{Device, Dialect, Event, EventKind, Plate, Point, Rect, Target, TargetClass};
use camrelay::engine::{geometry, Engine};
use camrelay::replay::{replay_inputs, Input, InputKind};
use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use std::path::Path;
use std::time::Duration;

const RULES: &str = r#"
[site]
latitude = 52.52
longitude = 13.405
timezone = "Europe/Berlin"

[presence]
inertia = 2

[[relay]]
name = "light"
line = 17
max_on = "2m"

[[relay]]
name = "gate"
line = 27
max_on = "3s"

[[relay]]
name = "latch"
line = 22
max_on = "10s"

[[camera]]
name = "cam"
mac = "58:5b:69:5f:42:1b"

[[zone]]
name = "porch"
camera = "cam"
polygon = [[1000, 5000], [6000, 5000], [6000, 10000], [1000, 10000]]

[[zone]]
name = "path"
camera = "cam"
polygon = [[5000, 0], [9000, 0], [9000, 9000]]
anchor = "center"

[[rule]]
name = "porch"
when = { event = "presence", class = "person", zone = "porch" }
then = { relay = "light", action = "hold", hold = "30s" }

[[rule]]
name = "path"
when = { event = "presence", zone = "path", dwell = "1s" }
then = { relay = "light", action = "hold", hold = "1m" }

[[rule]]
name = "entry"
when = { event = ["zone_entry", "zone_exit"], zone = "porch" }
then = { relay = "gate", action = "pulse", duration = "1s", retrigger = "restart" }

[[rule]]
name = "plates"
when = { event = "plate" }
then = { relay = "gate", action = "pulse", duration = "2s", plate_cooldown = "5s" }

[[rule]]
name = "intrusion latch"
when = { event = "intrusion", after = "sunset", before = "sunrise" }
then = { relay = "latch", action = "toggle" }
"#;

fn config() -> Config {
    parse(RULES, Path::new("props.toml")).unwrap()
}

/// Longest time any rule of `RULES` keeps a relay on past its last command.
const LONGEST_CLAIM_MS: u64 = 60_000;

#[derive(Debug, Clone)]
enum Step {
    Traject(Vec<(u32, u8, [u32; 4])>),
    Plate(u8),
    Intrusion,
}

fn step() -> impl Strategy<Value = Step> {
    let target = (0u32..4, 0u8..3, [0u32..=10_000, 0u32..=10_000, 0u32..=10_000, 0u32..=10_000]);
    prop_oneof![
        6 => prop::collection::vec(target, 0..3).prop_map(Step::Traject),
        1 => (0u8..3).prop_map(Step::Plate),
        1 => Just(Step::Intrusion),
    ]
}

fn to_event(s: &Step) -> Event {
    let device = Device { mac: Some("58:5b:69:5f:42:1b".into()), ..Device::default() };
    let mut e = Event { dialect: Dialect::Ipc, ..Event::bare(EventKind::Traject, device) };
    match s {
        Step::Traject(ts) => {
            e.targets = ts
                .iter()
                .map(|(id, c, r)| Target {
                    id: Some(*id),
                    class: [TargetClass::Person, TargetClass::Vehicle, TargetClass::Motor][*c as usize],
                    rect: Some(Rect {
                        x1: r[0].min(r[2]),
                        y1: r[1].min(r[3]),
                        x2: r[0].max(r[2]),
                        y2: r[1].max(r[3]),
                    }),
                })
                .collect()
        }
        Step::Plate(n) => {
            e.kind = EventKind::Plate;
            e.plate = Some(Plate { number: ["AB1", "CD2", "EF3"][*n as usize].into(), ..Plate::default() });
        }
        Step::Intrusion => e.kind = EventKind::Intrusion,
    }
    e
}

fn run(steps: &[(u64, Step)], start_hour: u32) -> Vec<(u64, Command)> {
    let base = Utc.with_ymd_and_hms(2026, 6, 21, start_hour, 0, 0).unwrap();
    let mut e = Engine::new(&config());
    let mut out = Vec::new();
    let mut t = 0u64;
    for (dt, s) in steps {
        t += dt;
        let now = Now { at: Instant::from_millis(t), wall: base + chrono::Duration::milliseconds(t as i64) };
        if let Some(d) = e.next_deadline() {
            if d.as_millis() <= t {
                let tick = Now { at: d, wall: base + chrono::Duration::milliseconds(d.as_millis() as i64) };
                out.extend(e.tick(tick).into_iter().map(|c| (d.as_millis(), c)));
            }
        }
        out.extend(e.handle(&to_event(s), None, now).into_iter().map(|c| (t, c)));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn the_engine_is_deterministic(steps in prop::collection::vec((0u64..3_000, step()), 1..120), hour in 0u32..24) {
        prop_assert_eq!(run(&steps, hour), run(&steps, hour));
    }

    /// Every command that switches on carries its own end (a hold deadline in
    /// the future, a pulse length) or is a latch the relay's max_on bounds; and
    /// in the replayed timeline every on-interval ends within max_on and within
    /// the longest claim after the last command that kept it on.
    #[test]
    fn nothing_stays_on_without_a_deadline(steps in prop::collection::vec((0u64..3_000, step()), 1..120), hour in 0u32..24) {
        let cfg = config();
        for (t, c) in run(&steps, hour) {
            match c.action {
                Action::Hold { until } => {
                    prop_assert!(until.as_millis() > t && until.as_millis() <= t + LONGEST_CLAIM_MS);
                }
                Action::Pulse { duration, .. } => prop_assert!(duration > Duration::ZERO && duration <= Duration::from_secs(2)),
                Action::On | Action::Toggle => prop_assert_eq!(c.relay.as_str(), "latch"),
                Action::Off => {}
                Action::Blink { .. } => prop_assert!(false, "no blink rule in this config"),
            }
        }
        let base = Utc.with_ymd_and_hms(2026, 6, 21, hour, 0, 0).unwrap();
        let mut t = 0i64;
        let inputs: Vec<Input> = steps.iter().map(|(dt, s)| {
            t += *dt as i64;
            Input { label: String::new(), wall: base + chrono::Duration::milliseconds(t), source: None, event: Ok(InputKind::Post(to_event(s))) }
        }).collect();
        let tl = replay_inputs(&cfg, &inputs, None);
        for relay in &cfg.relays {
            let switches: Vec<_> = tl.transitions.iter().filter(|x| x.relay == relay.name).collect();
            prop_assert!(!matches!(switches.last(), Some(x) if x.on), "{} ends off", relay.name);
            for pair in switches.chunks(2) {
                prop_assert!(pair[0].on && !pair[1].on, "alternating on/off");
                let (on, off) = (pair[0].at.as_millis(), pair[1].at.as_millis());
                prop_assert!(off - on <= relay.max_on.as_millis() as u64, "{} on {on}..{off} beyond max_on", relay.name);
                let last_cmd = tl.commands.iter()
                    .filter(|c| c.command.relay == relay.name && c.at.as_millis() >= on && c.at.as_millis() <= off)
                    .map(|c| c.at.as_millis()).max().unwrap_or(on);
                prop_assert!(off <= last_cmd + LONGEST_CLAIM_MS.max(relay.max_on.as_millis() as u64));
            }
        }
    }
}

/// Winding number over f64: the textbook reference, independent of the
/// integer even-odd code under test.
fn winding_number(p: (f64, f64), poly: &[(f64, f64)]) -> i32 {
    let mut wn = 0;
    let n = poly.len();
    for i in 0..n {
        let (a, b) = (poly[i], poly[(i + 1) % n]);
        let is_left = (b.0 - a.0) * (p.1 - a.1) - (p.0 - a.0) * (b.1 - a.1);
        if a.1 <= p.1 {
            if b.1 > p.1 && is_left > 0.0 {
                wn += 1;
            }
        } else if b.1 <= p.1 && is_left < 0.0 {
            wn -= 1;
        }
    }
    wn
}

/// Star-shaped (so simple) polygons around a centre, with random radii.
fn polygon() -> impl Strategy<Value = Vec<Point>> {
    (2000u32..8000, 2000u32..8000, prop::collection::vec((0u32..3600, 200u32..2000), 3..12)).prop_map(
        |(cx, cy, spokes)| {
            let mut spokes = spokes;
            spokes.sort_by_key(|(a, _)| *a);
            spokes.dedup_by_key(|(a, _)| *a);
            let mut pts: Vec<Point> = spokes
                .iter()
                .map(|(a, r)| {
                    let ang = (*a as f64 / 10.0).to_radians();
                    Point {
                        x: (cx as f64 + *r as f64 * ang.cos()).round().clamp(0.0, 10_000.0) as u32,
                        y: (cy as f64 + *r as f64 * ang.sin()).round().clamp(0.0, 10_000.0) as u32,
                    }
                })
                .collect();
            pts.dedup();
            pts
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn point_in_polygon_agrees_with_winding_number(poly in polygon(), x in 0u32..=10_000, y in 0u32..=10_000) {
        prop_assume!(poly.len() >= 3 && geometry::self_intersection(&poly).is_none());
        let p = Point { x, y };
        let n = poly.len();
        let on_edge = (0..n).any(|i| geometry::on_segment(p, poly[i], poly[(i + 1) % n]));
        let ours = geometry::point_in_polygon(p, &poly);
        if on_edge {
            prop_assert!(ours, "points on an edge are in the zone");
        } else {
            let f: Vec<(f64, f64)> = poly.iter().map(|q| (q.x as f64, q.y as f64)).collect();
            prop_assert_eq!(ours, winding_number((x as f64, y as f64), &f) != 0);
        }
    }

    #[test]
    fn vertices_and_edge_midpoints_are_inside(poly in polygon()) {
        prop_assume!(poly.len() >= 3 && geometry::self_intersection(&poly).is_none());
        for (i, v) in poly.iter().enumerate() {
            prop_assert!(geometry::point_in_polygon(*v, &poly));
            let w = poly[(i + 1) % poly.len()];
            if (v.x + w.x) % 2 == 0 && (v.y + w.y) % 2 == 0 {
                let mid = Point { x: (v.x + w.x) / 2, y: (v.y + w.y) / 2 };
                prop_assert!(geometry::point_in_polygon(mid, &poly));
            }
        }
    }
}
