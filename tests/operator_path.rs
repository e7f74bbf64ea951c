//! The operator-path findings, one test each: what a person installing a gate
//! controller met following the README, and what they get now. Through the
//! real binary, as they would run it.

mod common;

use common::{post, request, traject, Daemon};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const LISTEN: &str = "[server]\nlisten = \"127.0.0.1:0\"\n";
const MOCK: &str = "[gpio]\nbackend = \"mock\"\nmock_log = \"{MOCK_LOG}\"\n";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn write(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("rules.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// (exit code, stdout, stderr) of `camrelay ARGS`.
fn camrelay(args: &[&str]) -> (Option<i32>, String, String) {
    let out = common::camrelay_command().args(args).output().expect("camrelay runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn check(path: &Path) -> (Option<i32>, String, String) {
    camrelay(&["check", path.to_str().unwrap()])
}

/// Finding 1: a bad `[server] allow` entry passed `check` and made `run`
/// exit with "the ingest server stopped unexpectedly". Both now name the
/// entry, its place in the file and what would be valid.
#[test]
fn finding_01_a_bad_allow_entry_is_refused_by_check_and_run_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    for (entry, words) in [
        ("192.168.1.1/24", "host bits set after /24; did you mean \"192.168.1.0/24\"?"),
        ("10.0.0.0/99", "prefix length \"99\" is not a number from 0 to 32"),
        ("not-a-net", "is not an IPv4 or IPv6 address"),
    ] {
        let path = write(dir.path(), &format!("[server]\nallow = [\"10.0.0.0/8\", \"{entry}\"]\n"));
        let (code, _, stderr) = check(&path);
        assert_eq!(code, Some(1), "{entry}: {stderr}");
        assert!(stderr.contains("rules.toml:2:24:") && stderr.contains(words), "{entry}: {stderr}");
        let (code, _, stderr) = camrelay(&["run", "--config", path.to_str().unwrap()]);
        assert_eq!(code, Some(1), "{entry}: {stderr}");
        assert!(stderr.contains(words) && !stderr.contains("stopped unexpectedly"), "{entry}: {stderr}");
    }
}

/// Finding 3: files `run` refused passed `check`.
#[test]
fn finding_03_check_refuses_what_run_would() {
    let dir = tempfile::tempdir().unwrap();
    let relay =
        |name: &str, line: u32| format!("[[relay]]\nname = \"{name}\"\nline = {line}\nmax_on = \"1s\"\n");
    let cases = [
        (
            format!("[gpio]\nbackend = \"mock\"\n{}{}", relay("a", 27), relay("b", 27)),
            "rules.toml:9:8: relay \"b\" uses line 27 of the default chip, as relay \"a\" does",
        ),
        (
            "[api]\ntoken = \"a\"\ntoken_file = \"/etc/hostname\"\n".to_string(),
            "rules.toml:3:1: [api] has both \"token\" and \"token_file\"; keep one",
        ),
    ];
    for (text, message) in cases {
        let path = write(dir.path(), &text);
        let (code, _, stderr) = check(&path);
        assert_eq!(code, Some(1), "{text}");
        assert!(stderr.contains(message), "{text}\n{stderr}");
    }
    // A token file that cannot be read: `run` keeps the rules working with
    // manual control refused (issue 26: the page then says how to set one),
    // and `check` warns the same; --strict refuses it.
    let path = write(dir.path(), "[api]\ntoken_file = \"/nonexistent/camrelay-token\"\n");
    let (code, _, stderr) = check(&path);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("[api] token_file /nonexistent/camrelay-token cannot be read"), "{stderr}");
    let (code, _, _) = camrelay(&["check", "--strict", path.to_str().unwrap()]);
    assert_eq!(code, Some(1));
}

/// Finding 5: no log line when a device first posted, and no way to see
/// which `[[camera]]` it matched.
#[test]
fn finding_05_a_device_first_seen_is_logged_with_its_camera_or_the_block_to_add() {
    let d = Daemon::start(&format!(
        "{LISTEN}[api]\nlisten = \"127.0.0.1:0\"\n{MOCK}[[camera]]\nname = \"driveway\"\nmac = \"58:5b:69:5f:42:1b\"\n"
    ));
    assert_eq!(post(d.posts, "/API", &traject(&[(1, "person", [1, 1, 2, 2])])).status, 200);
    let other = String::from_utf8(traject(&[(1, "person", [1, 1, 2, 2])]))
        .unwrap()
        .replace("58:5b:69:5f:42:1b", "58:5b:69:00:00:99");
    assert_eq!(post(d.posts, "/API", other.as_bytes()).status, 200);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !d.stderr_text().contains("58:5b:69:00:00:99") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = d.stderr_text();
    assert!(
        log.contains("device first seen, matches [[camera]]") && log.contains("camera=driveway"),
        "{log}"
    );
    assert!(
        log.contains(
            "matches no [[camera]]; to name it, add: [[camera]] name = \"...\" mac = \"58:5b:69:00:00:99\""
        ),
        "{log}"
    );
    let status: serde_json::Value =
        serde_json::from_str(&request(d.api, "GET", "/api/status", &[], b"").body).unwrap();
    let camera_of = |mac: &str| {
        status["devices"].as_array().unwrap().iter().find(|x| x["key"] == mac).map(|x| x["camera"].clone())
    };
    assert_eq!(camera_of("58:5b:69:5f:42:1b"), Some(serde_json::json!("driveway")));
    assert_eq!(camera_of("58:5b:69:00:00:99"), Some(serde_json::Value::Null));
}

/// Finding 6: a second plate within `plate_cooldown` showed `matched 2,
/// commands 1` and nothing anywhere said why.
#[test]
fn finding_06_a_match_that_did_nothing_says_why() {
    let d = Daemon::start_with_env(
        &format!(
            "{LISTEN}[api]\nlisten = \"127.0.0.1:0\"\n{MOCK}\
             [[relay]]\nname = \"gate\"\nline = 27\nmax_on = \"3s\"\nmin_off = \"0s\"\n\
             [[camera]]\nname = \"lpr\"\nip = \"127.0.0.1\"\n\
             [[rule]]\nname = \"gate for residents\"\nwhen = {{ event = \"plate\", plate = [\"BAB1234\"] }}\n\
             then = {{ relay = \"gate\", action = \"pulse\", duration = \"1s\", plate_cooldown = \"30s\" }}\n"
        ),
        &[("CAMRELAY_LOG", "debug")],
    );
    let plate = std::fs::read_to_string(root().join("examples/posts/gate-plate.xml")).unwrap();
    for _ in 0..2 {
        assert_eq!(post(d.posts, "/API", plate.as_bytes()).status, 200);
    }
    std::thread::sleep(Duration::from_millis(200));
    let status: serde_json::Value =
        serde_json::from_str(&request(d.api, "GET", "/api/status", &[], b"").body).unwrap();
    let rule = &status["rules"][0];
    assert_eq!((rule["matched"].as_u64(), rule["commands"].as_u64()), (Some(2), Some(1)), "{status}");
    assert_eq!(rule["no_effect"], serde_json::json!({"plate_cooldown": 1}), "{status}");
    let metrics = request(d.api, "GET", "/metrics", &[], b"").body;
    assert!(
        metrics.contains(
            "camrelay_rule_no_effect_total{rule=\"gate for residents\",reason=\"plate_cooldown\"} 1"
        ),
        "{metrics}"
    );
    let log = d.stderr_text();
    assert!(
        log.contains("rule matched, nothing happened") && log.contains("reason=\"plate_cooldown\""),
        "{log}"
    );
}

/// Finding 7: a refused reload was visible only in the journal, and
/// `systemctl reload` succeeded whatever happened.
#[test]
fn finding_07_a_refused_reload_is_visible_and_camrelay_reload_fails_with_the_message() {
    let good = format!("{LISTEN}[api]\nlisten = \"127.0.0.1:0\"\n{MOCK}[[relay]]\nname = \"gate\"\nline = 27\nmax_on = \"3s\"\n");
    let d = Daemon::start(&good);
    // `camrelay reload` reads [api] listen from the file: point it at the running port.
    let text = std::fs::read_to_string(&d.config_path).unwrap();
    let pinned =
        text.replacen("[api]\nlisten = \"127.0.0.1:0\"", &format!("[api]\nlisten = \"{}\"", d.api), 1);
    std::fs::write(&d.config_path, &pinned).unwrap();
    let config = d.config_path.to_str().unwrap().to_string();
    let (code, stdout, stderr) = camrelay(&["reload", "--config", &config]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("reloaded") && stdout.contains("applied: 1 relay,"), "{stdout}");

    std::fs::write(&d.config_path, pinned.replace("max_on = \"3s\"", "max_on = \"3s\"\nmaxon = 1")).unwrap();
    let (code, _, stderr) = camrelay(&["reload", "--config", &config]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("reload refused") && stderr.contains("unknown key \"maxon\""), "{stderr}");
    let status: serde_json::Value =
        serde_json::from_str(&request(d.api, "GET", "/api/status", &[], b"").body).unwrap();
    assert_eq!(status["last_reload"]["applied"], serde_json::json!(false), "{status}");
    assert!(
        status["last_reload"]["message"].as_str().unwrap().contains(":12:1: unknown key \"maxon\""),
        "{status}"
    );
    let metrics = request(d.api, "GET", "/metrics", &[], b"").body;
    assert!(metrics.contains("camrelay_reloads_total{outcome=\"refused\"} 1"), "{metrics}");
    assert!(metrics.contains("camrelay_reloads_total{outcome=\"applied\"} 1"), "{metrics}");
}

/// Finding 8 and the README's own promises: what `check` says about the
/// example (the URL to type into a camera), the warnings, `--strict`, one
/// cause for a missing file, and the manual-control curl against the demo.
#[test]
fn finding_08_check_says_where_cameras_post_warns_and_the_readme_curl_works() {
    let (code, stdout, _) = check(&root().join("rules.example.toml"));
    assert_eq!(code, Some(0));
    assert!(
        stdout
            .contains("Cameras and NVRs post to http://<this Pi's address>:5002/API (any path is accepted)"),
        "{stdout}"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "");
    let (code, _, stderr) = check(&path);
    assert_eq!(code, Some(0));
    assert!(stderr.contains("warning: the file configures nothing"), "{stderr}");
    let (code, _, stderr) = camrelay(&["check", "--strict", path.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{stderr}");

    let warned = write(
        dir.path(),
        "[gpio]\nbackend = \"mock\"\n[[relay]]\nname = \"light\"\nline = \"17\"\nmax_on = \"1m\"\n\
         [[camera]]\nname = \"yard\"\nnvr = \"10.0.0.30\"\nchannel = 2\n\
         [[camera]]\nname = \"door\"\nmac = \"58:5b:69:00:00:01\"\n\
         [[rule]]\nname = \"yard light\"\nwhen = { event = \"presence\", camera = \"yard\" }\nthen = { relay = \"light\", action = \"hold\", hold = \"30s\" }\n\
         [[rule]]\nname = \"door light\"\nwhen = { event = \"intrusion\", camera = \"door\" }\nthen = { relay = \"light\", action = \"hold\", hold = \"30s\" }\n",
    );
    let (_, _, stderr) = check(&warned);
    assert!(stderr.contains("line = \"17\" is a line *name*"), "{stderr}");
    assert!(stderr.contains("behind an NVR: NVRs do not forward traject"), "{stderr}");
    assert!(stderr.contains("camera \"door\" is matched by mac only"), "{stderr}");

    let (code, _, stderr) = check(Path::new("/nonexistent/rules.toml"));
    assert_eq!(code, Some(1));
    assert_eq!(stderr.matches("No such file or directory").count(), 1, "{stderr}");

    // The README's manual-control curl, against the README's demo rules.
    let example = std::fs::read_to_string(root().join("rules.example.toml"))
        .unwrap()
        .replace("listen = \"0.0.0.0:5002\"", "listen = \"127.0.0.1:0\"")
        .replace("token = \"s3cret\"", "token = \"s3cret\"\nlisten = \"127.0.0.1:0\"")
        .replace("mock_log = \"mock-gpio.jsonl\"", "mock_log = \"{MOCK_LOG}\"");
    let d = Daemon::start(&example);
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    assert!(readme.contains("curl -s -X POST -H 'Authorization: Bearer s3cret' -d '{\"action\":\"pulse\",\"duration\":\"1s\"}' http://127.0.0.1:5003/api/relays/gate"));
    let r = request(
        d.api,
        "POST",
        "/api/relays/gate",
        &[("Authorization", "Bearer s3cret")],
        br#"{"action":"pulse","duration":"1s"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("\"accepted\":\"pulse\""), "{}", r.body);
}
