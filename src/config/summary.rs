//! `camrelay check`: a validated rules file told back in plain sentences.
//!
//! Owns the wording only; it must never accept anything `parse` refused.

use super::*;
use crate::words::fmt_duration;
use std::fmt::Write as _;
use std::process::ExitCode;

/// Validate `path` and print what it will do, then the warnings (on stderr).
/// Errors go back to the caller (the binary prints them and exits non-zero);
/// with `strict`, warnings fail the check too.
pub fn run_check(path: &Path, strict: bool) -> anyhow::Result<ExitCode> {
    let config = load(path)?;
    // `run` reads these files at startup: refuse here what it would refuse there.
    if let Some(m) = &config.mqtt {
        crate::mqtt::Settings::resolve(m)
            .map_err(|e| anyhow::Error::new(e).context(path.display().to_string()))?;
    }
    print!("{}", summary(&config, path));
    let warnings = super::lint::warnings(&config);
    for w in &warnings {
        eprintln!("camrelay: {}: warning: {w}", path.display());
    }
    if strict && !warnings.is_empty() {
        eprintln!("camrelay: {} warning(s), refused with --strict", warnings.len());
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Where cameras post, as a user types it into a camera's HTTP POST page:
/// a wildcard listener becomes the Pi's address, the path the first
/// configured one (any path is accepted when none is).
fn post_url(c: &Config) -> String {
    let host = if c.server.listen.ip().is_unspecified() {
        "<this Pi's address>".to_string()
    } else {
        match c.server.listen.ip() {
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        }
    };
    // Viewtron firmware posts to /API by default; any path is accepted unless `paths` says otherwise.
    let path = c.server.paths.first().map_or("/API", String::as_str);
    let mut line = format!("http://{host}:{}{path}", c.server.listen.port());
    if c.server.paths.is_empty() {
        line.push_str(" (any path is accepted)");
    } else if c.server.paths.len() > 1 {
        line.push_str(&format!(" (or {})", c.server.paths[1..].join(", ")));
    }
    line
}

/// `input "a" or "b"`, or `none` when the rule names no input.
fn inputs_named(inputs: &[String], none: &str) -> String {
    if inputs.is_empty() {
        none.to_string()
    } else {
        format!("input {}", list_or(&quoted(inputs), "or"))
    }
}

fn on_off(on: bool) -> &'static str {
    if on {
        "on"
    } else {
        "off"
    }
}

fn list_or(items: &[String], word: &str) -> String {
    match items.len() {
        0 => String::new(),
        1 => items[0].clone(),
        n => format!("{} {word} {}", items[..n - 1].join(", "), items[n - 1]),
    }
}

fn quoted(items: &[String]) -> Vec<String> {
    items.iter().map(|s| format!("\"{s}\"")).collect()
}

fn time_text(t: &TimeSpec) -> String {
    match t {
        TimeSpec::Clock { ms } => format!("{:02}:{:02}", ms / 3_600_000, ms / 60_000 % 60),
        TimeSpec::Sun { event, offset_ms } => {
            let word = if *event == SunEvent::Sunrise { "sunrise" } else { "sunset" };
            match offset_ms.cmp(&0) {
                std::cmp::Ordering::Equal => word.to_string(),
                std::cmp::Ordering::Greater => {
                    format!("{word}+{}", fmt_duration(Duration::from_millis(*offset_ms as u64)))
                }
                std::cmp::Ordering::Less => {
                    format!("{word}-{}", fmt_duration(Duration::from_millis(offset_ms.unsigned_abs())))
                }
            }
        }
    }
}

fn days_text(mask: u8) -> Option<String> {
    match mask {
        0x7f => None,
        0b001_1111 => Some("on weekdays".into()),
        0b110_0000 => Some("at weekends".into()),
        m => {
            let names = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
            let days: Vec<String> =
                (0..7).filter(|i| m & (1 << i) != 0).map(|i| names[i].to_string()).collect();
            Some(format!("on {}", list_or(&days, "and")))
        }
    }
}

/// One sentence saying what a rule does.
pub fn describe_rule(r: &RuleConfig, config: &Config) -> String {
    let w = &r.when;
    let class = if w.classes.is_empty() {
        "a target".to_string()
    } else {
        let words: Vec<String> = w.classes.iter().map(|c| format!("a {}", c.word())).collect();
        list_or(&words, "or")
    };
    let noun = if w.classes.is_empty() {
        "target".to_string()
    } else {
        let words: Vec<String> = w.classes.iter().map(|c| c.word().to_string()).collect();
        list_or(&words, "or")
    };
    let mut what: Vec<String> = Vec::new();
    for e in &w.events {
        what.push(match e {
            EventWord::Presence => format!("{class} is present"),
            EventWord::ZoneEntry => format!("{class} enters"),
            EventWord::ZoneExit => format!("{class} leaves"),
            EventWord::Plate => "a plate is read".to_string(),
            EventWord::Alarm => {
                let names =
                    if w.alarms.is_empty() { "any alarm".to_string() } else { list_or(&w.alarms, "or") };
                format!("{names} turns {}", if w.alarm_state { "on" } else { "off" })
            }
            EventWord::CameraOffline => "a camera goes offline".to_string(),
            EventWord::CameraOnline => "a camera comes back online".to_string(),
            EventWord::Occupancy => {
                let count = match (w.min_count, w.max_count) {
                    (Some(lo), Some(hi)) => format!("{lo} to {hi}"),
                    (None, Some(hi)) => format!("at most {hi}"),
                    (Some(lo), None) => format!("at least {lo}"),
                    (None, None) => "at least 1".to_string(),
                };
                format!("{count} {noun}(s) are there")
            }
            EventWord::AreaOccupied => format!("the first {noun} arrives"),
            EventWord::AreaEmpty => format!("the last {noun} has left"),
            EventWord::Input => {
                let which = inputs_named(&w.inputs, "any input");
                match (w.input_to, w.input_held) {
                    (Some(to), Some(d)) => format!("{which} has been {} for {}", on_off(to), fmt_duration(d)),
                    (Some(to), None) => format!("{which} turns {}", on_off(to)),
                    _ => format!("{which} changes"),
                }
            }
            EventWord::DidNotMove => {
                let which = inputs_named(&w.inputs, "its input");
                format!("a relay with confirm switched on and {which} did not follow in time")
            }
            EventWord::Tailgating => format!(
                "a second vehicle comes while input {} is {} (the gate is open)",
                list_or(&quoted(&w.inputs), "or"),
                on_off(w.input_to.unwrap_or(false))
            ),
            other => {
                let word = other.word().replace('_', " ");
                let article = if word.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
                if w.classes.is_empty() {
                    format!("{article} {word} event")
                } else {
                    format!("{article} {word} event for {class}")
                }
            }
        });
    }
    let mut s = format!("When {}", list_or(&what, "or"));
    if !w.zones.is_empty() {
        let _ = write!(s, " in zone {}", list_or(&quoted(&w.zones), "or"));
    }
    if !w.areas.is_empty() {
        let _ = write!(s, " in area {} (any of its cameras)", list_or(&quoted(&w.areas), "or"));
    }
    if !w.from_zones.is_empty() {
        let _ = write!(
            s,
            ", having come from zone {} within {}",
            list_or(&quoted(&w.from_zones), "or"),
            fmt_duration(w.within)
        );
    }
    if let Some((heading, zone)) = &w.heading {
        let way = if *heading == crate::config::Heading::Towards { "towards" } else { "away from" };
        let _ = write!(s, ", moving {way} zone \"{zone}\"");
    }
    if w.include_stationary {
        s.push_str(" (stationary targets too)");
    }
    if !w.cameras.is_empty() {
        let _ = write!(s, " on camera {}", list_or(&quoted(&w.cameras), "or"));
    }
    if !w.channels.is_empty() {
        let chans: Vec<String> = w.channels.iter().map(|c| c.to_string()).collect();
        let _ = write!(s, " on NVR channel {}", list_or(&chans, "or"));
    }
    if let Some(d) = w.dwell {
        let _ = write!(s, " for at least {}", fmt_duration(d));
    }
    if !w.input_states.is_empty() {
        let states: Vec<String> =
            w.input_states.iter().map(|c| format!("input \"{}\" is {}", c.input, on_off(c.on))).collect();
        let _ = write!(s, ", while {}", list_or(&states, "and"));
        if !w.input_for.is_zero() {
            let _ = write!(s, " (for at least {})", fmt_duration(w.input_for));
        }
    }
    let mut plate_bits = Vec::new();
    if !w.plates.is_empty() {
        let mut bit = format!("is {}", list_or(&w.plates, "or"));
        if w.plate_distance > 0.0 {
            bit.push_str(&format!(
                " (or is read within {} of it; an OCR confusion such as 8/B counts 0.5)",
                w.plate_distance
            ));
        }
        plate_bits.push(bit);
    }
    if let Some(p) = &w.plate_pattern {
        plate_bits.push(format!("matches /{}/", p.source));
    }
    if !w.plate_groups.is_empty() {
        plate_bits.push(format!("is on list {}", list_or(&quoted(&w.plate_groups), "or")));
    }
    if let Some(d) = w.direction {
        plate_bits.push(format!(
            "is {}",
            if d == crate::decode::PlateDirection::Approach { "approaching" } else { "leaving" }
        ));
    }
    if let Some(c) = w.min_confidence {
        plate_bits.push(format!("was read with at least {c}% confidence"));
    }
    if !plate_bits.is_empty() {
        let _ = write!(s, " and the plate {}", list_or(&plate_bits, "and"));
    }
    if !w.plate_lists.is_empty() {
        let _ =
            write!(s, " for a plate on {} (by an entry valid at that time", list_or(&w.plate_lists, "or"));
        if w.plate_distance > 0.0 && w.plates.is_empty() {
            let _ = write!(s, "; a read within {} of it counts", w.plate_distance);
        }
        s.push(')');
    }
    if let Some(u) = w.unless.as_deref().filter(|u| !u.plate_lists.is_empty()) {
        let _ = write!(s, ", unless the plate is on {}", list_or(&u.plate_lists, "or"));
    }
    let mut box_bits = Vec::new();
    if let Some(a) = w.min_area {
        box_bits.push(format!("at least {}% of the picture", a * 100.0));
    }
    if let Some(a) = w.max_area {
        box_bits.push(format!("at most {}% of the picture", a * 100.0));
    }
    if let Some(a) = w.min_aspect {
        box_bits.push(format!("width/height at least {a}"));
    }
    if let Some(a) = w.max_aspect {
        box_bits.push(format!("width/height at most {a}"));
    }
    if !box_bits.is_empty() {
        let _ = write!(s, " with a box of {}", list_or(&box_bits, "and"));
    }
    if let Some(sch) = &w.schedule {
        match (&sch.after, &sch.before) {
            (Some(a), Some(b)) => {
                let _ = write!(s, ", between {} and {}", time_text(a), time_text(b));
            }
            (Some(a), None) => {
                let _ = write!(s, ", after {} until midnight", time_text(a));
            }
            (None, Some(b)) => {
                let _ = write!(s, ", from midnight until {}", time_text(b));
            }
            (None, None) => {}
        }
        let range = |(a, b): &(chrono::NaiveDate, chrono::NaiveDate)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a} to {b}")
            }
        };
        let dates: Vec<String> = sch.dates.iter().map(range).collect();
        match (sch.days, dates.is_empty()) {
            (0, false) => {
                let _ = write!(s, " on {}", list_or(&dates, "and"));
            }
            (mask, _) => {
                if let Some(d) = days_text(mask) {
                    let _ = write!(s, " {d}");
                }
                if !dates.is_empty() {
                    let _ = write!(s, " and on {}", list_or(&dates, "and"));
                }
            }
        }
        if !sch.except.is_empty() {
            let except: Vec<String> = sch.except.iter().map(range).collect();
            let _ = write!(s, " except on {}", list_or(&except, "and"));
        }
        let _ = write!(s, " ({})", config.site.timezone.name());
    }
    for c in &w.relays {
        let _ = match c {
            crate::config::RelayCondition::On(r) => write!(s, ", while relay \"{r}\" is on"),
            crate::config::RelayCondition::Off(r) => write!(s, ", while relay \"{r}\" is off"),
            crate::config::RelayCondition::NoManual(r) => {
                write!(s, ", while relay \"{r}\" has no manual override")
            }
        };
    }
    let t = &r.then;
    let relay = &t.relay;
    let max_on = config.relay(relay).map(|r| fmt_duration(r.max_on)).unwrap_or_default();
    let action = match t.action {
        ActionKind::Hold { hold } => {
            format!("keep relay \"{relay}\" on until {} after the last match", fmt_duration(hold))
        }
        ActionKind::Pulse { duration, retrigger } => format!(
            "switch relay \"{relay}\" on for {} ({})",
            fmt_duration(duration),
            match retrigger {
                Retrigger::Single => "a match during the pulse is ignored",
                Retrigger::Restart => "a match during the pulse restarts it",
            }
        ),
        ActionKind::On => {
            format!("switch relay \"{relay}\" on until a rule switches it off (at most {max_on})")
        }
        ActionKind::Off => format!("switch relay \"{relay}\" off"),
        ActionKind::Toggle => format!("toggle relay \"{relay}\" (on for at most {max_on})"),
        ActionKind::Blink { on, off, duration, .. } => format!(
            "blink relay \"{relay}\" ({} on, {} off) for {}",
            fmt_duration(on),
            fmt_duration(off),
            fmt_duration(duration)
        ),
    };
    let _ = write!(s, ": {action}");
    if let Some(c) = t.cooldown {
        let _ = write!(s, ", then ignore matches for {}", fmt_duration(c));
    }
    if let Some(c) = t.plate_cooldown {
        let _ = write!(s, ", at most once per plate every {}", fmt_duration(c));
    }
    s.push('.');
    s
}

/// The plain summary `camrelay check` prints.
pub fn summary(c: &Config, path: &Path) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} is valid: {}, {}, {}, {}.",
        path.display(),
        crate::words::count(c.relays.len(), "relay"),
        crate::words::count(c.cameras.len(), "camera"),
        crate::words::count(c.zones.len(), "zone"),
        crate::words::count(c.rules.len(), "rule")
    );
    let _ = writeln!(s, "Cameras and NVRs post to {}", post_url(c));
    let backend = match c.gpio.backend {
        BackendKind::Cdev => "cdev (Linux GPIO character device)",
        BackendKind::Rppal => "rppal (Raspberry Pi memory-mapped GPIO)",
        BackendKind::Mock => "mock (no hardware)",
    };
    let _ = writeln!(s, "GPIO backend: {backend}");
    if let Some(m) = &c.mqtt {
        let node = m.node.as_deref().unwrap_or("<host name>");
        let _ = write!(s, "MQTT: {} as node {node}, topics under {}/{node}/", m.url, m.topic_prefix);
        match &m.discovery_prefix {
            Some(d) => {
                let _ = writeln!(s, ", Home Assistant discovery under {d}/");
            }
            None => {
                let _ = writeln!(s, ", no Home Assistant discovery");
            }
        }
    }
    if let (Some(lat), Some(lon)) = (c.site.latitude, c.site.longitude) {
        let _ = writeln!(s, "Site: {lat}, {lon}, time zone {}", c.site.timezone.name());
    }
    if !c.plates.is_empty() {
        let lists: Vec<String> =
            c.plates.iter().map(|l| format!("{} ({})", l.name, l.entries.len())).collect();
        let _ = writeln!(s, "Plate lists: {}", lists.join(", "));
    }
    let _ = writeln!(
        s,
        "Presence: a target is gone {} after its last traject post; zone changes need {} consecutive posts.",
        fmt_duration(c.presence.target_timeout),
        c.presence.inertia
    );
    if !c.relays.is_empty() {
        let _ = writeln!(s, "\nRelays:");
    }
    for r in &c.relays {
        let _ = write!(s, "  {}: line {}", r.name, r.line);
        if let Some(chip) = &r.chip {
            let _ = write!(s, " on {chip}");
        }
        if r.active_low {
            let _ = write!(s, ", active low");
        }
        let _ = write!(s, ", forced off after {} on", fmt_duration(r.max_on));
        if !r.min_off.is_zero() {
            let _ = write!(s, ", stays off at least {}", fmt_duration(r.min_off));
        }
        match r.switch_limit {
            Some(n) => {
                let _ = write!(s, ", at most {n} switch-ons a minute");
            }
            None => {
                let _ = write!(s, ", no switch-on limit");
            }
        }
        if let Some(g) = &r.interlock {
            let _ = write!(s, ", interlock group \"{g}\"");
        }
        if let Some(c) = &r.confirm {
            let _ = write!(
                s,
                "; after switching on, input \"{}\" must go {} within {} or it did not move",
                c.input,
                on_off(c.to),
                fmt_duration(c.within)
            );
        }
        s.push('\n');
    }
    if !c.inputs.is_empty() {
        let _ = writeln!(s, "\nInputs:");
    }
    for i in &c.inputs {
        let _ = write!(s, "  {}: line {}", i.name, i.line);
        if let Some(chip) = &i.chip {
            let _ = write!(s, " on {chip}");
        }
        if i.active_low {
            let _ = write!(s, ", active low (a low line is on)");
        }
        if i.bias != crate::config::Bias::AsIs {
            let _ = write!(s, ", bias {}", i.bias.word());
        }
        let _ = writeln!(s, ", debounce {}", fmt_duration(i.debounce));
    }
    if !c.cameras.is_empty() {
        let _ = writeln!(s, "\nCameras:");
    }
    for cam in &c.cameras {
        if let Some(node) = &cam.node {
            let _ = writeln!(s, "  {}: posts to node {node}; its detections arrive over MQTT", cam.name);
            continue;
        }
        let mut by = Vec::new();
        if let Some(m) = &cam.mac {
            by.push(format!("MAC {m}"));
        }
        if let Some(ip) = cam.ip {
            by.push(format!("IP {ip}"));
        }
        if let Some(sn) = &cam.serial {
            by.push(format!("serial {sn}"));
        }
        if let Some(n) = &cam.device_name {
            by.push(format!("device name \"{n}\""));
        }
        if let Some(n) = &cam.nvr {
            by.push(format!("NVR {n}"));
        }
        if let Some(ch) = cam.channel {
            by.push(format!("channel {ch}"));
        }
        if by.is_empty() {
            by.push(format!("device name \"{}\"", cam.name));
        }
        let _ = writeln!(s, "  {}: posts with {}", cam.name, by.join(", "));
    }
    if !c.zones.is_empty() {
        let _ = writeln!(s, "\nZones:");
    }
    for z in &c.zones {
        let anchor = match z.anchor {
            Anchor::BottomCenter => "the bottom centre of a target's box",
            Anchor::Center => "the centre of a target's box",
            Anchor::Box => "the whole box of a target",
        };
        let _ = writeln!(
            s,
            "  {} on camera {}: {} corners; in the zone means {anchor} is inside",
            z.name,
            z.camera,
            z.polygon.len()
        );
    }
    if !c.rules.is_empty() {
        let _ = writeln!(s, "\nRules:");
    }
    for (i, r) in c.rules.iter().enumerate() {
        let _ = writeln!(s, "  {}. \"{}\": {}", i + 1, r.name, describe_rule(r, c));
    }
    s
}
