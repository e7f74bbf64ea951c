//! `[[input]]`: lines read, never driven (reed contacts, limit switches,
//! buttons), and a relay's `confirm`, which names one. Two users of one
//! line are refused here, as `run` refuses them.

use super::*;

impl Builder {
    pub(super) fn input(&mut self, t: Tbl) -> R<()> {
        t.check_keys()?;
        let (name, nspan) = t.req_str("name", "\"gate_closed\"")?;
        unique(self.cfg.inputs.iter().map(|i| i.name.as_str()), name, nspan.clone(), "input")?;
        self.one_level_each("input", name, nspan)?;
        let label = format!("[[input]] \"{name}\"");
        let t = Tbl { label: &label, ..t };
        let line = self.line_ref(&t, "22", "\"GPIO22\"")?;
        let chip = t.str("chip")?.map(|(s, _)| s.to_string());
        let active_low = t.bool("active_low")?.unwrap_or(false);
        let bias = match t.str("bias")? {
            None => Bias::AsIs,
            Some(("pull_up", _)) => Bias::PullUp,
            Some(("pull_down", _)) => Bias::PullDown,
            Some(("none", _)) => Bias::Disabled,
            Some(("as_is", _)) => Bias::AsIs,
            Some((other, span)) => {
                return Err(bad_word(span, "bias", other, &label, &["pull_up", "pull_down", "none", "as_is"]))
            }
        };
        let debounce = match t.duration("debounce")? {
            None => DEFAULT_DEBOUNCE,
            Some((d, span)) if d > Duration::from_secs(10) => {
                return Err(Diag::new(
                    span,
                    "debounce",
                    format!("\"debounce\" in {label} is at most \"10s\" (a contact settles in milliseconds), found \"{}\"", fmt_duration(d)),
                ))
            }
            Some((d, _)) => d,
        };
        let device_class = match t.str("device_class")? {
            None => None,
            Some((c, span)) => {
                if !INPUT_DEVICE_CLASSES.contains(&c) {
                    return Err(bad_word(span, "device_class", c, &label, INPUT_DEVICE_CLASSES));
                }
                Some(c.to_string())
            }
        };
        self.cfg.inputs.push(InputConfig {
            name: name.to_string(),
            line,
            chip,
            active_low,
            bias,
            debounce,
            device_class,
        });
        Ok(())
    }

    /// `line` of a `[[relay]]` or `[[input]]`: an offset or a line name.
    pub(super) fn line_ref(&self, t: &Tbl, offset: &str, named: &str) -> R<LineRef> {
        Ok(match t.get("line") {
            None => return Err(t.missing("line", offset)),
            Some(v) => match v.get_ref() {
                DeValue::Integer(_) => {
                    let (n, span) = t.int("line")?.ok_or_else(|| t.missing("line", offset))?;
                    let n = u32::try_from(n).map_err(|_| {
                        Diag::new(
                            span,
                            "line",
                            format!("\"line\" in {} must be a line offset from 0 up, found {n}", t.label),
                        )
                    })?;
                    LineRef::Offset(n)
                }
                DeValue::String(s) if !s.trim().is_empty() => LineRef::Name(s.to_string()),
                _ => {
                    return Err(t.wrong(
                        "line",
                        v,
                        &format!("a line offset ({offset}) or a line name ({named})"),
                    ))
                }
            },
        })
    }

    /// `confirm = { input = "gate_closed", to = "off", within = "5s" }` of a relay.
    pub(super) fn confirm(&self, t: &Tbl) -> R<Option<Confirm>> {
        let Some(v) = t.get("confirm") else { return Ok(None) };
        let label = format!("{} confirm", t.label);
        let c = Tbl::new(&label, "relay.confirm", v)?;
        c.check_keys()?;
        let (input, span) = c.req_str("input", "\"gate_closed\"")?;
        if !self.cfg.inputs.iter().any(|i| i.name == input) {
            return Err(unknown_ref(
                span,
                "input",
                input,
                &label,
                self.cfg.inputs.iter().map(|i| i.name.as_str()),
                "[[input]]",
            ));
        }
        let to = match c.str("to")? {
            None => return Err(c.missing("to", "\"off\"")),
            Some((w, span)) => on_off(w, span, "to", &label)?,
        };
        let within = match positive(c.duration("within")?, "within", &label)? {
            Some((d, _)) => d,
            None => return Err(c.missing("within", "\"5s\"")),
        };
        Ok(Some(Confirm { input: input.to_string(), to, within }))
    }
}

/// `"on"` / `"off"` (also `true` / `false` words a user may write).
pub(super) fn on_off(w: &str, span: Range<usize>, key: &str, label: &str) -> R<bool> {
    match w {
        "on" => Ok(true),
        "off" => Ok(false),
        other => Err(bad_word(span, key, other, label, &["on", "off"])),
    }
}

/// An input on a line a relay or another input already uses: `open_backend`
/// would be refused by the kernel (the line is busy), so `check` refuses it.
pub(super) fn check_input_lines(cfg: &Config, root: &DeTable) -> R<()> {
    let blocks = list(root, "input");
    for (i, a) in cfg.inputs.iter().enumerate() {
        let span = match blocks.get(i).map(|v| v.get_ref()) {
            Some(DeValue::Table(t)) => t.get("line").map(|v| v.span()).unwrap_or(0..0),
            _ => 0..0,
        };
        let chip = a.chip.as_ref().or(cfg.gpio.chip.as_ref());
        let chip = chip.map_or("the default chip".to_string(), |c| format!("chip {c:?}"));
        let here = (&a.line, a.chip.as_deref());
        if let Some(r) =
            cfg.relays.iter().find(|r| same_line_ref(&cfg.gpio, here, (&r.line, r.chip.as_deref())))
        {
            return Err(Diag::new(
                span,
                "line",
                format!("input \"{}\" uses line {} of {chip}, which relay \"{}\" drives; an input needs a line of its own", a.name, a.line, r.name),
            ));
        }
        if let Some(b) =
            cfg.inputs[..i].iter().find(|b| same_line_ref(&cfg.gpio, here, (&b.line, b.chip.as_deref())))
        {
            return Err(Diag::new(
                span,
                "line",
                format!("input \"{}\" uses line {} of {chip}, as input \"{}\" does; each input needs its own line", a.name, a.line, b.name),
            ));
        }
    }
    Ok(())
}
