//! Ingest: the HTTP server cameras and NVRs post to.
//!
//! Owns the listener, body limits, timeouts, the success/error replies, the
//! device registry and recording raw posts to disk. It must never evaluate
//! rules or touch relays: decoded events leave on a channel.
//!
//! What a client gets:
//!
//! | request | reply |
//! |---|---|
//! | POST that decodes (keepalives included, empty body too) | 200, the success XML, after the engine's channel took the event |
//! | POST the decoder refuses | 400, `<status>failed</status><reason>…</reason>`; the connection stays usable |
//! | source outside `allow` | 403, connection closed |
//! | path not in `paths` (when set) | 404 |
//! | not a POST | 405 with `Allow: POST` |
//! | body not complete within `body_timeout` | 408, connection closed |
//! | body over `max_body` (declared or streamed) | 413, connection closed, the rest never read |
//! | headers not complete within `header_timeout` | connection closed |
//! | no new request within `idle_timeout` | connection closed |
//!
//! Counting (see [`stats`]): every request whose head arrived is counted once,
//! as decoded, decode error or rejected with a reason. A client that hangs up
//! mid-body never gets an answer, but it did start a request: it is counted
//! as rejected with reason `disconnected`. Connections that never produced a
//! request head (stalled headers, idle, over the connection cap) are counted
//! in `camrelay_connections_dropped_total` instead.
//!
//! Recording: see [`record`] for the `record_dir` layout.

mod allow;
pub mod conns;
pub mod devices;
mod limit;
pub mod record;
mod server;
pub mod stats;

pub use allow::{parse_network, AllowError, AllowList, Network};
pub use conns::MAX_CONNECTIONS;
pub use devices::{DeviceStatus, Devices, LastEvent};
pub use server::{error_xml, serve, serve_with, Decoder, SUCCESS_XML};
pub use stats::{Dropped, IngestStats, Rejection, Totals};

use crate::clock::Instant;
use crate::decode::Event;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use std::net::SocketAddr;

/// One decoded post on its way to the engine.
#[derive(Debug, Clone)]
pub struct Received {
    pub event: Event,
    /// Who posted (IPv4-mapped IPv6 addresses shown as IPv4).
    pub source: SocketAddr,
    /// Receive time on the daemon's monotonic timeline.
    pub at: Instant,
    /// Receive time, wall clock.
    pub wall: DateTime<Utc>,
    /// The raw body when the event locates images in it (`Event::images`
    /// ranges point into it, see `decode::image_bytes`); empty otherwise.
    /// Nothing downstream reads a post without images, and holding its body
    /// would keep the connection's read buffer from being reused: a fresh
    /// buffer per post cost more than decoding the post.
    pub body: Bytes,
}

/// State shared between the ingest server and its readers (status API, metrics).
#[derive(Debug, Default)]
pub struct IngestShared {
    pub devices: Devices,
    pub stats: IngestStats,
    /// The `run` of `record_dir` names, once recording started.
    run_ms: std::sync::OnceLock<i64>,
}

impl IngestShared {
    pub fn new() -> Self {
        Self::default()
    }

    /// The `run` stamp of this daemon's `record_dir` names, so files
    /// written elsewhere (manual commands) sort among the posts.
    pub fn run_ms(&self) -> Option<i64> {
        self.run_ms.get().copied()
    }

    /// The run's stamp: the one already set, else `run_ms`, set now.
    pub fn run_ms_or(&self, run_ms: i64) -> i64 {
        *self.run_ms.get_or_init(|| run_ms)
    }
}
