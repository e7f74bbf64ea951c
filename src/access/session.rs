//! Logged-in browsers: the page trades the API token for a session cookie
//! (HttpOnly, SameSite=Strict), so the token is typed once and never sits in
//! a URL, in the page's script or in the browser's history.
//!
//! Owns the session ids (random, from the kernel), their expiry and the
//! cookie's wording. It must never store or echo the token itself.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The cookie's name.
pub const COOKIE: &str = "camrelay_session";
/// A session unused this long is gone (each use renews it).
pub const IDLE: Duration = Duration::from_secs(12 * 3600);
/// Sessions kept at most; a new login past it ends the least recently used.
pub const MAX_SESSIONS: usize = 32;

/// The live sessions, in memory: a restart logs every browser out.
#[derive(Debug, Default)]
pub struct Sessions {
    live: Mutex<HashMap<String, Instant>>,
}

impl Sessions {
    pub fn new() -> Sessions {
        Sessions::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new session id, or `None` when the kernel gave no randomness.
    pub fn open(&self, now: Instant) -> Option<String> {
        let mut raw = [0u8; 32];
        getrandom::fill(&mut raw).ok()?;
        let id: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        let mut live = self.lock();
        live.retain(|_, last| now.saturating_duration_since(*last) < IDLE);
        while live.len() >= MAX_SESSIONS {
            let Some(oldest) = live.iter().min_by_key(|(_, t)| **t).map(|(k, _)| k.clone()) else { break };
            live.remove(&oldest);
        }
        live.insert(id.clone(), now);
        Some(id)
    }

    /// Is the id live? Renews it when it is.
    pub fn check(&self, id: &str, now: Instant) -> bool {
        let mut live = self.lock();
        match live.get_mut(id) {
            Some(last) if now.saturating_duration_since(*last) < IDLE => {
                *last = now;
                true
            }
            Some(_) => {
                live.remove(id);
                false
            }
            None => false,
        }
    }

    pub fn close(&self, id: &str) {
        self.lock().remove(id);
    }
}

/// The session id in a `Cookie` header, if any.
pub fn from_cookie_header(header: &str) -> Option<&str> {
    header.split(';').map(str::trim).find_map(|c| c.strip_prefix(COOKIE)?.strip_prefix('='))
}

/// `Set-Cookie` for a new session: script cannot read it, other sites cannot send it.
pub fn set_cookie(id: &str) -> String {
    format!("{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}", IDLE.as_secs())
}

/// `Set-Cookie` that ends the session in the browser.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_random_expire_when_idle_and_are_bounded() {
        let s = Sessions::new();
        let t0 = Instant::now();
        let a = s.open(t0).unwrap();
        let b = s.open(t0).unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert!(s.check(&a, t0 + Duration::from_secs(60)));
        // Renewed at +60 s, so still live just under IDLE after that.
        assert!(s.check(&a, t0 + IDLE + Duration::from_secs(59)));
        assert!(!s.check(&b, t0 + IDLE + Duration::from_secs(1)), "idle past IDLE");
        s.close(&a);
        assert!(!s.check(&a, t0), "closed");
        let first = s.open(t0).unwrap();
        for i in 0..MAX_SESSIONS as u64 {
            s.open(t0 + Duration::from_millis(i + 1)).unwrap();
        }
        assert!(!s.check(&first, t0 + Duration::from_secs(1)), "the least recently used went");
        assert!(s.lock().len() <= MAX_SESSIONS);
    }

    #[test]
    fn the_cookie_is_found_among_others_and_is_strict() {
        assert_eq!(from_cookie_header("a=1; camrelay_session=abc; b=2"), Some("abc"));
        assert_eq!(from_cookie_header("camrelay_sessionx=abc"), None);
        assert_eq!(from_cookie_header("x=camrelay_session=abc"), None);
        let c = set_cookie("abc");
        assert!(
            c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.starts_with("camrelay_session=abc;")
        );
    }
}
