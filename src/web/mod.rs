//! The web page: relays and why, cameras, the camera's picture with its
//! zones and live targets, a zone editor and each rule's why-not, served by
//! the daemon on the API listener.
//!
//! Owns the page's assets (plain HTML, CSS and one ES module, embedded in the
//! binary: nothing is fetched from elsewhere, and no JavaScript toolchain
//! builds them), the login that trades the token for a session cookie, and
//! the page's own endpoints. It is an output and an input like any other:
//! it reads the core's stream of what happened ([`crate::happened`]) and the
//! status, and changes things only through the core's command channel (relay
//! commands, reloads) or by rewriting the rules file through
//! [`crate::config::edit`], which validates it first. It must never reach
//! into the engine, touch a line, or show a camera password.
//!
//! Endpoints (all under the API's access rules, see [`crate::access`]):
//! `GET /` and its assets; `GET /api/session`; `POST /login` and
//! `POST /logout`; `GET /api/config` (relays, cameras, zones, areas and rules
//! as the page draws them); `GET /api/recent` (the last decisions);
//! `GET /api/cameras/{name}/regions` (the camera's own regions, to import);
//! `PUT /api/cameras/{name}/zones` (save drawn zones into the rules file and
//! reload); `GET /api/plates` (the plate lists in force, each entry's
//! standing now) and `PUT /api/plates/{list}` (`{"entries": [...]}`: the
//! whole list, written into the rules file and reloaded).

use crate::access::{error, read_access, session, Access, CanRead, CanWrite, Gate};
use crate::config::Anchor;
use crate::decode::Point;
use crate::request::{ask, Request};
use axum::extract::{ConnectInfo, FromRef, Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

const INDEX_HTML: &[u8] = include_bytes!("assets/index.html");
const APP_JS: &[u8] = include_bytes!("assets/app.js");
const STYLE_CSS: &[u8] = include_bytes!("assets/style.css");
const MANIFEST: &[u8] = include_bytes!("assets/manifest.webmanifest");
const ICON_SVG: &[u8] = include_bytes!("assets/icon.svg");
const ICON_192: &[u8] = include_bytes!("assets/icon-192.png");
const ICON_512: &[u8] = include_bytes!("assets/icon-512.png");

/// Scripts and styles only from this server, no inline script, no frames,
/// pictures from here or the page's own blobs; requests only back here.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' blob: data:; connect-src 'self'; manifest-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Decisions kept for a page that just opened.
pub const RECENT: usize = 64;

/// What the page's handlers share: the gate and the core's channel the
/// API has too, the cameras, and the page's own things.
#[derive(Clone)]
pub struct WebState {
    core: tokio::sync::mpsc::Sender<Request>,
    gate: Gate,
    pub(crate) cameras: Arc<crate::camera::directory::Directory>,
    /// Requests waiting for a camera at once, a budget shared with the API's snapshots.
    camera_calls: Arc<tokio::sync::Semaphore>,
    /// The last decisions, for a page that just opened.
    pub(crate) recent: Arc<Recent>,
    /// The rules file the zone editor writes; `None`: editing is not offered.
    pub(crate) rules_file: Option<Arc<std::path::PathBuf>>,
    /// `[api] token_file`, named on the page (never its content).
    pub(crate) token_file: Option<Arc<std::path::PathBuf>>,
    /// One edit of the rules file at a time (other processes: a file lock).
    edit_lock: Arc<tokio::sync::Mutex<()>>,
}

impl WebState {
    pub fn new(
        core: tokio::sync::mpsc::Sender<Request>,
        gate: Gate,
        camera_calls: Arc<tokio::sync::Semaphore>,
    ) -> WebState {
        WebState {
            core,
            gate,
            cameras: Arc::default(),
            camera_calls,
            recent: Arc::default(),
            rules_file: None,
            token_file: None,
            edit_lock: Arc::default(),
        }
    }
}

impl FromRef<WebState> for Gate {
    fn from_ref(state: &WebState) -> Gate {
        state.gate.clone()
    }
}

/// The page's routes, merged into the API's router.
pub fn routes() -> Router<WebState> {
    Router::new()
        .route("/", get(|| async { asset("text/html; charset=utf-8", INDEX_HTML) }))
        .route("/app.js", get(|| async { asset("text/javascript; charset=utf-8", APP_JS) }))
        .route("/style.css", get(|| async { asset("text/css; charset=utf-8", STYLE_CSS) }))
        // Installable to a phone's home screen: the manifest and its icons.
        .route("/manifest.webmanifest", get(|| async { asset("application/manifest+json", MANIFEST) }))
        .route("/icon.svg", get(|| async { asset("image/svg+xml", ICON_SVG) }))
        .route("/icon-192.png", get(|| async { asset("image/png", ICON_192) }))
        .route("/icon-512.png", get(|| async { asset("image/png", ICON_512) }))
        .route("/api/session", get(session_info))
        .route("/login", post(login))
        .route("/logout", post(logout))
        .route("/api/config", get(page_config_handler))
        .route("/api/recent", get(recent))
        .route("/api/cameras/{name}/regions", get(regions))
        .route("/api/cameras/{name}/zones", put(save_zones))
        .route("/api/plates", get(plate_lists))
        .route("/api/plates/{list}", put(save_plate_list))
}

fn asset(content_type: &'static str, body: &'static [u8]) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// The last decisions (commands, switches, matches without effect, devices,
/// reloads), kept by a subscriber of the core's stream so a page that just
/// opened has something to show. Targets are not kept: they are live only.
#[derive(Debug, Default)]
pub struct Recent {
    items: Mutex<VecDeque<Arc<crate::happened::Item>>>,
}

impl Recent {
    pub fn new() -> Recent {
        Recent::default()
    }

    fn keep(&self, item: Arc<crate::happened::Item>) {
        use crate::happened::Happened;
        // Live state, not decisions: the page draws targets, and counts change
        // on every step. A picture holds its whole post: never kept here.
        if item.targets_of().is_some()
            || matches!(&**item, Happened::Occupancy { .. } | Happened::Picture { .. })
        {
            return;
        }
        let mut items = self.items.lock().unwrap_or_else(|p| p.into_inner());
        // A hold renewed on every traject post is one decision, not 64.
        if let (Some(last), Happened::Fired { relay, why, .. }) = (items.back(), &**item) {
            if matches!(&***last, Happened::Fired { relay: r, why: w, .. }
                if r == relay && w.rule == why.rule && w.target == why.target && w.camera == why.camera)
            {
                items.pop_back();
            }
        }
        if items.len() == RECENT {
            items.pop_front();
        }
        items.push_back(item);
    }

    /// Follow the stream until it closes (the daemon stops).
    pub async fn follow(
        self: Arc<Self>,
        mut rx: tokio::sync::broadcast::Receiver<Arc<crate::happened::Item>>,
    ) {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            match rx.recv().await {
                Ok(item) => self.keep(item),
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            }
        }
    }

    fn list(&self) -> Vec<crate::happened::Happened> {
        self.items.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|i| (**i).clone()).collect()
    }
}

/// `GET /api/session`: what the page may do, so it shows the login only when needed.
async fn session_info(
    State(state): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let credential = crate::access::credential(&state.gate, peer, &headers);
    Json(serde_json::json!({
        "token_configured": state.gate.token.is_some(),
        "logged_in": matches!(credential, crate::access::Proof::Valid(_)),
        "can_read": matches!(read_access(&state.gate, peer, &headers), Access::Granted),
        "can_edit_zones": state.rules_file.is_some(),
        // Where the token is (never the token), so the page can say how to log in.
        "token_file": state.token_file.as_deref().map(|p| p.display().to_string()),
    }))
    .into_response()
}

#[derive(Debug, Deserialize)]
struct LoginForm {
    token: String,
}

/// `POST /login` (form `token=...`): a session cookie for the right token.
/// A wrong one is answered at once and charged to its source's budget
/// ([`crate::access::guard`]): guessers spend their own, never the owner's.
async fn login(
    State(state): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if crate::access::same_origin(&headers) == Some(false) {
        return error(StatusCode::FORBIDDEN, "login from another origin refused");
    }
    if state.gate.token.is_none() {
        return error(
            StatusCode::UNAUTHORIZED,
            "no API token is configured ([api] token or token_file): nothing to log in with",
        );
    }
    let form: LoginForm = match form_urlencoded(&body) {
        Some(f) => f,
        None => return error(StatusCode::BAD_REQUEST, "send the form field token=..."),
    };
    match crate::access::check_token(&state.gate, peer, "POST /login", &form.token) {
        crate::access::guard::Verdict::Right => {}
        crate::access::guard::Verdict::Wrong => return error(StatusCode::UNAUTHORIZED, "wrong token"),
        crate::access::guard::Verdict::Throttled(after) => return crate::access::throttled(after),
    }
    let Some(id) = state.gate.sessions.open(std::time::Instant::now()) else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "no randomness from the kernel for a session id");
    };
    let mut r = Json(serde_json::json!({ "logged_in": true })).into_response();
    if let Ok(v) = HeaderValue::from_str(&session::set_cookie(&id)) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// Just the `token` field of a form body.
fn form_urlencoded(body: &[u8]) -> Option<LoginForm> {
    let text = std::str::from_utf8(body).ok()?;
    let raw = text.split('&').find_map(|kv| kv.strip_prefix("token="))?;
    let plus = raw.replace('+', " ");
    let bytes = plus.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(LoginForm { token: String::from_utf8(out).ok()? })
}

async fn logout(State(state): State<WebState>, headers: HeaderMap) -> Response {
    if crate::access::same_origin(&headers) == Some(false) {
        return error(StatusCode::FORBIDDEN, "logout from another origin refused");
    }
    if let Some(id) =
        headers.get(header::COOKIE).and_then(|v| v.to_str().ok()).and_then(session::from_cookie_header)
    {
        state.gate.sessions.close(id);
    }
    let mut r = Json(serde_json::json!({ "logged_in": false })).into_response();
    if let Ok(v) = HeaderValue::from_str(&session::clear_cookie()) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

async fn page_config_handler(_: CanRead, State(state): State<WebState>) -> Response {
    match ask(&state.core, Request::PageConfig).await {
        Ok(view) => Json(view).into_response(),
        Err(r) => r,
    }
}

async fn recent(_: CanRead, State(state): State<WebState>) -> Response {
    Json(state.recent.list()).into_response()
}

/// `GET /api/cameras/{name}/regions`: what the camera has drawn, to import.
async fn regions(_: CanRead, State(state): State<WebState>, Path(name): Path<String>) -> Response {
    use crate::camera::directory::SnapshotError;
    let Some(_place) = crate::access::camera_call(&state.camera_calls) else {
        return crate::access::cameras_busy();
    };
    match state.cameras.drawn_zones(&name).await {
        Ok(zones) => Json(
            zones
                .iter()
                .map(|z| {
                    serde_json::json!({
                        "name": z.name,
                        "from": z.from,
                        "polygon": z.polygon.iter().map(|p| [p.x, p.y]).collect::<Vec<_>>(),
                    })
                })
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e @ (SnapshotError::Unknown(_) | SnapshotError::NoUrl(_))) => {
            error(StatusCode::NOT_FOUND, &e.to_string())
        }
        Err(e) => error(StatusCode::BAD_GATEWAY, &e.to_string()),
    }
}

/// Body of `PUT /api/cameras/{name}/zones`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SaveZones {
    #[serde(default)]
    zones: Vec<DrawnZone>,
    #[serde(default)]
    remove: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DrawnZone {
    name: String,
    polygon: Vec<[f64; 2]>,
    #[serde(default)]
    anchor: Option<String>,
}

/// Points the editor may send for one zone; the parser has its own limit too.
const MAX_DRAWN_POINTS: usize = 64;

fn drawn(z: &DrawnZone) -> Result<crate::config::edit::ZoneEdit, String> {
    if z.polygon.len() > MAX_DRAWN_POINTS {
        return Err(format!("zone {:?} has {} points; at most {MAX_DRAWN_POINTS}", z.name, z.polygon.len()));
    }
    let mut polygon = Vec::with_capacity(z.polygon.len());
    for [x, y] in &z.polygon {
        if !(x.is_finite() && y.is_finite()) {
            return Err(format!("zone {:?}: a point is not a number", z.name));
        }
        // The picture's space is 0–10000; a click on the edge may land a hair outside.
        let c = |v: f64| v.round().clamp(0.0, 10_000.0) as u32;
        polygon.push(Point { x: c(*x), y: c(*y) });
    }
    let anchor = match z.anchor.as_deref() {
        None | Some("bottom_center") => Anchor::BottomCenter,
        Some("center") => Anchor::Center,
        Some("box") => Anchor::Box,
        Some(other) => return Err(format!("anchor {other:?}: use bottom_center, center or box")),
    };
    Ok(crate::config::edit::ZoneEdit { name: z.name.clone(), polygon, anchor })
}

/// `PUT /api/cameras/{name}/zones`: write the drawn zones into the rules
/// file (validated whole first, the old file kept as `.prev`), then reload.
async fn save_zones(
    CanWrite { who }: CanWrite,
    State(state): State<WebState>,
    Path(camera): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let Some(path) = state.rules_file.clone() else {
        return error(StatusCode::NOT_FOUND, "this daemon was started without a rules file to edit");
    };
    let request: SaveZones = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("bad request body: {e}")),
    };
    let edits: Result<Vec<_>, String> = request.zones.iter().map(drawn).collect();
    let edits = match edits {
        Ok(e) => e,
        Err(e) => return error(StatusCode::UNPROCESSABLE_ENTITY, &e),
    };
    let _one_edit_at_a_time = state.edit_lock.lock().await;
    let remove = request.remove;
    let cam = camera.clone();
    let what = format!("zones of {camera}");
    let changes = match write_rules(&what, move || {
        crate::config::edit::set_zones(&path, &cam, &edits, &remove)
    })
    .await
    {
        Ok(changes) => changes,
        Err(r) => return r,
    };
    tracing::info!(camera = %camera, changed = ?changes.changed, added = ?changes.added,
        removed = ?changes.removed, "web page: zones saved to the rules file");
    let saved = serde_json::to_value(&changes).ok();
    reload_after_edit(&state, format!("{who}: {what} saved"), saved).await
}

/// Run one edit of the rules file (it validates the whole new file and
/// writes it atomically) on a blocking thread; a refusal is 422 with its
/// located message. The caller holds `edit_lock`.
async fn write_rules<T: Send + 'static>(
    what: &str,
    edit: impl FnOnce() -> Result<T, crate::config::edit::EditError> + Send + 'static,
) -> Result<T, Response> {
    match tokio::task::spawn_blocking(edit).await {
        Ok(Ok(done)) => Ok(done),
        Ok(Err(e)) => {
            tracing::warn!("web page: {what} not saved: {e}");
            Err(error(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string()))
        }
        Err(e) => Err(error(StatusCode::INTERNAL_SERVER_ERROR, &format!("{what}: the edit failed: {e}"))),
    }
}

/// After a save: the core re-reads the rules file, `who` saying who saved
/// what (for the history). 200 with the reload (and `saved`, what the edit
/// changed), or 409 when the reload refused the file and the old rules stay.
async fn reload_after_edit(state: &WebState, who: String, saved: Option<serde_json::Value>) -> Response {
    let outcome = match ask(&state.core, |reply| Request::Reload { who, reply }).await {
        Ok(outcome) => outcome,
        Err(r) => return r,
    };
    let mut body = serde_json::json!({ "reload": outcome });
    if let Some(saved) = saved {
        body["saved"] = saved;
    }
    if outcome.applied {
        Json(body).into_response()
    } else {
        body["error"] = serde_json::Value::String(outcome.message.clone());
        (StatusCode::CONFLICT, Json(body)).into_response()
    }
}

/// `GET /api/plates`: the plate lists in force, as the core has them.
async fn plate_lists(_: CanRead, State(state): State<WebState>) -> Response {
    match ask(&state.core, Request::PlateLists).await {
        Ok(lists) => Json(serde_json::json!({ "lists": lists })).into_response(),
        Err(r) => r,
    }
}

/// Body of `PUT /api/plates/{list}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SavePlates {
    entries: Vec<crate::config::edit::PlateEntryEdit>,
}

/// `PUT /api/plates/{list}`: the whole list, written into the rules file
/// (validated whole first, comments kept, the old file kept as `.prev`), then
/// reloaded; the history says who did it and which plates came and went.
async fn save_plate_list(
    CanWrite { who }: CanWrite,
    State(state): State<WebState>,
    Path(list): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let Some(path) = state.rules_file.clone() else {
        return error(StatusCode::NOT_FOUND, "this daemon was started without a rules file to edit");
    };
    let request: SavePlates = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("bad request body: {e}")),
    };
    // The list as it was, read under the lock, so the history names what this save changed.
    let _one_edit_at_a_time = state.edit_lock.lock().await;
    let before = match ask(&state.core, Request::PlateLists).await {
        Ok(lists) => lists
            .into_iter()
            .find(|l| l.list == list)
            .map(|l| l.entries.into_iter().map(|e| e.entry.plate).collect::<Vec<_>>())
            .unwrap_or_default(),
        Err(r) => return r,
    };
    let entries = request.entries;
    let after: Vec<String> = entries.iter().map(|e| crate::config::normalize_plate(&e.plate)).collect();
    let name = list.clone();
    let what = format!("plate list {list}");
    if let Err(r) =
        write_rules(&what, move || crate::config::edit::set_plate_list(&path, &name, &entries)).await
    {
        return r;
    }
    let added: Vec<&str> = after.iter().filter(|p| !before.contains(p)).map(String::as_str).collect();
    let removed: Vec<&str> = before.iter().filter(|p| !after.contains(p)).map(String::as_str).collect();
    let mut change = Vec::new();
    if !added.is_empty() {
        change.push(format!("{} added", added.join(", ")));
    }
    if !removed.is_empty() {
        change.push(format!("{} removed", removed.join(", ")));
    }
    let change = if change.is_empty() { "changed".to_string() } else { change.join(", ") };
    tracing::info!(list = %list, %change, "web page: plate list saved to the rules file");
    reload_after_edit(&state, format!("{who}: {list} list saved, {change}"), None).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_keeps_one_line_for_a_renewed_hold_no_targets_and_a_bounded_list() {
        use crate::happened::{Feed, Happened};
        let why =
            |target| crate::command::Why { rule: "porch".into(), target: Some(target), ..Default::default() };
        let fired = |at_ms, target| Happened::Fired {
            at_ms,
            relay: "lamp".into(),
            action: "hold".into(),
            why: why(target),
        };
        let kept = |items: Vec<Happened>| {
            let (feed, recent) = (Feed::new(), Recent::new());
            let mut rx = feed.subscribe();
            items.into_iter().for_each(|h| feed.send(h));
            while let Ok(item) = rx.try_recv() {
                recent.keep(item);
            }
            recent.list()
        };
        let targets = Happened::Targets { at_ms: 5, camera: "drive".into(), targets: vec![] };
        let list = kept(vec![fired(1, 7), fired(2, 7), fired(3, 7), fired(4, 8), targets]);
        assert_eq!(list, vec![fired(3, 7), fired(4, 8)], "target 7's renewals are one line, the newest");
        let devices = (0..RECENT as u64 + 10).map(|at_ms| Happened::Device {
            at_ms,
            device: "cam".into(),
            camera: "cam".into(),
            online: true,
            first: false,
        });
        let list = kept(devices.collect());
        assert_eq!(
            (list.len(), &list[0]),
            (
                RECENT,
                &Happened::Device {
                    at_ms: 10,
                    device: "cam".into(),
                    camera: "cam".into(),
                    online: true,
                    first: false
                }
            )
        );
    }

    #[test]
    fn the_login_form_is_decoded() {
        assert_eq!(form_urlencoded(b"token=a%2Bb+c%3D").map(|f| f.token), Some("a+b c=".to_string()));
        assert_eq!(form_urlencoded(b"x=1&token=abc").map(|f| f.token), Some("abc".to_string()));
        assert!(form_urlencoded(b"token=%zz").is_none());
        assert!(form_urlencoded(b"other=1").is_none());
    }

    #[test]
    fn drawn_points_are_rounded_into_the_picture_and_anchors_checked() {
        let z = DrawnZone {
            name: "a".into(),
            polygon: vec![[-3.0, 10.4], [10_000.6, 5000.5], [2.0, 9999.0]],
            anchor: Some("center".into()),
        };
        let e = drawn(&z).unwrap();
        assert_eq!(
            e.polygon,
            vec![Point { x: 0, y: 10 }, Point { x: 10_000, y: 5001 }, Point { x: 2, y: 9999 }]
        );
        assert_eq!(e.anchor, Anchor::Center);
        let bad = DrawnZone { name: "a".into(), polygon: vec![[f64::NAN, 1.0]], anchor: None };
        assert!(drawn(&bad).is_err());
        let bad = DrawnZone { name: "a".into(), polygon: vec![[1.0, 1.0]], anchor: Some("feet".into()) };
        assert_eq!(drawn(&bad).unwrap_err(), "anchor \"feet\": use bottom_center, center or box");
    }

    #[test]
    fn the_policy_allows_no_inline_or_foreign_script() {
        assert!(CONTENT_SECURITY_POLICY.contains("script-src 'self';"));
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe-inline"));
        assert!(!CONTENT_SECURITY_POLICY.contains("http"));
    }
}
