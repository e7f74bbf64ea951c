//! The management API: health, status, manual relay control and metrics.
//!
//! Owns the second HTTP listener (loopback by default) and token checks. It
//! must never switch a relay itself: every request goes to the core task as an
//! [`ApiRequest`], and manual control passes through the controller's override,
//! which the safety limits still bound.
//!
//! Connections: at most [`MAX_API_CONNECTIONS`] at once (more are closed on
//! accept), each must deliver a whole request head within `[api]
//! header_timeout` of opening or of its last reply, and a request must be
//! answered within [`REQUEST_TIMEOUT`] (a body dripped byte by byte is cut).
//! So a stalled or idle client cannot hold the API, or the process's file
//! descriptors, that the camera port needs.
//!
//! Access: `GET /health` is always open. `GET /api/status` and `GET /metrics`
//! are open to loopback peers and need the token from anywhere else.
//! `GET /api/rules/{name}/why` (a rule's verdict on each of its last events:
//! fired, or the first condition that failed) is read access like status.
//! `GET /api/cameras/{name}/snapshot` (the camera's live JPEG, cached 3 s, or
//! for a camera without `url` the last full frame its posts carried) too,
//! and so is `GET /api/events`: what happened, as Server-Sent Events
//! ([`crate::happened`]), for as long as the client stays.
//! `POST /api/relays/{name}` always needs `Authorization: Bearer <token>` or
//! the web page's session cookie ([`crate::web`]), and a request that carries
//! an `Origin` (every browser request does) must come from this server's own
//! origin; with no token configured it is refused (401). The web page and its
//! own endpoints are served here too, under the same rules.
//!
//! Against guessing and hogging: a wrong token costs its source a budget
//! ([`guard`]: 1 a second after a burst of 5, then 429 unchecked), logged once a
//! minute per source and counted; a request whose `Host` is not a name this
//! API is reached by is refused 421 ([`hosts`]: DNS rebinding); event
//! streams and requests that wait for a camera each have their own budget
//! ([`MAX_EVENT_STREAMS`], [`MAX_CAMERA_CALLS`]), so however many of them
//! are open, control, login and `/health` keep room among the connections.

pub mod guard;
mod history;
pub mod hosts;
mod metrics;

pub use metrics::render_core_metrics;

use crate::config::ApiConfig;
use crate::engine::RuleCounter;
use crate::ingest::{DeviceStatus, IngestShared};
use crate::relays::controller::{Manual, RelayStatus};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tower::ServiceExt;

/// A question or order for the core task, which owns the engine and the relays.
#[derive(Debug)]
pub enum ApiRequest {
    Status(oneshot::Sender<Status>),
    Manual {
        relay: String,
        request: Manual,
        /// Who asked, for the history: `api token from 192.168.1.5`, `web page from …`, `mqtt`.
        who: String,
        reply: oneshot::Sender<Result<(), String>>,
    },
    Metrics(oneshot::Sender<String>),
    /// A rule's recent verdicts; `None` when no enabled rule has that name.
    Why {
        rule: String,
        reply: oneshot::Sender<Option<Vec<crate::why::WhyEntry>>>,
    },
    /// The rules in force, as the web page draws them (no secrets).
    PageConfig(oneshot::Sender<crate::web::PageConfig>),
    /// Re-read the rules file (the web page saved it), as SIGHUP does.
    Reload(oneshot::Sender<ReloadOutcome>),
    /// A rule on another node (`from`) commands one of this node's relays (MQTT).
    Remote {
        from: String,
        relay: String,
        action: crate::command::RemoteAction,
        why: crate::command::Why,
        /// `Ok(None)`: applied; `Ok(Some(what))`: taken, waiting for
        /// `min_off`, an interlock or a chatter lockout; `Err`: refused, why.
        reply: oneshot::Sender<Result<Option<String>, String>>,
    },
    /// A detection of another node's camera (`[[camera]] node = ...`), as the
    /// event rules here see: it arrived over MQTT.
    FromNode {
        camera: String,
        event: Box<crate::decode::Event>,
    },
    /// What is true now, for an output that (re)publishes every state (MQTT).
    State(oneshot::Sender<crate::happened::State>),
    /// Set a mock input (`POST /api/inputs/{name}`): refused under a real backend.
    SetInput {
        input: String,
        on: bool,
        who: String,
        reply: oneshot::Sender<Result<(), String>>,
    },
}

/// `GET /api/status`.
#[derive(Debug, Serialize)]
pub struct Status {
    pub relays: Vec<RelayStatus>,
    pub devices: Vec<DeviceStatus>,
    pub rules: Vec<RuleCounter>,
    /// Targets tracked now, with their zones and whether they are stationary.
    pub targets: Vec<crate::engine::TargetStatus>,
    /// Cameras with a `url`: does a slot still post here (checked at start and every 5 minutes).
    pub subscriptions: Vec<crate::camera::directory::Subscription>,
    /// Settings changed by a reload that take effect only after a restart (`[api] token`).
    pub pending_restart: Vec<String>,
    /// The last reload: when, applied or refused, and the message.
    pub last_reload: Option<ReloadOutcome>,
    /// The daemon's process id (`camrelay reload` signals it).
    pub pid: u32,
    /// Wall-clock time of the daemon's start: relay `since` and `until` are
    /// milliseconds after it, on the monotonic clock (a wall-clock step
    /// cannot move a relay's timers, so they are not kept as wall times).
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub uptime_ms: u64,
    /// The broker link, with `[mqtt]`: connected, queued, dropped, commands in, commands to other nodes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mqtt: Option<crate::mqtt::Status>,
    /// The event history, with `[history]`: written, dropped, paused (disk full), its size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<crate::history::Status>,
    /// The `[[input]]` lines: level, since when, changes.
    pub inputs: Vec<crate::relays::input::InputStatus>,
}

/// What the last reload did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReloadOutcome {
    /// Counts reloads since start: `camrelay reload` waits for it to move.
    pub seq: u64,
    pub at: chrono::DateTime<chrono::Utc>,
    pub applied: bool,
    /// What was applied, or why the file was refused (located).
    pub message: String,
}

/// What the HTTP handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub(crate) core: mpsc::Sender<ApiRequest>,
    ingest: Arc<IngestShared>,
    pub(crate) token: Option<Arc<str>>,
    pub(crate) cameras: Arc<crate::camera::directory::Directory>,
    pub(crate) feed: crate::happened::Feed,
    /// Browsers logged in to the web page.
    pub(crate) sessions: Arc<crate::web::session::Sessions>,
    /// The last decisions, for a page that just opened.
    pub(crate) recent: Arc<crate::web::Recent>,
    /// The rules file the zone editor writes; `None`: editing is not offered.
    pub(crate) rules_file: Option<Arc<std::path::PathBuf>>,
    /// `[api] token_file`, named on the page (never its content).
    pub(crate) token_file: Option<Arc<std::path::PathBuf>>,
    /// One edit of the rules file at a time (other processes: a file lock).
    pub(crate) edit_lock: Arc<tokio::sync::Mutex<()>>,
    /// What wrong credentials cost each source.
    pub(crate) guard: Arc<guard::Guard>,
    /// The `Host` names this API answers to.
    hosts: Arc<hosts::Hosts>,
    /// Event streams open at once.
    streams: Arc<Semaphore>,
    /// Requests waiting for a camera (snapshots, regions) at once.
    camera_calls: Arc<Semaphore>,
    /// The broker link's counters, with `[mqtt]`.
    mqtt: Option<Arc<crate::mqtt::Stats>>,
    /// The event history, with `[history]`.
    pub(crate) history: Option<Arc<HistoryAccess>>,
}

/// Where the API reads the history, and the writer's counters.
#[derive(Debug)]
pub struct HistoryAccess {
    pub dir: std::path::PathBuf,
    pub stats: Arc<crate::history::Stats>,
    /// `[site] timezone`: dates in filters and times in the CSV.
    pub timezone: chrono_tz::Tz,
}

impl ApiState {
    pub fn new(core: mpsc::Sender<ApiRequest>, ingest: Arc<IngestShared>, token: Option<String>) -> Self {
        ApiState {
            core,
            ingest,
            token: token.map(Arc::from),
            cameras: Arc::default(),
            feed: Default::default(),
            sessions: Arc::default(),
            recent: Arc::default(),
            rules_file: None,
            token_file: None,
            edit_lock: Arc::default(),
            guard: Arc::default(),
            hosts: Arc::new(hosts::Hosts::any()),
            streams: Arc::new(Semaphore::new(MAX_EVENT_STREAMS)),
            camera_calls: Arc::new(Semaphore::new(MAX_CAMERA_CALLS)),
            mqtt: None,
            history: None,
        }
    }

    /// The event history `GET /api/history` reads.
    pub fn with_history(mut self, history: Option<HistoryAccess>) -> Self {
        self.history = history.map(Arc::new);
        self
    }

    /// The file the token comes from, for the page's login hint.
    pub fn with_token_file(mut self, path: Option<std::path::PathBuf>) -> Self {
        self.token_file = path.map(Arc::new);
        self
    }

    /// Answer only requests whose `Host` is one of these names.
    pub fn with_hosts(mut self, hosts: hosts::Hosts) -> Self {
        self.hosts = Arc::new(hosts);
        self
    }

    /// The broker link's counters, shown in the status and the metrics.
    pub fn with_mqtt(mut self, stats: Option<Arc<crate::mqtt::Stats>>) -> Self {
        self.mqtt = stats;
        self
    }

    /// The rules file the web page's zone editor may rewrite.
    pub fn with_rules_file(mut self, path: std::path::PathBuf) -> Self {
        self.rules_file = Some(Arc::new(path));
        self
    }

    /// The keeper of recent decisions the page shows when it opens.
    pub fn with_recent(mut self, recent: Arc<crate::web::Recent>) -> Self {
        self.recent = recent;
        self
    }

    /// The core's stream of what happened, served by `GET /api/events`.
    pub fn with_feed(mut self, feed: crate::happened::Feed) -> Self {
        self.feed = feed;
        self
    }

    /// The cameras whose pictures `GET /api/cameras/{name}/snapshot` serves.
    pub fn with_cameras(mut self, cameras: Arc<crate::camera::directory::Directory>) -> Self {
        self.cameras = cameras;
        self
    }
}

/// The configured token: `token`, else the first line of `token_file`. A
/// token file that cannot be read leaves the API without a token (manual
/// control refused, the page says how to set one) and is logged: the relays'
/// rules must not stop for it, and `check` warns about it the same way.
pub fn token_or_warn(config: &ApiConfig) -> Option<String> {
    match load_token(config) {
        Ok(token) => token,
        Err(e) => {
            let file = config.token_file.as_deref().map(|p| p.display().to_string()).unwrap_or_default();
            tracing::warn!("cannot read the API token file {file} ([api] token_file): {e}; manual control is refused until it can be read and camrelay restarts");
            None
        }
    }
}

/// The configured token: `token`, else the first line of `token_file`.
pub fn load_token(config: &ApiConfig) -> std::io::Result<Option<String>> {
    if let Some(token) = &config.token {
        return Ok(Some(token.clone()).filter(|t| !t.is_empty()));
    }
    match &config.token_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)?;
            Ok(text.lines().next().map(|l| l.trim().to_string()).filter(|t| !t.is_empty()))
        }
        None => Ok(None),
    }
}

/// API connections served at once; more are closed on accept.
pub const MAX_API_CONNECTIONS: usize = 64;

/// `GET /api/events` streams open at once; more are answered 503. A page
/// holds one; the rest of the connections stay for everything else.
pub const MAX_EVENT_STREAMS: usize = 16;

/// Requests waiting for a camera's answer at once (snapshots, regions); more
/// are answered 503 instead of holding a connection behind a slow camera.
pub const MAX_CAMERA_CALLS: usize = 8;

/// Longest a request may take from its head to its answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest manual pulse accepted (a relay's `max_on` still cuts it).
pub const MAX_MANUAL_PULSE: Duration = Duration::from_secs(24 * 3600);

/// Serve the API until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    state: ApiState,
    header_timeout: Duration,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let hosts = state.hosts.clone();
    let app = Router::new()
        .route("/health", get(|| async { "ok\n" }))
        .route("/api/status", get(status))
        .route("/metrics", get(metrics))
        .route("/api/relays/{name}", post(control))
        .route("/api/inputs/{name}", post(set_input))
        .route("/api/rules/{name}/why", get(why))
        .route("/api/cameras/{name}/snapshot", get(snapshot))
        .route("/api/events", get(events))
        .route("/api/history", get(history::json))
        .route("/api/history.csv", get(history::csv))
        .route("/api/history/pictures/{day}/{file}", get(history::picture))
        .merge(crate::web::routes())
        .with_state(state);
    let mut http = hyper::server::conn::http1::Builder::new();
    // hyper's head timeout also runs while a keep-alive connection is idle:
    // exactly the rule wanted here (the ingest port, where cameras keep
    // connections open between posts, has its own watchdog instead).
    http.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(header_timeout).keep_alive(true);
    let permits = Arc::new(Semaphore::new(MAX_API_CONNECTIONS));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut conns = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        while conns.try_join_next().is_some() {}
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let Ok(permit) = permits.clone().try_acquire_owned() else {
                        tracing::debug!(source = %peer.ip(), limit = MAX_API_CONNECTIONS, "API: too many connections, new one closed");
                        continue;
                    };
                    conns.spawn(api_connection(http.clone(), app.clone(), hosts.clone(), stream, peer, stop_rx.clone(), permit));
                }
                Err(e) => {
                    tracing::debug!(error = %e, "API accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let _ =
        tokio::time::timeout(Duration::from_secs(2), async { while conns.join_next().await.is_some() {} })
            .await;
    conns.shutdown().await;
    Ok(())
}

async fn api_connection(
    http: hyper::server::conn::http1::Builder,
    app: Router,
    hosts: Arc<hosts::Hosts>,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    mut stop: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        let app = app.clone();
        let refused = hosts.refuse(&req);
        async move {
            if let Some(r) = refused {
                return Ok(r);
            }
            match tokio::time::timeout(REQUEST_TIMEOUT, app.oneshot(req)).await {
                Ok(resp) => resp,
                Err(_) => Ok(error(StatusCode::REQUEST_TIMEOUT, "request not complete in time")),
            }
        }
    });
    let conn = http.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        res = conn.as_mut() => {
            if let Err(e) = res {
                tracing::debug!(source = %peer.ip(), error = %e, "API connection ended");
            }
        }
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(1), conn).await;
        }
    }
}

/// Compare in constant time, so the token cannot be guessed byte by byte from timings.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u8 | ((a.len() ^ b.len()) >> 8) as u8;
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0xff);
        diff |= x ^ y;
    }
    diff == 0
}

pub(crate) enum Access {
    Granted,
    Refused(Response),
}

/// How a request proved who it is: the bearer token, or the page's session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Credential {
    Token,
    Session,
}

/// What a request's credentials came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proof {
    /// None sent (or no token is configured).
    Nothing,
    Valid(Credential),
    /// A bearer token that is not the token, or a session that is not live.
    Wrong,
    /// The source spent its budget of wrong tokens: not compared.
    Throttled(Duration),
}

fn no_token_configured() -> Response {
    error(
        StatusCode::UNAUTHORIZED,
        "no API token is configured; set [api] token or token_file to allow manual control",
    )
}

/// Does the token match the configured one (in constant time)?
fn token_matches(state: &ApiState, given: &str) -> bool {
    state.token.as_ref().is_some_and(|t| constant_time_eq(given.as_bytes(), t.as_bytes()))
}

/// Check a token from `peer` under its source's budget ([`guard`]).
pub(crate) fn check_token(state: &ApiState, peer: SocketAddr, what: &str, given: &str) -> guard::Verdict {
    state.guard.check(peer.ip(), what, std::time::Instant::now(), || token_matches(state, given))
}

/// The bearer token, else a live session cookie. A wrong bearer token is
/// charged to its source; a stale session cookie is not (every browser has
/// one after a restart, and 256 random bits are not guessed).
pub(crate) fn credential(state: &ApiState, peer: SocketAddr, headers: &HeaderMap) -> Proof {
    if state.token.is_none() {
        return Proof::Nothing;
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if let Some(given) = bearer {
        return match check_token(state, peer, "Authorization: Bearer", given) {
            guard::Verdict::Right => Proof::Valid(Credential::Token),
            guard::Verdict::Wrong => Proof::Wrong,
            guard::Verdict::Throttled(after) => Proof::Throttled(after),
        };
    }
    let Some(cookie) = headers.get(header::COOKIE).and_then(|v| v.to_str().ok()) else {
        return Proof::Nothing;
    };
    match crate::web::session::from_cookie_header(cookie) {
        Some(id) if state.sessions.check(id, std::time::Instant::now()) => Proof::Valid(Credential::Session),
        Some(_) => Proof::Wrong,
        None => Proof::Nothing,
    }
}

/// 429 with `Retry-After`, for a source that spent its budget.
pub(crate) fn throttled(after: Duration) -> Response {
    let mut r =
        error(StatusCode::TOO_MANY_REQUESTS, "too many wrong tokens from this address; wait, then try again");
    let secs = after.as_secs() + 1;
    if let Ok(v) = axum::http::HeaderValue::from_str(&secs.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// Does the request's `Origin`, if any, name this server (the `Host` it was sent to)?
/// A page on another site can make a browser send a request with our cookie
/// stripped (SameSite) but not with our origin: this is the second lock.
/// The API speaks plain HTTP, so an `https://` origin is another origin.
pub(crate) fn same_origin(headers: &HeaderMap) -> Option<bool> {
    let origin = headers.get(header::ORIGIN)?.to_str().ok();
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    Some(match (origin, host) {
        (Some(origin), Some(host)) => origin.strip_prefix("http://") == Some(host),
        _ => false,
    })
}

fn wrong_credentials() -> Response {
    error(StatusCode::UNAUTHORIZED, "missing or wrong bearer token or session")
}

/// A state-changing request: the token or a session, and no foreign origin
/// (a session must show its origin: browsers always send it on such requests).
pub(crate) fn write_access(state: &ApiState, peer: SocketAddr, headers: &HeaderMap) -> Access {
    if state.token.is_none() {
        return Access::Refused(no_token_configured());
    }
    let credential = match credential(state, peer, headers) {
        Proof::Valid(c) => c,
        Proof::Throttled(after) => return Access::Refused(throttled(after)),
        Proof::Nothing | Proof::Wrong => return Access::Refused(wrong_credentials()),
    };
    match (same_origin(headers), credential) {
        (Some(true), _) | (None, Credential::Token) => Access::Granted,
        (None, Credential::Session) => Access::Refused(error(
            StatusCode::FORBIDDEN,
            "a request with a session cookie must carry its Origin",
        )),
        (Some(false), _) => {
            Access::Refused(error(StatusCode::FORBIDDEN, "request from another origin refused"))
        }
    }
}

fn peer_of(parts: &axum::http::request::Parts) -> Option<SocketAddr> {
    parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0)
}

fn no_peer() -> Response {
    error(StatusCode::INTERNAL_SERVER_ERROR, "no peer address")
}

/// A request allowed to read ([`read_access`]): the first argument of every
/// reading handler, so none can forget the check.
pub(crate) struct CanRead;

impl axum::extract::FromRequestParts<ApiState> for CanRead {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &ApiState,
    ) -> Result<Self, Response> {
        let peer = peer_of(parts).ok_or_else(no_peer)?;
        match read_access(state, peer, &parts.headers) {
            Access::Granted => Ok(CanRead),
            Access::Refused(r) => Err(r),
        }
    }
}

/// A request allowed to change things ([`write_access`]), and who it came
/// from in words the history keeps (never the token or session itself).
pub(crate) struct CanWrite {
    pub who: String,
}

impl axum::extract::FromRequestParts<ApiState> for CanWrite {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &ApiState,
    ) -> Result<Self, Response> {
        let peer = peer_of(parts).ok_or_else(no_peer)?;
        match write_access(state, peer, &parts.headers) {
            Access::Granted => {
                let how =
                    if parts.headers.contains_key(header::AUTHORIZATION) { "api token" } else { "web page" };
                Ok(CanWrite { who: format!("{how} from {}", peer.ip().to_canonical()) })
            }
            Access::Refused(r) => Err(r),
        }
    }
}

/// Reading: loopback peers, else the token or a session.
pub(crate) fn read_access(state: &ApiState, peer: SocketAddr, headers: &HeaderMap) -> Access {
    // `[::]` listeners see IPv4 loopback clients as `::ffff:127.0.0.1`.
    if peer.ip().to_canonical().is_loopback() {
        return Access::Granted;
    }
    match credential(state, peer, headers) {
        Proof::Valid(_) => Access::Granted,
        Proof::Throttled(after) => Access::Refused(throttled(after)),
        _ if state.token.is_none() => Access::Refused(no_token_configured()),
        _ => Access::Refused(wrong_credentials()),
    }
}

pub(crate) fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

pub(crate) async fn ask<T>(
    state: &ApiState,
    make: impl FnOnce(oneshot::Sender<T>) -> ApiRequest,
) -> Result<T, Response> {
    let (tx, rx) = oneshot::channel();
    let unavailable = || error(StatusCode::SERVICE_UNAVAILABLE, "camrelay is shutting down");
    state.core.send(make(tx)).await.map_err(|_| unavailable())?;
    rx.await.map_err(|_| unavailable())
}

async fn status(_: CanRead, State(state): State<ApiState>) -> Response {
    match ask(&state, ApiRequest::Status).await {
        Ok(mut status) => {
            status.mqtt = state.mqtt.as_ref().map(|m| m.status());
            status.history = state.history.as_ref().map(|h| h.stats.status(h.dir.clone()));
            Json(status).into_response()
        }
        Err(r) => r,
    }
}

/// A comment line this often keeps proxies and browsers from timing out a quiet stream.
const EVENTS_KEEPALIVE: Duration = Duration::from_secs(15);

/// `GET /api/events?camera=NAME`: with `camera`, targets of that camera only.
#[derive(Debug, Deserialize)]
struct EventsQuery {
    camera: Option<String>,
}

/// Items one chunk of the stream carries at most: a page that fell behind
/// gets one write for many items, and only the newest targets of a camera.
const EVENTS_BATCH: usize = 64;

/// Least time between two chunks to one client. A camera posts traject 6–12
/// times a second, so its posts still go out one by one at once; under a
/// flood a page gets at most 20 writes a second instead of one per post.
pub const EVENTS_MIN_GAP: Duration = Duration::from_millis(50);

async fn events(
    _: CanRead,
    State(state): State<ApiState>,
    axum::extract::Query(query): axum::extract::Query<EventsQuery>,
) -> Response {
    use tokio::sync::broadcast::error::{RecvError, TryRecvError};
    let Ok(permit) = state.streams.clone().try_acquire_owned() else {
        return busy(&format!(
            "{MAX_EVENT_STREAMS} event streams are open already; close a page and reload this one"
        ));
    };
    let watching = state.feed.watch();
    let camera = query.camera;
    let wanted = move |item: &crate::happened::Item| match (item.targets_of(), &camera) {
        (Some(of), Some(want)) => of == want,
        _ => true,
    };
    let last = tokio::time::Instant::now() - EVENTS_MIN_GAP;
    // The permit lives in the stream's state: the budget frees when the client goes.
    let watching = (watching, permit);
    let stream = futures_util::stream::unfold(
        (watching, wanted, last),
        |((mut w, permit), wanted, last)| async move {
            let w_and_permit = |w| (w, permit);
            let first = match tokio::time::timeout(EVENTS_KEEPALIVE, w.rx.recv()).await {
                Err(_) => {
                    return Some((
                        Ok(bytes::Bytes::from_static(b": keepalive\n\n")),
                        (w_and_permit(w), wanted, last),
                    ))
                }
                Ok(Ok(item)) => item,
                Ok(Err(RecvError::Lagged(n))) => {
                    let frame = format!("event: lagged\ndata: {{\"lost\":{n}}}\n\n");
                    return Some((Ok(bytes::Bytes::from(frame)), (w_and_permit(w), wanted, last)));
                }
                Ok(Err(RecvError::Closed)) => return None,
            };
            tokio::time::sleep_until(last + EVENTS_MIN_GAP).await;
            let mut items = vec![first];
            while items.len() < EVENTS_BATCH {
                match w.rx.try_recv() {
                    Ok(item) => items.push(item),
                    Err(TryRecvError::Lagged(_)) => continue,
                    Err(_) => break,
                }
            }
            let mut chunk = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let superseded = item
                    .targets_of()
                    .is_some_and(|c| items[i + 1..].iter().any(|later| later.targets_of() == Some(c)));
                if wanted(item) && !superseded {
                    chunk.extend_from_slice(item.frame());
                }
            }
            let now = tokio::time::Instant::now();
            Some((
                Ok::<_, std::convert::Infallible>(bytes::Bytes::from(chunk)),
                (w_and_permit(w), wanted, now),
            ))
        },
    );
    (
        [(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-store")],
        axum::body::Body::from_stream(stream),
    )
        .into_response()
}

/// A place among the requests that wait for a camera, if there is one.
pub(crate) fn camera_call(state: &ApiState) -> Option<OwnedSemaphorePermit> {
    state.camera_calls.clone().try_acquire_owned().ok()
}

/// The 503 for a request that found no place among those waiting for a camera.
pub(crate) fn cameras_busy() -> Response {
    busy(&format!("{MAX_CAMERA_CALLS} requests are waiting for cameras already; try again in a moment"))
}

/// 503 for a request over its budget, closing the connection: a client
/// turned away must not keep a connection it would only hold idle.
fn busy(message: &str) -> Response {
    let mut r = error(StatusCode::SERVICE_UNAVAILABLE, message);
    r.headers_mut().insert(header::CONNECTION, axum::http::HeaderValue::from_static("close"));
    r.headers_mut().insert(header::RETRY_AFTER, axum::http::HeaderValue::from_static("1"));
    r
}

async fn snapshot(_: CanRead, State(state): State<ApiState>, Path(name): Path<String>) -> Response {
    use crate::camera::directory::SnapshotError;
    let Some(_place) = camera_call(&state) else { return cameras_busy() };
    match state.cameras.picture(&name).await {
        Ok((jpeg, source)) => (
            [
                (header::CONTENT_TYPE, "image/jpeg"),
                (header::CACHE_CONTROL, "no-store"),
                (header::HeaderName::from_static("x-camrelay-picture"), source.word()),
            ],
            jpeg,
        )
            .into_response(),
        Err(e @ (SnapshotError::Unknown(_) | SnapshotError::NoUrl(_) | SnapshotError::NoPicture(_))) => {
            error(StatusCode::NOT_FOUND, &e.to_string())
        }
        Err(e) => error(StatusCode::BAD_GATEWAY, &e.to_string()),
    }
}

async fn why(_: CanRead, State(state): State<ApiState>, Path(rule): Path<String>) -> Response {
    match ask(&state, |reply| ApiRequest::Why { rule: rule.clone(), reply }).await {
        Ok(Some(entries)) => Json(serde_json::json!({ "rule": rule, "events": entries })).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, &format!("no enabled rule named {rule:?}")),
        Err(r) => r,
    }
}

async fn metrics(_: CanRead, State(state): State<ApiState>) -> Response {
    match ask(&state, ApiRequest::Metrics).await {
        Ok(mut text) => {
            state.ingest.stats.render_prometheus(&mut text);
            if let Some(mqtt) = &state.mqtt {
                mqtt.render(&mut text);
            }
            if let Some(history) = &state.history {
                history.stats.render_prometheus(&mut text);
            }
            let (wrong, throttled) = state.guard.counts();
            use std::fmt::Write as _;
            let _ = writeln!(
                text,
                "# HELP camrelay_api_auth_failures_total Wrong tokens checked, and attempts refused unchecked (429) past a source's budget.\n\
                 # TYPE camrelay_api_auth_failures_total counter\n\
                 camrelay_api_auth_failures_total{{outcome=\"wrong\"}} {wrong}\n\
                 camrelay_api_auth_failures_total{{outcome=\"throttled\"}} {throttled}"
            );
            let _ = writeln!(
                text,
                "# HELP camrelay_device_offline_total Devices reported offline (logged or rate-limited).\n\
                 # TYPE camrelay_device_offline_total counter\ncamrelay_device_offline_total {}",
                state.ingest.devices.offline_reports()
            );
            ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
        }
        Err(r) => r,
    }
}

/// Body of `POST /api/relays/{name}`: `{"action": "on" | "off" | "pulse" | "release", "duration": "2s"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ControlBody {
    action: String,
    duration: Option<String>,
}

fn parse_control(body: &ControlBody) -> Result<Manual, String> {
    match body.action.as_str() {
        "on" => Ok(Manual::On),
        "off" => Ok(Manual::Off),
        "release" => Ok(Manual::Release),
        "pulse" => {
            let text = body
                .duration
                .as_deref()
                .ok_or("pulse needs a duration, e.g. {\"action\": \"pulse\", \"duration\": \"1s\"}")?;
            let d = crate::config::parse_duration(text)?;
            if d.is_zero() {
                return Err("a pulse needs a duration above zero, e.g. \"1s\"".into());
            }
            if d > MAX_MANUAL_PULSE {
                return Err(format!("a pulse of {text:?} is longer than the longest accepted, 24h"));
            }
            Ok(Manual::Pulse(d))
        }
        other => Err(format!("unknown action {other:?}; use on, off, pulse or release")),
    }
}

async fn control(
    CanWrite { who }: CanWrite,
    State(state): State<ApiState>,
    Path(relay): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let body: ControlBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("bad request body: {e}")),
    };
    let request = match parse_control(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    match ask(&state, |reply| ApiRequest::Manual { relay: relay.clone(), request, who, reply }).await {
        Ok(Ok(())) => Json(serde_json::json!({ "relay": relay, "accepted": body.action })).into_response(),
        Ok(Err(e)) => error(StatusCode::NOT_FOUND, &e),
        Err(r) => r,
    }
}

/// `POST /api/inputs/{name}` with `{"on": true}` (or `{"state": "on"}`):
/// with the mock backend, a contact to try rules with on a PC. The same
/// write access as switching a relay; refused (409) under a real backend.
async fn set_input(
    CanWrite { who }: CanWrite,
    State(state): State<ApiState>,
    Path(input): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        on: Option<bool>,
        state: Option<String>,
    }
    let on = match serde_json::from_slice::<Body>(&body) {
        Ok(Body { on: Some(on), state: None }) => on,
        Ok(Body { on: None, state: Some(s) }) if s.eq_ignore_ascii_case("on") => true,
        Ok(Body { on: None, state: Some(s) }) if s.eq_ignore_ascii_case("off") => false,
        Ok(_) => {
            return error(StatusCode::BAD_REQUEST, "give the level: {\"on\": true} or {\"state\": \"off\"}")
        }
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("bad request body: {e}")),
    };
    match ask(&state, |reply| ApiRequest::SetInput { input: input.clone(), on, who, reply }).await {
        Ok(Ok(())) => Json(serde_json::json!({ "input": input, "on": on })).into_response(),
        Ok(Err(e)) if e.starts_with("no [[input]]") => error(StatusCode::NOT_FOUND, &e),
        Ok(Err(e)) => error(StatusCode::CONFLICT, &e),
        Err(r) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_time_eq_compares_whole_values() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn reading_from_another_host_needs_the_token_or_a_session() {
        let (tx, _rx) = mpsc::channel(1);
        let state = ApiState::new(tx, Arc::default(), Some("t0ken".into()));
        let remote: SocketAddr = "192.0.2.7:5000".parse().unwrap();
        let local: SocketAddr = "[::ffff:127.0.0.1]:5000".parse().unwrap();
        let granted = |peer, h: &HeaderMap| matches!(read_access(&state, peer, h), Access::Granted);
        let none = HeaderMap::new();
        assert!(granted(local, &none));
        assert!(!granted(remote, &none));
        let mut bearer = HeaderMap::new();
        bearer.insert(header::AUTHORIZATION, "Bearer t0ken".parse().unwrap());
        assert!(granted(remote, &bearer));
        bearer.insert(header::AUTHORIZATION, "Bearer t0kem".parse().unwrap());
        assert!(!granted(remote, &bearer));
        let id = state.sessions.open(std::time::Instant::now()).unwrap();
        let mut cookie = HeaderMap::new();
        cookie.insert(header::COOKIE, format!("x=1; camrelay_session={id}").parse().unwrap());
        assert!(granted(remote, &cookie));
        // Writing needs the origin too, and a session must show it.
        assert!(matches!(write_access(&state, remote, &cookie), Access::Refused(_)));
        cookie.insert(header::HOST, "pi.local:5003".parse().unwrap());
        cookie.insert(header::ORIGIN, "http://pi.local:5003".parse().unwrap());
        assert!(matches!(write_access(&state, remote, &cookie), Access::Granted));
        cookie.insert(header::ORIGIN, "http://pi.local:5004".parse().unwrap());
        assert!(matches!(write_access(&state, remote, &cookie), Access::Refused(_)));
        // The API speaks plain HTTP: the same host over https is another origin.
        cookie.insert(header::ORIGIN, "https://pi.local:5003".parse().unwrap());
        assert!(matches!(write_access(&state, remote, &cookie), Access::Refused(_)));
    }

    #[test]
    fn control_bodies_parse_to_manual_requests() {
        let body = |a: &str, d: Option<&str>| ControlBody { action: a.into(), duration: d.map(Into::into) };
        assert_eq!(parse_control(&body("on", None)), Ok(Manual::On));
        assert_eq!(
            parse_control(&body("pulse", Some("1500ms"))),
            Ok(Manual::Pulse(std::time::Duration::from_millis(1500)))
        );
        assert_eq!(
            parse_control(&body("pulse", None)),
            Err("pulse needs a duration, e.g. {\"action\": \"pulse\", \"duration\": \"1s\"}".into())
        );
        assert_eq!(
            parse_control(&body("pulse", Some("0s"))),
            Err("a pulse needs a duration above zero, e.g. \"1s\"".into())
        );
        assert_eq!(
            parse_control(&body("pulse", Some("25h"))),
            Err("a pulse of \"25h\" is longer than the longest accepted, 24h".into())
        );
        assert!(parse_control(&body("pulse", Some("18446744073709551615d18446744073709551615d"))).is_err());
        assert_eq!(
            parse_control(&body("blink", None)),
            Err("unknown action \"blink\"; use on, off, pulse or release".into())
        );
    }
}
