//! Rate limits for warnings a LAN client (or a full disk) could repeat
//! thousands of times a second: the journal must stay readable.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most `burst` log lines per `window`; the rest are counted and the
/// count is reported with the next line allowed.
#[derive(Debug)]
pub struct LogLimit {
    window: Duration,
    burst: u32,
    state: Mutex<(Option<Instant>, u32)>,
    suppressed: AtomicU64,
}

impl LogLimit {
    pub const fn new(window: Duration, burst: u32) -> Self {
        LogLimit { window, burst, state: Mutex::new((None, 0)), suppressed: AtomicU64::new(0) }
    }

    /// `Some(n)`: log now, mentioning the `n` lines suppressed since the last
    /// one. `None`: stay quiet.
    pub fn check(&self) -> Option<u64> {
        self.check_at(Instant::now())
    }

    pub fn check_at(&self, now: Instant) -> Option<u64> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let window_over = match st.0 {
            None => true,
            Some(start) => now.saturating_duration_since(start) >= self.window,
        };
        if window_over {
            *st = (Some(now), 0);
        }
        if st.1 < self.burst {
            st.1 += 1;
            Some(self.suppressed.swap(0, Ordering::Relaxed))
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_per_window_reports_suppressed_count() {
        let l = LogLimit::new(Duration::from_secs(60), 1);
        let t0 = Instant::now();
        assert_eq!(l.check_at(t0), Some(0));
        assert_eq!(l.check_at(t0 + Duration::from_secs(1)), None);
        assert_eq!(l.check_at(t0 + Duration::from_secs(59)), None);
        assert_eq!(l.check_at(t0 + Duration::from_secs(60)), Some(2));
        assert_eq!(l.check_at(t0 + Duration::from_secs(61)), None);
    }

    #[test]
    fn burst_allows_several() {
        let l = LogLimit::new(Duration::from_secs(10), 3);
        let t0 = Instant::now();
        assert_eq!(l.check_at(t0), Some(0));
        assert_eq!(l.check_at(t0), Some(0));
        assert_eq!(l.check_at(t0), Some(0));
        assert_eq!(l.check_at(t0), None);
        assert_eq!(l.check_at(t0 + Duration::from_secs(10)), Some(1));
    }
}
