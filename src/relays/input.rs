//! Inputs: the lines camrelay reads (reed contacts, limit switches,
//! buttons), their edges and their debounce.
//!
//! Owns requesting each `[[input]]` line as an input with edge detection
//! (cdev: the kernel's debounce through uAPI v2, camrelay's own under v1;
//! mock: set through the API), a reader thread per request that turns the
//! kernel's edge events (with their timestamps) into [`Edge`]s on a channel
//! the core listens to, and [`Debouncer`], the pure debounce the core runs
//! where the kernel does not. It never drives a line, never evaluates a
//! rule, and a line it cannot read is an error at start, never a silent
//! "off".

use super::GpioError;
use crate::clock::{Instant, SystemClock};
use crate::config::{BackendKind, GpioConfig, InputConfig};
use std::time::Duration;
use tokio::sync::mpsc;

/// One raw edge of input `index` (config order): its new logical level and
/// when the kernel saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    pub index: usize,
    pub on: bool,
    pub at: Instant,
}

/// One `[[input]]` as status, the page and MQTT show it (`GET /api/status`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct InputStatus {
    pub name: String,
    /// `None` until the line was first read.
    pub on: Option<bool>,
    /// Since when, on the same clock as the relays' `since`.
    pub since_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_class: Option<String>,
    /// Debounced changes since start.
    pub changes: u64,
}

/// Edges queued for the core; a full queue makes the reader wait (the
/// kernel keeps buffering), so no level is ever lost for good.
const EDGE_QUEUE: usize = 1024;

/// The opened inputs.
pub struct InputLines {
    /// Each input's level when requested.
    pub initial: Vec<bool>,
    /// The debounce camrelay still has to do per input (zero where the
    /// kernel debounces).
    pub debounce: Vec<Duration>,
    /// Raw edges; `None` for the mock (the API sets its inputs).
    pub edges: Option<mpsc::Receiver<Edge>>,
    /// How they are read, for the log (`cdev /dev/gpiochip0 lines 3,4`).
    pub describe: String,
    /// Set through the API (`POST /api/inputs/{name}`): the mock backend.
    pub settable: bool,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl InputLines {
    pub(super) fn new(
        initial: Vec<bool>,
        debounce: Vec<Duration>,
        edges: Option<mpsc::Receiver<Edge>>,
        describe: String,
        settable: bool,
        stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> InputLines {
        InputLines { initial, debounce, edges, describe, settable, stop }
    }
}

impl Drop for InputLines {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Request every input's line under the configured backend.
pub fn open_inputs(
    gpio: &GpioConfig,
    inputs: &[InputConfig],
    clock: SystemClock,
) -> Result<InputLines, GpioError> {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    if inputs.is_empty() {
        return Ok(InputLines {
            initial: Vec::new(),
            debounce: Vec::new(),
            edges: None,
            describe: String::new(),
            settable: false,
            stop,
        });
    }
    match gpio.backend {
        BackendKind::Mock => Ok(InputLines {
            initial: vec![false; inputs.len()],
            debounce: inputs.iter().map(|i| i.debounce).collect(),
            edges: None,
            describe: format!("mock inputs {}", inputs.iter().map(|i| i.name.as_str()).collect::<Vec<_>>().join(", ")),
            settable: true,
            stop,
        }),
        BackendKind::Cdev => super::cdev::open_inputs(gpio, inputs, clock, stop),
        BackendKind::Rppal => Err(GpioError::Unavailable {
            backend: "rppal",
            hint: "[[input]] needs the cdev backend (backend = \"cdev\"), which reads the kernel's edge events; rppal only drives relays here".into(),
        }),
    }
}

/// A capacity for the edge channel.
pub(super) fn edge_channel() -> (mpsc::Sender<Edge>, mpsc::Receiver<Edge>) {
    mpsc::channel(EDGE_QUEUE)
}

/// Debounce of one input: a level counts once it has lasted `debounce`.
/// Pure: the caller gives every instant, so it runs on a virtual clock.
#[derive(Debug, Clone)]
pub struct Debouncer {
    debounce: Duration,
    /// The level last reported.
    stable: bool,
    /// The latest raw level and since when.
    raw: bool,
    changed: Instant,
}

impl Debouncer {
    pub fn new(debounce: Duration, initial: bool, at: Instant) -> Debouncer {
        Debouncer { debounce, stable: initial, raw: initial, changed: at }
    }

    /// A raw edge. Returns the new stable level when it counts at once (no debounce).
    pub fn edge(&mut self, on: bool, at: Instant) -> Option<bool> {
        if on != self.raw {
            self.raw = on;
            self.changed = at;
        }
        if self.debounce.is_zero() {
            return self.settle(at);
        }
        None
    }

    /// The new stable level, if the raw one has lasted long enough by `now`.
    pub fn settle(&mut self, now: Instant) -> Option<bool> {
        if self.raw != self.stable && now >= self.changed + self.debounce {
            self.stable = self.raw;
            return Some(self.stable);
        }
        None
    }

    /// When [`Debouncer::settle`] may next report, if a change is pending.
    pub fn deadline(&self) -> Option<Instant> {
        (self.raw != self.stable).then(|| self.changed + self.debounce)
    }

    /// When the pending level started (the edge that counts).
    pub fn since(&self) -> Instant {
        self.changed
    }

    pub fn level(&self) -> bool {
        self.stable
    }
}

/// A kernel timestamp (CLOCK_MONOTONIC, ns) on the daemon's clock.
#[cfg(target_os = "linux")]
pub(super) fn kernel_instant(clock: &SystemClock, timestamp_ns: u64) -> Instant {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes only the timespec it is given.
    let ok = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) } == 0;
    let now = clock.instant();
    if !ok {
        return now;
    }
    let now_ns = ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64;
    let age = Duration::from_nanos(now_ns.saturating_sub(timestamp_ns));
    if age.as_millis() as u64 > now.as_millis() {
        return Instant::from_millis(0);
    }
    now - age
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn a_level_counts_once_it_lasted_the_debounce() {
        let mut d = Debouncer::new(Duration::from_millis(30), false, at(0));
        assert_eq!(d.edge(true, at(100)), None);
        assert_eq!(d.deadline(), Some(at(130)));
        assert_eq!(d.settle(at(129)), None);
        assert_eq!(d.settle(at(130)), Some(true));
        assert_eq!(d.deadline(), None);
        assert!(d.level());
    }

    #[test]
    fn a_pulse_shorter_than_the_debounce_is_nothing() {
        let mut d = Debouncer::new(Duration::from_millis(50), false, at(0));
        d.edge(true, at(10));
        d.edge(false, at(40));
        assert_eq!(d.settle(at(200)), None);
        assert!(!d.level());
    }

    #[test]
    fn bouncing_at_1khz_for_10s_reports_one_change_after_it_stops() {
        let mut d = Debouncer::new(Duration::from_millis(30), false, at(0));
        let mut reported = Vec::new();
        for ms in 0..10_000u64 {
            d.edge(ms % 2 == 0, at(1000 + ms));
            if let Some(l) = d.settle(at(1000 + ms)) {
                reported.push(l);
            }
        }
        // Then the contact settles closed.
        d.edge(true, at(11_000));
        for ms in 11_000..11_100 {
            if let Some(l) = d.settle(at(ms)) {
                reported.push(l);
            }
        }
        assert_eq!(reported, vec![true]);
    }

    #[test]
    fn no_debounce_reports_every_change_at_once() {
        let mut d = Debouncer::new(Duration::ZERO, false, at(0));
        assert_eq!(d.edge(true, at(5)), Some(true));
        assert_eq!(d.edge(true, at(6)), None);
        assert_eq!(d.edge(false, at(7)), Some(false));
    }
}
