//! The in-memory backend: what camrelay would have done to the lines, recorded.
//!
//! Owns a timeline of line changes that tests read through [`MockRecord`], and
//! an optional `mock_log` file with one JSON object per change (the README demo
//! `tail -f`s it). It must never touch real hardware, and it records only
//! changes: writing the level a line already has leaves no entry, so the log is
//! the exact sequence of levels a real line would have gone through.

use super::{Backend, GpioError};
use crate::clock::Instant;
use crate::config::{LineRef, RelayConfig};
use serde::Serialize;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// One change of one line, as written to `mock_log`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LineChange {
    /// Relay name as configured.
    pub relay: String,
    /// The line as configured: an offset (number) or a line name (string).
    pub line: serde_json::Value,
    /// Logical state: relay energized.
    pub on: bool,
    /// Physical level, 0 or 1 (`active_low` inverts).
    pub level: u8,
    /// Monotonic milliseconds of the change (the controller's `Instant`).
    pub ms: u64,
    /// Why the line changed (`startup`, `max_on`, `rule "gate" on plate ...`).
    pub reason: String,
    /// Index of the relay in the configuration (not written to the log).
    #[serde(skip)]
    pub index: usize,
}

impl LineChange {
    pub fn at(&self) -> Instant {
        Instant::from_millis(self.ms)
    }
}

#[derive(Debug, Default)]
struct Shared {
    changes: Vec<LineChange>,
    /// Relays whose next writes fail (fault injection for tests).
    failing: Vec<usize>,
}

/// A cloneable view of the mock's timeline, kept by tests after the backend
/// is boxed and handed to the controller.
#[derive(Debug, Clone, Default)]
pub struct MockRecord(Arc<Mutex<Shared>>);

impl MockRecord {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        // A test that panicked while holding the lock must not hide the record from the next assertion.
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Every line change so far, in order.
    pub fn changes(&self) -> Vec<LineChange> {
        self.lock().changes.clone()
    }

    /// Changes after the first `skip` (e.g. skip the startup entries).
    pub fn changes_since(&self, skip: usize) -> Vec<LineChange> {
        self.lock().changes.iter().skip(skip).cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.lock().changes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().changes.is_empty()
    }

    /// Make every write to relay `index` fail (`true`) or succeed again (`false`).
    pub fn set_failing(&self, index: usize, failing: bool) {
        let mut s = self.lock();
        s.failing.retain(|&i| i != index);
        if failing {
            s.failing.push(index);
        }
    }
}

struct MockLine {
    name: String,
    line: serde_json::Value,
    active_low: bool,
    on: bool,
}

/// In-memory GPIO: every relay starts off.
pub struct MockBackend {
    lines: Vec<MockLine>,
    record: MockRecord,
    log: Option<(PathBuf, File)>,
}

impl MockBackend {
    /// All relays off, recorded with reason `startup` at instant zero (and
    /// appended to `log` when given; the file is created if missing).
    pub fn new(relays: &[RelayConfig], log: Option<&Path>) -> Result<MockBackend, GpioError> {
        MockBackend::open(relays, log, "startup")
    }

    /// Like [`MockBackend::new`], recording the opening drive-off with `reason`
    /// (`safe-state` when that command opens it).
    pub fn open(relays: &[RelayConfig], log: Option<&Path>, reason: &str) -> Result<MockBackend, GpioError> {
        let log = match log {
            Some(path) => {
                let file = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(|e| {
                    GpioError::Io { what: format!("mock_log {}", path.display()), message: e.to_string() }
                })?;
                Some((path.to_path_buf(), file))
            }
            None => None,
        };
        let lines = relays
            .iter()
            .map(|r| MockLine {
                name: r.name.clone(),
                line: match &r.line {
                    LineRef::Offset(o) => serde_json::Value::from(*o),
                    LineRef::Name(n) => serde_json::Value::from(n.as_str()),
                },
                active_low: r.active_low,
                on: false,
            })
            .collect();
        let mut backend = MockBackend { lines, record: MockRecord::default(), log };
        for index in 0..backend.lines.len() {
            backend.append(index, Instant::ZERO, reason)?;
        }
        Ok(backend)
    }

    /// A handle on the timeline that outlives boxing the backend.
    pub fn record(&self) -> MockRecord {
        self.record.clone()
    }

    fn append(&mut self, index: usize, at: Instant, reason: &str) -> Result<(), GpioError> {
        let l = &self.lines[index];
        let change = LineChange {
            relay: l.name.clone(),
            line: l.line.clone(),
            on: l.on,
            level: u8::from(l.on != l.active_low),
            ms: at.as_millis(),
            reason: reason.to_string(),
            index,
        };
        let json = serde_json::to_string(&change);
        self.record.lock().changes.push(change);
        if let Some((path, file)) = &mut self.log {
            let io = |e: &dyn std::fmt::Display| GpioError::Io {
                what: format!("mock_log {}", path.display()),
                message: e.to_string(),
            };
            let mut json = json.map_err(|e| io(&e))?;
            json.push('\n');
            // One write per line and a flush: readers tailing the file see whole lines at once.
            file.write_all(json.as_bytes()).map_err(|e| io(&e))?;
            file.flush().map_err(|e| io(&e))?;
        }
        Ok(())
    }
}

impl Backend for MockBackend {
    fn set(&mut self, index: usize, on: bool, at: Instant, reason: &str) -> Result<(), GpioError> {
        let Some(line) = self.lines.get_mut(index) else {
            return Err(GpioError::Io {
                what: format!("mock relay #{index}"),
                message: "no such relay".into(),
            });
        };
        if self.record.lock().failing.contains(&index) {
            return Err(GpioError::Io {
                what: format!("mock line of relay {:?}", line.name),
                message: "injected write failure".into(),
            });
        }
        if line.on == on {
            return Ok(());
        }
        line.on = on;
        self.append(index, at, reason)
    }

    fn describe(&self) -> String {
        let lines: Vec<String> = self.lines.iter().map(|l| l.line.to_string()).collect();
        match &self.log {
            Some((path, _)) => format!("mock lines {} (log {})", lines.join(","), path.display()),
            None => format!("mock lines {}", lines.join(",")),
        }
    }
}
