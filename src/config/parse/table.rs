//! Reading one table of the file: typed getters that name the key and point
//! at the value when it is of the wrong kind, and the shared shapes of a
//! message (out of range, not one of these words, names nothing defined).
//! It knows no section's keys.

use super::*;

/// One table of the file with what it is called in messages and which schema section it follows.
#[derive(Clone)]
pub(super) struct Tbl<'a, 'i> {
    /// `[[rule]] "gate" then`, `[server]`, ...
    pub(super) label: &'a str,
    pub(super) section: &'static str,
    pub(super) table: &'a DeTable<'i>,
    pub(super) span: Range<usize>,
}

impl<'a, 'i> Tbl<'a, 'i> {
    pub(super) fn new(label: &'a str, section: &'static str, v: &'a Value<'i>) -> R<Tbl<'a, 'i>> {
        match v.get_ref() {
            DeValue::Table(t) => Ok(Tbl { label, section, table: t, span: v.span() }),
            _ => Err(Diag::new(v.span(), section, format!("{label} must be a table, found {}", found(v)))),
        }
    }

    /// Refuse keys the schema does not know, suggesting the closest one.
    pub(super) fn check_keys(&self) -> R<()> {
        let mut entries: Vec<_> = self.table.iter().collect();
        entries.sort_by_key(|(k, _)| k.span().start);
        for (k, _) in entries {
            let key: &str = k.get_ref().as_ref();
            if keys_of(self.section).any(|d| d.key == key) {
                continue;
            }
            let valid: Vec<&str> = keys_of(self.section).map(|d| d.key).collect();
            let message = match did_you_mean(key, valid.iter().copied()) {
                Some(s) => format!("unknown key \"{key}\" in {}; did you mean \"{s}\"?", self.label),
                None => format!("unknown key \"{key}\" in {}; valid keys: {}", self.label, valid.join(", ")),
            };
            return Err(Diag::new(k.span(), key, message));
        }
        Ok(())
    }

    pub(super) fn get(&self, key: &str) -> Option<&'a Value<'i>> {
        self.table.get(key)
    }

    pub(super) fn key_span(&self, key: &str) -> Range<usize> {
        self.table.get_key_value(key).map(|(k, _)| k.span()).unwrap_or(self.span.clone())
    }

    pub(super) fn missing(&self, key: &str, example: &str) -> Diag {
        Diag::new(
            self.span.clone(),
            key,
            format!("{} is missing \"{key}\"; add e.g. {key} = {example}", self.label),
        )
    }

    pub(super) fn wrong(&self, key: &str, v: &Value, expected: &str) -> Diag {
        Diag::new(
            v.span(),
            key,
            format!("\"{key}\" in {} must be {expected}, found {}", self.label, found(v)),
        )
    }

    pub(super) fn str(&self, key: &str) -> R<Option<(&'a str, Range<usize>)>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => match v.get_ref() {
                DeValue::String(s) => Ok(Some((s.as_ref(), v.span()))),
                _ => Err(self.wrong(key, v, "a string")),
            },
        }
    }

    pub(super) fn req_str(&self, key: &str, example: &str) -> R<(&'a str, Range<usize>)> {
        self.str(key)?.ok_or_else(|| self.missing(key, example))
    }

    pub(super) fn bool(&self, key: &str) -> R<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.get_ref().as_bool().map(Some).ok_or_else(|| self.wrong(key, v, "true or false")),
        }
    }

    pub(super) fn int(&self, key: &str) -> R<Option<(i64, Range<usize>)>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => match v.get_ref() {
                DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
                    .map(|n| Some((n, v.span())))
                    .map_err(|_| self.wrong(key, v, "a smaller integer")),
                _ => Err(self.wrong(key, v, "an integer")),
            },
        }
    }

    pub(super) fn number(&self, key: &str) -> R<Option<(f64, Range<usize>)>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => match number_of(v) {
                Some(n) => Ok(Some((n, v.span()))),
                None => Err(self.wrong(key, v, "a number")),
            },
        }
    }

    pub(super) fn duration(&self, key: &str) -> R<Option<(Duration, Range<usize>)>> {
        let Some((s, span)) = self.str(key).map_err(|mut d| {
            d.message =
                format!("\"{key}\" in {} must be a duration like \"500ms\", \"30s\" or \"15m\"", self.label);
            d
        })?
        else {
            return Ok(None);
        };
        let d = parse_duration(s)
            .map_err(|e| Diag::new(span.clone(), key, format!("invalid duration for \"{key}\": {e}")))?;
        in_range(d, self.section, key, self.label, span.clone())?;
        Ok(Some((d, span)))
    }

    /// A string or a list of strings.
    pub(super) fn strings(&self, key: &str) -> R<Option<At<Vec<At<&'a str>>>>> {
        let Some(v) = self.get(key) else { return Ok(None) };
        let expected = "a string or a list of strings";
        match v.get_ref() {
            DeValue::String(s) => Ok(Some((vec![(s.as_ref(), v.span())], v.span()))),
            DeValue::Array(items) => {
                let mut out = Vec::new();
                for item in items.iter() {
                    match item.get_ref() {
                        DeValue::String(s) => out.push((s.as_ref(), item.span())),
                        _ => return Err(self.wrong(key, item, "a string")),
                    }
                }
                if out.is_empty() {
                    return Err(Diag::new(
                        v.span(),
                        key,
                        format!("\"{key}\" in {} is an empty list; leave it out to match any", self.label),
                    ));
                }
                Ok(Some((out, v.span())))
            }
            _ => Err(self.wrong(key, v, expected)),
        }
    }

    /// An integer or a list of integers.
    pub(super) fn ints(&self, key: &str) -> R<Option<Vec<At<i64>>>> {
        let Some(v) = self.get(key) else { return Ok(None) };
        let one = |item: &Value| -> R<(i64, Range<usize>)> {
            match item.get_ref() {
                DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
                    .map(|n| (n, item.span()))
                    .map_err(|_| self.wrong(key, item, "a smaller integer")),
                _ => Err(self.wrong(key, item, "an integer or a list of integers")),
            }
        };
        match v.get_ref() {
            DeValue::Array(items) => items.iter().map(one).collect::<R<Vec<_>>>().map(Some),
            _ => one(v).map(|x| Some(vec![x])),
        }
    }
}

pub(super) fn article(ty: &str) -> &'static str {
    match ty {
        "integer" | "array" => "an",
        _ => "a",
    }
}

pub(super) fn found(v: &Value) -> String {
    let ty = v.get_ref().type_str();
    format!("{} {ty}", article(ty))
}

/// Refuse a duration outside its key's [`schema::LIMITS`] range, naming the bound.
pub(super) fn in_range(d: Duration, section: &str, key: &str, label: &str, span: Range<usize>) -> R<()> {
    let Some(limit) = super::schema::limit_of(section, key) else { return Ok(()) };
    let min = parse_duration(limit.min).unwrap_or(Duration::ZERO);
    let max = parse_duration(limit.max).unwrap_or(LONGEST_DURATION);
    if d > max {
        return Err(Diag::new(
            span,
            key,
            format!("\"{key}\" in {label} is {}; the longest accepted is \"{}\"", fmt_duration(d), limit.max),
        ));
    }
    if d < min {
        let msg = if d.is_zero() {
            format!("\"{key}\" in {label} must be longer than 0s")
        } else {
            format!("\"{key}\" in {label} is {}; the shortest accepted is \"{}\"", fmt_duration(d), limit.min)
        };
        return Err(Diag::new(span, key, msg));
    }
    Ok(())
}

/// Refuse an integer outside its key's [`schema::LIMITS`] range, naming the bound.
pub(super) fn int_in_range(n: i64, section: &str, key: &str, label: &str, span: Range<usize>) -> R<()> {
    let Some(limit) = super::schema::limit_of(section, key) else { return Ok(()) };
    let min: i64 = limit.min.parse().unwrap_or(i64::MIN);
    let max: i64 = limit.max.parse().unwrap_or(i64::MAX);
    if n < min || n > max {
        return Err(Diag::new(
            span,
            key,
            format!("\"{key}\" in {label} must be between {} and {}, found {n}", limit.min, limit.max),
        ));
    }
    Ok(())
}

pub(super) fn number_of(v: &Value) -> Option<f64> {
    match v.get_ref() {
        DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix()).ok().map(|n| n as f64),
        DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().ok().filter(|x| x.is_finite()),
        _ => None,
    }
}

pub(super) fn unique<'x>(
    seen: impl Iterator<Item = &'x str>,
    name: &str,
    span: Range<usize>,
    what: &str,
) -> R<()> {
    let mut seen = seen;
    if seen.any(|n| n == name) {
        return Err(Diag::new(
            span,
            "name",
            format!("there is already a {what} named \"{name}\"; names must be unique"),
        ));
    }
    Ok(())
}

pub(super) fn positive(
    d: Option<(Duration, Range<usize>)>,
    key: &str,
    label: &str,
) -> R<Option<(Duration, Range<usize>)>> {
    if let Some((dur, span)) = &d {
        if dur.is_zero() {
            return Err(Diag::new(span.clone(), key, format!("\"{key}\" in {label} must be longer than 0s")));
        }
    }
    Ok(d)
}

pub(super) fn unknown_ref<'x>(
    span: Range<usize>,
    key: &str,
    name: &str,
    label: &str,
    names: impl Iterator<Item = &'x str> + Clone,
    section: &str,
) -> Diag {
    let all: Vec<&str> = names.clone().collect();
    let hint = match did_you_mean(name, names) {
        Some(s) => format!("did you mean \"{s}\"?"),
        None if all.is_empty() => format!("no {section} is defined"),
        None => format!("defined: {}", one_of(&all)),
    };
    Diag::new(span, key, format!("{label} names {key} \"{name}\", which no {section} defines; {hint}"))
}

pub(super) fn bad_word(span: Range<usize>, key: &str, found: &str, label: &str, valid: &[&str]) -> Diag {
    let message = match did_you_mean(found, valid.iter().copied()) {
        Some(s) => format!("\"{key}\" in {label} cannot be \"{found}\"; did you mean \"{s}\"?"),
        None => format!("\"{key}\" in {label} cannot be \"{found}\"; use {}", one_of(valid)),
    };
    Diag::new(span, key, message)
}
