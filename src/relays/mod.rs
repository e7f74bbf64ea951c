//! The relays: one owner of all GPIO lines, and the safety limits no rule can override.
//!
//! Owns the [`Backend`] trait (cdev, rppal, mock), opening the configured
//! backend, and the controller that applies [`crate::command::Command`]s on a
//! clock passed in. It must never evaluate rules, read a wall clock, or leave a
//! line in any state but off when it starts or stops.

use crate::clock::Instant;
pub mod cdev;

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
    #[error("relay {relay:?}: no line named {line:?} on any chip ({searched}). Use the offset instead, or check `gpioinfo`")]
    LineNotFound { relay: String, line: String, searched: String },
    #[error("relay {relay:?}: line {line} is out of range: {chip} has lines 0..{lines}")]
    LineOutOfRange { relay: String, line: u32, chip: String, lines: u32 },
    #[error("relay {relay:?}: line {line} on {chip} is busy, held by consumer {consumer:?}. Stop that program (or remove its device-tree overlay) first")]
    LineBusy { relay: String, line: u32, chip: String, consumer: String },
    #[error("permission denied opening {path}: run as root or add the service user to the `gpio` group (udev rule: SUBSYSTEM==\"gpio\", GROUP=\"gpio\", MODE=\"0660\")")]
    PermissionDenied { path: String },
    #[error(
        "relays {first:?} and {second:?} are both on line {line} of {chip}; each relay needs its own line"
    )]
    DuplicateLine { first: String, second: String, line: String, chip: String },
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
