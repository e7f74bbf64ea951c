//! The web page in a real browser (Debian's headless Chromium through
//! chromedriver): log in, draw a four-point zone on the simulated camera's
//! picture, save it into the rules file, see a target in it switch the relay
//! in the mock log and on the page, and see a refused save's located message.
//! Screenshots of each page go to `target/screenshots/`. Without Chromium
//! this test is ignored (build.rs decides), never passed.

mod browser;
mod camera_sim;
mod common;

use browser::Browser;
use camera_sim::{Sim, Spec};
use common::{post, request, traject, Daemon};
use std::path::PathBuf;
use std::time::{Duration, Instant};

const TOKEN: &str = "web-test-token";

fn rules(sim_url: &str) -> String {
    format!(
        r#"[server]
listen = "127.0.0.1:0"

[api]
listen = "127.0.0.1:0"
token = "{TOKEN}"

[gpio]
backend = "mock"
mock_log = "{{MOCK_LOG}}"

[presence]
inertia = 1

[[relay]]
name = "path_light"
line = 5
max_on = "10m"

# the front door's contact
[[input]]
name = "front_door"
line = 6
device_class = "door"
debounce = "0s"

# the driveway camera, with its own API
[[camera]]
name = "drive"
mac = "58:5b:69:5f:42:1b"
url = "{sim_url}"
password_file = "drive.password"

# any zone drawn on the driveway lights the path
[[rule]]
name = "path light"
when = {{ event = "zone_entry", camera = "drive" }}
then = {{ relay = "path_light", action = "hold", hold = "1m" }}
"#
    )
}

fn screenshots() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("..").join("screenshots")
}

/// The `polygon` of zone `name` in the rules file.
fn polygon_in_file(text: &str, name: &str) -> Option<Vec<(i64, i64)>> {
    let doc: toml::Table = text.parse().ok()?;
    let zone =
        doc.get("zone")?.as_array()?.iter().find(|z| z.get("name").and_then(|n| n.as_str()) == Some(name))?;
    let points = zone.get("polygon")?.as_array()?;
    points
        .iter()
        .map(|p| {
            let p = p.as_array()?;
            Some((p.first()?.as_integer()?, p.get(1)?.as_integer()?))
        })
        .collect()
}

#[test]
#[cfg_attr(
    not(camrelay_browser),
    ignore = "needs chromium and chromedriver (Debian packages); .ci/run installs them"
)]
fn draw_a_zone_on_the_picture_save_it_and_see_the_relay_follow_a_target() {
    let picture =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/camera/driveway.jpg")).unwrap();
    let sim = Sim::start(Spec { mac: "58:5b:69:5f:42:1b".into(), picture, ..Spec::default() });
    let d = Daemon::start(&rules(&sim.url()));
    std::fs::write(d.dir.path().join("drive.password"), "pw\n").unwrap();
    let base = format!("http://{}", d.api);
    let b = Browser::start(1100, 1000);

    // The camera view, read-only until logged in.
    b.goto(&format!("{base}/#camera"));
    assert!(
        b.wait_for(Duration::from_secs(10), "return document.body.dataset.ready === '1'"),
        "page did not start"
    );
    assert!(
        b.run("return document.getElementById('read-only').hidden === false") == true,
        "loopback reads without login"
    );
    assert!(b.run("return document.querySelector('#relays button[data-action=on]').disabled") == true);

    // Log in: the token becomes an HttpOnly session cookie the script cannot see.
    let token = b.find("#login-token");
    b.type_into(&token, TOKEN);
    b.click(&b.find("#login button[type=submit]"));
    assert!(
        b.wait_for(Duration::from_secs(5), "return document.getElementById('who').hidden === false"),
        "login failed"
    );
    assert_eq!(b.run("return document.cookie"), serde_json::json!(""), "the session cookie is HttpOnly");

    // The live picture from the camera's own API.
    assert!(
        b.wait_for(Duration::from_secs(10), "return document.getElementById('picture').naturalWidth === 960"),
        "the camera's snapshot is shown: {}",
        b.run("return document.getElementById('picture-source').textContent")
    );
    assert!(b.text(&b.find("#picture-source")).starts_with("live picture"));

    // Before any zone exists, a person on the drive switches nothing.
    let person_at = |id: u32| traject(&[(id, "person", [4500, 6500, 5500, 9000])]);
    assert_eq!(post(d.posts, "/API", &traject(&[(40, "person", [600, 5200, 1300, 8200])])).status, 200);
    std::thread::sleep(Duration::from_millis(300));
    assert!(d.mock_log().iter().all(|c| !c.on), "no zone, no switch: {:?}", d.mock_log());

    // Draw the zone: four clicks on the picture.
    b.click(&b.find("#editor summary"));
    b.type_into(&b.find("#new-zone-name"), "path");
    b.click(&b.find("#new-zone"));
    let overlay = b.find("#overlay");
    // The message under the editor scrolled into view: back to the picture, as a user would.
    b.run("document.getElementById('stage').scrollIntoView({ block: 'end' })");
    let corners = [(0.30, 0.60), (0.70, 0.60), (0.75, 0.95), (0.25, 0.95)];
    for (fx, fy) in corners {
        b.click_at(&overlay, fx, fy);
    }
    assert_eq!(b.run("return document.querySelectorAll('#handles circle').length"), serde_json::json!(4));
    b.click(&b.find("#save-zones"));
    assert!(
        b.wait_for(Duration::from_secs(5), "return !!document.getElementById('zone-ok') && document.getElementById('zone-ok').textContent.startsWith('Saved')"),
        "save failed: {}",
        b.run("return document.getElementById('zone-msg').textContent")
    );

    // The rules file holds that polygon, within a rounding of the clicks.
    let text = std::fs::read_to_string(&d.config_path).unwrap();
    let polygon = polygon_in_file(&text, "path").unwrap_or_else(|| panic!("no zone path in:\n{text}"));
    assert_eq!(polygon.len(), 4, "{text}");
    for ((x, y), (fx, fy)) in polygon.iter().zip(corners) {
        let (ex, ey) = ((fx * 10_000.0) as i64, (fy * 10_000.0) as i64);
        assert!(
            (x - ex).abs() <= 30 && (y - ey).abs() <= 30,
            "point ({x}, {y}) is not the click ({ex}, {ey}): {text}"
        );
    }
    assert!(text.contains("# any zone drawn on the driveway lights the path"), "comments kept:\n{text}");
    let prev = std::fs::read_to_string(d.dir.path().join("rules.toml.prev")).unwrap();
    assert!(!prev.contains("name = \"path\""), "the previous version is kept beside it");

    // A person walks into the new zone: the relay turns on, in the mock log and on the page, within a second.
    let posted = Instant::now();
    assert_eq!(post(d.posts, "/API", &person_at(41)).status, 200);
    let log = d.wait_log(Duration::from_secs(1), |l| l.iter().any(|c| c.relay == "path_light" && c.on));
    assert!(log.iter().any(|c| c.relay == "path_light" && c.on), "mock log: {log:?}");
    let on_page = b.wait_for(
        Duration::from_secs(1).saturating_sub(posted.elapsed()),
        "return !!document.querySelector('#relays article[data-relay=path_light] [data-state=on]')",
    );
    assert!(on_page, "the page shows the relay on within a second of the post");
    // Its box is drawn, labelled with the rule it holds.
    assert!(b.wait_for(
        Duration::from_secs(3),
        "return [...document.querySelectorAll('#labels .label')].some(t => t.textContent.includes('#41') && t.textContent.includes('path') && t.textContent.includes('holds path light'))"
    ), "target label: {}", b.run("return document.getElementById('labels').textContent"));
    b.screenshot(&screenshots().join("camera.png"));

    // A save the parser refuses shows the located message, and writes nothing.
    let before = std::fs::read_to_string(&d.config_path).unwrap();
    b.type_into(&b.find("#new-zone-name"), "bad");
    b.click(&b.find("#new-zone"));
    b.click_at(&overlay, 0.1, 0.1);
    b.click_at(&overlay, 0.2, 0.1);
    b.click(&b.find("#save-zones"));
    assert!(
        b.wait_for(Duration::from_secs(5), "return !!document.getElementById('zone-error')"),
        "no refusal shown"
    );
    let refusal = b.text(&b.find("#zone-error"));
    assert!(refusal.contains("rules.toml:") && refusal.contains("polygon"), "located message: {refusal}");
    assert_eq!(std::fs::read_to_string(&d.config_path).unwrap(), before, "a refused save writes nothing");
    b.screenshot(&screenshots().join("zone-refused.png"));

    // The camera's own regions come in as drafts (not saved until Save); Revert drops them.
    b.click(&b.find("#revert-zones"));
    b.click(&b.find("#import-zones"));
    assert!(
        b.wait_for(Duration::from_secs(5), "return [...document.querySelectorAll('#zone-select option')].some(o => o.textContent === 'drive_perimeter_1 (not saved)')"),
        "imported: {}",
        b.run("return document.getElementById('zone-msg').textContent")
    );
    assert!(b.run("return document.querySelectorAll('#zones polygon').length").as_u64().unwrap_or(0) >= 2);
    b.click(&b.find("#revert-zones"));
    assert_eq!(b.run("return document.querySelectorAll('#zone-select option').length"), serde_json::json!(1));
    assert_eq!(std::fs::read_to_string(&d.config_path).unwrap(), before, "an import is only saved by Save");

    // Why: the rule's verdicts, with the one that fired.
    b.goto(&format!("{base}/#why"));
    assert!(b.wait_for(Duration::from_secs(10), "return document.body.dataset.ready === '1'"));
    assert!(
        b.wait_for(
            Duration::from_secs(5),
            "return [...document.querySelectorAll('#why-list .verdict')].some(v => v.textContent === 'fired')"
        ),
        "why table: {}",
        b.run("return document.getElementById('why-list').textContent")
    );
    b.screenshot(&screenshots().join("why.png"));

    // Overview: a manual pulse from the page goes through the controller.
    b.goto(&format!("{base}/#overview"));
    assert!(b.wait_for(Duration::from_secs(10), "return document.body.dataset.ready === '1'"));
    assert!(b.wait_for(
        Duration::from_secs(5),
        "return !!document.querySelector('#relays article[data-relay=path_light] [data-state=on]')"
    ));
    b.click_css("#relays button[data-relay=path_light][data-action=off]");
    let log =
        d.wait_log(Duration::from_secs(2), |l| l.last().is_some_and(|c| c.relay == "path_light" && !c.on));
    assert!(log.last().is_some_and(|c| !c.on && c.reason.contains("manual")), "manual off: {log:?}");
    assert!(b.wait_for(Duration::from_secs(2), "return [...document.querySelectorAll('#recent li')].some(li => li.textContent.includes('path light off'))"));
    assert!(b.wait_for(
        Duration::from_secs(3),
        "return !!document.querySelector('#relays article[data-relay=path_light] [data-state=off]')"
    ));
    // The front door opens: its row says ON and "what happened" says so.
    assert!(b.wait_for(
        Duration::from_secs(3),
        "return !!document.querySelector('#inputs article[data-input=front_door] [data-state=off]')"
    ));
    let auth = format!("Bearer {TOKEN}");
    let opened =
        request(d.api, "POST", "/api/inputs/front_door", &[("Authorization", &auth)], br#"{"on":true}"#);
    assert_eq!(opened.status, 200, "{}", opened.body);
    assert!(b.wait_for(
        Duration::from_secs(3),
        "return !!document.querySelector('#inputs article[data-input=front_door] [data-state=ON]')"
    ));
    assert!(b.wait_for(Duration::from_secs(2), "return [...document.querySelectorAll('#recent li')].some(li => li.textContent.includes('front door on'))"));
    b.screenshot(&screenshots().join("overview.png"));
    assert!(
        sim.log().iter().any(|c| c.contains("GetSnapshot")),
        "the picture came from the camera: {:?}",
        sim.log()
    );
}
