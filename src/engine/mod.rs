//! The engine: decoded events and the current instant in, relay commands out.
//!
//! Owns rule matching, presence tracking, geometry and schedules. It must never
//! do I/O, read a clock or know about GPIO: time arrives as [`crate::clock::Now`],
//! so every rule is testable to the millisecond and `replay` runs a day in a second.
