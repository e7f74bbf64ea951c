//! Engine cost per traject event (50 rules, 20 zones, 4 areas, stationary and
//! occupancy tracking) and replay throughput.
//!
//! `cargo bench --bench engine`. The replay of 100,000 posts is measured twice:
//! with events built in memory (engine, virtual clock and relay model only),
//! and through `decode()` from XML bodies (meaningful once the decoder is in).

use camrelay::clock::{Instant, Now};
use camrelay::config::{parse, Config};
use camrelay::decode::{Device, Dialect, Event, EventKind, Rect, Target, TargetClass};
use camrelay::engine::Engine;
use camrelay::replay::{replay, replay_inputs, Input, InputKind, Post};
use chrono::{TimeZone, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use std::fmt::Write as _;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

fn big_config() -> Config {
    let mut s =
        String::from("[site]\nlatitude = 52.52\nlongitude = 13.405\ntimezone = \"Europe/Berlin\"\n\n");
    for r in 0..8 {
        let _ = writeln!(s, "[[relay]]\nname = \"r{r}\"\nline = {r}\nmax_on = \"15m\"\n");
    }
    for c in 0..4 {
        // Each also recorded by an NVR that forwards its detections: one
        // camera with two sources, de-duplication on (issue 25).
        let _ = writeln!(
            s,
            "[[camera]]\nname = \"cam{c}\"\nmac = \"58:5b:69:5f:42:{c:02x}\"\nnvr = \"192.168.1.30\"\nchannel = {}\n",
            c + 1
        );
    }
    for z in 0..20u32 {
        let (x, y) = ((z % 5) * 2000, (z / 5) * 2500);
        let _ = writeln!(
            s,
            "[[zone]]\nname = \"z{z}\"\ncamera = \"cam{}\"\npolygon = [[{x}, {y}], [{}, {y}], [{}, {}], [{}, {}], [{x}, {}]]\n",
            z % 4,
            x + 2000,
            x + 2000,
            y + 2500,
            x + 1000,
            y + 2000,
            y + 2500
        );
    }
    // Four areas, each five zones over all four cameras: occupancy counts them all.
    for a in 0..4u32 {
        let zones: Vec<String> = (0..5).map(|i| format!("\"z{}\"", a * 5 + i)).collect();
        let _ = writeln!(s, "[[area]]\nname = \"area{a}\"\nzones = [{}]\n", zones.join(", "));
    }
    for r in 0..50u32 {
        let relay = r % 8;
        let when = match r % 5 {
            0 => format!("{{ event = \"presence\", class = \"person\", zone = [\"z{}\", \"z{}\"] }}", r % 20, (r + 7) % 20),
            1 => format!("{{ event = \"presence\", zone = \"z{}\", after = \"sunset-30m\", before = \"sunrise\" }}", r % 20),
            2 => format!("{{ event = [\"zone_entry\", \"zone_exit\"], zone = \"z{}\", class = [\"person\", \"vehicle\"] }}", r % 20),
            3 => format!("{{ event = \"presence\", camera = \"cam{}\", min_area = 0.01, max_aspect = 2.0, dwell = \"2s\" }}", r % 4),
            // Every tenth: an area counted (occupancy, or its occupied/empty edges).
            _ if r % 10 == 9 && r % 20 == 9 => {
                format!("{{ event = \"occupancy\", area = \"area{}\", class = \"person\", min_count = 1 }}", r % 4)
            }
            _ if r % 10 == 9 => format!("{{ event = [\"area_occupied\", \"area_empty\"], area = \"area{}\" }}", r % 4),
            _ => "{ event = \"plate\", plate_group = \"whiteList\" }".to_string(),
        };
        let then = if r % 10 == 4 || r % 5 == 2 || (r % 10 == 9 && r % 20 != 9) {
            format!("{{ relay = \"r{relay}\", action = \"pulse\", duration = \"1s\" }}")
        } else {
            format!("{{ relay = \"r{relay}\", action = \"hold\", hold = \"30s\" }}")
        };
        let _ = writeln!(s, "[[rule]]\nname = \"rule {r}\"\nwhen = {when}\nthen = {then}\n");
    }
    parse(&s, Path::new("bench.toml")).unwrap()
}

fn traject(cam: u32, t: u64) -> Event {
    let wobble = (t % 40) as u32 * 50;
    Event {
        dialect: Dialect::Ipc,
        version: Some("1.7".into()),
        device: Device { mac: Some(format!("58:5b:69:5f:42:{cam:02x}")), ..Device::default() },
        kind: EventKind::Traject,
        smart_type: None,
        time: None,
        status: None,
        event_id: None,
        targets: vec![
            Target {
                id: Some(1),
                class: TargetClass::Person,
                rect: Some(Rect { x1: 2500 + wobble, y1: 3000, x2: 3200 + wobble, y2: 6000 }),
            },
            Target {
                id: Some(2),
                class: TargetClass::Vehicle,
                rect: Some(Rect { x1: 6000, y1: 1000 + wobble, x2: 8000, y2: 4000 + wobble }),
            },
        ],
        region: None,
        plate: None,
        faces: Vec::new(),
        alarms: Vec::new(),
        images: Vec::new(),
    }
}

fn engine_per_event(c: &mut Criterion) {
    let cfg = big_config();
    let base = Utc.with_ymd_and_hms(2026, 3, 27, 21, 0, 0).unwrap();
    let events: Vec<Event> = (0..400).map(|i| traject(0, i)).collect();
    // Stationary tracking runs for every target with a box; occupancy for
    // the area rules (5 of the 50).
    c.bench_function("engine: one traject event, 2 targets, 50 rules, 20 zones, areas", |b| {
        let mut engine = Engine::new(&cfg);
        let mut t = 0u64;
        b.iter(|| {
            t += 150;
            let now =
                Now { at: Instant::from_millis(t), wall: base + chrono::Duration::milliseconds(t as i64) };
            let ev = &events[(t / 150 % 400) as usize];
            black_box(engine.handle(black_box(ev), None, now))
        })
    });
}

const N: usize = 100_000;

fn replay_events(c: &mut Criterion) {
    let cfg = big_config();
    let base = Utc.with_ymd_and_hms(2026, 3, 27, 21, 0, 0).unwrap();
    // 4 cameras posting in turn every 40 ms: about 67 minutes of traject.
    let inputs: Vec<Input> = (0..N as u64)
        .map(|i| Input {
            label: String::new(),
            wall: base + chrono::Duration::milliseconds(i as i64 * 40),
            source: None,
            event: Ok(InputKind::Post(traject((i % 4) as u32, i / 4))),
        })
        .collect();
    let mut g = c.benchmark_group("replay");
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("100k posts, events in memory (engine + clock + relay model)", |b| {
        b.iter(|| black_box(replay_inputs(&cfg, &inputs, None)))
    });
    let body =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ipc-v1x/traject.xml")).unwrap();
    let posts: Vec<Post> = (0..N as i64)
        .map(|i| Post {
            label: String::new(),
            record: Some(camrelay::ingest::record::RecordName {
                run_ms: Some(1_774_646_121_524),
                seq: i as u64,
                mono_ms: Some(i as u64 * 40),
                wall_ms: 1_774_646_121_524 + i * 40,
                source: None,
            }),
            body: body.clone(),
        })
        .collect();
    g.bench_function("100k posts, XML through decode + engine", |b| {
        b.iter(|| black_box(replay(&cfg, &posts)))
    });
    g.finish();
}

criterion_group!(benches, engine_per_event, replay_events);
criterion_main!(benches);
