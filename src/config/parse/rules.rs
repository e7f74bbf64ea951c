//! `[[rule]]`: `when` (events, places, plates, schedule, states), `unless`
//! and `then`, each checked against the relays, cameras and zones already
//! read. Runs last, so every name a rule uses is known.

use super::*;

impl Builder {
    pub(super) fn rule(&mut self, t: Tbl, index: usize) -> R<()> {
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

    pub(super) fn conditions(&self, t: &Tbl, rule: &str) -> R<Conditions> {
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
        let input_family = [EventWord::Input, EventWord::DidNotMove, EventWord::Tailgating];
        if let Some(e) = c.events.iter().find(|e| input_family.contains(e)) {
            if let Some(other) = c.events.iter().find(|o| !input_family.contains(o)) {
                return Err(Diag::new(
                    t.key_span("event"),
                    "event",
                    format!(
                        "\"{}\" and \"{}\" in {} cannot share a rule: an input's events have no camera targets; put them in rules of their own",
                        e.word(),
                        other.word(),
                        t.label
                    ),
                ));
            }
        }
        let targetless = [
            EventWord::Alarm,
            EventWord::CameraOffline,
            EventWord::CameraOnline,
            EventWord::Input,
            EventWord::DidNotMove,
            EventWord::Tailgating,
        ];
        let has_targetless = c.events.iter().any(|e| targetless.contains(e));
        if t.get("camera").is_some()
            && c.events.iter().any(|e| matches!(e, EventWord::Input | EventWord::DidNotMove))
        {
            return Err(Diag::new(
                t.key_span("camera"),
                "camera",
                format!("\"camera\" in {} does not go with input events: they come from a GPIO line, not a camera", t.label),
            ));
        }
        self.input_keys(t, &mut c)?;

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
                    format!("\"{key}\" in {} needs targets, which \"alarm\", \"camera_offline\", \"camera_online\", \"input\", \"did_not_move\" and \"tailgating\" events do not have; put those events in a rule of their own", t.label),
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

        let plate_keys = [
            "plate",
            "plate_pattern",
            "plate_group",
            "plate_list",
            "direction",
            "min_confidence",
            "plate_distance",
        ];
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
        c.plate_lists = self.plate_lists(t)?;
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
            if v > 0.0 && c.plates.is_empty() && c.plate_lists.is_empty() {
                return Err(Diag::new(
                    span,
                    "plate_distance",
                    format!(
                        "\"plate_distance\" in {} needs the plates it compares with: plate = [\"AB123CD\"] or plate_list = \"residents\"",
                        t.label
                    ),
                ));
            }
            // A misread may let a resident in; it must never let a blocked car in.
            if let Some(block) = c.plate_groups.iter().chain(&c.plate_lists).find(|g| {
                let g = g.to_ascii_lowercase();
                g.contains("black") || g.contains("block") || g.contains("deny")
            }) {
                if v > 0.0 {
                    let key = if c.plate_lists.contains(block) { "plate_list" } else { "plate_group" };
                    return Err(Diag::new(
                        span,
                        "plate_distance",
                        format!("\"plate_distance\" in {} does not go with {key} \"{block}\": a block list must match exactly, so that a misread never lets a blocked car through", t.label),
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
        (c.input_states, c.input_for) = self.input_states(t)?;
        c.unless = self.unless(t, rule, &c.events)?;
        Ok(c)
    }

    /// `after`, `before`, `days`, `except_days` of a `when` or `unless`.
    pub(super) fn schedule(&self, t: &Tbl, rule: &str) -> R<Option<Schedule>> {
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
    pub(super) fn states(&self, t: &Tbl) -> R<(Option<Vec<String>>, Vec<String>)> {
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

    /// `input`, `to` and `for` of a rule on an input's events.
    fn input_keys(&self, t: &Tbl, c: &mut Conditions) -> R<()> {
        let has = |e: EventWord| c.events.contains(&e);
        let input_events = has(EventWord::Input) || has(EventWord::DidNotMove) || has(EventWord::Tailgating);
        for key in ["input", "to", "for"] {
            if t.get(key).is_some() && !input_events {
                return Err(Diag::new(
                    t.key_span(key),
                    key,
                    format!("\"{key}\" in {} applies to event = \"input\", \"did_not_move\" or \"tailgating\"; for an input's state when another event fires, use input_on / input_off", t.label),
                ));
            }
        }
        if let Some((names, _)) = t.strings("input")? {
            for (n, span) in names {
                self.input_exists(n, span, "input", t.label)?;
                c.inputs.push(n.to_string());
            }
        }
        if let Some((w, span)) = t.str("to")? {
            if has(EventWord::DidNotMove) {
                return Err(Diag::new(span, "to", format!("\"to\" in {} does not go with \"did_not_move\": the relay's confirm says which level was awaited", t.label)));
            }
            c.input_to = Some(super::inputs::on_off(w, span, "to", t.label)?);
        }
        if has(EventWord::Tailgating) && (c.inputs.len() != 1 || c.input_to.is_none()) {
            return Err(Diag::new(
                t.span.clone(),
                "input",
                format!("{} on \"tailgating\" needs the gate's position input and the level that means open: input = \"gate_closed\", to = \"off\"", t.label),
            ));
        }
        if let Some((d, span)) = positive(t.duration("for")?, "for", t.label)? {
            if !c.events.iter().all(|e| *e == EventWord::Input) || c.input_to.is_none() {
                return Err(Diag::new(
                    span,
                    "for",
                    format!("\"for\" in {} applies to event = \"input\" with \"to\": the input has kept that level this long, e.g. to = \"off\", for = \"5m\"", t.label),
                ));
            }
            c.input_held = Some(d);
        }
        Ok(())
    }

    /// `input_on`, `input_off` and `input_for` of a `when` or `unless`.
    fn input_states(&self, t: &Tbl) -> R<(Vec<InputCondition>, Duration)> {
        let mut out = Vec::new();
        for (key, on) in [("input_on", true), ("input_off", false)] {
            let Some((names, _)) = t.strings(key)? else { continue };
            for (n, span) in names {
                self.input_exists(n, span, key, t.label)?;
                out.push(InputCondition { input: n.to_string(), on });
            }
        }
        let held = match t.duration("input_for")? {
            Some((_, span)) if out.is_empty() => {
                return Err(Diag::new(
                    span,
                    "input_for",
                    format!("\"input_for\" in {} needs input_on or input_off (the inputs that must have kept their level)", t.label),
                ))
            }
            Some((d, _)) => d,
            None => Duration::ZERO,
        };
        Ok((out, held))
    }

    fn input_exists(&self, name: &str, span: Range<usize>, key: &str, label: &str) -> R<()> {
        if self.cfg.inputs.iter().any(|i| i.name == name) {
            return Ok(());
        }
        Err(unknown_ref(span, key, name, label, self.cfg.inputs.iter().map(|i| i.name.as_str()), "[[input]]"))
    }

    /// `unless = { ... }` of a rule's `when`.
    pub(super) fn unless(&self, t: &Tbl, rule: &str, events: &[EventWord]) -> R<Option<Box<Unless>>> {
        let Some(v) = t.get("unless") else { return Ok(None) };
        let label = format!("{} unless", t.label);
        let u = Tbl::new(&label, "rule.unless", v)?;
        u.check_keys()?;
        let mut out = Unless { schedule: self.schedule(&u, rule)?, ..Unless::default() };
        (out.offline, out.occupied) = self.states(&u)?;
        (out.input_states, out.input_for) = self.input_states(&u)?;
        for key in ["plate", "plate_group", "plate_list"] {
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
        out.plate_lists = self.plate_lists(&u)?;
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
    pub(super) fn places(&self, t: &Tbl, c: &mut Conditions) -> R<()> {
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

    pub(super) fn action(&self, t: &Tbl, when: &Conditions) -> R<ActionConfig> {
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
    pub(super) fn action_on(&self, t: &Tbl, when: &Conditions, relay: &RelayConfig) -> R<ActionConfig> {
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
                    let window = d.min(crate::words::SWITCH_WINDOW);
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

    /// A zone a rule names under `key`: it must exist, and be on one of the
    /// rule's `camera`s when the rule names any.
    pub(super) fn rule_zone(
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
}

impl Builder {
    /// `relay = "node/relay"`: a relay on another node. Its limits live on that
    /// node, which applies them when the command arrives; here only the shape
    /// of the action is checked.
    pub(super) fn remote_action(
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
            confirm: None,
        };
        self.action_on(t, when, &stand_in)
    }
}

/// `retrigger` of a pulse or blink.
fn retrigger(t: &Tbl) -> R<Retrigger> {
    match t.str("retrigger")? {
        None | Some(("single", _)) => Ok(Retrigger::Single),
        Some(("restart", _)) => Ok(Retrigger::Restart),
        Some((other, span)) => Err(bad_word(span, "retrigger", other, t.label, &["single", "restart"])),
    }
}
