//! systemd integration: readiness, watchdog and reload notifications.
//!
//! Owns the `sd_notify` datagram protocol (a few `KEY=value` lines sent to the
//! socket named by `$NOTIFY_SOCKET`, a path or an abstract `@name`) and the
//! reading of `$WATCHDOG_USEC` / `$WATCHDOG_PID`. It must never fail the
//! daemon or change what it does: outside systemd every call is a no-op that
//! returns `Ok(false)`, and a send error is returned for the caller to log,
//! never to act on. No crate beyond `std`.
//!
//! Order the daemon follows (see `systemd/camrelay.service`, `Type=notify`):
//! [`notify_ready`] once the listeners are bound and every relay is driven off;
//! [`notify_watchdog`] from the runtime loop every half [`watchdog_interval`];
//! [`notify_reloading`] then [`notify_ready`] around a SIGHUP reload;
//! [`notify_stopping`] when shutdown starts.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

/// Where notifications go, decoded from `$NOTIFY_SOCKET`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyTarget {
    /// A socket file (`/run/systemd/notify`).
    Path(PathBuf),
    /// A Linux abstract socket (`@name` in the variable, without the `@` here).
    Abstract(Vec<u8>),
}

impl NotifyTarget {
    /// Decode a `$NOTIFY_SOCKET` value. Anything that is neither an absolute
    /// path nor `@name` is ignored (systemd only ever sets those two forms;
    /// `vsock:` targets are for VMs, not for a service on a Pi).
    pub fn parse(value: &OsStr) -> Option<NotifyTarget> {
        let bytes = value.as_bytes();
        match bytes.first() {
            Some(b'/') => Some(NotifyTarget::Path(PathBuf::from(value))),
            Some(b'@') if bytes.len() > 1 => Some(NotifyTarget::Abstract(bytes[1..].to_vec())),
            _ => None,
        }
    }
}

/// A connection to the service manager, or nothing when not run by systemd.
#[derive(Debug)]
pub struct Notifier {
    target: Option<(UnixDatagram, NotifyTarget)>,
}

impl Notifier {
    /// The notifier for this process, from `$NOTIFY_SOCKET`.
    pub fn from_env() -> Notifier {
        Notifier::for_target(std::env::var_os("NOTIFY_SOCKET").as_deref().and_then(NotifyTarget::parse))
    }

    /// A notifier that sends to `target`, or a no-op one for `None`.
    /// If no socket can be created at all, the notifier is a no-op too:
    /// readiness is a courtesy to systemd, not a reason to stop.
    pub fn for_target(target: Option<NotifyTarget>) -> Notifier {
        let target = target.and_then(|t| UnixDatagram::unbound().ok().map(|s| (s, t)));
        Notifier { target }
    }

    /// Whether a service manager is listening.
    pub fn is_active(&self) -> bool {
        self.target.is_some()
    }

    /// Send one notification (`READY=1`, or several `KEY=value` lines).
    /// `Ok(false)`: not under systemd, nothing sent.
    pub fn send(&self, state: &str) -> io::Result<bool> {
        let Some((socket, target)) = &self.target else {
            return Ok(false);
        };
        match target {
            NotifyTarget::Path(path) => socket.send_to(state.as_bytes(), path)?,
            NotifyTarget::Abstract(name) => send_abstract(socket, name, state.as_bytes())?,
        };
        Ok(true)
    }

    /// `READY=1`: startup (or a reload) finished.
    pub fn ready(&self) -> io::Result<bool> {
        self.send("READY=1")
    }

    /// `RELOADING=1` with `MONOTONIC_USEC`, which `Type=notify-reload`
    /// (systemd 253+) requires and older systemd ignores. Follow with
    /// [`Notifier::ready`] when the reload is done, whether it was accepted
    /// or refused.
    pub fn reloading(&self) -> io::Result<bool> {
        self.send(&reloading_message(monotonic_usec()))
    }

    /// `STOPPING=1`: shutdown has started.
    pub fn stopping(&self) -> io::Result<bool> {
        self.send("STOPPING=1")
    }

    /// `STATUS=...`: the one line `systemctl status` shows.
    pub fn status(&self, text: &str) -> io::Result<bool> {
        self.send(&status_message(text))
    }

    /// `WATCHDOG=1`: still alive.
    pub fn watchdog(&self) -> io::Result<bool> {
        self.send("WATCHDOG=1")
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn send_abstract(socket: &UnixDatagram, name: &[u8], data: &[u8]) -> io::Result<usize> {
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
    socket.send_to_addr(data, &addr)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn send_abstract(_socket: &UnixDatagram, _name: &[u8], _data: &[u8]) -> io::Result<usize> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "abstract sockets are Linux only"))
}

fn reloading_message(monotonic_usec: u64) -> String {
    format!("RELOADING=1\nMONOTONIC_USEC={monotonic_usec}")
}

/// systemd reads one line per key: a newline in the text would end STATUS
/// early and start a bogus key.
fn status_message(text: &str) -> String {
    let one_line: String = text.chars().map(|c| if c == '\n' || c == '\r' { ' ' } else { c }).collect();
    format!("STATUS={one_line}")
}

fn process_notifier() -> &'static Notifier {
    static NOTIFIER: OnceLock<Notifier> = OnceLock::new();
    NOTIFIER.get_or_init(Notifier::from_env)
}

/// Tell systemd the daemon is ready (listeners bound, relays off).
pub fn notify_ready() -> io::Result<bool> {
    process_notifier().ready()
}

/// Tell systemd a reload has started; send [`notify_ready`] when it ends.
pub fn notify_reloading() -> io::Result<bool> {
    process_notifier().reloading()
}

/// Tell systemd shutdown has started.
pub fn notify_stopping() -> io::Result<bool> {
    process_notifier().stopping()
}

/// Set the status line shown by `systemctl status camrelay`.
pub fn notify_status(text: &str) -> io::Result<bool> {
    process_notifier().status(text)
}

/// Ping the watchdog. Call every half [`watchdog_interval`].
pub fn notify_watchdog() -> io::Result<bool> {
    process_notifier().watchdog()
}

/// The watchdog timeout systemd enforces on this process (`WatchdogSec=`),
/// or `None` when there is none or it is meant for another process.
pub fn watchdog_interval() -> Option<Duration> {
    watchdog_from(
        std::env::var_os("WATCHDOG_USEC").as_deref(),
        std::env::var_os("WATCHDOG_PID").as_deref(),
        std::process::id(),
    )
}

/// `WATCHDOG_PID` is set when the variables may be inherited by children
/// (e.g. `safe-state` run from a hook): only the named process must ping.
pub fn watchdog_from(usec: Option<&OsStr>, pid: Option<&OsStr>, my_pid: u32) -> Option<Duration> {
    if let Some(pid) = pid {
        let pid: u32 = pid.to_str()?.trim().parse().ok()?;
        if pid != my_pid {
            return None;
        }
    }
    let usec: u64 = usec?.to_str()?.trim().parse().ok()?;
    if usec == 0 {
        return None;
    }
    Some(Duration::from_micros(usec))
}

/// Whether stderr is connected to the journal (`$JOURNAL_STREAM` names the
/// device and inode of the stream systemd gave us). The logging setup can
/// then drop timestamps and colours, which journald adds itself, and prefix
/// lines with [`journal_level_prefix`] so `journalctl -p warning` works.
pub fn stderr_is_journal() -> bool {
    journal_stream_matches(std::env::var_os("JOURNAL_STREAM").as_deref(), stderr_dev_ino())
}

fn journal_stream_matches(var: Option<&OsStr>, stderr: Option<(u64, u64)>) -> bool {
    let (Some(var), Some((dev, ino))) = (var, stderr) else {
        return false;
    };
    let Some((d, i)) = var.to_str().and_then(|s| s.split_once(':')) else {
        return false;
    };
    d.parse() == Ok(dev) && i.parse() == Ok(ino)
}

fn stderr_dev_ino() -> Option<(u64, u64)> {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let fd = io::stderr().as_fd().try_clone_to_owned().ok()?;
    let meta = std::fs::File::from(fd).metadata().ok()?;
    Some((meta.dev(), meta.ino()))
}

/// The syslog priority prefix journald understands on a stream line
/// (`SyslogLevelPrefix=yes`, the default): `<3>` error … `<7>` debug.
pub fn journal_level_prefix(level: &tracing::Level) -> &'static str {
    match *level {
        tracing::Level::ERROR => "<3>",
        tracing::Level::WARN => "<4>",
        tracing::Level::INFO => "<6>",
        tracing::Level::DEBUG | tracing::Level::TRACE => "<7>",
    }
}

/// Microseconds on `CLOCK_MONOTONIC`, the clock systemd compares
/// `MONOTONIC_USEC` with. `std::time::Instant` uses this clock but does not
/// expose its value, so ask the C library directly (no extra crate).
fn monotonic_usec() -> u64 {
    #[repr(C)]
    struct Timespec {
        tv_sec: std::os::raw::c_long,
        tv_nsec: std::os::raw::c_long,
    }
    extern "C" {
        // The classic symbol: `long` seconds on every Linux ABI this crate
        // targets, including 32-bit ARM (musl keeps it for compatibility).
        fn clock_gettime(clock: std::os::raw::c_int, ts: *mut Timespec) -> std::os::raw::c_int;
    }
    const CLOCK_MONOTONIC: std::os::raw::c_int = 1;
    let mut ts = Timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, exclusively borrowed timespec for the call.
    let rc = unsafe { clock_gettime(CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return 0;
    }
    (ts.tv_sec as u64).saturating_mul(1_000_000).saturating_add(ts.tv_nsec as u64 / 1_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound_socket() -> (tempfile::TempDir, UnixDatagram, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let server = UnixDatagram::bind(&path).unwrap();
        server.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        (dir, server, path)
    }

    fn recv(server: &UnixDatagram) -> String {
        let mut buf = [0u8; 4096];
        let n = server.recv(&mut buf).unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn parses_path_and_abstract_targets_and_ignores_the_rest() {
        assert_eq!(
            NotifyTarget::parse(OsStr::new("/run/systemd/notify")),
            Some(NotifyTarget::Path(PathBuf::from("/run/systemd/notify")))
        );
        assert_eq!(
            NotifyTarget::parse(OsStr::new("@/org/freedesktop/systemd1/notify/42")),
            Some(NotifyTarget::Abstract(b"/org/freedesktop/systemd1/notify/42".to_vec()))
        );
        assert_eq!(NotifyTarget::parse(OsStr::new("")), None);
        assert_eq!(NotifyTarget::parse(OsStr::new("@")), None);
        assert_eq!(NotifyTarget::parse(OsStr::new("relative/sock")), None);
        assert_eq!(NotifyTarget::parse(OsStr::new("vsock:2:1234")), None);
    }

    #[test]
    fn without_a_socket_every_call_is_a_no_op() {
        let n = Notifier::for_target(None);
        assert!(!n.is_active());
        assert!(!n.ready().unwrap());
        assert!(!n.reloading().unwrap());
        assert!(!n.stopping().unwrap());
        assert!(!n.status("x").unwrap());
        assert!(!n.watchdog().unwrap());
    }

    #[test]
    fn sends_each_notification_to_a_path_socket() {
        let (_dir, server, path) = bound_socket();
        let n = Notifier::for_target(Some(NotifyTarget::Path(path)));
        assert!(n.is_active());

        assert!(n.ready().unwrap());
        assert_eq!(recv(&server), "READY=1");
        assert!(n.stopping().unwrap());
        assert_eq!(recv(&server), "STOPPING=1");
        assert!(n.watchdog().unwrap());
        assert_eq!(recv(&server), "WATCHDOG=1");
        assert!(n.status("3 relays, 2 cameras\nseen").unwrap());
        assert_eq!(recv(&server), "STATUS=3 relays, 2 cameras seen");
    }

    #[test]
    fn reloading_carries_the_monotonic_time_systemd_253_checks() {
        let (_dir, server, path) = bound_socket();
        let n = Notifier::for_target(Some(NotifyTarget::Path(path)));
        let before = monotonic_usec();
        assert!(n.reloading().unwrap());
        let msg = recv(&server);
        let after = monotonic_usec();
        let mut lines = msg.lines();
        assert_eq!(lines.next(), Some("RELOADING=1"));
        let usec: u64 =
            lines.next().and_then(|l| l.strip_prefix("MONOTONIC_USEC=")).unwrap().parse().unwrap();
        assert!(before > 0, "CLOCK_MONOTONIC read as 0");
        assert!(before <= usec && usec <= after, "{before} <= {usec} <= {after}");
        assert_eq!(lines.next(), None);
    }

    #[test]
    fn monotonic_clock_matches_the_kernel_uptime_scale() {
        // CLOCK_MONOTONIC counts from boot; /proc/uptime (boot time incl.
        // suspend) is never smaller. A units mistake (ns vs us) would be 1000x off.
        let usec = monotonic_usec();
        let uptime = std::fs::read_to_string("/proc/uptime").unwrap();
        let secs: f64 = uptime.split_whitespace().next().unwrap().parse().unwrap();
        let mono_secs = usec as f64 / 1e6;
        assert!(mono_secs > 0.0 && mono_secs <= secs + 1.0, "monotonic {mono_secs}s, uptime {secs}s");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn sends_to_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("camrelay-test-{}-{:?}", std::process::id(), std::thread::current().id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let server = UnixDatagram::bind_addr(&addr).unwrap();
        server.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let target = NotifyTarget::parse(OsStr::new(&format!("@{name}")));
        let n = Notifier::for_target(target);
        assert!(n.ready().unwrap());
        assert_eq!(recv(&server), "READY=1");
    }

    #[test]
    fn a_vanished_socket_is_an_error_to_log_not_a_panic() {
        let (dir, server, path) = bound_socket();
        drop(server);
        std::fs::remove_file(&path).unwrap();
        let n = Notifier::for_target(Some(NotifyTarget::Path(path)));
        assert!(n.ready().is_err());
        drop(dir);
    }

    #[test]
    fn watchdog_interval_follows_usec_and_pid() {
        let os = |s: &'static str| Some(OsStr::new(s));
        assert_eq!(watchdog_from(os("30000000"), None, 7), Some(Duration::from_secs(30)));
        assert_eq!(watchdog_from(os("30000000"), os("7"), 7), Some(Duration::from_secs(30)));
        assert_eq!(watchdog_from(os("30000000"), os("8"), 7), None, "meant for another process");
        assert_eq!(watchdog_from(None, os("7"), 7), None);
        assert_eq!(watchdog_from(os("0"), None, 7), None);
        assert_eq!(watchdog_from(os("soon"), None, 7), None);
        assert_eq!(watchdog_from(os("500000"), os("x"), 7), None);
    }

    #[test]
    fn journal_stream_must_name_our_stderr() {
        let os = |s: &'static str| Some(OsStr::new(s));
        assert!(journal_stream_matches(os("8:1234"), Some((8, 1234))));
        assert!(!journal_stream_matches(os("8:1235"), Some((8, 1234))));
        assert!(!journal_stream_matches(os("garbage"), Some((8, 1234))));
        assert!(!journal_stream_matches(None, Some((8, 1234))));
        assert!(!journal_stream_matches(os("8:1234"), None));
        assert_eq!(journal_level_prefix(&tracing::Level::WARN), "<4>");
        assert_eq!(journal_level_prefix(&tracing::Level::ERROR), "<3>");
    }
}
