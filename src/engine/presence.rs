//! Presence from traject posts: one track per camera and target id.
//!
//! A target is present while posts keep naming it and gone `target_timeout`
//! after the last one. Its zone membership changes only after `inertia`
//! consecutive posts say so (both ways), so a box jittering on a zone's edge
//! neither enters nor leaves. Owns no rules: it reports transitions.

use crate::clock::Instant;
use crate::decode::{Rect, TargetClass};

/// Membership of one target in one zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZoneState {
    pub inside: bool,
    /// Consecutive posts that disagreed with `inside`.
    pub streak: u32,
    /// When the target (last) entered; meaningful while `inside`.
    pub entered_at: Instant,
}

impl ZoneState {
    pub const OUTSIDE: ZoneState = ZoneState { inside: false, streak: 0, entered_at: Instant::ZERO };

    /// Feed one post's verdict. Returns `Some(true)` on entry, `Some(false)` on exit.
    pub fn observe(&mut self, inside_now: bool, inertia: u32, now: Instant) -> Option<bool> {
        if inside_now == self.inside {
            self.streak = 0;
            return None;
        }
        self.streak += 1;
        if self.streak < inertia.max(1) {
            return None;
        }
        self.inside = inside_now;
        self.streak = 0;
        if inside_now {
            self.entered_at = now;
        }
        Some(inside_now)
    }
}

/// One tracked target.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    pub first_seen: Instant,
    pub last_seen: Instant,
    pub class: TargetClass,
    pub rect: Option<Rect>,
    /// NVR channel of the posts naming it (for rule conditions at expiry).
    pub channel: Option<u32>,
    /// Camera name for explanations.
    pub camera: String,
    /// Indexed by zone index of the engine's zone list.
    pub zones: Vec<ZoneState>,
    /// Per rule: did the rule's conditions hold for this target on the last post.
    /// Edge-triggered actions (pulse, on, off, toggle) fire on the rising edge only.
    pub latched: Vec<bool>,
}

impl Track {
    pub fn new(now: Instant, class: TargetClass, camera: String, zones: usize, rules: usize) -> Track {
        Track {
            first_seen: now,
            last_seen: now,
            class,
            rect: None,
            channel: None,
            camera,
            zones: vec![ZoneState::OUTSIDE; zones],
            latched: vec![false; rules],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inertia_needs_consecutive_posts() {
        let mut z = ZoneState::OUTSIDE;
        let t = Instant::from_millis;
        assert_eq!(z.observe(true, 3, t(0)), None);
        assert_eq!(z.observe(true, 3, t(100)), None);
        assert_eq!(z.observe(false, 3, t(200)), None, "an out post resets the count");
        assert_eq!(z.observe(true, 3, t(300)), None);
        assert_eq!(z.observe(true, 3, t(400)), None);
        assert_eq!(z.observe(true, 3, t(500)), Some(true));
        assert_eq!(z.entered_at, t(500));
        assert_eq!(z.observe(false, 3, t(600)), None);
        assert_eq!(z.observe(false, 3, t(700)), None);
        assert_eq!(z.observe(false, 3, t(800)), Some(false));
    }
}
