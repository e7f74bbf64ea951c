//! The event history (issue 27): every kind of event written and read back
//! (through the store, the API, the CSV and `camrelay history`), repeats
//! folded into one row, forgetting by age and by size on a virtual clock, a
//! damaged file moved aside, and a daemon killed with SIGKILL in the middle
//! of a flood leaving a database that opens.

mod common;

use camrelay::command::{RemoteAction, Why};
use camrelay::engine::places::Detection;
use camrelay::happened::Happened;
use camrelay::history::picture::Keep;
use camrelay::history::writer::{Settings, Stats, Writer};
use camrelay::history::{Entry, Filter, Kind, PictureNote, Query, Remembered, Store};
use common::*;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// 2026-12-05 21:32:00 UTC.
const WALL: i64 = 1_796_506_320_000;

fn settings(dir: &Path) -> Settings {
    Settings {
        dir: dir.to_path_buf(),
        keep: Duration::from_secs(30 * 86_400),
        max_bytes: 1_000_000_000,
        commit_every: Duration::from_secs(5),
        pictures: Keep::All,
    }
}

fn writer(dir: &Path, settings: Settings) -> Writer {
    let (store, opened) = Store::open(dir, chrono::Utc::now()).unwrap();
    assert_eq!(opened.moved_aside, None);
    Writer::new(store, settings, Arc::new(Stats::default()))
}

fn why(rule: &str) -> Why {
    Why {
        rule: rule.into(),
        event: "presence".into(),
        camera: Some("porch".into()),
        target: Some(7),
        zone: Some("door".into()),
        area: None,
        plate: None,
        input: None,
    }
}

/// One item of each kind the history keeps, as the core puts them on its stream.
fn one_of_each() -> Vec<Happened> {
    vec![
        Happened::Detected {
            at_ms: 0,
            detection: Detection {
                camera: "gate_lpr".into(),
                kind: "plate".into(),
                class: Some("vehicle"),
                zones: vec![],
                plate: Some("JP116D".into()),
                group: Some("whiteList".into()),
                direction: None,
                confidence: None,
            },
        },
        Happened::Fired {
            at_ms: 0,
            relay: "porch_light".into(),
            action: "hold 10s".into(),
            why: why("porch light"),
        },
        Happened::Switched {
            at_ms: 0,
            relay: "porch_light".into(),
            on: true,
            reason: "rule".into(),
            why: Some(why("porch light")),
        },
        Happened::NoEffect {
            at_ms: 0,
            rule: "open the gate".into(),
            reason: "plate_cooldown".into(),
            detail: "25s left".into(),
        },
        Happened::Device {
            at_ms: 0,
            device: "58:5b:69:00:00:01".into(),
            camera: "driveway".into(),
            online: false,
            first: false,
        },
        Happened::Reloaded {
            at_ms: 0,
            applied: false,
            message: "rules.toml:3:1: unknown key".into(),
            who: None,
        },
        Happened::Remote {
            at_ms: 0,
            node: "garage".into(),
            relay: "door".into(),
            action: RemoteAction::On,
            why: why("garage door"),
        },
        Happened::Manual {
            at_ms: 0,
            relay: "gate".into(),
            request: "pulse 1s".into(),
            who: "web page from 192.168.1.20".into(),
        },
    ]
}

#[test]
fn every_kind_is_written_and_read_back_with_its_words() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = writer(dir.path(), settings(dir.path()));
    let t = Instant::now();
    for (i, h) in one_of_each().iter().enumerate() {
        w.add(Entry::of(h, WALL + i as i64 * 1000).unwrap(), t);
    }
    // Not written before commit_every has passed.
    w.tick(t + Duration::from_secs(4), WALL + 7_000);
    let store = Store::open_read(dir.path()).unwrap();
    assert_eq!(store.count().unwrap(), 0);
    w.tick(t + Duration::from_secs(5), WALL + 8_000);
    assert_eq!(store.count().unwrap(), 8);

    let all = store.search(&Query { limit: 100, ..Query::default() }).unwrap();
    let kinds: Vec<Kind> = all.iter().map(|e| e.kind).collect();
    // Newest first.
    assert_eq!(
        kinds,
        [
            Kind::Manual,
            Kind::Remote,
            Kind::Reload,
            Kind::Device,
            Kind::NoEffect,
            Kind::Switched,
            Kind::Fired,
            Kind::Detection
        ]
    );
    let detection = &all[7];
    assert_eq!(
        (detection.camera.as_deref(), detection.plate.as_deref(), detection.detail.as_str()),
        (Some("gate_lpr"), Some("JP116D"), "plate (whiteList)")
    );
    assert_eq!(detection.at_ms, WALL);
    let fired = &all[6];
    assert_eq!(
        (fired.rule.as_deref(), fired.relay.as_deref(), fired.zone.as_deref(), fired.target),
        (Some("porch light"), Some("porch_light"), Some("door"), Some(7))
    );
    assert_eq!(all[5].detail, "on (rule)");
    assert_eq!(all[4].detail, "plate_cooldown: 25s left");
    assert_eq!(all[3].detail, "offline (58:5b:69:00:00:01)");
    assert_eq!(all[2].detail, "refused: rules.toml:3:1: unknown key");
    assert_eq!(all[1].relay.as_deref(), Some("garage/door"));
    assert_eq!(
        (all[0].relay.as_deref(), all[0].detail.as_str(), all[0].who.as_deref()),
        (Some("gate"), "pulse 1s", Some("web page from 192.168.1.20"))
    );

    // Filters, in the words a user writes them.
    let q = |f: Filter| store.search(&f.query(chrono::Utc::now(), chrono_tz::UTC).unwrap()).unwrap();
    let by_kind = q(Filter { kind: Some("switched,fired".into()), ..Filter::default() });
    assert_eq!(by_kind.len(), 2);
    assert_eq!(q(Filter { relay: Some("porch_light".into()), ..Filter::default() }).len(), 2);
    assert_eq!(q(Filter { rule: Some("open the gate".into()), ..Filter::default() }).len(), 1);
    assert_eq!(q(Filter { camera: Some("driveway".into()), ..Filter::default() }).len(), 1);
    // The plate as written on it, and a look-alike misread within 0.5.
    assert_eq!(q(Filter { plate: Some("jp-116 d".into()), ..Filter::default() }).len(), 1);
    assert_eq!(q(Filter { plate: Some("JPII6D".into()), ..Filter::default() }).len(), 0);
    assert_eq!(
        q(Filter { plate: Some("JPI16D".into()), plate_distance: Some(0.5), ..Filter::default() }).len(),
        1
    );
    let since = chrono::DateTime::from_timestamp_millis(WALL + 3_000).unwrap().to_rfc3339();
    assert_eq!(q(Filter { since: Some(since), ..Filter::default() }).len(), 5);
    // Paging: two at a time, then the next page before the last id.
    let page = q(Filter { limit: Some(2), ..Filter::default() });
    let next = q(Filter { limit: Some(2), before: Some(page[1].id), ..Filter::default() });
    assert_eq!(next[0].kind, Kind::Reload);
    assert!(Filter { kind: Some("opened".into()), ..Filter::default() }
        .query(chrono::Utc::now(), chrono_tz::UTC)
        .unwrap_err()
        .contains("not one of switched, fired"));

    // The CSV: a header and a line per row, quoted where needed.
    let csv = camrelay::history::csv(&all, chrono_tz::Europe::Berlin);
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines[0], "id,time,last,count,kind,camera,relay,rule,zone,plate,target,class,who,detail");
    assert_eq!(lines.len(), 9);
    assert!(lines[8].contains(",2026-12-05 22:32:00.000 +0100,"), "{}", lines[8]);
    assert!(lines[8].ends_with(",gate_lpr,,,,JP116D,,vehicle,,plate (whiteList)"), "{}", lines[8]);
    assert!(lines[1].ends_with(",manual,,gate,,,,,,web page from 192.168.1.20,pulse 1s"), "{}", lines[1]);
    assert_eq!(q(Filter { who: Some("web page from 192.168.1.20".into()), ..Filter::default() }).len(), 1);
}

/// The porch light's hold fired by `rule`, remembered at wall time `at`.
fn porch_hold_fired(rule: &str, at: i64) -> Entry {
    Entry::of(
        &Happened::Fired { at_ms: 0, relay: "porch_light".into(), action: "hold 10s".into(), why: why(rule) },
        at,
    )
    .unwrap()
}

#[test]
fn a_hold_renewed_on_every_post_is_one_row_with_a_count() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = writer(dir.path(), settings(dir.path()));
    let t = Instant::now();
    let fired = |at: i64| porch_hold_fired("porch light", at);
    // A person at the door for 10 s: a post every 250 ms, a commit in between.
    for i in 0..20 {
        w.add(fired(WALL + i * 250), t);
    }
    w.commit(t);
    for i in 20..40 {
        w.add(fired(WALL + i * 250), t);
    }
    w.commit(t);
    let store = Store::open_read(dir.path()).unwrap();
    let rows = store.search(&Query { limit: 10, ..Query::default() }).unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!((rows[0].count, rows[0].at_ms, rows[0].last_ms), (40, WALL, WALL + 39 * 250));
    // The same person back a minute later is a new row.
    w.add(fired(WALL + 70_000), t);
    w.commit(t);
    assert_eq!(store.count().unwrap(), 2);
}

#[test]
fn a_written_row_s_growing_count_waits_for_the_repeats_to_stop() {
    // Rewriting a row's `last` moves it in every index: on an SD card a
    // person standing at the door must not cost a rewrite every commit.
    let dir = tempfile::tempdir().unwrap();
    let mut w = writer(dir.path(), settings(dir.path()));
    let t = Instant::now();
    let fired = |at: i64| porch_hold_fired("porch", at);
    let store = Store::open_read(dir.path()).unwrap();
    let count = || store.search(&Query { limit: 10, ..Query::default() }).unwrap()[0].count;
    w.add(fired(WALL), t);
    w.tick(t + Duration::from_secs(5), WALL + 5_000);
    assert_eq!(count(), 1, "a new row is written after commit_every");
    // Repeats every second for 20 s: the commit clock does not start for them.
    for s in 1..=20 {
        w.add(fired(WALL + s * 1_000), t + Duration::from_secs(s as u64));
        w.tick(t + Duration::from_secs(s as u64 + 5), WALL + (s + 5) * 1_000);
    }
    assert_eq!(count(), 1, "growth waits while the repeats go on");
    // The repeats stop: a fold gap after the last one, the row is final.
    w.tick(t + Duration::from_secs(50), WALL + 20_000 + 30_001);
    assert_eq!(count(), 21);
    // Repeats that never stop are written every GROWN_EVERY.
    let t2 = t + Duration::from_secs(100);
    let wall2 = WALL + 100_000;
    w.add(fired(wall2), t2);
    w.tick(t2 + Duration::from_secs(5), wall2 + 5_000);
    for s in 1..=59 {
        w.add(fired(wall2 + s * 1_000), t2 + Duration::from_secs(s as u64));
        w.tick(t2 + Duration::from_secs(s as u64), wall2 + s * 1_000);
    }
    assert_eq!(count(), 1, "the second row, still growing");
    w.add(fired(wall2 + 65_000), t2 + Duration::from_secs(65));
    w.tick(t2 + Duration::from_secs(65), wall2 + 65_000);
    assert_eq!(count(), 61, "written a minute after it first grew");
}

#[test]
fn a_new_database_has_small_pages() {
    let dir = tempfile::tempdir().unwrap();
    drop(writer(dir.path(), settings(dir.path())));
    let conn = rusqlite::Connection::open(dir.path().join("history.db")).unwrap();
    let size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
    assert_eq!(size, camrelay::history::store::PAGE_SIZE as i64);
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
}

/// A file an earlier build wrote (schema 2: indexes ending in `last`) opens,
/// keeps its rows and is searched through the new indexes on `at`.
#[test]
fn a_file_from_an_earlier_build_is_migrated_and_keeps_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    {
        let conn = rusqlite::Connection::open(dir.path().join("history.db")).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
            CREATE TABLE event (
                id INTEGER PRIMARY KEY, at INTEGER NOT NULL, last INTEGER NOT NULL,
                count INTEGER NOT NULL, kind TEXT NOT NULL,
                camera TEXT, relay TEXT, rule TEXT, zone TEXT, plate TEXT,
                target INTEGER, class TEXT, who TEXT, detail TEXT NOT NULL);
            CREATE INDEX event_last ON event(last);
            CREATE INDEX event_plate ON event(plate, last) WHERE plate IS NOT NULL;
            CREATE INDEX event_camera ON event(camera, last) WHERE camera IS NOT NULL;
            CREATE INDEX event_relay ON event(relay, last) WHERE relay IS NOT NULL;
            CREATE INDEX event_rule ON event(rule, last) WHERE rule IS NOT NULL;
            ALTER TABLE event ADD COLUMN picture TEXT;
            ALTER TABLE event ADD COLUMN thumb TEXT;
            ALTER TABLE event ADD COLUMN picture_bytes INTEGER NOT NULL DEFAULT 0;
            CREATE INDEX event_pictured ON event(last) WHERE picture_bytes > 0;
            PRAGMA user_version = 2;",
        )
        .unwrap();
        // Two plate reads: the earlier one seen for longer, so it was last seen later.
        conn.execute_batch(&format!(
            "INSERT INTO event (at, last, count, kind, camera, plate, detail) VALUES ({a}, {b}, 3, 'detected', 'gate_lpr', 'AB12CD', '{{}}');
            INSERT INTO event (at, last, count, kind, camera, plate, detail) VALUES ({c}, {c}, 1, 'detected', 'gate_lpr', 'XY99ZZ', '{{}}');",
            a = WALL,
            b = WALL + 60_000,
            c = WALL + 10_000,
        ))
        .unwrap();
    }
    drop(writer(dir.path(), settings(dir.path())));
    let conn = rusqlite::Connection::open(dir.path().join("history.db")).unwrap();
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, camrelay::history::store::SCHEMA_VERSION);
    let plate_index: String =
        conn.query_row("SELECT sql FROM sqlite_master WHERE name = 'event_plate'", [], |r| r.get(0)).unwrap();
    assert!(plate_index.contains("(plate, at)"), "{plate_index}");
    let store = Store::open_read(dir.path()).unwrap();
    let all = store.search(&Query { limit: 10, ..Query::default() }).unwrap();
    let plates: Vec<_> = all.iter().map(|e| e.plate.clone().unwrap()).collect();
    assert_eq!(plates, ["XY99ZZ", "AB12CD"], "newest first by when each began");
    assert_eq!(all[1].count, 3);
    let found = store
        .search(&Query {
            plate: Some("AB12CD".into()),
            since_ms: Some(WALL + 30_000),
            limit: 10,
            ..Query::default()
        })
        .unwrap();
    assert_eq!(found.len(), 1, "a row seen until after `since` is found though it began before");
    let near = store
        .search(&Query { plate: Some("AB12CE".into()), plate_halves: 2, limit: 10, ..Query::default() })
        .unwrap();
    assert_eq!(near.len(), 1, "the migrated file's plates are found by a fuzzy search");
    assert_eq!(near[0].plate.as_deref(), Some("AB12CD"));
}

#[test]
fn old_events_are_forgotten_after_keep_on_a_virtual_clock() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = writer(dir.path(), settings(dir.path()));
    let t = Instant::now();
    let hour = 3_600_000;
    // A device going on and offline every hour for 40 days.
    for h in 0..40 * 24 {
        let item = Happened::Device {
            at_ms: 0,
            device: "d".into(),
            camera: "driveway".into(),
            online: h % 2 == 0,
            first: false,
        };
        w.add(Entry::of(&item, WALL + h * hour).unwrap(), t);
    }
    w.commit(t);
    let store = Store::open_read(dir.path()).unwrap();
    assert_eq!(store.count().unwrap(), 960);
    let now = WALL + 40 * 24 * hour;
    w.forget(now);
    // Kept: from exactly 30 days before now.
    assert_eq!(store.count().unwrap(), 30 * 24);
    let oldest = store.search(&Query { limit: 10_000, ..Query::default() }).unwrap();
    assert_eq!(oldest.last().unwrap().at_ms, now - 30 * 24 * hour);
}

#[test]
fn the_history_stays_under_max_size_oldest_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path());
    s.max_bytes = 2_000_000;
    let mut w = writer(dir.path(), s);
    let t = Instant::now();
    // The oldest row reads a plate: it goes in the size steps, and its plate
    // with it.
    w.add(plate_detection(WALL - 1), t);
    // Reloads with long messages: about 5 MB of rows.
    for i in 0..20_000 {
        let item = Happened::Reloaded { at_ms: 0, applied: true, message: format!("{i:0>200}"), who: None };
        w.add(Entry::of(&item, WALL + i).unwrap(), t);
        if i % 500 == 499 {
            w.commit(t);
        }
    }
    w.commit(t);
    let store = Store::open_read(dir.path()).unwrap();
    assert!(store.used_bytes().unwrap() > 4_000_000);
    // A step forgets at most `PRUNE_STEP` rows: enough steps to get there.
    for _ in 0..30 {
        w.forget(WALL + 20_000);
    }
    let used = store.used_bytes().unwrap();
    assert!(used <= 2_000_000, "{used} bytes");
    let file = std::fs::metadata(dir.path().join("history.db")).unwrap().len();
    // Freed pages went back to the file system, a step at a time, no VACUUM.
    assert!(file < 4_000_000, "the file is {file} bytes");
    let rows = store.search(&Query { limit: 10_000, ..Query::default() }).unwrap();
    assert_eq!(rows[0].at_ms, WALL + 19_999, "the newest stay");
    assert!(rows.len() >= 1_000 && rows.len() < 20_000, "{}", rows.len());
    let conn = rusqlite::Connection::open(dir.path().join("history.db")).unwrap();
    let plates: i64 = conn.query_row("SELECT count(*) FROM plate", [], |r| r.get(0)).unwrap();
    assert_eq!(plates, 0, "the plate went with its row");
}

#[test]
fn a_damaged_file_is_moved_aside_and_a_new_one_started() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("history.db"), vec![0x5a; 16_384]).unwrap();
    let now = chrono::DateTime::parse_from_rfc3339("2026-12-05T10:15:00Z").unwrap().to_utc();
    let (mut store, opened) = Store::open(dir.path(), now).unwrap();
    let aside = dir.path().join("history.db.damaged-20261205T101500Z");
    assert_eq!(opened.moved_aside.as_deref(), Some(aside.as_path()));
    assert_eq!(std::fs::read(&aside).unwrap(), vec![0x5a; 16_384], "kept as it was");
    let item = Happened::Reloaded { at_ms: 0, applied: true, message: "ok".into(), who: None };
    store.write(&[Entry::of(&item, WALL).unwrap()], &[], &[]).unwrap();
    assert_eq!(store.count().unwrap(), 1);
}

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

[history]
dir = "history"
commit_every = "1s"

[[relay]]
name = "porch_light"
line = 17
max_on = "1m"

[[relay]]
name = "gate"
line = 27
max_on = "5s"

[[camera]]
name = "driveway"
mac = "58:5b:69:5f:42:1b"

[[camera]]
name = "gate_lpr"
nvr = "58:5b:69:40:f4:0d"
channel = 2

[[zone]]
name = "porch"
camera = "driveway"
polygon = [[1000, 5000], [6000, 5000], [6000, 10000], [1000, 10000]]

[[rule]]
name = "porch light"
when = { event = "presence", zone = "porch" }
then = { relay = "porch_light", action = "hold", hold = "2s" }

[[rule]]
name = "open the gate"
when = { event = "plate", plate = "JP116D" }
then = { relay = "gate", action = "pulse", duration = "1s" }
"#;

fn traject(x: u32) -> Vec<u8> {
    format!("<?xml version=\"1.0\"?><config version=\"1.7\" xmlns=\"http://www.ipc.com/ver10\"><mac type=\"string\"><![CDATA[58:5b:69:5f:42:1b]]></mac><traject type=\"list\" count=\"1\"><item><targetId type=\"uint32\">7</targetId><rect><x1>{x}</x1><y1>6000</y1><x2>{}</x2><y2>9000</y2></rect><targetType type=\"targetType\">person</targetType></item></traject></config>", x + 1000)
        .into_bytes()
}

/// The NVR's plate post with real JPEGs where the fixture has placeholders.
fn lpr_with_pictures() -> Vec<u8> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(fixture("camera/driveway.jpg"));
    String::from_utf8(fixture("nvr-v2/vehicle-lpr.xml"))
        .unwrap()
        .replace("BASE64_JPEG_OVERVIEW_IMAGE", &b64)
        .replace("BASE64_JPEG_PLATE_CROP", &b64)
        .into_bytes()
}

/// GET: status, content type and the raw body.
fn get_bytes(addr: std::net::SocketAddr, path: &str) -> (u16, String, Vec<u8>) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let ty = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-type: ").map(str::to_string))
        .unwrap_or_default();
    (status, ty, raw[split + 4..].to_vec())
}

#[test]
fn the_daemon_remembers_what_happened_and_serves_it() {
    let mut d = Daemon::start(RULES);
    // A person at the porch for a second, the gate's plate, a manual pulse,
    // a refused reload.
    for i in 0..5 {
        assert_eq!(post(d.posts, "/API", &traject(2000 + i * 50)).status, 200);
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(post(d.posts, "/API", &lpr_with_pictures()).status, 200);
    let r = request(
        d.api,
        "POST",
        "/api/relays/porch_light",
        &[("Authorization", "Bearer t"), ("Content-Type", "application/json")],
        br#"{"action":"pulse","duration":"1s"}"#,
    );
    assert!(r.status < 300, "{} {}", r.status, r.body);
    std::fs::write(&d.config_path, format!("{RULES}\n[[rule]]\nname = \"broken\"\n")).unwrap();
    d.signal("HUP");

    let rows = common::wait_history(&d, "limit=1000", |rows| {
        rows.iter().any(|e| e["kind"] == "reload")
            && rows.iter().any(|e| e["kind"] == "visit")
            && rows.iter().filter(|e| e["kind"] == "switched").count() >= 3
    });
    let of = |kind: &str| rows.iter().filter(|e| e["kind"] == kind).cloned().collect::<Vec<_>>();
    let fired = of("fired");
    let porch = fired.iter().find(|e| e["rule"] == "porch light").expect("the porch rule fired");
    // Five posts renewing one hold: one row.
    assert_eq!(porch["count"], 5, "{porch}");
    assert_eq!((porch["camera"].as_str(), porch["target"].as_u64()), (Some("driveway"), Some(7)));
    let gate = fired.iter().find(|e| e["rule"] == "open the gate").expect("the gate rule fired");
    assert_eq!(gate["plate"], "JP116D");
    // The person's visit: one row for five traject posts, with its span.
    let visits = of("visit");
    assert_eq!(visits.len(), 1, "{visits:#?}");
    let v = &visits[0];
    assert_eq!(
        (v["camera"].as_str(), v["target"].as_u64(), v["class"].as_str(), v["zone"].as_str()),
        (Some("driveway"), Some(7), Some("person"), Some("porch"))
    );
    let span = v["last_ms"].as_i64().unwrap() - v["at_ms"].as_i64().unwrap();
    assert!((600..=1_600).contains(&span), "posts 200 ms apart for 0.8 s, then gone: {span} ms");
    let detection = &of("detection")[0];
    // Its pictures, as the NVR sent them, behind the API.
    let jpeg = fixture("camera/driveway.jpg");
    for key in ["picture", "thumb"] {
        let name = detection[key].as_str().unwrap_or_else(|| panic!("no {key}: {detection}"));
        let r = get_bytes(d.api, &format!("/api/history/pictures/{name}"));
        assert_eq!((r.0, r.1.as_str()), (200, "image/jpeg"), "{name}");
        assert_eq!(r.2, jpeg, "{key}: byte for byte");
    }
    for bad in ["../history.db", "..%2Fhistory.db/x", "2026-12-05/..%2F..%2Fhistory.db"] {
        let r = request(d.api, "GET", &format!("/api/history/pictures/{bad}"), &[], b"");
        assert_eq!(r.status, 404, "{bad}: {}", r.body);
    }
    assert_eq!(
        (detection["camera"].as_str(), detection["plate"].as_str()),
        (Some("gate_lpr"), Some("JP116D"))
    );
    assert!(of("switched").iter().any(|e| e["relay"] == "gate" && e["detail"] == "on (rule)"), "{rows:#?}");
    assert!(of("reload")[0]["detail"].as_str().unwrap().starts_with("refused: "), "{rows:#?}");

    // The plate search and the CSV, with the same filters.
    // The plate, as a user types it: the read, the rule it fired, the gate
    // it switched, and nothing else.
    let plated = common::history_json(&d, "plate=jp116d");
    assert!(plated.iter().all(|e| e["plate"] == "JP116D"), "{plated:#?}");
    let kinds: Vec<&str> = plated.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    for kind in ["detection", "fired", "switched"] {
        assert!(kinds.contains(&kind), "{kind} missing: {plated:#?}");
    }
    let r = request(d.api, "GET", "/api/history.csv?kind=detection", &[], b"");
    assert_eq!(r.status, 200);
    let lines: Vec<&str> = r.body.lines().collect();
    assert_eq!(lines.len(), 2, "{}", r.body);
    assert!(lines[1].contains(",detection,gate_lpr,") && lines[1].contains(",JP116D,"), "{}", r.body);
    // A filter word that means nothing is refused with what would be valid.
    let r = request(d.api, "GET", "/api/history?kind=opened", &[], b"");
    assert_eq!(r.status, 400);
    assert!(r.body.contains("not one of switched"), "{}", r.body);
    let r = request(d.api, "GET", "/api/history?colour=red", &[], b"");
    assert_eq!(r.status, 400, "{}", r.body);

    // Stopped: every relay's switch-off is remembered, and the command line
    // reads the history of a daemon that no longer runs.
    d.signal("TERM");
    assert!(d.wait_exit(Duration::from_secs(15)).success());
    let out = camrelay_command()
        .args(["history", "--config"])
        .arg(&d.config_path)
        .args(["--kind", "switched", "--limit", "50"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    // The rules file is still the broken one: the history is read all the same.
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is missing \"when\""));
    // Every relay that went on went off again, the newest line first.
    for relay in ["porch_light", "gate"] {
        let lines: Vec<&str> = text.lines().filter(|l| l.contains(&format!("relay=\"{relay}\""))).collect();
        assert!(lines.len() >= 2, "{relay}: {text}");
        assert!(lines[0].contains("  off ("), "{relay} ends off: {text}");
    }
    // The manual pulse, with who asked, though the light was already on.
    let manual = camrelay_command()
        .args(["history", "--dir"])
        .arg(d.dir.path().join("history"))
        .args(["--kind", "manual"])
        .output()
        .unwrap();
    let manual = String::from_utf8_lossy(&manual.stdout);
    assert_eq!(manual.lines().count(), 1, "{manual}");
    assert!(manual.contains("pulse 1s  relay=\"porch_light\"  who=\"api token from 127.0.0.1\""), "{manual}");
    assert!(text.lines().all(|l| l.contains("switched")), "{text}");
    let csv = camrelay_command()
        .args(["history", "--dir"])
        .arg(d.dir.path().join("history"))
        .args(["--csv", "--plate", "JP116D"])
        .output()
        .unwrap();
    assert!(csv.status.success());
    let stopped = Store::open_read(&d.dir.path().join("history")).unwrap();
    let plated = stopped
        .search(
            &Filter { plate: Some("JP116D".into()), ..Filter::default() }
                .query(chrono::Utc::now(), chrono_tz::UTC)
                .unwrap(),
        )
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&csv.stdout).lines().count(),
        1 + plated.len(),
        "a header and a line per row"
    );
}

#[test]
fn a_daemon_killed_in_the_middle_of_a_flood_leaves_a_history_that_opens() {
    let mut d = Daemon::start(RULES);
    let stop = Instant::now() + Duration::from_millis(2_500);
    let mut n = 0u32;
    while Instant::now() < stop {
        // Targets come and go, so rules fire and relays switch all the time.
        let body = if n % 3 == 0 { fixture("nvr-v2/vehicle-lpr.xml") } else { traject(2000 + (n % 40) * 50) };
        assert_eq!(post(d.posts, "/API", &body).status, 200);
        n += 1;
    }
    // SIGKILL: no chance to commit what is pending.
    d.child.kill().unwrap();
    d.child.wait().unwrap();
    let dir = d.dir.path().join("history");
    let store = Store::open_read(&dir).unwrap();
    assert_eq!(store.integrity().unwrap(), "ok");
    let rows = store.count().unwrap();
    assert!(rows > 0, "at least the batches before the last were committed ({n} posts)");
    // It opens for writing again, as the restarted daemon will.
    let (mut again, opened) = Store::open(&dir, chrono::Utc::now()).unwrap();
    assert_eq!(opened.moved_aside, None);
    let item = Happened::Reloaded { at_ms: 0, applied: true, message: "restarted".into(), who: None };
    again.write(&[Entry::of(&item, WALL).unwrap()], &[], &[]).unwrap();
    assert_eq!(again.count().unwrap(), rows + 1);
}

#[test]
fn a_history_section_with_a_mistake_is_refused_where_it_is() {
    let parse = |section: &str| {
        camrelay::config::parse(
            &format!("[gpio]\nbackend = \"mock\"\n\n[history]\n{section}\n"),
            Path::new("rules.toml"),
        )
    };
    let ok = parse("dir = \"/var/lib/camrelay/history\"\nkeep = \"90d\"\nmax_size = \"500MB\"").unwrap();
    let h = ok.history.unwrap();
    assert_eq!((h.keep, h.max_size), (Duration::from_secs(90 * 86_400), 500_000_000));
    assert_eq!(parse("max_size = \"2GiB\"").unwrap().history.unwrap().max_size, 2 * 1024 * 1024 * 1024);
    // Relative to the rules file's folder.
    let rel = camrelay::config::parse("[history]\n", Path::new("/etc/camrelay/rules.toml")).unwrap();
    assert_eq!(rel.history.unwrap().dir, Path::new("/etc/camrelay/history"));
    assert_eq!(parse("enabled = false").unwrap().history, None);
    for (section, want) in [
        (
            "max_size = \"1 gigabyte\"",
            "rules.toml:5:12: [history] max_size \"1 gigabyte\": unknown unit \"gigabyte\"",
        ),
        ("max_size = \"1MB\"", "must be from 10MB to 1TB"),
        ("keep = \"10m\"", "1h"),
        ("kepe = \"30d\"", "did you mean \"keep\""),
        ("dir = \"\"", "[history] dir is empty"),
    ] {
        let e = parse(section).unwrap_err().to_string();
        assert!(e.contains(want), "{section}: {e}");
    }
}

/// A post body with the camera's JPEG as base64 twice (scene and crop), and where each is.
fn pictures_of(jpeg: &[u8]) -> camrelay::happened::Pictures {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(jpeg);
    let body = format!("<a>{b64}</a><b>{b64}</b>");
    let scene = 3..3 + b64.len();
    let crop = scene.end + 7..scene.end + 7 + b64.len();
    camrelay::happened::Pictures { body: body.into(), overview: Some(scene), crop: Some(crop) }
}

fn plate_detection(at: i64) -> Entry {
    Entry::of(&one_of_each()[0], at).unwrap()
}

fn note(at: i64, jpeg: &[u8]) -> Remembered {
    Remembered::Picture(PictureNote {
        at_ms: at,
        camera: "gate_lpr".into(),
        kind: "plate".into(),
        plate: Some("JP116D".into()),
        picture: pictures_of(jpeg),
    })
}

#[test]
fn a_detections_pictures_are_the_cameras_jpegs_joined_to_its_row() {
    let jpeg = fixture("camera/driveway.jpg");
    let dir = tempfile::tempdir().unwrap();
    let mut w = writer(dir.path(), settings(dir.path()));
    let t = Instant::now();
    // The camera's copy (no pictures), written; the NVR's copy 1.2 s later
    // brings the pictures, which join the row already written.
    w.add(plate_detection(WALL), t);
    w.commit(t);
    w.take(note(WALL + 1_200, &jpeg), t);
    w.commit(t);
    // A picture no detection asked for (another camera) is not kept.
    w.take(
        Remembered::Picture(PictureNote {
            at_ms: WALL + 1_300,
            camera: "porch".into(),
            kind: "intrusion".into(),
            plate: None,
            picture: pictures_of(&jpeg),
        }),
        t,
    );
    w.commit(t);
    let store = Store::open_read(dir.path()).unwrap();
    let rows = store.search(&Query { limit: 10, ..Query::default() }).unwrap();
    assert_eq!(rows.len(), 1);
    let (scene, crop) = (rows[0].picture.clone().unwrap(), rows[0].thumb.clone().unwrap());
    assert!(scene.starts_with("2026-12-05/") && scene.ends_with("-scene.jpg"), "{scene}");
    let file = camrelay::history::picture::file(dir.path(), &scene).unwrap();
    assert_eq!(std::fs::read(file).unwrap(), jpeg, "byte for byte what the camera sent");
    let thumb = camrelay::history::picture::file(dir.path(), &crop).unwrap();
    assert_eq!(std::fs::read(thumb).unwrap(), jpeg);
    assert_eq!(rows[0].picture_bytes, 2 * jpeg.len() as u64);
    assert_eq!(store.picture_bytes().unwrap(), 2 * jpeg.len() as u64);
    let pictures = std::fs::read_dir(dir.path().join("pictures/2026-12-05")).unwrap().count();
    assert_eq!(pictures, 2);

    // `crops` keeps the thumbnail only.
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path());
    s.pictures = Keep::Crops;
    let mut w = writer(dir.path(), s);
    w.add(plate_detection(WALL), t);
    w.take(note(WALL, &jpeg), t);
    w.commit(t);
    let rows =
        Store::open_read(dir.path()).unwrap().search(&Query { limit: 10, ..Query::default() }).unwrap();
    assert_eq!((rows[0].picture.is_none(), rows[0].thumb.is_some()), (true, true));
}

#[test]
fn over_max_size_pictures_go_first_and_their_rows_stay() {
    let jpeg = fixture("camera/driveway.jpg");
    let dir = tempfile::tempdir().unwrap();
    let mut s = settings(dir.path());
    // Room for about 20 detections' pictures.
    s.max_bytes = 40 * jpeg.len() as u64 + 200_000;
    let mut w = writer(dir.path(), s);
    let t = Instant::now();
    for i in 0..100 {
        let at = WALL + i * 60_000;
        w.add(plate_detection(at), t);
        w.take(note(at, &jpeg), t);
        w.commit(t);
    }
    let store = Store::open_read(dir.path()).unwrap();
    assert_eq!(store.picture_bytes().unwrap(), 200 * jpeg.len() as u64);
    for _ in 0..5 {
        w.forget(WALL + 100 * 60_000);
    }
    let rows = store.search(&Query { limit: 1000, ..Query::default() }).unwrap();
    assert_eq!(rows.len(), 100, "every row stays");
    let kept: Vec<bool> = rows.iter().map(|e| e.picture.is_some()).collect();
    let n = kept.iter().filter(|k| **k).count();
    assert!((10..=40).contains(&n), "{n} detections keep their pictures");
    assert!(kept[..n].iter().all(|k| *k), "the newest keep theirs");
    assert!(store.used_bytes().unwrap() + store.picture_bytes().unwrap() <= 40 * jpeg.len() as u64 + 200_000);
    let files: usize = std::fs::read_dir(dir.path().join("pictures"))
        .unwrap()
        .map(|d| std::fs::read_dir(d.unwrap().path()).unwrap().count())
        .sum();
    assert_eq!(files, 2 * n, "the forgotten pictures' files are gone");
}

/// A tmpfs mounted for one test, unmounted when it ends (pass or fail).
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap().keep();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .output()
            .expect("mount");
        // Root here: a refusal is a broken machine, not a reason to pass.
        assert!(
            out.status.success(),
            "mounting a tmpfs was refused: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(dir)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn history_status(d: &Daemon) -> serde_json::Value {
    let r = request(d.api, "GET", "/api/status", &[], b"");
    serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["history"].clone()
}

fn wait_status(d: &Daemon, what: &str, pred: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = history_status(d);
        if pred(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "{what}: {s}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A person in the porch zone for 0.3 s, then gone: the light must go off
/// 2 s (its hold) after the last post, whatever the history does.
fn light_follows_the_person(d: &Daemon) {
    let sync = clock_offset(d);
    let before = d.mock_log().len();
    let mut last = Instant::now();
    for i in 0..4 {
        last = Instant::now();
        assert_eq!(post(d.posts, "/API", &traject(2000 + i * 50)).status, 200);
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = d.wait_log(Duration::from_secs(10), |l| {
        l[before.min(l.len())..]
            .iter()
            .any(|c| c.relay == "porch_light" && !c.on && c.reason.contains("hold ended"))
    });
    let off = log[before.min(log.len())..].iter().find(|c| c.relay == "porch_light" && !c.on).expect("off");
    let late = off.ms as i64 - (sync.daemon_ms_at(last) + 2_000);
    // A loaded 2-core machine: the post's own trip and the clock sync, not the history.
    assert!((-50..=300).contains(&late), "the light went off {late} ms from its hold's end");
}

#[test]
#[cfg_attr(not(camrelay_root), ignore = "needs root to mount a small tmpfs")]
fn a_full_disk_pauses_the_history_not_the_relays_and_it_resumes() {
    let fs = Tmpfs::mount("4m");
    let rules = RULES.replace("dir = \"history\"", &format!("dir = \"{}\"", fs.0.join("history").display()));
    let d = Daemon::start(&rules);
    light_follows_the_person(&d);
    wait_status(&d, "the first rows written", |s| s["written"].as_u64() > Some(0));
    // Fill the disk to the last byte.
    let mut filler = std::fs::File::create(fs.0.join("filler")).unwrap();
    let block = vec![0u8; 64 * 1024];
    while std::io::Write::write_all(&mut filler, &block).is_ok() {}
    let _ = std::io::Write::write_all(&mut filler, &[0u8; 1]);
    drop(filler);
    // The relays go on as before; the history says it paused.
    light_follows_the_person(&d);
    let paused = wait_status(&d, "paused on a full disk", |s| s["paused"] == true);
    assert!(paused["last_problem"].as_str().unwrap().contains("disk full"), "{paused}");
    light_follows_the_person(&d);
    let said = d.log_lines.lock().unwrap().iter().filter(|l| l.contains("the disk is full")).count();
    assert_eq!(said, 1, "said once, not on every retry");
    // Room again: it resumes and what happened meanwhile is there.
    std::fs::remove_file(fs.0.join("filler")).unwrap();
    wait_status(&d, "writing again", |s| s["paused"] == false);
    let visits = common::wait_history(&d, "kind=visit", |rows| rows.len() >= 3);
    assert_eq!(visits.len(), 3, "the three visits, one before and two during the full disk: {visits:#?}");
    assert_eq!(history_status(&d)["dropped"], 0);
}

#[test]
fn a_stalled_history_costs_the_relays_nothing() {
    let mut d = Daemon::start(RULES);
    light_follows_the_person(&d);
    wait_status(&d, "the first rows written", |s| s["written"].as_u64() > Some(0));
    // Another program holds the database's write lock: every commit waits,
    // as on an SD card that stalls for seconds.
    let db = d.dir.path().join("history/history.db");
    let holder = rusqlite::Connection::open(&db).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    for _ in 0..3 {
        light_follows_the_person(&d);
    }
    let stalled = history_status(&d);
    assert!(stalled["last_problem"].as_str().is_some_and(|p| p.contains("locked")), "{stalled}");
    holder.execute_batch("COMMIT").unwrap();
    drop(holder);
    // It catches up: all four visits are there.
    let visits = common::wait_history(&d, "kind=visit", |rows| rows.len() >= 4);
    assert_eq!(visits.len(), 4, "{visits:#?}");
    d.signal("TERM");
    assert!(d.wait_exit(Duration::from_secs(15)).success());
}

#[test]
fn an_input_a_gate_that_did_not_move_and_tailgating_are_kept_and_found_by_kind() {
    use camrelay::engine::InputNews;
    let dir = tempfile::tempdir().unwrap();
    let mut w = writer(dir.path(), settings(dir.path()));
    let t = Instant::now();
    let items = [
        Happened::Input { at_ms: 0, input: "gate_closed".into(), on: false },
        Happened::Inputs {
            at_ms: 0,
            news: InputNews::DidNotMove {
                relay: "gate".into(),
                input: "gate_closed".into(),
                to: false,
                within_ms: 5000,
            },
        },
        Happened::Inputs {
            at_ms: 0,
            news: InputNews::Tailgating {
                rule: "tailgating".into(),
                input: "gate_closed".into(),
                camera: "gate_cam".into(),
                vehicles: 2,
                plate: Some("XY123Z".into()),
            },
        },
    ];
    for (i, h) in items.iter().enumerate() {
        w.add(Entry::of(h, WALL + i as i64 * 1000).unwrap(), t);
    }
    w.tick(t + Duration::from_secs(5), WALL + 8_000);
    let store = Store::open_read(dir.path()).unwrap();
    let all = store.search(&Query { limit: 10, ..Query::default() }).unwrap();
    let rows: Vec<(Kind, &str)> = all.iter().map(|e| (e.kind, e.detail.as_str())).collect();
    assert_eq!(
        rows,
        [
            (Kind::Tailgating, "2 vehicles while gate_closed said open"),
            (Kind::DidNotMove, "gate_closed did not go off within 5s"),
            (Kind::Input, "gate_closed off"),
        ]
    );
    assert_eq!(all[1].relay.as_deref(), Some("gate"));
    assert_eq!(all[0].plate.as_deref(), Some("XY123Z"));
    let moved =
        store.search(&Query { kinds: vec![Kind::DidNotMove], limit: 10, ..Query::default() }).unwrap();
    assert_eq!(moved.len(), 1);
}

/// Forgetting a car's last event forgets its plate: a fuzzy search has
/// nothing of it left to compare, and the plate list holds none.
#[test]
fn a_plate_is_forgotten_with_its_last_event() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = writer(dir.path(), settings(dir.path()));
    let t = Instant::now();
    w.add(plate_detection(WALL), t);
    w.add(plate_detection(WALL + 20 * 86_400_000), t);
    w.commit(t);
    let store = Store::open_read(dir.path()).unwrap();
    let fuzzy = Query { plate: Some("JP116B".into()), plate_halves: 2, limit: 10, ..Query::default() };
    let plate = |store: &Store| store.search(&fuzzy).unwrap().len();
    assert_eq!(plate(&store), 2);
    // The first visit is forgotten; the car came again, so its plate stays.
    w.forget(WALL + 31 * 86_400_000);
    assert_eq!(plate(&store), 1);
    w.forget(WALL + 51 * 86_400_000);
    assert_eq!(plate(&store), 0);
    let conn = rusqlite::Connection::open(dir.path().join("history.db")).unwrap();
    let left: i64 = conn.query_row("SELECT count(*) FROM plate", [], |r| r.get(0)).unwrap();
    assert_eq!(left, 0);
}
