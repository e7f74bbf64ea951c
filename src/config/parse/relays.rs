//! `[[relay]]`: lines, limits, interlocks; and the lenient reading of the
//! relays alone that `safe-state` needs from a file that may be broken.

use super::*;

impl Builder {
    pub(super) fn relay(&mut self, t: Tbl) -> R<()> {
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
        let line = self.line_ref(&t, "17", "\"GPIO17\"")?;
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
            confirm: self.confirm(&t)?,
        });
        Ok(())
    }
}

/// Two relays on one line of one chip ([`same_line`]): `open_backend`
/// refuses them at startup, under every backend, so `check` does too. Lines
/// named differently (an offset and a name for the same line) only show on
/// the hardware and are reported by `run` with both relays named.
pub(super) fn check_shared_lines(cfg: &Config, root: &DeTable) -> R<()> {
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
    // A relay's `confirm` names an input: read the inputs first, as far as they go.
    for (i, v) in list(root, "input").iter().enumerate() {
        let label = format!("[[input]] #{}", i + 1);
        let _ = Tbl::new(&label, "input", v).and_then(|t| b.input(t));
    }
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
pub(super) fn lenient_relay(v: &Value) -> Option<RelayConfig> {
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
        confirm: None,
    })
}
