//! Which connections are open, from where, and which one gives way when a new one needs room.
//!
//! Owns the connection cap and the per-source limit, and the choice of whom
//! to close: a new connection is always served (a camera that reconnects is
//! never locked out), and to make room the longest-idle connection goes
//! first: of the new connection's own source when that source is at its
//! limit, else of the source holding the most connections. Connections in
//! the middle of a request are never chosen; ones stalled sending a head are
//! chosen after idle ones. It must never read or write a socket: it only
//! tells the connection task, through its [`Closer`], to close.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;
use tokio::time::Instant;

/// Connections served at most, whatever the file limit allows.
pub const MAX_CONNECTIONS: usize = 1024;

/// File descriptors kept free for everything but camera connections: the
/// API's connections, GPIO chips, the rules file, the recorder, the journal.
pub const RESERVED_FDS: u64 = 128;

/// Where a connection is in its request cycle; decides which timeout applies
/// and whether it may be closed to make room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Between requests: nothing received since the last reply.
    Idle,
    /// A request head is arriving (or a fresh connection has sent nothing yet).
    Headers,
    /// The handler runs: it enforces the body timeout itself.
    Busy,
}

/// What the connection task and the registry share about one connection.
pub(crate) struct ConnState {
    phase: Mutex<(Phase, Instant)>,
    /// Wakes the connection task to close the connection.
    close: Notify,
}

impl ConnState {
    pub(crate) fn new() -> ConnState {
        ConnState { phase: Mutex::new((Phase::Headers, Instant::now())), close: Notify::new() }
    }

    pub(crate) fn get(&self) -> (Phase, Instant) {
        *self.phase.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn set(&self, phase: Phase) {
        *self.phase.lock().unwrap_or_else(|p| p.into_inner()) = (phase, Instant::now());
    }

    /// Bytes arrived: an idle connection has started a new request.
    pub(crate) fn bytes_read(&self) {
        let mut p = self.phase.lock().unwrap_or_else(|p| p.into_inner());
        if p.0 == Phase::Idle {
            *p = (Phase::Headers, Instant::now());
        }
    }

    /// Resolves once the registry chose this connection to make room.
    pub(crate) async fn closed(&self) {
        self.close.notified().await
    }
}

struct Entry {
    source: IpAddr,
    state: Arc<ConnState>,
}

/// Why a connection was closed to make room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Evicted {
    /// Its source was at `max_connections_per_source`.
    SourceLimit,
    /// The whole listener was at its cap.
    Cap,
}

/// A connection in the registry; dropping it removes the entry.
pub(crate) struct Registered {
    conns: Arc<Connections>,
    id: u64,
    pub state: Arc<ConnState>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.conns.lock().0.remove(&self.id);
    }
}

/// The open connections of one listener.
pub struct Connections {
    cap: usize,
    per_source: usize,
    inner: Mutex<(HashMap<u64, Entry>, u64)>,
}

impl Connections {
    pub fn new(cap: usize, per_source: usize) -> Arc<Connections> {
        Arc::new(Connections { cap: cap.max(1), per_source: per_source.max(1), inner: Mutex::default() })
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    pub fn len(&self) -> usize {
        self.lock().0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (HashMap<u64, Entry>, u64)> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Admit a new connection from `source`, closing others to make room.
    /// `None` when no room can be made: every connection it could close is
    /// in the middle of a request. The closed ones' reasons are returned.
    pub(crate) fn admit(self: &Arc<Self>, source: IpAddr) -> (Option<Registered>, Vec<Evicted>) {
        let mut guard = self.lock();
        let (map, next) = &mut *guard;
        let mut evicted = Vec::new();
        let from_source = map.values().filter(|e| e.source == source).count();
        if from_source >= self.per_source {
            if !evict(map, |e| e.source == source) {
                return (None, evicted);
            }
            evicted.push(Evicted::SourceLimit);
        }
        if map.len() >= self.cap {
            let mut counts: HashMap<IpAddr, usize> = HashMap::new();
            for e in map.values() {
                *counts.entry(e.source).or_default() += 1;
            }
            // The source holding the most connections gives way first, so a
            // crowd of connections from one client makes room for a camera.
            let mut by_size: Vec<(IpAddr, usize)> = counts.into_iter().collect();
            by_size.sort_by_key(|&(_, n)| std::cmp::Reverse(n));
            let done = by_size.iter().any(|(s, _)| evict(map, |e| e.source == *s));
            if !done {
                return (None, evicted);
            }
            evicted.push(Evicted::Cap);
        }
        let id = *next;
        *next += 1;
        let state = Arc::new(ConnState::new());
        map.insert(id, Entry { source, state: state.clone() });
        (Some(Registered { conns: self.clone(), id, state }), evicted)
    }
}

/// Close the longest-idle connection that `pick` selects (else the longest
/// stalled in its head); `false` when every one it selects is mid-request.
fn evict(map: &mut HashMap<u64, Entry>, pick: impl Fn(&Entry) -> bool) -> bool {
    let victim = map
        .iter()
        .filter(|(_, e)| pick(e))
        .filter_map(|(id, e)| {
            let (phase, since) = e.state.get();
            let rank = match phase {
                Phase::Idle => 0,
                Phase::Headers => 1,
                Phase::Busy => return None,
            };
            Some((rank, since, *id))
        })
        .min();
    match victim {
        Some((_, _, id)) => {
            if let Some(e) = map.remove(&id) {
                e.state.close.notify_one();
            }
            true
        }
        None => false,
    }
}

/// The connection cap for this process: [`MAX_CONNECTIONS`], or fewer when
/// the open-file limit would run out first. Raises the soft limit towards the
/// hard one first (up to what the cap needs), as any process may.
pub fn cap_from_file_limit() -> (usize, u64) {
    let want = MAX_CONNECTIONS as u64 + RESERVED_FDS * 2;
    let soft = raise_nofile(want);
    let cap = soft.saturating_sub(RESERVED_FDS).clamp(1, MAX_CONNECTIONS as u64) as usize;
    (cap, soft)
}

#[cfg(unix)]
// `rlim_t` is 32 bits on some of the Pi targets: the casts are not no-ops there.
#[allow(clippy::unnecessary_cast)]
fn raise_nofile(want: u64) -> u64 {
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if (lim.rlim_cur as u64) < want {
            let target =
                if lim.rlim_max == libc::RLIM_INFINITY { want } else { (lim.rlim_max as u64).min(want) };
            let raised = libc::rlimit { rlim_cur: target as libc::rlim_t, rlim_max: lim.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                return target;
            }
        }
        lim.rlim_cur as u64
    }
}

#[cfg(not(unix))]
fn raise_nofile(_want: u64) -> u64 {
    MAX_CONNECTIONS as u64 + RESERVED_FDS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[tokio::test]
    async fn a_source_at_its_limit_gives_up_its_own_longest_idle_connection() {
        let conns = Connections::new(100, 2);
        let (a, _) = conns.admit(ip("10.0.0.1"));
        let (b, _) = conns.admit(ip("10.0.0.1"));
        let (a, b) = (a.unwrap(), b.unwrap());
        a.state.set(Phase::Idle);
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        b.state.set(Phase::Idle);
        let (c, evicted) = conns.admit(ip("10.0.0.1"));
        assert!(c.is_some());
        assert_eq!(evicted, vec![Evicted::SourceLimit]);
        assert_eq!(conns.len(), 2);
        // `a` was told to close; `b` was not.
        let closed_a = tokio::time::timeout(std::time::Duration::from_millis(50), a.state.closed()).await;
        let closed_b = tokio::time::timeout(std::time::Duration::from_millis(50), b.state.closed()).await;
        assert!(closed_a.is_ok() && closed_b.is_err());
    }

    #[tokio::test]
    async fn at_the_cap_the_biggest_source_makes_room_and_busy_connections_are_kept() {
        let conns = Connections::new(3, 10);
        let (cam, _) = conns.admit(ip("10.0.0.9"));
        let cam = cam.unwrap();
        cam.state.set(Phase::Idle);
        let x1 = conns.admit(ip("10.0.0.1")).0.unwrap();
        let x2 = conns.admit(ip("10.0.0.1")).0.unwrap();
        x1.state.set(Phase::Busy);
        x2.state.set(Phase::Busy);
        // Everything the crowd holds is mid-request: the camera's idle one goes.
        let (n, evicted) = conns.admit(ip("10.0.0.2"));
        assert!(n.is_some());
        assert_eq!(evicted, vec![Evicted::Cap]);
        x2.state.set(Phase::Idle);
        let (m, _) = conns.admit(ip("10.0.0.9"));
        assert!(m.is_some());
        assert!(tokio::time::timeout(std::time::Duration::from_millis(50), x2.state.closed()).await.is_ok());
        drop((x1, n, m));
        assert_eq!(conns.len(), 0);
    }

    #[tokio::test]
    async fn no_room_when_everything_is_mid_request() {
        let conns = Connections::new(1, 1);
        let busy = conns.admit(ip("10.0.0.1")).0.unwrap();
        busy.state.set(Phase::Busy);
        assert!(conns.admit(ip("10.0.0.2")).0.is_none());
        assert!(conns.admit(ip("10.0.0.1")).0.is_none());
    }
}
