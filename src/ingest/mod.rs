//! Ingest: the HTTP server cameras and NVRs post to.
//!
//! Owns the listener, body limits, timeouts, the success/error replies, the
//! device registry and recording raw posts to disk. It must never evaluate
//! rules or touch relays: decoded events leave on a channel.
