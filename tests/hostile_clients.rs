//! Issue 23: hostile cameras, browsers and brokers. Each test is named after
//! the defect it shows fixed (`defect_N_...`, in the issue's order); the
//! camera cases run against the project's camera simulator answering hostile
//! text, oversized answers and element bombs. The MQTT defect (3) lives with
//! the broker tests (tests/mqtt_broker.rs), the name-collision one (5) with
//! the config errors (tests/config_errors.rs).

mod camera_sim;
mod common;

use camera_sim::{Sim, Spec};
use common::{camrelay_command, connect_from, request, Daemon};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

const TOKEN: &str = "tok-123";

/// A daemon's rules: two relays and camera `front` at `camera` (its password
/// in `cam.password` beside the rules file).
fn rules(camera: &str, extra: &str) -> String {
    format!(
        r#"[server]
listen = "127.0.0.1:0"

[api]
listen = "127.0.0.1:0"
token = "{TOKEN}"

[gpio]
backend = "mock"
mock_log = "{{MOCK_LOG}}"

[[relay]]
name = "gate"
line = 5
max_on = "10m"
min_off = "0s"

[[relay]]
name = "lamp"
line = 6
max_on = "10m"
min_off = "0s"

[[camera]]
name = "front"
mac = "70:ab:c8:1b:5d:dc"
url = "{camera}"
password_file = "cam.password"
{extra}"#
    )
}

fn start(camera: &str, extra: &str) -> Daemon {
    let d = Daemon::start(&rules(camera, extra));
    std::fs::write(d.dir.path().join("cam.password"), "pw\n").unwrap();
    d
}

fn camrelay(args: &[&str]) -> (bool, String, String) {
    let out = camrelay_command().args(args).output().expect("run camrelay");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// One request on a fresh connection from loopback address `source`; (status, head, body).
fn http_from(
    source: [u8; 4],
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, String) {
    let mut s = connect_from(source, addr);
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_string())
}

fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let (status, _, body) = http_from([127, 0, 0, 1], addr, method, path, headers, body);
    (status, body)
}

fn control(d: &Daemon, source: [u8; 4], token: &str, body: &str) -> u16 {
    let auth = format!("Bearer {token}");
    let headers = [("Authorization", auth.as_str()), ("Content-Type", "application/json")];
    http_from(source, d.api, "POST", "/api/relays/lamp", &headers, body).0
}

fn vm_hwm_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A rules file with camera `front` at `sim` and relay `gate`, no daemon.
fn rules_file(dir: &Path, sim: &Sim) -> std::path::PathBuf {
    let pw = dir.join("cam.password");
    std::fs::write(&pw, "pw\n").unwrap();
    let path = dir.join("rules.toml");
    std::fs::write(
        &path,
        format!(
            "[gpio]\nbackend = \"mock\"\n\n[[relay]]\nname = \"gate\"\nline = 5\nmax_on = \"10m\"\n\n\
             [[camera]]\nname = \"front\"\nmac = \"70:ab:c8:1b:5d:dc\"\nurl = \"{}\"\npassword_file = \"{}\"\n",
            sim.url(),
            pw.display()
        ),
    )
    .unwrap();
    path
}

const INJECTION: &str = "rightortop\n[[rule]]\nname = \"pwn\"\nwhen = { event = \"presence\", camera = \"front\" }\nthen = { relay = \"gate\", action = \"hold\", hold = \"10m\" }\n#";

#[test]
fn defect_1_a_camera_cannot_write_rules_into_the_rules_file() {
    let sim = Sim::start(Spec {
        direction: INJECTION.into(),
        model: "\u{1b}[2J\u{1b}]0;pwned\u{7}E4".into(),
        serial: "SN\"\n[[relay]]\nname = \"x\"\nline = 9".into(),
        mac: "70:ab:c8:1b:5d:dc\n[[rule]]".into(),
        ..Spec::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let path = rules_file(dir.path(), &sim);
    let p = path.to_str().unwrap();
    let (ok, out, err) = camrelay(&["camera", "zones", "-c", p, "front", "--write"]);
    assert!(ok, "{out}{err}");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.lines().any(|l| l.trim_start().starts_with("[[rule]]")), "a rule was written:\n{text}");
    let cfg = camrelay::config::load(&path).unwrap();
    assert_eq!((cfg.rules.len(), cfg.relays.len(), cfg.zones.len()), (0, 1, 3), "{text}");
    assert!(text.contains("(direction unknown)"), "the direction is a word or `unknown`:\n{text}");
    assert!(camrelay(&["check", p]).0);

    // Probe prints the device's text without a byte that drives a terminal.
    let pw = dir.path().join("cam.password");
    let (ok, out, err) =
        camrelay(&["camera", "probe", "--url", &sim.url(), "--password-file", pw.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(!out.contains('\u{1b}') && !out.contains('\u{7}'), "{out:?}");
    assert!(out.contains("?[2J?]0;pwned?E4"), "{out}");

    // Add: a MAC that is not one is left out; a serial with quotes and line
    // breaks becomes one TOML string, never a [[relay]].
    let other = dir.path().join("other.toml");
    std::fs::write(&other, "[gpio]\nbackend = \"mock\"\n").unwrap();
    let (ok, out, err) = camrelay(&[
        "camera",
        "add",
        "-c",
        other.to_str().unwrap(),
        "--name",
        "cam2",
        "--url",
        &sim.url(),
        "--password-file",
        pw.to_str().unwrap(),
    ]);
    assert!(ok, "{out}{err}");
    let cfg = camrelay::config::load(&other).unwrap();
    assert_eq!((cfg.relays.len(), cfg.cameras.len()), (0, 1));
    assert_eq!(cfg.cameras[0].mac, None);
    assert_eq!(cfg.cameras[0].serial.as_deref(), Some("SN\"?[[relay]]?name = \"x\"?line = 9"));
}

#[test]
fn defect_2_the_api_token_cannot_be_guessed_fast() {
    let d = start("http://127.0.0.1:9", "");
    let guesser = [127, 0, 0, 2];
    let t0 = Instant::now();
    let mut counts = std::collections::BTreeMap::new();
    for i in 0..60 {
        let status = control(&d, guesser, &format!("guess-{i}"), r#"{"action":"on"}"#);
        *counts.entry(status).or_insert(0) += 1;
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let checked = counts.get(&401).copied().unwrap_or(0);
    assert!(
        checked as f64 <= 5.0 + 2.0 * elapsed + 1.0,
        "{checked} guesses checked in {elapsed:.1} s: {counts:?}"
    );
    assert_eq!(checked + counts.get(&429).copied().unwrap_or(0), 60, "{counts:?}");
    // Throttled means not compared: the right token from the guesser waits too.
    assert_eq!(control(&d, guesser, TOKEN, r#"{"action":"on"}"#), 429);
    let (_, head, _) = http_from(guesser, d.api, "POST", "/login", &[], "token=x");
    assert!(head.contains("retry-after:"), "{head}");

    // The owner, from another address, is not slowed.
    let owner = Instant::now();
    let (status, head, _) =
        http_from([127, 0, 0, 1], d.api, "POST", "/login", &[], &format!("token={TOKEN}"));
    assert_eq!(status, 200);
    assert!(head.contains("set-cookie: camrelay_session="), "{head}");
    assert_eq!(control(&d, [127, 0, 0, 1], TOKEN, r#"{"action":"on"}"#), 200);
    assert!(owner.elapsed() < Duration::from_secs(1), "owner waited {:?}", owner.elapsed());

    // Logged once a minute per source, and counted.
    let log = d.stderr_text();
    let lines = log.lines().filter(|l| l.contains("wrong token") && l.contains("127.0.0.2")).count();
    assert_eq!(lines, 1, "{log}");
    let (_, metrics) = http(d.api, "GET", "/metrics", &[], "");
    let count = |outcome: &str| -> u64 {
        let key = format!("camrelay_api_auth_failures_total{{outcome=\"{outcome}\"}} ");
        metrics.lines().find_map(|l| l.strip_prefix(key.as_str())).and_then(|v| v.parse().ok()).unwrap()
    };
    assert_eq!(count("wrong"), checked as u64);
    assert!(count("throttled") >= 60 - checked as u64 + 2, "{metrics}");
}

#[test]
fn defect_4_open_event_streams_do_not_lock_the_api() {
    let d = start("http://127.0.0.1:9", "");
    let mut streams = Vec::new();
    let (mut open, mut refused) = (0, 0);
    for _ in 0..64 {
        let mut s = TcpStream::connect(d.api).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(s, "GET /api/events HTTP/1.1\r\nHost: {}\r\n\r\n", d.api).unwrap();
        let mut head = [0u8; 12];
        s.read_exact(&mut head).unwrap();
        match &head[9..12] {
            b"200" => open += 1,
            b"503" => refused += 1,
            other => panic!("{:?}", String::from_utf8_lossy(other)),
        }
        streams.push(s);
    }
    assert_eq!((open, refused), (camrelay::api::MAX_EVENT_STREAMS, 64 - camrelay::api::MAX_EVENT_STREAMS));
    // While every stream stays open: health, control and login answer at once.
    let t = Instant::now();
    assert_eq!(http(d.api, "GET", "/health", &[], "").0, 200);
    assert_eq!(control(&d, [127, 0, 0, 1], TOKEN, r#"{"action":"pulse","duration":"100ms"}"#), 200);
    assert_eq!(http(d.api, "POST", "/login", &[], &format!("token={TOKEN}")).0, 200);
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    drop(streams);
}

#[test]
fn defect_6_a_foreign_host_is_not_served() {
    let d = start("http://127.0.0.1:9", "");
    let with_host = |host: &str, path: &str| {
        let mut s = TcpStream::connect(d.api).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").unwrap();
        let mut raw = String::new();
        let _ = s.read_to_string(&mut raw);
        (raw.split_whitespace().nth(1).and_then(|c| c.parse::<u16>().ok()).unwrap_or(0), raw)
    };
    let port = d.api.port();
    for path in ["/api/status", "/metrics", "/api/config", "/api/events", "/"] {
        let (status, raw) = with_host(&format!("rebind.attacker.example:{port}"), path);
        assert_eq!(status, 421, "{path}: {raw}");
        assert!(raw.contains("[api] hosts"), "{raw}");
    }
    assert_eq!(with_host(&format!("rebind.attacker.example:{port}"), "/health").0, 200);
    for ok in [format!("127.0.0.1:{port}"), format!("localhost:{port}"), format!("[::1]:{port}")] {
        assert_eq!(with_host(&ok, "/api/status").0, 200, "{ok}");
    }
    drop(d);
    let d = start_raw(
        &rules("http://127.0.0.1:9", "")
            .replace("token = \"tok-123\"", "token = \"tok-123\"\nhosts = [\"pi.example.net\"]"),
    );
    let mut s = TcpStream::connect(d.api).unwrap();
    write!(
        s,
        "GET /api/status HTTP/1.1\r\nHost: PI.example.net:{}\r\nConnection: close\r\n\r\n",
        d.api.port()
    )
    .unwrap();
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
}

fn start_raw(text: &str) -> Daemon {
    let d = Daemon::start(text);
    std::fs::write(d.dir.path().join("cam.password"), "pw\n").unwrap();
    d
}

#[test]
fn defect_7_an_element_bomb_from_a_camera_is_bounded_and_off_the_core() {
    // `front` answers its snapshot with 3.5 MB of <a/> (inside the snapshot
    // limit), `back` its regions with 200 KB of them (inside the XML limit).
    let front = Sim::start(Spec { bomb: Some(("GetSnapshot", 3_500_000)), ..Spec::default() });
    let back = Sim::start(Spec { bomb: Some(("GetSmartPerimeterConfig", 200_000)), ..Spec::default() });
    let extra = format!(
        "\n[[camera]]\nname = \"back\"\nmac = \"70:ab:c8:1b:5d:dd\"\nurl = \"{}\"\npassword_file = \"cam.password\"\n",
        back.url()
    );
    let d = start(&front.url(), &extra);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = Vec::new();
    for i in 0..4 {
        let (stop, api) = (stop.clone(), d.api);
        readers.push(std::thread::spawn(move || {
            let path = if i % 2 == 0 { "/api/cameras/front/snapshot" } else { "/api/cameras/back/regions" };
            let mut answers = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                answers.push(http(api, "GET", path, &[], ""));
            }
            answers
        }));
    }
    // Meanwhile: ten 200 ms pulses.
    for _ in 0..10 {
        assert_eq!(control(&d, [127, 0, 0, 1], TOKEN, r#"{"action":"pulse","duration":"200ms"}"#), 200);
        std::thread::sleep(Duration::from_millis(400));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let answers: Vec<(u16, String)> = readers.into_iter().flat_map(|r| r.join().unwrap()).collect();
    assert!(answers.len() >= 8, "{}", answers.len());
    for (status, body) in &answers {
        assert_eq!(*status, 502, "{body}");
        assert!(body.contains("more than 4096 elements"), "{body}");
    }
    let log = d.mock_log();
    let lamp: Vec<_> = log.iter().filter(|c| c.relay == "lamp").collect();
    let lengths: Vec<u64> =
        lamp.windows(2).filter(|w| w[0].on && !w[1].on).map(|w| w[1].ms - w[0].ms).collect();
    assert_eq!(lengths.len(), 10, "{lamp:?}");
    assert!(lengths.iter().all(|&ms| (195..=300).contains(&ms)), "pulse lengths {lengths:?} ms");
    let peak_mb = vm_hwm_kb(d.child.id()) / 1024;
    assert!(peak_mb < 48, "peak RSS {peak_mb} MB");
}

#[test]
fn defect_8_a_page_save_racing_camera_zones_write_loses_no_edit() {
    let sim = Sim::start(Spec::default());
    let d = start(&sim.url(), "");
    // The rules file as a user may keep it: a link to a file in a folder of
    // its own, mode 0640 (owner and group kept: tests/first_hour.rs, as root).
    let real_dir = d.dir.path().join("etc");
    std::fs::create_dir(&real_dir).unwrap();
    let real = real_dir.join("rules.toml");
    std::fs::rename(&d.config_path, &real).unwrap();
    std::os::unix::fs::symlink(&real, &d.config_path).unwrap();
    std::fs::write(real_dir.join("cam.password"), "pw\n").unwrap();
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).unwrap();
    let origin = format!("http://{}", d.api);
    let page = {
        let (api, origin) = (d.api, origin.clone());
        std::thread::spawn(move || {
            let mut answered = Vec::new();
            for i in 0..30 {
                let body = format!(
                    r#"{{"zones":[{{"name":"page_{i}","polygon":[[0,{y}],[1000,{y}],[1000,{y2}]]}}]}}"#,
                    y = 100 + i * 10,
                    y2 = 200 + i * 10
                );
                let auth = format!("Bearer {TOKEN}");
                let headers = [("Authorization", auth.as_str()), ("Origin", origin.as_str())];
                let (status, text) = http(api, "PUT", "/api/cameras/front/zones", &headers, &body);
                answered.push((i, status, text));
            }
            answered
        })
    };
    let link = d.config_path.to_str().unwrap().to_string();
    let mut cli_failures = Vec::new();
    for _ in 0..15 {
        let (ok, out, err) = camrelay(&["camera", "zones", "-c", &link, "front", "--write"]);
        if !ok {
            cli_failures.push(format!("{out}{err}"));
        }
    }
    let answered = page.join().unwrap();
    assert!(cli_failures.is_empty(), "{cli_failures:#?}");
    let text = std::fs::read_to_string(&real).unwrap();
    for (i, status, body) in &answered {
        assert_eq!(*status, 200, "save {i}: {body}");
        assert!(
            text.contains(&format!("name = \"page_{i}\"")),
            "save {i} answered 200 and was lost:\n{text}"
        );
    }
    assert!(text.contains("name = \"front_perimeter_1\""), "{text}");
    assert!(
        std::fs::symlink_metadata(&d.config_path).unwrap().file_type().is_symlink(),
        "the link was replaced"
    );
    assert_eq!(std::fs::metadata(&real).unwrap().mode() & 0o777, 0o640);
    let leftovers: Vec<_> = std::fs::read_dir(&real_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("camrelay-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn defect_9_snapshots_of_a_slow_camera_leave_room_for_health_and_control() {
    let sim = Sim::start(Spec { delay: Duration::from_secs(3), ..Spec::default() });
    let d = start(&sim.url(), "");
    let waiting: Vec<_> = (0..64)
        .map(|_| {
            let api = d.api;
            std::thread::spawn(move || {
                let t = Instant::now();
                (http(api, "GET", "/api/cameras/front/snapshot", &[], "").0, t.elapsed())
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let t = Instant::now();
    assert_eq!(http(d.api, "GET", "/health", &[], "").0, 200);
    assert_eq!(control(&d, [127, 0, 0, 1], TOKEN, r#"{"action":"on"}"#), 200);
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    let answers: Vec<(u16, Duration)> = waiting.into_iter().map(|w| w.join().unwrap()).collect();
    let busy = answers.iter().filter(|(s, _)| *s == 503).count();
    assert!(busy >= 64 - camrelay::access::MAX_CAMERA_CALLS, "{answers:?}");
    assert!(
        answers.iter().filter(|(s, _)| *s == 503).all(|(_, t)| *t < Duration::from_secs(2)),
        "{answers:?}"
    );
}

#[test]
fn defect_9_a_login_is_not_queued_behind_guessers() {
    let d = start("http://127.0.0.1:9", "");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let guessers: Vec<_> = (0..32u8)
        .map(|i| {
            let (stop, api) = (stop.clone(), d.api);
            std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    http_from([127, 0, 1, i + 1], api, "POST", "/login", &[], "token=wrong");
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let t = Instant::now();
    let (status, _) = http(d.api, "POST", "/login", &[], &format!("token={TOKEN}"));
    let waited = t.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    guessers.into_iter().for_each(|g| g.join().unwrap());
    assert_eq!(status, 200);
    assert!(waited < Duration::from_secs(1), "the owner's login waited {waited:?}");
}

#[test]
fn defect_9_an_https_origin_is_another_origin() {
    let d = start("http://127.0.0.1:9", "");
    let (_, head, _) = http_from([127, 0, 0, 1], d.api, "POST", "/login", &[], &format!("token={TOKEN}"));
    let cookie = head
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_string();
    let on = r#"{"action":"on"}"#;
    let https = format!("https://{}", d.api);
    let http_origin = format!("http://{}", d.api);
    let with = |origin: &str| {
        http(d.api, "POST", "/api/relays/lamp", &[("Cookie", &cookie), ("Origin", origin)], on).0
    };
    assert_eq!(with(&https), 403);
    assert_eq!(with(&http_origin), 200);
}

#[test]
fn defect_9_a_garbage_tripwire_answer_is_refused_whole() {
    let sim =
        Sim::start(Spec { tripwires: vec![((0, 5000), (10000, 5000))], garbage_lines: 2, ..Spec::default() });
    let dir = tempfile::tempdir().unwrap();
    let path = rules_file(dir.path(), &sim);
    let before = std::fs::read_to_string(&path).unwrap();
    let (ok, out, err) = camrelay(&["camera", "zones", "-c", path.to_str().unwrap(), "front", "--write"]);
    assert!(!ok, "{out}");
    assert!(err.contains("tripwire 2") && err.contains("not a coordinate"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before, "nothing written");
}

#[test]
fn defect_9_ten_thousand_zones_in_one_save_are_refused() {
    let d = start("http://127.0.0.1:9", "");
    let before = std::fs::read_to_string(&d.config_path).unwrap();
    let zones: Vec<String> =
        (0..10_000).map(|i| format!(r#"{{"name":"z{i}","polygon":[[0,0],[100,0],[100,100]]}}"#)).collect();
    let body = format!(r#"{{"zones":[{}]}}"#, zones.join(","));
    let origin = format!("http://{}", d.api);
    let auth = format!("Bearer {TOKEN}");
    let (status, text) = http(
        d.api,
        "PUT",
        "/api/cameras/front/zones",
        &[("Authorization", &auth), ("Origin", &origin)],
        &body,
    );
    assert_eq!(status, 422, "{text}");
    assert!(text.contains("10000 zones in one edit; at most 64"), "{text}");
    assert_eq!(std::fs::read_to_string(&d.config_path).unwrap(), before);
    let peak_mb = vm_hwm_kb(d.child.id()) / 1024;
    assert!(peak_mb < 48, "peak RSS {peak_mb} MB");
    // The same request through the API's plain helper, to show it is no transport quirk.
    assert_eq!(request(d.api, "GET", "/health", &[], b"").status, 200);
}
