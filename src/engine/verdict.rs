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
    /// The second copy of a detection from a camera with two sources (its
    /// NVR forwarded what it had posted itself, or the other way round).
    Duplicate,
    /// Outside the rule's time window or days.
    OutsideWindow,
    /// A state the rule asks for (`offline`, `occupied`, `input_on`, `input_off`) does not hold.
    State,
    /// Another input's event, or the input changed to the other level.
    OtherInput,
    /// Everything in the rule's `unless` holds.
    Unless,
    /// The post names no target, or no target with an id.
    NoTarget,
    /// `zone_entry` / `zone_exit`: no target entered or left the zone on this post.
    NoTransition,
    /// `zone_exit`: a target is outside the polygon but still counted in the
    /// zone until `inertia` posts agree.
    Inertia,
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
    /// The plate is on none of the rule's `plate_list`s by an entry valid at
    /// the event's local time (the why-not detail says which and why).
    PlateList,
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
            Verdict::WrongCamera => {
                "from another camera (or a device that matches no [[camera]] of the rule)"
            }
            Verdict::WrongChannel => "for another NVR channel",
            Verdict::Duplicate => "the same detection already came from the camera's other source",
            Verdict::OutsideWindow => "outside its time window",
            Verdict::State => "a state it asks for does not hold (offline, occupied, an input's level)",
            Verdict::OtherInput => "another input, or the input went to the other level",
            Verdict::Unless => "held still by its unless",
            Verdict::NoTarget => "no target in the post",
            Verdict::NoTransition => "no target entered or left the zone",
            Verdict::Inertia => {
                "still in the zone (inertia: a few more posts outside before it counts as left)"
            }
            Verdict::WrongClass => "no target of the rule's class",
            Verdict::BoxFilter => "the target's box is too small, too large or the wrong shape",
            Verdict::OutsideZone => "no target in the zone or area",
            Verdict::WrongOrder => "the target did not come from the zone before it in time",
            Verdict::WrongDirection => "the target does not move that way",
            Verdict::Stationary => {
                "the target is stationary (parked); include_stationary = true would count it"
            }
            Verdict::Dwell => "not there long enough yet (dwell)",
            Verdict::AlreadyMatched => {
                "already fired for this target; fires again once it leaves and comes back"
            }
            Verdict::Count => "the number of targets there does not match",
            Verdict::Plate => "the plate does not match",
            Verdict::PlateList => "the plate is not on its plate list, or its entry does not count now",
            Verdict::Alarm => "the alarm does not match",
            Verdict::Cooldown => "it fired a moment ago and is cooling down",
            Verdict::PlateCooldown => "it fired for this plate a moment ago and is cooling down for it",
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
    /// Counting rules: the count the verdict was given on.
    pub count: Option<u32>,
}

/// What the relay controller's answer means, in words (`apply`'s reasons).
pub fn relay_words(reason: &str) -> &'static str {
    match reason {
        "min_off" => "the relay waits for its minimum off time (min_off)",
        "interlock" => "the relay waits for its interlocked relay",
        "chatter lockout" => "the relay waits: it switched too often (switch_limit)",
        "manual override" => "a manual override holds the relay",
        "relay condition" => "a relay condition did not hold",
        "retrigger single" => "a pulse was already running (retrigger = \"single\")",
        "max_on spent" => {
            "max_on cut the relay while this target held it; it stays off until the target leaves"
        }
        "zero pulse" => "a pulse of zero length",
        "unknown relay" => "no such relay",
        _ => "the relay did nothing",
    }
}
