//! Every key of the rules file, declared once: section, name, type, default and meaning.
//!
//! The unknown-key check (with its "did you mean") and the reference tables in
//! `docs/rules.md` both come from [`KEYS`], and a test checks the docs against
//! it, so the reference cannot drift from what the parser accepts. This table
//! must never hold behaviour: validators live in `parse/`, one file per section.

/// One documented key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyDoc {
    /// Section id: `server`, `api`, `gpio`, `relay`, `camera`, `zone`, `area`, `site`,
    /// `presence`, `plates`, `rule`, `rule.when`, `rule.then`.
    pub section: &'static str,
    pub key: &'static str,
    /// The type as a user reads it.
    pub ty: &'static str,
    /// The default as it would be written in the file, or `required` / `none`.
    pub default: &'static str,
    /// One sentence.
    pub doc: &'static str,
}

const fn k(
    section: &'static str,
    key: &'static str,
    ty: &'static str,
    default: &'static str,
    doc: &'static str,
) -> KeyDoc {
    KeyDoc { section, key, ty, default, doc }
}

/// Sections in the order the reference presents them, with their heading as written in TOML.
pub const SECTIONS: &[(&str, &str)] = &[
    ("server", "[server]"),
    ("api", "[api]"),
    ("gpio", "[gpio]"),
    ("relay", "[[relay]]"),
    ("relay.confirm", "[[relay]] confirm = { ... }"),
    ("input", "[[input]]"),
    ("camera", "[[camera]]"),
    ("zone", "[[zone]]"),
    ("area", "[[area]]"),
    ("site", "[site]"),
    ("presence", "[presence]"),
    ("plates", "[[plates.<list>]]"),
    ("rule", "[[rule]]"),
    ("rule.when", "[[rule]] when = { ... }"),
    ("rule.unless", "[[rule]] when = { ..., unless = { ... } }"),
    ("rule.then", "[[rule]] then = { ... }"),
    ("mqtt", "[mqtt]"),
    ("history", "[history]"),
];

pub const KEYS: &[KeyDoc] = &[
    // [server]
    k("server", "listen", "address", "\"0.0.0.0:5002\"", "Address and port cameras and NVRs post to."),
    k(
        "server",
        "paths",
        "list of strings",
        "[] (any path)",
        "Request paths accepted, e.g. `[\"/API\"]`; empty accepts any path.",
    ),
    k(
        "server",
        "max_body",
        "integer (bytes)",
        "4194304",
        "Largest post accepted; larger posts are answered 413.",
    ),
    k(
        "server",
        "header_timeout",
        "duration",
        "\"10s\"",
        "A client must finish sending its headers within this time.",
    ),
    k(
        "server",
        "body_timeout",
        "duration",
        "\"30s\"",
        "A client must finish sending its body within this time.",
    ),
    k(
        "server",
        "idle_timeout",
        "duration",
        "\"5m\"",
        "An idle keep-alive connection is closed after this time.",
    ),
    k(
        "server",
        "record_dir",
        "path",
        "none",
        "Record every raw post here (always the undecodable ones), for `camrelay replay`.",
    ),
    k(
        "server",
        "allow",
        "list of networks",
        "[] (all)",
        "Source networks allowed to post, e.g. `[\"192.168.1.0/24\"]`.",
    ),
    k(
        "server",
        "offline_after",
        "duration",
        "\"5m\"",
        "A device silent this long is reported offline (the `camera_offline` event).",
    ),
    k(
        "server",
        "max_connections_per_source",
        "integer",
        "128",
        "Connections one source address may hold; past it, its longest-idle connection is closed.",
    ),
    // [api]
    k(
        "api",
        "listen",
        "address",
        "\"127.0.0.1:5003\"",
        "Address of the management API (status, manual control, metrics).",
    ),
    k("api", "token", "string", "none", "Bearer token required by state-changing API calls."),
    k("api", "token_file", "path", "none", "File whose first line is the bearer token (instead of `token`)."),
    k(
        "api",
        "header_timeout",
        "duration",
        "\"10s\"",
        "A connection must send a whole request head within this time of opening or of its last reply, so idle ones close too.",
    ),
    k(
        "api",
        "hosts",
        "list of host names",
        "[]",
        "Names the API and page are reached by besides its IP addresses, `localhost` and this machine's name (and `<name>.local`); a request sent to any other name is refused (421), against DNS rebinding. E.g. `[\"pi.example.net\"]`.",
    ),
    // [gpio]
    k(
        "gpio",
        "backend",
        "`cdev` | `rppal` | `mock`",
        "\"cdev\"",
        "Which GPIO implementation drives the relay lines.",
    ),
    k("gpio", "chip", "string", "none", "Default chip for relays that name none: path, name or label."),
    k(
        "gpio",
        "mock_log",
        "path",
        "none",
        "Mock backend only: append every line change here as one JSON line.",
    ),
    // [[relay]]
    k("relay", "name", "string", "required", "The relay's name, used by rules, logs and the API."),
    k(
        "relay",
        "line",
        "integer or string",
        "required",
        "Line offset on the chip (`17`) or line name (`\"GPIO17\"`).",
    ),
    k("relay", "chip", "string", "`[gpio] chip`", "Chip for this relay, overriding `[gpio] chip`."),
    k(
        "relay",
        "active_low",
        "boolean",
        "false",
        "Set for relay boards that switch on a low level (most do).",
    ),
    k(
        "relay",
        "max_on",
        "duration",
        "required",
        "Safety limit: forced off after being on this long, whatever the rules say.",
    ),
    k(
        "relay",
        "min_off",
        "duration",
        "\"1s\"",
        "Stays off at least this long before switching on again (also after startup); `\"0s\"` for lights that must follow fast.",
    ),
    k(
        "relay",
        "switch_limit",
        "integer or `\"unlimited\"`",
        "20",
        "Most switch-ons in any 60 s; one more holds the relay off for 60 s (a counted, logged safety lockout).",
    ),
    k(
        "relay",
        "interlock",
        "string",
        "none",
        "Relays sharing an interlock group are never on at the same time.",
    ),
    k(
        "relay",
        "interlock_wait",
        "duration",
        "\"0s\"",
        "Dead time after another relay of the group switched off.",
    ),
    k(
        "relay",
        "confirm",
        "inline table",
        "none",
        "The input that shows the relay did its job: `{ input = \"gate_closed\", to = \"off\", within = \"5s\" }`; when it does not come, a `did_not_move` event.",
    ),
    // [[relay]] confirm = { ... }
    k("relay.confirm", "input", "string", "required", "The `[[input]]` that must change after the relay switches on."),
    k("relay.confirm", "to", "`\"on\"` or `\"off\"`", "required", "The level it must reach (a gate's closed contact goes `\"off\"` as the gate leaves)."),
    k("relay.confirm", "within", "duration", "required", "How long after the switch-on it may take."),
    // [[input]]
    k("input", "name", "string", "required", "The input's name, used by rules, logs, the API and MQTT."),
    k(
        "input",
        "line",
        "integer or string",
        "required",
        "Line offset on the chip (`22`) or line name (`\"GPIO22\"`); not a relay's line.",
    ),
    k("input", "chip", "string", "`[gpio] chip`", "Chip for this input, overriding `[gpio] chip`."),
    k(
        "input",
        "active_low",
        "boolean",
        "false",
        "Set when the contact closes to ground (with a pull-up): a low line is `on`.",
    ),
    k(
        "input",
        "bias",
        "`\"pull_up\"`, `\"pull_down\"`, `\"none\"`, `\"as_is\"`",
        "\"as_is\"",
        "The line's pull resistor; a reed contact to ground wants `\"pull_up\"` with `active_low = true`.",
    ),
    k(
        "input",
        "debounce",
        "duration",
        "\"30ms\"",
        "A change counts once the line has kept its level this long (the kernel's debounce where it has one); at most `\"10s\"`.",
    ),
    k(
        "input",
        "device_class",
        "string",
        "none",
        "Home Assistant's `binary_sensor` class: `door`, `garage_door`, `opening`, `window`, `motion`, `occupancy`, `presence`, `lock`, `moving`, `vibration`, `safety`, `problem`, `tamper`, `power`.",
    ),
    // [[camera]]
    k(
        "camera",
        "node",
        "string",
        "none",
        "This camera posts to another camrelay node: its detections come over MQTT (needs `[mqtt]`); no other key but `name`.",
    ),
    k("camera", "name", "string", "required", "The camera's name in rules, zones and logs."),
    k("camera", "mac", "string", "none", "Match posts whose device MAC is this (any case, `:` or `-`)."),
    k(
        "camera",
        "ip",
        "IP address",
        "none",
        "Match posts whose device IP, or the post's source address, is this.",
    ),
    k("camera", "serial", "string", "none", "Match posts whose device serial number is this."),
    k(
        "camera",
        "device_name",
        "string",
        "`name` when no other matcher is set",
        "Match posts whose device name is this.",
    ),
    k(
        "camera",
        "nvr",
        "string",
        "none",
        "Match posts forwarded by this NVR (its IP, MAC or device name); needs `channel`. With `mac`, `ip`, `serial` or `device_name` too, the block is one camera with two sources (it posts itself, and its NVR forwards the same detections): either matches, and a detection arriving from both counts once.",
    ),
    k("camera", "channel", "integer", "none", "Match posts for this NVR channel."),
    k(
        "camera",
        "duplicate_window",
        "duration",
        "\"2s\"",
        "With two sources: a detection from one source that matches one from the other (kind, class, plate text) this long before is the same detection, and is dropped. NVRs forward 0.3–1.5 s after the camera posts.",
    ),
    k(
        "camera",
        "url",
        "string",
        "none",
        "The camera's own API, `\"http://192.168.1.20\"`: `camrelay camera` subscribes it, imports its zones, and the daemon serves its snapshot.",
    ),
    k("camera", "user", "string", "\"admin\"", "The API user."),
    k(
        "camera",
        "password_file",
        "path",
        "required with `url`",
        "File whose first line is the API password (relative to this file; keep it readable by camrelay only).",
    ),
    // [[zone]]
    k("zone", "name", "string", "required", "The zone's name in rules and logs; unique across cameras."),
    k("zone", "camera", "string", "required", "The `[[camera]]` whose picture the polygon is drawn on."),
    k(
        "zone",
        "polygon",
        "list of [x, y]",
        "required",
        "At least 3 corners in the camera's 0–10000 space, in order around the zone.",
    ),
    k(
        "zone",
        "anchor",
        "`bottom_center` | `center` | `box`",
        "\"bottom_center\"",
        "Which part of a target's box must be inside the polygon (or on its edge).",
    ),
    // [[area]]
    k("area", "name", "string", "required", "The area's name in rules and logs; unique."),
    k(
        "area",
        "zones",
        "list of strings",
        "required",
        "The `[[zone]]`s that show this place, from one camera or several (the same driveway seen by two cameras).",
    ),
    // [site]
    k(
        "site",
        "latitude",
        "number (degrees, north positive)",
        "none",
        "Site latitude, for sunrise and sunset.",
    ),
    k(
        "site",
        "longitude",
        "number (degrees, east positive)",
        "none",
        "Site longitude, for sunrise and sunset.",
    ),
    k(
        "site",
        "timezone",
        "IANA zone name",
        "\"UTC\"",
        "Local time zone of schedules, e.g. `\"Europe/Berlin\"`.",
    ),
    // [presence]
    k(
        "presence",
        "target_timeout",
        "duration",
        "\"2s\"",
        "A tracked target is gone when no traject post has named it for this long.",
    ),
    k(
        "presence",
        "inertia",
        "integer",
        "3",
        "Consecutive posts in (or out of) a zone before a target counts as entered (or left).",
    ),
    k(
        "presence",
        "stationary_after",
        "duration",
        "\"30s\"",
        "A target of `stationary_classes` whose box stays within `stationary_tolerance` this long is stationary (a parked car): it no longer renews holds, starts `dwell` or counts for `occupancy`, `area_occupied` and `area_empty`, unless the rule has `include_stationary`, and is active again once it moves.",
    ),
    k(
        "presence",
        "stationary_classes",
        "list of classes",
        "[\"vehicle\", \"motor\"]",
        "The classes that can become stationary. People are left out by default: a courier waiting at the door, or someone standing still in the garden, is still there. Add \"person\" only where standing people should stop counting.",
    ),
    k(
        "presence",
        "stationary_tolerance",
        "number 0–0.5",
        "0.03",
        "How far each edge of a box may move, as a fraction of the picture, and still count as not moving.",
    ),
    // [[plates.<list>]]
    k(
        "plates",
        "plate",
        "string",
        "required",
        "The plate, compared as a rule's `plate` is (upper case, no spaces or dashes); once per list.",
    ),
    k("plates", "name", "string", "none", "Whose it is, for people: `\"Grandma\"`, `\"Anna's car\"`."),
    k(
        "plates",
        "from",
        "local date-time or date",
        "always",
        "On the list from then, in `[site] timezone`: `2026-12-12T09:00:00`, or `2026-12-12` (from its start).",
    ),
    k(
        "plates",
        "until",
        "local date-time or date",
        "for ever",
        "Off the list from then: `2026-12-12T18:00:00`, or `2026-12-12` (to the end of that day).",
    ),
    k(
        "plates",
        "days",
        "list of days",
        "every day",
        "Weekdays it counts on: `mon`..`sun`, `weekdays`, `weekend`; with `after`/`before`, the day the hours start on.",
    ),
    k("plates", "after", "time", "none", "Daily hours from this clock time, e.g. `\"09:00\"` (no sun times)."),
    k(
        "plates",
        "before",
        "time",
        "none",
        "Daily hours until this clock time, e.g. `\"18:00\"`; before `after`: past midnight.",
    ),
    // [[rule]]
    k("rule", "name", "string", "\"rule N\"", "The rule's name in logs, explanations and counters; unique."),
    k(
        "rule",
        "enabled",
        "boolean",
        "true",
        "Set `false` to keep a rule in the file without it doing anything.",
    ),
    k(
        "rule",
        "when",
        "inline table",
        "required",
        "The conditions, all of which must hold (lists mean any of).",
    ),
    k("rule", "then", "inline table", "required", "What the relay does when the conditions hold."),
    // when
    k(
        "rule.when",
        "event",
        "word or list",
        "required",
        "Event kinds: `presence`, `zone_entry`, `zone_exit`, `intrusion`, `plate`, `alarm`, ... (see below).",
    ),
    k("rule.when", "camera", "string or list", "any", "Only events from these `[[camera]]` names."),
    k("rule.when", "channel", "integer or list", "any", "Only events for these NVR channels."),
    k(
        "rule.when",
        "class",
        "word or list",
        "any",
        "Target classes: `person`, `vehicle` (or `car`), `motor` (or `bike`), `unknown`.",
    ),
    k(
        "rule.when",
        "zone",
        "string or list",
        "anywhere",
        "Only targets whose anchor is in one of these zones.",
    ),
    k(
        "rule.when",
        "area",
        "string or list",
        "none",
        "Only targets in one of these `[[area]]`s (any of its zones, any camera); `dwell` then counts the time the area has been occupied. Not with `zone`.",
    ),
    k(
        "rule.when",
        "include_stationary",
        "boolean",
        "false",
        "`presence`, `occupancy`, `area_occupied`, `area_empty`: stationary targets (a parked car) match and count too (see `[presence] stationary_after`).",
    ),
    k(
        "rule.when",
        "min_count",
        "integer",
        "1 (0 when `max_count` is set)",
        "`occupancy`: at least this many matching targets in the `area` or `zone` (the most any one camera sees).",
    ),
    k(
        "rule.when",
        "max_count",
        "integer",
        "none",
        "`occupancy`: at most this many matching targets in the `area` or `zone`.",
    ),
    k(
        "rule.when",
        "from_zone",
        "string or list",
        "none",
        "Zone order: the target was in one of these zones (same camera) before it entered the rule's `zone`, at most `within` before.",
    ),
    k(
        "rule.when",
        "within",
        "duration",
        "\"30s\"",
        "`from_zone`: the longest time from leaving the first zone to entering the rule's zone.",
    ),
    k(
        "rule.when",
        "towards",
        "string",
        "none",
        "Travel direction: the target's anchor came at least 3% of the picture closer to this zone's centre over its last 2 s.",
    ),
    k(
        "rule.when",
        "away_from",
        "string",
        "none",
        "Travel direction: the target's anchor went at least 3% of the picture further from this zone's centre over its last 2 s.",
    ),
    k("rule.when", "min_area", "number 0–1", "none", "Smallest target box, as a fraction of the picture."),
    k("rule.when", "max_area", "number 0–1", "none", "Largest target box, as a fraction of the picture."),
    k(
        "rule.when",
        "min_aspect",
        "number",
        "none",
        "Smallest box width / height (a standing person is about 0.4).",
    ),
    k("rule.when", "max_aspect", "number", "none", "Largest box width / height."),
    k(
        "rule.when",
        "dwell",
        "duration",
        "none",
        "`presence` only: the target must have been in the zone (or seen) this long.",
    ),
    k(
        "rule.when",
        "plate",
        "string or list",
        "any",
        "Plate numbers, compared after upper-casing and removing spaces and dashes.",
    ),
    k(
        "rule.when",
        "plate_pattern",
        "regular expression",
        "none",
        "Plate numbers matching this pattern (on the normalized plate).",
    ),
    k(
        "rule.when",
        "plate_group",
        "string or list",
        "any",
        "Camera list (`whiteList`, `blackList`, `temporaryList`) or NVR group name.",
    ),
    k(
        "rule.when",
        "plate_list",
        "string or list",
        "any",
        "`[[plates.<list>]]` lists kept in this file: the plate is on one of them by an entry valid at the event's local time (with `plate_distance`, as `plate`).",
    ),
    k(
        "rule.when",
        "direction",
        "`approach` | `leave`",
        "any",
        "Direction of the vehicle the camera reports with the plate.",
    ),
    k(
        "rule.when",
        "min_confidence",
        "number 0–100",
        "none",
        "Plate reads below this confidence (or without one) do not match.",
    ),
    k(
        "rule.when",
        "plate_distance",
        "number 0–3, in steps of 0.5",
        "0 (exact)",
        "A read this close to a listed `plate` (or a `plate_list` entry) matches it: an edit costs 1, an OCR confusion (0/O, 1/I, 8/B, 5/S, 2/Z) 0.5; the listed plate is what `plate_cooldown` and the log name. Not with block lists. **Use 0.5**: one look-alike misread and nothing else; 1 also admits any one wrong character (ABC1284 for ABC1234: another car), and `check` says so.",
    ),
    k(
        "rule.when",
        "alarm",
        "string or list",
        "any",
        "`alarm` only: alarm element names, e.g. `perimeterAlarm`, `motionAlarm`.",
    ),
    k(
        "rule.when",
        "alarm_state",
        "boolean",
        "true",
        "`alarm` only: match the alarm turning on (`true`) or off (`false`).",
    ),
    k(
        "rule.when",
        "after",
        "time or sun event",
        "none",
        "Window start in local time: `\"22:00\"`, `\"sunset\"`, `\"sunset-30m\"`.",
    ),
    k(
        "rule.when",
        "before",
        "time or sun event",
        "none",
        "Window end in local time: `\"06:30\"`, `\"sunrise+15m\"`; may be past midnight.",
    ),
    k(
        "rule.when",
        "days",
        "list of days",
        "every day",
        "Days the window starts on: `mon`..`sun`, `weekdays`, `weekend`, dates `\"2026-12-24\"` and ranges `\"2026-12-24..2026-12-26\"`.",
    ),
    k(
        "rule.when",
        "except_days",
        "list of dates",
        "none",
        "Dates and ranges (`\"2026-12-25\"`, `\"2026-12-24..2026-12-26\"`) on which no window starts: holidays.",
    ),
    k(
        "rule.when",
        "relay_on",
        "string or list",
        "none",
        "Fire only while these relays are on, at that instant (checked by the relay controller).",
    ),
    k(
        "rule.when",
        "relay_off",
        "string or list",
        "none",
        "Fire only while these relays are off, e.g. do not pulse the opener while the gate relay is on.",
    ),
    k(
        "rule.when",
        "no_manual",
        "string or list",
        "none",
        "Fire only while these relays have no manual override from the API.",
    ),
    k(
        "rule.when",
        "input",
        "input name or list",
        "any input",
        "`event = \"input\"`, `\"did_not_move\"` or `\"tailgating\"`: the inputs whose events the rule takes (tailgating: the gate's position input).",
    ),
    k(
        "rule.when",
        "to",
        "`\"on\"` or `\"off\"`",
        "either",
        "`event = \"input\"`: the level the input changes to; `\"tailgating\"`: the level that means the gate is open.",
    ),
    k(
        "rule.when",
        "for",
        "duration",
        "none",
        "`event = \"input\"` with `to`: fire once the input has kept that level this long (\"gate open for 5 minutes\").",
    ),
    k(
        "rule.when",
        "input_on",
        "input name or list",
        "none",
        "Fire only while these inputs are on.",
    ),
    k(
        "rule.when",
        "input_off",
        "input name or list",
        "none",
        "Fire only while these inputs are off, e.g. do not pulse the opener while the gate-moving contact is on.",
    ),
    k(
        "rule.when",
        "input_for",
        "duration",
        "\"0s\"",
        "`input_on` / `input_off` hold only once the input has kept its level this long (\"door closed for 10 s\").",
    ),
    k(
        "rule.when",
        "offline",
        "camera name, list, or `\"any\"`",
        "none",
        "Fire only while one of these cameras (`\"any\"`: any camera) is offline: silent for `[server] offline_after`, or reported offline by its NVR.",
    ),
    k(
        "rule.when",
        "occupied",
        "zone or area name, or list",
        "none",
        "Fire only while a moving target (of any class) is in one of these zones or areas.",
    ),
    k(
        "rule.when",
        "unless",
        "table",
        "none",
        "Do not fire while everything in it holds: `unless = { offline = \"any\" }`, `unless = { plate_group = \"whiteList\" }` (a plate *not* on the list), `unless = { after = \"08:00\", before = \"18:00\" }`. Keys below.",
    ),
    // unless
    k("rule.unless", "input_on", "input name or list", "none", "These inputs are on (with `input_for`: for that long)."),
    k("rule.unless", "input_off", "input name or list", "none", "These inputs are off (with `input_for`: for that long)."),
    k("rule.unless", "input_for", "duration", "\"0s\"", "As in `when`."),
    k("rule.unless", "offline", "camera name, list, or `\"any\"`", "none", "One of these cameras is offline."),
    k("rule.unless", "occupied", "zone or area name, or list", "none", "A moving target is in one of these zones or areas."),
    k("rule.unless", "plate", "string or list", "none", "The plate read is one of these (exactly, after normalizing). `event = \"plate\"` only."),
    k("rule.unless", "plate_group", "string or list", "none", "The plate read is on one of these lists or groups. `event = \"plate\"` only."),
    k("rule.unless", "plate_list", "string or list", "none", "The plate read is on one of these `[[plates.<list>]]` lists (exactly, by an entry valid now). `event = \"plate\"` only."),
    k("rule.unless", "after", "time", "none", "As in `when`: the window the rule keeps still in."),
    k("rule.unless", "before", "time", "none", "As in `when`."),
    k("rule.unless", "days", "list", "every day", "As in `when`."),
    k("rule.unless", "except_days", "list of dates", "none", "As in `when`."),
    // then
    k("rule.then", "relay", "string", "required", "The `[[relay]]` to drive."),
    k(
        "rule.then",
        "action",
        "`hold` | `pulse` | `blink` | `on` | `off` | `toggle`",
        "required",
        "What to do with the relay.",
    ),
    k(
        "rule.then",
        "hold",
        "duration",
        "required for `hold`",
        "`hold`: stay on this long after the last matching post.",
    ),
    k(
        "rule.then",
        "duration",
        "duration",
        "required for `pulse`, `blink`",
        "`pulse`: on for this long, then off; `blink`: how long to blink.",
    ),
    k("rule.then", "on", "duration", "required for `blink`", "`blink`: how long each flash is on."),
    k(
        "rule.then",
        "off",
        "duration",
        "required for `blink`",
        "`blink`: the dark time between flashes; at least the relay's `min_off`.",
    ),
    k(
        "rule.then",
        "retrigger",
        "`single` | `restart`",
        "\"single\"",
        "`pulse`, `blink`: a match while one runs is ignored, or restarts it.",
    ),
    k(
        "rule.then",
        "cooldown",
        "duration",
        "none",
        "After the rule fired, ignore its matches for this long (not with `hold`).",
    ),
    k(
        "rule.then",
        "plate_cooldown",
        "duration",
        "none",
        "After the rule fired for a plate, ignore that plate for this long.",
    ),
    // [mqtt]
    k("mqtt", "enabled", "bool", "true", "`false` keeps the section but connects to no broker."),
    k(
        "mqtt",
        "url",
        "string",
        "required",
        "The broker: `mqtt://host[:1883]`, or `mqtts://host[:8883]` for TLS (rustls).",
    ),
    k("mqtt", "username", "string", "none", "User name the broker checks (see docs/mqtt.md for its ACL)."),
    k("mqtt", "password_file", "path", "none", "File whose first line is the broker password."),
    k("mqtt", "ca_file", "path", "none", "PEM CA certificates for an `mqtts://` broker with a private CA; else the system's."),
    k("mqtt", "client_id", "string", "\"camrelay-<node>\"", "MQTT client id; unique per connection on one broker."),
    k("mqtt", "node", "string", "the host name", "This node's name: its topics, its Home Assistant device, and `node/relay` in other nodes' rules."),
    k("mqtt", "topic_prefix", "string", "\"camrelay\"", "Topics are `<topic_prefix>/<node>/...`; every node of one site uses the same prefix."),
    k("mqtt", "discovery", "bool", "true", "Publish Home Assistant discovery."),
    k("mqtt", "discovery_prefix", "string", "\"homeassistant\"", "Home Assistant's discovery prefix (its MQTT integration setting)."),
    k("mqtt", "queue", "integer", "1024", "Messages held while the broker is slow or away; past it the oldest are dropped and counted."),
    k("mqtt", "remote_timeout", "duration", "\"2s\"", "A command for another node's relay fails (logged, counted) without that node's answer in this time."),
    // [history]
    k("history", "enabled", "bool", "true", "`false` keeps the section but records nothing."),
    k("history", "dir", "path", "\"history\"", "Folder of `history.db`, relative to the rules file's folder (the package: `/var/lib/camrelay/history`)."),
    k("history", "keep", "duration", "\"30d\"", "Events older than this are forgotten, a few thousand a minute."),
    k("history", "max_size", "size", "\"1GB\"", "The history is kept under this size (`500MB`, `2GB`); the oldest events go first."),
    k("history", "pictures", "string", "\"all\"", "Which pictures of a detection are kept: `all` (the scene, ~0.5 MB, and the target crop), `crops` (the crop only: a few KB for a plate), `none`."),
    k("history", "commit_every", "duration", "\"10s\"", "Events are written at least this often (or every 512): a crash loses at most this much, a power cut about 30 s more (the kernel writes the file out every 30 s). Shorter costs the SD card more bytes an event."),
];

/// The range a duration or number key accepts, as written in the file.
/// Bounded on purpose: a `max_on` of years removes the safety limit, a zero
/// timeout or body limit locks every camera out, and unbounded values are how
/// arithmetic overflows. Checked by `parse/`, shown in `docs/rules.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub section: &'static str,
    pub key: &'static str,
    /// Smallest accepted value (`"0s"` where zero is allowed).
    pub min: &'static str,
    pub max: &'static str,
}

const fn l(section: &'static str, key: &'static str, min: &'static str, max: &'static str) -> Limit {
    Limit { section, key, min, max }
}

pub const LIMITS: &[Limit] = &[
    l("server", "max_body", "1024", "67108864"),
    l("server", "header_timeout", "100ms", "5m"),
    l("server", "body_timeout", "100ms", "10m"),
    l("server", "idle_timeout", "1s", "1h"),
    l("server", "offline_after", "1s", "7d"),
    l("server", "max_connections_per_source", "1", "4096"),
    l("api", "header_timeout", "100ms", "5m"),
    l("relay", "max_on", "1ms", "24h"),
    l("relay", "min_off", "0s", "1h"),
    l("camera", "duplicate_window", "100ms", "10s"),
    l("relay", "switch_limit", "1", "600"),
    l("relay", "interlock_wait", "0s", "1h"),
    l("presence", "target_timeout", "1ms", "10m"),
    l("presence", "inertia", "1", "100"),
    l("presence", "stationary_after", "1s", "1h"),
    l("rule.when", "dwell", "1ms", "24h"),
    l("rule.when", "within", "1ms", "1h"),
    l("rule.when", "min_count", "1", "256"),
    l("rule.when", "max_count", "0", "256"),
    l("rule.then", "hold", "1ms", "24h"),
    l("rule.then", "duration", "1ms", "24h"),
    l("rule.then", "on", "1ms", "1h"),
    l("rule.then", "off", "1ms", "1h"),
    l("rule.then", "cooldown", "1ms", "7d"),
    l("rule.then", "plate_cooldown", "1ms", "7d"),
    l("mqtt", "queue", "16", "65536"),
    l("mqtt", "remote_timeout", "100ms", "1m"),
    l("history", "keep", "1h", "3650d"),
    l("history", "commit_every", "1s", "1m"),
];

/// The range of a key, if it has one.
pub fn limit_of(section: &str, key: &str) -> Option<&'static Limit> {
    LIMITS.iter().find(|l| l.section == section && l.key == key)
}

/// Keys of one section, in declaration order.
pub fn keys_of(section: &str) -> impl Iterator<Item = &'static KeyDoc> + '_ {
    KEYS.iter().filter(move |k| k.section == section)
}

/// The markdown reference table of one section, as `docs/rules.md` must contain it.
pub fn markdown_table(section: &str) -> String {
    let mut out = String::from("| key | type | default | meaning |\n|---|---|---|---|\n");
    for k in keys_of(section) {
        let cell = |s: &str| s.replace('|', "\\|");
        let doc = match limit_of(section, k.key) {
            Some(l) => format!("{} Range: {} to {}.", k.doc, l.min, l.max),
            None => k.doc.to_string(),
        };
        out.push_str(&format!("| `{}` | {} | {} | {} |\n", k.key, cell(k.ty), cell(k.default), cell(&doc)));
    }
    out
}
