//! The camera client against a simulated device (tests/camera_sim): every
//! answer decoded on both API generations, every failure the issue lists, and
//! the end-to-end path a user takes: add → subscribe → first post arrives →
//! zones imported → a rule on an imported zone switches the mock relay.

mod camera_sim;
mod common;

use camera_sim::{foreign_slot, slot_item, Gen, Sim, Snap, Spec, JPEG};
use camrelay::camera::answer::{self, AnswerError, Generation, RegionKind};
use camrelay::camera::{CameraError, Client, Secret};
use common::*;
use std::time::{Duration, Instant};

/// A slot as the camera keeps it, without the whitespace it puts around
/// CDATA (which camrelay does not write back: same elements, same values).
fn squeeze(v: &[String]) -> Vec<String> {
    v.iter().map(|s| s.replace("\n  ", "").replace('\n', "")).collect()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn client(sim: &Sim, password: &str) -> Client {
    Client::new(&sim.url(), "admin", Secret::new(password.into())).unwrap()
}

#[test]
fn device_info_and_channels_on_both_generations() {
    for gen in [Gen::V19, Gen::V20] {
        let sim = Sim::start(Spec { gen, ..Spec::default() });
        let c = client(&sim, "pw");
        let info = rt().block_on(c.device_info()).unwrap();
        assert_eq!(info.generation, if gen == Gen::V20 { Generation::V20 } else { Generation::V19 });
        assert_eq!(info.mac.as_deref(), Some("70:ab:c8:1b:5d:dc"), "CDATA with whitespace around it");
        assert_eq!(
            (info.model.as_deref(), info.serial.as_deref(), info.channels),
            (Some("E4_4MP_"), Some("2E323D9463D5"), 1)
        );
        assert!(!info.is_nvr());
        let channels = rt().block_on(c.channels(&info)).unwrap();
        assert_eq!(channels.len(), 1);
        // A v1.9 camera must not be asked GetChannelList.
        assert!(!sim.log().contains(&"GetChannelList".to_string()), "{:?}", sim.log());
    }
    for gen in [Gen::V19, Gen::V20] {
        let sim = Sim::start(Spec { gen, nvr_channels: 4, ..Spec::default() });
        let c = client(&sim, "pw");
        let info = rt().block_on(c.device_info()).unwrap();
        assert!(info.is_nvr());
        let channels = rt().block_on(c.channels(&info)).unwrap();
        let status: Vec<(u32, &str)> = channels.iter().map(|c| (c.id, c.status.as_str())).collect();
        let lost = if gen == Gen::V20 { "videoLoss" } else { "offline" };
        assert_eq!(status, [(1, "online"), (2, lost), (3, "online"), (4, "online")]);
    }
}

#[test]
fn snapshots_raw_base64_and_refused() {
    for gen in [Gen::V19, Gen::V20] {
        let sim = Sim::start(Spec { gen, ..Spec::default() });
        assert_eq!(rt().block_on(client(&sim, "pw").snapshot(None)).unwrap(), JPEG);
        let sim = Sim::start(Spec { gen, snapshot: Snap::NotJpeg, ..Spec::default() });
        let err = rt().block_on(client(&sim, "pw").snapshot(None)).unwrap_err();
        assert!(
            matches!(&err, CameraError::Answer { source: AnswerError::NotJpeg(head), .. } if head == "00 00 00 01"),
            "{err}"
        );
        assert!(err.to_string().contains("not a JPEG"), "{err}");
    }
}

#[test]
fn slots_regions_and_lines_decode() {
    let sim = Sim::start(Spec { slots: vec![foreign_slot()], ..Spec::default() });
    let c = client(&sim, "pw");
    let post = rt().block_on(c.post_config()).unwrap();
    assert_eq!((post.max_slots, post.slots.len()), (3, 1));
    let s = &post.slots[0];
    assert_eq!(
        (s.id, s.enabled, s.domain.as_str(), s.port, s.path.as_str()),
        (1, true, "192.168.0.53", 80, "/API")
    );
    assert_eq!(s.data, ["traject"]);
    let regions = rt().block_on(c.regions(RegionKind::Perimeter)).unwrap();
    assert_eq!(regions.len(), 1);
    assert_eq!(regions[0].points.len(), 4);
    assert_eq!((regions[0].points[0].x, regions[0].points[0].y), (1000, 4000));
    let lines = rt().block_on(c.tripwires()).unwrap();
    assert_eq!((lines[0].start.x, lines[0].end.x, lines[0].direction.as_str()), (0, 10000, "rightortop"));
    // A detection the camera lacks: the documented error answer, typed.
    let err = rt().block_on(c.regions(RegionKind::Entry)).unwrap_err();
    assert!(
        matches!(&err, CameraError::Answer { source: AnswerError::Refused { code: 11, .. }, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("error 11 (unsupported function): unsupported function"), "{err}");
}

#[test]
fn error_answers_name_the_code_on_both_generations() {
    let v19 = br#"<config version="1.7" xmlns="http://www.ipc.com/ver10" status="failed" errorCode="4"/>"#;
    assert_eq!(
        answer::device_info(v19).unwrap_err(),
        AnswerError::Refused { code: 4, meaning: "permission denied", desc: None }
    );
    let v20 = br#"<config version="2.0.0" status="failed" errorCode="10" errorDesc="user locked"/>"#;
    let e = answer::post_config(v20).unwrap_err();
    assert_eq!(e.to_string(), "the device refused it: error 10 (user locked): user locked");
    assert!(matches!(answer::device_info(b"<html>login</html>"), Err(AnswerError::Missing(_))));
    assert!(matches!(answer::device_info(b"not xml <"), Err(AnswerError::Malformed(_))));
}

#[test]
fn a_wrong_password_says_so_and_never_shows_it() {
    let sim = Sim::start(Spec::default());
    let err = rt().block_on(client(&sim, "hunter2").device_info()).unwrap_err();
    assert_eq!(err.to_string(), "wrong password for admin at 127.0.0.1 (401 Unauthorized)");
    let debug = format!("{:?}", client(&sim, "hunter2"));
    assert!(!debug.contains("hunter2") && debug.contains("***"), "{debug}");
}

#[test]
fn a_slow_device_times_out_and_a_dead_one_is_unreachable() {
    let sim = Sim::start(Spec { delay: Duration::from_secs(3), ..Spec::default() });
    let c = client(&sim, "pw").with_timeout(Duration::from_millis(300));
    let err = rt().block_on(c.device_info()).unwrap_err();
    assert!(matches!(err, CameraError::Timeout { .. }), "{err}");
    assert!(err.to_string().contains("did not answer GetDeviceInfo within"), "{err}");
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let c = Client::new(&format!("http://{dead}"), "admin", Secret::new("pw".into())).unwrap();
    let err = rt().block_on(c.device_info()).unwrap_err();
    assert!(matches!(err, CameraError::Unreachable { .. }), "{err}");
    assert!(matches!(
        Client::new("https://cam", "admin", Secret::new("x".into())),
        Err(CameraError::Https { .. })
    ));
    for bad in ["192.168.1.20", "http://user:pw@cam", "http://cam/path", "http://cam:port"] {
        assert!(
            matches!(Client::new(bad, "admin", Secret::new("x".into())), Err(CameraError::BadUrl(_))),
            "{bad}"
        );
    }
}

fn camrelay(args: &[&str]) -> (bool, String, String) {
    let out = camrelay_command().args(args).output().expect("run camrelay");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
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

[[relay]]
name = "light"
line = 17
max_on = "1m"
min_off = "0s"
"#;

#[test]
fn add_subscribe_import_zones_and_a_rule_switches_the_relay() {
    let sim = Sim::start(Spec { slots: vec![foreign_slot()], ..Spec::default() });
    let d = Daemon::start(RULES);
    let dir = d.dir.path();
    let rules = d.config_path.to_str().unwrap().to_string();
    let pw = dir.join("front.password");
    std::fs::write(&pw, "pw\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let url = sim.url();

    // 1. add
    let t = Instant::now();
    let (ok, out, err) = camrelay(&[
        "camera",
        "add",
        "--config",
        &rules,
        "--name",
        "front",
        "--url",
        &url,
        "--password-file",
        pw.to_str().unwrap(),
    ]);
    let add_ms = t.elapsed().as_millis();
    assert!(ok, "{err}");
    assert!(
        out.contains("camera at") && out.contains("API v2.0") && out.contains("mac = \"70:ab:c8:1b:5d:dc\""),
        "{out}"
    );
    let text = std::fs::read_to_string(&rules).unwrap();
    assert!(text.starts_with("[server]\nlisten = \"127.0.0.1:0\""), "the file keeps its layout:\n{text}");
    assert!(text.contains("[[camera]]\nname = \"front\"\nmac = \"70:ab:c8:1b:5d:dc\"\nurl = \""), "{text}");
    let (ok, _, err) = camrelay(&["check", &rules]);
    assert!(ok, "the written file passes check: {err}");
    assert!(!err.contains("password_file"), "the password file is private: {err}");

    // 2. subscribe: a free slot (2), never the foreign one (1); waits for the first post.
    let address = d.posts.to_string();
    let t = Instant::now();
    let api = d.api.to_string();
    let (ok, out, err) = camrelay(&[
        "camera",
        "subscribe",
        "--config",
        &rules,
        "front",
        "--address",
        &address,
        "--api",
        &api,
        "--wait",
        "20",
    ]);
    let subscribe_ms = t.elapsed().as_millis();
    assert!(ok, "{out}{err}");
    assert!(out.contains("slot 2 now posts traject, alarmStatus, smartData to http://127.0.0.1:"), "{out}");
    assert!(out.contains("its first traject post reached camrelay"), "{out}");
    let slots = sim.slots();
    assert_eq!(squeeze(&slots[..1]), squeeze(&[foreign_slot()]), "the foreign slot is untouched");
    assert_eq!(sim.posting_to(), Some(("127.0.0.1".into(), d.posts.port(), "/API".into())));
    eprintln!("timings on loopback: add (probe + write) {add_ms} ms, subscribe (set, read back, first post) {subscribe_ms} ms");

    // Subscribing again changes nothing.
    let (ok, out, _) =
        camrelay(&["camera", "subscribe", "--config", &rules, "front", "--address", &address, "--wait", "0"]);
    assert!(ok && out.contains("slot 2 already posts to"), "{out}");

    // 3. zones: the perimeter region and the tripwire's two sides.
    let (ok, out, err) = camrelay(&["camera", "zones", "--config", &rules, "front", "--write"]);
    assert!(ok, "{err}");
    assert!(out.contains("3 zones written"), "{out}");
    let text = std::fs::read_to_string(&rules).unwrap();
    assert!(text.contains("name = \"front_perimeter_1\"\ncamera = \"front\"\npolygon = [[1000, 4000], [9000, 4000], [9000, 9500], [1000, 9500]]"), "{text}");
    assert!(text.contains("front_line_1_a") && text.contains("front_line_1_b"), "{text}");
    // Importing again replaces them instead of duplicating.
    let (ok, _, err) = camrelay(&["camera", "zones", "--config", &rules, "front", "--write"]);
    assert!(ok, "{err}");
    assert_eq!(std::fs::read_to_string(&rules).unwrap().matches("name = \"front_perimeter_1\"").count(), 1);

    // A rule on the imported zone, reloaded: the simulated camera's person switches the light.
    let mut text = std::fs::read_to_string(&rules).unwrap();
    text.push_str("\n[[rule]]\nname = \"front light\"\nwhen = { event = \"presence\", zone = \"front_perimeter_1\" }\nthen = { relay = \"light\", action = \"hold\", hold = \"5s\" }\n");
    std::fs::write(&rules, text).unwrap();
    d.signal("HUP");
    let log = d.wait_log(Duration::from_secs(10), |l| l.iter().any(|c| c.relay == "light" && c.on));
    let on = log.iter().find(|c| c.on).unwrap();
    assert!(on.reason.contains("zone \"front_perimeter_1\""), "{on:?}");

    // The daemon serves the camera's picture, one fetch for two quick requests.
    let before = sim.log().iter().filter(|c| *c == "GetSnapshot").count();
    for _ in 0..2 {
        let r = request(d.api, "GET", "/api/cameras/front/snapshot", &[], b"");
        assert_eq!(r.status, 200, "{}", r.body);
    }
    let after = sim.log().iter().filter(|c| *c == "GetSnapshot").count();
    assert_eq!(after - before, 1, "cached: {:?}", sim.log());
    assert_eq!(request(d.api, "GET", "/api/cameras/nope/snapshot", &[], b"").status, 404);
    // And says whether the subscription still posts here (checked after the reload).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let status: serde_json::Value =
            serde_json::from_str(&request(d.api, "GET", "/api/status", &[], b"").body).unwrap();
        let sub = status["subscriptions"]
            .as_array()
            .and_then(|a| a.iter().find(|s| s["camera"] == "front").cloned());
        if let Some(sub) = sub {
            assert_eq!(sub["posts_here"], true, "{sub}");
            break;
        }
        assert!(Instant::now() < deadline, "no subscription check in the status: {status}");
        std::thread::sleep(Duration::from_millis(100));
    }

    // snapshot to a file
    let jpg = dir.join("front.jpg");
    let (ok, out, err) =
        camrelay(&["camera", "snapshot", "--config", &rules, "front", "-o", jpg.to_str().unwrap()]);
    assert!(ok && out.contains("bytes of JPEG"), "{out}{err}");
    assert_eq!(std::fs::read(&jpg).unwrap(), JPEG);

    // unsubscribe puts slot 2 back as it was (absent), the foreign slot stays.
    let (ok, out, err) = camrelay(&["camera", "unsubscribe", "--config", &rules, "front"]);
    assert!(ok && out.contains("slot 2 is back"), "{out}{err}");
    assert_eq!(squeeze(&sim.slots()), squeeze(&[foreign_slot()]));
    assert_eq!(sim.posting_to(), None);
}

#[test]
fn subscribe_never_takes_a_foreign_slot_unless_told() {
    let taken: Vec<String> =
        (1..=3).map(|i| slot_item(i, true, &format!("10.0.0.{i}"), 80, "/API", &["traject"])).collect();
    let sim = Sim::start(Spec { slots: taken.clone(), ..Spec::default() });
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "pw\n").unwrap();
    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        format!("[gpio]\nbackend = \"mock\"\n[[camera]]\nname = \"front\"\nmac = \"70:ab:c8:1b:5d:dc\"\nurl = \"{}\"\npassword_file = \"pw\"\n", sim.url()),
    )
    .unwrap();
    let r = rules.to_str().unwrap();
    let (ok, _, err) = camrelay(&[
        "camera",
        "subscribe",
        "--config",
        r,
        "front",
        "--address",
        "127.0.0.1:5002",
        "--wait",
        "0",
    ]);
    assert!(!ok);
    assert!(err.contains("every httpPostV2 slot posts elsewhere") && err.contains("--slot N"), "{err}");
    assert_eq!(sim.slots(), taken, "nothing changed");
    let (ok, out, err) = camrelay(&[
        "camera",
        "subscribe",
        "--config",
        r,
        "front",
        "--address",
        "127.0.0.1:5002",
        "--wait",
        "0",
        "--slot",
        "3",
    ]);
    assert!(ok && out.contains("slot 3 now posts"), "{out}{err}");
    let (ok, _, err) = camrelay(&["camera", "unsubscribe", "--config", r, "front"]);
    assert!(ok, "{err}");
    assert_eq!(squeeze(&sim.slots()), squeeze(&taken), "slot 3 restored exactly");
}

#[test]
fn probe_prints_the_camera_block_and_an_nvr_its_channels_and_steps() {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "pw\n").unwrap();
    let sim = Sim::start(Spec { gen: Gen::V19, slots: vec![foreign_slot()], ..Spec::default() });
    let (ok, out, err) = camrelay(&[
        "camera",
        "probe",
        "--url",
        &sim.url(),
        "--password-file",
        pw.to_str().unwrap(),
        "--name",
        "gate",
    ]);
    assert!(ok, "{err}");
    assert!(
        out.contains("API v1.9")
            && out.contains("1: on  http://192.168.0.53:80/API (traject), someone else's"),
        "{out}"
    );
    assert!(
        out.contains("    2: free")
            && out.contains("[[camera]]\nname = \"gate\"\nmac = \"70:ab:c8:1b:5d:dc\""),
        "{out}"
    );
    let nvr = Sim::start(Spec { nvr_channels: 3, ..Spec::default() });
    let (ok, out, err) =
        camrelay(&["camera", "probe", "--url", &nvr.url(), "--password-file", pw.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(out.contains("NVR at") && out.contains("channel = 2    # videoLoss"), "{out}");
    assert!(out.contains("web interface"), "{out}");
    let (ok, _, err) = camrelay(&["camera", "probe", "--url", &nvr.url(), "--password-file", "/nonexistent"]);
    assert!(!ok && err.contains("cannot read the camera password file /nonexistent"), "{err}");
}

#[test]
fn check_warns_about_a_password_file_others_can_read() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pw"), "secret\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir.path().join("pw"), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let rules = dir.path().join("rules.toml");
    std::fs::write(&rules, "[gpio]\nbackend = \"mock\"\n[[camera]]\nname = \"front\"\nmac = \"70:ab:c8:1b:5d:dc\"\nurl = \"http://192.168.1.20\"\npassword_file = \"pw\"\n").unwrap();
    let (_, _, err) = camrelay(&["check", rules.to_str().unwrap()]);
    assert!(err.contains("password_file") && err.contains("can be read by other users (mode 644)"), "{err}");
    assert!(!err.contains("secret"));
    std::fs::write(&rules, "[[camera]]\nname = \"front\"\nurl = \"192.168.1.20\"\npassword_file = \"pw\"\n")
        .unwrap();
    let (ok, _, err) = camrelay(&["check", rules.to_str().unwrap()]);
    assert!(
        !ok && err.contains(
            "\"url\" in [[camera]] \"front\" is the camera's address, like \"http://192.168.1.20\""
        ),
        "{err}"
    );
}

#[test]
fn entry_and_exit_regions_decode_like_the_perimeter() {
    let body = br#"<config version="2.0.0" xmlns="http://www.ipc.com/ver10"><aoiEntry><switch>false</switch>
      <regionInfo type="list" maxCount="4"><item><pointGroup type="list" maxCount="8">
        <item><X>100</X><Y>200</Y></item><item><X>900</X><Y>200</Y></item><item><X>900</X><Y>800</Y></item>
      </pointGroup></item><item><pointGroup type="list" maxCount="8"><item><X>1</X><Y>1</Y></item></pointGroup></item></regionInfo>
    </aoiEntry></config>"#;
    let r = answer::regions(body, RegionKind::Entry).unwrap();
    assert_eq!(r.len(), 1, "a region of fewer than 3 points is no polygon");
    assert_eq!((r[0].kind, r[0].index, r[0].enabled, r[0].points.len()), (RegionKind::Entry, 1, false, 3));
}

#[test]
fn an_answer_over_the_body_limit_is_refused() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut c, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = c.read(&mut buf);
        let size = camrelay::camera::client::MAX_ANSWER + 1024;
        let _ = c.write_all(format!("HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n").as_bytes());
        let chunk = vec![b'x'; 64 * 1024];
        for _ in 0..size / chunk.len() + 1 {
            if c.write_all(&chunk).is_err() {
                return;
            }
        }
    });
    let c = Client::new(&format!("http://{addr}"), "admin", Secret::new("pw".into())).unwrap();
    let err = rt().block_on(c.snapshot(None)).unwrap_err();
    assert!(matches!(err, CameraError::TooLarge { .. }), "{err}");
}

#[test]
fn onboarding_works_against_every_firmware_shape_on_both_generations() {
    // Issue 26: camrelay wrote `<urlId type="uint32">` to a camera that
    // answers and expects a bare `<urlId>`, which dropped the slot; now the
    // slot is written in the camera's own shape, and a read-back that still
    // differs names the field.
    use camera_sim::{slot_item_shaped, SHAPES};
    for gen in [Gen::V19, Gen::V20] {
        for (name, shape) in SHAPES {
            let slots = vec![
                slot_item_shaped(shape, 1, true, "192.168.0.53", 80, "/API", &["traject"]),
                slot_item_shaped(shape, 2, false, "0.0.0.0", 80, "/", &[]),
                slot_item_shaped(shape, 3, false, "0.0.0.0", 80, "/", &[]),
            ];
            let sim = Sim::start(Spec { gen, slots: slots.clone(), strict: Some(shape), ..Spec::default() });
            let d = Daemon::start(RULES);
            let rules = d.config_path.to_str().unwrap().to_string();
            let pw = d.dir.path().join("front.password");
            std::fs::write(&pw, "pw\n").unwrap();
            let what = format!("{gen:?}, {name}");
            let (ok, out, err) = camrelay(&[
                "camera",
                "add",
                "--config",
                &rules,
                "--name",
                "front",
                "--url",
                &sim.url(),
                "--password-file",
                pw.to_str().unwrap(),
            ]);
            assert!(ok, "{what}: {out}{err}");
            let (address, api) = (d.posts.to_string(), d.api.to_string());
            let (ok, out, err) = camrelay(&[
                "camera",
                "subscribe",
                "--config",
                &rules,
                "front",
                "--address",
                &address,
                "--api",
                &api,
                "--wait",
                "20",
            ]);
            assert!(ok, "{what}: {out}{err}");
            assert!(
                out.contains("slot 2 now posts") && out.contains("first traject post reached"),
                "{what}: {out}"
            );
            let now = sim.slots();
            assert_eq!(now.len(), 3, "{what}: {now:#?}");
            // Same elements, attributes and values (whitespace around CDATA aside).
            let tree = |x: &str| camrelay::camera::xml::parse(x.as_bytes()).unwrap();
            assert_eq!(tree(&now[0]), tree(&slots[0]), "{what}: the foreign slot is untouched");
            let url_id = if shape.typed { "<urlId type=\"uint32\">2</urlId>" } else { "<urlId>2</urlId>" };
            assert!(now[1].starts_with(&format!("<item>{url_id}")), "{what}: {}", now[1]);
            if shape.extra {
                assert!(
                    now[1].contains("<pushMode>1</pushMode>"),
                    "{what}: unknown elements kept: {}",
                    now[1]
                );
            }
            let (ok, out, err) = camrelay(&["camera", "zones", "--config", &rules, "front", "--write"]);
            assert!(ok && out.contains("3 zones written"), "{what}: {out}{err}");
        }
    }
}

#[test]
fn a_read_back_that_differs_names_the_field() {
    // A camera that keeps only its own (bare) shape, given no slot of its
    // own to copy: the documented, typed item is dropped, and camrelay says so.
    use camera_sim::SHAPES;
    let sim = Sim::start(Spec { strict: Some(SHAPES[1].1), ..Spec::default() });
    let d = Daemon::start(RULES);
    let rules = d.config_path.to_str().unwrap().to_string();
    let pw = d.dir.path().join("front.password");
    std::fs::write(&pw, "pw\n").unwrap();
    let add =
        ["camera", "add", "--config", &rules, "--name", "front", "--url", &sim.url(), "--password-file"];
    let mut args: Vec<&str> = add.to_vec();
    args.push(pw.to_str().unwrap());
    assert!(camrelay(&args).0);
    let address = d.posts.to_string();
    let (ok, out, err) =
        camrelay(&["camera", "subscribe", "--config", &rules, "front", "--address", &address, "--wait", "0"]);
    assert!(!ok, "{out}");
    assert!(err.contains("reads it back otherwise (the slot is missing from the camera's answer)"), "{err}");
}
