//! The event history: what happened, remembered on disk for `keep` (30 days)
//! within `max_size` (1 GB), searchable by time, camera, plate (with the
//! rules' fuzzy match), relay, rule, kind and who, read through
//! `GET /api/history`, `GET /api/history.csv` and `camrelay history`.
//!
//! [`writer`] is a subscriber of the core's stream on its own thread;
//! [`store`] owns the SQLite file; [`entry`] says what a row is; this file
//! turns a user's filter words into a [`Query`] and rows into CSV. Nothing
//! here reaches into the core: a history that stalls or fails costs the
//! relays nothing.

pub mod cli;
pub mod entry;
pub mod picture;
pub mod store;
pub mod writer;

pub use entry::{Entry, Kind, PictureNote, Remembered};
pub use store::{Query, Store, StoreError};
pub use writer::{Settings, Stats, Status};

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

/// Rows one request returns at most.
pub const MAX_LIMIT: usize = 10_000;

/// Rows a request returns when it does not say.
pub const DEFAULT_LIMIT: usize = 100;

/// A user's filter, as words (query parameters, command-line options).
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Filter {
    /// `2026-12-05T10:00:00Z`, `2026-12-05` (local midnight), or an age: `24h`, `7d`.
    pub since: Option<String>,
    pub until: Option<String>,
    pub camera: Option<String>,
    /// As read or written on the plate (case and separators do not matter).
    pub plate: Option<String>,
    /// Admit plates this far (the rules' `plate_distance`: 0.5 one look-alike misread).
    pub plate_distance: Option<f64>,
    pub relay: Option<String>,
    pub rule: Option<String>,
    /// One kind or several, comma-separated: `switched,fired`.
    pub kind: Option<String>,
    pub who: Option<String>,
    /// The next page: rows older than this id.
    pub before: Option<i64>,
    pub limit: Option<usize>,
}

impl Filter {
    /// The query it means at wall time `now`, dates read in `tz`; or what is wrong, in words.
    pub fn query(&self, now: DateTime<Utc>, tz: chrono_tz::Tz) -> Result<Query, String> {
        let kinds = match &self.kind {
            None => Vec::new(),
            Some(words) => words
                .split(',')
                .map(str::trim)
                .filter(|w| !w.is_empty())
                .map(|w| {
                    Kind::from_word(w).ok_or_else(|| {
                        let all: Vec<&str> = Kind::ALL.iter().map(|k| k.word()).collect();
                        format!("kind {w:?} is not one of {}", all.join(", "))
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        let plate_halves = match self.plate_distance {
            None => 0,
            Some(d) if (0.0..=4.0).contains(&d) => (d * 2.0).round() as u32,
            Some(d) => return Err(format!("plate_distance {d} must be from 0 to 4")),
        };
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if limit == 0 || limit > MAX_LIMIT {
            return Err(format!("limit {limit} must be from 1 to {MAX_LIMIT}"));
        }
        Ok(Query {
            since_ms: self.since.as_deref().map(|t| time_word(t, now, tz, "since")).transpose()?,
            until_ms: self.until.as_deref().map(|t| time_word(t, now, tz, "until")).transpose()?,
            camera: self.camera.clone(),
            plate: self.plate.as_deref().map(crate::config::normalize_plate).filter(|p| !p.is_empty()),
            plate_halves,
            relay: self.relay.clone(),
            rule: self.rule.clone(),
            kinds,
            who: self.who.clone(),
            before_id: self.before,
            limit,
        })
    }
}

/// `2026-12-05T10:00:00Z` (any RFC 3339), `2026-12-05` (midnight in `tz`),
/// or an age before `now` (`90m`, `24h`, `7d`): wall-clock milliseconds.
fn time_word(text: &str, now: DateTime<Utc>, tz: chrono_tz::Tz, key: &str) -> Result<i64, String> {
    let t = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(t) {
        return Ok(at.timestamp_millis());
    }
    if let Ok(day) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
        let midnight = day.and_hms_opt(0, 0, 0).and_then(|m| tz.from_local_datetime(&m).earliest());
        return midnight
            .map(|m| m.timestamp_millis())
            .ok_or_else(|| format!("{key} {t:?}: there is no midnight that day in {tz}"));
    }
    match crate::config::parse_duration(t) {
        Ok(age) => Ok(now.timestamp_millis() - age.as_millis() as i64),
        Err(_) => Err(format!(
            "{key} {t:?} is not a time: write 2026-12-05T21:30:00Z, 2026-12-05 or an age such as 24h or 7d"
        )),
    }
}

/// The CSV header and one line per row, times in `tz` (RFC 4180 quoting).
pub fn csv(rows: &[Entry], tz: chrono_tz::Tz) -> String {
    let mut out =
        String::from("id,time,last,count,kind,camera,relay,rule,zone,plate,target,class,who,detail\r\n");
    let time = |ms: i64| {
        Utc.timestamp_millis_opt(ms)
            .single()
            .map(|t| t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S%.3f %z").to_string())
            .unwrap_or_default()
    };
    for e in rows {
        let fields = [
            e.id.to_string(),
            time(e.at_ms),
            time(e.last_ms),
            e.count.to_string(),
            e.kind.word().to_string(),
            e.camera.clone().unwrap_or_default(),
            e.relay.clone().unwrap_or_default(),
            e.rule.clone().unwrap_or_default(),
            e.zone.clone().unwrap_or_default(),
            e.plate.clone().unwrap_or_default(),
            e.target.map(|t| t.to_string()).unwrap_or_default(),
            e.class.clone().unwrap_or_default(),
            e.who.clone().unwrap_or_default(),
            e.detail.clone(),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

fn csv_field(f: &str) -> String {
    // A leading = + - @ makes a spreadsheet run the cell as a formula: a
    // camera's free text must not become one.
    let f = if f.starts_with(['=', '+', '-', '@']) { format!("'{f}") } else { f.to_string() };
    if f.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", f.replace('"', "\"\""))
    } else {
        f
    }
}

/// The settings the writer needs, from the rules file's `[history]`.
pub fn settings(config: &crate::config::HistoryConfig) -> Settings {
    Settings {
        dir: config.dir.clone(),
        keep: config.keep,
        max_bytes: config.max_size,
        commit_every: config.commit_every,
        pictures: config.pictures,
    }
}
