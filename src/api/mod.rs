//! The management API: health, status, manual relay control and metrics.
//!
//! Owns the second HTTP listener (loopback by default) and token checks. It
//! must never switch a relay except through the controller's manual override,
//! which the safety limits still bound.
