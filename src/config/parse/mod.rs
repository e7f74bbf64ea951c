//! Rules text → validated [`Config`], or the first problem with its place in the file.
//!
//! Walks the spanned TOML document itself (rather than through serde) for the
//! rules part, so every message can name the key, point at the value and say
//! what would be valid. `[server]`, `[api]` and `[gpio]` go through serde after
//! their keys are checked here. Nothing here evaluates a rule.
//!
//! One file per section, each owning its keys' checks: `server` (`[server]`,
//! `[api]`), `site` (`[site]`, `[presence]` and the words of time),
//! `inputs`, `relays`, `cameras`, `zones` (`[[zone]]`, `[[area]]`), `plates`
//! (`[[plates.<list>]]`), `rules`, `mqtt`, `history`;
//! `table` reads one table of any of them. This file reads the sections in
//! the order their names are needed: relays, cameras, zones, areas and plate
//! lists before the rules that name them.

mod cameras;
mod history;
mod inputs;
mod mqtt;
mod plates;
pub(crate) use plates::list_name_ok;
mod relays;
mod rules;
mod server;
mod site;
mod table;
mod zones;

use inputs::check_input_lines;
use relays::check_shared_lines;
pub(crate) use relays::parse_relays;
use server::{check_allow, check_token};
use site::*;
use table::*;

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

/// Each top-level key and whether it is an array of tables.
const TOP: &[(&str, bool)] = &[
    ("server", false),
    ("api", false),
    ("gpio", false),
    ("input", true),
    ("relay", true),
    ("camera", true),
    ("zone", true),
    ("area", true),
    ("site", false),
    ("presence", false),
    ("plates", false),
    ("rule", true),
    ("mqtt", false),
    ("history", false),
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
                    None => "valid sections: [server], [api], [gpio], [[relay]], [[camera]], [[zone]], [[area]], [site], [presence], [[plates.<list>]], [[rule]], [mqtt], [history]".to_string(),
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
                if *name == "plates" {
                    // Checked list by list in `plates`, where each list is named.
                    continue;
                }
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
    if let Some(v) = root.get("history") {
        b.history(Tbl::new("[history]", "history", v)?)?;
    }
    if let Some(v) = root.get("site") {
        b.site(Tbl::new("[site]", "site", v)?)?;
    }
    // Inputs before relays: a relay's `confirm` names one.
    for (i, v) in list(root, "input").iter().enumerate() {
        let label = format!("[[input]] #{}", i + 1);
        b.input(Tbl::new(&label, "input", v)?)?;
    }
    for (i, v) in list(root, "relay").iter().enumerate() {
        let label = format!("[[relay]] #{}", i + 1);
        b.relay(Tbl::new(&label, "relay", v)?)?;
    }
    check_shared_lines(&b.cfg, root)?;
    check_input_lines(&b.cfg, root)?;
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
    // Plate lists before the rules: a rule's `plate_list` names one.
    if let Some(v) = root.get("plates") {
        b.plates(v)?;
    }
    for (i, v) in list(root, "rule").iter().enumerate() {
        let label = format!("[[rule]] #{}", i + 1);
        b.rule(Tbl::new(&label, "rule", v)?, i)?;
    }
    Ok(b.cfg)
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
