//! Rules text → validated [`Config`], or the first problem with its place in the file.
//!
//! Walks the spanned TOML document itself (rather than through serde) for the
//! rules part, so every message can name the key, point at the value and say
//! what would be valid. `[server]`, `[api]` and `[gpio]` go through serde after
//! their keys are checked here. Nothing here evaluates a rule.

use super::diag::{did_you_mean, one_of, Diag};
use super::schema::keys_of;
use super::*;
use crate::decode::{PlateDirection, Point};
use std::ops::Range;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

type Value<'i> = Spanned<DeValue<'i>>;
type R<T> = Result<T, Diag>;
/// A value with where it was written.
type At<T> = (T, Range<usize>);

/// The largest coordinate of the cameras' normalized picture space.
pub const MAX_COORD: u32 = 10_000;

/// One table of the file with what it is called in messages and which schema section it follows.
#[derive(Clone)]
struct Tbl<'a, 'i> {
    /// `[[rule]] "gate" then`, `[server]`, ...
    label: &'a str,
    section: &'static str,
    table: &'a DeTable<'i>,
    span: Range<usize>,
}

fn article(ty: &str) -> &'static str {
    match ty {
        "integer" | "array" => "an",
        _ => "a",
    }
}

fn found(v: &Value) -> String {
    let ty = v.get_ref().type_str();
    format!("{} {ty}", article(ty))
}

impl<'a, 'i> Tbl<'a, 'i> {
    fn new(label: &'a str, section: &'static str, v: &'a Value<'i>) -> R<Tbl<'a, 'i>> {
        match v.get_ref() {
            DeValue::Table(t) => Ok(Tbl { label, section, table: t, span: v.span() }),
            _ => Err(Diag::new(v.span(), section, format!("{label} must be a table, found {}", found(v)))),
        }
    }

    /// Refuse keys the schema does not know, suggesting the closest one.
    fn check_keys(&self) -> R<()> {
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

    fn get(&self, key: &str) -> Option<&'a Value<'i>> {
        self.table.get(key)
    }

    fn key_span(&self, key: &str) -> Range<usize> {
        self.table.get_key_value(key).map(|(k, _)| k.span()).unwrap_or(self.span.clone())
    }

    fn missing(&self, key: &str, example: &str) -> Diag {
        Diag::new(
            self.span.clone(),
            key,
            format!("{} is missing \"{key}\"; add e.g. {key} = {example}", self.label),
        )
    }

    fn wrong(&self, key: &str, v: &Value, expected: &str) -> Diag {
        Diag::new(
            v.span(),
            key,
            format!("\"{key}\" in {} must be {expected}, found {}", self.label, found(v)),
        )
    }

    fn str(&self, key: &str) -> R<Option<(&'a str, Range<usize>)>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => match v.get_ref() {
                DeValue::String(s) => Ok(Some((s.as_ref(), v.span()))),
                _ => Err(self.wrong(key, v, "a string")),
            },
        }
    }

    fn req_str(&self, key: &str, example: &str) -> R<(&'a str, Range<usize>)> {
        self.str(key)?.ok_or_else(|| self.missing(key, example))
    }

    fn bool(&self, key: &str) -> R<Option<bool>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.get_ref().as_bool().map(Some).ok_or_else(|| self.wrong(key, v, "true or false")),
        }
    }

    fn int(&self, key: &str) -> R<Option<(i64, Range<usize>)>> {
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

    fn number(&self, key: &str) -> R<Option<(f64, Range<usize>)>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => match number_of(v) {
                Some(n) => Ok(Some((n, v.span()))),
                None => Err(self.wrong(key, v, "a number")),
            },
        }
    }

    fn duration(&self, key: &str) -> R<Option<(Duration, Range<usize>)>> {
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
    fn strings(&self, key: &str) -> R<Option<At<Vec<At<&'a str>>>>> {
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
    fn ints(&self, key: &str) -> R<Option<Vec<At<i64>>>> {
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

/// Refuse a duration outside its key's [`schema::LIMITS`] range, naming the bound.
fn in_range(d: Duration, section: &str, key: &str, label: &str, span: Range<usize>) -> R<()> {
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
fn int_in_range(n: i64, section: &str, key: &str, label: &str, span: Range<usize>) -> R<()> {
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

fn number_of(v: &Value) -> Option<f64> {
    match v.get_ref() {
        DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix()).ok().map(|n| n as f64),
        DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().ok().filter(|x| x.is_finite()),
        _ => None,
    }
}

/// Each top-level key and whether it is an array of tables.
const TOP: &[(&str, bool)] = &[
    ("server", false),
    ("api", false),
    ("gpio", false),
    ("relay", true),
    ("camera", true),
    ("zone", true),
    ("area", true),
    ("site", false),
    ("presence", false),
    ("rule", true),
    ("mqtt", false),
];

fn toml_diag(e: &toml::de::Error) -> Diag {
    let span = e.span().unwrap_or(0..0);
    let message = e.message().trim().replace('\n', "; ");
    Diag::new(span, "", message)
}

/// serde's view of the sections it still owns.
#[derive(serde::Deserialize)]
struct Serde {
    #[serde(default)]
    server: ServerConfig,
    #[serde(default)]
    api: ApiConfig,
    #[serde(default)]
    gpio: GpioConfig,
}

pub(crate) fn parse_config(text: &str) -> R<Config> {
    let doc = DeTable::parse(text).map_err(|e| toml_diag(&e))?;
    let root = doc.get_ref();

    let mut entries: Vec<_> = root.iter().collect();
    entries.sort_by_key(|(k, _)| k.span().start);
    for (k, v) in &entries {
        let key: &str = k.get_ref().as_ref();
        match TOP.iter().find(|(name, _)| *name == key) {
            None => {
                let names: Vec<&str> = TOP.iter().map(|(n, _)| *n).collect();
                let hint = match did_you_mean(key, names.iter().copied()) {
                    Some(s) => format!("did you mean \"{s}\"?"),
                    None => "valid sections: [server], [api], [gpio], [[relay]], [[camera]], [[zone]], [[area]], [site], [presence], [[rule]], [mqtt]".to_string(),
                };
                return Err(Diag::new(k.span(), key, format!("unknown section \"{key}\"; {hint}")));
            }
            Some((name, true)) => {
                let is_list = matches!(v.get_ref(), DeValue::Array(_));
                if !is_list {
                    return Err(Diag::new(
                        k.span(),
                        key,
                        format!("\"{name}\" must be written [[{name}]] (one block per {name})"),
                    ));
                }
            }
            Some((name, false)) => {
                if !matches!(v.get_ref(), DeValue::Table(_)) {
                    return Err(Diag::new(
                        k.span(),
                        key,
                        format!("\"{name}\" must be written [{name}] (a single section)"),
                    ));
                }
            }
        }
    }

    for section in ["server", "api", "gpio"] {
        if let Some(v) = root.get(section) {
            let label = format!("[{section}]");
            Tbl::new(&label, section, v)?.check_keys()?;
        }
    }
    let serde_part: Serde = toml::from_str(text).map_err(|e| {
        let mut d = toml_diag(&e);
        // Name the key whose value serde refused: its messages do not.
        for section in ["server", "api", "gpio"] {
            let Some(DeValue::Table(t)) = root.get(section).map(|v| v.get_ref()) else { continue };
            for (k, v) in t.iter() {
                let vs = v.span();
                if vs.start <= d.span.start && d.span.end <= vs.end {
                    let key: &str = k.get_ref().as_ref();
                    let example =
                        super::schema::keys_of(section).find(|kd| kd.key == key).map(|kd| kd.default);
                    d.message = match example {
                        Some(ex) if ex.starts_with('"') => {
                            format!("\"{key}\" in [{section}]: {}; write e.g. {key} = {ex}", d.message)
                        }
                        _ => format!("\"{key}\" in [{section}]: {}", d.message),
                    };
                    d.key = key.to_string();
                }
            }
        }
        d
    })?;

    // serde read these sections; their ranges are checked here, where the value's place is known.
    for section in ["server", "api"] {
        let Some(v) = root.get(section) else { continue };
        let label = format!("[{section}]");
        let t = Tbl::new(&label, section, v)?;
        for limit in super::schema::LIMITS.iter().filter(|l| l.section == section) {
            match t.get(limit.key).map(|v| v.get_ref()) {
                Some(DeValue::String(_)) => {
                    t.duration(limit.key)?;
                }
                Some(DeValue::Integer(_)) => {
                    if let Some((n, span)) = t.int(limit.key)? {
                        int_in_range(n, section, limit.key, &label, span)?;
                    }
                }
                _ => {}
            }
        }
        match section {
            "server" => check_allow(&t)?,
            _ => check_token(&t, &serde_part.api)?,
        }
    }

    let mut b = Builder::new(text);
    b.cfg.server = serde_part.server;
    b.cfg.api = serde_part.api;
    b.cfg.gpio = serde_part.gpio;

    if let Some(v) = root.get("presence") {
        b.presence(Tbl::new("[presence]", "presence", v)?)?;
    }
    if let Some(v) = root.get("mqtt") {
        b.mqtt(Tbl::new("[mqtt]", "mqtt", v)?)?;
    }
    if let Some(v) = root.get("site") {
        b.site(Tbl::new("[site]", "site", v)?)?;
    }
    for (i, v) in list(root, "relay").iter().enumerate() {
        let label = format!("[[relay]] #{}", i + 1);
        b.relay(Tbl::new(&label, "relay", v)?)?;
    }
    check_shared_lines(&b.cfg, root)?;
    for (i, v) in list(root, "camera").iter().enumerate() {
        let label = format!("[[camera]] #{}", i + 1);
        b.camera(Tbl::new(&label, "camera", v)?)?;
    }
    for (i, v) in list(root, "zone").iter().enumerate() {
        let label = format!("[[zone]] #{}", i + 1);
        b.zone(Tbl::new(&label, "zone", v)?)?;
    }
    for (i, v) in list(root, "area").iter().enumerate() {
        let label = format!("[[area]] #{}", i + 1);
        b.area(Tbl::new(&label, "area", v)?)?;
    }
    for (i, v) in list(root, "rule").iter().enumerate() {
        let label = format!("[[rule]] #{}", i + 1);
        b.rule(Tbl::new(&label, "rule", v)?, i)?;
    }
    Ok(b.cfg)
}

/// Every `[server] allow` entry must be a network: `run` would refuse it.
fn check_allow(t: &Tbl) -> R<()> {
    let Some((entries, _)) = t.strings("allow").or_else(|e| {
        // An empty list allows every source: fine here.
        if matches!(t.get("allow").map(|v| v.get_ref()), Some(DeValue::Array(a)) if a.is_empty()) {
            Ok(None)
        } else {
            Err(e)
        }
    })?
    else {
        return Ok(());
    };
    for (entry, span) in entries {
        if let Err(e) = crate::ingest::parse_network(entry) {
            return Err(Diag::new(span, "allow", format!("[server] {e}")));
        }
    }
    Ok(())
}

/// `token` and `token_file` are alternatives, and the file must be readable
/// now: `run` reads it at startup.
fn check_token(t: &Tbl, api: &ApiConfig) -> R<()> {
    for name in &api.hosts {
        let ok = !name.is_empty()
            && name.len() <= 253
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            && name.parse::<std::net::IpAddr>().is_err();
        if !ok {
            let span = t.get("hosts").map(|v| v.span()).unwrap_or_else(|| t.key_span("hosts"));
            return Err(Diag::new(
                span,
                "hosts",
                format!(
                    "[api] hosts: {name:?} is not a host name; write names only (no scheme, port or address), e.g. hosts = [\"pi.example.net\"]"
                ),
            ));
        }
    }
    if api.token.is_some() && api.token_file.is_some() {
        return Err(Diag::new(
            t.key_span("token_file"),
            "token_file",
            "[api] has both \"token\" and \"token_file\"; keep one (token_file keeps the secret out of this file)"
                .to_string(),
        ));
    }
    // A token file that cannot be read is a warning (config::lint), as it is
    // for `run`: the rules keep working, manual control is refused.
    Ok(())
}

/// Two relays on one line of one chip ([`same_line`]): `open_backend`
/// refuses them at startup, under every backend, so `check` does too. Lines
/// named differently (an offset and a name for the same line) only show on
/// the hardware and are reported by `run` with both relays named.
fn check_shared_lines(cfg: &Config, root: &DeTable) -> R<()> {
    let relays = list(root, "relay");
    for (i, a) in cfg.relays.iter().enumerate() {
        for b in &cfg.relays[..i] {
            if same_line(&cfg.gpio, a, b) {
                let chip_a = a.chip.as_ref().or(cfg.gpio.chip.as_ref());
                let span = match relays.get(i).map(|v| v.get_ref()) {
                    Some(DeValue::Table(t)) => t.get("line").map(|v| v.span()).unwrap_or(0..0),
                    _ => 0..0,
                };
                let chip = chip_a.map_or("the default chip".to_string(), |c| format!("chip {c:?}"));
                return Err(Diag::new(
                    span,
                    "line",
                    format!(
                        "relay \"{}\" uses line {} of {chip}, as relay \"{}\" does; each relay needs its own line",
                        a.name, a.line, b.name
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn list<'a, 'i>(root: &'a DeTable<'i>, key: &str) -> &'a [Value<'i>] {
    match root.get(key).map(|v| v.get_ref()) {
        Some(DeValue::Array(a)) => a,
        _ => &[],
    }
}

struct Builder {
    site_tz_set: bool,
    cfg: Config,
    /// The rules text, to name the line of an earlier name in a message.
    text: String,
    /// Names already given, per kind, by the topic level and entity id they
    /// become: (kind, key) → (name, byte offset of the name).
    levels: std::collections::HashMap<(&'static str, String), (String, usize)>,
}

impl Builder {
    fn new(text: &str) -> Builder {
        Builder {
            site_tz_set: false,
            cfg: Config::default(),
            text: text.to_string(),
            levels: Default::default(),
        }
    }

    /// Two names that MQTT and Home Assistant would see as one (`gate 1`
    /// and `gate_1`, `Gate` and `gate`) are refused with both places: only
    /// one of them could be commanded or shown.
    fn one_level_each(&mut self, kind: &'static str, name: &str, span: Range<usize>) -> R<()> {
        let key = crate::mqtt::topics::level(name).to_ascii_lowercase();
        if let Some((other, at)) = self.levels.get(&(kind, key.clone())) {
            if other != name {
                let (line, _) = super::diag::line_col(&self.text, *at);
                return Err(Diag::new(
                    span,
                    "name",
                    format!(
                        "{kind} \"{name}\" and {kind} \"{other}\" (line {line}) would share the MQTT topic level and Home Assistant entity id \"{key}\"; names must differ in more than case, spaces and punctuation"
                    ),
                ));
            }
        }
        self.levels.insert((kind, key), (name.to_string(), span.start));
        Ok(())
    }
}

fn unique<'x>(seen: impl Iterator<Item = &'x str>, name: &str, span: Range<usize>, what: &str) -> R<()> {
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

fn positive(
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

impl Builder {
    fn presence(&mut self, t: Tbl) -> R<()> {
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

    fn mqtt(&mut self, t: Tbl) -> R<()> {
        t.check_keys()?;
        if t.bool("enabled")? == Some(false) {
            return Ok(());
        }
        let (url, uspan) = t.req_str("url", "\"mqtt://192.168.1.10\"")?;
        let (host, port, tls) = broker_url(url).map_err(|why| {
            Diag::new(uspan.clone(), "url", format!("[mqtt] url \"{url}\" {why}; write e.g. url = \"mqtt://192.168.1.10\" or \"mqtts://broker.lan:8883\""))
        })?;
        let name = |key: &str| -> R<Option<String>> {
            match t.str(key)? {
                Some((v, span)) if !topic_safe(v) => Err(Diag::new(
                    span,
                    key,
                    format!("[mqtt] {key} \"{v}\" becomes a topic level: use letters, digits, \"_\" and \"-\" only"),
                )),
                other => Ok(other.map(|(v, _)| v.to_string())),
            }
        };
        let node = name("node")?;
        let topic_prefix = match t.str("topic_prefix")? {
            Some((p, span))
                if p.is_empty() || p.contains(['+', '#']) || p.starts_with('/') || p.ends_with('/') =>
            {
                return Err(Diag::new(span, "topic_prefix", format!("[mqtt] topic_prefix \"{p}\" must be topic levels without wildcards (+, #) or a leading or trailing \"/\", e.g. \"camrelay\" or \"house/camrelay\"")));
            }
            Some((p, _)) => p.to_string(),
            None => "camrelay".to_string(),
        };
        let discovery_prefix = match (t.bool("discovery")?, t.str("discovery_prefix")?) {
            (Some(false), _) => None,
            (_, Some((p, span))) if p.is_empty() || p.contains(['+', '#', '/']) => {
                return Err(Diag::new(span, "discovery_prefix", format!("[mqtt] discovery_prefix \"{p}\" must be one topic level, as set in Home Assistant (\"homeassistant\")")));
            }
            (_, Some((p, _))) => Some(p.to_string()),
            (_, None) => Some("homeassistant".to_string()),
        };
        let file = |key: &str| -> R<Option<PathBuf>> {
            match t.str(key)? {
                None => Ok(None),
                Some(("", span)) => Err(Diag::new(span, key, format!("[mqtt] {key} is empty"))),
                Some((path, _)) => Ok(Some(PathBuf::from(path))),
            }
        };
        let password_file = file("password_file")?;
        let ca_file = file("ca_file")?;
        let username = t.str("username")?.map(|(u, _)| u.to_string());
        if password_file.is_some() && username.is_none() {
            return Err(Diag::new(
                t.key_span("password_file"),
                "password_file",
                "[mqtt] password_file needs \"username\" too: the broker checks the pair".to_string(),
            ));
        }
        if ca_file.is_some() && !tls {
            return Err(Diag::new(
                t.key_span("ca_file"),
                "ca_file",
                "[mqtt] ca_file is for mqtts:// brokers; this url is mqtt:// (no TLS)".to_string(),
            ));
        }
        let client_id = match t.str("client_id")? {
            Some((c, span)) if c.is_empty() || c.len() > 64 => {
                return Err(Diag::new(
                    span,
                    "client_id",
                    "[mqtt] client_id must be 1 to 64 characters".to_string(),
                ))
            }
            other => other.map(|(c, _)| c.to_string()),
        };
        let queue = match t.int("queue")? {
            Some((n, span)) => {
                int_in_range(n, "mqtt", "queue", t.label, span)?;
                n as usize
            }
            None => 1024,
        };
        let remote_timeout = match t.duration("remote_timeout")? {
            Some((d, span)) => {
                in_range(d, "mqtt", "remote_timeout", t.label, span)?;
                d
            }
            None => Duration::from_secs(2),
        };
        self.cfg.mqtt = Some(MqttConfig {
            url: url.to_string(),
            host,
            port,
            tls,
            username,
            password_file,
            ca_file,
            client_id,
            node,
            topic_prefix,
            discovery_prefix,
            queue,
            remote_timeout,
        });
        Ok(())
    }

    fn area(&mut self, t: Tbl) -> R<()> {
        t.check_keys()?;
        let (name, nspan) = t.req_str("name", "\"driveway\"")?;
        unique(self.cfg.areas.iter().map(|a| a.name.as_str()), name, nspan.clone(), "area")?;
        self.one_level_each("area", name, nspan.clone())?;
        if self.cfg.zones.iter().any(|z| z.name == name) {
            return Err(Diag::new(
                nspan,
                "name",
                format!("there is already a zone named \"{name}\"; an area needs a name of its own"),
            ));
        }
        let label = format!("[[area]] \"{name}\"");
        let t = Tbl { label: &label, ..t };
        let Some((zones, zspan)) = t.strings("zones")? else {
            return Err(t.missing("zones", "[\"driveway_front\", \"driveway_side\"]"));
        };
        if zones.is_empty() {
            return Err(Diag::new(zspan, "zones", format!("\"zones\" in {label} lists no zone")));
        }
        let mut names = Vec::new();
        for (z, span) in zones {
            self.zone_named(z, span.clone(), "zones", &label)?;
            if !names.iter().any(|n: &String| n == z) {
                names.push(z.to_string());
            }
        }
        self.cfg.areas.push(AreaConfig { name: name.to_string(), zones: names });
        Ok(())
    }

    fn site(&mut self, t: Tbl) -> R<()> {
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

    fn relay(&mut self, t: Tbl) -> R<()> {
        t.check_keys()?;
        let (name, nspan) = t.req_str("name", "\"porch_light\"")?;
        if name.contains('/') {
            return Err(Diag::new(
                nspan,
                "name",
                format!("relay name \"{name}\" cannot hold \"/\": a rule's relay = \"node/relay\" names a relay on another node"),
            ));
        }
        unique(self.cfg.relays.iter().map(|r| r.name.as_str()), name, nspan.clone(), "relay")?;
        self.one_level_each("relay", name, nspan)?;
        let label = format!("[[relay]] \"{name}\"");
        let t = Tbl { label: &label, ..t };
        let line = match t.get("line") {
            None => return Err(t.missing("line", "17")),
            Some(v) => match v.get_ref() {
                DeValue::Integer(_) => {
                    let (n, span) = t.int("line")?.ok_or_else(|| t.missing("line", "17"))?;
                    let n = u32::try_from(n).map_err(|_| {
                        Diag::new(
                            span,
                            "line",
                            format!("\"line\" in {label} must be a line offset from 0 up, found {n}"),
                        )
                    })?;
                    LineRef::Offset(n)
                }
                DeValue::String(s) if !s.trim().is_empty() => LineRef::Name(s.to_string()),
                _ => return Err(t.wrong("line", v, "a line offset (17) or a line name (\"GPIO17\")")),
            },
        };
        let chip = t.str("chip")?.map(|(s, _)| s.to_string());
        let active_low = t.bool("active_low")?.unwrap_or(false);
        let max_on = match positive(t.duration("max_on")?, "max_on", &label)? {
            Some((d, _)) => d,
            None => {
                return Err(Diag::new(
                    t.span.clone(),
                    "max_on",
                    format!("{label} has no \"max_on\": every relay needs a safety limit, e.g. max_on = \"15m\" for a light or \"3s\" for a gate"),
                ))
            }
        };
        let min_off = t.duration("min_off")?.map(|x| x.0).unwrap_or(DEFAULT_MIN_OFF);
        let switch_limit = match t.get("switch_limit") {
            None => Some(DEFAULT_SWITCH_LIMIT),
            Some(v) => match v.get_ref() {
                DeValue::String(s) if s.as_ref() == "unlimited" => None,
                DeValue::Integer(_) => {
                    let (n, span) = t.int("switch_limit")?.ok_or_else(|| t.missing("switch_limit", "20"))?;
                    int_in_range(n, "relay", "switch_limit", &label, span)?;
                    Some(n as u32)
                }
                _ => {
                    return Err(t.wrong(
                        "switch_limit",
                        v,
                        "switch-ons per minute from 1 to 600, or \"unlimited\"",
                    ))
                }
            },
        };
        let interlock = t.str("interlock")?.map(|(s, _)| s.to_string());
        let interlock_wait = t.duration("interlock_wait")?;
        if interlock.is_none() {
            if let Some((_, span)) = &interlock_wait {
                return Err(Diag::new(
                    span.clone(),
                    "interlock_wait",
                    format!("\"interlock_wait\" in {label} needs \"interlock\" (the group it waits on)"),
                ));
            }
        }
        self.cfg.relays.push(RelayConfig {
            name: name.to_string(),
            line,
            chip,
            active_low,
            max_on,
            min_off,
            switch_limit,
            interlock,
            interlock_wait: interlock_wait.map(|x| x.0).unwrap_or_default(),
        });
        Ok(())
    }

    fn camera(&mut self, t: Tbl) -> R<()> {
        t.check_keys()?;
        let (name, nspan) = t.req_str("name", "\"driveway\"")?;
        unique(self.cfg.cameras.iter().map(|c| c.name.as_str()), name, nspan.clone(), "camera")?;
        self.one_level_each("camera", name, nspan.clone())?;
        let label = format!("[[camera]] \"{name}\"");
        let t = Tbl { label: &label, ..t };
        if let Some((node, span)) = t.str("node")? {
            return self.node_camera(&t, name, nspan, node, span);
        }
        let mac = match t.str("mac")? {
            None => None,
            Some((m, span)) => {
                let norm = normalize_mac(m);
                let hex: String = norm.chars().filter(|c| *c != ':').collect();
                if hex.len() != 12 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                    return Err(Diag::new(span, "mac", format!("\"mac\" in {label} must be six hex pairs like \"58:5b:69:5f:42:1b\", found \"{m}\"")));
                }
                Some(norm)
            }
        };
        let ip = match t.str("ip")? {
            None => None,
            Some((s, span)) => Some(s.trim().parse::<IpAddr>().map_err(|_| {
                Diag::new(
                    span,
                    "ip",
                    format!("\"ip\" in {label} must be an IP address like \"192.168.1.20\", found \"{s}\""),
                )
            })?),
        };
        let serial = t.str("serial")?.map(|(s, _)| s.to_string());
        let device_name = t.str("device_name")?.map(|(s, _)| s.to_string());
        let nvr = t.str("nvr")?.map(|(s, span)| (s.to_string(), span));
        let channel = match t.int("channel")? {
            None => None,
            Some((n, span)) => Some(u32::try_from(n).map_err(|_| {
                Diag::new(
                    span,
                    "channel",
                    format!("\"channel\" in {label} must be a channel number from 0 up, found {n}"),
                )
            })?),
        };
        if let (Some((_, span)), None) = (&nvr, channel) {
            return Err(Diag::new(
                span.clone(),
                "nvr",
                format!("{label} names an \"nvr\" but no \"channel\"; add e.g. channel = 1"),
            ));
        }
        let nvr =
            nvr.map(
                |(s, _)| {
                    if s.contains(':') || s.contains('-') && s.len() == 17 {
                        normalize_mac(&s)
                    } else {
                        s
                    }
                },
            );
        let duplicate_window = match positive(t.duration("duplicate_window")?, "duplicate_window", t.label)? {
            Some((_, span)) if nvr.is_none() || !own_identity(&t) => {
                return Err(Diag::new(span, "duplicate_window", format!("\"duplicate_window\" in {label} is for a camera with two sources: its own mac (or ip, serial, device_name) and the nvr and channel that forward it")));
            }
            Some((d, _)) => d,
            None => DEFAULT_DUPLICATE_WINDOW,
        };
        let api = match t.str("url")? {
            None => {
                for key in ["user", "password_file"] {
                    if t.get(key).is_some() {
                        return Err(Diag::new(
                            t.key_span(key),
                            key,
                            format!("\"{key}\" in {label} is for the camera's API, which needs its address: url = \"http://192.168.1.20\""),
                        ));
                    }
                }
                None
            }
            Some((url, span)) => {
                if let Some(rest) = url.strip_prefix("https://") {
                    return Err(Diag::new(
                        span,
                        "url",
                        format!("\"url\" in {label}: cameras serve their API over plain HTTP on the LAN, camrelay does not speak HTTPS to them; write url = \"http://{}\"", rest.trim_end_matches('/')),
                    ));
                }
                let rest = url.strip_prefix("http://").map(|r| r.trim_end_matches('/'));
                if !rest.is_some_and(|r| !r.is_empty() && !r.contains('/') && !r.contains('@')) {
                    return Err(Diag::new(
                        span,
                        "url",
                        format!("\"url\" in {label} is the camera's address, like \"http://192.168.1.20\" or \"http://192.168.1.20:8080\" (plain HTTP, no path, no password), found \"{url}\""),
                    ));
                }
                let Some((file, _)) = t.str("password_file")? else {
                    return Err(t.missing("password_file", "\"driveway.password\""));
                };
                Some(CameraApi {
                    url: url.trim_end_matches('/').to_string(),
                    user: t.str("user")?.map(|(u, _)| u.to_string()).unwrap_or_else(|| "admin".into()),
                    password_file: PathBuf::from(file),
                })
            }
        };
        let own = mac.is_some() || ip.is_some() || serial.is_some() || device_name.is_some();
        if api.is_some() && nvr.is_some() && !own {
            return Err(Diag::new(
                t.key_span("url"),
                "url",
                format!("{label} is behind an NVR: its API is the NVR's, which has no webhook settings; name the camera itself too (mac = \"...\" or ip = \"...\") so it is one camera with two sources, or leave url out"),
            ));
        }
        self.cfg.cameras.push(CameraConfig {
            name: name.to_string(),
            mac,
            ip,
            serial,
            device_name,
            duplicate_window,
            nvr,
            channel,
            api,
            node: None,
        });
        Ok(())
    }

    /// `[[camera]] name = "drive", node = "garage"`: camera `drive` of node
    /// `garage`, whose detections that node publishes; rules here may use them.
    fn node_camera(
        &mut self,
        t: &Tbl,
        name: &str,
        nspan: Range<usize>,
        node: &str,
        span: Range<usize>,
    ) -> R<()> {
        let Some(mqtt) = &self.cfg.mqtt else {
            return Err(Diag::new(span, "node", format!("{} is a camera of node \"{node}\": its detections come over the broker, which needs an [mqtt] section", t.label)));
        };
        if !topic_safe(node) || !topic_safe(name) {
            return Err(Diag::new(
                if topic_safe(name) { span } else { nspan },
                "node",
                format!("{}: a camera of another node needs a name and a node of letters, digits, \"_\" and \"-\" (they are topic levels)", t.label),
            ));
        }
        if mqtt.node.as_deref() == Some(node) {
            return Err(Diag::new(
                span,
                "node",
                format!(
                    "{} names this node (\"{node}\"); leave \"node\" out for a camera that posts here",
                    t.label
                ),
            ));
        }
        for key in ["mac", "ip", "serial", "device_name", "nvr", "channel", "url", "user", "password_file"] {
            if t.get(key).is_some() {
                return Err(Diag::new(
                    t.key_span(key),
                    key,
                    format!("\"{key}\" does not go with \"node\" in {}: that camera posts to node \"{node}\", which identifies it; here it is known by its name there", t.label),
                ));
            }
        }
        self.cfg.cameras.push(CameraConfig {
            name: name.to_string(),
            node: Some(node.to_string()),
            ..Default::default()
        });
        Ok(())
    }

    fn zone(&mut self, t: Tbl) -> R<()> {
        t.check_keys()?;
        let (name, nspan) = t.req_str("name", "\"porch\"")?;
        unique(self.cfg.zones.iter().map(|z| z.name.as_str()), name, nspan.clone(), "zone")?;
        self.one_level_each("zone", name, nspan)?;
        let label = format!("[[zone]] \"{name}\"");
        let t = Tbl { label: &label, ..t };
        let (camera, cspan) = t.req_str("camera", "\"driveway\"")?;
        self.camera_exists(camera, cspan.clone(), &label)?;
        if let Some(node) = self.cfg.cameras.iter().find(|c| c.name == camera).and_then(|c| c.node.as_ref()) {
            return Err(Diag::new(cspan, "camera", format!("{label} is on camera \"{camera}\" of node \"{node}\": draw its zones on that node; its detections arrive here with the zones they are in")));
        }
        let Some(pv) = t.get("polygon") else {
            return Err(t.missing("polygon", "[[1000, 5000], [6000, 5000], [6000, 10000], [1000, 10000]]"));
        };
        let polygon = polygon(&t, pv)?;
        let anchor = match t.str("anchor")? {
            None => Anchor::BottomCenter,
            Some(("bottom_center", _)) => Anchor::BottomCenter,
            Some(("center", _)) => Anchor::Center,
            Some(("box", _)) => Anchor::Box,
            Some((other, span)) => {
                return Err(bad_word(span, "anchor", other, &label, &["bottom_center", "center", "box"]))
            }
        };
        self.cfg.zones.push(ZoneConfig {
            name: name.to_string(),
            camera: camera.to_string(),
            polygon,
            anchor,
        });
        Ok(())
    }

    /// The `[[zone]]` named `name`, or a "did you mean" refusal at `span` for `key`.
    fn zone_named(&self, name: &str, span: Range<usize>, key: &str, label: &str) -> R<&ZoneConfig> {
        match self.cfg.zones.iter().find(|zc| zc.name == name) {
            Some(z) => Ok(z),
            None => Err(unknown_ref(
                span,
                key,
                name,
                label,
                self.cfg.zones.iter().map(|zc| zc.name.as_str()),
                "[[zone]]",
            )),
        }
    }

    /// A zone a rule names under `key`: it must exist, and be on one of the
    /// rule's `camera`s when the rule names any.
    fn rule_zone(
        &self,
        z: &str,
        span: Range<usize>,
        key: &str,
        label: &str,
        cameras: &[String],
    ) -> R<&ZoneConfig> {
        let zone = self.zone_named(z, span.clone(), key, label)?;
        if !cameras.is_empty() && !cameras.contains(&zone.camera) {
            return Err(Diag::new(
                span,
                key,
                format!("zone \"{z}\" is drawn on camera \"{}\", which the rule's \"camera\" condition leaves out", zone.camera),
            ));
        }
        Ok(zone)
    }

    fn camera_exists(&self, camera: &str, span: Range<usize>, label: &str) -> R<()> {
        if self.cfg.cameras.iter().any(|c| c.name == camera) {
            return Ok(());
        }
        Err(unknown_ref(
            span,
            "camera",
            camera,
            label,
            self.cfg.cameras.iter().map(|c| c.name.as_str()),
            "[[camera]]",
        ))
    }

    fn rule(&mut self, t: Tbl, index: usize) -> R<()> {
        t.check_keys()?;
        let name = match t.str("name")? {
            Some((n, span)) => {
                unique(self.cfg.rules.iter().map(|r| r.name.as_str()), n, span, "rule")?;
                n.to_string()
            }
            None => format!("rule {}", index + 1),
        };
        let label = format!("[[rule]] \"{name}\"");
        let t = Tbl { label: &label, ..t };
        let enabled = t.bool("enabled")?.unwrap_or(true);
        let Some(wv) = t.get("when") else {
            return Err(t.missing("when", "{ event = \"presence\", zone = \"porch\" }"));
        };
        let Some(tv) = t.get("then") else {
            return Err(t.missing("then", "{ relay = \"porch_light\", action = \"hold\", hold = \"30s\" }"));
        };
        let when_label = format!("{label} when");
        let when = Tbl::new(&when_label, "rule.when", wv)?;
        when.check_keys()?;
        let then_label = format!("{label} then");
        let then = Tbl::new(&then_label, "rule.then", tv)?;
        then.check_keys()?;
        let conditions = self.conditions(&when, &name)?;
        let action = self.action(&then, &conditions)?;
        if enabled {
            self.cfg.rules.push(RuleConfig { name, when: conditions, then: action });
        } else {
            // Disabled rules are validated (so enabling one later cannot break the file) but not kept.
            let _ = (conditions, action);
        }
        Ok(())
    }

    fn conditions(&self, t: &Tbl, rule: &str) -> R<Conditions> {
        let mut c = Conditions { alarm_state: true, ..Conditions::default() };
        let words: Vec<&str> = EventWord::ALL.iter().map(|e| e.word()).collect();
        let Some((events, _)) = t.strings("event")? else {
            return Err(Diag::new(
                t.span.clone(),
                "event",
                format!(
                    "{} needs \"event\", e.g. event = \"presence\"; valid events: {}",
                    t.label,
                    words.join(", ")
                ),
            ));
        };
        for (w, span) in events {
            match EventWord::from_word(w) {
                Some(e) => {
                    if !c.events.contains(&e) {
                        c.events.push(e)
                    }
                }
                None => {
                    let message = match did_you_mean(w, words.iter().copied()) {
                        Some(s) => format!("unknown event \"{w}\" in {}; did you mean \"{s}\"?", t.label),
                        None => format!(
                            "unknown event \"{w}\" in {}; valid events: {}",
                            t.label,
                            words.join(", ")
                        ),
                    };
                    return Err(Diag::new(span, "event", message));
                }
            }
        }
        let events = c.events.clone();
        let only = |allowed: &[EventWord]| events.iter().all(|e| allowed.contains(e));
        let targetless = [EventWord::Alarm, EventWord::CameraOffline, EventWord::CameraOnline];
        let has_targetless = c.events.iter().any(|e| targetless.contains(e));

        if let Some((cams, _)) = t.strings("camera")? {
            for (cam, span) in cams {
                self.camera_exists(cam, span, t.label)?;
                c.cameras.push(cam.to_string());
            }
        }
        if let Some(chs) = t.ints("channel")? {
            for (n, span) in chs {
                c.channels.push(u32::try_from(n).map_err(|_| {
                    Diag::new(
                        span,
                        "channel",
                        format!("\"channel\" in {} must be a channel number from 0 up, found {n}", t.label),
                    )
                })?);
            }
        }
        let target_key = |key: &str| -> R<()> {
            if has_targetless && t.get(key).is_some() {
                return Err(Diag::new(
                    t.key_span(key),
                    key,
                    format!("\"{key}\" in {} needs targets, which \"alarm\", \"camera_offline\" and \"camera_online\" events do not have; put those events in a rule of their own", t.label),
                ));
            }
            Ok(())
        };
        if let Some((classes, _)) = t.strings("class")? {
            target_key("class")?;
            for (w, span) in classes {
                let Some(class) = class_named(w) else {
                    return Err(bad_word(span, "class", w, t.label, CLASS_WORDS));
                };
                if !c.classes.contains(&class) {
                    c.classes.push(class);
                }
            }
        }
        if let Some((zones, _)) = t.strings("zone")? {
            target_key("zone")?;
            for (z, span) in zones {
                self.rule_zone(z, span, "zone", t.label, &c.cameras)?;
                c.zones.push(z.to_string());
            }
        }
        for key in ["min_area", "max_area"] {
            if let Some((v, span)) = t.number(key)? {
                target_key(key)?;
                if !(0.0..=1.0).contains(&v) {
                    return Err(Diag::new(
                        span,
                        key,
                        format!(
                            "\"{key}\" is a fraction of the picture between 0 and 1 (0.05 = 5%), found {v}"
                        ),
                    ));
                }
                if key == "min_area" {
                    c.min_area = Some(v)
                } else {
                    c.max_area = Some(v)
                }
            }
        }
        for key in ["min_aspect", "max_aspect"] {
            if let Some((v, span)) = t.number(key)? {
                target_key(key)?;
                if v <= 0.0 {
                    return Err(Diag::new(
                        span,
                        key,
                        format!("\"{key}\" is box width / height and must be above 0, found {v}"),
                    ));
                }
                if key == "min_aspect" {
                    c.min_aspect = Some(v)
                } else {
                    c.max_aspect = Some(v)
                }
            }
        }
        if let (Some(lo), Some(hi)) = (c.min_area, c.max_area) {
            if lo > hi {
                return Err(Diag::new(
                    t.key_span("max_area"),
                    "max_area",
                    format!("\"max_area\" ({hi}) is below \"min_area\" ({lo}); nothing could match"),
                ));
            }
        }
        if let (Some(lo), Some(hi)) = (c.min_aspect, c.max_aspect) {
            if lo > hi {
                return Err(Diag::new(
                    t.key_span("max_aspect"),
                    "max_aspect",
                    format!("\"max_aspect\" ({hi}) is below \"min_aspect\" ({lo}); nothing could match"),
                ));
            }
        }
        if let Some((d, span)) = t.duration("dwell")? {
            if !only(&[EventWord::Presence]) {
                return Err(Diag::new(
                    t.key_span("dwell"),
                    "dwell",
                    format!(
                        "\"dwell\" in {} applies to event = \"presence\" only (time spent in the zone)",
                        t.label
                    ),
                ));
            }
            let _ = span;
            c.dwell = Some(d);
        }

        self.places(t, &mut c)?;

        let plate_keys =
            ["plate", "plate_pattern", "plate_group", "direction", "min_confidence", "plate_distance"];
        for key in plate_keys {
            if t.get(key).is_some() && !only(&[EventWord::Plate]) {
                return Err(Diag::new(
                    t.key_span(key),
                    key,
                    format!("\"{key}\" in {} applies to event = \"plate\" only", t.label),
                ));
            }
        }
        if let Some((plates, _)) = t.strings("plate")? {
            for (p, span) in plates {
                let n = normalize_plate(p);
                if n.is_empty() {
                    return Err(Diag::new(
                        span,
                        "plate",
                        format!("\"plate\" in {} has an empty plate number", t.label),
                    ));
                }
                c.plates.push(n);
            }
        }
        if let Some((p, span)) = t.str("plate_pattern")? {
            let regex = regex_lite::Regex::new(p).map_err(|e| {
                let first = e.to_string();
                let first = first.lines().last().unwrap_or("").trim().to_string();
                Diag::new(
                    span,
                    "plate_pattern",
                    format!("\"plate_pattern\" in {} is not a valid pattern: {first}", t.label),
                )
            })?;
            c.plate_pattern = Some(PlatePattern { source: p.to_string(), regex });
        }
        if let Some((groups, _)) = t.strings("plate_group")? {
            c.plate_groups = groups.iter().map(|(g, _)| g.to_string()).collect();
        }
        c.direction = match t.str("direction")? {
            None => None,
            Some(("approach", _)) => Some(PlateDirection::Approach),
            Some(("leave" | "away", _)) => Some(PlateDirection::Leave),
            Some((other, span)) => {
                return Err(bad_word(span, "direction", other, t.label, &["approach", "leave"]))
            }
        };
        if let Some((v, span)) = t.number("min_confidence")? {
            if !(0.0..=100.0).contains(&v) {
                return Err(Diag::new(
                    span,
                    "min_confidence",
                    format!("\"min_confidence\" is a percentage between 0 and 100, found {v}"),
                ));
            }
            c.min_confidence = Some(v as f32);
        }
        if let Some((v, span)) = t.number("plate_distance")? {
            if !(0.0..=3.0).contains(&v) || (v * 2.0).fract() != 0.0 {
                return Err(Diag::new(
                    span,
                    "plate_distance",
                    format!("\"plate_distance\" in {} is 0 to 3 in steps of 0.5, found {v}", t.label),
                ));
            }
            if v > 0.0 && c.plates.is_empty() {
                return Err(Diag::new(
                    span,
                    "plate_distance",
                    format!(
                        "\"plate_distance\" in {} needs the plates it compares with: plate = [\"AB123CD\"]",
                        t.label
                    ),
                ));
            }
            // A misread may let a resident in; it must never let a blocked car in.
            if let Some(block) = c.plate_groups.iter().find(|g| {
                let g = g.to_ascii_lowercase();
                g.contains("black") || g.contains("block") || g.contains("deny")
            }) {
                if v > 0.0 {
                    return Err(Diag::new(
                        span,
                        "plate_distance",
                        format!("\"plate_distance\" in {} does not go with plate_group \"{block}\": a block list must match exactly, so that a misread never lets a blocked car through", t.label),
                    ));
                }
            }
            c.plate_distance = v as f32;
        }

        for key in ["alarm", "alarm_state"] {
            if t.get(key).is_some() && !only(&[EventWord::Alarm]) {
                return Err(Diag::new(
                    t.key_span(key),
                    key,
                    format!("\"{key}\" in {} applies to event = \"alarm\" only", t.label),
                ));
            }
        }
        if let Some((alarms, _)) = t.strings("alarm")? {
            c.alarms = alarms.iter().map(|(a, _)| a.to_string()).collect();
        }
        c.alarm_state = t.bool("alarm_state")?.unwrap_or(true);

        c.schedule = self.schedule(t, rule)?;
        for key in ["relay_on", "relay_off", "no_manual"] {
            let Some((names, _)) = t.strings(key)? else { continue };
            for (r, span) in names {
                if !self.cfg.relays.iter().any(|rc| rc.name == r) {
                    return Err(unknown_ref(
                        span,
                        key,
                        r,
                        t.label,
                        self.cfg.relays.iter().map(|rc| rc.name.as_str()),
                        "[[relay]]",
                    ));
                }
                c.relays.push(match key {
                    "relay_on" => RelayCondition::On(r.to_string()),
                    "relay_off" => RelayCondition::Off(r.to_string()),
                    _ => RelayCondition::NoManual(r.to_string()),
                });
            }
        }
        (c.offline, c.occupied) = self.states(t)?;
        c.unless = self.unless(t, rule, &c.events)?;
        Ok(c)
    }

    /// `after`, `before`, `days`, `except_days` of a `when` or `unless`.
    fn schedule(&self, t: &Tbl, rule: &str) -> R<Option<Schedule>> {
        let after = t.str("after")?.map(|(s, span)| time_spec(s, span, "after", t.label)).transpose()?;
        let before = t.str("before")?.map(|(s, span)| time_spec(s, span, "before", t.label)).transpose()?;
        let mut dates = Vec::new();
        let days = match t.strings("days")? {
            None => None,
            Some((list, _)) => {
                let mut mask = 0u8;
                for (d, span) in list {
                    if let Some(m) = day_mask(d) {
                        mask |= m;
                        continue;
                    }
                    dates.push(date_range(d).ok_or_else(|| {
                        bad_word(
                            span,
                            "days",
                            d,
                            t.label,
                            &[
                                "mon",
                                "tue",
                                "wed",
                                "thu",
                                "fri",
                                "sat",
                                "sun",
                                "weekdays",
                                "weekend",
                                "2026-12-24",
                                "2026-12-24..2026-12-26",
                            ],
                        )
                    })?);
                }
                Some(mask)
            }
        };
        let mut except = Vec::new();
        if let Some((list, _)) = t.strings("except_days")? {
            for (d, span) in list {
                except.push(date_range(d).ok_or_else(|| {
                    Diag::new(
                        span,
                        "except_days",
                        format!("\"except_days\" in {} takes dates like \"2026-12-25\" or ranges like \"2026-12-24..2026-12-26\", found \"{d}\"", t.label),
                    )
                })?);
            }
        }
        if after.is_some() || before.is_some() || days.is_some() || !except.is_empty() {
            if !self.site_tz_set {
                let key = ["after", "before", "days", "except_days"]
                    .into_iter()
                    .find(|k| t.get(k).is_some())
                    .unwrap_or("after");
                return Err(Diag::new(
                    t.key_span(key),
                    key,
                    format!("rule \"{rule}\" has a schedule but [site] has no \"timezone\"; add [site] timezone = \"Europe/Berlin\" (your zone) so times mean local time"),
                ));
            }
            for (key, spec) in [("after", after), ("before", before)] {
                if let Some(TimeSpec::Sun { .. }) = spec {
                    if self.cfg.site.latitude.is_none() {
                        return Err(Diag::new(
                            t.key_span(key),
                            key,
                            format!("\"{key}\" uses the sun, which needs [site] latitude and longitude (e.g. latitude = 52.52, longitude = 13.405)"),
                        ));
                    }
                }
            }
            return Ok(Some(Schedule { after, before, days: days.unwrap_or(0x7f), dates, except }));
        }
        Ok(None)
    }

    /// `offline` and `occupied` of a `when` or `unless`: the cameras (or
    /// "any") and the zones or areas they name.
    fn states(&self, t: &Tbl) -> R<(Option<Vec<String>>, Vec<String>)> {
        let offline = match t.strings("offline")? {
            None => None,
            Some((names, _)) => {
                let mut out = Vec::new();
                for (n, span) in names {
                    if n == "any" {
                        continue;
                    }
                    if !self.cfg.cameras.iter().any(|c| c.name == n) {
                        return Err(unknown_ref(
                            span,
                            "offline",
                            n,
                            t.label,
                            self.cfg.cameras.iter().map(|c| c.name.as_str()).chain(["any"]),
                            "[[camera]]",
                        ));
                    }
                    out.push(n.to_string());
                }
                Some(out)
            }
        };
        let mut occupied = Vec::new();
        if let Some((names, _)) = t.strings("occupied")? {
            for (n, span) in names {
                let known =
                    self.cfg.zones.iter().any(|z| z.name == n) || self.cfg.areas.iter().any(|a| a.name == n);
                if !known {
                    return Err(unknown_ref(
                        span,
                        "occupied",
                        n,
                        t.label,
                        self.cfg
                            .zones
                            .iter()
                            .map(|z| z.name.as_str())
                            .chain(self.cfg.areas.iter().map(|a| a.name.as_str())),
                        "[[zone]] or [[area]]",
                    ));
                }
                occupied.push(n.to_string());
            }
        }
        Ok((offline, occupied))
    }

    /// `unless = { ... }` of a rule's `when`.
    fn unless(&self, t: &Tbl, rule: &str, events: &[EventWord]) -> R<Option<Box<Unless>>> {
        let Some(v) = t.get("unless") else { return Ok(None) };
        let label = format!("{} unless", t.label);
        let u = Tbl::new(&label, "rule.unless", v)?;
        u.check_keys()?;
        let mut out = Unless { schedule: self.schedule(&u, rule)?, ..Unless::default() };
        (out.offline, out.occupied) = self.states(&u)?;
        for key in ["plate", "plate_group"] {
            if u.get(key).is_some() && !events.iter().all(|e| *e == EventWord::Plate) {
                return Err(Diag::new(
                    u.key_span(key),
                    key,
                    format!("\"{key}\" in {label} applies to event = \"plate\" only"),
                ));
            }
        }
        if let Some((plates, _)) = u.strings("plate")? {
            out.plates = plates.iter().map(|(p, _)| normalize_plate(p)).filter(|p| !p.is_empty()).collect();
        }
        if let Some((groups, _)) = u.strings("plate_group")? {
            out.plate_groups = groups.iter().map(|(g, _)| g.to_string()).collect();
        }
        if out == Unless::default() {
            return Err(Diag::new(
                u.span.clone(),
                "unless",
                format!(
                    "{label} is empty; give what keeps the rule still, e.g. unless = {{ offline = \"any\" }}"
                ),
            ));
        }
        Ok(Some(Box::new(out)))
    }

    /// Where and how the target must be: areas, occupancy counts, zone order,
    /// travel direction, stationary targets.
    fn places(&self, t: &Tbl, c: &mut Conditions) -> R<()> {
        use EventWord as W;
        let events = c.events.clone();
        let only = |allowed: &[EventWord]| events.iter().all(|e| allowed.contains(e));
        let words =
            |ws: &[EventWord]| ws.iter().map(|w| format!("\"{}\"", w.word())).collect::<Vec<_>>().join(", ");
        let needs = |key: &str, allowed: &[EventWord]| -> R<()> {
            if t.get(key).is_some() && !only(allowed) {
                return Err(Diag::new(
                    t.key_span(key),
                    key,
                    format!("\"{key}\" in {} applies to event = {} only", t.label, words(allowed)),
                ));
            }
            Ok(())
        };
        let place_events = [W::Presence, W::Occupancy, W::AreaOccupied, W::AreaEmpty];
        if t.get("area").is_some() && events.iter().any(|e| matches!(e, W::ZoneEntry | W::ZoneExit)) {
            return Err(Diag::new(
                t.key_span("area"),
                "area",
                format!("{}: an area is entered and left as a place: use event = \"area_occupied\" (the first target arrives) or \"area_empty\" (the last one left); zone_entry / zone_exit are per zone", t.label),
            ));
        }
        needs("area", &place_events)?;
        if let Some((areas, _)) = t.strings("area")? {
            if t.get("zone").is_some() {
                return Err(Diag::new(
                    t.key_span("area"),
                    "area",
                    format!("{} has both \"zone\" and \"area\"; an area is a group of zones: list the zones in the [[area]], or use one of the two", t.label),
                ));
            }
            for (a, span) in areas {
                if !self.cfg.areas.iter().any(|ac| ac.name == a) {
                    return Err(unknown_ref(
                        span,
                        "area",
                        a,
                        t.label,
                        self.cfg.areas.iter().map(|ac| ac.name.as_str()),
                        "[[area]]",
                    ));
                }
                if !c.cameras.is_empty() {
                    return Err(Diag::new(
                        span,
                        "area",
                        format!("{} has \"camera\" and \"area\"; an area counts targets whichever camera sees them: leave \"camera\" out, or use \"zone\"", t.label),
                    ));
                }
                c.areas.push(a.to_string());
            }
        }
        let counted = [W::Occupancy, W::AreaOccupied, W::AreaEmpty];
        if events.iter().any(|e| counted.contains(e)) {
            if !only(&counted) {
                return Err(Diag::new(
                    t.key_span("event"),
                    "event",
                    format!("{}: \"occupancy\", \"area_occupied\" and \"area_empty\" count targets in a place and go in a rule of their own", t.label),
                ));
            }
            if events.contains(&W::Occupancy) && events.len() > 1 {
                return Err(Diag::new(
                    t.key_span("event"),
                    "event",
                    format!("{}: \"occupancy\" holds while the count is in range; \"area_occupied\" / \"area_empty\" fire when the place changes: put them in rules of their own", t.label),
                ));
            }
            if c.areas.is_empty() && c.zones.is_empty() {
                return Err(Diag::new(
                    t.key_span("event"),
                    "event",
                    format!("{} counts targets, so it needs the place to count in: area = \"driveway\" (an [[area]]) or zone = \"porch\"", t.label),
                ));
            }
            for key in ["min_area", "max_area", "min_aspect", "max_aspect"] {
                if t.get(key).is_some() {
                    return Err(Diag::new(
                        t.key_span(key),
                        key,
                        format!("\"{key}\" in {} does not go with counting events: occupancy counts every target of the rule's class", t.label),
                    ));
                }
            }
        }
        needs("min_count", &[W::Occupancy])?;
        needs("max_count", &[W::Occupancy])?;
        if let Some((n, span)) = t.int("min_count")? {
            int_in_range(n, "rule.when", "min_count", t.label, span)?;
            c.min_count = Some(n as u32);
        }
        if let Some((n, span)) = t.int("max_count")? {
            int_in_range(n, "rule.when", "max_count", t.label, span)?;
            c.max_count = Some(n as u32);
        }
        if let (Some(lo), Some(hi)) = (c.min_count, c.max_count) {
            if lo > hi {
                return Err(Diag::new(
                    t.key_span("max_count"),
                    "max_count",
                    format!("\"max_count\" ({hi}) is below \"min_count\" ({lo}); nothing could match"),
                ));
            }
        }
        needs("include_stationary", &place_events)?;
        c.include_stationary = t.bool("include_stationary")?.unwrap_or(false);

        let tracked = [W::Presence, W::ZoneEntry, W::ZoneExit];
        needs("from_zone", &[W::Presence, W::ZoneEntry])?;
        needs("within", &[W::Presence, W::ZoneEntry])?;
        if let Some((from, fspan)) = t.strings("from_zone")? {
            if c.zones.is_empty() {
                return Err(Diag::new(
                    fspan,
                    "from_zone",
                    format!(
                        "\"from_zone\" in {} needs the zone the target goes to: zone = \"door\"",
                        t.label
                    ),
                ));
            }
            for (z, span) in from {
                let zone = self.zone_named(z, span.clone(), "from_zone", t.label)?;
                for target in &c.zones {
                    let tz = self.cfg.zones.iter().find(|zc| zc.name == *target);
                    if tz.is_some_and(|tz| tz.camera != zone.camera) {
                        return Err(Diag::new(
                            span,
                            "from_zone",
                            format!("zone \"{z}\" is on camera \"{}\" and zone \"{target}\" on another; zone order follows one target, which one camera tracks", zone.camera),
                        ));
                    }
                }
                c.from_zones.push(z.to_string());
            }
            c.within = Duration::from_secs(30);
        }
        if let Some((d, _)) = t.duration("within")? {
            if c.from_zones.is_empty() {
                return Err(Diag::new(
                    t.key_span("within"),
                    "within",
                    format!("\"within\" in {} times a zone order: it needs \"from_zone\"", t.label),
                ));
            }
            c.within = d;
        }
        for key in ["towards", "away_from"] {
            needs(key, &tracked)?;
        }
        if t.get("towards").is_some() && t.get("away_from").is_some() {
            return Err(Diag::new(
                t.key_span("away_from"),
                "away_from",
                format!(
                    "{} has both \"towards\" and \"away_from\"; nothing moves both ways at once",
                    t.label
                ),
            ));
        }
        for (key, heading) in [("towards", Heading::Towards), ("away_from", Heading::AwayFrom)] {
            let Some((z, span)) = t.str(key)? else { continue };
            self.rule_zone(z, span, key, t.label, &c.cameras)?;
            c.heading = Some((heading, z.to_string()));
        }
        Ok(())
    }

    fn action(&self, t: &Tbl, when: &Conditions) -> R<ActionConfig> {
        let (relay_name, rspan) = t.req_str("relay", "\"porch_light\"")?;
        if let Some((node, remote)) = remote_relay(relay_name) {
            return self.remote_action(t, when, relay_name, node, remote, rspan);
        }
        let Some(relay) = self.cfg.relays.iter().find(|r| r.name == relay_name) else {
            return Err(unknown_ref(
                rspan,
                "relay",
                relay_name,
                t.label,
                self.cfg.relays.iter().map(|r| r.name.as_str()),
                "[[relay]]",
            ));
        };
        self.action_on(t, when, relay)
    }

    /// `then` for one relay, checked against its limits.
    fn action_on(&self, t: &Tbl, when: &Conditions, relay: &RelayConfig) -> R<ActionConfig> {
        let actions = ["hold", "pulse", "blink", "on", "off", "toggle"];
        let (word, aspan) = t.req_str("action", "\"hold\"")?;
        if !actions.contains(&word) {
            return Err(bad_word(aspan, "action", word, t.label, &actions));
        }
        let hold = positive(t.duration("hold")?, "hold", t.label)?;
        let duration = positive(t.duration("duration")?, "duration", t.label)?;
        let conflict = |key: &str, why: &str| -> Diag {
            Diag::new(
                t.key_span(key),
                key,
                format!("\"{key}\" does not go with action = \"{word}\" in {}: {why}", t.label),
            )
        };
        if word != "hold" && hold.is_some() {
            return Err(conflict(
                "hold",
                "only action = \"hold\" stays on after the last match; for a pulse use \"duration\"",
            ));
        }
        if !matches!(word, "pulse" | "blink") && duration.is_some() {
            return Err(conflict(
                "duration",
                "only action = \"pulse\" and \"blink\" have a duration; for hold use \"hold\"",
            ));
        }
        if !matches!(word, "pulse" | "blink") && t.get("retrigger").is_some() {
            return Err(conflict("retrigger", "only pulses and blinks can be retriggered"));
        }
        for key in ["on", "off"] {
            if word != "blink" && t.get(key).is_some() {
                return Err(conflict(key, "only action = \"blink\" has on and off times"));
            }
        }
        let cooldown = positive(t.duration("cooldown")?, "cooldown", t.label)?;
        let plate_cooldown = positive(t.duration("plate_cooldown")?, "plate_cooldown", t.label)?;
        if word == "hold" && cooldown.is_some() {
            return Err(conflict("cooldown", "every match extends a hold; use action = \"pulse\" with a duration to switch on once per cooldown"));
        }
        if plate_cooldown.is_some() && !when.events.iter().all(|e| *e == EventWord::Plate) {
            return Err(Diag::new(
                t.key_span("plate_cooldown"),
                "plate_cooldown",
                format!(
                    "\"plate_cooldown\" in {} needs event = \"plate\" (it remembers each plate)",
                    t.label
                ),
            ));
        }
        let too_long = |key: &str, d: Duration| -> R<()> {
            if d > relay.max_on {
                return Err(Diag::new(
                    t.key_span(key),
                    key,
                    format!(
                        "\"{key}\" = \"{}\" is longer than relay \"{}\" max_on = \"{}\"; the safety limit would always cut it: shorten it or raise max_on",
                        fmt_duration(d),
                        relay.name,
                        fmt_duration(relay.max_on)
                    ),
                ));
            }
            Ok(())
        };
        let action = match word {
            "hold" => {
                let Some((h, _)) = hold else {
                    return Err(Diag::new(aspan, "hold", format!("action = \"hold\" in {} needs \"hold\", how long to stay on after the last match, e.g. hold = \"30s\"", t.label)));
                };
                too_long("hold", h)?;
                ActionKind::Hold { hold: h }
            }
            "pulse" => {
                let Some((d, _)) = duration else {
                    return Err(Diag::new(aspan, "duration", format!("action = \"pulse\" in {} needs \"duration\", how long the pulse lasts, e.g. duration = \"1s\"", t.label)));
                };
                too_long("duration", d)?;
                let retrigger = retrigger(t)?;
                ActionKind::Pulse { duration: d, retrigger }
            }
            "blink" => {
                let Some((d, _)) = duration else {
                    return Err(Diag::new(aspan, "duration", format!("action = \"blink\" in {} needs \"duration\", how long to blink, e.g. duration = \"30s\"", t.label)));
                };
                too_long("duration", d)?;
                let (Some((on, _)), Some((off, offspan))) = (t.duration("on")?, t.duration("off")?) else {
                    let key = if t.get("on").is_none() { "on" } else { "off" };
                    return Err(Diag::new(aspan, key, format!("action = \"blink\" in {} needs \"on\" and \"off\", e.g. on = \"500ms\", off = \"500ms\"", t.label)));
                };
                if off < relay.min_off {
                    return Err(Diag::new(offspan, "off", format!("\"off\" = \"{}\" is shorter than relay \"{}\" min_off = \"{}\", which would hold every flash back: lengthen \"off\" or lower min_off", fmt_duration(off), relay.name, fmt_duration(relay.min_off))));
                }
                if let Some(limit) = relay.switch_limit {
                    // Flashes in the worst 60 s window of one blink.
                    let window = d.min(crate::relays::controller::SWITCH_WINDOW);
                    let flashes = (window.as_millis() / (on + off).as_millis().max(1)) as u64 + 1;
                    if flashes > limit as u64 {
                        return Err(Diag::new(offspan, "off", format!("blinking {} on / {} off switches relay \"{}\" on {flashes} times a minute, more than its switch_limit = {limit}, which would lock it off: blink slower, or raise switch_limit", fmt_duration(on), fmt_duration(off), relay.name)));
                    }
                }
                let retrigger = retrigger(t)?;
                ActionKind::Blink { on, off, duration: d, retrigger }
            }
            "on" => ActionKind::On,
            "off" => ActionKind::Off,
            _ => ActionKind::Toggle,
        };
        Ok(ActionConfig {
            relay: relay.name.clone(),
            action,
            cooldown: cooldown.map(|x| x.0),
            plate_cooldown: plate_cooldown.map(|x| x.0),
        })
    }
}

impl Builder {
    /// `relay = "node/relay"`: a relay on another node. Its limits live on that
    /// node, which applies them when the command arrives; here only the shape
    /// of the action is checked.
    fn remote_action(
        &self,
        t: &Tbl,
        when: &Conditions,
        written: &str,
        node: &str,
        relay: &str,
        span: Range<usize>,
    ) -> R<ActionConfig> {
        let Some(mqtt) = &self.cfg.mqtt else {
            return Err(Diag::new(span, "relay", format!("{} names relay \"{written}\", a relay on node \"{node}\": reaching another node needs an [mqtt] section (and a broker both nodes use)", t.label)));
        };
        if !topic_safe(node) || !topic_safe(relay) {
            return Err(Diag::new(span, "relay", format!("relay \"{written}\" in {} must be \"node/relay\", each of letters, digits, \"_\" and \"-\"", t.label)));
        }
        if mqtt.node.as_deref() == Some(node) {
            return Err(Diag::new(span, "relay", format!("relay \"{written}\" in {} names this node (\"{node}\"); write the relay's own name, \"{relay}\"", t.label)));
        }
        // The local checks, against a relay with no limits of its own.
        let stand_in = RelayConfig {
            name: written.to_string(),
            line: LineRef::Offset(0),
            chip: None,
            active_low: false,
            max_on: Duration::from_secs(24 * 3600),
            min_off: Duration::ZERO,
            switch_limit: None,
            interlock: None,
            interlock_wait: Duration::ZERO,
        };
        self.action_on(t, when, &stand_in)
    }
}

/// `mqtt://host[:port]` or `mqtts://host[:port]`: host, port, TLS.
fn broker_url(url: &str) -> Result<(String, u16, bool), &'static str> {
    let (rest, tls, default_port) = if let Some(r) = url.strip_prefix("mqtt://") {
        (r, false, 1883)
    } else if let Some(r) = url.strip_prefix("mqtts://") {
        (r, true, 8883)
    } else {
        return Err("must start with mqtt:// or mqtts://");
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains(['/', '@', '?']) {
        return Err("must be only a host and a port (credentials go in username and password_file)");
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
            (h, p.parse::<u16>().ok().filter(|p| *p > 0).ok_or("has a port that is not 1 to 65535")?)
        }
        _ => (rest, default_port),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err("has no host");
    }
    Ok((host.to_string(), port, tls))
}

/// `retrigger` of a pulse or blink.
fn retrigger(t: &Tbl) -> R<Retrigger> {
    match t.str("retrigger")? {
        None | Some(("single", _)) => Ok(Retrigger::Single),
        Some(("restart", _)) => Ok(Retrigger::Restart),
        Some((other, span)) => Err(bad_word(span, "retrigger", other, t.label, &["single", "restart"])),
    }
}

fn unknown_ref<'x>(
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

/// Does a `[[camera]]` table name the camera itself, not only its NVR?
fn own_identity(t: &Tbl) -> bool {
    ["mac", "ip", "serial", "device_name"].iter().any(|k| t.get(k).is_some())
}

fn bad_word(span: Range<usize>, key: &str, found: &str, label: &str, valid: &[&str]) -> Diag {
    let message = match did_you_mean(found, valid.iter().copied()) {
        Some(s) => format!("\"{key}\" in {label} cannot be \"{found}\"; did you mean \"{s}\"?"),
        None => format!("\"{key}\" in {label} cannot be \"{found}\"; use {}", one_of(valid)),
    };
    Diag::new(span, key, message)
}

/// `"2026-12-24"` or `"2026-12-24..2026-12-26"` (inclusive), in order.
fn date_range(d: &str) -> Option<(chrono::NaiveDate, chrono::NaiveDate)> {
    let date = |s: &str| chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok();
    let (a, b) = match d.split_once("..") {
        Some((a, b)) => (date(a)?, date(b)?),
        None => (date(d)?, date(d)?),
    };
    (a <= b).then_some((a, b))
}

fn day_mask(d: &str) -> Option<u8> {
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

fn time_spec(s: &str, span: Range<usize>, key: &str, label: &str) -> R<TimeSpec> {
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

fn polygon(t: &Tbl, v: &Value) -> R<Vec<Point>> {
    let expected = "a list of [x, y] points, e.g. [[1000, 5000], [6000, 5000], [6000, 10000]]";
    let DeValue::Array(items) = v.get_ref() else { return Err(t.wrong("polygon", v, expected)) };
    let mut points = Vec::with_capacity(items.len());
    for item in items.iter() {
        let pair = match item.get_ref() {
            DeValue::Array(p) if p.len() == 2 => p,
            _ => return Err(t.wrong("polygon", item, "an [x, y] pair of integers")),
        };
        let mut xy = [0u32; 2];
        for (i, c) in pair.iter().enumerate() {
            let n = match c.get_ref() {
                DeValue::Integer(n) => i64::from_str_radix(n.as_str(), n.radix()).ok(),
                _ => return Err(t.wrong("polygon", c, "an integer from 0 to 10000")),
            };
            match n {
                Some(n) if (0..=MAX_COORD as i64).contains(&n) => xy[i] = n as u32,
                _ => {
                    return Err(Diag::new(
                        c.span(),
                        "polygon",
                        format!(
                            "point [{}] of {} is outside the picture: coordinates run from 0 to 10000",
                            item_text(pair),
                            t.label
                        ),
                    ))
                }
            }
        }
        points.push(Point { x: xy[0], y: xy[1] });
    }
    if points.len() < 3 {
        return Err(Diag::new(
            v.span(),
            "polygon",
            format!(
                "the polygon of {} has {} point{}; a zone needs at least 3 corners",
                t.label,
                points.len(),
                if points.len() == 1 { "" } else { "s" }
            ),
        ));
    }
    if let Some((i, j)) = crate::engine::geometry::self_intersection(&points) {
        let n = points.len();
        let edge = |k: usize| {
            let (a, b) = (points[k], points[(k + 1) % n]);
            format!("[{}, {}]–[{}, {}]", a.x, a.y, b.x, b.y)
        };
        return Err(Diag::new(
            v.span(),
            "polygon",
            format!(
                "the polygon of {} crosses itself: edge {} meets edge {}; list the corners in order around the zone",
                t.label,
                edge(i),
                edge(j)
            ),
        ));
    }
    Ok(points)
}

fn item_text(pair: &[Value]) -> String {
    pair.iter()
        .map(|c| match c.get_ref() {
            DeValue::Integer(n) => n.to_string(),
            other => other.type_str().to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `90s` → `1m30s`, `1500ms` → `1.5s`: how durations are written back to users.
pub fn fmt_duration(d: Duration) -> String {
    let ms = d.as_millis() as u64;
    if ms == 0 {
        return "0s".into();
    }
    if ms % 1000 != 0 {
        if ms < 1000 {
            return format!("{ms}ms");
        }
        return format!("{}.{:03}s", ms / 1000, ms % 1000).trim_end_matches('0').to_string();
    }
    let mut s = ms / 1000;
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if s >= size {
            out.push_str(&format!("{}{unit}", s / size));
            s %= size;
        }
    }
    out
}

/// What `safe-state` needs: `[gpio]` and every `[[relay]]` it can make out,
/// read without the rest of the file (which may be broken: systemd runs
/// `safe-state` after every crash, when things are already wrong).
pub(crate) fn parse_relays(text: &str) -> Result<(GpioConfig, Vec<RelayConfig>, Vec<Diag>), Diag> {
    let doc = DeTable::parse(text).map_err(|e| toml_diag(&e))?;
    let root = doc.get_ref();
    let mut problems = Vec::new();
    #[derive(serde::Deserialize)]
    struct GpioOnly {
        #[serde(default)]
        gpio: GpioConfig,
    }
    let gpio = match root.get("gpio") {
        None => GpioConfig::default(),
        Some(v) => {
            // The other sections are ignored here, whatever they hold.
            match toml::from_str::<GpioOnly>(text) {
                Ok(g) => g.gpio,
                Err(e) => {
                    problems.push(Diag::new(
                        v.span(),
                        "gpio",
                        format!("[gpio] not understood ({}); using the defaults (cdev)", e.message().trim()),
                    ));
                    GpioConfig::default()
                }
            }
        }
    };
    let mut b = Builder::new(text);
    for (i, v) in list(root, "relay").iter().enumerate() {
        let label = format!("[[relay]] #{}", i + 1);
        let strict = Tbl::new(&label, "relay", v).and_then(|t| b.relay(t));
        if let Err(d) = strict {
            // The block is wrong somewhere; drive its line off all the same
            // when its name and line can be read.
            match lenient_relay(v) {
                Some(r) if !b.cfg.relays.iter().any(|o| o.name == r.name) => {
                    b.cfg.relays.push(r);
                    problems.push(d);
                }
                _ => problems.push(d),
            }
        }
    }
    // Two relays on one line: the later one is the same line, already driven.
    let mut kept: Vec<RelayConfig> = Vec::new();
    for r in b.cfg.relays {
        match kept.iter().find(|k| same_line(&gpio, k, &r)) {
            Some(k) => problems.push(Diag::new(
                0..0,
                "line",
                format!(
                    "relay \"{}\" shares line {} with relay \"{}\", which is driven off",
                    r.name, r.line, k.name
                ),
            )),
            None => kept.push(r),
        }
    }
    Ok((gpio, kept, problems))
}

/// Name, line, chip and level of a `[[relay]]` block that failed validation.
fn lenient_relay(v: &Value) -> Option<RelayConfig> {
    let DeValue::Table(t) = v.get_ref() else { return None };
    let name = match t.get("name")?.get_ref() {
        DeValue::String(s) if !s.trim().is_empty() => s.to_string(),
        _ => return None,
    };
    let line = match t.get("line")?.get_ref() {
        DeValue::Integer(i) => {
            LineRef::Offset(u32::try_from(i64::from_str_radix(i.as_str(), i.radix()).ok()?).ok()?)
        }
        DeValue::String(s) if !s.trim().is_empty() => LineRef::Name(s.to_string()),
        _ => return None,
    };
    let chip = match t.get("chip").map(|c| c.get_ref()) {
        Some(DeValue::String(s)) => Some(s.to_string()),
        _ => None,
    };
    let active_low = matches!(t.get("active_low").map(|c| c.get_ref()), Some(DeValue::Boolean(true)));
    Some(RelayConfig {
        name,
        line,
        chip,
        active_low,
        max_on: Duration::from_secs(1),
        min_off: DEFAULT_MIN_OFF,
        switch_limit: Some(DEFAULT_SWITCH_LIMIT),
        interlock: None,
        interlock_wait: Duration::ZERO,
    })
}
