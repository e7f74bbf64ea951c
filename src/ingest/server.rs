//! The HTTP/1.1 listener: connections, timeouts, limits and replies.
//!
//! Built on hyper directly (not `axum::serve`) because the stalled-client
//! rules need control over each connection's phase:
//!
//! - a fresh connection, or a keep-alive connection that has started a new
//!   request, must finish its headers within `header_timeout`;
//! - a request body must arrive within `body_timeout` (408 otherwise);
//! - a keep-alive connection with no request under way is closed after
//!   `idle_timeout` (cameras keep theirs open between posts).
//!
//! hyper's own `header_read_timeout` also runs while a keep-alive connection
//! is idle, which would cut cameras off after `header_timeout`; a per
//! connection watchdog driven by what the socket reads does both jobs instead.

use super::allow::AllowList;
use super::conns::{ConnState, Connections, Evicted, Phase, Registered};
use super::limit::LogLimit;
use super::record::{self, Recorder};
use super::stats::{Dropped, Rejection};
use super::{IngestShared, Received};
use crate::clock::SystemClock;
use crate::config::ServerConfig;
use crate::decode::{DecodeError, Event, EventKind};
use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Incoming};
use hyper::header::{HeaderValue, ALLOW, CONNECTION, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant as TokioInstant;

/// The reply to every accepted post. Cameras keep their connection open on it.
pub const SUCCESS_XML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><config version=\"1.0\" xmlns=\"http://www.ipc.com/ver10\"><status>success</status></config>";

/// Longest a graceful shutdown waits for requests under way.
const MAX_DRAIN: Duration = Duration::from_secs(10);

/// The body decoder. Production passes [`crate::decode::decode`]; tests may
/// pass a stand-in.
pub type Decoder = Arc<dyn Fn(&[u8]) -> Result<Event, DecodeError> + Send + Sync>;

/// The failure reply: `<status>failed</status><reason>…</reason>`.
pub fn error_xml(reason: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><config version=\"1.0\" xmlns=\"http://www.ipc.com/ver10\"><status>failed</status><reason>{}</reason></config>",
        escape_xml(reason)
    )
}

fn escape_xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() && c != '\t' && c != '\n' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Serve cameras and NVRs until `shutdown` resolves, decoding with the real decoder.
pub async fn serve(
    listener: TcpListener,
    config: ServerConfig,
    clock: SystemClock,
    sink: mpsc::Sender<Received>,
    shared: Arc<IngestShared>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    serve_with(listener, config, clock, sink, shared, shutdown, Arc::new(crate::decode::decode)).await
}

/// [`serve`] with the decoder supplied.
///
/// On `shutdown`: stop accepting, let requests under way finish (at most
/// `body_timeout`, capped at 10 s, plus one second), close idle
/// connections, then return. Fails at once on an invalid `allow` entry.
pub async fn serve_with(
    listener: TcpListener,
    config: ServerConfig,
    clock: SystemClock,
    sink: mpsc::Sender<Received>,
    shared: Arc<IngestShared>,
    shutdown: impl Future<Output = ()> + Send + 'static,
    decoder: Decoder,
) -> io::Result<()> {
    let allow =
        AllowList::parse(&config.allow).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let recorder = match &config.record_dir {
        Some(dir) => {
            // The run's stamp, once for the run: the daemon may have set it
            // already (its own records come before the first post), and a
            // second reading of the clocks can differ by a millisecond.
            let run_ms = shared.run_ms_or(clock.now().origin_wall().timestamp_millis());
            Some(Recorder::start(dir.clone(), shared.clone(), run_ms)?)
        }
        None => None,
    };
    let mut http = hyper::server::conn::http1::Builder::new();
    // Our watchdog handles header timeouts; hyper's would also close idle keep-alives.
    http.header_read_timeout(None).keep_alive(true);
    let drain = config.body_timeout.min(MAX_DRAIN) + Duration::from_secs(1);
    let ctx = Arc::new(Ctx {
        config,
        allow,
        clock,
        sink,
        shared,
        decoder,
        recorder,
        http,
        forbidden_log: LogLimit::new(Duration::from_secs(10), 1),
        problem_log: LogLimit::new(Duration::from_secs(10), 20),
        accept_log: LogLimit::new(Duration::from_secs(10), 1),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let (cap, nofile) = super::conns::cap_from_file_limit();
    let registry = Connections::new(cap, ctx.config.max_connections_per_source);
    tracing::info!(
        connections = cap,
        per_source = ctx.config.max_connections_per_source,
        open_file_limit = nofile,
        "ingest connection limits"
    );
    let mut conns = JoinSet::new();
    let shutdown = shutdown;
    tokio::pin!(shutdown);
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "ingest listening");
    }
    loop {
        while conns.try_join_next().is_some() {}
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let source = peer.ip().to_canonical();
                    let (registered, evicted) = registry.admit(source);
                    for why in evicted {
                        ctx.shared.stats.dropped(match why {
                            Evicted::SourceLimit => Dropped::SourceLimit,
                            Evicted::Cap => Dropped::Evicted,
                        });
                        if let Some(suppressed) = ctx.accept_log.check() {
                            tracing::warn!(source = %source, limit = registry.cap(),
                                per_source = ctx.config.max_connections_per_source, reason = ?why, suppressed,
                                "connection limit reached: the longest-idle connection closed to make room");
                        }
                    }
                    let Some(registered) = registered else {
                        ctx.shared.stats.dropped(Dropped::TooManyConnections);
                        if let Some(suppressed) = ctx.accept_log.check() {
                            tracing::warn!(source = %source, limit = registry.cap(), suppressed,
                                "too many connections, all mid-request: new connection closed");
                        }
                        continue;
                    };
                    // Replies go out at once instead of waiting on a delayed ACK.
                    let _ = stream.set_nodelay(true);
                    conns.spawn(connection(ctx.clone(), stream, peer, stop_rx.clone(), registered));
                }
                Err(e) => {
                    // Out of file descriptors and similar: back off, keep serving.
                    if let Some(suppressed) = ctx.accept_log.check() {
                        tracing::warn!(error = %e, suppressed, "accept failed");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(drain, async { while conns.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(left = conns.len(), "ingest shutdown: requests still under way were cut off");
        conns.shutdown().await;
    }
    tracing::info!("ingest stopped");
    Ok(())
}

struct Ctx {
    config: ServerConfig,
    allow: AllowList,
    clock: SystemClock,
    sink: mpsc::Sender<Received>,
    shared: Arc<IngestShared>,
    decoder: Decoder,
    recorder: Option<Recorder>,
    http: hyper::server::conn::http1::Builder,
    forbidden_log: LogLimit,
    problem_log: LogLimit,
    accept_log: LogLimit,
}

// What the watchdog reads (`conns::ConnState`): request handling only writes
// it (no wake-up, no timer per request): the watchdog never sleeps longer
// than the shortest timeout, so any phase change lands before its sleep ends,
// and it looks at the phase only when that sleep ends. A notification per
// phase change cost about 3,000 of the 55,000 instructions a traject post
// took (`bench/instructions.sh`).

/// The socket, reporting reads to the connection's watchdog.
struct Watched {
    inner: TcpStream,
    state: Arc<ConnState>,
}

impl AsyncRead for Watched {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let r = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.state.bytes_read();
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

async fn connection(
    ctx: Arc<Ctx>,
    stream: TcpStream,
    peer: SocketAddr,
    mut stop: watch::Receiver<bool>,
    registered: Registered,
) {
    ctx.shared.stats.connection_opened();
    let state = registered.state.clone();
    let io = TokioIo::new(Watched { inner: stream, state: state.clone() });
    let svc_ctx = ctx.clone();
    let svc_state = state.clone();
    let service = service_fn(move |req| {
        let ctx = svc_ctx.clone();
        let state = svc_state.clone();
        async move {
            state.set(Phase::Busy);
            let started = std::time::Instant::now();
            let resp = handle(&ctx, peer, req).await;
            ctx.shared.stats.latency(started.elapsed());
            state.set(Phase::Idle);
            Ok::<_, Infallible>(resp)
        }
    });
    let conn = ctx.http.serve_connection(io, service);
    tokio::pin!(conn);
    // Every phase's deadline is at least `recheck` after the phase began, so a
    // watchdog that never sleeps longer than `recheck` wakes in time for any of them.
    let recheck = ctx.config.header_timeout.min(ctx.config.idle_timeout).max(Duration::from_millis(1));
    let watchdog = tokio::time::sleep(recheck);
    tokio::pin!(watchdog);
    let mut stopping = false;
    loop {
        tokio::select! {
            // The connection first: it is what wakes this task almost every time.
            biased;
            res = conn.as_mut() => {
                if let Err(e) = res {
                    connection_error(&ctx, peer, &e);
                }
                break;
            }
            () = watchdog.as_mut() => {
                let now = TokioInstant::now();
                let (phase, since) = state.get();
                let limit = match phase {
                    Phase::Idle => Some(ctx.config.idle_timeout),
                    Phase::Headers => Some(ctx.config.header_timeout),
                    Phase::Busy => None,
                };
                match limit.map(|l| since + l) {
                    Some(deadline) if deadline <= now => {
                        timed_out(&ctx, peer, phase);
                        break;
                    }
                    Some(deadline) => watchdog.as_mut().reset(deadline.min(now + recheck)),
                    None => watchdog.as_mut().reset(now + recheck),
                }
            }
            () = state.closed() => {
                tracing::debug!(source = %peer.ip().to_canonical(), "connection closed to make room for a new one");
                break;
            }
            _ = stop.changed(), if !stopping => {
                stopping = true;
                // hyper closes an idle connection at once and finishes a reply
                // it is writing; a half-received head is not worth waiting for.
                conn.as_mut().graceful_shutdown();
                if state.get().0 == Phase::Headers {
                    break;
                }
            }
        }
    }
    drop(registered);
    ctx.shared.stats.connection_closed();
}

fn timed_out(ctx: &Ctx, peer: SocketAddr, phase: Phase) {
    let source = peer.ip().to_canonical();
    match phase {
        Phase::Headers => {
            ctx.shared.stats.dropped(Dropped::HeaderTimeout);
            if let Some(suppressed) = ctx.problem_log.check() {
                let device = ctx.shared.devices.key_for_source(source);
                tracing::warn!(source = %source, device = device.as_deref().unwrap_or("-"),
                    timeout_ms = ctx.config.header_timeout.as_millis() as u64, suppressed,
                    "client stalled sending headers: connection closed");
            }
        }
        Phase::Idle => {
            ctx.shared.stats.dropped(Dropped::Idle);
            tracing::debug!(source = %source, "idle keep-alive connection closed");
        }
        Phase::Busy => {}
    }
}

fn connection_error(ctx: &Ctx, peer: SocketAddr, e: &hyper::Error) {
    let source = peer.ip().to_canonical();
    if e.is_parse() || e.is_parse_too_large() {
        ctx.shared.stats.dropped(Dropped::BadRequest);
        if let Some(suppressed) = ctx.problem_log.check() {
            tracing::warn!(source = %source, error = %e, suppressed, "not a valid HTTP request: connection closed");
        }
    } else {
        tracing::debug!(source = %source, error = %e, "connection ended");
    }
}

/// Why a body could not be read whole.
enum BodyError {
    TooLarge,
    Disconnected,
    Bad(String),
}

async fn read_body(body: &mut Incoming, max: u64) -> Result<Bytes, BodyError> {
    let hint = body.size_hint().exact().unwrap_or(0).min(max);
    let mut buf = BytesMut::with_capacity(hint as usize);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| classify_body_error(&e))?;
        if let Ok(data) = frame.into_data() {
            if (buf.len() + data.len()) as u64 > max {
                return Err(BodyError::TooLarge);
            }
            if buf.is_empty() && body.is_end_stream() {
                // One frame is often the whole body: keep it without a copy.
                return Ok(data);
            }
            buf.extend_from_slice(&data);
            // A multi-megabyte body arrives in many frames, each ready at
            // once: without a yield per frame one client streaming big posts
            // holds the one runtime thread for a whole body, and a camera's
            // traject post (and the relay timers) wait behind it. Measured:
            // bench/hostile.py, memory scenario.
            tokio::task::yield_now().await;
        }
    }
    Ok(buf.freeze())
}

fn classify_body_error(e: &hyper::Error) -> BodyError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<io::Error>() {
            if matches!(
                io.kind(),
                io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
            ) {
                return BodyError::Disconnected;
            }
        }
        source = s.source();
    }
    if e.is_incomplete_message() || e.is_closed() {
        return BodyError::Disconnected;
    }
    BodyError::Bad(e.to_string())
}

fn reply(status: StatusCode, body: Bytes, close: bool) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    if close {
        resp.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

fn refuse(ctx: &Ctx, why: Rejection, status: StatusCode, reason: &str, close: bool) -> Response<Full<Bytes>> {
    ctx.shared.stats.rejected(why);
    reply(status, Bytes::from(error_xml(reason)), close)
}

async fn handle(ctx: &Ctx, peer: SocketAddr, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let source_ip = peer.ip().to_canonical();
    let source = SocketAddr::new(source_ip, peer.port());
    if !ctx.allow.allows(source_ip) {
        if let Some(suppressed) = ctx.forbidden_log.check() {
            tracing::warn!(source = %source_ip, suppressed, "post from a source outside the allow list refused");
        }
        return refuse(ctx, Rejection::NotAllowed, StatusCode::FORBIDDEN, "source not allowed", true);
    }
    if req.method() != Method::POST {
        let reason = format!("method {} not allowed; cameras POST", req.method());
        let mut resp = refuse(ctx, Rejection::Method, StatusCode::METHOD_NOT_ALLOWED, &reason, false);
        resp.headers_mut().insert(ALLOW, HeaderValue::from_static("POST"));
        return resp;
    }
    // Absolute-form targets (`POST http://host:port/API`) arrive with the
    // path split out by hyper, so one comparison covers both forms.
    let path = req.uri().path();
    if !ctx.config.paths.is_empty() && !ctx.config.paths.iter().any(|p| p == path) {
        if let Some(suppressed) = ctx.problem_log.check() {
            tracing::warn!(source = %source_ip, path, suppressed, "post to an unconfigured path refused");
        }
        let reason = format!("path {path} not configured");
        return refuse(ctx, Rejection::WrongPath, StatusCode::NOT_FOUND, &reason, false);
    }
    let max = ctx.config.max_body;
    let mut body = req.into_body();
    if body.size_hint().lower() > max {
        // Refused from the header alone: the body is never read.
        return too_large(ctx, source_ip, Some(body.size_hint().lower()));
    }
    let bytes = match tokio::time::timeout(ctx.config.body_timeout, read_body(&mut body, max)).await {
        Ok(Ok(b)) => b,
        Ok(Err(BodyError::TooLarge)) => return too_large(ctx, source_ip, None),
        Ok(Err(BodyError::Disconnected)) => {
            tracing::debug!(source = %source_ip, "client disconnected mid-body");
            return refuse(ctx, Rejection::Disconnected, StatusCode::BAD_REQUEST, "body incomplete", true);
        }
        Ok(Err(BodyError::Bad(e))) => {
            problem(ctx, source_ip, "bad_body", &e);
            let reason = format!("body framing: {e}");
            return refuse(ctx, Rejection::BadBody, StatusCode::BAD_REQUEST, &reason, true);
        }
        Err(_) => {
            problem(ctx, source_ip, "body_timeout", "body not complete in time");
            let reason = format!("body not complete within {} ms", ctx.config.body_timeout.as_millis());
            return refuse(ctx, Rejection::BodyTimeout, StatusCode::REQUEST_TIMEOUT, &reason, true);
        }
    };
    ctx.shared.stats.bytes(bytes.len() as u64);
    let now = ctx.clock.now();
    let name = ctx.recorder.as_ref().map(|rec| {
        record::RecordName::new(rec.run_ms(), record::next_seq(), now.at, now.wall, source_ip).to_string()
    });
    match (ctx.decoder)(&bytes) {
        Ok(event) => {
            let device = ctx.shared.devices.observe(&event, source_ip, now);
            if tracing::enabled!(tracing::Level::DEBUG) {
                tracing::debug!(source = %source_ip, device = %device, kind = event.kind.word(),
                    channel = event.device.channel, targets = %targets(&event), bytes = bytes.len(), "post");
            }
            if let (Some(rec), Some(name)) = (&ctx.recorder, name) {
                rec.record(name, bytes.clone(), None);
            }
            // Cheap: only an unknown smartType carries a string.
            let kind = event.kind.clone();
            let body = if event.images.is_empty() { Bytes::new() } else { bytes };
            let received = Received { event, source, at: now.at, wall: now.wall, body };
            // Backpressure, never a drop: the post is answered once the engine took it.
            if ctx.sink.send(received).await.is_err() {
                return refuse(
                    ctx,
                    Rejection::ShuttingDown,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "shutting down",
                    true,
                );
            }
            ctx.shared.stats.post(&device, kind_label(&kind));
            reply(StatusCode::OK, Bytes::from_static(SUCCESS_XML.as_bytes()), false)
        }
        Err(e) => {
            ctx.shared.stats.decode_error(e.reason());
            let message = e.to_string();
            problem(ctx, source_ip, e.reason(), &message);
            if let (Some(rec), Some(name)) = (&ctx.recorder, name) {
                rec.record(name, bytes, Some(format!("{}: {message}", e.reason())));
            }
            reply(StatusCode::BAD_REQUEST, Bytes::from(error_xml(&message)), false)
        }
    }
}

fn too_large(ctx: &Ctx, source: std::net::IpAddr, declared: Option<u64>) -> Response<Full<Bytes>> {
    let max = ctx.config.max_body;
    let reason = match declared {
        Some(n) => format!("body of {n} bytes is over the {max}-byte limit"),
        None => format!("body is over the {max}-byte limit"),
    };
    problem(ctx, source, "too_large", &reason);
    refuse(ctx, Rejection::TooLarge, StatusCode::PAYLOAD_TOO_LARGE, &reason, true)
}

fn problem(ctx: &Ctx, source: std::net::IpAddr, reason: &str, message: &str) {
    if let Some(suppressed) = ctx.problem_log.check() {
        let device = ctx.shared.devices.key_for_source(source);
        tracing::warn!(source = %source, device = device.as_deref().unwrap_or("-"), reason, error = message,
            suppressed, "post refused");
    }
}

/// Kind label for metrics: unknown smartTypes share one label so a client
/// cannot create series at will.
fn kind_label(kind: &EventKind) -> &str {
    match kind {
        EventKind::Unknown(_) => "unknown",
        k => k.word(),
    }
}

fn targets(event: &Event) -> String {
    let mut s = String::new();
    for (i, t) in event.targets.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(t.class.word());
        if let Some(id) = t.id {
            s.push('#');
            s.push_str(&id.to_string());
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_xml_escapes_the_reason() {
        assert_eq!(
            error_xml("bad <x> & \"y\""),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><config version=\"1.0\" xmlns=\"http://www.ipc.com/ver10\"><status>failed</status><reason>bad &lt;x&gt; &amp; &quot;y&quot;</reason></config>"
        );
    }
}
