//! Time windows in local time: `after` / `before` (clock times or sun events),
//! `days` (weekdays and dates) and `except_days` (holidays).
//!
//! A window whose start is later than its end crosses midnight (22:00–06:00,
//! sunset–sunrise). `days` names the day a window *starts* on, so Friday
//! 22:00–06:00 still holds at 03:00 on Saturday; `except_days` too, so a
//! window starting on Christmas Eve ends as usual on Christmas morning. Sun events are those of the
//! local date being evaluated. Pure: the caller passes the wall time.

use super::sun::{sun_times, SunTimes};
use crate::config::{Schedule, SiteConfig, SunEvent, TimeSpec};
use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};

const DAY_MS: i64 = 86_400_000;

/// The wall time as the site sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    pub date: NaiveDate,
    /// Milliseconds since local midnight.
    pub ms: i64,
    /// 0 = Monday .. 6 = Sunday.
    pub weekday: u8,
}

pub fn local_time(wall: DateTime<Utc>, site: &SiteConfig) -> LocalTime {
    let local = wall.with_timezone(&site.timezone);
    let t = local.time();
    let ms = (t.num_seconds_from_midnight() as i64) * 1000 + (t.nanosecond() as i64 / 1_000_000).min(999);
    LocalTime { date: local.date_naive(), ms, weekday: local.weekday().num_days_from_monday() as u8 }
}

/// Sunrise and sunset of a local date as milliseconds after local midnight,
/// clamped so that polar day and night behave: under midnight sun "sunset to
/// sunrise" is never, under polar night it is always.
pub fn sun_ms(date: NaiveDate, site: &SiteConfig) -> Option<(i64, i64)> {
    let (lat, lon) = (site.latitude?, site.longitude?);
    Some(match sun_times(date, lat, lon) {
        SunTimes::Normal { rise, set } => {
            let to_ms = |t: DateTime<Utc>| {
                let l = t.with_timezone(&site.timezone);
                let day_shift = (l.date_naive() - date).num_days() * DAY_MS;
                l.time().num_seconds_from_midnight() as i64 * 1000 + day_shift
            };
            (to_ms(rise), to_ms(set))
        }
        SunTimes::AlwaysUp => (0, DAY_MS - 1),
        SunTimes::AlwaysDown => (DAY_MS - 1, 0),
    })
}

fn bound(spec: TimeSpec, sun: Option<(i64, i64)>) -> Option<i64> {
    match spec {
        TimeSpec::Clock { ms } => Some(ms as i64),
        TimeSpec::Sun { event, offset_ms } => {
            let (rise, set) = sun?;
            let base = if event == SunEvent::Sunrise { rise } else { set };
            Some((base + offset_ms).clamp(0, DAY_MS))
        }
    }
}

/// Does the schedule hold at local time `now`? `sun` is `sun_ms` of `now.date`
/// (`None` when the site has no location; validation makes sun bounds need one).
pub fn in_schedule(s: &Schedule, now: LocalTime, sun: Option<(i64, i64)>) -> bool {
    let start = match s.after {
        Some(spec) => match bound(spec, sun) {
            Some(v) => v,
            None => return false,
        },
        None => 0,
    };
    let end = match s.before {
        Some(spec) => match bound(spec, sun) {
            Some(v) => v,
            None => return false,
        },
        None => DAY_MS,
    };
    let t = now.ms;
    let (inside, started_yesterday) = if start <= end {
        (t >= start && t < end, false)
    } else if t >= start {
        (true, false)
    } else {
        (t < end, true)
    };
    if !inside {
        return false;
    }
    let (day, date) = if started_yesterday {
        ((now.weekday + 6) % 7, now.date.pred_opt().unwrap_or(now.date))
    } else {
        (now.weekday, now.date)
    };
    let on = |ranges: &[(NaiveDate, NaiveDate)]| ranges.iter().any(|(a, b)| *a <= date && date <= *b);
    (s.days & (1 << day) != 0 || on(&s.dates)) && !on(&s.except)
}
