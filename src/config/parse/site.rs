//! `[site]` and `[presence]`, and the words of time a schedule is written in
//! (`"21:30"`, `"sunset-30m"`, `"mon-fri"`, `"2026-12-24..2026-12-26"`).

use super::*;

impl Builder {
    pub(super) fn site(&mut self, t: Tbl) -> R<()> {
        t.check_keys()?;
        let lat = t.number("latitude")?;
        let lon = t.number("longitude")?;
        if let Some((v, span)) = &lat {
            if !(-90.0..=90.0).contains(v) {
                return Err(Diag::new(
                    span.clone(),
                    "latitude",
                    format!("\"latitude\" must be between -90 and 90 degrees (north positive), found {v}"),
                ));
            }
        }
        if let Some((v, span)) = &lon {
            if !(-180.0..=180.0).contains(v) {
                return Err(Diag::new(
                    span.clone(),
                    "longitude",
                    format!("\"longitude\" must be between -180 and 180 degrees (east positive), found {v}"),
                ));
            }
        }
        match (&lat, &lon) {
            (Some(_), None) => return Err(t.missing("longitude", "13.405")),
            (None, Some(_)) => return Err(t.missing("latitude", "52.52")),
            _ => {}
        }
        self.cfg.site.latitude = lat.map(|x| x.0);
        self.cfg.site.longitude = lon.map(|x| x.0);
        if let Some((tz, span)) = t.str("timezone")? {
            self.cfg.site.timezone = tz.parse::<chrono_tz::Tz>().map_err(|_| {
                let names = chrono_tz::TZ_VARIANTS.iter().map(|z| z.name());
                let hint = match did_you_mean(tz, names) {
                    Some(s) => format!("did you mean \"{s}\"?"),
                    None => "use an IANA zone name such as \"Europe/Berlin\" or \"America/New_York\"".into(),
                };
                Diag::new(span, "timezone", format!("unknown time zone \"{tz}\"; {hint}"))
            })?;
            self.site_tz_set = true;
        }
        Ok(())
    }

    pub(super) fn presence(&mut self, t: Tbl) -> R<()> {
        t.check_keys()?;
        if let Some((d, _)) = positive(t.duration("target_timeout")?, "target_timeout", t.label)? {
            self.cfg.presence.target_timeout = d;
        }
        if let Some((n, span)) = t.int("inertia")? {
            if !(1..=100).contains(&n) {
                return Err(Diag::new(
                    span,
                    "inertia",
                    format!("\"inertia\" must be between 1 and 100 posts, found {n}"),
                ));
            }
            self.cfg.presence.inertia = n as u32;
        }
        if let Some((d, _)) = t.duration("stationary_after")? {
            self.cfg.presence.stationary_after = d;
        }
        if let Some((v, span)) = t.number("stationary_tolerance")? {
            if !(0.0..=0.5).contains(&v) {
                return Err(Diag::new(
                    span,
                    "stationary_tolerance",
                    format!("\"stationary_tolerance\" is a fraction of the picture between 0 and 0.5 (0.03 = 3%), found {v}"),
                ));
            }
            self.cfg.presence.stationary_tolerance = v;
        }
        if let Some((classes, _)) = t.strings("stationary_classes")? {
            let mut set = ClassSet::default();
            for (w, span) in classes {
                let Some(class) = class_named(w) else {
                    return Err(bad_word(span, "stationary_classes", w, t.label, CLASS_WORDS));
                };
                set.insert(class);
            }
            self.cfg.presence.stationary_classes = set;
        }
        Ok(())
    }
}

/// `"2026-12-24"` or `"2026-12-24..2026-12-26"` (inclusive), in order.
pub(super) fn date_range(d: &str) -> Option<(chrono::NaiveDate, chrono::NaiveDate)> {
    let date = |s: &str| chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok();
    let (a, b) = match d.split_once("..") {
        Some((a, b)) => (date(a)?, date(b)?),
        None => (date(d)?, date(d)?),
    };
    (a <= b).then_some((a, b))
}

pub(super) fn day_mask(d: &str) -> Option<u8> {
    let d = d.trim().to_ascii_lowercase();
    let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let full = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
    if let Some(i) = days.iter().position(|x| *x == d).or_else(|| full.iter().position(|x| *x == d)) {
        return Some(1 << i);
    }
    match d.as_str() {
        "weekdays" => Some(0b001_1111),
        "weekend" | "weekends" => Some(0b110_0000),
        _ => None,
    }
}

pub(super) fn time_spec(s: &str, span: Range<usize>, key: &str, label: &str) -> R<TimeSpec> {
    let bad = || {
        Diag::new(
            span.clone(),
            key,
            format!("\"{key}\" in {label} cannot be \"{s}\"; write a local time like \"22:30\", or \"sunset\", \"sunrise\" with an optional offset like \"sunset-30m\""),
        )
    };
    let t = s.trim();
    for (word, event) in [("sunrise", SunEvent::Sunrise), ("sunset", SunEvent::Sunset)] {
        if let Some(rest) = t.strip_prefix(word) {
            let rest = rest.trim();
            let offset_ms = if rest.is_empty() {
                0
            } else {
                let (sign, d) = match rest.as_bytes()[0] {
                    b'+' => (1, &rest[1..]),
                    b'-' => (-1, &rest[1..]),
                    _ => return Err(bad()),
                };
                let d = parse_duration(d.trim()).map_err(|_| bad())?;
                if d > Duration::from_secs(12 * 3600) {
                    return Err(Diag::new(
                        span,
                        key,
                        format!("\"{key}\" in {label}: the offset in \"{s}\" is more than 12h"),
                    ));
                }
                sign * d.as_millis() as i64
            };
            return Ok(TimeSpec::Sun { event, offset_ms });
        }
    }
    let parts: Vec<&str> = t.split(':').collect();
    if !(2..=3).contains(&parts.len())
        || parts.iter().any(|p| p.is_empty() || p.len() > 2 || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(bad());
    }
    let nums: Vec<u32> = parts.iter().map(|p| p.parse().unwrap_or(99)).collect();
    let (h, m, sec) = (nums[0], nums[1], nums.get(2).copied().unwrap_or(0));
    let ok = (h < 24 && m < 60 && sec < 60) || (h == 24 && m == 0 && sec == 0);
    if !ok {
        return Err(bad());
    }
    Ok(TimeSpec::Clock { ms: ((h * 60 + m) * 60 + sec) * 1000 })
}
