//! How far a plate read is from a listed plate, as people read plates, and
//! whether a `[[plates.<list>]]` entry counts at a local time.
//!
//! Owns the distance: a weighted edit distance where inserting,
//! deleting or replacing a character costs 2 half-units and replacing one by
//! its usual OCR confusion (0/O, 1/I, 8/B, 5/S, 2/Z) costs 1. It must never
//! decide whether a rule fires: the rule's `plate_distance` does.
//!
//! Owns the look-up of a read in plate lists too ([`lookup`]): the entry
//! that lets it in, or why none does in a homeowner's words ("plate JP116D
//! is on visitors only from Sat 12 Dec 09:00"). Pure: the local time is passed in.

use super::schedule::{in_schedule, LocalTime};
use crate::config::{PlateEntry, PlateList};
use chrono::{Datelike, NaiveDateTime};

/// Characters an OCR engine mistakes for one another on plates.
const CONFUSIONS: &[(char, char)] = &[('0', 'O'), ('1', 'I'), ('8', 'B'), ('5', 'S'), ('2', 'Z')];

fn substitution(a: char, b: char) -> u32 {
    if a == b {
        0
    } else if CONFUSIONS.iter().any(|&(x, y)| (a, b) == (x, y) || (a, b) == (y, x)) {
        1
    } else {
        2
    }
}

/// The distance in half-units between two normalized plates (upper case, no
/// separators). Plates are short: the quadratic table costs nothing.
pub fn distance_halves(a: &str, b: &str) -> u32 {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<u32> = (0..=b.len() as u32).map(|j| j * 2).collect();
    let mut row = vec![0u32; b.len() + 1];
    for (i, &ca) in a.iter().enumerate() {
        row[0] = (i as u32 + 1) * 2;
        for (j, &cb) in b.iter().enumerate() {
            row[j + 1] = (prev[j] + substitution(ca, cb)).min(prev[j + 1] + 2).min(row[j] + 2);
        }
        std::mem::swap(&mut prev, &mut row);
    }
    prev[b.len()]
}

/// Where an entry stands at a local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// It counts now.
    Valid,
    /// Its `from` is still to come.
    NotYet,
    /// Its `until` has passed.
    Expired,
    /// Within its dates, but not on one of its `days` or outside its hours.
    OffHours,
}

/// The local time as a date-time, to compare with `from` / `until`.
fn local_datetime(now: LocalTime) -> NaiveDateTime {
    let t = chrono::NaiveTime::from_num_seconds_from_midnight_opt(
        (now.ms / 1000).clamp(0, 86_399) as u32,
        ((now.ms % 1000) * 1_000_000) as u32,
    )
    .unwrap_or(chrono::NaiveTime::MIN);
    now.date.and_time(t)
}

/// Does `entry` count at local time `now`: `from` ≤ now < `until`, on one of
/// its `days`, within its hours (as a rule's window: crossing midnight when
/// `before` < `after`, belonging to the day it starts on)?
pub fn standing(entry: &PlateEntry, now: LocalTime) -> Standing {
    let t = local_datetime(now);
    if entry.from.is_some_and(|f| t < f.start()) {
        return Standing::NotYet;
    }
    if entry.until.is_some_and(|u| t >= u.end()) {
        return Standing::Expired;
    }
    match entry.window() {
        Some(w) if !in_schedule(&w, now, None) => Standing::OffHours,
        _ => Standing::Valid,
    }
}

/// A read found on a list by an entry valid now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OnList<'a> {
    pub list: &'a str,
    pub entry: &'a PlateEntry,
}

/// Look the normalized `read` up in `lists` at local time `now`, accepting
/// entries within `limit` half-units ([`distance_halves`]). The closest
/// entry valid now wins; without one, why not, in words, from the closest
/// entry that is not valid (or "not on visitors" when none is close).
pub fn lookup<'a>(
    lists: &[&'a PlateList],
    read: &str,
    limit: u32,
    now: LocalTime,
) -> Result<OnList<'a>, String> {
    let mut valid: Option<(u32, OnList)> = None;
    let mut invalid: Option<(u32, OnList, Standing)> = None;
    for list in lists {
        for entry in &list.entries {
            let d = if entry.plate == read { 0 } else { distance_halves(read, &entry.plate) };
            if d > limit {
                continue;
            }
            let on = OnList { list: &list.name, entry };
            match standing(entry, now) {
                Standing::Valid => {
                    if valid.as_ref().map_or(true, |(bd, _)| d < *bd) {
                        valid = Some((d, on));
                    }
                }
                other => {
                    if invalid.as_ref().map_or(true, |(bd, _, _)| d < *bd) {
                        invalid = Some((d, on, other));
                    }
                }
            }
        }
    }
    if let Some((_, on)) = valid {
        return Ok(on);
    }
    let Some((_, on, standing)) = invalid else {
        let names: Vec<&str> = lists.iter().map(|l| l.name.as_str()).collect();
        return Err(format!("plate {read} is not on {}", names.join(" or ")));
    };
    let e = on.entry;
    let who = match &e.name {
        Some(n) => format!("plate {} ({n})", e.plate),
        None => format!("plate {}", e.plate),
    };
    Err(match standing {
        Standing::NotYet => {
            let from = e.from.map(|f| when_text(f.start(), now)).unwrap_or_default();
            format!("{who} is on {} only from {from}", on.list)
        }
        Standing::Expired => {
            let until = e.until.map(|u| when_text(u.end(), now)).unwrap_or_default();
            format!("{who} on {} expired {until}", on.list)
        }
        _ => format!("{who} is on {} only {}", on.list, window_text(e)),
    })
}

/// `Sat 12 Dec 09:00`, with the year when it is not this one.
fn when_text(t: NaiveDateTime, now: LocalTime) -> String {
    if t.date().year() == now.date.year() {
        t.format("%a %-d %b %H:%M").to_string()
    } else {
        t.format("%a %-d %b %Y %H:%M").to_string()
    }
}

/// `09:00`, or `09:00:30` when the seconds are not zero.
pub fn clock_text(ms: u32) -> String {
    let s = ms / 1000;
    let (h, m, sec) = (s / 3600, s / 60 % 60, s % 60);
    if sec == 0 {
        format!("{h:02}:{m:02}")
    } else {
        format!("{h:02}:{m:02}:{sec:02}")
    }
}

/// An entry's weekdays and hours in words: `on Sat and Sun, 09:00–18:00`.
pub fn window_text(e: &PlateEntry) -> String {
    let mut parts = Vec::new();
    if e.days != 0x7f {
        let names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
        let days: Vec<&str> = (0..7).filter(|i| e.days & (1 << i) != 0).map(|i| names[i]).collect();
        let text = match days.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
            _ => days.join(""),
        };
        parts.push(format!("on {text}"));
    }
    match (e.after, e.before) {
        (Some(a), Some(b)) => parts.push(format!("{}–{}", clock_text(a), clock_text(b))),
        (Some(a), None) => parts.push(format!("from {}", clock_text(a))),
        (None, Some(b)) => parts.push(format!("until {}", clock_text(b))),
        (None, None) => {}
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PlateTime;

    fn at(date: (i32, u32, u32), h: i64, m: i64) -> LocalTime {
        let date = chrono::NaiveDate::from_ymd_opt(date.0, date.1, date.2).unwrap();
        LocalTime { date, ms: (h * 60 + m) * 60_000, weekday: date.weekday().num_days_from_monday() as u8 }
    }

    fn grandma() -> PlateList {
        let day = chrono::NaiveDate::from_ymd_opt(2026, 12, 12).unwrap();
        PlateList {
            name: "visitors".into(),
            entries: vec![PlateEntry {
                plate: "JP116D".into(),
                name: Some("Grandma".into()),
                from: Some(PlateTime::At(day.and_hms_opt(9, 0, 0).unwrap())),
                until: Some(PlateTime::At(day.and_hms_opt(18, 0, 0).unwrap())),
                days: 0x7f,
                after: None,
                before: None,
            }],
        }
    }

    #[test]
    fn an_entry_counts_from_its_start_until_its_end_and_says_why_not() {
        let list = grandma();
        let lists = [&list];
        assert!(lookup(&lists, "JP116D", 0, at((2026, 12, 12), 10, 0)).is_ok());
        assert_eq!(
            lookup(&lists, "JP116D", 0, at((2026, 12, 12), 8, 59)).unwrap_err(),
            "plate JP116D (Grandma) is on visitors only from Sat 12 Dec 09:00"
        );
        assert_eq!(
            lookup(&lists, "JP116D", 0, at((2026, 12, 13), 10, 0)).unwrap_err(),
            "plate JP116D (Grandma) on visitors expired Sat 12 Dec 18:00"
        );
        assert_eq!(
            lookup(&lists, "XY1", 0, at((2026, 12, 12), 10, 0)).unwrap_err(),
            "plate XY1 is not on visitors"
        );
        // A look-alike misread within the limit finds the entry.
        assert_eq!(lookup(&lists, "JP1I6D", 1, at((2026, 12, 12), 10, 0)).unwrap().entry.plate, "JP116D");
    }

    #[test]
    fn days_and_hours_cross_midnight_as_a_rules_window_does() {
        let mut list = grandma();
        let e = &mut list.entries[0];
        (e.from, e.until, e.days, e.after, e.before) =
            (None, None, 1 << 5, Some(22 * 3_600_000), Some(2 * 3_600_000));
        let e = &list.entries[0];
        assert_eq!(standing(e, at((2026, 12, 12), 23, 0)), Standing::Valid, "Saturday night");
        assert_eq!(standing(e, at((2026, 12, 13), 1, 0)), Standing::Valid, "still Saturday's window");
        assert_eq!(standing(e, at((2026, 12, 13), 23, 0)), Standing::OffHours, "Sunday night");
        assert_eq!(window_text(e), "on Sat, 22:00–02:00");
    }

    #[test]
    fn ocr_confusions_cost_half_an_edit() {
        assert_eq!(distance_halves("A8C1234", "A8C1234"), 0);
        assert_eq!(distance_halves("ABC1234", "A8C1234"), 1, "8/B");
        assert_eq!(distance_halves("A8CI234", "A8C1234"), 1, "1/I");
        assert_eq!(distance_halves("ABCI234", "A8C1234"), 2, "two confusions");
        assert_eq!(distance_halves("AXC1234", "A8C1234"), 2, "an ordinary substitution");
        assert_eq!(distance_halves("A8C123", "A8C1234"), 2, "a character missed");
        assert_eq!(distance_halves("", "AB"), 4);
        assert_eq!(distance_halves("ZZZ", "222"), 3);
    }
}
