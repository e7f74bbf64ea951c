//! Issue 26, the first hour on a Pi: each point fixed so far has a test named
//! after it (`first_hour_N_...`, in the issue's order). Point 1 (the
//! camera's own slot shapes) is `onboarding_works_against_every_firmware_shape_on_both_generations`
//! and `a_read_back_that_differs_names_the_field` in tests/camera_api.rs.

mod camera_sim;
mod common;

use camera_sim::{Sim, Spec};
use common::{camrelay_command, request, traject, Daemon};
use std::path::Path;
use std::time::{Duration, Instant};

fn camrelay_in(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = camrelay_command().current_dir(dir).args(args).output().expect("run camrelay");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn camrelay(args: &[&str]) -> (bool, String, String) {
    camrelay_in(Path::new("."), args)
}

const RULES: &str = r#"[server]
listen = "127.0.0.1:0"

[api]
listen = "127.0.0.1:0"
token = "t"

[gpio]
backend = "mock"
mock_log = "{MOCK_LOG}"

[[relay]]
name = "light"
line = 17
max_on = "1m"
"#;

#[test]
#[cfg_attr(not(camrelay_root), ignore = "needs root to give the files an owner and group not its own")]
fn first_hour_2_every_write_keeps_owner_group_and_mode() {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    let sim = Sim::start(Spec::default());
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules.toml");
    std::fs::write(&rules, "[gpio]\nbackend = \"mock\"\n").unwrap();
    std::fs::set_permissions(&rules, std::fs::Permissions::from_mode(0o640)).unwrap();
    // As the package installs it: root:camrelay 0640 (here nogroup, 65534).
    std::os::unix::fs::chown(&rules, Some(0), Some(65534)).unwrap();
    let pw = dir.path().join("cam.password");
    std::fs::write(&pw, "pw\n").unwrap();
    let r = rules.to_str().unwrap();
    let (ok, out, err) = camrelay(&[
        "camera",
        "add",
        "-c",
        r,
        "--name",
        "front",
        "--url",
        &sim.url(),
        "--password-file",
        pw.to_str().unwrap(),
    ]);
    assert!(ok, "{out}{err}");
    let meta = std::fs::metadata(&rules).unwrap();
    assert_eq!((meta.uid(), meta.gid(), meta.mode() & 0o777), (0, 65534, 0o640), "after camera add");
    let (ok, out, err) = camrelay(&["camera", "zones", "-c", r, "front", "--write"]);
    assert!(ok, "{out}{err}");
    let meta = std::fs::metadata(&rules).unwrap();
    assert_eq!((meta.uid(), meta.gid(), meta.mode() & 0o777), (0, 65534, 0o640), "after zones --write");
    let prev = std::fs::metadata(dir.path().join("rules.toml.prev")).unwrap();
    assert_eq!((prev.gid(), prev.mode() & 0o777), (65534, 0o640), "the kept copy is no more readable");
    // The subscriptions file, rewritten by subscribe, keeps its group too.
    let subs = dir.path().join("camrelay-subscriptions.json");
    std::fs::write(&subs, "{\"cameras\":{}}").unwrap();
    std::fs::set_permissions(&subs, std::fs::Permissions::from_mode(0o660)).unwrap();
    std::os::unix::fs::chown(&subs, Some(0), Some(65534)).unwrap();
    let (ok, out, err) =
        camrelay(&["camera", "subscribe", "-c", r, "front", "--address", "127.0.0.1:5002", "--wait", "0"]);
    assert!(ok, "{out}{err}");
    let meta = std::fs::metadata(&subs).unwrap();
    assert_eq!((meta.gid(), meta.mode() & 0o777), (65534, 0o660));
    assert!(std::fs::read_to_string(&subs).unwrap().contains("\"front\""));
}

#[test]
fn first_hour_6_a_relative_password_file_is_written_absolute_and_checked() {
    let sim = Sim::start(Spec::default());
    let home = tempfile::tempdir().unwrap();
    let etc = tempfile::tempdir().unwrap();
    let rules = etc.path().join("rules.toml");
    std::fs::write(&rules, "[gpio]\nbackend = \"mock\"\n").unwrap();
    std::fs::write(home.path().join("driveway.password"), "pw\n").unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(home.path().join("driveway.password"), std::fs::Permissions::from_mode(0o600))
        .unwrap();
    // Typed in the home folder, as a user would: the path is relative to it.
    let (ok, out, err) = camrelay_in(
        home.path(),
        &[
            "camera",
            "add",
            "-c",
            rules.to_str().unwrap(),
            "--name",
            "driveway",
            "--url",
            &sim.url(),
            "--password-file",
            "driveway.password",
        ],
    );
    assert!(ok, "{out}{err}");
    let text = std::fs::read_to_string(&rules).unwrap();
    let abs = home.path().join("driveway.password");
    assert!(text.contains(&format!("password_file = \"{}\"", abs.display())), "{text}");
    // From anywhere else, the snapshot still finds it.
    let jpg = etc.path().join("view.jpg");
    let (ok, out, err) = camrelay(&[
        "camera",
        "snapshot",
        "-c",
        rules.to_str().unwrap(),
        "driveway",
        "-o",
        jpg.to_str().unwrap(),
    ]);
    assert!(ok, "{out}{err}");
    // check reads it as the service would: empty is a warning.
    std::fs::write(&abs, "").unwrap();
    let (_, _, err) = camrelay(&["check", rules.to_str().unwrap()]);
    assert!(err.contains("password_file") && err.contains("is empty"), "{err}");
    let (ok, _, _) = camrelay(&["check", "--strict", rules.to_str().unwrap()]);
    assert!(!ok, "--strict refuses it");
}

#[test]
fn first_hour_7_a_posting_camera_is_never_shown_as_not_posting() {
    // The camera's slot points at another address (set by hand to a name,
    // say), but its traject arrives here: status says it posts here.
    let sim = Sim::start(Spec::default());
    let secrets = tempfile::tempdir().unwrap();
    let pw = secrets.path().join("pw");
    std::fs::write(&pw, "pw\n").unwrap();
    let d = Daemon::start(&format!(
        "{RULES}\n[[camera]]\nname = \"front\"\nmac = \"58:5b:69:5f:42:1b\"\nurl = \"{}\"\npassword_file = \"{}\"\n",
        sim.url(),
        pw.display()
    ));
    let posts_here = || -> Option<(serde_json::Value, String)> {
        let status: serde_json::Value =
            serde_json::from_str(&request(d.api, "GET", "/api/status", &[], b"").body).unwrap();
        let sub = status["subscriptions"].as_array()?.iter().find(|s| s["camera"] == "front")?.clone();
        Some((sub["posts_here"].clone(), sub["detail"].as_str().unwrap_or("").to_string()))
    };
    // Checked at start: no slot points here.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !matches!(posts_here(), Some((serde_json::Value::Bool(false), _))) {
        assert!(Instant::now() < deadline, "{:?}", posts_here());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(common::post(d.posts, "/API", &traject(&[(1, "person", [0, 0, 100, 100])])).status, 200);
    let (p, detail) = posts_here().unwrap();
    assert_eq!(p, true, "{detail}");
    assert!(detail.contains("its traject arrives here"), "{detail}");
}

#[test]
fn first_hour_8_camera_commands_reload_the_running_daemon_or_say_it_is_not_running() {
    let sim = Sim::start(Spec::default());
    let d = Daemon::start(RULES);
    let secrets = tempfile::tempdir().unwrap();
    let pw = secrets.path().join("cam.password");
    std::fs::write(&pw, "pw\n").unwrap();
    // The commands find the daemon through the file's [api] listen, as on a Pi.
    let text = std::fs::read_to_string(&d.config_path).unwrap();
    let text = text.replace("[api]\nlisten = \"127.0.0.1:0\"", &format!("[api]\nlisten = \"{}\"", d.api));
    std::fs::write(&d.config_path, text).unwrap();
    let rules = d.config_path.to_str().unwrap();
    let (ok, out, err) = camrelay(&[
        "camera",
        "add",
        "-c",
        rules,
        "--name",
        "front",
        "--url",
        &sim.url(),
        "--password-file",
        pw.to_str().unwrap(),
    ]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("the running camrelay reloaded the file: applied"), "{out}");
    let (ok, out, err) = camrelay(&["camera", "zones", "-c", rules, "front", "--write"]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("the running camrelay reloaded the file: applied"), "{out}");
    let config: serde_json::Value =
        serde_json::from_str(&request(d.api, "GET", "/api/config", &[], b"").body).unwrap();
    assert!(config.to_string().contains("front_perimeter_1"), "the daemon has the new zones: {config}");
    // With the daemon stopped: one line that says so and what to do.
    let api = d.api;
    drop(d);
    let dir = tempfile::tempdir().unwrap();
    let stopped = dir.path().join("rules.toml");
    std::fs::write(&stopped, format!("[api]\nlisten = \"{api}\"\n[gpio]\nbackend = \"mock\"\n")).unwrap();
    let (ok, out, err) = camrelay(&[
        "camera",
        "add",
        "-c",
        stopped.to_str().unwrap(),
        "--name",
        "front",
        "--url",
        &sim.url(),
        "--password-file",
        pw.to_str().unwrap(),
    ]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains(&format!("camrelay is not running with this file (nothing answers on {api}): the change applies when it starts")),
        "{out}"
    );
}

#[test]
fn first_hour_9_camera_errors_name_the_port_the_password_file_and_https() {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("front.password");
    std::fs::write(&pw, "wrong\n").unwrap();
    let p = pw.to_str().unwrap();
    // Nothing listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (ok, _, err) =
        camrelay(&["camera", "probe", "--url", &format!("http://127.0.0.1:{port}"), "--password-file", p]);
    assert!(!ok);
    assert!(
        err.contains(&format!("cannot reach the camera at 127.0.0.1:{port}: connection refused (is it on, and is this its address and port?)")),
        "{err}"
    );
    assert!(!err.contains("os error"), "{err}");
    let sim = Sim::start(Spec::default());
    let (ok, _, err) = camrelay(&["camera", "probe", "--url", &sim.url(), "--password-file", p]);
    assert!(!ok);
    assert!(err.contains(&format!("the password is the first line of {}", pw.display())), "{err}");
    let (ok, _, err) = camrelay(&["camera", "probe", "--url", "https://192.168.1.20", "--password-file", p]);
    assert!(!ok);
    assert!(
        err.contains("camrelay does not speak HTTPS to them; write http://192.168.1.20")
            && !err.contains("192.168.1.20:8080"),
        "{err}"
    );
    // The rules file says the same.
    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        format!("[[camera]]\nname = \"front\"\nurl = \"https://192.168.1.20/\"\npassword_file = \"{p}\"\n"),
    )
    .unwrap();
    let (ok, _, err) = camrelay(&["check", rules.to_str().unwrap()]);
    assert!(!ok && err.contains("write url = \"http://192.168.1.20\""), "{err}");
}

#[test]
fn first_hour_10_replay_prints_no_daemon_log_lines_or_wall_clock() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (ok, out, err) = camrelay(&[
        "replay",
        "--config",
        root.join("rules.example.toml").to_str().unwrap(),
        root.join("tests/fixtures/replay/porch-walk").to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(!out.is_empty());
    assert!(!err.contains("relays off at startup") && !err.contains(" INFO "), "{err}");
    let year = chrono::Utc::now().format("%Y-").to_string();
    assert!(!err.contains(&year), "a wall-clock stamp on stderr: {err}");
}

#[test]
fn first_hour_12_the_build_script_watches_only_paths_that_exist() {
    // A watched path that does not exist makes cargo rerun the build script
    // and rebuild camrelay on every build (71 s for a no-op here).
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/debug/build");
    let mut outputs = 0;
    for dir in std::fs::read_dir(&target).unwrap().flatten() {
        if !dir.file_name().to_string_lossy().starts_with("camrelay-") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(dir.path().join("output")) else { continue };
        outputs += 1;
        for line in text.lines() {
            let path = line
                .strip_prefix("cargo:rerun-if-changed=")
                .or_else(|| line.strip_prefix("cargo::rerun-if-changed="));
            if let Some(path) = path {
                let full = if Path::new(path).is_absolute() {
                    Path::new(path).to_path_buf()
                } else {
                    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
                };
                assert!(full.exists(), "build.rs watches {path}, which does not exist");
            }
        }
    }
    assert!(outputs > 0, "no build script output under {}", target.display());
}
