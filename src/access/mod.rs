//! Who may ask: the API token, the web page's session cookie, the budget
//! a wrong credential costs its source, and the origin check, for every
//! HTTP handler (the API's and the page's) alike.
//!
//! Owns the [`Gate`] (the token, the live sessions, the guard) and the
//! extractors every handler takes first ([`CanRead`], [`CanWrite`]), so none
//! can forget the check. Both [`crate::api`] and [`crate::web`] use it and
//! neither imports the other for it. It must never log or echo a token or a
//! session id.

pub mod guard;
pub mod session;

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// What a credential is checked against: the token, the sessions the page
/// opened with it, and what wrong ones cost each source.
#[derive(Clone, Default)]
pub struct Gate {
    pub token: Option<Arc<str>>,
    pub sessions: Arc<session::Sessions>,
    pub guard: Arc<guard::Guard>,
}

impl Gate {
    pub fn new(token: Option<String>) -> Gate {
        Gate { token: token.map(Arc::from), ..Gate::default() }
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

/// A request's access: granted, or the answer that refuses it.
pub enum Access {
    Granted,
    Refused(Response),
}

/// How a request proved who it is: the bearer token, or the page's session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    Token,
    Session,
}

/// What a request's credentials came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
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
fn token_matches(gate: &Gate, given: &str) -> bool {
    gate.token.as_ref().is_some_and(|t| constant_time_eq(given.as_bytes(), t.as_bytes()))
}

/// Check a token from `peer` under its source's budget ([`guard`]).
pub fn check_token(gate: &Gate, peer: SocketAddr, what: &str, given: &str) -> guard::Verdict {
    gate.guard.check(peer.ip(), what, std::time::Instant::now(), || token_matches(gate, given))
}

/// The bearer token, else a live session cookie. A wrong bearer token is
/// charged to its source; a stale session cookie is not (every browser has
/// one after a restart, and 256 random bits are not guessed).
pub fn credential(gate: &Gate, peer: SocketAddr, headers: &HeaderMap) -> Proof {
    if gate.token.is_none() {
        return Proof::Nothing;
    }
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if let Some(given) = bearer {
        return match check_token(gate, peer, "Authorization: Bearer", given) {
            guard::Verdict::Right => Proof::Valid(Credential::Token),
            guard::Verdict::Wrong => Proof::Wrong,
            guard::Verdict::Throttled(after) => Proof::Throttled(after),
        };
    }
    let Some(cookie) = headers.get(header::COOKIE).and_then(|v| v.to_str().ok()) else {
        return Proof::Nothing;
    };
    match session::from_cookie_header(cookie) {
        Some(id) if gate.sessions.check(id, std::time::Instant::now()) => Proof::Valid(Credential::Session),
        Some(_) => Proof::Wrong,
        None => Proof::Nothing,
    }
}

/// 429 with `Retry-After`, for a source that spent its budget.
pub fn throttled(after: Duration) -> Response {
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
pub fn same_origin(headers: &HeaderMap) -> Option<bool> {
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
pub fn write_access(gate: &Gate, peer: SocketAddr, headers: &HeaderMap) -> Access {
    if gate.token.is_none() {
        return Access::Refused(no_token_configured());
    }
    let credential = match credential(gate, peer, headers) {
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
pub struct CanRead;

impl<S: Send + Sync> FromRequestParts<S> for CanRead
where
    Gate: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Response> {
        let peer = peer_of(parts).ok_or_else(no_peer)?;
        match read_access(&Gate::from_ref(state), peer, &parts.headers) {
            Access::Granted => Ok(CanRead),
            Access::Refused(r) => Err(r),
        }
    }
}

/// A request allowed to change things ([`write_access`]), and who it came
/// from in words the history keeps (never the token or session itself).
pub struct CanWrite {
    pub who: String,
}

impl<S: Send + Sync> FromRequestParts<S> for CanWrite
where
    Gate: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Response> {
        let peer = peer_of(parts).ok_or_else(no_peer)?;
        match write_access(&Gate::from_ref(state), peer, &parts.headers) {
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
pub fn read_access(gate: &Gate, peer: SocketAddr, headers: &HeaderMap) -> Access {
    // `[::]` listeners see IPv4 loopback clients as `::ffff:127.0.0.1`.
    if peer.ip().to_canonical().is_loopback() {
        return Access::Granted;
    }
    match credential(gate, peer, headers) {
        Proof::Valid(_) => Access::Granted,
        Proof::Throttled(after) => Access::Refused(throttled(after)),
        _ if gate.token.is_none() => Access::Refused(no_token_configured()),
        _ => Access::Refused(wrong_credentials()),
    }
}

pub fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

/// Requests waiting for a camera's answer at once (snapshots, regions); more
/// are answered 503 instead of holding a connection behind a slow camera.
pub const MAX_CAMERA_CALLS: usize = 8;

/// A place among the requests that wait for a camera, if there is one.
pub fn camera_call(calls: &Arc<tokio::sync::Semaphore>) -> Option<tokio::sync::OwnedSemaphorePermit> {
    calls.clone().try_acquire_owned().ok()
}

/// The 503 for a request that found no place among those waiting for a camera.
pub fn cameras_busy() -> Response {
    busy(&format!("{MAX_CAMERA_CALLS} requests are waiting for cameras already; try again in a moment"))
}

/// 503 for a request over its budget, closing the connection: a client
/// turned away must not keep a connection it would only hold idle.
pub fn busy(message: &str) -> Response {
    let mut r = error(StatusCode::SERVICE_UNAVAILABLE, message);
    r.headers_mut().insert(header::CONNECTION, axum::http::HeaderValue::from_static("close"));
    r.headers_mut().insert(header::RETRY_AFTER, axum::http::HeaderValue::from_static("1"));
    r
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
        let state = Gate::new(Some("t0ken".into()));
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
}
