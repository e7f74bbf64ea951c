//! The hostile-LAN findings, one test each, against the real binary: what an
//! attacker on the camera network did to camrelay, and what it must get now.
//! Loopback only (a second source is 127.0.0.2), every loop bounded.

mod common;

use common::{connect_from, post, post_on, request, traject, Daemon, SUCCESS_XML};
use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

const MOCK: &str = "[gpio]\nbackend = \"mock\"\nmock_log = \"{MOCK_LOG}\"\n";

/// Ephemeral loopback listeners, with extra `[server]` and `[api]` keys, and the mock backend.
fn base(server: &str, api: &str) -> String {
    format!("[server]\nlisten = \"127.0.0.1:0\"\n{server}[api]\nlisten = \"127.0.0.1:0\"\n{api}{MOCK}")
}

fn person(id: u32) -> Vec<u8> {
    traject(&[(id, "person", [4000, 4000, 5000, 9000])])
}

/// Let this process (and the daemon it starts) hold a few thousand sockets.
fn raise_open_files() {
    let (_cap, soft) = camrelay::ingest::conns::cap_from_file_limit();
    assert!(soft >= 1280, "open-file soft limit {soft} could not be raised for this test");
}

/// Post a person with a fresh target id per post, on one keep-alive
/// connection, for `duration` with `gap` between posts; the number posted.
fn flood(d: &Daemon, duration: Duration, gap: Duration) -> u32 {
    let mut conn = TcpStream::connect(d.posts).unwrap();
    conn.set_nodelay(true).unwrap();
    let start = Instant::now();
    let mut id = 1;
    while start.elapsed() < duration {
        assert_eq!(post_on(&mut conn, d.posts, "/API", &person(id), false).status, 200);
        id += 1;
        std::thread::sleep(gap);
    }
    std::thread::sleep(Duration::from_millis(300));
    id - 1
}

/// The relay's changes after startup; every off lasted at least `min_off_ms`.
fn rests_between_switch_ons(d: &Daemon, relay: &str, min_off_ms: u64) -> Vec<common::LineChange> {
    let changes: Vec<_> =
        d.mock_log().into_iter().filter(|c| c.relay == relay && c.reason != "startup").collect();
    for pair in changes.windows(2) {
        if !pair[0].on && pair[1].on {
            let off = pair[1].ms - pair[0].ms;
            assert!(off >= min_off_ms, "{relay} off for {off} ms: {changes:?}");
        }
    }
    changes
}

/// Finding 1: a `toggle` rule fed a fresh target id per post switched on
/// 8,916 times in 5 s. With the default limits it switches at most once a
/// second, and every off lasts at least `min_off` (1 s).
#[test]
fn finding_01_chatter_under_a_detection_flood_is_held_to_min_off_by_default() {
    let rules = format!(
        "{}[[relay]]\nname = \"light\"\nline = 5\nmax_on = \"10m\"\n\
         [[rule]]\nname = \"flip\"\nwhen = {{ event = \"presence\", class = \"person\" }}\n\
         then = {{ relay = \"light\", action = \"toggle\" }}\n",
        base("", "")
    );
    let d = Daemon::start(&rules);
    let posts = flood(&d, Duration::from_secs(4), Duration::ZERO);
    assert!(posts > 200, "the flood was only {posts} posts");
    let changes = rests_between_switch_ons(&d, "light", 1_000);
    // Startup counts as a switch-off: the first switch-on is 1 s in at the
    // earliest, then at most one a second.
    let ons = changes.iter().filter(|c| c.on).count();
    assert!((1..=4).contains(&ons), "{ons} switch-ons in 4 s: {changes:?}");
}

/// Finding 1: a pulse with `retrigger = "restart"` and `max_on = "2s"` was on
/// 2,001 ms, off 0-5 ms, on again. Now every off after a cut lasts `min_off`.
#[test]
fn finding_01_chatter_a_restarted_pulse_cut_by_max_on_rests_for_min_off() {
    let rules = format!(
        "{}[[relay]]\nname = \"siren\"\nline = 5\nmax_on = \"1s\"\n\
         [[rule]]\nname = \"siren\"\nwhen = {{ event = \"presence\", class = \"person\" }}\n\
         then = {{ relay = \"siren\", action = \"pulse\", duration = \"1s\", retrigger = \"restart\" }}\n",
        base("", "")
    );
    let d = Daemon::start(&rules);
    flood(&d, Duration::from_millis(4_500), Duration::from_millis(5));
    let changes = rests_between_switch_ons(&d, "siren", 1_000);
    assert!(changes.len() >= 2, "{changes:?}");
}

/// Finding 2: a duration that overflows panicked `check`, SIGHUP and the API;
/// a `max_on` of years was accepted. All are refused with the bound named.
#[test]
fn finding_02_a_duration_that_overflows_is_refused_not_a_panic() {
    let huge = "18446744073709551615d18446744073709551615d";
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.toml");
    let relay = "[[relay]]\nname = \"porch\"\nline = 5\nmax_on = \"1h\"\n";
    let plain = format!("{MOCK}{relay}");
    std::fs::write(
        &path,
        format!(
            "{plain}[[rule]]\nname = \"r\"\nwhen = {{ event = \"presence\" }}\n\
             then = {{ relay = \"porch\", action = \"hold\", hold = \"{huge}\" }}\n"
        ),
    )
    .unwrap();
    let out = common::camrelay_command().arg("check").arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("rules.toml:11:") && stderr.contains("longer than the longest"), "{stderr}");

    std::fs::write(&path, format!("{MOCK}[[relay]]\nname = \"porch\"\nline = 5\nmax_on = \"200d\"\n"))
        .unwrap();
    let out = common::camrelay_command().arg("check").arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("the longest accepted is \"24h\""), "{stderr}");

    // The daemon: a reload with the overflowing file is refused, the old
    // rules stay, and the API answers an overflowing pulse with 400.
    let with_token = format!("{}{relay}", base("", "token = \"t\"\n"));
    let d = Daemon::start(&with_token);
    std::fs::write(
        &d.config_path,
        format!("{with_token}[[rule]]\nname = \"r\"\nwhen = {{ event = \"presence\" }}\nthen = {{ relay = \"porch\", action = \"hold\", hold = \"{huge}\" }}\n"),
    )
    .unwrap();
    d.signal("HUP");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(request(d.api, "GET", "/health", &[], b"").status, 200, "the daemon survived the reload");
    let auth = [("Authorization", "Bearer t")];
    let body = format!("{{\"action\": \"pulse\", \"duration\": \"{huge}\"}}");
    let r = request(d.api, "POST", "/api/relays/porch", &auth, body.as_bytes());
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.body.contains("longer than the longest"), "{}", r.body);
    assert!(d.stderr_text().contains("reload refused"), "{}", d.stderr_text());
}

/// Finding 3: 1,024 idle keep-alive connections, each after one valid post,
/// made every camera post fail. Now 1,100 of them from one source leave a
/// camera posting at 7 Hz from another source answered, every time.
#[test]
fn finding_03_connection_exhaustion_never_locks_a_camera_out() {
    raise_open_files();
    let d = Daemon::start(&base("", ""));
    let mut crowd = Vec::new();
    for _ in 0..1_100 {
        let mut c = connect_from([127, 0, 0, 1], d.posts);
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        // One valid post, then idle, as the attack did. A connection the
        // server already closed to make room may fail here: that is the point.
        let head = format!("POST /API HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", person(1).len());
        let _ = c.write_all(head.as_bytes()).and_then(|_| c.write_all(&person(1)));
        crowd.push(c);
    }
    let mut camera = connect_from([127, 0, 0, 2], d.posts);
    let mut answered = 0;
    for i in 0..35 {
        let r = post_on(&mut camera, d.posts, "/API", &person(1000 + i), false);
        assert_eq!((r.status, r.body.as_str()), (200, SUCCESS_XML), "camera post {i}");
        answered += 1;
        std::thread::sleep(Duration::from_millis(140));
    }
    assert_eq!(answered, 35);
    // A fresh camera connection is served too, and /health answers.
    let mut fresh = connect_from([127, 0, 0, 3], d.posts);
    assert_eq!(post_on(&mut fresh, d.posts, "/API", b"", true).status, 200);
    assert_eq!(request(d.api, "GET", "/health", &[], b"").status, 200);
    let metrics = request(d.api, "GET", "/metrics", &[], b"").body;
    assert!(metrics.contains("reason=\"source_limit\""), "{metrics}");
    assert!(d.stderr_text().contains("ingest connection limits"), "{}", d.stderr_text());
    drop(crowd);
}

/// Finding 4: the API kept a half-sent request head open forever. Now it is
/// closed after `[api] header_timeout`, and 1,100 of them do not starve
/// the camera port or the API itself.
#[test]
fn finding_04_the_api_closes_stalled_and_idle_connections() {
    raise_open_files();
    let d = Daemon::start(&base("", "header_timeout = \"1s\"\n"));
    let mut stalled = TcpStream::connect(d.api).unwrap();
    stalled.write_all(b"GET /api/status HTTP/1.1\r\nHost: x\r\nX-Slow: ").unwrap();
    stalled.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let t = Instant::now();
    let mut buf = [0u8; 64];
    let n = std::io::Read::read(&mut stalled, &mut buf).unwrap_or(0);
    assert!(
        n == 0 || String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 408"),
        "stalled head answered"
    );
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(4), "closed after {took:?}");

    let mut crowd = Vec::new();
    for _ in 0..1_100 {
        if let Ok(mut c) = TcpStream::connect(d.api) {
            let _ = c.write_all(b"GET /health HTTP/1.1\r\nX-Slow: ");
            crowd.push(c);
        }
    }
    assert_eq!(post(d.posts, "/API", &person(7)).status, 200, "camera port starved by API connections");
    drop(crowd);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(request(d.api, "GET", "/health", &[], b"").status, 200);
}

/// Finding 11: a manual pulse of "0s" answered 404; loopback clients of an
/// `[::]` API listener got 401; `max_body = 0` and zero timeouts passed `check`.
#[test]
fn finding_11_smaller_items_zero_pulse_mapped_loopback_and_zero_limits() {
    let d = Daemon::start(&format!(
        "[server]\nlisten = \"127.0.0.1:0\"\n[api]\nlisten = \"[::]:0\"\ntoken = \"t\"\n{MOCK}[[relay]]\nname = \"gate\"\nline = 5\nmax_on = \"3s\"\n"
    ));
    let api = SocketAddr::from(([127, 0, 0, 1], d.api.port()));
    let r = request(
        api,
        "POST",
        "/api/relays/gate",
        &[("Authorization", "Bearer t")],
        br#"{"action":"pulse","duration":"0s"}"#,
    );
    assert_eq!(r.status, 400, "{}", r.body);
    let status = request(api, "GET", "/api/status", &[], b"");
    assert_eq!(status.status, 200, "IPv4 loopback through an [::] listener: {}", status.body);
    assert_eq!(request(api, "GET", "/metrics", &[], b"").status, 200);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.toml");
    for (section, line, message) in [
        ("[server]\nmax_body = 0\n", "max_body", "must be between 1024 and 67108864, found 0"),
        ("[server]\nheader_timeout = \"0s\"\n", "header_timeout", "must be longer than 0s"),
        ("[server]\nidle_timeout = \"0s\"\n", "idle_timeout", "must be longer than 0s"),
        ("[api]\nheader_timeout = \"0s\"\n", "header_timeout", "must be longer than 0s"),
    ] {
        std::fs::write(&path, format!("{MOCK}{section}")).unwrap();
        let out = common::camrelay_command().arg("check").arg(&path).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{section}: {stderr}");
        assert!(stderr.contains(line) && stderr.contains(message), "{section}: {stderr}");
        assert!(stderr.contains("rules.toml:5:"), "{section}: located: {stderr}");
    }
}

/// Strip ANSI colour codes from a log line.
fn plain(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Finding 8: in each of 5 runs, 2-14 posts got 200 at SIGTERM and were
/// never processed. Now every post answered 200 is evaluated before the
/// final drive-off: the count the daemon logs at exit equals the 200s.
#[test]
fn finding_08_nothing_acknowledged_is_lost_at_sigterm() {
    for run in 0..5u64 {
        let mut d = Daemon::start(&base("", ""));
        let addr = d.posts;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let posters: Vec<_> = (0..4u32)
            .map(|p| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut ok = 0u64;
                    let Ok(mut c) = TcpStream::connect(addr) else { return ok };
                    let _ = c.set_nodelay(true);
                    let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
                    let body = person(p);
                    let head =
                        format!("POST /API HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", body.len());
                    for _ in 0..100_000 {
                        if stop.load(std::sync::atomic::Ordering::Relaxed) {
                            break;
                        }
                        if c.write_all(head.as_bytes()).and_then(|_| c.write_all(&body)).is_err() {
                            break;
                        }
                        match try_read_status(&mut c) {
                            Some(200) => ok += 1,
                            _ => break,
                        }
                    }
                    ok
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(200 + 100 * run));
        d.signal("TERM");
        let status = d.wait_exit(Duration::from_secs(15));
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let answered: u64 = posters.into_iter().map(|t| t.join().unwrap()).sum();
        assert!(status.success(), "run {run}: {status:?}");
        let log = d.stderr_text();
        let exit_line = log
            .lines()
            .map(plain)
            .find(|l| l.contains("every relay is off; exiting"))
            .unwrap_or_else(|| panic!("run {run}: no exit line in {log}"));
        let events: u64 = exit_line
            .split("events=")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("run {run}: {exit_line}"));
        assert!(answered > 50, "run {run}: only {answered} posts answered");
        assert_eq!(events, answered, "run {run}: posts answered 200 vs evaluated");
    }
}

/// The status code of one response (body read and dropped), or `None`.
fn try_read_status(c: &mut TcpStream) -> Option<u16> {
    use std::io::{BufRead, BufReader, Read};
    let mut r = BufReader::new(c);
    let mut line = String::new();
    r.read_line(&mut line).ok()?;
    let status = line.split_whitespace().nth(1)?.parse().ok()?;
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end().to_ascii_lowercase();
        if h.is_empty() {
            break;
        }
        if let Some(v) = h.strip_prefix("content-length:") {
            len = v.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).ok()?;
    if !r.buffer().is_empty() {
        return None;
    }
    Some(status)
}
