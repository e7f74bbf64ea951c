//! The camera's own API: what camrelay can ask a Viewtron camera or NVR.
//!
//! Owns the device client ([`client`]: Basic auth, timeouts, a body limit),
//! the decoders of its answers ([`answer`], both API generations), turning
//! them into camrelay's configuration ([`setup`]) and the `camrelay camera`
//! commands ([`cli`]). The daemon uses the client for snapshots and to check
//! subscriptions ([`directory`]). It must never change a device's settings
//! unless a user asked for it, never put a password in a message, and never
//! touch the engine or a relay.

pub mod answer;
pub mod cli;
pub mod client;
pub mod directory;
pub mod setup;
pub mod untrusted;
pub mod xml;

pub use client::{CameraError, Client, Secret};
