//! `[[plates.<list>]]`: the household's plate lists (residents, visitors,
//! deliveries, any `[a-z0-9_]` name) and each entry's plate, name, dates,
//! weekdays and hours. Read before the rules, whose `plate_list` names them.
//! It decides what an entry says, never whether a read matches it (the engine does).

use super::*;
use crate::config::{PlateEntry, PlateList, PlateTime};

/// The weekday words an entry's `days` takes (a rule's, without dates:
/// `from` / `until` say which dates).
const DAY_WORDS: &[&str] = &["mon", "tue", "wed", "thu", "fri", "sat", "sun", "weekdays", "weekend"];

/// Is `name` a list name: `[a-z0-9_]`, not empty.
pub(crate) fn list_name_ok(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

impl Builder {
    /// The `plates` table: one array of tables per list.
    pub(super) fn plates(&mut self, v: &Value) -> R<()> {
        let DeValue::Table(lists) = v.get_ref() else {
            return Err(Diag::new(
                v.span(),
                "plates",
                "plate lists are written [[plates.visitors]] (one block per plate)",
            ));
        };
        let mut lists: Vec<_> = lists.iter().collect();
        lists.sort_by_key(|(k, _)| k.span().start);
        for (k, v) in lists {
            let name: &str = k.get_ref().as_ref();
            if !list_name_ok(name) {
                return Err(Diag::new(
                    k.span(),
                    name,
                    format!("plate list \"{name}\" needs a name of lower-case letters, digits and \"_\", e.g. [[plates.visitors]]"),
                ));
            }
            let DeValue::Array(blocks) = v.get_ref() else {
                return Err(Diag::new(
                    k.span(),
                    name,
                    format!("plate list \"{name}\" must be written [[plates.{name}]] (one block per plate), found {}", found(v)),
                ));
            };
            let mut list = PlateList { name: name.to_string(), entries: Vec::new() };
            // Where each plate was written, to name the first place of a duplicate.
            let mut at: Vec<usize> = Vec::new();
            for (i, block) in blocks.iter().enumerate() {
                let label = format!("[[plates.{name}]] #{}", i + 1);
                let t = Tbl::new(&label, "plates", block)?;
                let (entry, span) = self.plate_entry(&t, name)?;
                if let Some(j) = list.entries.iter().position(|e| e.plate == entry.plate) {
                    let (line, _) = super::super::diag::line_col(&self.text, at[j]);
                    return Err(Diag::new(
                        span,
                        "plate",
                        format!(
                            "plate \"{}\" is on list \"{name}\" twice (first on line {line}); one block per plate: give it one from / until, or put the other visit on another list",
                            entry.plate
                        ),
                    ));
                }
                at.push(span.start);
                list.entries.push(entry);
            }
            self.cfg.plates.push(list);
        }
        Ok(())
    }

    fn plate_entry(&self, t: &Tbl, list: &str) -> R<(PlateEntry, Range<usize>)> {
        t.check_keys()?;
        let (written, span) = t.req_str("plate", "\"AB123CD\"")?;
        let plate = normalize_plate(written);
        if plate.is_empty() {
            return Err(Diag::new(
                span,
                "plate",
                format!("\"plate\" in {} has an empty plate number", t.label),
            ));
        }
        let label = format!("[[plates.{list}]] \"{plate}\"");
        let t = Tbl { label: &label, ..t.clone() };
        let name = t.str("name")?.map(|(n, _)| n.to_string());
        let from = plate_time(&t, "from")?;
        let until = plate_time(&t, "until")?;
        if let (Some(f), Some(u)) = (from, until) {
            if u.end() <= f.start() {
                return Err(Diag::new(
                    t.get("until").map(|v| v.span()).unwrap_or(t.span.clone()),
                    "until",
                    format!(
                        "\"until\" ({}) in {label} is not after \"from\" ({}); the entry would never count",
                        u.toml_text(),
                        f.toml_text()
                    ),
                ));
            }
        }
        let mut days = 0x7f;
        if let Some((words, _)) = t.strings("days")? {
            days = 0;
            for (w, span) in words {
                days |= day_mask(w).ok_or_else(|| bad_word(span, "days", w, &label, DAY_WORDS))?;
            }
        }
        let mut hours = [None, None];
        for (slot, key) in hours.iter_mut().zip(["after", "before"]) {
            let Some((s, span)) = t.str(key)? else { continue };
            match time_spec(s, span.clone(), key, &label)? {
                TimeSpec::Clock { ms } => *slot = Some(ms),
                TimeSpec::Sun { .. } => {
                    return Err(Diag::new(
                        span,
                        key,
                        format!(
                            "\"{key}\" in {label} takes a clock time like \"09:00\"; sun times are for rules"
                        ),
                    ))
                }
            }
        }
        let timed = ["from", "until", "days", "after", "before"].into_iter().find(|k| t.get(k).is_some());
        if let Some(key) = timed {
            if !self.site_tz_set {
                return Err(Diag::new(
                    t.key_span(key),
                    key,
                    format!("{label} has \"{key}\" but [site] has no \"timezone\"; add [site] timezone = \"Europe/Berlin\" (your zone) so its times mean local time"),
                ));
            }
        }
        let entry = PlateEntry { plate, name, from, until, days, after: hours[0], before: hours[1] };
        Ok((entry, span))
    }

    /// A rule's `plate_list` names: each must be a list of this file.
    pub(super) fn plate_lists(&self, t: &Tbl) -> R<Vec<String>> {
        let Some((names, _)) = t.strings("plate_list")? else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        for (n, span) in names {
            if self.cfg.plate_list(n).is_none() {
                let all: Vec<&str> = self.cfg.plates.iter().map(|l| l.name.as_str()).collect();
                let lists = if all.is_empty() {
                    "this file has no plate list: add one as [[plates.visitors]] with plate = \"AB123CD\""
                        .to_string()
                } else {
                    let quoted: Vec<String> = all.iter().map(|l| format!("\"{l}\"")).collect();
                    format!("lists: {}", quoted.join(", "))
                };
                let hint = match did_you_mean(n, all.iter().copied()) {
                    Some(s) => format!("did you mean \"{s}\"? ({lists})"),
                    None => lists,
                };
                return Err(Diag::new(
                    span,
                    "plate_list",
                    format!(
                        "{} names plate_list \"{n}\", which no [[plates.{n}]] block defines; {hint}",
                        t.label
                    ),
                ));
            }
            if !out.iter().any(|o: &String| o == n) {
                out.push(n.to_string());
            }
        }
        Ok(out)
    }
}

/// `from` / `until`: a TOML local date-time or local date (no offset: the
/// site's timezone applies, so a list means the same after a clock change).
fn plate_time(t: &Tbl, key: &str) -> R<Option<PlateTime>> {
    let Some(v) = t.get(key) else { return Ok(None) };
    let example = if key == "from" { "2026-12-12T09:00:00" } else { "2026-12-12T18:00:00" };
    let DeValue::Datetime(dt) = v.get_ref() else {
        return Err(t.wrong(
            key,
            v,
            &format!("a local date-time like {example} or a date like 2026-12-12 (no quotes)"),
        ));
    };
    if dt.offset.is_some() {
        return Err(Diag::new(
            v.span(),
            key,
            format!("\"{key}\" in {} has a UTC offset; write the local time without one, e.g. {example}: [site] timezone says where", t.label),
        ));
    }
    let text = dt.to_string();
    let parsed = match (dt.date.is_some(), dt.time.is_some()) {
        (true, true) => chrono::NaiveDateTime::parse_from_str(&text, "%Y-%m-%dT%H:%M:%S%.f")
            .or_else(|_| chrono::NaiveDateTime::parse_from_str(&text, "%Y-%m-%d %H:%M:%S%.f"))
            .ok()
            .map(PlateTime::At),
        (true, false) => chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d").ok().map(PlateTime::Date),
        _ => None,
    };
    parsed.map(Some).ok_or_else(|| {
        Diag::new(
            v.span(),
            key,
            format!("\"{key}\" in {} must be a local date-time like {example} or a date like 2026-12-12, found {text}", t.label),
        )
    })
}
