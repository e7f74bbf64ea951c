//! `camrelay replay`: recorded posts through decode, the engine and the relay controller on a virtual clock.
//!
//! Replay is the daemon with a virtual clock: the same engine, the same relay
//! controller (`max_on` and its spent claims, `min_off`, `switch_limit`,
//! interlocks, relay conditions) over an in-memory mock backend, the same
//! device registry (so a camera that falls silent for `offline_after` gives
//! `camera_offline` at the millisecond it has been silent that long, and
//! `camera_online` when it is heard again), and the manual API commands a
//! `record_dir` captured. A `record_dir` capture names when its daemon
//! started, and the virtual daemon starts then too (its start is a
//! switch-off for `min_off`, as live); plain files assume the daemon had run
//! long enough before the first post that startup's `min_off` is over. Owns reading captures (the
//! ingest `record_dir` format, or plain XML files), the virtual clock and
//! printing the timeline, with `--why RULE` the rule's verdict on each event.
//! Never touches GPIO or the network; the only I/O is reading the capture files.

use crate::clock::{Instant, Now};
use crate::command::{Command, Why};
use crate::config::{Config, SiteConfig};
use crate::decode::{DeviceTime, Event, EventKind};
use crate::engine::Engine;
use crate::ingest::record::RecordName;
use crate::ingest::Devices;
use crate::relays::controller::{Controller, Manual};
use crate::relays::MockBackend;
use crate::why::{WhyEntry, WhyLog};
use anyhow::Context as _;
use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// One recorded post, as read from disk.
#[derive(Debug, Clone, PartialEq)]
pub struct Post {
    /// File name, for messages.
    pub label: String,
    /// What a `record_dir` file name says: receive order and time, source.
    pub record: Option<RecordName>,
    pub body: Vec<u8>,
}

/// One post after decoding, placed on the timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    pub label: String,
    pub wall: DateTime<Utc>,
    pub source: Option<IpAddr>,
    /// The event (or recorded manual command), or why the post could not be decoded.
    pub event: Result<InputKind, String>,
}

/// A relay switching in the replay.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Transition {
    /// Milliseconds since the first post.
    pub at: Instant,
    pub wall: DateTime<Utc>,
    pub relay: String,
    pub on: bool,
    /// Why, in one line.
    pub reason: String,
    /// The command that switched it on (or off), when a rule did.
    pub why: Option<Why>,
}

/// A command the engine issued, with its time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimedCommand {
    pub at: Instant,
    pub wall: DateTime<Utc>,
    pub command: Command,
}

/// What a replay produced.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Timeline {
    pub posts: usize,
    pub events: usize,
    /// (file, reason) for posts that did not decode.
    pub errors: Vec<(String, String)>,
    pub commands: Vec<TimedCommand>,
    pub transitions: Vec<Transition>,
    pub start: Option<DateTime<Utc>>,
    /// Manual API commands in the capture.
    pub manual: usize,
    /// Input levels in the capture (first readings and changes).
    pub inputs: usize,
    /// Targets that became stationary or moved again.
    pub notices: Vec<Notice>,
    /// `--why RULE`: its verdict on each event it listens to.
    pub why: Vec<WhyLine>,
    /// `--why RULE`: events of kinds the rule does not listen to.
    pub why_other_events: u64,
}

fn is_xml(f: &Path) -> bool {
    f.extension().is_some_and(|x| x.eq_ignore_ascii_case("xml"))
}

/// A manual API command or an input's level that `record_dir` recorded.
fn is_manual(f: &Path) -> bool {
    f.file_name().is_some_and(|n| {
        let n = n.to_string_lossy();
        n.ends_with(MANUAL_SUFFIX) || n.ends_with(INPUT_SUFFIX)
    })
}

/// How `record_dir` names a manual API command and an input's level.
pub const MANUAL_SUFFIX: &str = "-manual.json";
pub const INPUT_SUFFIX: &str = "-input.json";

/// Read capture files and directories (their `*.xml` posts, `*-manual.json`
/// API commands and `*-input.json` input levels, in receive order).
pub fn load_posts(paths: &[PathBuf]) -> anyhow::Result<Vec<Post>> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut in_dir: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("cannot read directory {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.is_file() && (is_xml(f) || is_manual(f)))
                .collect();
            // Receive order (`RecordName::order`): names sort that way
            // already; other files keep name order after the recorded ones.
            in_dir.sort_by_cached_key(|f| {
                let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                (RecordName::parse(&name).map(|r| r.order()).unwrap_or((i64::MAX, 0)), name)
            });
            files.extend(in_dir);
        } else {
            files.push(p.clone());
        }
    }
    let mut posts = Vec::with_capacity(files.len());
    for f in files {
        let body = std::fs::read(&f).with_context(|| format!("cannot read {}", f.display()))?;
        let label = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let record = RecordName::parse(&label);
        posts.push(Post { label, record, body });
    }
    Ok(posts)
}

/// Decode posts and place them in time: the receive time in the file name,
/// else the event's own time, else 100 ms after the previous post.
pub fn decode_posts(posts: &[Post], site: &SiteConfig) -> Vec<Input> {
    let mut inputs = Vec::with_capacity(posts.len());
    let mut prev: Option<DateTime<Utc>> = None;
    for p in posts {
        let event = if p.label.ends_with(MANUAL_SUFFIX) {
            serde_json::from_slice::<ManualRecord>(&p.body)
                .map_err(|e| format!("not a manual command record: {e}"))
                .and_then(|m| Ok(InputKind::Manual(m.relay.clone(), m.request()?)))
        } else if p.label.ends_with(INPUT_SUFFIX) {
            serde_json::from_slice::<InputRecord>(&p.body)
                .map(|r| InputKind::Input(r.input, r.on))
                .map_err(|e| format!("not an input record: {e}"))
        } else {
            crate::decode::decode(&p.body).map(InputKind::Post).map_err(|e| e.to_string())
        };
        let from_event = event.as_ref().ok().and_then(|e| match e {
            InputKind::Post(e) => e.time,
            InputKind::Manual(..) | InputKind::Input(..) => None,
        });
        let from_event = from_event.and_then(|t| match t {
            DeviceTime::UnixMicros(us) => Utc.timestamp_millis_opt(us.div_euclid(1000)).single(),
            DeviceTime::Local(naive) => {
                site.timezone.from_local_datetime(&naive).earliest().map(|d| d.with_timezone(&Utc))
            }
        });
        let recorded = p.record.map(|r| r.timeline_ms());
        let wall = recorded
            .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
            .or(from_event)
            .unwrap_or_else(|| {
                prev.and_then(|t| t.checked_add_signed(chrono::Duration::milliseconds(100)))
                    .unwrap_or_default()
            });
        prev = Some(wall);
        inputs.push(Input { label: p.label.clone(), wall, source: p.record.and_then(|r| r.source), event });
    }
    // A capture whose every name carries its run and monotonic time is in
    // receive order already. Anything else is ordered by time; stable, so
    // posts with equal times keep file (and so sequence) order.
    if !posts.iter().all(|p| p.record.is_some_and(|r| r.mono_ms.is_some())) {
        inputs.sort_by_key(|i| i.wall);
    }
    inputs
}

/// Replay recorded posts through decode and the rules.
pub fn replay(config: &Config, posts: &[Post]) -> Timeline {
    replay_why(config, posts, None)
}

/// Replay, also keeping rule `why`'s verdict on every event.
pub fn replay_why(config: &Config, posts: &[Post], why: Option<&str>) -> Timeline {
    replay_started(config, &decode_posts(posts, &config.site), why, run_start(posts))
}

/// When the daemon that recorded the first post started, if its name says.
fn run_start(posts: &[Post]) -> Option<DateTime<Utc>> {
    let ms = posts.iter().filter_map(|p| p.record).min_by_key(|r| r.order())?.run_ms?;
    Utc.timestamp_millis_opt(ms).single()
}

/// The daemon's core on a virtual clock: engine, controller, device registry.
struct Core<'a> {
    engine: Engine,
    controller: Controller,
    record: crate::relays::MockRecord,
    devices: Devices,
    config: &'a Config,
    why: WhyLog,
    traced: Option<&'a str>,
    /// Controller instants run this far ahead of "ms since the first post":
    /// the virtual daemon started this long before it.
    lead: Duration,
    origin: DateTime<Utc>,
    seen: usize,
    /// Silence is only detected between posts of the capture: its end is
    /// the end of the recording, not of the cameras.
    watch_silence: bool,
}

impl Core<'_> {
    fn now(&self, at: Instant) -> Now {
        let since_first = at.as_millis().saturating_sub(self.lead.as_millis() as u64);
        Now {
            at,
            wall: self
                .origin
                .checked_add_signed(chrono::Duration::milliseconds(since_first.min(i64::MAX as u64) as i64))
                .unwrap_or(self.origin),
        }
    }

    fn apply(&mut self, commands: Vec<Command>, now: Now, tl: &mut Timeline) {
        if self.traced.is_some() {
            self.why.record(&self.engine);
        }
        // As the daemon: another node's relay is not this controller's.
        let local: Vec<(usize, &Command)> = commands
            .iter()
            .enumerate()
            .filter(|(_, c)| crate::config::remote_relay(&c.relay).is_none())
            .collect();
        let all: Vec<&Command> = local.iter().map(|(_, c)| *c).collect();
        let effects = self.controller.apply_all(&all, now.at);
        for ((index, c), effect) in local.into_iter().zip(effects) {
            let Some(reason) = effect else { continue };
            if !crate::relays::controller::is_delay(reason) {
                self.engine.held_back(index);
            }
            if self.traced.is_some() {
                let detail = (reason == "relay condition")
                    .then(|| crate::config::describe_relay_conditions(&c.requires));
                self.why.relay_did_nothing(&c.why.rule, reason, detail.as_deref());
            }
        }
        for c in commands {
            let mut command = c;
            // Commands are shown on the capture's own timeline, like switches.
            if let crate::command::Action::Hold { until } = &mut command.action {
                *until = self.shown(*until);
            }
            tl.commands.push(TimedCommand { at: self.shown(now.at), wall: now.wall, command });
        }
        self.settle(now, tl);
    }

    /// Let the controller catch up to `now`, and collect what switched.
    fn settle(&mut self, now: Now, tl: &mut Timeline) {
        self.controller.tick(now.at);
        for news in self.engine.take_input_news() {
            let text = match news {
                crate::engine::InputNews::DidNotMove { relay, input, .. } => {
                    format!("relay {relay:?} switched on but input {input:?} did not follow: it did not move")
                }
                crate::engine::InputNews::Tailgating { input, vehicles, .. } => {
                    format!("tailgating: {vehicles} vehicles while input {input:?} says the gate is open")
                }
            };
            tl.notices.push(Notice { at: self.shown(now.at), wall: now.wall, text });
        }
        for n in self.engine.take_notices() {
            let what = if n.stationary { "is stationary" } else { "moves again" };
            tl.notices.push(Notice {
                at: self.shown(now.at),
                wall: now.wall,
                text: format!("target {} ({}) on camera {:?} {what}", n.target, n.class.word(), n.camera),
            });
        }
        let changes = self.record.changes_since(self.seen);
        self.seen += changes.len();
        if changes.is_empty() {
            return;
        }
        let status = self.controller.status(now.at);
        for ch in changes {
            let at = ch.at();
            // As the daemon: a relay with `confirm` now waits for its input.
            self.engine.relay_switched(&ch.relay, ch.on, at);
            let why = if ch.on { status.get(ch.index).and_then(|s| s.why.clone()) } else { None };
            tl.transitions.push(Transition {
                at: self.shown(at),
                wall: self.now(at).wall,
                relay: ch.relay,
                on: ch.on,
                reason: ch.reason,
                why,
            });
        }
    }

    fn shown(&self, at: Instant) -> Instant {
        Instant::from_millis(at.as_millis().saturating_sub(self.lead.as_millis() as u64))
    }

    fn next_deadline(&self) -> Option<Instant> {
        let silence = if self.watch_silence {
            self.devices.next_offline(self.config.server.offline_after)
        } else {
            None
        };
        [self.engine.next_deadline(), self.controller.next_deadline(), silence].into_iter().flatten().min()
    }

    /// Run every timer due before `until` (or at it, when `inclusive`).
    fn advance(&mut self, until: Instant, inclusive: bool, tl: &mut Timeline) {
        // Bounded: each round retires at least one deadline.
        for _ in 0..10_000_000 {
            match self.next_deadline() {
                Some(d) if d < until || (inclusive && d == until) => self.timers(d, tl),
                _ => break,
            }
        }
    }

    fn timers(&mut self, at: Instant, tl: &mut Timeline) {
        let now = self.now(at);
        if self.watch_silence {
            for device in self.devices.check_offline(at, self.config.server.offline_after) {
                let event = Event::bare(EventKind::DeviceOffline, device);
                let commands = self.engine.handle(&event, None, now);
                self.trace(Some(&event), now, tl);
                self.apply(commands, now, tl);
            }
        }
        let commands = self.engine.tick(now);
        self.trace(None, now, tl);
        self.apply(commands, now, tl);
    }

    fn post(&mut self, ev: &Event, source: Option<IpAddr>, now: Now, tl: &mut Timeline) {
        self.devices.observe(ev, source.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)), now);
        for device in self.devices.take_back_online() {
            let event = Event::bare(EventKind::DeviceOnline, device);
            let commands = self.engine.handle(&event, None, now);
            self.trace(Some(&event), now, tl);
            self.apply(commands, now, tl);
        }
        let commands = self.engine.handle(ev, source, now);
        self.trace(Some(ev), now, tl);
        self.apply(commands, now, tl);
    }

    /// `--why`: the traced rule's verdict on what the engine just handled
    /// (`ev`: an event; `None`: a timer, where silence is no news).
    fn trace(&mut self, ev: Option<&Event>, now: Now, tl: &mut Timeline) {
        let Some(rule) = self.traced else { return };
        let Some(index) = (0..).map_while(|i| self.engine.rule_name(i)).position(|n| n == rule) else {
            return;
        };
        match self.engine.verdicts().iter().find(|v| v.rule == index).copied() {
            Some(v) => tl.why.push(WhyLine {
                at: self.shown(now.at),
                wall: now.wall,
                entry: WhyEntry {
                    plate: self.engine.plate_read().filter(|_| v.event == "plate").map(str::to_string),
                    detail: self.engine.verdict_detail(index).map(str::to_string),
                    count: v.count,
                    ..WhyEntry::new(
                        self.shown(v.at),
                        v.event,
                        v.camera.and_then(|c| self.engine.camera_name(c)).map(str::to_string),
                        v.target,
                        v.verdict,
                    )
                },
            }),
            None => tl.why_other_events += u64::from(ev.is_some_and(|e| e.kind != EventKind::Keepalive)),
        }
    }

    /// What the controller did with the traced rule's last command.
    fn note_relay_effects(&mut self, tl: &mut Timeline) {
        let Some(rule) = self.traced else { return };
        let entries = self.why.of(rule);
        if let (Some(last), Some(line)) = (entries.last(), tl.why.last_mut()) {
            if line.entry.verdict == last.verdict && line.entry.relay.is_none() {
                line.entry.relay = last.relay;
                line.entry.relay_detail = last.relay_detail.clone();
            }
        }
    }
}

/// Replay already decoded inputs (sorted by time) through the rules; with
/// `why`, keep that rule's verdict on every event.
pub fn replay_inputs(config: &Config, inputs: &[Input], why: Option<&str>) -> Timeline {
    replay_started(config, inputs, why, None)
}

/// Replay with the virtual daemon started at `started` (the recorded run's
/// start), as the live daemon was: its start counts as a switch-off for
/// `min_off`, so a detection in its first second switches when it did live.
/// Without it, the daemon is taken to have run long enough before the first
/// input that startup's `min_off` is over.
fn replay_started(
    config: &Config,
    inputs: &[Input],
    why: Option<&str>,
    started: Option<DateTime<Utc>>,
) -> Timeline {
    let mut tl = Timeline { posts: inputs.len(), ..Timeline::default() };
    let Some(first) = inputs.first() else { return tl };
    let backend = match MockBackend::new(&config.relays, None) {
        Ok(b) => b,
        Err(e) => {
            tl.errors.push(("relays".into(), e.to_string()));
            return tl;
        }
    };
    let record = backend.record();
    let controller = match Controller::new(&config.relays, Box::new(backend), Instant::ZERO) {
        Ok(c) => c,
        Err(e) => {
            tl.errors.push(("relays".into(), e.to_string()));
            return tl;
        }
    };
    let lead = match started.map(|s| first.wall - s) {
        Some(d) if d >= chrono::TimeDelta::zero() => d.to_std().unwrap_or_default(),
        _ => {
            config.relays.iter().map(|r| r.min_off.max(r.interlock_wait)).max().unwrap_or_default()
                + Duration::from_millis(1)
        }
    };
    let devices = Devices::new();
    devices.set_cameras(&config.cameras);
    let mut core = Core {
        engine: Engine::new(config),
        seen: record.len(),
        controller,
        record,
        devices,
        config,
        why: WhyLog::new(),
        traced: why,
        lead,
        origin: first.wall,
        watch_silence: true,
    };
    tl.start = Some(first.wall);
    let origin = first.wall;
    let instant_of =
        |wall: DateTime<Utc>| Instant::from_millis((wall - origin).num_milliseconds().max(0) as u64) + lead;
    for input in inputs {
        let at = instant_of(input.wall);
        core.advance(at, false, &mut tl);
        let now = core.now(at);
        match &input.event {
            Ok(InputKind::Post(ev)) => {
                tl.events += 1;
                core.post(ev, input.source, now, &mut tl);
            }
            Ok(InputKind::Manual(relay, request)) => {
                tl.manual += 1;
                if let Err(e) = core.controller.manual(relay, *request, now.at) {
                    tl.errors.push((input.label.clone(), e.to_string()));
                }
                core.settle(now, &mut tl);
            }
            Ok(InputKind::Input(name, on)) => {
                tl.inputs += 1;
                match config.inputs.iter().position(|i| i.name == *name) {
                    Some(index) => {
                        let text = format!("input {name:?} {}", if *on { "on" } else { "off" });
                        tl.notices.push(Notice { at: core.shown(now.at), wall: now.wall, text });
                        let commands = core.engine.input(index, *on, now);
                        core.trace(None, now, &mut tl);
                        core.apply(commands, now, &mut tl);
                    }
                    None => tl.errors.push((input.label.clone(), format!("no [[input]] named {name:?}"))),
                }
            }
            Err(reason) => tl.errors.push((input.label.clone(), reason.clone())),
        }
        core.note_relay_effects(&mut tl);
    }
    // The timers after the last post: a day at most, so a latch without an
    // end does not replay for ever (max_on is at most 24 h).
    let end =
        inputs.last().map(|i| instant_of(i.wall)).unwrap_or(Instant::ZERO) + Duration::from_secs(86_400);
    core.watch_silence = false;
    core.advance(end, true, &mut tl);
    tl
}

/// What a post in a capture is: a camera's post, or a manual API command the daemon recorded.
// Nearly every input is a post: boxing the common case to shrink the rare one buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum InputKind {
    Post(Event),
    Manual(String, Manual),
    /// An input's debounced level: its first reading or a change.
    Input(String, bool),
}

/// An input's level as `record_dir` keeps it (`...-input.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct InputRecord {
    pub input: String,
    pub on: bool,
}

/// A manual API command as `record_dir` keeps it (`...-manual.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct ManualRecord {
    pub relay: String,
    /// `on`, `off`, `pulse`, `release`.
    pub request: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
}

impl ManualRecord {
    pub fn new(relay: &str, request: Manual) -> ManualRecord {
        let (word, duration_ms) = match request {
            Manual::On => ("on", None),
            Manual::Off => ("off", None),
            Manual::Pulse(d) => ("pulse", Some(d.as_millis() as u64)),
            Manual::Release => ("release", None),
        };
        ManualRecord { relay: relay.to_string(), request: word.to_string(), duration_ms }
    }

    pub fn request(&self) -> Result<Manual, String> {
        match (self.request.as_str(), self.duration_ms) {
            ("on", _) => Ok(Manual::On),
            ("off", _) => Ok(Manual::Off),
            ("release", _) => Ok(Manual::Release),
            ("pulse", Some(ms)) if ms > 0 => Ok(Manual::Pulse(Duration::from_millis(ms))),
            (other, _) => {
                Err(format!("not a manual request: {other:?} (on, off, release, pulse with duration_ms)"))
            }
        }
    }
}

/// A target that became stationary or moves again.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notice {
    pub at: Instant,
    pub wall: DateTime<Utc>,
    pub text: String,
}

/// `--why`: the traced rule on one event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WhyLine {
    pub at: Instant,
    pub wall: DateTime<Utc>,
    #[serde(flatten)]
    pub entry: WhyEntry,
}

impl Timeline {
    /// The human timeline: one line per relay switch, local time of the site.
    pub fn to_text(&self, site: &SiteConfig) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let tz = site.timezone;
        let _ = writeln!(
            s,
            "{}, {}, {} not decoded, {}, {} (times in {})",
            crate::words::count(self.posts, "post"),
            crate::words::count(self.events, "event"),
            self.errors.len(),
            crate::words::count(self.commands.len(), "command"),
            crate::words::count(self.transitions.len(), "relay switch"),
            tz.name()
        );
        let width = self.transitions.iter().map(|t| t.relay.len()).max().unwrap_or(0);
        let stamp = |wall: &DateTime<Utc>, at: &Instant| {
            format!("{} {:>10}", wall.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S%.3f"), format!("+{at}"))
        };
        // Switches, then notes and verdicts at the same instant, in time order.
        let mut lines: Vec<(Instant, u8, usize, String)> = Vec::new();
        for (i, t) in self.transitions.iter().enumerate() {
            let line = format!(
                "{}  {:<width$}  {:<3}  {}",
                stamp(&t.wall, &t.at),
                t.relay,
                if t.on { "ON" } else { "OFF" },
                t.reason,
            );
            lines.push((t.at, 0, i, line));
        }
        for (i, n) in self.notices.iter().enumerate() {
            lines.push((n.at, 1, i, format!("{}  note: {}", stamp(&n.wall, &n.at), n.text)));
        }
        for (i, w) in self.why.iter().enumerate() {
            lines.push((w.at, 2, i, format!("{}  why: {}", stamp(&w.wall, &w.at), w.entry)));
        }
        lines.sort_by_key(|(at, kind, i, _)| (*at, *kind, *i));
        for (_, _, _, line) in lines {
            let _ = writeln!(s, "{line}");
        }
        if self.why_other_events > 0 {
            let _ =
                writeln!(s, "why: {} event(s) of kinds the rule does not listen to", self.why_other_events);
        }
        for (file, reason) in &self.errors {
            let _ = writeln!(s, "not decoded: {file}: {reason}");
        }
        s
    }

    /// JSON lines: every command and every transition in time order, then decode errors.
    pub fn to_json_lines(&self) -> String {
        #[derive(Serialize)]
        #[serde(tag = "type", rename_all = "snake_case")]
        enum Line<'a> {
            Command {
                at_ms: u64,
                time: String,
                #[serde(flatten)]
                command: &'a Command,
            },
            Switch {
                at_ms: u64,
                time: String,
                relay: &'a str,
                on: bool,
                reason: &'a str,
                why: &'a Option<Why>,
            },
            Error {
                file: &'a str,
                reason: &'a str,
            },
            Note {
                at_ms: u64,
                time: String,
                text: &'a str,
            },
            Why {
                at_ms: u64,
                time: String,
                rule_event: &'a WhyEntry,
            },
        }
        let mut lines: Vec<(u64, u8, String)> = Vec::new();
        let time = |w: &DateTime<Utc>| w.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        for c in &self.commands {
            let l = Line::Command { at_ms: c.at.as_millis(), time: time(&c.wall), command: &c.command };
            lines.push((c.at.as_millis(), 0, serde_json::to_string(&l).unwrap_or_default()));
        }
        for t in &self.transitions {
            let l = Line::Switch {
                at_ms: t.at.as_millis(),
                time: time(&t.wall),
                relay: &t.relay,
                on: t.on,
                reason: &t.reason,
                why: &t.why,
            };
            lines.push((t.at.as_millis(), 1, serde_json::to_string(&l).unwrap_or_default()));
        }
        for n in &self.notices {
            let l = Line::Note { at_ms: n.at.as_millis(), time: time(&n.wall), text: &n.text };
            lines.push((n.at.as_millis(), 2, serde_json::to_string(&l).unwrap_or_default()));
        }
        for w in &self.why {
            let l = Line::Why { at_ms: w.at.as_millis(), time: time(&w.wall), rule_event: &w.entry };
            lines.push((w.at.as_millis(), 3, serde_json::to_string(&l).unwrap_or_default()));
        }
        lines.sort_by_key(|(at, order, _)| (*at, *order));
        let mut out: Vec<String> = lines.into_iter().map(|(_, _, l)| l).collect();
        for (file, reason) in &self.errors {
            out.push(serde_json::to_string(&Line::Error { file, reason }).unwrap_or_default());
        }
        let mut s = out.join("\n");
        s.push('\n');
        s
    }
}

/// `camrelay replay --config FILE CAPTURE... [--json] [--why RULE]`.
pub fn run_cli(
    config: &Path,
    captures: &[PathBuf],
    json: bool,
    why: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let cfg = crate::config::load(config)?;
    let posts = load_posts(captures)?;
    if posts.is_empty() {
        anyhow::bail!(
            "no posts found in {}",
            captures.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        );
    }
    if let Some(rule) = why {
        if !cfg.rules.iter().any(|r| r.name == rule) {
            let names: Vec<String> = cfg.rules.iter().map(|r| format!("{:?}", r.name)).collect();
            anyhow::bail!(
                "--why: no enabled rule named {rule:?} in {}; rules: {}",
                config.display(),
                names.join(", ")
            );
        }
    }
    let tl = replay_why(&cfg, &posts, why);
    if json {
        print!("{}", tl.to_json_lines());
    } else {
        print!("{}", tl.to_text(&cfg.site));
    }
    Ok(ExitCode::SUCCESS)
}
