//! The connection to the broker: one task that polls the MQTT client,
//! follows the core's stream, and turns each into the other.
//!
//! rumqttc's event loop must be polled for anything to move, and it neither
//! restores subscriptions nor republishes anything after a reconnect: this
//! task subscribes and republishes discovery and every state on every
//! connection acknowledgement. It never awaits the client (a full request
//! channel would stall the very poll that empties it): messages wait in the
//! [`Outbox`] and are handed over with `try_publish` as room appears.

use super::outbox::{Message, Outbox, RemoteMeta};
use super::payload::{self, Answer, Outcome, RemoteCommand};
use super::topics::{level, Inbound};
use super::{discovery, Settings, Stats};
use crate::command::{RemoteAction, Why};
use crate::happened::{Feed, Happened, Item, State};
use crate::request::Request;
use bytes::Bytes;
use rumqttc::v5::mqttbytes::v5::{
    ConnectReturnCode, Filter, LastWill, Packet, Publish, PublishProperties, RetainForwardRule,
};
use rumqttc::v5::mqttbytes::QoS;
use rumqttc::v5::{AsyncClient, ConnectionError, Event, EventLoop, MqttOptions};
use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::time::Instant;

/// Reconnect backoff: first wait, and the longest.
const BACKOFF_FIRST: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// After Home Assistant says `online`, wait this long plus up to as much
/// again at random, so many nodes do not answer its restart at once.
const HA_JITTER: Duration = Duration::from_millis(500);
/// A hold for another node's relay is renewed at most this often (and at
/// most every quarter of the hold).
const HOLD_RENEW_MAX: Duration = Duration::from_secs(1);
/// QoS 1 messages on the wire without their acknowledgement.
const MAX_INFLIGHT: u16 = 256;
/// A clean stop waits at most this long for the last messages to leave.
const STOP_GRACE: Duration = Duration::from_secs(2);
/// The largest packet this client takes, told to the broker in CONNECT
/// (MQTT 5 "Maximum Packet Size"): a broker drops a larger message for this
/// client instead of sending it. rumqttc's default (10 KB, not told to the
/// broker) dropped the connection on every larger retained message, and the
/// broker handed it back on the next subscribe: MQTT was down for good.
pub const MAX_PACKET: u32 = 2 * 1024 * 1024;
/// The largest message acted on; larger ones (up to [`MAX_PACKET`]) are
/// dropped and counted. A command or answer is tens of bytes, a detection
/// from another node under 2 KB.
pub const MAX_MESSAGE: usize = 16 * 1024;

/// What one poll of the client's event loop gives back: the loop itself and
/// what happened.
type Polled = (EventLoop, Result<Event, ConnectionError>);

/// The client's event loop, polled without ever dropping a poll half way.
/// rumqttc's poll is not cancel-safe while it connects: a `select!` that
/// dropped it (a post arriving on the core's stream during the handshake)
/// left a CONNECTed socket behind, reconnected at once, and the broker fired
/// the dropped connection's last will (`offline`) while camrelay ran. Here a
/// poll owns the loop until it completes and hands it back.
struct Poller {
    idle: Option<EventLoop>,
    in_flight: Option<std::pin::Pin<Box<dyn std::future::Future<Output = Polled> + Send>>>,
}

impl Poller {
    fn new(eventloop: EventLoop) -> Poller {
        Poller { idle: Some(eventloop), in_flight: None }
    }

    /// Start a poll, unless one runs already.
    fn start(&mut self) {
        if self.in_flight.is_none() {
            if let Some(mut eventloop) = self.idle.take() {
                self.in_flight = Some(Box::pin(async move {
                    let polled = eventloop.poll().await;
                    (eventloop, polled)
                }));
            }
        }
    }

    /// The running poll's result; pending while none runs. Cancel-safe: a
    /// dropped call leaves the poll running, to be awaited again.
    async fn next(&mut self) -> Result<Event, ConnectionError> {
        let Some(poll) = self.in_flight.as_mut() else { return std::future::pending().await };
        let (eventloop, polled) = poll.await;
        self.in_flight = None;
        self.idle = Some(eventloop);
        polled
    }
}

/// Start the link; it ends when `stop` is raised, after publishing `offline`.
pub fn spawn(
    settings: Settings,
    core: mpsc::Sender<Request>,
    feed: &Feed,
    stats: Arc<Stats>,
    stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    // Changes only: the link is not woken for what every post brings.
    let events = feed.changes();
    tokio::spawn(async move {
        let (link, eventloop, internal) = Link::new(settings, core, stats);
        link.run(eventloop, internal, events, stop).await;
    })
}

/// What comes back to the link from tasks it started.
enum Internal {
    State(State),
    /// Answer another node's command on its response topic.
    Answer {
        topic: String,
        correlation: Option<Bytes>,
        answer: Answer,
    },
}

/// A command this node's rules sent to another node, until it is answered.
struct Pending {
    what: String,
    /// `node/relay`, for rate-limited warnings.
    key: String,
    deadline: Instant,
}

/// A failure for one remote relay is logged at most this often (all are counted).
const WARN_EVERY: Duration = Duration::from_secs(10);

struct Link {
    s: Settings,
    client: AsyncClient,
    outbox: Outbox,
    connected: bool,
    core: mpsc::Sender<Request>,
    internal_tx: mpsc::Sender<Internal>,
    stats: Arc<Stats>,
    /// Topic level → relay name, from the last [`State`].
    relays: HashMap<String, String>,
    cameras: Vec<String>,
    /// Detection topic of another node's camera → that camera's name here.
    node_cameras: HashMap<String, String>,
    /// Discovery topics published for the rules in force.
    discovered: BTreeSet<String>,
    /// Zones and areas (area?, name) whose states are published.
    places: BTreeSet<(bool, String)>,
    /// Retained discovery topics the broker holds for this node (earlier runs).
    on_broker: BTreeSet<String>,
    model_known: bool,
    /// Last plate per camera (retained), republished with every state.
    plates: HashMap<String, String>,
    /// Each camera's latest event picture (a JPEG), republished on every connection.
    pictures: HashMap<String, Bytes>,
    pending: HashMap<u64, Pending>,
    next_id: u64,
    republish_at: Option<Instant>,
    backoff: Duration,
    retry_at: Option<Instant>,
    warned_retained: BTreeSet<String>,
    warned_at: HashMap<String, Instant>,
    /// When each remote hold (relay, rule, camera, target) was last sent.
    renewed: HashMap<String, Instant>,
}

impl Link {
    fn new(
        s: Settings,
        core: mpsc::Sender<Request>,
        stats: Arc<Stats>,
    ) -> (Link, EventLoop, mpsc::Receiver<Internal>) {
        let t = &s.topics;
        let mut options = MqttOptions::new(s.client_id.clone(), s.config.host.clone(), s.config.port);
        options.set_keep_alive(Duration::from_secs(15));
        options.set_clean_start(true);
        options.set_connection_timeout(5);
        // Small messages that must not wait: without it Nagle's algorithm and
        // the broker's delayed ACK held a cross-node command 40 ms.
        let mut network = rumqttc::NetworkOptions::new();
        network.set_tcp_nodelay(true);
        options.set_network_options(network);
        // rumqttc sizes a table by this (65,536 slots, 14 MB, when unset);
        // more unacknowledged messages than this wait in the outbox.
        options.set_outgoing_inflight_upper_limit(MAX_INFLIGHT);
        options.set_max_packet_size(Some(MAX_PACKET));
        options.set_last_will(LastWill::new(t.availability(), "offline", QoS::AtLeastOnce, true, None));
        if let Some(user) = &s.config.username {
            options.set_credentials(user.clone(), s.password.clone().unwrap_or_default());
        }
        if let Some(tls) = &s.tls {
            options.set_transport(rumqttc::Transport::tls_with_config(rumqttc::TlsConfiguration::Rustls(
                tls.clone(),
            )));
        }
        let (client, eventloop) = AsyncClient::new(options, 64);
        let (internal_tx, internal_rx) = mpsc::channel(64);
        let link = Link {
            outbox: Outbox::new(s.config.queue),
            s,
            client,
            connected: false,
            core,
            internal_tx,
            stats,
            relays: HashMap::new(),
            cameras: Vec::new(),
            node_cameras: HashMap::new(),
            discovered: BTreeSet::new(),
            places: BTreeSet::new(),
            on_broker: BTreeSet::new(),
            model_known: false,
            plates: HashMap::new(),
            pictures: HashMap::new(),
            pending: HashMap::new(),
            next_id: 1,
            republish_at: None,
            backoff: BACKOFF_FIRST,
            retry_at: None,
            warned_retained: BTreeSet::new(),
            warned_at: HashMap::new(),
            renewed: HashMap::new(),
        };
        (link, eventloop, internal_rx)
    }

    async fn run(
        mut self,
        eventloop: EventLoop,
        mut internal: mpsc::Receiver<Internal>,
        mut events: broadcast::Receiver<Arc<Item>>,
        mut stop: watch::Receiver<bool>,
    ) {
        tracing::info!(broker = %self.s.config.url, node = %self.s.node, client_id = %self.s.client_id, "mqtt: connecting");
        // The relay names, so commands can be mapped before the first connection.
        self.ask_state();
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let mut poller = Poller::new(eventloop);
        loop {
            let retry = self.retry_at;
            if retry.is_none() {
                poller.start();
            }
            // Only while something waits on time: an idle Pi is not woken ten times a second.
            let timed = !self.pending.is_empty() || self.republish_at.is_some();
            tokio::select! {
                _ = stop.changed() => break,
                polled = poller.next() => self.on_poll(polled),
                _ = sleep_until(retry), if retry.is_some() => self.retry_at = None,
                item = events.recv() => match item {
                    Ok(item) => self.on_happened(&item),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(lost = n, "mqtt: fell behind the core's stream; states are republished");
                        self.stats.dropped.fetch_add(n, Relaxed);
                        self.ask_state();
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                Some(msg) = internal.recv() => self.on_internal(msg),
                _ = tick.tick(), if timed => self.on_tick(),
            }
            self.flush();
        }
        self.stop(poller, events).await;
    }

    /// Clean stop: the last states the core sent (every relay off), then
    /// `offline`, then a disconnect, within [`STOP_GRACE`].
    async fn stop(mut self, mut poller: Poller, mut events: broadcast::Receiver<Arc<Item>>) {
        while let Ok(item) = events.try_recv() {
            self.on_happened(&item);
        }
        if !self.connected {
            return;
        }
        self.publish(Message::new(self.s.topics.availability(), "offline", true));
        let deadline = Instant::now() + STOP_GRACE;
        let mut disconnecting = false;
        while Instant::now() < deadline {
            self.flush();
            if self.outbox.is_empty() && !disconnecting {
                disconnecting = self.client.try_disconnect().is_ok();
            }
            poller.start();
            match tokio::time::timeout_at(deadline, poller.next()).await {
                Ok(Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect))) => break,
                Ok(Ok(_)) => {}
                Ok(Err(_)) | Err(_) => break,
            }
        }
        tracing::info!("mqtt: published offline and disconnected");
    }

    fn on_poll(&mut self, polled: Result<Event, ConnectionError>) {
        match polled {
            Ok(Event::Incoming(Packet::ConnAck(_))) => self.on_connected(),
            Ok(Event::Incoming(Packet::Publish(p))) => self.on_message(p),
            Ok(_) => {}
            Err(e) => self.on_connection_error(e),
        }
    }

    fn on_connected(&mut self) {
        self.connected = true;
        self.backoff = BACKOFF_FIRST;
        self.stats.connected.store(true, Relaxed);
        self.stats.connects.fetch_add(1, Relaxed);
        self.stats.set_error(None);
        tracing::info!(broker = %self.s.config.url, node = %self.s.node, "mqtt: connected");
        // rumqttc does not restore subscriptions after a reconnect.
        let mut filters: Vec<Filter> = Vec::new();
        for topic in self.s.topics.subscriptions() {
            let mut f = Filter::new(topic.clone(), QoS::AtLeastOnce);
            // Retain-as-published: a retained command is told apart from a live one, and ignored.
            f.preserve_retain = true;
            f.retain_forward_rule = RetainForwardRule::OnEverySubscribe;
            // Our own discovery clears must not come back as "held by the broker".
            f.nolocal = topic.ends_with("/config");
            filters.push(f);
        }
        if let Err(e) = self.client.try_subscribe_many(filters) {
            tracing::warn!("mqtt: cannot subscribe: {e}");
        }
        // Before anything queued, so the first retained message is "online".
        self.send_now(Message::new(self.s.topics.availability(), "online", true));
        self.on_broker.clear();
        self.ask_state();
    }

    fn on_connection_error(&mut self, e: ConnectionError) {
        let was = std::mem::replace(&mut self.connected, false);
        self.stats.connected.store(false, Relaxed);
        if was {
            self.stats.lost(std::time::Instant::now());
        }
        let why = describe(&e);
        if was {
            tracing::warn!(broker = %self.s.config.url, "mqtt: lost the broker: {why}; reconnecting (relays keep working)");
        } else {
            self.stats.connect_failures.fetch_add(1, Relaxed);
            tracing::warn!(
                broker = %self.s.config.url,
                retry_in_ms = self.backoff.as_millis() as u64,
                "mqtt: cannot connect: {why}"
            );
        }
        self.stats.set_error(Some(why));
        self.retry_at = Some(Instant::now() + if was { Duration::ZERO } else { self.backoff });
        if !was {
            self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
        }
    }

    fn on_message(&mut self, p: Publish) {
        let topic = String::from_utf8_lossy(&p.topic).into_owned();
        if p.payload.len() > MAX_MESSAGE && self.s.topics.classify(&topic) != Inbound::Discovery {
            // Dropped here, connection kept: whoever retained it cannot take MQTT down.
            self.stats.oversized.fetch_add(1, Relaxed);
            if self.should_warn(&format!("oversized {topic}")) {
                tracing::warn!(
                    topic = %payload::shown(&topic),
                    bytes = p.payload.len(),
                    limit = MAX_MESSAGE,
                    "mqtt: a message larger than any camrelay takes was dropped{}",
                    if p.retain { "; it is retained: clear it with mosquitto_pub -r -n -t <topic>" } else { "" }
                );
            }
            return;
        }
        if let Some(camera) = self.node_cameras.get(&topic).cloned() {
            return self.on_node_detection(camera, &p);
        }
        let class = self.s.topics.classify(&topic);
        if p.retain && matches!(class, Inbound::Set { .. } | Inbound::Remote { .. }) && !p.payload.is_empty()
        {
            // Ghost switching: a command left retained would switch the relay
            // at every start. It never does; say how to clear it, once per topic.
            self.stats.retained_ignored.fetch_add(1, Relaxed);
            if self.warned_retained.insert(topic.clone()) {
                tracing::warn!(
                    topic,
                    "mqtt: ignored a retained command: a retained command never switches a relay; \
                     clear it with: mosquitto_pub -r -n -t '{topic}'"
                );
            }
            return;
        }
        match class {
            Inbound::Set { relay } => self.on_set(&relay, &p.payload),
            Inbound::Remote { relay } => self.on_remote_command(&relay, &p),
            Inbound::Answer => self.on_answer(&p),
            Inbound::HomeAssistant => {
                if !p.retain && p.payload.as_ref() == b"online" {
                    let jitter = HA_JITTER + HA_JITTER.mul_f64(random_fraction());
                    tracing::info!(
                        after_ms = jitter.as_millis() as u64,
                        "mqtt: Home Assistant is online: republishing discovery and states"
                    );
                    self.republish_at = Some(Instant::now() + jitter);
                }
            }
            Inbound::Discovery => {
                if !p.payload.is_empty() {
                    self.on_broker.insert(topic.clone());
                    if self.model_known && !self.discovered.contains(&topic) {
                        self.clear_discovery(&topic);
                    }
                }
            }
            Inbound::Other => {}
        }
    }

    /// Another node's camera detected something: rules here may use it.
    fn on_node_detection(&mut self, camera: String, p: &Publish) {
        if p.retain {
            return;
        }
        match serde_json::from_slice::<payload::RemoteDetection>(&p.payload) {
            Ok(d) => {
                let event = Box::new(d.event(&camera));
                if self.core.try_send(Request::FromNode { camera: camera.clone(), event }).is_err() {
                    tracing::warn!(
                        camera,
                        "mqtt: a detection from another node was dropped: the core is busy or stopping"
                    );
                }
            }
            Err(e) => tracing::warn!(camera, "mqtt: unreadable detection from another node: {e}"),
        }
    }

    /// A manual command for one of this node's relays (Home Assistant, any client).
    fn on_set(&mut self, level: &str, payload: &[u8]) {
        let Some(relay) = self.relays.get(level).cloned() else {
            tracing::warn!(relay = level, "mqtt: command for a relay this node does not have ignored");
            self.stats.commands_refused.fetch_add(1, Relaxed);
            return;
        };
        let request = match payload::parse_set(payload) {
            Ok(r) => r,
            Err(e) => {
                if self.should_warn(&format!("refused {relay}")) {
                    tracing::warn!(relay, "mqtt: command refused: {e}");
                }
                self.stats.commands_refused.fetch_add(1, Relaxed);
                return;
            }
        };
        let (reply, answer) = oneshot::channel();
        if self
            .core
            .try_send(Request::Manual { relay: relay.clone(), request, who: "mqtt".to_string(), reply })
            .is_err()
        {
            tracing::warn!(relay, "mqtt: command refused: the core is busy or stopping");
            self.stats.commands_refused.fetch_add(1, Relaxed);
            return;
        }
        let stats = self.stats.clone();
        tokio::spawn(async move {
            match answer.await {
                Ok(Ok(())) => {
                    tracing::info!(relay, command = %request, "mqtt: manual command applied");
                    stats.commands_applied.fetch_add(1, Relaxed);
                }
                Ok(Err(e)) => {
                    tracing::warn!(relay, command = %request, "mqtt: manual command refused: {e}");
                    stats.commands_refused.fetch_add(1, Relaxed);
                }
                Err(_) => {}
            }
        });
    }

    /// A rule on another node commands one of this node's relays: the
    /// controller applies it with this node's limits; the answer goes back.
    fn on_remote_command(&mut self, level: &str, p: &Publish) {
        let props = p.properties.as_ref();
        let answer_to = props.and_then(|pp| pp.response_topic.clone());
        let correlation = props.and_then(|pp| pp.correlation_data.clone());
        let refuse = |link: &mut Link, reason: String| {
            tracing::warn!(relay = level, "mqtt: command from another node refused: {reason}");
            link.stats.commands_refused.fetch_add(1, Relaxed);
            if let Some(topic) = answer_to.clone() {
                let answer = Answer { outcome: Outcome::Refused, reason: Some(reason) };
                link.queue_answer(topic, correlation.clone(), &answer);
            }
        };
        let command: RemoteCommand = match serde_json::from_slice(&p.payload) {
            Ok(c) => c,
            Err(e) => return refuse(self, format!("bad command: {e}")),
        };
        let Some(relay) = self.relays.get(level).cloned() else {
            return refuse(self, format!("no relay {level:?} on node {}", self.s.node));
        };
        let (reply, result) = oneshot::channel();
        let request = Request::Remote {
            from: command.from.clone(),
            relay,
            action: command.command,
            why: command.why.into(),
            reply,
        };
        if self.core.try_send(request).is_err() {
            return refuse(self, "the core is busy or stopping".into());
        }
        let (internal, stats) = (self.internal_tx.clone(), self.stats.clone());
        tokio::spawn(async move {
            let answer = match result.await {
                Ok(Ok(waiting)) => {
                    stats.commands_applied.fetch_add(1, Relaxed);
                    let outcome = if waiting.is_some() { Outcome::Waiting } else { Outcome::Applied };
                    Answer { outcome, reason: waiting }
                }
                Ok(Err(reason)) => {
                    stats.commands_refused.fetch_add(1, Relaxed);
                    Answer { outcome: Outcome::Refused, reason: Some(reason) }
                }
                Err(_) => return,
            };
            if let Some(topic) = answer_to {
                let _ = internal.send(Internal::Answer { topic, correlation, answer }).await;
            }
        });
    }

    fn queue_answer(&mut self, topic: String, correlation: Option<Bytes>, answer: &Answer) {
        let mut m = Message::new(topic, serde_json::to_vec(answer).unwrap_or_default(), false);
        m.correlation = correlation;
        self.publish(m);
    }

    /// The owning node answered a command this node sent.
    fn on_answer(&mut self, p: &Publish) {
        let id = p
            .properties
            .as_ref()
            .and_then(|pp| pp.correlation_data.as_ref())
            .and_then(|c| std::str::from_utf8(c).ok())
            .and_then(|c| c.parse::<u64>().ok());
        let Some(pending) = id.and_then(|id| self.pending.remove(&id)) else { return };
        match serde_json::from_slice::<Answer>(&p.payload) {
            Ok(Answer { outcome: Outcome::Applied, .. }) => {
                self.stats.remote_applied.fetch_add(1, Relaxed);
            }
            Ok(Answer { outcome: Outcome::Waiting, .. }) => {
                self.stats.remote_waiting.fetch_add(1, Relaxed);
            }
            Ok(Answer { reason, .. }) => {
                let reason = reason.unwrap_or_default();
                tracing::info!("mqtt: {} refused by its node: {reason}", pending.what);
                self.stats.remote_refused.fetch_add(1, Relaxed);
            }
            Err(e) => {
                tracing::warn!("mqtt: {}: unreadable answer: {e}", pending.what);
                self.stats.remote_failed(format!("{}: unreadable answer", pending.what));
            }
        }
    }

    /// A rule here fired on another node's relay.
    fn send_remote(&mut self, node: &str, relay: &str, action: RemoteAction, why: &Why) {
        // A hold is renewed on every post (10 a second per target): send a
        // renewal at most every `step`, each holding `step` longer, so the
        // other node's hold never ends before the one asked for here and
        // outlasts it by at most `step`.
        let action = match action {
            RemoteAction::Hold { for_ms } => {
                let step = Duration::from_millis(for_ms / 4).min(HOLD_RENEW_MAX);
                let key =
                    format!("{node}/{relay}\u{1f}{}\u{1f}{:?}\u{1f}{:?}", why.rule, why.camera, why.target);
                let now = Instant::now();
                if self.renewed.get(&key).is_some_and(|at| now.duration_since(*at) < step) {
                    return;
                }
                if self.renewed.len() >= 4096 {
                    self.renewed.retain(|_, at| now.duration_since(*at) < HOLD_RENEW_MAX);
                }
                // A renewal that cannot leave is not one: the next post tries again.
                if self.connected {
                    self.renewed.insert(key, now);
                }
                RemoteAction::Hold { for_ms: for_ms + step.as_millis() as u64 }
            }
            other => other,
        };
        let what = format!("command {} for {node}/{relay} (rule {:?})", action_word(action), why.rule);
        if !self.connected {
            let key = format!("{node}/{relay}");
            if self.should_warn(&key) {
                tracing::warn!(
                    "mqtt: {what} not sent: not connected to the broker; the relay stays as its node decides"
                );
            }
            self.stats.remote_failed(format!("{what}: not connected to the broker"));
            return;
        }
        let id = self.next_id;
        self.next_id += 1;
        let command = RemoteCommand { from: self.s.node.clone(), command: action, why: why.into() };
        let timeout = self.s.config.remote_timeout;
        let mut m = Message::new(
            self.s.topics.remote_of(node, relay),
            serde_json::to_vec(&command).unwrap_or_default(),
            false,
        );
        m.remote = Some(RemoteMeta {
            id,
            answer_to: self.s.topics.answer(),
            // The broker drops it rather than deliver it late.
            expiry_s: timeout.as_secs().max(1) as u32,
        });
        self.publish(m);
        self.stats.remote_sent.fetch_add(1, Relaxed);
        let key = format!("{node}/{relay}");
        self.pending.insert(id, Pending { what, key, deadline: Instant::now() + timeout });
    }

    fn on_tick(&mut self) {
        let now = Instant::now();
        let expired: Vec<u64> =
            self.pending.iter().filter(|(_, p)| p.deadline <= now).map(|(id, _)| *id).collect();
        for id in expired {
            if let Some(p) = self.pending.remove(&id) {
                if self.should_warn(&p.key) {
                    tracing::warn!(
                        "mqtt: {} failed: no answer within {:?}; is that node running and on this broker (and may it answer on {})?",
                        p.what,
                        self.s.config.remote_timeout,
                        self.s.topics.answer()
                    );
                }
                self.stats.remote_failed(format!("{}: no answer", p.what));
            }
        }
        if self.republish_at.is_some_and(|at| at <= now) {
            self.republish_at = None;
            self.ask_state();
        }
    }

    /// Whether a failure for `key` is logged now (else only counted).
    fn should_warn(&mut self, key: &str) -> bool {
        let now = Instant::now();
        match self.warned_at.get(key) {
            Some(at) if now.duration_since(*at) < WARN_EVERY => false,
            _ => {
                if self.warned_at.len() > 1024 {
                    self.warned_at.clear();
                }
                self.warned_at.insert(key.to_string(), now);
                true
            }
        }
    }

    fn ask_state(&self) {
        let (reply, state) = oneshot::channel();
        if self.core.try_send(Request::State(reply)).is_err() {
            return;
        }
        let internal = self.internal_tx.clone();
        tokio::spawn(async move {
            if let Ok(state) = state.await {
                let _ = internal.send(Internal::State(state)).await;
            }
        });
    }

    fn on_internal(&mut self, msg: Internal) {
        match msg {
            Internal::State(state) => self.on_state(state),
            Internal::Answer { topic, correlation, answer } => self.queue_answer(topic, correlation, &answer),
        }
    }

    /// Everything true now: discovery first (and removed entities cleared),
    /// then every state, so Home Assistant never shows "unknown".
    fn on_state(&mut self, state: State) {
        self.relays = state.relays.iter().map(|r| (level(&r.name), r.name.clone())).collect();
        self.cameras = state.cameras.clone();
        self.node_cameras = state
            .node_cameras
            .iter()
            .map(|(node, camera)| (self.s.topics.detection_of(node, camera), camera.clone()))
            .collect();
        self.model_known = true;
        let entities = discovery::entities(&self.s.topics, &state);
        let now: BTreeSet<String> = entities.iter().map(|e| e.topic.clone()).collect();
        let places: BTreeSet<(bool, String)> =
            state.occupancy.iter().map(|o| (o.area, o.place.clone())).collect();
        if !self.connected {
            // What this run publishes is known before the broker hands back
            // what earlier runs retained, so only what is not in it is taken
            // for stale (a restart once cleared every entity, and with them
            // the names and areas a user gave them). Every connection asks
            // again: what is true then is published then.
            self.discovered = now;
            self.places = places;
            return;
        }
        let gone: Vec<String> = self
            .discovered
            .iter()
            .chain(self.on_broker.iter())
            .filter(|t| !now.contains(*t))
            .cloned()
            .collect();
        for topic in gone {
            self.clear_discovery(&topic);
        }
        self.discovered = now;
        // A zone or area a reload removed: its retained states go too.
        let removed: Vec<(bool, String)> = self.places.difference(&places).cloned().collect();
        for (area, place) in removed {
            let kind = if area { "area" } else { "zone" };
            for leaf in ["occupancy", "count"] {
                self.publish(Message::new(self.s.topics.place(kind, &place, leaf), Bytes::new(), true));
            }
        }
        self.places = places;
        // Other nodes' cameras: subscribed on every connection, like the rest.
        let filters: Vec<Filter> =
            self.node_cameras.keys().map(|t| Filter::new(t.clone(), QoS::AtLeastOnce)).collect();
        if !filters.is_empty() {
            if let Err(e) = self.client.try_subscribe_many(filters) {
                tracing::warn!("mqtt: cannot subscribe to other nodes' cameras: {e}");
            }
        }
        for e in entities {
            self.publish(Message::new(e.topic, e.payload, true));
        }
        let t = self.s.topics.clone();
        self.publish(Message::new(t.availability(), "online", true));
        for r in &state.relays {
            self.publish(Message::new(t.relay(&r.name, "state"), payload::on_off(r.on), true));
            let why = if r.on { r.why.as_ref() } else { None };
            self.publish(Message::new(
                t.relay(&r.name, "attributes"),
                attributes(r.on, &r.reason, why),
                true,
            ));
        }
        for o in &state.occupancy {
            self.publish_occupancy(o);
        }
        for i in &state.inputs {
            if let Some(on) = i.on {
                self.publish(Message::new(t.input(&i.name, "state"), payload::on_off(on), true));
            }
        }
        for camera in &state.cameras {
            let online = state.devices.iter().any(|d| d.online && d.camera.as_deref() == Some(camera));
            self.publish(Message::new(t.camera(camera, "online"), payload::on_off(online), true));
            if let Some(plate) = self.plates.get(camera).cloned() {
                self.publish(Message::new(t.camera(camera, "plate"), plate, true));
            }
            if let Some(jpeg) = self.pictures.get(camera).cloned() {
                self.publish_picture(camera, jpeg);
            }
        }
        if let Some(r) = &state.last_reload {
            self.publish(Message::new(t.reload(), reload_payload(r.applied, &r.message), true));
        }
    }

    fn clear_discovery(&mut self, topic: &str) {
        tracing::info!(topic, "mqtt: entity no longer in the rules: clearing its discovery");
        self.on_broker.remove(topic);
        self.publish(Message::new(topic.to_string(), Bytes::new(), true));
    }

    fn publish_occupancy(&mut self, o: &crate::engine::places::Occupancy) {
        let kind = if o.area { "area" } else { "zone" };
        let t = &self.s.topics;
        let (occ, count) = (t.place(kind, &o.place, "occupancy"), t.place(kind, &o.place, "count"));
        self.publish(Message::new(occ, payload::on_off(o.total() > 0), true));
        self.publish(Message::new(count, payload::counts(o), true));
    }

    /// One item of the core's stream, as messages.
    fn on_happened(&mut self, h: &Happened) {
        let t = self.s.topics.clone();
        match h {
            Happened::Switched { relay, on, reason, why, .. } => {
                self.publish(Message::new(t.relay(relay, "state"), payload::on_off(*on), true));
                self.publish(Message::new(
                    t.relay(relay, "attributes"),
                    attributes(*on, reason, why.as_ref()),
                    true,
                ));
                if let (false, Some(kind)) = (*on, payload::safety_kind(reason)) {
                    let body = serde_json::json!({ "event_type": kind, "relay": relay, "reason": reason });
                    self.publish(Message::new(t.safety(), body.to_string(), false));
                }
            }
            Happened::Device { camera, online, .. } => {
                if self.cameras.contains(camera) {
                    self.publish(Message::new(t.camera(camera, "online"), payload::on_off(*online), true));
                }
            }
            Happened::Detected { detection, .. } => {
                let camera = &detection.camera;
                self.publish(Message::new(
                    t.camera(camera, "detection"),
                    payload::detection(detection),
                    false,
                ));
                if let Some(plate) = payload::plate(detection, chrono::Utc::now()) {
                    self.plates.insert(camera.clone(), plate.clone());
                    self.publish(Message::new(t.camera(camera, "plate"), plate, true));
                }
            }
            Happened::Occupancy { occupancy, .. } => self.publish_occupancy(occupancy),
            Happened::Reloaded { applied, message, .. } => {
                self.publish(Message::new(t.reload(), reload_payload(*applied, message), true));
                if *applied {
                    // Relays, zones or cameras may have come or gone.
                    self.ask_state();
                }
            }
            Happened::Remote { node, relay, action, why, .. } => self.send_remote(node, relay, *action, why),
            Happened::Input { input, on, .. } => {
                self.publish(Message::new(t.input(input, "state"), payload::on_off(*on), true));
            }
            Happened::Inputs { news, .. } => {
                let body = serde_json::to_string(news).unwrap_or_default();
                self.publish(Message::new(t.alert(), body, false));
            }
            Happened::Fired { .. }
            | Happened::NoEffect { .. }
            | Happened::Targets { .. }
            | Happened::Manual { .. }
            | Happened::Visit { .. } => {}
            Happened::Picture { camera, picture, .. } => {
                // The scene, else the crop; published only when it changed.
                let Some(jpeg) = payload::picture(picture) else { return };
                if self.cameras.contains(camera) && self.pictures.get(camera) != Some(&jpeg) {
                    self.pictures.insert(camera.clone(), jpeg.clone());
                    if self.connected {
                        self.publish_picture(camera, jpeg);
                    }
                }
            }
        }
    }

    /// A camera's event picture, replacing one still queued for it.
    fn publish_picture(&mut self, camera: &str, jpeg: Bytes) {
        let m = Message::new(self.s.topics.camera(camera, "picture"), jpeg, true);
        if self.outbox.push_latest(m).is_some() {
            self.stats.dropped.fetch_add(1, Relaxed);
        }
        self.stats.queued.store(self.outbox.len() as u64, Relaxed);
    }

    /// Queue a message; it leaves when connected and the client has room.
    fn publish(&mut self, m: Message) {
        if self.outbox.push(m).is_some() {
            self.stats.dropped.fetch_add(1, Relaxed);
        }
        self.stats.queued.store(self.outbox.len() as u64, Relaxed);
    }

    /// Hand a message to the client ahead of the queue (or queue it if full).
    fn send_now(&mut self, m: Message) {
        if !self.try_send(&m) {
            self.publish(m);
        }
    }

    fn try_send(&self, m: &Message) -> bool {
        let mut props = PublishProperties::default();
        if let Some(r) = &m.remote {
            props.message_expiry_interval = Some(r.expiry_s);
            props.response_topic = Some(r.answer_to.clone());
            props.correlation_data = Some(Bytes::from(r.id.to_string()));
        }
        if let Some(c) = &m.correlation {
            props.correlation_data = Some(c.clone());
        }
        self.client
            .try_publish_with_properties(
                m.topic.clone(),
                QoS::AtLeastOnce,
                m.retain,
                m.payload.clone(),
                props,
            )
            .is_ok()
    }

    /// Move queued messages to the client while it has room.
    fn flush(&mut self) {
        if !self.connected {
            return;
        }
        while let Some(m) = self.outbox.front() {
            if !self.try_send(m) {
                break;
            }
            self.outbox.pop();
            self.stats.published.fetch_add(1, Relaxed);
        }
        self.stats.queued.store(self.outbox.len() as u64, Relaxed);
    }
}

/// `.../relay/<r>/attributes`: the state with why the relay is in it, in one
/// message, so Home Assistant sees both change at once.
fn attributes(on: bool, reason: &str, why: Option<&Why>) -> String {
    serde_json::json!({ "state": payload::on_off(on), "reason": reason, "why": why }).to_string()
}

fn reload_payload(applied: bool, message: &str) -> String {
    serde_json::json!({ "applied": applied, "message": message }).to_string()
}

fn action_word(a: RemoteAction) -> String {
    match a {
        RemoteAction::Hold { for_ms } => format!("hold {for_ms}ms"),
        RemoteAction::Pulse { ms, .. } => format!("pulse {ms}ms"),
        RemoteAction::On => "on".into(),
        RemoteAction::Off => "off".into(),
        RemoteAction::Toggle => "toggle".into(),
        RemoteAction::Blink { ms, .. } => format!("blink {ms}ms"),
    }
}

/// A connection error as the user can act on it.
fn describe(e: &ConnectionError) -> String {
    match e {
        ConnectionError::ConnectionRefused(ConnectReturnCode::BadUserNamePassword) => {
            "the broker refused the user name or password ([mqtt] username, password_file)".into()
        }
        ConnectionError::ConnectionRefused(ConnectReturnCode::NotAuthorized) => {
            // Mosquitto answers a wrong password with this code under MQTT 5.
            "the broker refused the user name or password, or this client is not authorized ([mqtt] username, password_file, the broker's ACL)".into()
        }
        ConnectionError::ConnectionRefused(code) => format!("the broker refused the connection: {code:?}"),
        ConnectionError::Io(io) => format!("{io}"),
        other => other.to_string(),
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// 0.0–1.0 from the kernel's random source (jitter only).
fn random_fraction() -> f64 {
    let mut b = [0u8; 2];
    let _ = getrandom::fill(&mut b);
    u16::from_le_bytes(b) as f64 / u16::MAX as f64
}
