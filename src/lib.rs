//! camrelay: Viewtron camera and NVR detections in, relay switching out.
//!
//! The flow is one direction: [`ingest`] → [`decode`] → [`engine`] → [`relays`].
//! [`config`] is read by all of them; [`clock`] and [`command`] are the plain
//! types on the arrows, and [`words`] the few words (a duration as written, a
//! relay condition, an anchor) that `config`, `command`, the engine and the
//! controller share without using each other.

// No panic path reachable from the network or a rules file: input errors are
// typed errors, never unwrap/expect/panic (tests may use them).
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod access;
pub mod api;
pub mod camera;
pub mod clock;
pub mod command;
pub mod config;
pub mod daemon;
pub mod decode;
pub mod engine;
pub mod happened;
pub mod history;
pub mod ingest;
pub mod mqtt;
pub mod relays;
pub mod reload;
pub mod replay;
pub mod request;
pub mod systemd;
pub mod web;
pub mod why;
pub mod words;
