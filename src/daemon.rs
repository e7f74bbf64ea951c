//! `camrelay run`: the runtime that wires ingest → decode → engine → relays.
//!
//! Owns the real clocks, signals (SIGTERM/SIGINT stop, SIGHUP reload), the
//! timer loop, offline detection and systemd notifications. One task owns the
//! engine and the relay controller, so every decision happens in one order and
//! nothing else can touch a line. It must never decide what a rule means or how
//! a line is driven: that is the engine's and the controller's job.

use crate::api;
use crate::clock::{Instant, Now, SystemClock};
use crate::config::{self, Config};
use crate::decode::{Device, Event, EventKind};
use crate::engine::Engine;
use crate::happened::Happened;
use crate::ingest::{self, IngestShared, Received};
use crate::relays::{self, controller::Controller, Backend};
use crate::request::Request;
use crate::systemd;
use anyhow::Context;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{mpsc, watch};

/// How often free heap memory is handed back to the kernel.
const TRIM_EVERY: Duration = Duration::from_secs(1);
/// Most posts the core takes off the queue in one pass before it looks at
/// signals and timers again.
const EVENT_BATCH: usize = 64;

/// Everything the core loop owns. Only this task calls the engine and the controller.
struct Core {
    /// What happened, for every output that listens (`GET /api/events`).
    feed: crate::happened::Feed,
    /// Line changes the tapped backend saw, published after each pass.
    switches: LineChanges,
    /// Cameras with a url (snapshots, subscription checks): told of reloads.
    cameras: Arc<crate::camera::directory::Directory>,
    config_path: PathBuf,
    config: Config,
    engine: Engine,
    controller: Controller,
    clock: SystemClock,
    shared: Arc<IngestShared>,
    /// Settings changed in the file that only take effect after a restart.
    pending_restart: Vec<String>,
    /// Posts evaluated (every one ingest answered 200), logged at exit.
    events: u64,
    /// Reloads tried, refused, and the last one's outcome (status, metrics, `camrelay reload`).
    reloads: u64,
    reloads_refused: u64,
    last_reload: Option<crate::reload::ReloadOutcome>,
    /// Matches that changed nothing, by (rule, reason).
    no_effect: std::collections::BTreeMap<(String, String), u64>,
    /// (rule, delay) → commands the controller took and carried out later.
    deferred: std::collections::BTreeMap<(String, String), u64>,
    /// Each rule's recent verdicts (`GET /api/rules/{name}/why`).
    why: crate::why::WhyLog,
    /// Zone and area counts last put on the feed (see [`Engine::place_counts`]),
    /// and a buffer for the next ones.
    occupancy: Vec<[u32; 4]>,
    occupancy_next: Vec<[u32; 4]>,
    /// The `[[input]]` lines: how they are read, their debounce, their changes.
    inputs: InputBank,
}

/// The inputs as the core keeps them: one debouncer per input (a zero
/// debounce where the kernel does it) and the changes counted.
struct InputBank {
    lines: relays::input::InputLines,
    debouncers: Vec<relays::input::Debouncer>,
    /// Debounced changes per input, and raw edges in all (metrics).
    changes: Vec<u64>,
    edges: u64,
}

/// Run the daemon until SIGTERM or SIGINT; every relay is off when this returns.
pub fn run(config_path: &Path) -> anyhow::Result<()> {
    let config = config::load(config_path)?;
    return_freed_memory_promptly();
    // One thread: the core loop runs in block_on, so on a multi-threaded runtime
    // every post crossed threads and woke a parked worker (measured: 33 -> 22 µs
    // of CPU per traject post, peak RSS under image load 17 -> 11 MB). Nothing
    // here blocks for long: decode and engine take microseconds, the recorder
    // has its own thread.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run_async(config_path.to_path_buf(), config))
}

async fn run_async(config_path: PathBuf, config: Config) -> anyhow::Result<()> {
    // Relays first: a GPIO problem must stop startup before anything is accepted.
    let backend = relays::open_backend(&config.gpio, &config.relays).with_context(|| {
        format!("{}: cannot open the GPIO lines of its [[relay]] blocks", config_path.display())
    })?;
    serve(config_path, config, backend, std::future::pending(), |started| {
        eprintln!("camrelay: listening for posts on {}, API on {}", started.posts, started.api);
    })
    .await
}

/// Where a started daemon listens.
#[derive(Debug, Clone, Copy)]
pub struct Started {
    pub posts: SocketAddr,
    pub api: SocketAddr,
}

/// The daemon on an already opened backend, until SIGTERM, SIGINT or `stop`
/// completes; every relay is off when this returns. `started` is called once
/// both listeners are bound. Benchmarks and tests embed the daemon through this.
pub async fn serve(
    config_path: PathBuf,
    config: Config,
    backend: Box<dyn Backend>,
    stop: impl std::future::Future<Output = ()>,
    started: impl FnOnce(Started),
) -> anyhow::Result<()> {
    let clock = SystemClock::start();
    let switches = Arc::new(std::sync::Mutex::new(Vec::new()));
    let backend =
        Box::new(Tapped { inner: backend, changes: switches.clone(), last: vec![None; config.relays.len()] });
    let controller = Controller::new(&config.relays, backend, clock.instant())
        .context("cannot set up the relay controller")?;
    // Startup's drive-off is the state everyone starts from, not news.
    switches.lock().unwrap_or_else(|p| p.into_inner()).clear();
    // Inputs next: a line that cannot be read stops startup, as a relay's does.
    let mut input_lines =
        relays::input::open_inputs(&config.gpio, &config.inputs, clock).with_context(|| {
            format!("{}: cannot read the lines of its [[input]] blocks", config_path.display())
        })?;
    let mut edges = input_lines.edges.take();
    if !input_lines.describe.is_empty() {
        tracing::info!(inputs = %input_lines.describe, "reading inputs");
    }
    let feed = crate::happened::Feed::new();

    let posts = TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("cannot listen for posts on {} ([server] listen)", config.server.listen))?;
    let api_listener = TcpListener::bind(config.api.listen)
        .await
        .with_context(|| format!("cannot listen for the API on {} ([api] listen)", config.api.listen))?;
    let post_addr = posts.local_addr().context("listener has no address")?;
    let api_addr = api_listener.local_addr().context("listener has no address")?;

    let token = api::token_or_warn(&config.api);
    let mqtt = match &config.mqtt {
        Some(m) => Some(crate::mqtt::Settings::resolve(m).context("cannot use the [mqtt] settings")?),
        None => None,
    };
    if token.is_none() && config.api.token_file.is_none() {
        tracing::warn!("no [api] token or token_file set: manual relay control over the API is refused");
    }

    // Before anything can be told we run: a SIGHUP arriving between
    // "listening" and here would otherwise kill the process (its default).
    let mut sigterm = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut sigint = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    let mut sighup = signal(SignalKind::hangup()).context("cannot watch SIGHUP")?;

    let shared = Arc::new(IngestShared::new());
    shared.devices.set_cameras(&config.cameras);
    let cameras = Arc::new(crate::camera::directory::Directory::new());
    cameras.set(&config.cameras);
    // Small on purpose: each queued post holds its body, and a full queue only
    // delays replies (backpressure), it never drops a post.
    let (event_tx, mut event_rx) = mpsc::channel::<Received>(64);
    let (api_tx, mut api_rx) = mpsc::channel::<Request>(64);
    let (stop_tx, stop_rx) = watch::channel(false);

    let ingest_task = tokio::spawn(ingest::serve(
        posts,
        config.server.clone(),
        clock,
        event_tx,
        shared.clone(),
        stopped(stop_rx.clone()),
    ));
    // The broker: a subscriber of the stream and a sender on the command
    // channel, like the web page. Its settings were read before any listener.
    let mqtt_stats = Arc::new(crate::mqtt::Stats::default());
    let mqtt_task = mqtt.map(|settings| {
        crate::mqtt::spawn(settings, api_tx.clone(), &feed, mqtt_stats.clone(), stop_rx.clone())
    });
    // The history: one more subscriber, writing on its own thread. A history
    // that cannot start is said loudly and costs the relays nothing.
    let history_stats = Arc::new(crate::history::Stats::default());
    let history = config.history.as_ref().and_then(|h| {
        let settings = crate::history::settings(h);
        match crate::history::writer::spawn(settings, &feed, clock, history_stats.clone(), stop_rx.clone()) {
            Ok(running) => Some(running),
            Err(e) => {
                tracing::error!(error = %e, "the history cannot be written; relays and rules run without it");
                history_stats.problem(e.to_string());
                None
            }
        }
    });
    // The last decisions, for a web page that just opened: a subscriber like any other.
    let recent = Arc::new(crate::web::Recent::new());
    let recent_task = tokio::spawn(recent.clone().follow(feed.subscribe()));
    let api_task = tokio::spawn(api::serve(
        api_listener,
        api::ApiState::new(api_tx, shared.clone(), token)
            .with_cameras(cameras.clone())
            .with_feed(feed.clone())
            .with_recent(recent)
            .with_hosts(api::hosts::Hosts::new(&config.api.hosts))
            .with_token_file(config.api.token_file.clone())
            .with_rules_file(config_path.clone())
            .with_mqtt(config.mqtt.is_some().then(|| mqtt_stats.clone()))
            .with_history(config.history.as_ref().map(|h| api::HistoryAccess {
                dir: h.dir.clone(),
                stats: history_stats.clone(),
                timezone: config.site.timezone,
            })),
        config.api.header_timeout,
        stopped(stop_rx.clone()),
    ));

    // Whether each camera with a url still posts here: at start, after a
    // reload and every few minutes, on its own task (a slow camera must not
    // hold the core).
    let checker = {
        let (cameras, mut stop) = (cameras.clone(), stop_rx.clone());
        let ingest = SocketAddr::new(config.server.listen.ip(), post_addr.port());
        tokio::spawn(async move {
            loop {
                cameras.check_subscriptions(ingest).await;
                tokio::select! {
                    _ = cameras.changed_or(crate::camera::directory::CHECK_EVERY) => {}
                    _ = stop.changed() => return,
                }
            }
        })
    };
    tracing::info!(posts = %post_addr, api = %api_addr, config = %config_path.display(), "camrelay running");
    started(Started { posts: post_addr, api: api_addr });

    let engine = Engine::new(&config);
    let mut core = Core {
        feed,
        switches,
        cameras,
        config_path,
        config,
        engine,
        controller,
        clock,
        shared,
        pending_restart: Vec::new(),
        reloads: 0,
        reloads_refused: 0,
        last_reload: None,
        no_effect: Default::default(),
        deferred: Default::default(),
        why: crate::why::WhyLog::new(),
        events: 0,
        occupancy: Vec::new(),
        occupancy_next: Vec::new(),
        inputs: InputBank {
            debouncers: input_lines
                .initial
                .iter()
                .zip(&input_lines.debounce)
                .map(|(&on, &d)| relays::input::Debouncer::new(d, on, clock.instant()))
                .collect(),
            changes: vec![0; input_lines.initial.len()],
            edges: 0,
            lines: input_lines,
        },
    };
    // Each input's first reading: its level, not a change (recorded, so a
    // replay starts from it too).
    for (index, on) in core.inputs.lines.initial.clone().into_iter().enumerate() {
        if let Some(input) = core.config.inputs.get(index) {
            core.record_input(&input.name, on, core.clock.instant());
        }
        let commands = core.engine.input(index, on, core.now());
        core.apply(commands, core.clock.instant());
    }

    let watchdog = systemd::watchdog_interval().map(|d| d / 2);
    let mut watchdog_tick = tokio::time::interval(watchdog.unwrap_or(Duration::from_secs(3600)));
    let mut trim_tick = tokio::time::interval(TRIM_EVERY);
    notify(systemd::notify_ready());

    let mut ingest_task = ingest_task;
    let mut stop = std::pin::pin!(stop);
    // One timer for the whole loop, moved only when the next deadline moves:
    // a fresh timer per event showed up in the profile.
    let mut sleep = std::pin::pin!(tokio::time::sleep(Duration::from_secs(3600)));
    let outcome: anyhow::Result<()> = loop {
        match core.next_deadline() {
            Some(at) => {
                let wake = core.clock.to_std(at).into();
                if sleep.deadline() != wake {
                    sleep.as_mut().reset(wake);
                }
            }
            // Nothing scheduled: a timer still pending for an old deadline only
            // causes one harmless extra tick.
            None if sleep.is_elapsed() => {
                sleep.as_mut().reset(tokio::time::Instant::now() + Duration::from_secs(3600))
            }
            None => {}
        }
        tokio::select! {
            biased;
            _ = sigterm.recv() => { tracing::info!("SIGTERM: stopping"); break Ok(()); }
            _ = sigint.recv() => { tracing::info!("SIGINT: stopping"); break Ok(()); }
            _ = &mut stop => { tracing::info!("stop requested"); break Ok(()); }
            _ = sighup.recv() => { core.reload("SIGHUP (camrelay reload, systemctl reload)".into()); }
            received = event_rx.recv() => match received {
                Some(received) => {
                    core.on_event(&received);
                    // Posts queued meanwhile go in the same pass: one wake-up and
                    // one look at the signals for all of them, instead of one per
                    // post. Bounded, so a flood still lets SIGTERM through.
                    for _ in 1..EVENT_BATCH {
                        let Ok(received) = event_rx.try_recv() else { break };
                        core.on_event(&received);
                    }
                }
                // The ingest task ended and dropped its sender: its own
                // result says why (a startup failure, or a crash).
                None => break ingest_outcome((&mut ingest_task).await),
            },
            request = api_rx.recv() => if let Some(request) = request { core.on_api(request) },
            edge = next_edge(&mut edges) => match edge {
                Some(edge) => {
                    core.on_edge(edge);
                    for _ in 1..EVENT_BATCH {
                        let Some(edge) = edges.as_mut().and_then(|rx| rx.try_recv().ok()) else { break };
                        core.on_edge(edge);
                    }
                }
                // The reader stopped (it logged why): the inputs keep their last level.
                None => edges = None,
            },
            _ = &mut sleep => core.tick(),
            _ = trim_tick.tick() => trim_freed_memory(),
            _ = watchdog_tick.tick(), if watchdog.is_some() => notify(systemd::notify_watchdog()),
            result = &mut ingest_task => break ingest_outcome(result),
        }
    };

    // Posts already answered 200 are in the queue: close it (a post still
    // waiting to be queued gets 503 instead) and evaluate every one, so the
    // log and the counters account for all that was acknowledged. Their
    // commands are not applied: the relays are going to their safe state.
    event_rx.close();
    while let Ok(received) = event_rx.try_recv() {
        core.on_event_at_shutdown(&received);
    }
    // Safe state before anything else, whatever ended the loop.
    notify(systemd::notify_stopping());
    let now = core.clock.instant();
    core.controller.all_off(now, if outcome.is_ok() { "shutdown" } else { "fatal error" });
    // The broker hears every relay go off, then `offline`.
    core.publish_switches();
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(2), api_task).await;
    if let Some(task) = mqtt_task {
        let _ = tokio::time::timeout(Duration::from_secs(3), task).await;
    }
    if let Some(history) = history {
        history.finish().await;
    }
    checker.abort();
    recent_task.abort();
    let events = core.events;
    drop(core);
    tracing::info!(events, "every relay is off; exiting");
    outcome
}

/// Line changes seen by [`Tapped`]: relay index, on, when, why.
type LineChanges = Arc<std::sync::Mutex<Vec<(usize, bool, Instant, String)>>>;

/// The backend the controller drives, noting each change of a line's state
/// for the feed (rewrites of the same state, such as retries, are not news).
struct Tapped {
    inner: Box<dyn Backend>,
    changes: LineChanges,
    last: Vec<Option<bool>>,
}

impl Backend for Tapped {
    fn set(&mut self, index: usize, on: bool, at: Instant, reason: &str) -> Result<(), relays::GpioError> {
        let result = self.inner.set(index, on, at, reason);
        if result.is_ok() && self.last.get(index).copied().flatten() != Some(on) {
            if let Some(l) = self.last.get_mut(index) {
                *l = Some(on);
            }
            let mut changes = self.changes.lock().unwrap_or_else(|p| p.into_inner());
            // Bounded: the core drains after every pass.
            if changes.len() < 4096 {
                changes.push((index, on, at, reason.to_string()));
            }
        }
        result
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }
}

/// glibc's malloc raises its mmap threshold each time a large block is freed,
/// so after a burst of big posts (a 3.8 MB body each) those blocks come from
/// the heap and the freed memory stayed in the process: measured 539 MB held
/// after an attack. Bodies are kept on the heap on purpose here (a fresh
/// mmap per body page-faulted every page of every post: a third of the CPU
/// under a big-post flood), the heap is never trimmed on the request path,
/// and [`trim_freed_memory`] hands what is free back to the kernel once a
/// second instead. musl returns freed memory by itself.
fn return_freed_memory_promptly() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 * 1024 * 1024);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 * 1024 * 1024);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Give free heap memory back to the kernel (see [`return_freed_memory_promptly`]).
/// Called once a second from the core loop: cheap when little is free.
fn trim_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases memory malloc holds free.
    unsafe {
        libc::malloc_trim(256 * 1024);
    }
}

/// Why the ingest task ended, with its whole cause.
fn ingest_outcome(result: Result<std::io::Result<()>, tokio::task::JoinError>) -> anyhow::Result<()> {
    match result {
        Ok(Ok(())) => Err(anyhow::anyhow!("the ingest server stopped unexpectedly")),
        Ok(Err(e)) => Err(anyhow::Error::new(e).context("the ingest server failed")),
        Err(e) => Err(anyhow::anyhow!("the ingest server crashed: {e}")),
    }
}

/// systemd notifications are best effort: a lost one must never stop the relays' owner.
fn notify(result: std::io::Result<bool>) {
    if let Err(e) = result {
        tracing::debug!("systemd notification failed: {e}");
    }
}

/// The next raw edge of an input, or never when there is no reader.
async fn next_edge(edges: &mut Option<mpsc::Receiver<relays::input::Edge>>) -> Option<relays::input::Edge> {
    match edges {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// A future that completes when the stop flag is raised.
async fn stopped(mut rx: watch::Receiver<bool>) {
    while !*rx.borrow() {
        if rx.changed().await.is_err() {
            return;
        }
    }
}

impl Core {
    /// The next timer of the engine, the controller, or a device falling silent.
    fn next_deadline(&self) -> Option<Instant> {
        [
            self.engine.next_deadline(),
            self.controller.next_deadline(),
            self.shared.devices.next_offline(self.config.server.offline_after),
            self.inputs.debouncers.iter().filter_map(|d| d.deadline()).min(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn now(&self) -> Now {
        self.clock.now()
    }

    fn on_event(&mut self, received: &Received) {
        self.events += 1;
        // The event's own arrival time, so queueing delay never shortens a hold.
        let now = Now { at: received.at, wall: received.wall };
        for camera in self.shared.devices.take_first_heard() {
            self.feed.send(Happened::Device {
                at_ms: now.at.as_millis(),
                device: camera.clone(),
                camera,
                online: true,
                first: true,
            });
        }
        for device in self.shared.devices.take_back_online() {
            let name = device_label(&device);
            let camera = self.engine.camera_of(&device, None);
            self.feed.send(Happened::Device {
                at_ms: now.at.as_millis(),
                device: name,
                camera,
                online: true,
                first: false,
            });
            let event = Event::bare(EventKind::DeviceOnline, device);
            let commands = self.engine.handle(&event, None, now);
            self.apply(commands, self.clock.instant());
        }
        let commands = self.engine.handle(&received.event, Some(received.source.ip()), now);
        if received.event.kind == EventKind::Traject {
            // Its traject arriving proves the camera posts here (the page's
            // subscription line), whatever its slots say.
            let camera = self.engine.camera_of(&received.event.device, Some(received.source.ip()));
            self.cameras.saw_post(&camera);
            if self.feed.watched() {
                self.publish_targets(camera, now);
            }
        }
        // The NVR's copy of a detection the camera posted itself (or the
        // other way round) is one detection: no second event for the page
        // and Home Assistant. Its pictures are kept all the same.
        let detection = self.engine.detection(&received.event, Some(received.source.ip()));
        if let Some(detection) = &detection {
            if !self.engine.was_duplicate() {
                self.feed
                    .send(Happened::Detected { at_ms: now.at.as_millis(), detection: detection.clone() });
            }
            if let Some(picture) = crate::happened::Pictures::of(&received.event, &received.body) {
                self.feed.send(Happened::Picture {
                    at_ms: now.at.as_millis(),
                    camera: detection.camera.clone(),
                    kind: detection.kind.clone(),
                    plate: detection.plate.clone(),
                    picture,
                });
            }
        }
        self.keep_picture(received);
        self.apply(commands, self.clock.instant());
        if matches!(received.event.kind, EventKind::Traject | EventKind::ZoneEntry | EventKind::ZoneExit) {
            self.publish_occupancy(now.at);
        }
    }

    /// A raw edge of an input: through its debouncer, and on if it counts now.
    fn on_edge(&mut self, edge: relays::input::Edge) {
        self.inputs.edges += 1;
        let Some(d) = self.inputs.debouncers.get_mut(edge.index) else { return };
        if let Some(on) = d.edge(edge.on, edge.at) {
            self.input_changed(edge.index, on, edge.at);
        }
    }

    /// Levels that have lasted their debounce by now.
    fn settle_inputs(&mut self) {
        let now = self.clock.instant();
        for index in 0..self.inputs.debouncers.len() {
            let d = &mut self.inputs.debouncers[index];
            if let Some(on) = d.settle(now) {
                let since = d.since();
                self.input_changed(index, on, since);
            }
        }
    }

    /// An input's debounced level changed, at `at` (its edge).
    fn input_changed(&mut self, index: usize, on: bool, at: Instant) {
        let Some(input) = self.config.inputs.get(index) else { return };
        let name = input.name.clone();
        if let Some(n) = self.inputs.changes.get_mut(index) {
            *n += 1;
        }
        tracing::info!(input = %name, on, "input {}", if on { "on" } else { "off" });
        self.record_input(&name, on, at);
        self.feed.send(Happened::Input { at_ms: at.as_millis(), input: name, on });
        let now = Now { at, wall: self.clock.now().wall };
        let commands = self.engine.input(index, on, now);
        self.apply(commands, self.clock.instant());
    }

    /// Zones and areas whose counts changed since the last call, on the feed.
    fn publish_occupancy(&mut self, at: Instant) {
        let mut now = std::mem::take(&mut self.occupancy_next);
        self.engine.place_counts(&mut now);
        for (i, counts) in now.iter().enumerate() {
            if self.occupancy.get(i) == Some(counts) {
                continue;
            }
            if let Some((place, area)) = self.engine.place(i) {
                let occupancy =
                    crate::engine::places::Occupancy { place: place.to_string(), area, counts: *counts };
                self.feed.send(Happened::Occupancy { at_ms: at.as_millis(), occupancy });
            }
        }
        self.occupancy_next = std::mem::replace(&mut self.occupancy, now);
    }

    /// A full frame in a post becomes its camera's picture on the web page
    /// (for cameras camrelay cannot ask for a snapshot).
    fn keep_picture(&self, received: &Received) {
        use crate::decode::ImageRole;
        let Some(image) = received.event.images_of(ImageRole::Overview).next() else { return };
        let Some(base64) = received.body.get(image.range.clone()) else { return };
        let camera = self.engine.camera_of(&received.event.device, Some(received.source.ip()));
        self.cameras.keep_posted(&camera, base64);
    }

    /// The targets of the camera that just posted traject, for listeners.
    fn publish_targets(&self, camera: String, now: Now) {
        let targets = self.engine.targets(now.at, Some(&camera));
        self.feed.send(Happened::Targets { at_ms: now.at.as_millis(), camera, targets });
    }

    /// Line changes since the last call, on the feed.
    fn publish_switches(&mut self) {
        let changes = std::mem::take(&mut *self.switches.lock().unwrap_or_else(|p| p.into_inner()));
        for (index, on, at, reason) in changes {
            let relay = self.config.relays.get(index).map(|r| r.name.clone()).unwrap_or_default();
            // A relay with `confirm` now waits for its input.
            self.engine.relay_switched(&relay, on, at);
            let why = if on { self.controller.why_of(index, at) } else { None };
            self.feed.send(Happened::Switched { at_ms: at.as_millis(), relay, on, reason, why });
        }
    }

    /// A match that changed nothing: one debug line and a counter, so "why
    /// did the gate not open" has an answer in the log, the status and the metrics.
    fn no_effect(&mut self, rule: &str, reason: &str, detail: &dyn std::fmt::Display) {
        tracing::debug!(rule, reason, %detail, "rule matched, nothing happened");
        self.feed.send(Happened::NoEffect {
            at_ms: self.clock.instant().as_millis(),
            rule: rule.to_string(),
            reason: reason.to_string(),
            detail: detail.to_string(),
        });
        let key = (rule.to_string(), reason.to_string());
        if self.no_effect.len() < 4096 || self.no_effect.contains_key(&key) {
            *self.no_effect.entry(key).or_default() += 1;
        }
    }

    /// The rule counters with the no-effect reasons filled in.
    fn counters(&self) -> Vec<crate::engine::RuleCounter> {
        let mut counters = self.engine.counters();
        for c in &mut counters {
            for ((rule, reason), n) in self.no_effect.range((c.rule.clone(), String::new())..) {
                if *rule != c.rule {
                    break;
                }
                c.no_effect.insert(reason.clone(), *n);
            }
            for ((rule, reason), n) in self.deferred.range((c.rule.clone(), String::new())..) {
                if *rule != c.rule {
                    break;
                }
                c.deferred.insert(reason.clone(), *n);
            }
        }
        counters
    }

    /// A post acknowledged before the stop: evaluated and logged, never applied.
    fn on_event_at_shutdown(&mut self, received: &Received) {
        self.events += 1;
        let now = Now { at: received.at, wall: received.wall };
        for command in self.engine.handle(&received.event, Some(received.source.ip()), now) {
            tracing::info!(relay = %command.relay, action = %command.action, why = %command.why,
                "rule fired during shutdown: not applied, every relay goes off");
        }
    }

    fn tick(&mut self) {
        self.check_offline();
        self.settle_inputs();
        let now = self.now();
        let commands = self.engine.tick(now);
        // `apply` ends with the controller's own tick at the same instant.
        self.apply(commands, now.at);
        self.publish_occupancy(now.at);
    }

    /// The engine's commands to the controller, after noting what the
    /// engine saw (verdicts, stationary targets, cooldowns).
    fn apply(&mut self, commands: Vec<crate::command::Command>, at: Instant) {
        self.why.record(&self.engine);
        for n in self.engine.take_notices() {
            let what = if n.stationary { "target stationary" } else { "target moves again" };
            tracing::info!(camera = %n.camera, target = n.target, class = n.class.word(), "{what}");
        }
        for visit in self.engine.take_visits() {
            self.feed.send(Happened::Visit {
                at_ms: at.as_millis(),
                first_ms: visit.first_seen.as_millis(),
                last_ms: visit.last_seen.as_millis(),
                visit,
            });
        }
        for unfired in self.engine.take_unfired() {
            self.no_effect(&unfired.rule, unfired.reason, &unfired.detail);
        }
        for news in self.engine.take_input_news() {
            match &news {
                crate::engine::InputNews::DidNotMove { relay, input, to, within_ms } => tracing::warn!(
                    relay = %relay, input = %input,
                    "relay {relay:?} switched on but input {input:?} did not go {} within {}: it did not move",
                    if *to { "on" } else { "off" },
                    config::fmt_duration(Duration::from_millis(*within_ms))
                ),
                crate::engine::InputNews::Tailgating { rule, input, camera, vehicles, .. } => tracing::warn!(
                    rule = %rule, camera = %camera,
                    "tailgating: {vehicles} vehicles while input {input:?} says the gate is open"
                ),
            }
            self.feed.send(Happened::Inputs { at_ms: at.as_millis(), news });
        }
        let mut local = Vec::with_capacity(commands.len());
        for (index, command) in commands.iter().enumerate() {
            tracing::info!(relay = %command.relay, action = %command.action, why = %command.why, "rule fired");
            self.feed.send(Happened::Fired {
                at_ms: at.as_millis(),
                relay: command.relay.clone(),
                action: command.action.to_string(),
                why: command.why.clone(),
            });
            if let Some((node, relay)) = config::remote_relay(&command.relay) {
                // Another node's relay: its own controller applies it, with its own limits.
                self.feed.send(Happened::Remote {
                    at_ms: at.as_millis(),
                    node: node.to_string(),
                    relay: relay.to_string(),
                    action: command.action.remote(at),
                    why: command.why.clone(),
                });
                continue;
            }
            local.push((index, command));
        }
        let all: Vec<&crate::command::Command> = local.iter().map(|(_, c)| *c).collect();
        let effects = self.controller.apply_all(&all, at);
        for ((index, command), effect) in local.into_iter().zip(effects) {
            let Some(reason) = effect else { continue };
            if !crate::relays::controller::is_delay(reason) {
                // Not carried out: the rule's cooldowns are as before it fired.
                self.engine.held_back(index);
            }
            self.not_done(command, reason);
        }
        self.controller.tick(at);
        self.publish_switches();
    }

    /// What the controller did not do (yet) with a command: a delay is
    /// logged and counted as deferred, anything else as the rule's
    /// no-effect reason.
    fn not_done(&mut self, command: &crate::command::Command, reason: &'static str) {
        let detail =
            (reason == "relay condition").then(|| config::describe_relay_conditions(&command.requires));
        self.why.relay_did_nothing(&command.why.rule, reason, detail.as_deref());
        if crate::relays::controller::is_delay(reason) {
            tracing::info!(relay = %command.relay, action = %command.action, rule = %command.why.rule,
                "the relay switches when {reason} allows");
            let key = (command.why.rule.clone(), reason.to_string());
            if self.deferred.len() < 4096 || self.deferred.contains_key(&key) {
                *self.deferred.entry(key).or_default() += 1;
            }
            return;
        }
        let detail = format!("relay {:?}: {}", command.relay, command.action);
        self.no_effect(&command.why.rule, reason, &detail);
    }

    /// One command to this node's controller, on the feed, as [`Core::apply`] does.
    fn command(&mut self, command: &crate::command::Command, at: Instant) -> Option<&'static str> {
        self.feed.send(Happened::Fired {
            at_ms: at.as_millis(),
            relay: command.relay.clone(),
            action: command.action.to_string(),
            why: command.why.clone(),
        });
        let reason = self.controller.apply(command, at)?;
        self.not_done(command, reason);
        Some(reason)
    }

    fn check_offline(&mut self) {
        let now = self.now();
        let gone = self.shared.devices.check_offline(now.at, self.config.server.offline_after);
        for device in gone {
            self.feed.send(Happened::Device {
                at_ms: now.at.as_millis(),
                device: device_label(&device),
                camera: self.engine.camera_of(&device, None),
                online: false,
                first: false,
            });
            let event = offline_event(device);
            let commands = self.engine.handle(&event, None, now);
            self.apply(commands, now.at);
        }
    }

    fn on_api(&mut self, request: Request) {
        let now = self.now();
        match request {
            Request::Status(reply) => {
                let _ = reply.send(crate::request::Status {
                    relays: self.controller.status(now.at),
                    devices: self.shared.devices.snapshot(),
                    rules: self.counters(),
                    targets: self.engine.targets(now.at, None),
                    subscriptions: self.cameras.subscriptions(),
                    pending_restart: self.pending_restart.clone(),
                    last_reload: self.last_reload.clone(),
                    pid: std::process::id(),
                    started_at: now.origin_wall(),
                    uptime_ms: now.at.as_millis(),
                    mqtt: None,
                    history: None,
                    inputs: self.input_status(),
                });
            }
            Request::SetInput { input, on, who, reply } => {
                let result = self.set_input(&input, on, &who);
                let _ = reply.send(result);
            }
            Request::Manual { relay, request, who, reply } => {
                let result = self.controller.manual(&relay, request, now.at).map_err(|e| e.to_string());
                if result.is_ok() {
                    // Before the switch it causes, so the stream reads in order.
                    self.feed.send(Happened::Manual {
                        at_ms: now.at.as_millis(),
                        relay: relay.clone(),
                        request: request.to_string(),
                        who,
                    });
                }
                self.controller.tick(now.at);
                self.publish_switches();
                if result.is_ok() {
                    self.record_manual(&relay, request, now);
                }
                let _ = reply.send(result);
            }
            Request::Remote { from, relay, action, why, reply } => {
                let result = self.remote(&from, &relay, action, why, now.at);
                let _ = reply.send(result);
            }
            Request::FromNode { camera, event } => {
                if let Some(commands) = self.engine.handle_from_node(&camera, &event, now) {
                    self.apply(commands, now.at);
                }
            }
            Request::State(reply) => {
                let _ = reply.send(crate::happened::State {
                    relays: self.controller.status(now.at),
                    cameras: self
                        .config
                        .cameras
                        .iter()
                        .filter(|c| c.node.is_none())
                        .map(|c| c.name.clone())
                        .collect(),
                    plate_cameras: self
                        .config
                        .cameras
                        .iter()
                        .filter(|c| c.node.is_none() && self.config.reads_plates(&c.name))
                        .map(|c| c.name.clone())
                        .collect(),
                    node_cameras: self
                        .config
                        .cameras
                        .iter()
                        .filter_map(|c| Some((c.node.clone()?, c.name.clone())))
                        .collect(),
                    devices: self.shared.devices.snapshot(),
                    occupancy: self.engine.occupancy(),
                    last_reload: self.last_reload.clone(),
                    inputs: self.input_status(),
                });
            }
            Request::PageConfig(reply) => {
                let _ = reply.send(crate::config::view::page_config(&self.config));
            }
            Request::PlateLists(reply) => {
                let _ = reply.send(crate::config::edit::plate_lists(&self.config, self.clock.now().wall));
            }
            Request::Reload { who, reply } => {
                let _ = reply.send(self.reload(who));
            }
            Request::Why { rule, reply } => {
                let known = self.config.rules.iter().any(|r| r.name == rule);
                let _ = reply.send(known.then(|| self.why.of(&rule)));
            }
            Request::Metrics(reply) => {
                let mut out = String::new();
                api::render_core_metrics(&mut out, &self.controller, &self.engine, &self.counters(), now.at);
                use std::fmt::Write as _;
                let _ = writeln!(
                    out,
                    "# HELP camrelay_reloads_total Reloads of the rules file, by outcome.\n\
                     # TYPE camrelay_reloads_total counter\n\
                     camrelay_reloads_total{{outcome=\"applied\"}} {}\ncamrelay_reloads_total{{outcome=\"refused\"}} {}",
                    self.reloads - self.reloads_refused,
                    self.reloads_refused
                );
                if !self.config.inputs.is_empty() {
                    let inputs = self.input_status();
                    let _ = writeln!(out, "# HELP camrelay_input_on Each input's debounced level (1 on, 0 off).\n# TYPE camrelay_input_on gauge");
                    for i in &inputs {
                        let _ = writeln!(
                            out,
                            "camrelay_input_on{{input=\"{}\"}} {}",
                            i.name,
                            u8::from(i.on == Some(true))
                        );
                    }
                    let _ = writeln!(out, "# HELP camrelay_input_changes_total Debounced level changes per input.\n# TYPE camrelay_input_changes_total counter");
                    for i in &inputs {
                        let _ = writeln!(
                            out,
                            "camrelay_input_changes_total{{input=\"{}\"}} {}",
                            i.name, i.changes
                        );
                    }
                    let _ = writeln!(out, "# HELP camrelay_input_edges_total Raw edges read from the input lines, before debounce.\n# TYPE camrelay_input_edges_total counter\ncamrelay_input_edges_total {}", self.inputs.edges);
                }
                let _ = reply.send(out);
            }
        }
    }

    /// Each input's level and since when, for status and the page.
    fn input_status(&self) -> Vec<relays::input::InputStatus> {
        let levels = self.engine.input_levels();
        self.config
            .inputs
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let level = levels.iter().find(|(n, _)| *n == c.name).and_then(|(_, l)| *l);
                relays::input::InputStatus {
                    name: c.name.clone(),
                    on: level.map(|l| l.0),
                    since_ms: level.map(|l| l.1.as_millis()),
                    device_class: c.device_class.clone(),
                    changes: self.inputs.changes.get(i).copied().unwrap_or(0),
                }
            })
            .collect()
    }

    /// `POST /api/inputs/{name}` under the mock backend: a raw edge now, as a
    /// contact would make it (debounced alike).
    fn set_input(&mut self, input: &str, on: bool, who: &str) -> Result<(), String> {
        let Some(index) = self.config.inputs.iter().position(|i| i.name == input) else {
            return Err(format!("no [[input]] named {input:?}"));
        };
        if !self.inputs.lines.settable {
            return Err(format!(
                "input {input:?} is read from its GPIO line; only the mock backend takes inputs from the API"
            ));
        }
        tracing::debug!(input, on, who, "input set through the API (mock)");
        self.on_edge(relays::input::Edge { index, on, at: self.clock.instant() });
        Ok(())
    }

    /// A rule on node `from` commands one of this node's relays: applied like
    /// a local rule's command, so `max_on`, `min_off`, `switch_limit`,
    /// interlocks and manual overrides bound it alike.
    fn remote(
        &mut self,
        from: &str,
        relay: &str,
        action: crate::command::RemoteAction,
        mut why: crate::command::Why,
        at: Instant,
    ) -> Result<Option<String>, String> {
        let action = action.at(at).ok_or("a duration of zero or over 24h")?;
        why.rule = format!("{from}/{}", why.rule);
        let command = crate::command::Command { relay: relay.to_string(), action, why, requires: Vec::new() };
        tracing::info!(relay, action = %command.action, why = %command.why, "command from node {from}");
        let result = match self.command(&command, at) {
            // Taken and waiting: the relay switches when its limit allows.
            Some(reason) if crate::relays::controller::is_delay(reason) => Ok(Some(reason.to_string())),
            Some(reason) => Err(reason.to_string()),
            None => Ok(None),
        };
        self.controller.tick(at);
        self.publish_switches();
        result
    }

    /// With `record_dir`, a manual command goes into the capture next to the
    /// posts (`...-manual.json`), so `replay` sees the override too. Rare and
    /// tiny: written here, not through the post recorder's queue.
    fn record_manual(&self, relay: &str, request: crate::relays::controller::Manual, now: Now) {
        let body = serde_json::to_vec(&crate::replay::ManualRecord::new(relay, request)).unwrap_or_default();
        self.record_json(crate::replay::MANUAL_SUFFIX, body, now.at, now.wall);
    }

    /// An input's level (its first reading, or a change at its edge `at`), for replay.
    fn record_input(&self, input: &str, on: bool, at: Instant) {
        let now = self.now();
        let wall = now.wall - chrono::TimeDelta::milliseconds(now.at.since(at).as_millis() as i64);
        let body = serde_json::to_vec(&crate::replay::InputRecord { input: input.to_string(), on })
            .unwrap_or_default();
        self.record_json(crate::replay::INPUT_SUFFIX, body, at, wall);
    }

    /// A JSON record beside the posts in `record_dir`, named like them
    /// (run, sequence, instant, wall time) so replay puts it in its place.
    fn record_json(&self, suffix: &str, body: Vec<u8>, at: Instant, wall: chrono::DateTime<chrono::Utc>) {
        let Some(dir) = &self.config.server.record_dir else { return };
        let run_ms = self.shared.run_ms_or(self.now().origin_wall().timestamp_millis());
        let name = crate::ingest::record::RecordName::new(
            run_ms,
            crate::ingest::record::next_seq(),
            at,
            wall,
            std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        );
        let file = name.to_string().replace("-0.0.0.0.xml", suffix);
        // The first readings come before ingest has made the folder.
        if let Err(e) = std::fs::create_dir_all(dir).and_then(|()| std::fs::write(dir.join(&file), body)) {
            tracing::warn!(file, error = %e, "record_dir: not recorded");
        }
    }

    /// Re-read the rules file: all of it or nothing. The old rules stay in force on error.
    fn reload(&mut self, who: String) -> crate::reload::ReloadOutcome {
        notify(systemd::notify_reloading());
        let (applied, message) = match self.try_reload() {
            Ok(message) => (true, message),
            Err(message) => {
                tracing::error!("reload refused, the previous rules stay in force: {message}");
                self.reloads_refused += 1;
                (false, message)
            }
        };
        self.reloads += 1;
        self.publish_switches();
        // Places may have come, gone or moved: every count goes out again.
        self.occupancy.clear();
        self.publish_occupancy(self.clock.instant());
        self.feed.send(Happened::Reloaded {
            at_ms: self.clock.instant().as_millis(),
            applied,
            message: message.clone(),
            who: Some(who),
        });
        let outcome =
            crate::reload::ReloadOutcome { seq: self.reloads, at: self.clock.now().wall, applied, message };
        self.last_reload = Some(outcome.clone());
        notify(systemd::notify_ready());
        outcome
    }

    /// Ok: what was applied (and what waits for a restart). Err: why nothing was.
    fn try_reload(&mut self) -> Result<String, String> {
        let new = config::load(&self.config_path).map_err(|e| format!("{:#}", anyhow::Error::new(e)))?;
        let now = self.now();
        let lines = |c: &Config| -> Vec<_> {
            c.inputs
                .iter()
                .map(|i| (i.name.clone(), i.line.clone(), i.chip.clone(), i.active_low, i.bias, i.debounce))
                .collect()
        };
        if lines(&new) != lines(&self.config) {
            return Err("the [[input]] blocks changed (names, lines, levels, bias or debounce): inputs are requested once at start; restart camrelay (systemctl restart camrelay) to read the new ones".into());
        }
        self.controller.reconfigure(&new.relays, now.at).map_err(|e| e.to_string())?;
        self.pending_restart = restart_needed(&self.config, &new);
        for what in &self.pending_restart {
            tracing::warn!("reload: {what} changed; this takes effect after a restart");
        }
        use crate::words::count;
        let mut message = format!(
            "applied: {}, {}, {}, {}",
            count(new.relays.len(), "relay"),
            count(new.cameras.len(), "camera"),
            count(new.zones.len(), "zone"),
            count(new.rules.len(), "rule")
        );
        if !self.pending_restart.is_empty() {
            message.push_str(&format!("; after a restart: {}", self.pending_restart.join(", ")));
        }
        self.engine.reload(&new);
        self.why.follow(&self.engine);
        self.shared.devices.set_cameras(&new.cameras);
        self.cameras.set(&new.cameras);
        // Settings that need a restart keep their running values, so status tells the truth.
        let mut applied = new;
        applied.server = self.config.server.clone();
        applied.api = self.config.api.clone();
        applied.gpio = self.config.gpio.clone();
        applied.mqtt = self.config.mqtt.clone();
        self.config = applied;
        tracing::info!(path = %self.config_path.display(), "rules reloaded");
        Ok(message)
    }
}

/// Which settings changed in a way a running process cannot apply, by key
/// (`[api] token`), so the operator knows what a restart would change.
fn restart_needed(old: &Config, new: &Config) -> Vec<String> {
    fn keys<T: serde::Serialize>(section: &str, old: &T, new: &T, out: &mut Vec<String>) {
        let (Ok(serde_json::Value::Object(a)), Ok(serde_json::Value::Object(b))) =
            (serde_json::to_value(old), serde_json::to_value(new))
        else {
            return;
        };
        for (k, v) in &a {
            if b.get(k) != Some(v) {
                out.push(format!("[{section}] {k}"));
            }
        }
    }
    let mut out = Vec::new();
    keys("server", &old.server, &new.server, &mut out);
    keys("api", &old.api, &new.api, &mut out);
    keys("gpio", &old.gpio, &new.gpio, &mut out);
    if old.mqtt != new.mqtt {
        out.push("[mqtt]".to_string());
    }
    if old.history != new.history {
        out.push("[history]".to_string());
    }
    out
}

/// A device as the feed names it: MAC, else serial, name or IP.
fn device_label(d: &Device) -> String {
    d.mac
        .clone()
        .or_else(|| d.serial.clone())
        .or_else(|| d.name.clone())
        .or_else(|| d.ip.clone())
        .unwrap_or_default()
}

/// The event rules see when a device went silent (`event = "camera_offline"`).
fn offline_event(device: Device) -> Event {
    Event::bare(EventKind::DeviceOffline, device)
}
