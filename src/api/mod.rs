//! The management API: health, status, manual relay control and metrics.
//!
//! Owns the second HTTP listener (loopback by default) and token checks. It
//! must never switch a relay itself: every request goes to the core task as an
//! [`crate::request::Request`], and manual control passes through the controller's override,
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
//! the web page's session cookie ([`crate::access`]), and a request that carries
//! an `Origin` (every browser request does) must come from this server's own
//! origin; with no token configured it is refused (401). The web page and its
//! own endpoints are served here too, under the same rules.
//!
//! Against guessing and hogging: a wrong token costs its source a budget
//! ([`crate::access::guard`]: 1 a second after a burst of 5, then 429 unchecked), logged once a
//! minute per source and counted; a request whose `Host` is not a name this
//! API is reached by is refused 421 ([`hosts`]: DNS rebinding); event
//! streams and requests that wait for a camera each have their own budget
//! ([`MAX_EVENT_STREAMS`], [`crate::access::MAX_CAMERA_CALLS`]), so however many of them
//! are open, control, login and `/health` keep room among the connections.

mod history;
pub mod hosts;
mod metrics;

pub use metrics::render_core_metrics;

use crate::access::{error, CanRead, CanWrite, Gate};
use crate::config::ApiConfig;
use crate::ingest::IngestShared;
use crate::relays::controller::Manual;
use crate::request::{ask, Request};
use axum::extract::{ConnectInfo, FromRef, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tower::ServiceExt;

/// What the HTTP handlers share.
#[derive(Clone)]
pub struct ApiState {
    core: mpsc::Sender<Request>,
    ingest: Arc<IngestShared>,
    /// The token, the page's sessions and what wrong credentials cost.
    gate: Gate,
    cameras: Arc<crate::camera::directory::Directory>,
    feed: crate::happened::Feed,
    /// The web page's own state: it shares the gate, the core's channel and
    /// the budget of camera calls, and nothing else of the API's.
    web: crate::web::WebState,
    /// The `Host` names this API answers to.
    hosts: Arc<hosts::Hosts>,
    /// Event streams open at once.
    streams: Arc<Semaphore>,
    /// Requests waiting for a camera (snapshots, regions) at once.
    camera_calls: Arc<Semaphore>,
    /// The broker link's counters, with `[mqtt]`.
    mqtt: Option<Arc<crate::mqtt::Stats>>,
    /// The event history, with `[history]`.
    history: Option<Arc<HistoryAccess>>,
}

impl FromRef<ApiState> for Gate {
    fn from_ref(state: &ApiState) -> Gate {
        state.gate.clone()
    }
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
    pub fn new(core: mpsc::Sender<Request>, ingest: Arc<IngestShared>, token: Option<String>) -> Self {
        let gate = Gate::new(token);
        let camera_calls = Arc::new(Semaphore::new(crate::access::MAX_CAMERA_CALLS));
        ApiState {
            web: crate::web::WebState::new(core.clone(), gate.clone(), camera_calls.clone()),
            core,
            ingest,
            gate,
            cameras: Arc::default(),
            feed: Default::default(),
            hosts: Arc::new(hosts::Hosts::any()),
            streams: Arc::new(Semaphore::new(MAX_EVENT_STREAMS)),
            camera_calls,
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
        self.web.token_file = path.map(Arc::new);
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
        self.web.rules_file = Some(Arc::new(path));
        self
    }

    /// The keeper of recent decisions the page shows when it opens.
    pub fn with_recent(mut self, recent: Arc<crate::web::Recent>) -> Self {
        self.web.recent = recent;
        self
    }

    /// The core's stream of what happened, served by `GET /api/events`.
    pub fn with_feed(mut self, feed: crate::happened::Feed) -> Self {
        self.feed = feed;
        self
    }

    /// The cameras whose pictures `GET /api/cameras/{name}/snapshot` serves.
    pub fn with_cameras(mut self, cameras: Arc<crate::camera::directory::Directory>) -> Self {
        self.web.cameras = cameras.clone();
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

/// Longest a request may take from its head to its answer.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Serve the API until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    state: ApiState,
    header_timeout: Duration,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let hosts = state.hosts.clone();
    let web = state.web.clone();
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
        .with_state(state)
        .merge(crate::web::routes().with_state(web));
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

async fn status(_: CanRead, State(state): State<ApiState>) -> Response {
    match ask(&state.core, Request::Status).await {
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

/// Least time between two chunks of one kind (with targets, or without) to
/// one client. A camera posts traject 6–12 times a second, so its posts
/// still go out one by one at once, whatever else happens between them;
/// under a flood a page gets at most 40 writes a second instead of one per post.
pub const EVENTS_MIN_GAP: Duration = Duration::from_millis(50);

async fn events(
    _: CanRead,
    State(state): State<ApiState>,
    axum::extract::Query(query): axum::extract::Query<EventsQuery>,
) -> Response {
    use tokio::sync::broadcast::error::{RecvError, TryRecvError};
    let Ok(permit) = state.streams.clone().try_acquire_owned() else {
        return crate::access::busy(&format!(
            "{MAX_EVENT_STREAMS} event streams are open already; close a page and reload this one"
        ));
    };
    let watching = state.feed.watch();
    let camera = query.camera;
    let wanted = move |item: &crate::happened::Item| match (item.targets_of(), &camera) {
        (Some(of), Some(want)) => of == want,
        _ => true,
    };
    // When the last chunk with targets, and the last with anything else,
    // went out: each kind keeps its own gap, so what the history emits
    // between two posts (a visit that ended) never holds the next targets
    // back, and a chunk left empty (another camera's targets) costs no gap.
    let long_ago = tokio::time::Instant::now() - EVENTS_MIN_GAP;
    let last = (long_ago, long_ago);
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
            let gap_from = if first.targets_of().is_some() { last.0 } else { last.1 };
            tokio::time::sleep_until(gap_from + EVENTS_MIN_GAP).await;
            let mut items = vec![first];
            while items.len() < EVENTS_BATCH {
                match w.rx.try_recv() {
                    Ok(item) => items.push(item),
                    Err(TryRecvError::Lagged(_)) => continue,
                    Err(_) => break,
                }
            }
            let mut chunk = Vec::new();
            let (mut targets, mut others) = (false, false);
            for (i, item) in items.iter().enumerate() {
                let superseded = item
                    .targets_of()
                    .is_some_and(|c| items[i + 1..].iter().any(|later| later.targets_of() == Some(c)));
                if wanted(item) && !superseded {
                    chunk.extend_from_slice(item.frame());
                    if item.targets_of().is_some() {
                        targets = true;
                    } else {
                        others = true;
                    }
                }
            }
            let now = tokio::time::Instant::now();
            let last = (if targets { now } else { last.0 }, if others { now } else { last.1 });
            Some((
                Ok::<_, std::convert::Infallible>(bytes::Bytes::from(chunk)),
                (w_and_permit(w), wanted, last),
            ))
        },
    );
    (
        [(header::CONTENT_TYPE, "text/event-stream"), (header::CACHE_CONTROL, "no-store")],
        axum::body::Body::from_stream(stream),
    )
        .into_response()
}

/// `GET /api/cameras/{name}/snapshot?missing=empty`: a camera with no
/// picture yet is 204, not 404 (the page asks before any post came, and a
/// browser logs every 404 as an error).
#[derive(Debug, Deserialize)]
struct SnapshotQuery {
    missing: Option<String>,
}

async fn snapshot(
    _: CanRead,
    State(state): State<ApiState>,
    Path(name): Path<String>,
    axum::extract::Query(query): axum::extract::Query<SnapshotQuery>,
) -> Response {
    use crate::camera::directory::SnapshotError;
    let Some(_place) = crate::access::camera_call(&state.camera_calls) else {
        return crate::access::cameras_busy();
    };
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
        Err(SnapshotError::NoPicture(_)) if query.missing.as_deref() == Some("empty") => {
            StatusCode::NO_CONTENT.into_response()
        }
        Err(e @ (SnapshotError::Unknown(_) | SnapshotError::NoUrl(_) | SnapshotError::NoPicture(_))) => {
            error(StatusCode::NOT_FOUND, &e.to_string())
        }
        Err(e) => error(StatusCode::BAD_GATEWAY, &e.to_string()),
    }
}

async fn why(_: CanRead, State(state): State<ApiState>, Path(rule): Path<String>) -> Response {
    match ask(&state.core, |reply| Request::Why { rule: rule.clone(), reply }).await {
        Ok(Some(entries)) => Json(serde_json::json!({ "rule": rule, "events": entries })).into_response(),
        Ok(None) => error(StatusCode::NOT_FOUND, &format!("no enabled rule named {rule:?}")),
        Err(r) => r,
    }
}

async fn metrics(_: CanRead, State(state): State<ApiState>) -> Response {
    match ask(&state.core, Request::Metrics).await {
        Ok(mut text) => {
            state.ingest.stats.render_prometheus(&mut text);
            if let Some(mqtt) = &state.mqtt {
                mqtt.render(&mut text);
            }
            if let Some(history) = &state.history {
                history.stats.render_prometheus(&mut text);
            }
            let (wrong, throttled) = state.gate.guard.counts();
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
            if d > crate::request::MAX_MANUAL_PULSE {
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
    match ask(&state.core, |reply| Request::Manual { relay: relay.clone(), request, who, reply }).await {
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
    match ask(&state.core, |reply| Request::SetInput { input: input.clone(), on, who, reply }).await {
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
