//! Presence from traject posts: one track per camera and target id.
//!
//! A target is present while posts keep naming it and gone `target_timeout`
//! after the last one. Its zone membership changes only after `inertia`
//! consecutive posts say so (both ways), so a box jittering on a zone's edge
//! neither enters nor leaves. A target whose box stays put (each edge within
//! a tolerance of where it last moved) for `stationary_after` is stationary
//! until it moves. The track keeps a few anchor points of its last seconds
//! for the travel direction. Owns no rules: it reports transitions.

use crate::clock::Instant;
use crate::decode::{Point, Rect, TargetClass};
use std::time::Duration;

/// How far back the travel direction looks.
pub const HEADING_WINDOW: Duration = Duration::from_secs(2);
/// Anchor points kept for the travel direction, at least this far apart.
const PATH_SPACING: Duration = Duration::from_millis(250);
const PATH_LEN: usize = 8;

/// Membership of one target in one zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZoneState {
    pub inside: bool,
    /// Consecutive posts that disagreed with `inside`.
    pub streak: u32,
    /// When the target (last) entered; meaningful while `inside` or `visited`.
    pub entered_at: Instant,
    /// When it last left; meaningful when `visited` and not `inside`.
    pub left_at: Instant,
    /// It has been inside at some time (zone order looks at earlier zones).
    pub visited: bool,
}

impl ZoneState {
    pub const OUTSIDE: ZoneState = ZoneState {
        inside: false,
        streak: 0,
        entered_at: Instant::ZERO,
        left_at: Instant::ZERO,
        visited: false,
    };

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
            self.visited = true;
        } else {
            self.left_at = now;
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
    /// The box when the target last moved, and since when it has not.
    still_box: Option<Rect>,
    pub still_since: Instant,
    pub stationary: bool,
    /// Anchor points (bottom centre) of the last [`HEADING_WINDOW`], oldest first.
    path: [(Instant, Point); PATH_LEN],
    path_len: usize,
}

/// A target's stationary state changed on this post.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stillness {
    BecameStationary,
    Moved,
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
            still_box: None,
            still_since: now,
            stationary: false,
            path: [(Instant::ZERO, Point { x: 0, y: 0 }); PATH_LEN],
            path_len: 0,
        }
    }

    /// Feed this post's box: stationary when no edge moved more than
    /// `tolerance` (picture units) for `after`; active again on the first
    /// post that moves one further. A target whose class may not be
    /// stationary (`may_stop` false: a person, by default) never is: someone
    /// waiting at a door is still there. Returns the change, if any.
    pub fn observe_box(
        &mut self,
        rect: Rect,
        tolerance: u32,
        after: Duration,
        may_stop: bool,
        now: Instant,
    ) -> Option<Stillness> {
        let moved = match &self.still_box {
            None => true,
            Some(b) => {
                let d = |a: u32, b: u32| a.abs_diff(b) > tolerance;
                d(rect.x1, b.x1) || d(rect.y1, b.y1) || d(rect.x2, b.x2) || d(rect.y2, b.y2)
            }
        };
        self.push_path(bottom_center(&rect), now);
        if moved || !may_stop {
            if moved {
                self.still_box = Some(rect);
                self.still_since = now;
            }
            if self.stationary {
                self.stationary = false;
                return Some(Stillness::Moved);
            }
            return None;
        }
        if !self.stationary && now.since(self.still_since) >= after {
            self.stationary = true;
            return Some(Stillness::BecameStationary);
        }
        None
    }

    fn push_path(&mut self, p: Point, now: Instant) {
        if self.path_len > 0 && now.since(self.path[self.path_len - 1].0) < PATH_SPACING {
            // Keep the newest point current without crowding the window.
            if self.path_len > 1 {
                self.path[self.path_len - 1] = (now, p);
                return;
            }
        }
        if self.path_len == PATH_LEN {
            self.path.copy_within(1.., 0);
            self.path_len -= 1;
        }
        self.path[self.path_len] = (now, p);
        self.path_len += 1;
    }

    /// The oldest anchor point of the last [`HEADING_WINDOW`] and the newest.
    pub fn travel(&self, now: Instant) -> Option<(Point, Point)> {
        let points = &self.path[..self.path_len];
        let newest = points.last()?.1;
        let oldest = points.iter().find(|(t, _)| now.since(*t) <= HEADING_WINDOW)?.1;
        Some((oldest, newest))
    }
}

/// The anchor the travel direction follows: where the target stands.
pub fn bottom_center(r: &Rect) -> Point {
    Point { x: (r.x1.min(r.x2) + r.x1.max(r.x2)) / 2, y: r.y1.max(r.y2) }
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
        assert_eq!((z.left_at, z.visited), (t(800), true));
    }

    #[test]
    fn a_box_that_stays_put_becomes_stationary_and_moving_wakes_it() {
        let t = Instant::from_millis;
        let mut track = Track::new(t(0), TargetClass::Vehicle, "cam".into(), 0, 0);
        let r = |dx: u32| Rect { x1: 1000 + dx, y1: 1000, x2: 3000 + dx, y2: 2000 };
        let after = Duration::from_secs(10);
        assert_eq!(track.observe_box(r(0), 300, after, true, t(0)), None);
        assert_eq!(track.observe_box(r(250), 300, after, true, t(5_000)), None, "jitter within tolerance");
        assert_eq!(track.observe_box(r(100), 300, after, true, t(9_999)), None);
        assert_eq!(track.observe_box(r(0), 300, after, true, t(10_000)), Some(Stillness::BecameStationary));
        assert!(track.stationary);
        assert_eq!(track.observe_box(r(301), 300, after, true, t(11_000)), Some(Stillness::Moved));
        assert_eq!((track.stationary, track.still_since), (false, t(11_000)));
        let (from, to) = track.travel(t(11_000)).unwrap();
        assert_eq!(
            (from.x, to.x),
            (2000, 2301),
            "from the oldest point of the last 2 s (10 s, which replaced 9.999 s)"
        );
    }
}
