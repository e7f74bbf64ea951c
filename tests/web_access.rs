//! Who may read and change what through the web page's endpoints, without a
//! browser: the page and its assets under a Content-Security-Policy with no
//! inline script and nothing from elsewhere, the login that trades the token
//! for an HttpOnly SameSite=Strict cookie, Origin checks on every state
//! change, camera passwords never reaching the page, zone saves through the
//! rules parser, and the page's weight.

mod common;

use common::{traject, Daemon};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

const RULES: &str = r#"[server]
listen = "127.0.0.1:0"

[api]
listen = "127.0.0.1:0"
token = "tok-123"

[gpio]
backend = "mock"
mock_log = "{MOCK_LOG}"

[[relay]]
name = "lamp"
line = 5
max_on = "10m"
min_off = "0s"

[[camera]]
name = "drive"
mac = "58:5b:69:5f:42:1b"
url = "http://127.0.0.1:9"
password_file = "very-secret.password"

[[zone]]
name = "porch"
camera = "drive"
polygon = [[0, 5000], [10000, 5000], [10000, 10000], [0, 10000]]

[[rule]]
name = "porch lamp"
when = { event = "presence", zone = "porch" }
then = { relay = "lamp", action = "hold", hold = "1m" }
"#;

struct Answer {
    status: u16,
    head: String,
    body: String,
}

fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
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
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    Answer { status, head: head.to_ascii_lowercase(), body: body.to_string() }
}

fn start() -> Daemon {
    let d = Daemon::start(RULES);
    std::fs::write(d.dir.path().join("very-secret.password"), "hunter2\n").unwrap();
    d
}

#[test]
fn the_page_forbids_inline_and_foreign_scripts_and_weighs_under_150_kb() {
    let d = start();
    let page = http(d.api, "GET", "/", &[], "");
    assert_eq!(page.status, 200);
    let csp = page.head.lines().find_map(|l| l.strip_prefix("content-security-policy: ")).unwrap_or_default();
    assert!(csp.contains("script-src 'self'") && csp.contains("default-src 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline") && !csp.contains("http"), "{csp}");
    assert!(page.head.contains("x-frame-options: deny"));
    // No script in the page itself, no handler attributes, nothing from another host.
    let html = page.body.to_ascii_lowercase();
    assert_eq!(html.matches("<script").count(), 1, "one external module only");
    assert!(html.contains("<script type=\"module\" src=\"/app.js\"></script>"));
    assert!(!html.contains(" onclick=") && !html.contains(" onload=") && !html.contains("javascript:"));
    let mut weight = page.body.len();
    for asset in ["/app.js", "/style.css"] {
        let a = http(d.api, "GET", asset, &[], "");
        assert_eq!(a.status, 200, "{asset}");
        // The SVG namespace is a name, not an address.
        let body = a.body.replace("'http://www.w3.org/2000/svg'", "");
        assert!(!body.contains("http://") && !body.contains("https://"), "{asset} reaches nowhere else");
        weight += a.body.len();
    }
    println!("page weight: {weight} bytes (html + js + css)");
    assert!(weight < 150 * 1024, "page weight {weight} bytes");
}

#[test]
fn the_token_becomes_a_strict_session_and_every_change_needs_it_and_our_origin() {
    let d = start();
    let origin = format!("http://{}", d.api);
    let form = [("Content-Type", "application/x-www-form-urlencoded"), ("Origin", origin.as_str())];

    // A wrong token: refused, and charged to this address's budget
    // (tests/hostile_clients.rs: what a guesser gets past it).
    let wrong = http(d.api, "POST", "/login", &form, "token=nope");
    assert_eq!(wrong.status, 401);
    assert!(!wrong.head.contains("set-cookie"));
    // From another site: refused before the token is even looked at.
    let foreign = http(d.api, "POST", "/login", &[("Origin", "http://evil.example")], "token=tok-123");
    assert_eq!(foreign.status, 403);

    let ok = http(d.api, "POST", "/login", &form, "token=tok-123");
    assert_eq!(ok.status, 200, "{}", ok.body);
    let cookie_line = ok.head.lines().find_map(|l| l.strip_prefix("set-cookie: ")).expect("a session cookie");
    assert!(cookie_line.contains("httponly") && cookie_line.contains("samesite=strict"), "{cookie_line}");
    let session = cookie_line.split(';').next().unwrap().to_string();
    assert!(!session.contains("tok-123"), "the cookie is not the token");
    let cookie = session.as_str();

    let on = r#"{"action":"on"}"#;
    let json = ("Content-Type", "application/json");
    // The session without an Origin, or with another site's: refused.
    assert_eq!(http(d.api, "POST", "/api/relays/lamp", &[json, ("Cookie", cookie)], on).status, 403);
    assert_eq!(
        http(
            d.api,
            "POST",
            "/api/relays/lamp",
            &[json, ("Cookie", cookie), ("Origin", "http://evil.example")],
            on
        )
        .status,
        403
    );
    // A made-up session: refused.
    let fake = format!("camrelay_session={}", "0".repeat(64));
    assert_eq!(
        http(d.api, "POST", "/api/relays/lamp", &[json, ("Cookie", &fake), ("Origin", &origin)], on).status,
        401
    );
    assert!(d.mock_log().iter().all(|c| !c.on), "nothing switched so far");
    // The session from our own origin: through the controller.
    let r = http(d.api, "POST", "/api/relays/lamp", &[json, ("Cookie", cookie), ("Origin", &origin)], on);
    assert_eq!(r.status, 200, "{}", r.body);
    d.wait_log(Duration::from_secs(2), |l| l.iter().any(|c| c.on && c.reason.contains("manual")));
    // The bearer token keeps working for scripts (no Origin), but not from another site.
    let bearer = ("Authorization", "Bearer tok-123");
    assert_eq!(
        http(d.api, "POST", "/api/relays/lamp", &[json, bearer], r#"{"action":"release"}"#).status,
        200
    );
    assert_eq!(
        http(d.api, "POST", "/api/relays/lamp", &[json, bearer, ("Origin", "http://evil.example")], on)
            .status,
        403
    );
    // Zone saves follow the same rule.
    let zones = r#"{"zones":[{"name":"porch","polygon":[[0,4000],[10000,4000],[10000,10000],[0,10000]]}]}"#;
    assert_eq!(
        http(d.api, "PUT", "/api/cameras/drive/zones", &[json, ("Cookie", cookie)], zones).status,
        403
    );
    let before = std::fs::read_to_string(&d.config_path).unwrap();
    assert!(!before.contains("[0, 4000]"));

    // Logged out: the session is gone.
    assert_eq!(http(d.api, "POST", "/logout", &[("Cookie", cookie), ("Origin", &origin)], "").status, 200);
    assert_eq!(
        http(d.api, "POST", "/api/relays/lamp", &[json, ("Cookie", cookie), ("Origin", &origin)], on).status,
        401
    );
}

#[test]
fn a_saved_zone_is_validated_written_keeping_the_old_file_and_applied() {
    let d = start();
    let origin = format!("http://{}", d.api);
    let auth = [
        ("Content-Type", "application/json"),
        ("Authorization", "Bearer tok-123"),
        ("Origin", origin.as_str()),
    ];
    // Refused: a zone a rule uses cannot go, and the answer is located.
    let r = http(d.api, "PUT", "/api/cameras/drive/zones", &auth, r#"{"remove":["porch"]}"#);
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(r.body.contains("rules.toml:") && r.body.contains("porch"), "{}", r.body);
    // Moved: the porch zone now starts higher up the picture.
    let zones = r#"{"zones":[{"name":"porch","polygon":[[0,2000],[10000,2000],[10000,10000],[0,10000]]}]}"#;
    let r = http(d.api, "PUT", "/api/cameras/drive/zones", &auth, zones);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("\"applied\":true"), "{}", r.body);
    let text = std::fs::read_to_string(&d.config_path).unwrap();
    assert!(text.contains("polygon = [[0, 2000], [10000, 2000], [10000, 10000], [0, 10000]]"), "{text}");
    let prev = std::fs::read_to_string(d.dir.path().join("rules.toml.prev")).unwrap();
    assert!(prev.contains("[[0, 5000]"), "{prev}");
    // Applied: a person with feet at y 4000 is in the moved zone (for `inertia`, 3 posts).
    for _ in 0..3 {
        assert_eq!(
            common::post(d.posts, "/API", &traject(&[(3, "person", [4000, 2500, 5000, 4000])])).status,
            200
        );
    }
    d.wait_log(Duration::from_secs(2), |l| l.iter().any(|c| c.relay == "lamp" && c.on));
    // The page's view of the rules shows it, and no password or its file.
    let config = http(d.api, "GET", "/api/config", &[], "");
    assert_eq!(config.status, 200);
    assert!(config.body.contains("[0,2000]"), "{}", config.body);
    for secret in ["hunter2", "very-secret", "tok-123"] {
        assert!(!config.body.contains(secret), "{secret} in /api/config");
        assert!(!http(d.api, "GET", "/api/status", &[], "").body.contains(secret), "{secret} in /api/status");
    }
}

#[test]
fn a_camera_without_url_shows_the_last_full_frame_its_posts_carried() {
    let d = Daemon::start(
        &RULES.replace("url = \"http://127.0.0.1:9\"\npassword_file = \"very-secret.password\"\n", ""),
    );
    let none = http(d.api, "GET", "/api/cameras/drive/snapshot", &[], "");
    assert_eq!(none.status, 404, "{}", none.body);
    assert!(none.body.contains("none of its posts carried a picture yet"), "{}", none.body);
    use base64::Engine as _;
    let jpeg =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/camera/driveway.jpg")).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&jpeg);
    let post = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<config version=\"2.0.0\" xmlns=\"http://www.ipc.com/ver10\">\
         <messageType>alarmData</messageType><deviceInfo><deviceName><![CDATA[Front]]></deviceName>\
         <mac><![CDATA[58:5b:69:5f:42:1b]]></mac></deviceInfo>\
         <smartType>PEA</smartType><currentTime>1774646121524166</currentTime>\
         <sourceDataInfo><dataType>0</dataType><width>960</width><height>540</height>\
         <sourceBase64Length>{}</sourceBase64Length><sourceBase64Data><![CDATA[{b64}]]></sourceBase64Data></sourceDataInfo>\
         </config>",
        b64.len()
    );
    let r = common::post(d.posts, "/API", post.as_bytes());
    assert_eq!(r.status, 200, "{}", r.body);
    let mut s = TcpStream::connect(d.api).unwrap();
    write!(s, "GET /api/cameras/drive/snapshot HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", d.api)
        .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200") && head.contains("x-camrelay-picture: posted"), "{head}");
    assert_eq!(&raw[split + 4..], &jpeg[..], "the frame, decoded");
}
