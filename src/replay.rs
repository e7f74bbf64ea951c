//! `camrelay replay`: recorded posts through decode and the engine on a virtual clock.
//!
//! Owns reading captures (the ingest `record_dir` format, or plain XML files),
//! the virtual clock, and a minimal model of the relays (on while any hold is
//! live, a pulse runs or a latch is set; cut at `max_on`) so it can print
//! on/off transitions with their explanations. The real relay controller
//! additionally enforces `min_off` and interlocks, which this model does not.
//! Never touches GPIO or the network; the only I/O is reading the capture files.

use crate::clock::{Instant, Now};
use crate::command::{Action, Command, Retrigger, Why};
use crate::config::{fmt_duration, Config, SiteConfig};
use crate::decode::{DeviceTime, Event};
use crate::engine::Engine;
use crate::ingest::record::RecordName;
use anyhow::Context as _;
use chrono::{DateTime, TimeZone, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::IpAddr;
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
    /// The event, or why the post could not be decoded.
    pub event: Result<Event, String>,
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
}

/// Read capture files and directories (their `*.xml` files, sorted by name).
pub fn load_posts(paths: &[PathBuf]) -> anyhow::Result<Vec<Post>> {
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut in_dir: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("cannot read directory {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.is_file() && f.extension().is_some_and(|x| x.eq_ignore_ascii_case("xml")))
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
        let event = crate::decode::decode(&p.body).map_err(|e| e.to_string());
        let from_event = event.as_ref().ok().and_then(|e| e.time).and_then(|t| match t {
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
    replay_inputs(config, &decode_posts(posts, &config.site))
}

/// Replay already decoded inputs (sorted by time) through the rules.
pub fn replay_inputs(config: &Config, inputs: &[Input]) -> Timeline {
    let mut engine = Engine::new(config);
    let mut model = RelayModel::new(config);
    let mut tl = Timeline { posts: inputs.len(), ..Timeline::default() };
    let Some(first) = inputs.first() else { return tl };
    let origin = first.wall;
    tl.start = Some(origin);
    let clock = |at: Instant| Now {
        at,
        wall: origin
            .checked_add_signed(chrono::Duration::milliseconds(at.as_millis().min(i64::MAX as u64) as i64))
            .unwrap_or(origin),
    };
    let instant_of =
        |wall: DateTime<Utc>| Instant::from_millis((wall - origin).num_milliseconds().max(0) as u64);

    let advance =
        |engine: &mut Engine, model: &mut RelayModel, tl: &mut Timeline, until: Instant, inclusive: bool| {
            // Bounded: each round retires at least one deadline.
            for _ in 0..1_000_000 {
                let next = [engine.next_deadline(), model.next_deadline()].into_iter().flatten().min();
                match next {
                    Some(d) if d < until || (inclusive && d == until) => {
                        let now = clock(d);
                        let cmds = engine.tick(now);
                        record(tl, model, cmds, now);
                        model.settle(now, &mut tl.transitions);
                    }
                    _ => break,
                }
            }
        };

    for input in inputs {
        let at = instant_of(input.wall);
        advance(&mut engine, &mut model, &mut tl, at, false);
        let now = clock(at);
        match &input.event {
            Ok(ev) => {
                tl.events += 1;
                let cmds = engine.handle(ev, input.source, now);
                record(&mut tl, &mut model, cmds, now);
            }
            Err(reason) => tl.errors.push((input.label.clone(), reason.clone())),
        }
        model.settle(now, &mut tl.transitions);
    }
    advance(&mut engine, &mut model, &mut tl, Instant::from_millis(u64::MAX), false);
    tl
}

fn record(tl: &mut Timeline, model: &mut RelayModel, cmds: Vec<Command>, now: Now) {
    for c in cmds {
        model.apply(&c, now, &mut tl.transitions);
        tl.commands.push(TimedCommand { at: now.at, wall: now.wall, command: c });
    }
}

/// The relays as `replay` sees them: the rules' claims and the `max_on` cut.
#[derive(Debug, Clone)]
pub struct RelayModel {
    relays: Vec<ModelRelay>,
}

#[derive(Debug, Clone)]
struct ModelRelay {
    name: String,
    max_on: Duration,
    /// Hold deadline per rule.
    holds: BTreeMap<String, Instant>,
    pulse_until: Option<Instant>,
    pulse_why: Option<Why>,
    latched: bool,
    on: bool,
    on_since: Instant,
}

impl RelayModel {
    pub fn new(config: &Config) -> RelayModel {
        RelayModel {
            relays: config
                .relays
                .iter()
                .map(|r| ModelRelay {
                    name: r.name.clone(),
                    max_on: r.max_on,
                    holds: BTreeMap::new(),
                    pulse_until: None,
                    pulse_why: None,
                    latched: false,
                    on: false,
                    on_since: Instant::ZERO,
                })
                .collect(),
        }
    }

    /// Is the relay on now?
    pub fn is_on(&self, relay: &str) -> bool {
        self.relays.iter().any(|r| r.name == relay && r.on)
    }

    /// Apply one command at `now`, recording a transition if the relay switches.
    pub fn apply(&mut self, c: &Command, now: Now, out: &mut Vec<Transition>) {
        let Some(r) = self.relays.iter_mut().find(|r| r.name == c.relay) else { return };
        let mut off_reason = None;
        match c.action {
            Action::Hold { until } => {
                if until > now.at {
                    r.holds.insert(c.why.rule.clone(), until);
                }
            }
            Action::Pulse { duration, retrigger } => {
                let running = r.pulse_until.is_some_and(|u| u > now.at);
                if !running || retrigger == Retrigger::Restart {
                    r.pulse_until = Some(now.at + duration);
                    r.pulse_why = Some(c.why.clone());
                }
            }
            Action::On => r.latched = true,
            Action::Off => {
                r.holds.clear();
                r.pulse_until = None;
                r.latched = false;
                off_reason = Some(format!("switched off by rule \"{}\"", c.why.rule));
            }
            Action::Toggle => {
                r.latched = !r.latched;
                if !r.latched {
                    off_reason = Some(format!("toggled off by rule \"{}\"", c.why.rule));
                }
            }
        }
        let want = r.wants_on(now.at);
        if want != r.on {
            r.on = want;
            if want {
                r.on_since = now.at;
            }
            out.push(Transition {
                at: now.at,
                wall: now.wall,
                relay: r.name.clone(),
                on: want,
                reason: if want {
                    c.why.to_string()
                } else {
                    off_reason.unwrap_or_else(|| c.why.to_string())
                },
                why: Some(c.why.clone()),
            });
        }
    }

    /// Retire claims that ended at or before `now`, and cut relays at `max_on`.
    pub fn settle(&mut self, now: Now, out: &mut Vec<Transition>) {
        for r in self.relays.iter_mut() {
            if !r.on {
                r.holds.retain(|_, u| *u > now.at);
                continue;
            }
            if r.on_since + r.max_on <= now.at {
                r.holds.clear();
                r.pulse_until = None;
                r.latched = false;
                r.on = false;
                out.push(Transition {
                    at: now.at,
                    wall: now.wall,
                    relay: r.name.clone(),
                    on: false,
                    reason: format!("max_on {} reached: safety cut-off", fmt_duration(r.max_on)),
                    why: None,
                });
                continue;
            }
            let ended: Vec<String> =
                r.holds.iter().filter(|(_, u)| **u <= now.at).map(|(k, _)| k.clone()).collect();
            r.holds.retain(|_, u| *u > now.at);
            let pulse_ended = r.pulse_until.is_some_and(|u| u <= now.at);
            if pulse_ended {
                r.pulse_until = None;
            }
            if !r.wants_on(now.at) {
                r.on = false;
                let reason = if pulse_ended {
                    let rule = r.pulse_why.as_ref().map(|w| w.rule.as_str()).unwrap_or("");
                    format!("pulse of rule \"{rule}\" ended")
                } else if let Some(rule) = ended.last() {
                    format!("hold of rule \"{rule}\" ended")
                } else {
                    "released".to_string()
                };
                out.push(Transition {
                    at: now.at,
                    wall: now.wall,
                    relay: r.name.clone(),
                    on: false,
                    reason,
                    why: None,
                });
            }
        }
    }

    /// The next instant at which `settle` may switch something.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.relays
            .iter()
            .filter(|r| r.on)
            .flat_map(|r| {
                r.holds.values().copied().chain(r.pulse_until).chain(std::iter::once(r.on_since + r.max_on))
            })
            .min()
    }
}

impl ModelRelay {
    fn wants_on(&self, at: Instant) -> bool {
        self.latched || self.pulse_until.is_some_and(|u| u > at) || self.holds.values().any(|u| *u > at)
    }
}

impl Timeline {
    /// The human timeline: one line per relay switch, local time of the site.
    pub fn to_text(&self, site: &SiteConfig) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        let tz = site.timezone;
        let _ = writeln!(
            s,
            "{} posts, {} events, {} not decoded, {} commands, {} relay switches (times in {})",
            self.posts,
            self.events,
            self.errors.len(),
            self.commands.len(),
            self.transitions.len(),
            tz.name()
        );
        let width = self.transitions.iter().map(|t| t.relay.len()).max().unwrap_or(0);
        for t in &self.transitions {
            let _ = writeln!(
                s,
                "{} {:>10}  {:<width$}  {:<3}  {}",
                t.wall.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S%.3f"),
                format!("+{}", t.at),
                t.relay,
                if t.on { "ON" } else { "OFF" },
                t.reason,
            );
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

/// `camrelay replay --config FILE CAPTURE... [--json]`.
pub fn run_cli(config: &Path, captures: &[PathBuf], json: bool) -> anyhow::Result<ExitCode> {
    let cfg = crate::config::load(config)?;
    let posts = load_posts(captures)?;
    if posts.is_empty() {
        anyhow::bail!(
            "no posts found in {}",
            captures.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        );
    }
    let tl = replay(&cfg, &posts);
    if json {
        print!("{}", tl.to_json_lines());
    } else {
        print!("{}", tl.to_text(&cfg.site));
    }
    Ok(ExitCode::SUCCESS)
}
