//! `camrelay reload`: ask the running daemon to re-read its rules file and
//! report what happened, so `systemctl reload camrelay` fails visibly when the
//! file is refused.
//!
//! Owns only the client side: it reads `[api] listen` from the rules file
//! (leniently: the file may be the broken one being reloaded), asks
//! `GET /api/status` for the daemon's pid and last reload, sends SIGHUP, and
//! waits for the reload counter to move. It must never parse rules or touch a
//! relay: the daemon decides, this only carries the answer back.

use anyhow::{anyhow, bail, Context};
use serde::{Deserialize, Serialize};
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

/// What the last reload did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReloadOutcome {
    /// Counts reloads since start: `camrelay reload` waits for it to move.
    pub seq: u64,
    pub at: chrono::DateTime<chrono::Utc>,
    pub applied: bool,
    /// What was applied, or why the file was refused (located).
    pub message: String,
}

/// How long to wait for the daemon to report the reload.
const WAIT: Duration = Duration::from_secs(15);

/// The API address the daemon listens on, from the rules file's `[api] listen`.
pub(crate) fn api_address(config: &Path) -> anyhow::Result<SocketAddr> {
    let text =
        std::fs::read_to_string(config).with_context(|| format!("cannot read {}", config.display()))?;
    let listen = toml::from_str::<toml::Table>(&text)
        .ok()
        .and_then(|t| t.get("api")?.get("listen")?.as_str().map(str::to_string));
    let addr: SocketAddr = match listen {
        Some(l) => l.parse().with_context(|| format!("[api] listen = {l:?} in {}", config.display()))?,
        None => crate::config::ApiConfig::default().listen,
    };
    // A wildcard listener is reached on loopback.
    Ok(match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port()),
        IpAddr::V6(ip) if ip.is_unspecified() => SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port()),
        _ => addr,
    })
}

pub(crate) fn status(addr: SocketAddr) -> anyhow::Result<serde_json::Value> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
        .with_context(|| format!("cannot reach the camrelay API on {addr}; is the daemon running?"))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(s, "GET /api/status HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| anyhow!("no HTTP reply from {addr}"))?;
    if !head.starts_with("HTTP/1.1 200") {
        bail!("GET /api/status on {addr}: {}", head.lines().next().unwrap_or(""));
    }
    serde_json::from_str(body).with_context(|| format!("GET /api/status on {addr}: not JSON"))
}

fn reload_seq(status: &serde_json::Value) -> u64 {
    status["last_reload"]["seq"].as_u64().unwrap_or(0)
}

/// Signal the daemon and wait for its verdict. Ok(true): applied.
pub fn run(config: &Path, pid: Option<u32>) -> anyhow::Result<bool> {
    let (applied, message) = reload(config, pid)?;
    if applied {
        println!("camrelay: reloaded {}: {message}", config.display());
    } else {
        eprintln!("camrelay: reload refused, the previous rules stay in force:\n{message}");
    }
    Ok(applied)
}

/// After a command changed the rules file: the running daemon reloaded (or
/// refused) it, or it is not running; one line either way, so an edit is
/// never silently not in force.
pub fn after_edit(config: &Path) -> String {
    let Ok(addr) = api_address(config) else {
        return "the rules file's [api] listen cannot be read: reload camrelay yourself (sudo systemctl reload camrelay)".into();
    };
    if status(addr).is_err() {
        return format!(
            "camrelay is not running with this file (nothing answers on {addr}): the change applies when it starts (sudo systemctl start camrelay)"
        );
    }
    match reload(config, None) {
        Ok((true, message)) => format!("the running camrelay reloaded the file: {message}"),
        Ok((false, message)) => {
            format!("the running camrelay refused the file, its previous rules stay in force: {message}")
        }
        Err(e) => format!("{e:#}; reload it yourself: sudo systemctl reload camrelay"),
    }
}

/// Signal the daemon and wait for its verdict: (applied, message).
fn reload(config: &Path, pid: Option<u32>) -> anyhow::Result<(bool, String)> {
    let addr = api_address(config)?;
    let before = status(addr)?;
    let pid = match pid {
        Some(p) => p,
        None => before["pid"]
            .as_u64()
            .and_then(|p| u32::try_from(p).ok())
            .ok_or_else(|| anyhow!("status has no pid"))?,
    };
    let seq = reload_seq(&before);
    let pid = i32::try_from(pid).context("pid out of range")?;
    // SAFETY: kill(2) with a pid and a signal number; no memory is shared.
    if unsafe { libc::kill(pid, libc::SIGHUP) } != 0 {
        bail!("cannot signal camrelay (pid {pid}): {}", std::io::Error::last_os_error());
    }
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        let Ok(now) = status(addr) else { continue };
        if reload_seq(&now) > seq {
            let r = &now["last_reload"];
            let message = r["message"].as_str().unwrap_or("").to_string();
            return Ok((r["applied"].as_bool() == Some(true), message));
        }
    }
    bail!("camrelay (pid {pid}) did not report the reload within {} s", WAIT.as_secs())
}
