//! The scenes real driveways and porches produce, as `record_dir` captures:
//! a script per scene writes its posts (and recorded manual commands) under
//! `tests/fixtures/scenes/<name>/`, next to the `rules.toml` it is replayed
//! with. `CAMRELAY_BLESS=1 cargo test --test scenes` rewrites the captures
//! from the scripts; the test `captures_are_what_the_scripts_write` keeps
//! them in step.
#![allow(dead_code)]

use camrelay::clock::Instant;
use camrelay::ingest::record::RecordName;
use chrono::{DateTime, TimeZone, Utc};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Friday 2026-06-19 14:00:00 UTC: the first post of every scene.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 19, 14, 0, 0).unwrap()
}

/// The daemon that recorded the scenes started 10 s before their first post.
const RUN_LEAD_MS: u64 = 10_000;

pub const DRIVEWAY: &str = "58:5b:69:00:00:01";
pub const GARAGE: &str = "58:5b:69:00:00:02";
pub const LPR: &str = "58:5b:69:00:00:03";
pub const PORCH: &str = "58:5b:69:00:00:04";

/// One item of a capture.
#[derive(Debug, Clone)]
pub enum Item {
    /// A camera's post body.
    Post(String),
    /// A manual API command: relay, then the JSON the daemon records.
    Manual(String, String),
}

/// A scene: what happens, when (ms after the first post).
#[derive(Debug, Clone, Default)]
pub struct Scene {
    pub items: Vec<(u64, Item)>,
}

#[derive(Debug, Clone, Copy)]
pub enum Class {
    Person,
    Car,
    /// What the camera tracks but cannot name (a cat): `unknown` to camrelay.
    Animal,
}

/// A target in one traject post: id, class, box.
pub type Seen = (u32, Class, [u32; 4]);

impl Scene {
    pub fn traject(&mut self, at: u64, mac: &str, targets: &[Seen]) {
        self.items.push((at, Item::Post(traject(mac, at, targets))));
    }

    pub fn plate(&mut self, at: u64, number: &str, list: &str) {
        self.items.push((at, Item::Post(plate(LPR, at, number, list))));
    }

    pub fn manual(&mut self, at: u64, relay: &str, request: &str) {
        let body = format!("{{\"relay\":\"{relay}\",\"request\":\"{request}\"}}");
        self.items.push((at, Item::Manual(relay.to_string(), body)));
    }

    /// Items in time order (stable: equal times keep script order).
    pub fn sorted(mut self) -> Scene {
        self.items.sort_by_key(|(at, _)| *at);
        self
    }
}

fn time_us(at: u64) -> i64 {
    (t0().timestamp_millis() + at as i64) * 1000
}

pub fn traject(mac: &str, at: u64, targets: &[Seen]) -> String {
    let mut items = String::new();
    for (id, class, [x1, y1, x2, y2]) in targets {
        let kind = match class {
            Class::Person => "person",
            Class::Car => "car",
            Class::Animal => "animal",
        };
        items.push_str(&format!(
            "    <item>\n      <targetId type=\"uint32\">{id}</targetId>\n      <rect>\n        <x1 type=\"uint32\">{x1}</x1>\n        <y1 type=\"uint32\">{y1}</y1>\n        <x2 type=\"uint32\">{x2}</x2>\n        <y2 type=\"uint32\">{y2}</y2>\n      </rect>\n      <targetType type=\"targetType\">{kind}</targetType>\n    </item>\n"
        ));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<config version=\"1.7\" xmlns=\"http://www.ipc.com/ver10\">\n  <subscribeOption type=\"subscribeRelation\">FEATURE_RESULT</subscribeOption>\n  <currentTime type=\"tint64\">{}</currentTime>\n  <mac type=\"string\"><![CDATA[{mac}]]></mac>\n  <traject type=\"list\" count=\"{}\">\n{items}  </traject>\n</config>\n",
        time_us(at),
        targets.len()
    )
}

pub fn plate(mac: &str, at: u64, number: &str, list: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<config version=\"1.7\" xmlns=\"http://www.ipc.com/ver10\">\n  <smartType type=\"openAlramObj\">VEHICE</smartType>\n  <subscribeRelation type=\"subscribeOption\">FEATURE_RESULT</subscribeRelation>\n  <currentTime type=\"tint64\">{}</currentTime>\n  <mac type=\"string\"><![CDATA[{mac}]]></mac>\n  <listInfo type=\"list\" count=\"1\">\n    <item>\n      <plateNumber type=\"string\"><![CDATA[{number}]]></plateNumber>\n      <vehicleListType type=\"string\">{list}</vehicleListType>\n    </item>\n  </listInfo>\n</config>\n",
        time_us(at)
    )
}

/// Posts every `step` ms from `from` to `to` (inclusive).
pub fn every(from: u64, to: u64, step: u64) -> impl Iterator<Item = u64> {
    (from..=to).step_by(step as usize)
}

/// Linear motion of `a` to `b` between `from` and `to`, clamped.
pub fn lerp(a: f64, b: f64, from: u64, to: u64, at: u64) -> u32 {
    if at <= from {
        return a as u32;
    }
    if at >= to {
        return b as u32;
    }
    (a + (b - a) * (at - from) as f64 / (to - from) as f64).round() as u32
}

/// A box of `w` × `h` standing on (x, y): its bottom centre.
pub fn standing(x: u32, y: u32, w: u32, h: u32) -> [u32; 4] {
    [x - w / 2, y - h, x + w / 2, y]
}

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/scenes")
}

/// The capture of `scene` as `record_dir` writes it: file name → body.
pub fn capture(scene: &Scene) -> Vec<(String, String)> {
    let run_ms = t0().timestamp_millis() - RUN_LEAD_MS as i64;
    let source: IpAddr = "127.0.0.1".parse().unwrap();
    scene
        .items
        .iter()
        .enumerate()
        .map(|(seq, (at, item))| {
            let wall = t0() + chrono::Duration::milliseconds(*at as i64);
            let name =
                RecordName::new(run_ms, seq as u64, Instant::from_millis(RUN_LEAD_MS + at), wall, source)
                    .to_string();
            match item {
                Item::Post(body) => (name, body.clone()),
                Item::Manual(_, body) => (name.replace("-127.0.0.1.xml", "-manual.json"), body.clone()),
            }
        })
        .collect()
}

/// Compare (or, blessing, write) the committed capture of scene `name`.
pub fn check_capture(name: &str, scene: &Scene) -> Result<(), String> {
    let dir = fixtures().join(name).join("capture");
    let want = capture(scene);
    if std::env::var_os("CAMRELAY_BLESS").is_some() {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        for (file, body) in &want {
            std::fs::write(dir.join(file), body).map_err(|e| e.to_string())?;
        }
    }
    let mut have: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    have.sort();
    let mut names: Vec<String> = want.iter().map(|(f, _)| f.clone()).collect();
    names.sort();
    if have != names {
        return Err(format!("{name}: the capture's files differ from the script's; run CAMRELAY_BLESS=1 cargo test --test scenes"));
    }
    for (file, body) in &want {
        let on_disk = std::fs::read_to_string(dir.join(file)).map_err(|e| e.to_string())?;
        if &on_disk != body {
            return Err(format!(
                "{name}/{file} differs from the script; run CAMRELAY_BLESS=1 cargo test --test scenes"
            ));
        }
    }
    Ok(())
}
