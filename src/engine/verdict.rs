//! Why a rule did or did not fire on one event: the first condition that failed.
//!
//! The engine writes one [`Verdict`] per rule that listens to the event's
//! kind, for every event it handles ([`super::Engine::verdicts`]); the
//! daemon's and replay's why-not history ([`crate::why`]) keeps them. Owns
//! the words only; it never decides anything.

use crate::clock::Instant;

/// The outcome of one rule on one event. For a post with several targets it
/// is the target that got furthest through the conditions: conditions are
/// checked in the order of the variants, so "stationary" means the target
/// was of the right class, in the zone, came the right way, and stood still.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// From a camera the rule does not name.
    WrongCamera,
    /// For an NVR channel the rule does not name.
    WrongChannel,
    /// Outside the rule's time window or days.
    OutsideWindow,
    /// The post names no target, or no target with an id.
    NoTarget,
    /// `zone_entry` / `zone_exit`: no target entered or left the zone on this post.
    NoTransition,
    /// No target of the rule's class.
    WrongClass,
    /// The box is too small, too large or the wrong shape.
    BoxFilter,
    /// No target in the rule's zone or area.
    OutsideZone,
    /// The target did not come from the rule's `from_zone` in time.
    WrongOrder,
    /// The target does not move towards / away from the zone.
    WrongDirection,
    /// The target is stationary (and the rule does not include stationary ones).
    Stationary,
    /// Not in the zone or area for `dwell` yet.
    Dwell,
    /// An edge-triggered rule already fired for this target; it fires again
    /// when the conditions stop and start holding.
    AlreadyMatched,
    /// The occupancy count is outside `min_count`..`max_count`, or the place
    /// did not change between occupied and empty.
    Count,
    /// The plate does not match.
    Plate,
    /// The alarm's name or state does not match.
    Alarm,
    /// The rule fired within its `cooldown`.
    Cooldown,
    /// The rule fired for this plate within `plate_cooldown`.
    PlateCooldown,
    /// The rule issued its command.
    Fired,
}

impl Verdict {
    /// As a user reads it in `replay --why` and the API.
    pub fn text(self) -> &'static str {
        match self {
            Verdict::WrongCamera => "from another camera",
            Verdict::WrongChannel => "for another NVR channel",
            Verdict::OutsideWindow => "outside the time window",
            Verdict::NoTarget => "no target in the post",
            Verdict::NoTransition => "no target entered or left the zone",
            Verdict::WrongClass => "no target of the rule's class",
            Verdict::BoxFilter => "the target's box fails min/max area or aspect",
            Verdict::OutsideZone => "no target in the zone or area",
            Verdict::WrongOrder => "the target did not come from from_zone in time",
            Verdict::WrongDirection => "the target does not move that way",
            Verdict::Stationary => "the target is stationary",
            Verdict::Dwell => "not there for dwell yet",
            Verdict::AlreadyMatched => "already fired for this target (edge)",
            Verdict::Count => "the count or occupied/empty state does not match",
            Verdict::Plate => "the plate does not match",
            Verdict::Alarm => "the alarm does not match",
            Verdict::Cooldown => "cooldown",
            Verdict::PlateCooldown => "plate_cooldown",
            Verdict::Fired => "fired",
        }
    }
}

/// One rule's verdict on one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleVerdict {
    /// Index of the rule in the rules file (enabled rules only).
    pub rule: usize,
    pub at: Instant,
    /// The event word (`presence`, `plate`, `zone_exit`, ...).
    pub event: &'static str,
    /// Index of the `[[camera]]`, when the post matched one.
    pub camera: Option<usize>,
    pub target: Option<u32>,
    pub verdict: Verdict,
}
