//! The core's one command channel: every question or order an input (the
//! API, the web page, MQTT) sends the core task, which owns the engine and
//! the relays, and the answers it sends back.
//!
//! Plain messages only, so every input can use them without importing
//! another: the HTTP side ([`crate::api`], [`crate::web`]) and the broker
//! link ([`crate::mqtt`]). Nothing here decides or switches anything: the
//! core does, and manual control passes through the controller's override,
//! which the safety limits still bound.

use crate::engine::RuleCounter;
use crate::ingest::DeviceStatus;
use crate::relays::controller::{Manual, RelayStatus};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

/// The longest manual pulse accepted (a relay's `max_on` still cuts it).
pub const MAX_MANUAL_PULSE: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// A question or order for the core task, which owns the engine and the relays.
#[derive(Debug)]
pub enum Request {
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
    PageConfig(oneshot::Sender<crate::config::view::PageConfig>),
    /// The plate lists in force, each entry's standing now (the Plates tab).
    PlateLists(oneshot::Sender<Vec<crate::config::edit::PlateListView>>),
    /// Re-read the rules file (the web page saved it), as SIGHUP does.
    Reload {
        /// Who asked and for what, for the history: `web page from …: zones of drive saved`.
        who: String,
        reply: oneshot::Sender<crate::reload::ReloadOutcome>,
    },
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
    pub last_reload: Option<crate::reload::ReloadOutcome>,
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

/// Ask the core and wait for its answer; a core that is gone (the daemon
/// is stopping) is a 503 to an HTTP client.
pub(crate) async fn ask<T>(
    core: &mpsc::Sender<Request>,
    make: impl FnOnce(oneshot::Sender<T>) -> Request,
) -> Result<T, Response> {
    let (tx, rx) = oneshot::channel();
    let unavailable = || crate::access::error(StatusCode::SERVICE_UNAVAILABLE, "camrelay is shutting down");
    core.send(make(tx)).await.map_err(|_| unavailable())?;
    rx.await.map_err(|_| unavailable())
}
