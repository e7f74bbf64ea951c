//! Time as the engine and the relay controller see it: passed in, never read.
//!
//! Owns [`Instant`] (monotonic milliseconds since the daemon started, or since
//! the start of a replay) and [`Now`] (that instant plus the wall-clock time
//! used for schedules). Only the binary's runtime reads real clocks; everything
//! below it takes a `Now` so tests and `replay` drive time explicitly.

use std::fmt;
use std::ops::{Add, Sub};
use std::time::Duration;

/// A point on the monotonic timeline, in milliseconds since its origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize)]
pub struct Instant(u64);

impl Instant {
    pub const ZERO: Instant = Instant(0);

    pub const fn from_millis(ms: u64) -> Self {
        Instant(ms)
    }

    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Time from `earlier` to `self`, zero if `earlier` is later.
    pub fn since(self, earlier: Instant) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(d.as_millis().min(u64::MAX as u128) as u64))
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, d: Duration) -> Instant {
        Instant(self.0.saturating_sub(d.as_millis().min(u64::MAX as u128) as u64))
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}s", self.0 / 1000, self.0 % 1000)
    }
}

/// The current moment, both as a monotonic instant (timers) and as wall-clock
/// UTC (schedules, sun times). Both are supplied by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    pub at: Instant,
    pub wall: chrono::DateTime<chrono::Utc>,
}

impl Now {
    /// The wall-clock time of the timeline's zero (the daemon's start): what
    /// `since`/`until` in the status and the `run` of record names count from.
    pub fn origin_wall(&self) -> chrono::DateTime<chrono::Utc> {
        self.wall - chrono::Duration::milliseconds(i64::try_from(self.at.as_millis()).unwrap_or(i64::MAX))
    }
}

/// The real clocks, read only by the daemon's runtime (never by the engine or controller).
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    origin: std::time::Instant,
}

impl SystemClock {
    /// Start a monotonic timeline at zero now.
    pub fn start() -> Self {
        SystemClock { origin: std::time::Instant::now() }
    }

    pub fn now(&self) -> Now {
        Now { at: self.instant(), wall: chrono::Utc::now() }
    }

    pub fn instant(&self) -> Instant {
        Instant::from_millis(self.origin.elapsed().as_millis() as u64)
    }

    /// The real `std::time::Instant` a timeline instant corresponds to (for sleeping until it).
    pub fn to_std(&self, at: Instant) -> std::time::Instant {
        self.origin + std::time::Duration::from_millis(at.as_millis())
    }
}
