//! What a wrong credential costs: each source may have a wrong token checked
//! at most [`RATE`] time a second (after a burst of [`BURST`]); past that
//! its credentials are not even compared, it is answered 429 at once.
//!
//! Owns the per-source budgets, the counters and the rate-limited log line.
//! Sources are told apart by address (an IPv6 /64 counts as one source, as
//! it is one household), so a guesser spends only its own budget and the
//! owner, coming from another address, is never locked out. A right
//! credential costs nothing. Answers are never delayed: a delayed answer
//! holds a connection, and held connections are what lock an API.
//! It must never compare a token itself (the caller does, inside
//! [`Guard::check`], so a throttled source's guess is never tested).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Wrong credentials a source may have checked per second, in the long run
/// (with the burst, at most 1.5 a second over any 10 s).
pub const RATE: f64 = 1.0;
/// Wrong credentials a source may have checked at once before the rate applies
/// (a person mistyping a few times never meets the limit).
pub const BURST: f64 = 5.0;
/// A source's wrong credentials are logged at most once per this.
pub const LOG_EVERY: Duration = Duration::from_secs(60);
/// Sources remembered at most; a full table forgets the quietest first.
const MAX_SOURCES: usize = 4096;

/// The outcome of a credential check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Right,
    Wrong,
    /// Not compared: the source spent its budget; try again after this.
    Throttled(Duration),
}

#[derive(Debug)]
struct Source {
    tokens: f64,
    at: Instant,
    /// Wrong or throttled attempts since the last log line.
    unlogged: u64,
    logged_at: Option<Instant>,
}

/// Budgets of every source that sent a wrong credential.
#[derive(Debug, Default)]
pub struct Guard {
    sources: Mutex<HashMap<IpAddr, Source>>,
    wrong: AtomicU64,
    throttled: AtomicU64,
}

/// The source a peer address counts as.
fn source_of(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

impl Guard {
    /// Check a credential from `peer` (`what`: where, for the log line):
    /// `right` runs only when the source still has budget, and a wrong
    /// answer spends one unit of it, all under one lock, so parallel guesses
    /// cannot all pass the budget check before any is charged.
    pub fn check(&self, peer: IpAddr, what: &str, now: Instant, right: impl FnOnce() -> bool) -> Verdict {
        let key = source_of(peer);
        let mut sources = self.sources.lock().unwrap_or_else(|p| p.into_inner());
        let verdict = match sources.get_mut(&key) {
            None => {
                if right() {
                    return Verdict::Right;
                }
                Verdict::Wrong
            }
            Some(s) => {
                s.tokens = (s.tokens + now.saturating_duration_since(s.at).as_secs_f64() * RATE).min(BURST);
                s.at = now;
                if s.tokens < 1.0 {
                    Verdict::Throttled(Duration::from_secs_f64((1.0 - s.tokens) / RATE))
                } else if right() {
                    return Verdict::Right;
                } else {
                    Verdict::Wrong
                }
            }
        };
        if sources.len() >= MAX_SOURCES && !sources.contains_key(&key) {
            forget_quietest(&mut sources, now);
        }
        let s = sources.entry(key).or_insert(Source { tokens: BURST, at: now, unlogged: 0, logged_at: None });
        match verdict {
            Verdict::Wrong => {
                s.tokens -= 1.0;
                self.wrong.fetch_add(1, Relaxed);
            }
            _ => {
                self.throttled.fetch_add(1, Relaxed);
            }
        }
        s.unlogged += 1;
        let due = match s.logged_at {
            None => true,
            Some(t) => now.saturating_duration_since(t) >= LOG_EVERY,
        };
        if due {
            tracing::warn!(
                source = %peer.to_canonical(),
                on = what,
                attempts = s.unlogged,
                "API: wrong token or session; each source may try {RATE} a second (more are refused with 429 and not checked)"
            );
            s.logged_at = Some(now);
            s.unlogged = 0;
        }
        verdict
    }

    /// Wrong credentials checked, and attempts refused unchecked, since start.
    pub fn counts(&self) -> (u64, u64) {
        (self.wrong.load(Relaxed), self.throttled.load(Relaxed))
    }
}

/// Make room: sources whose budget is whole again are forgotten first, then the oldest.
fn forget_quietest(sources: &mut HashMap<IpAddr, Source>, now: Instant) {
    let whole = Duration::from_secs_f64(BURST / RATE);
    sources.retain(|_, s| now.saturating_duration_since(s.at) < whole);
    while sources.len() >= MAX_SOURCES {
        let Some(oldest) = sources.iter().min_by_key(|(_, s)| s.at).map(|(k, _)| *k) else { break };
        sources.remove(&oldest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_guesser_gets_a_burst_then_two_a_second_and_the_owner_elsewhere_is_never_throttled() {
        let g = Guard::default();
        let t0 = Instant::now();
        let mut checked = 0;
        // 1,000 guesses over 10 s from one source.
        for i in 0..1000u64 {
            let now = t0 + Duration::from_millis(i * 10);
            let mut compared = false;
            let v = g.check(ip("127.0.0.2"), "test", now, || {
                compared = true;
                false
            });
            assert_eq!(compared, v == Verdict::Wrong, "a throttled guess is never compared");
            checked += usize::from(v == Verdict::Wrong);
        }
        assert!((14..=16).contains(&checked), "burst 5 + 1/s × 10 s, got {checked}");
        assert_eq!(g.counts(), (checked as u64, 1000 - checked as u64));
        // The owner, from another address, meanwhile: right at once.
        assert_eq!(g.check(ip("127.0.0.1"), "test", t0 + Duration::from_secs(5), || true), Verdict::Right);
        // A right token from the guessing source waits like its guesses.
        let v = g.check(ip("127.0.0.2"), "test", t0 + Duration::from_millis(9_995), || true);
        assert!(matches!(v, Verdict::Throttled(_)), "{v:?}");
        // Quiet for its budget's refill time, it is whole again.
        let later = t0 + Duration::from_secs(13);
        assert_eq!(g.check(ip("127.0.0.2"), "test", later, || true), Verdict::Right);
    }

    #[test]
    fn one_ipv6_household_is_one_source_and_the_table_is_bounded() {
        let g = Guard::default();
        let t0 = Instant::now();
        for i in 0..6 {
            g.check(ip(&format!("2001:db8:1:2::{i}")), "test", t0, || false);
        }
        assert!(matches!(g.check(ip("2001:db8:1:2::99"), "test", t0, || true), Verdict::Throttled(_)));
        for i in 0..(MAX_SOURCES as u32 + 10) {
            g.check(IpAddr::from((0x0a00_0000u32 + i).to_be_bytes()), "test", t0, || false);
        }
        assert!(g.sources.lock().unwrap().len() <= MAX_SOURCES);
    }
}
