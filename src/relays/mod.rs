//! The relays: one owner of all GPIO lines, and the safety limits no rule can override.
//!
//! Owns the [`Backend`] trait (cdev, rppal, mock), opening the configured
//! backend, and the controller that applies [`crate::command::Command`]s on a
//! clock passed in. It must never evaluate rules, read a wall clock, or leave a
//! line in any state but off when it starts or stops.

use crate::clock::Instant;
use crate::config::{BackendKind, GpioConfig, LineRef, RelayConfig};
pub mod boot;
pub mod cdev;
pub mod controller;
pub mod input;
pub mod mock;
#[cfg(all(feature = "rppal", target_os = "linux"))]
pub mod rppal;

pub use controller::{
    ControlError, Controller, Manual, ManualOverride, PendingSwitch, ReconfigureError, RelayStats,
    RelayStatus,
};
pub use mock::{LineChange, MockBackend, MockRecord};

use thiserror::Error;

/// One GPIO implementation. Relays are addressed by their index in the
/// configuration's relay list; the backend knows each line's active level, so
/// `on` is always the logical state (relay energized).
pub trait Backend: Send {
    /// Drive relay `index` to logical `on`. `at` and `reason` are for the record.
    fn set(&mut self, index: usize, on: bool, at: Instant, reason: &str) -> Result<(), GpioError>;
    /// A one-line description for logs (`cdev /dev/gpiochip0 lines 17,27`).
    fn describe(&self) -> String;
}

/// Why the GPIO side failed. Every message says how to fix it.
#[derive(Debug, Error)]
pub enum GpioError {
    #[error("GPIO chip {chip:?} not found; chips on this system: {}. Set [gpio] chip (or the relay's chip) to one of them", list_or_none(.available))]
    ChipNotFound { chip: String, available: Vec<String> },
    // `what`: `relay` or `input`; `relay`: its name.
    #[error("{what} {relay:?}: no line named {line:?} on any chip ({searched}). Use the offset instead, or check `gpioinfo`")]
    LineNotFound { what: &'static str, relay: String, line: String, searched: String },
    #[error("{what} {relay:?}: line {line} is out of range: {chip} has lines 0..{lines}")]
    LineOutOfRange { what: &'static str, relay: String, line: u32, chip: String, lines: u32 },
    #[error("{what} {relay:?}: line {line} on {chip} is busy, held by consumer {consumer:?}. Stop that program (or remove its device-tree overlay) first")]
    LineBusy { what: &'static str, relay: String, line: u32, chip: String, consumer: String },
    #[error("permission denied opening {path}: run as root or add the service user to the `gpio` group (udev rule: SUBSYSTEM==\"gpio\", GROUP=\"gpio\", MODE=\"0660\")")]
    PermissionDenied { path: String },
    #[error(
        "{what}s {first:?} and {second:?} are both on line {line} of {chip}; each {what} needs its own line"
    )]
    DuplicateLine { what: &'static str, first: String, second: String, line: String, chip: String },
    #[error("the {backend} backend is not available in this build: {hint}")]
    Unavailable { backend: &'static str, hint: String },
    #[error("GPIO error on {what}: {message}")]
    Io { what: String, message: String },
}

fn list_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "none (is the GPIO driver loaded?)".to_string()
    } else {
        v.join(", ")
    }
}

/// Open the configured backend with every relay line requested and off.
/// Two relays on one line are refused before any backend touches a line.
pub fn open_backend(gpio: &GpioConfig, relays: &[RelayConfig]) -> Result<Box<dyn Backend>, GpioError> {
    open_for(gpio, relays, "startup")
}

/// `reason` only names the opening drive-off in the mock's record.
fn open_for(gpio: &GpioConfig, relays: &[RelayConfig], reason: &str) -> Result<Box<dyn Backend>, GpioError> {
    check_distinct_lines(gpio, relays)?;
    match gpio.backend {
        BackendKind::Cdev => Ok(Box::new(cdev::CdevBackend::open(gpio, relays)?)),
        BackendKind::Rppal => open_rppal(relays),
        BackendKind::Mock => Ok(Box::new(MockBackend::open(relays, gpio.mock_log.as_deref(), reason)?)),
    }
}

#[cfg(all(feature = "rppal", target_os = "linux"))]
fn open_rppal(relays: &[RelayConfig]) -> Result<Box<dyn Backend>, GpioError> {
    Ok(Box::new(rppal::RppalBackend::open(relays)?))
}

#[cfg(not(all(feature = "rppal", target_os = "linux")))]
fn open_rppal(_relays: &[RelayConfig]) -> Result<Box<dyn Backend>, GpioError> {
    Err(GpioError::Unavailable {
        backend: "rppal",
        hint:
            "rebuild with `cargo build --features rppal` (Linux on a Raspberry Pi), or use backend = \"cdev\""
                .into(),
    })
}

/// Refuse two relays on one line, as far as the configuration alone can tell:
/// the same offset on the same chip (no chip means `gpiochip0` for offsets),
/// or the same line name on the same chip (no chip means "searched across
/// chips"). A name and an offset that resolve to the same line are caught by
/// the backend when it requests them.
pub fn check_distinct_lines(gpio: &GpioConfig, relays: &[RelayConfig]) -> Result<(), GpioError> {
    for (j, second) in relays.iter().enumerate() {
        for first in &relays[..j] {
            if crate::config::same_line(gpio, first, second) {
                let c1 = first.chip.as_deref().or(gpio.chip.as_deref());
                let chip = match (&first.line, c1) {
                    (_, Some(c)) => c.to_string(),
                    (LineRef::Offset(_), None) => "gpiochip0".to_string(),
                    (LineRef::Name(_), None) => "any chip".to_string(),
                };
                return Err(GpioError::DuplicateLine {
                    what: "relay",
                    first: first.name.clone(),
                    second: second.name.clone(),
                    line: first.line.to_string(),
                    chip,
                });
            }
        }
    }
    Ok(())
}

/// What `camrelay safe-state` did.
#[derive(Debug, Default)]
pub struct SafeStateReport {
    /// The backend, as described by itself.
    pub backend: String,
    /// One line per relay driven off.
    pub done: Vec<String>,
    /// Relays whose line could not be written.
    pub failed: Vec<GpioError>,
}

/// Drive every configured relay off, writing each line even if it already is
/// (the lines are requested off, then written off again): this is what the
/// systemd unit runs after a crash. Opening the backend failing is an error;
/// a line that cannot be written is reported and the others are still driven.
pub fn safe_state(gpio: &GpioConfig, relays: &[RelayConfig]) -> Result<SafeStateReport, GpioError> {
    let mut backend = open_for(gpio, relays, "safe-state")?;
    let mut report = SafeStateReport { backend: backend.describe(), ..SafeStateReport::default() };
    for (i, r) in relays.iter().enumerate() {
        match backend.set(i, false, Instant::ZERO, "safe-state") {
            Ok(()) => {
                let level = if r.active_low { "high (active-low)" } else { "low" };
                report.done.push(format!("relay {:?} (line {}): off, level {level}", r.name, r.line));
            }
            Err(e) => {
                tracing::error!(relay = %r.name, error = %e, "safe-state: could not drive the relay off");
                report.failed.push(e);
            }
        }
    }
    Ok(report)
}
