//! Every way a rules file can be wrong gets one exact message: file, line,
//! column, the key, what would be valid, and the user's line with a caret.

use camrelay::config::{parse, ConfigError};
use std::path::Path;

fn error_of(text: &str) -> String {
    let message = match parse(text, Path::new("rules.toml")) {
        Ok(_) => panic!("expected the rules file to be refused:\n{text}"),
        Err(e) => e.to_string(),
    };
    safe_state_still_drives_every_relay_off(text);
    message
}

/// Operator-path finding 2: `safe-state` drove nothing off when any part of
/// the file was invalid. On every invalid file here, it reads each relay
/// whose name and line it can see and drives it off (on the mock backend).
fn safe_state_still_drives_every_relay_off(text: &str) {
    let Ok(found) = camrelay::config::relays_of(text, Path::new("rules.toml")) else {
        // Not TOML at all: nothing can be named.
        assert!(toml::from_str::<toml::Table>(text).is_err(), "relays_of refused valid TOML:\n{text}");
        return;
    };
    let mut expected: Vec<(String, String)> = Vec::new();
    for block in text.split("\n[").filter(|b| b.starts_with("[relay]]") || b.starts_with("[[relay]]")) {
        let value = |key: &str| {
            block.lines().find_map(|l| l.strip_prefix(&format!("{key} = ")).map(|v| v.trim().to_string()))
        };
        if let (Some(name), Some(line)) = (value("name"), value("line")) {
            let named = name.starts_with('"') && name.len() > 2;
            let usable =
                (line.starts_with('"') && line.len() > 2) || line.chars().all(|c| c.is_ascii_digit());
            if named && usable && !expected.iter().any(|(n, l)| *n == name || *l == line) {
                expected.push((name, line));
            }
        }
    }
    let names: Vec<String> = found.relays.iter().map(|r| format!("{:?}", r.name)).collect();
    let want: Vec<String> = expected.iter().map(|(n, _)| n.clone()).collect();
    assert_eq!(names, want, "relays safe-state finds in:\n{text}");
    let gpio = camrelay::config::GpioConfig { backend: camrelay::config::BackendKind::Mock, ..found.gpio };
    let report = camrelay::relays::safe_state(&gpio, &found.relays).expect("mock opens");
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.done.len(), found.relays.len());
}

#[test]
fn unknown_key_suggests() {
    let text = r##"[site]
timezone = "Europe/Berlin"

[[relay]]
name = "porch_light"
line = 17
max_on = "15m"

[[camera]]
name = "driveway"
mac = "58:5b:69:5f:42:1b"

[[zone]]
name = "porch"
camera = "driveway"
polygon = [[1000, 5000], [6000, 5000], [6000, 10000], [1000, 10000]]

[[rule]]
name = "porch"
when = { event = "presence", zone = "porch" }
then = { relya = "porch_light", action = "hold", hold = "30s" }
"##;
    assert_eq!(
        error_of(text),
        r##"rules.toml:21:10: unknown key "relya" in [[rule]] "porch" then; did you mean "relay"?
   |
21 | then = { relya = "porch_light", action = "hold", hold = "30s" }
   |          ^^^^^"##
    );
}

#[test]
fn unknown_key_lists_valid_keys() {
    let text = r##"[site]
timezone = "Europe/Berlin"

[[relay]]
name = "porch_light"
line = 17
max_on = "15m"
colour = "red"

[[camera]]
name = "driveway"
mac = "58:5b:69:5f:42:1b"

[[zone]]
name = "porch"
camera = "driveway"
polygon = [[1000, 5000], [6000, 5000], [6000, 10000], [1000, 10000]]
"##;
    assert_eq!(
        error_of(text),
        r##"rules.toml:8:1: unknown key "colour" in [[relay]] #1; valid keys: name, line, chip, active_low, max_on, min_off, switch_limit, interlock, interlock_wait, confirm
  |
8 | colour = "red"
  | ^^^^^^"##
    );
}

#[test]
fn unknown_section() {
    let text = r##"[site]
timezone = "Europe/Berlin"

[[relay]]
name = "porch_light"
line = 17
max_on = "15m"

[[camera]]
name = "driveway"
mac = "58:5b:69:5f:42:1b"

[[zone]]
name = "porch"
camera = "driveway"
polygon = [[1000, 5000], [6000, 5000], [6000, 10000], [1000, 10000]]

[[rules]]
name = "x"
"##;
    assert_eq!(
        error_of(text),
        r##"rules.toml:18:3: unknown section "rules"; did you mean "rule"?
   |
18 | [[rules]]
   |   ^^^^^"##
    );
}

#[test]
fn unknown_relay() {
    let text = r##"[site]
timezone = "Europe/Berlin"

[[relay]]
name = "porch_light"
line = 17
max_on = "15m"

[[camera]]
name = "driveway"
mac = "58:5b:69:5f:42:1b"

[[zone]]
name = "porch"
camera = "driveway"
polygon = [[1000, 5000], [6000, 5000], [6000, 10000], [1000, 10000]]

[[rule]]
name = "porch"
when = { event = "presence", zone = "porch" }
then = { relay = "porch_lamp", action = "hold", hold = "30s" }
"##;
    assert_eq!(
        error_of(text),
        r##"rules.toml:21:18: [[rule]] "porch" then names relay "porch_lamp", which no [[relay]] defines; defined: "porch_light"
   |
21 | then = { relay = "porch_lamp", action = "hold", hold = "30s" }
   |                  ^^^^^^^^^^^^"##
    );
}

#[test]
fn unknown_zone() {
    let text = r##"[site]
timezone = "Europe/Berlin"

[[relay]]
name = "porch_light"
line = 17
max_on = "15m"

[[camera]]
name = "driveway"
mac = "58:5b:69:5f:42:1b"

[[zone]]
name = "porch"
camera = "driveway"
polygon = [[1000, 5000], [6000, 5000], [6000, 10000], [1000, 10000]]

[[rule]]
name = "porch"
when = { event = "presence", zone = "garden" }
then = { relay = "porch_light", action = "hold", hold = "30s" }
"##;
    assert_eq!(
        error_of(text),
        r##"rules.toml:20:37: [[rule]] "porch" when names zone "garden", which no [[zone]] defines; defined: "porch"
   |
20 | when = { event = "presence", zone = "garden" }
   |                                     ^^^^^^^^"##
    );
}

#[test]
fn unknown_camera_in_zone() {
    let text = r##"[site]
timezone = "Europe/Berlin"

[[relay]]
name = "porch_light"
line = 17
max_on = "15m"

[[camera]]
name = "driveway"
mac = "58:5b:69:5f:42:1b"

[[zone]]
name = "porch"
camera = "drivewya"
polygon = [[1000, 5000], [6000, 5000], [6000, 10000], [1000, 10000]]
"##;
    assert_eq!(
        error_of(text),
        r##"rules.toml:15:10: [[zone]] "porch" names camera "drivewya", which no [[camera]] defines; did you mean "driveway"?
   |
15 | camera = "drivewya"
   |          ^^^^^^^^^^"##
    );
}

#[test]
fn polygon_too_few_points() {
    let text = r##"[site]
timezone = "Europe/Berlin"

[[relay]]
name = "porch_light"
line = 17
max_on = "15m"

[[camera]]
name = "driveway"
mac = "58:5b:69:5f:42:1b"

[[zone]]
name = "porch"
camera = "driveway"
polygon = [[1000, 5000], [6000, 5000]]
"##;
    assert_eq!(
        error_of(text),
        r##"rules.toml:16:11: the polygon of [[zone]] "porch" has 2 points; a zone needs at least 3 corners
   |
16 | polygon = [[1000, 5000], [6000, 5000]]
   |           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^"##
    );
}

#[test]
fn polygon_point_outside() {
    let text = r##"[site]
timezone = "Europe/Berlin"

[[relay]]
name = "porch_light"
line = 17
max_on = "15m"

[[camera]]
name = "driveway"
mac = "58:5b:69:5f:42:1b"

[[zone]]
name = "porch"
camera = "driveway"
polygon = [[1000, 5000], [6000, 5000], [6000, 10001], [1000, 10000]]
"##;
    assert_eq!(
        error_of(text),
        r##"rules.toml:16:47: point [6000, 10001] of [[zone]] "porch" is outside the picture: coordinates run from 0 to 10000
   |
16 | polygon = [[1000, 5000], [6000, 5000], [6000, 10001], [1000, 10000]]
   |                                               ^^^^^"##
    );
}

#[test]
fn polygon_self_intersecting() {
    let text = r##"[site]
timezone = "Europe/Berlin"

[[relay]]
name = "porch_light"
line = 17
max_on = "15m"

[[camera]]
name = "driveway"
mac = "58:5b:69:5f:42:1b"

[[zone]]
name = "porch"
camera = "driveway"
polygon = [[1000, 5000], [6000, 10000], [6000, 5000], [1000, 10000]]
"##;
    assert_eq!(
        error_of(text),
        r##"rules.toml:16:11: the polygon of [[zone]] "porch" crosses itself: edge [1000, 5000]–[6000, 10000] meets edge [6000, 5000]–[1000, 10000]; list the corners in order around the zone
   |
16 | polygon = [[1000, 5000], [6000, 10000], [6000, 5000], [1000, 10000]]
   |           ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^"##
    );
}

#[test]
fn hold_without_duration() {
    let text = r##"[site]
timezone = "Europe/Berlin"

[[relay]]
name = "porch_light"
line = 17
max_on = "15m"

[[camera]]
name = "driveway"
mac = "58:5b:69:5f:42:1b"

[[zone]]
name = "porch"
camera = "driveway"
polygon = [[1000, 5000], [6000, 5000], [6000, 10000], [1000, 10000]]

[[rule]]
name = "porch"
when = { event = "presence", zone = "porch" }
then = { relay = "porch_light", action = "hold" }
"##;
    assert_eq!(
        error_of(text),
        r##"rules.toml:21:42: action = "hold" in [[rule]] "porch" then needs "hold", how long to stay on after the last match, e.g. hold = "30s"
   |
21 | then = { relay = "porch_light", action = "hold" }
   |                                          ^^^^^^"##
    );
}

#[test]
fn pulse_without_duration() {
    let text = r##"[site]
timezone = "Europe/Berlin"

[[relay]]
name = "porch_light"
line = 17
max_on = "15m"

[[camera]]
name = "driveway"
mac = "58:5b:69:5f:42:1b"

[[zone]]
name = "porch"
camera = "driveway"
polygon = [[1000, 5000], [6000, 5000], [6000, 10000], [1000, 10000]]

[[rule]]
name = "porch"
when = { event = "presence", zone = "porch" }
then = { relay = "porch_light", action = "pulse" }
"##;
    assert_eq!(
        error_of(text),
        r##"rules.toml:21:42: action = "pulse" in [[rule]] "porch" then needs "duration", how long the pulse lasts, e.g. duration = "1s"
   |
21 | then = { relay = "porch_light", action = "pulse" }
   |                                          ^^^^^^^"##
    );
}

#[test]
fn pulse_with_hold() {
    let text = r##"[site]
timezone = "Europe/Berlin"

[[relay]]
name = "porch_light"
line = 17
max_on = "15m"

[[camera]]
name = "driveway"
mac = "58:5b:69:5f:42:1b"

[[zone]]
name = "porch"
camera = "driveway"
polygon = [[1000, 5000], [6000, 5000], [6000, 10000], [1000, 10000]]

[[rule]]
name = "porch"
when = { event = "presence", zone = "porch" }
then = { relay = "porch_light", action = "pulse", duration = "1s", hold = "30s" }
"##;
    assert_eq!(
        error_of(text),
        r##"rules.toml:21:68: "hold" does not go with action = "pulse" in [[rule]] "porch" then: only action = "hold" stays on after the last match; for a pulse use "duration"
   |
21 | then = { relay = "porch_light", action = "pulse", duration = "1s", hold = "30s" }
   |                                                                    ^^^^"##
    );
}

#[test]
fn hold_with_cooldown() {
    let text = r##"[site]
timezone = "Europe/Berlin"

[[relay]]
name = "porch_light"
line = 17
max_on = "15m"

[[camera]]
name = "driveway"
mac = "58:5b:69:5f:42:1b"

[[zone]]
name = "porch"
camera = "driveway"
polygon = [[1000, 5000], [6000, 5000], [6000, 10000], [1000, 10000]]

[[rule]]
name = "porch"
when = { event = "presence", zone = "porch" }
then = { relay = "porch_light", action = "hold", hold = "30s", cooldown = "1m" }
"##;
    assert_eq!(
        error_of(text),
        r##"rules.toml:21:64: "cooldown" does not go with action = "hold" in [[rule]] "porch" then: every match extends a hold; use action = "pulse" with a duration to switch on once per cooldown
   |
21 | then = { relay = "porch_light", action = "hold", hold = "30s", cooldown = "1m" }
   |                                                                ^^^^^^^^"##
    );
}

#[test]
fn retrigger_without_pulse() {
    let text = r##"[site]
timezone = "Europe/Berlin"

[[relay]]
name = "porch_light"
line = 17
max_on = "15m"

[[camera]]
name = "driveway"
mac = "58:5b:69:5f:42:1b"

[[zone]]
name = "porch"
camera = "driveway"
polygon = [[1000, 5000], [6000, 5000], [6000, 10000], [1000, 10000]]

[[rule]]
name = "porch"
when = { event = "presence", zone = "porch" }
then = { relay = "porch_light", action = "on", retrigger = "restart" }
"##;
    assert_eq!(
        error_of(text),
        r##"rules.toml:21:48: "retrigger" does not go with action = "on" in [[rule]] "porch" then: only pulses and blinks can be retriggered
   |
21 | then = { relay = "porch_light", action = "on", retrigger = "restart" }
   |                                                ^^^^^^^^^"##
    );
}

#[test]
fn relay_without_max_on() {
    let text = r##"[site]
timezone = "Europe/Berlin"

[[relay]]
name = "porch_light"
line = 17

[[camera]]
name = "driveway"
mac = "58:5b:69:5f:42:1b"

[[zone]]
name = "porch"
camera = "driveway"
polygon = [[1000, 5000], [6000, 5000], [6000, 10000], [1000, 10000]]
"##;
    assert_eq!(
        error_of(text),
        r##"rules.toml:4:1: [[relay]] "porch_light" has no "max_on": every relay needs a safety limit, e.g. max_on = "15m" for a light or "3s" for a gate
  |
4 | [[relay]]
  | ^^^^^^^^^"##
    );
}

#[test]
fn hold_longer_than_max_on() {
    let text = r##"[site]
timezone = "Europe/Berlin"

[[relay]]
name = "porch_light"
line = 17
max_on = "15m"

[[camera]]
name = "driveway"
mac = "58:5b:69:5f:42:1b"

[[zone]]
name = "porch"
camera = "driveway"
polygon = [[1000, 5000], [6000, 5000], [6000, 10000], [1000, 10000]]

[[rule]]
name = "porch"
when = { event = "presence", zone = "porch" }
then = { relay = "porch_light", action = "hold", hold = "20m" }
"##;
    assert_eq!(
        error_of(text),
        r##"rules.toml:21:50: "hold" = "20m" is longer than relay "porch_light" max_on = "15m"; the safety limit would always cut it: shorten it or raise max_on
   |
21 | then = { relay = "porch_light", action = "hold", hold = "20m" }
   |                                                  ^^^^"##
    );
}

#[test]
fn bad_duration() {
    let text = r##"[site]
timezone = "Europe/Berlin"

[[relay]]
name = "porch_light"
line = 17
max_on = "15m"

[[camera]]
name = "driveway"
mac = "58:5b:69:5f:42:1b"

[[zone]]
name = "porch"
camera = "driveway"
polygon = [[1000, 5000], [6000, 5000], [6000, 10000], [1000, 10000]]

[[rule]]
name = "porch"
when = { event = "presence", zone = "porch" }
then = { relay = "porch_light", action = "hold", hold = "30x" }
"##;
    assert_eq!(
        error_of(text),
        r##"rules.toml:21:57: invalid duration for "hold": "30x": unknown unit "x"; use ms, s, m, h or d
   |
21 | then = { relay = "porch_light", action = "hold", hold = "30x" }
   |                                                         ^^^^^"##
    );
}

#[test]
fn unknown_event() {
    let text = r##"[site]
timezone = "Europe/Berlin"

[[relay]]
name = "porch_light"
line = 17
max_on = "15m"

[[camera]]
name = "driveway"
mac = "58:5b:69:5f:42:1b"

[[zone]]
name = "porch"
camera = "driveway"
polygon = [[1000, 5000], [6000, 5000], [6000, 10000], [1000, 10000]]

[[rule]]
name = "porch"
when = { event = "presense" }
then = { relay = "porch_light", action = "hold", hold = "30s" }
"##;
    assert_eq!(
        error_of(text),
        r##"rules.toml:20:18: unknown event "presense" in [[rule]] "porch" when; did you mean "presence"?
   |
20 | when = { event = "presense" }
   |                  ^^^^^^^^^^"##
    );
}

#[test]
fn missing_event() {
    let text = r##"[site]
timezone = "Europe/Berlin"

[[relay]]
name = "porch_light"
line = 17
max_on = "15m"

[[camera]]
name = "driveway"
mac = "58:5b:69:5f:42:1b"

[[zone]]
name = "porch"
camera = "driveway"
polygon = [[1000, 5000], [6000, 5000], [6000, 10000], [1000, 10000]]

[[rule]]
name = "porch"
when = { zone = "porch" }
then = { relay = "porch_light", action = "hold", hold = "30s" }
"##;
    assert_eq!(
        error_of(text),
        r##"rules.toml:20:8: [[rule]] "porch" when needs "event", e.g. event = "presence"; valid events: presence, zone_entry, zone_exit, intrusion, line_crossing, loitering, illegal_parking, plate, face, face_match, counting, counting_by_line, counting_by_area, metadata, motion, sensor, tamper, object_removal, crowd_density, people_counting, people_intrusion, alarm, camera_offline, camera_online, occupancy, area_occupied, area_empty, input, did_not_move, tailgating
   |
20 | when = { zone = "porch" }
   |        ^^^^^^^^^^^^^^^^^^"##
    );
}

#[test]
fn dwell_needs_presence() {
    let text = r##"[site]
timezone = "Europe/Berlin"

[[relay]]
name = "porch_light"
line = 17
max_on = "15m"

[[camera]]
name = "driveway"
mac = "58:5b:69:5f:42:1b"

[[zone]]
name = "porch"
camera = "driveway"
polygon = [[1000, 5000], [6000, 5000], [6000, 10000], [1000, 10000]]

[[rule]]
name = "porch"
when = { event = "intrusion", dwell = "5s" }
then = { relay = "porch_light", action = "hold", hold = "30s" }
"##;
    assert_eq!(
        error_of(text),
        r##"rules.toml:20:31: "dwell" in [[rule]] "porch" when applies to event = "presence" only (time spent in the zone)
   |
20 | when = { event = "intrusion", dwell = "5s" }
   |                               ^^^^^"##
    );
}

#[test]
fn plate_needs_plate_event() {
    let text = r##"[site]
timezone = "Europe/Berlin"

[[relay]]
name = "porch_light"
line = 17
max_on = "15m"

[[camera]]
name = "driveway"
mac = "58:5b:69:5f:42:1b"

[[zone]]
name = "porch"
camera = "driveway"
polygon = [[1000, 5000], [6000, 5000], [6000, 10000], [1000, 10000]]

[[rule]]
name = "porch"
when = { event = "presence", plate = "AB 123" }
then = { relay = "porch_light", action = "hold", hold = "30s" }
"##;
    assert_eq!(
        error_of(text),
        r##"rules.toml:20:30: "plate" in [[rule]] "porch" when applies to event = "plate" only
   |
20 | when = { event = "presence", plate = "AB 123" }
   |                              ^^^^^"##
    );
}

#[test]
fn schedule_needs_timezone() {
    let text = r##"
[[relay]]
name = "porch_light"
line = 17
max_on = "15m"

[[camera]]
name = "driveway"
mac = "58:5b:69:5f:42:1b"

[[zone]]
name = "porch"
camera = "driveway"
polygon = [[1000, 5000], [6000, 5000], [6000, 10000], [1000, 10000]]

[[rule]]
name = "porch"
when = { event = "presence", after = "22:00" }
then = { relay = "porch_light", action = "hold", hold = "30s" }
"##;
    assert_eq!(
        error_of(text),
        r##"rules.toml:18:30: rule "porch" has a schedule but [site] has no "timezone"; add [site] timezone = "Europe/Berlin" (your zone) so times mean local time
   |
18 | when = { event = "presence", after = "22:00" }
   |                              ^^^^^"##
    );
}

#[test]
fn sun_needs_location() {
    let text = r##"[site]
timezone = "Europe/Berlin"

[[relay]]
name = "porch_light"
line = 17
max_on = "15m"

[[camera]]
name = "driveway"
mac = "58:5b:69:5f:42:1b"

[[zone]]
name = "porch"
camera = "driveway"
polygon = [[1000, 5000], [6000, 5000], [6000, 10000], [1000, 10000]]

[[rule]]
name = "porch"
when = { event = "presence", after = "sunset" }
then = { relay = "porch_light", action = "hold", hold = "30s" }
"##;
    assert_eq!(
        error_of(text),
        r##"rules.toml:20:30: "after" uses the sun, which needs [site] latitude and longitude (e.g. latitude = 52.52, longitude = 13.405)
   |
20 | when = { event = "presence", after = "sunset" }
   |                              ^^^^^"##
    );
}

#[test]
fn bad_time() {
    let text = r##"[site]
timezone = "Europe/Berlin"

[[relay]]
name = "porch_light"
line = 17
max_on = "15m"

[[camera]]
name = "driveway"
mac = "58:5b:69:5f:42:1b"

[[zone]]
name = "porch"
camera = "driveway"
polygon = [[1000, 5000], [6000, 5000], [6000, 10000], [1000, 10000]]

[[rule]]
name = "porch"
when = { event = "presence", after = "25:00" }
then = { relay = "porch_light", action = "hold", hold = "30s" }
"##;
    assert_eq!(
        error_of(text),
        r##"rules.toml:20:38: "after" in [[rule]] "porch" when cannot be "25:00"; write a local time like "22:30", or "sunset", "sunrise" with an optional offset like "sunset-30m"
   |
20 | when = { event = "presence", after = "25:00" }
   |                                      ^^^^^^^"##
    );
}

#[test]
fn bad_timezone() {
    let text = r##"[site]
timezone = "Europe/Berln"

[[relay]]
name = "porch_light"
line = 17
max_on = "15m"

[[camera]]
name = "driveway"
mac = "58:5b:69:5f:42:1b"

[[zone]]
name = "porch"
camera = "driveway"
polygon = [[1000, 5000], [6000, 5000], [6000, 10000], [1000, 10000]]
"##;
    assert_eq!(
        error_of(text),
        r##"rules.toml:2:12: unknown time zone "Europe/Berln"; did you mean "Europe/Berlin"?
  |
2 | timezone = "Europe/Berln"
  |            ^^^^^^^^^^^^^^"##
    );
}

#[test]
fn duplicate_relay() {
    let text = r##"[site]
timezone = "Europe/Berlin"

[[relay]]
name = "porch_light"
line = 17
max_on = "15m"

[[camera]]
name = "driveway"
mac = "58:5b:69:5f:42:1b"

[[zone]]
name = "porch"
camera = "driveway"
polygon = [[1000, 5000], [6000, 5000], [6000, 10000], [1000, 10000]]

[[relay]]
name = "porch_light"
line = 18
max_on = "1m"
"##;
    assert_eq!(
        error_of(text),
        r##"rules.toml:19:8: there is already a relay named "porch_light"; names must be unique
   |
19 | name = "porch_light"
   |        ^^^^^^^^^^^^^"##
    );
}

#[test]
fn toml_syntax() {
    let text = r##"[site]
timezone = "Europe/Berlin"

[[relay]]
name = "porch_light"
line = 17
max_on = "15m"

[[camera]]
name = "driveway"
mac = "58:5b:69:5f:42:1b"

[[zone]]
name = "porch"
camera = "driveway"
polygon = [[1000, 5000], [6000, 5000], [6000, 10000], [1000, 10000]]

[[rule]
"##;
    assert_eq!(
        error_of(text),
        r##"rules.toml:18:8: unclosed array table, expected `]`
   |
18 | [[rule]
   |        ^"##
    );
}

#[test]
fn wrong_type() {
    let text = r##"[site]
timezone = "Europe/Berlin"

[[relay]]
name = "porch_light"
line = true
max_on = "15m"

[[camera]]
name = "driveway"
mac = "58:5b:69:5f:42:1b"

[[zone]]
name = "porch"
camera = "driveway"
polygon = [[1000, 5000], [6000, 5000], [6000, 10000], [1000, 10000]]
"##;
    assert_eq!(
        error_of(text),
        r##"rules.toml:6:8: "line" in [[relay]] "porch_light" must be a line offset (17) or a line name ("GPIO17"), found a boolean
  |
6 | line = true
  |        ^^^^"##
    );
}

#[test]
fn bad_class() {
    let text = r##"[site]
timezone = "Europe/Berlin"

[[relay]]
name = "porch_light"
line = 17
max_on = "15m"

[[camera]]
name = "driveway"
mac = "58:5b:69:5f:42:1b"

[[zone]]
name = "porch"
camera = "driveway"
polygon = [[1000, 5000], [6000, 5000], [6000, 10000], [1000, 10000]]

[[rule]]
name = "porch"
when = { event = "presence", class = "persn" }
then = { relay = "porch_light", action = "hold", hold = "30s" }
"##;
    assert_eq!(
        error_of(text),
        r##"rules.toml:20:38: "class" in [[rule]] "porch" when cannot be "persn"; did you mean "person"?
   |
20 | when = { event = "presence", class = "persn" }
   |                                      ^^^^^^^"##
    );
}

#[test]
fn nvr_without_channel() {
    let text = r##"[site]
timezone = "Europe/Berlin"

[[relay]]
name = "porch_light"
line = 17
max_on = "15m"

[[camera]]
name = "driveway"
nvr = "192.168.1.30"

[[zone]]
name = "porch"
camera = "driveway"
polygon = [[1000, 5000], [6000, 5000], [6000, 10000], [1000, 10000]]
"##;
    assert_eq!(
        error_of(text),
        r##"rules.toml:11:7: [[camera]] "driveway" names an "nvr" but no "channel"; add e.g. channel = 1
   |
11 | nvr = "192.168.1.30"
   |       ^^^^^^^^^^^^^^"##
    );
}

#[test]
fn area_out_of_range() {
    let text = r##"[site]
timezone = "Europe/Berlin"

[[relay]]
name = "porch_light"
line = 17
max_on = "15m"

[[camera]]
name = "driveway"
mac = "58:5b:69:5f:42:1b"

[[zone]]
name = "porch"
camera = "driveway"
polygon = [[1000, 5000], [6000, 5000], [6000, 10000], [1000, 10000]]

[[rule]]
name = "porch"
when = { event = "presence", min_area = 5 }
then = { relay = "porch_light", action = "hold", hold = "30s" }
"##;
    assert_eq!(
        error_of(text),
        r##"rules.toml:20:41: "min_area" is a fraction of the picture between 0 and 1 (0.05 = 5%), found 5
   |
20 | when = { event = "presence", min_area = 5 }
   |                                         ^"##
    );
}

#[test]
fn bad_plate_pattern() {
    let text = r##"[site]
timezone = "Europe/Berlin"

[[relay]]
name = "porch_light"
line = 17
max_on = "15m"

[[camera]]
name = "driveway"
mac = "58:5b:69:5f:42:1b"

[[zone]]
name = "porch"
camera = "driveway"
polygon = [[1000, 5000], [6000, 5000], [6000, 10000], [1000, 10000]]

[[rule]]
name = "porch"
when = { event = "plate", plate_pattern = "AB(" }
then = { relay = "porch_light", action = "pulse", duration = "1s" }
"##;
    assert_eq!(
        error_of(text),
        r##"rules.toml:20:43: "plate_pattern" in [[rule]] "porch" when is not a valid pattern: found open group without closing ')'
   |
20 | when = { event = "plate", plate_pattern = "AB(" }
   |                                           ^^^^^"##
    );
}

#[test]
fn plate_cooldown_needs_plate() {
    let text = r##"[site]
timezone = "Europe/Berlin"

[[relay]]
name = "porch_light"
line = 17
max_on = "15m"

[[camera]]
name = "driveway"
mac = "58:5b:69:5f:42:1b"

[[zone]]
name = "porch"
camera = "driveway"
polygon = [[1000, 5000], [6000, 5000], [6000, 10000], [1000, 10000]]

[[rule]]
name = "porch"
when = { event = "presence", zone = "porch" }
then = { relay = "porch_light", action = "pulse", duration = "1s", plate_cooldown = "1m" }
"##;
    assert_eq!(
        error_of(text),
        r##"rules.toml:21:68: "plate_cooldown" in [[rule]] "porch" then needs event = "plate" (it remembers each plate)
   |
21 | then = { relay = "porch_light", action = "pulse", duration = "1s", plate_cooldown = "1m" }
   |                                                                    ^^^^^^^^^^^^^^"##
    );
}

#[test]
fn zone_with_alarm() {
    let text = r##"[site]
timezone = "Europe/Berlin"

[[relay]]
name = "porch_light"
line = 17
max_on = "15m"

[[camera]]
name = "driveway"
mac = "58:5b:69:5f:42:1b"

[[zone]]
name = "porch"
camera = "driveway"
polygon = [[1000, 5000], [6000, 5000], [6000, 10000], [1000, 10000]]

[[rule]]
name = "porch"
when = { event = "alarm", zone = "porch" }
then = { relay = "porch_light", action = "hold", hold = "30s" }
"##;
    assert_eq!(
        error_of(text),
        r##"rules.toml:20:27: "zone" in [[rule]] "porch" when needs targets, which "alarm", "camera_offline", "camera_online", "input", "did_not_move" and "tailgating" events do not have; put those events in a rule of their own
   |
20 | when = { event = "alarm", zone = "porch" }
   |                           ^^^^"##
    );
}

#[test]
fn errors_carry_line_column_and_key() {
    let text = "[[relay]]\nname = \"gate\"\nline = 27\nmax_on = \"3s\"\nmaxon = \"3s\"\n";
    match parse(text, Path::new("rules.toml")) {
        Err(ConfigError::At { line, column, key, .. }) => {
            assert_eq!((line, column, key.as_str()), (5, 1, "maxon"));
        }
        other => panic!("expected a located error, got {other:?}"),
    }
}

#[test]
fn plate_distance_is_refused_on_a_block_list_and_without_plates() {
    let base = "[[relay]]\nname = \"gate\"\nline = 27\nmax_on = \"3s\"\n[[rule]]\nname = \"r\"\n";
    let then = "then = { relay = \"gate\", action = \"pulse\", duration = \"1s\" }\n";
    let e = error_of(&format!(
        "{base}when = {{ event = \"plate\", plate = [\"AB1\"], plate_group = [\"blackList\"], plate_distance = 1 }}\n{then}"
    ));
    assert!(e.contains("does not go with plate_group \"blackList\": a block list must match exactly"), "{e}");
    let e = error_of(&format!("{base}when = {{ event = \"plate\", plate_distance = 1 }}\n{then}"));
    assert!(e.contains("needs the plates it compares with"), "{e}");
    let e = error_of(&format!(
        "{base}when = {{ event = \"plate\", plate = [\"AB1\"], plate_distance = 0.7 }}\n{then}"
    ));
    assert!(e.contains("is 0 to 3 in steps of 0.5, found 0.7"), "{e}");
}

const MQTT: &str = "[mqtt]\nurl = \"mqtt://127.0.0.1\"\nnode = \"drive\"\n\n";

const RELAY: &str = "[[relay]]\nname = \"porch\"\nline = 17\nmax_on = \"10m\"\n\n";

#[test]
fn mqtt_settings_are_checked_where_they_are_written() {
    let text = "[mqtt]\nurl = \"http://broker\"\n";
    assert_eq!(
        error_of(text),
        "rules.toml:2:7: [mqtt] url \"http://broker\" must start with mqtt:// or mqtts://; write e.g. url = \"mqtt://192.168.1.10\" or \"mqtts://broker.lan:8883\"\n  |\n2 | url = \"http://broker\"\n  |       ^^^^^^^^^^^^^^^"
    );
    let text = "[mqtt]\nurl = \"mqtt://broker:0\"\n";
    assert!(error_of(text).contains("has a port that is not 1 to 65535"));
    let text = "[mqtt]\nurl = \"mqtt://broker\"\nnode = \"pi garage\"\n";
    assert!(error_of(text).starts_with("rules.toml:3:8: [mqtt] node \"pi garage\" becomes a topic level"));
    let text = "[mqtt]\nurl = \"mqtt://broker\"\npassword_file = \"pw\"\n";
    assert!(error_of(text).contains("password_file needs \"username\" too"));
    let text = "[mqtt]\nurl = \"mqtt://broker\"\nca_file = \"ca.pem\"\n";
    assert!(error_of(text).contains("ca_file is for mqtts:// brokers"));
    let text = "[mqtt]\nurl = \"mqtt://broker\"\ntopic_prefix = \"camrelay/#\"\n";
    assert!(error_of(text).contains("without wildcards"));
    let text = "[mqtt]\nurl = \"mqtt://broker\"\nqueue = 4\n";
    assert!(error_of(text).contains("queue"), "{}", error_of(text));
    let text = "[mqtt]\nurl = \"mqtt://broker\"\nretain = true\n";
    assert!(error_of(text).contains("unknown key \"retain\" in [mqtt]"));
}

#[test]
fn another_node_relay_needs_mqtt_and_another_node() {
    let rule = "[[rule]]\nname = \"garage light\"\nwhen = { event = \"camera_offline\" }\nthen = { relay = \"garage/light\", action = \"hold\", hold = \"2m\" }\n";
    let text = format!("{RELAY}{rule}");
    assert_eq!(
        error_of(&text),
        "rules.toml:9:18: [[rule]] \"garage light\" then names relay \"garage/light\", a relay on node \"garage\": reaching another node needs an [mqtt] section (and a broker both nodes use)\n  |\n9 | then = { relay = \"garage/light\", action = \"hold\", hold = \"2m\" }\n  |                  ^^^^^^^^^^^^^^"
    );
    let own = rule.replace("garage/light", "drive/porch");
    assert!(error_of(&format!("{MQTT}{RELAY}{own}"))
        .contains("names this node (\"drive\"); write the relay's own name, \"porch\""));
    let bad = rule.replace("garage/light", "garage/a b");
    assert!(error_of(&format!("{MQTT}{RELAY}{bad}")).contains("must be \"node/relay\""));
    // The action is still checked; the other node's limits are its own.
    let no_hold = rule.replace(", hold = \"2m\"", "");
    assert!(error_of(&format!("{MQTT}{RELAY}{no_hold}")).contains("needs \"hold\""));
    assert!(camrelay::config::parse(&format!("{MQTT}{RELAY}{rule}"), Path::new("rules.toml")).is_ok());
    let slash = RELAY.replace("\"porch\"", "\"porch/1\"");
    assert!(error_of(&slash).contains("cannot hold \"/\""));
}

#[test]
fn a_camera_of_another_node_is_known_by_name_only_and_has_no_zones_here() {
    let camera = "[[camera]]\nname = \"gate_lpr\"\nnode = \"garage\"\n\n";
    assert!(error_of(&format!("{RELAY}{camera}"))
        .contains("its detections come over the broker, which needs an [mqtt] section"));
    let with_mac = camera.replace("node = \"garage\"\n", "node = \"garage\"\nmac = \"58:5b:69:5a:84:bb\"\n");
    assert!(error_of(&format!("{MQTT}{RELAY}{with_mac}")).contains("\"mac\" does not go with \"node\""));
    let zone =
        "[[zone]]\nname = \"gate\"\ncamera = \"gate_lpr\"\npolygon = [[0, 0], [10000, 0], [10000, 10000]]\n";
    assert!(error_of(&format!("{MQTT}{RELAY}{camera}{zone}")).contains("draw its zones on that node"));
    assert!(camrelay::config::parse(&format!("{MQTT}{RELAY}{camera}"), Path::new("rules.toml")).is_ok());
}

#[test]
fn defect_5_names_that_share_a_topic_level_are_refused_with_both_lines() {
    // Issue 23: relays "gate 1" and "gate_1" got one MQTT topic and one Home
    // Assistant entity; only one could be commanded, and check said nothing.
    let text = r#"[[relay]]
name = "gate 1"
line = 17
max_on = "1m"

[[relay]]
name = "gate_1"
line = 18
max_on = "1m"
"#;
    let msg = error_of(text);
    assert!(msg.starts_with("rules.toml:7:"), "{msg}");
    assert!(
        msg.contains(
            "relay \"gate_1\" and relay \"gate 1\" (line 2) would share the MQTT topic level and Home Assistant entity id \"gate_1\"; names must differ in more than case, spaces and punctuation"
        ),
        "{msg}"
    );
    // Case too: Home Assistant's entity ids are lower case.
    let zones = r#"[[camera]]
name = "drive"
mac = "58:5b:69:5f:42:1b"

[[zone]]
name = "Porch"
camera = "drive"
polygon = [[0, 0], [100, 0], [100, 100]]

[[zone]]
name = "porch"
camera = "drive"
polygon = [[0, 0], [100, 0], [100, 100]]
"#;
    let msg = error_of(zones);
    assert!(msg.starts_with("rules.toml:11:") && msg.contains("(line 6)"), "{msg}");
    // Cameras, and areas, likewise; the same name in two kinds is fine.
    let cams = "[[camera]]\nname = \"back/yard\"\nmac = \"58:5b:69:5f:42:1b\"\n\n[[camera]]\nname = \"back+yard\"\nmac = \"58:5b:69:5f:42:1c\"\n";
    assert!(error_of(cams).contains("camera \"back+yard\" and camera \"back/yard\" (line 2)"));
}

/// A gate with a site time zone, before each `[[plates.<list>]]` test's blocks.
const PLATES_BASE: &str = r#"[site]
timezone = "Europe/Berlin"

[[relay]]
name = "gate"
line = 27
max_on = "3s"
"#;

#[test]
fn plate_list_entry_with_an_empty_plate() {
    let text = format!("{PLATES_BASE}\n[[plates.visitors]]\nplate = \" - \"\nname = \"nobody\"\n");
    assert_eq!(
        error_of(&text),
        r##"rules.toml:10:9: "plate" in [[plates.visitors]] #1 has an empty plate number
   |
10 | plate = " - "
   |         ^^^^^"##
    );
}

#[test]
fn plate_list_entry_until_before_from() {
    let text = format!(
        "{PLATES_BASE}\n[[plates.visitors]]\nplate = \"JP116D\"\nfrom = 2026-12-12T09:00:00\nuntil = 2026-12-11\n"
    );
    assert_eq!(
        error_of(&text),
        r##"rules.toml:12:9: "until" (2026-12-11) in [[plates.visitors]] "JP116D" is not after "from" (2026-12-12T09:00:00); the entry would never count
   |
12 | until = 2026-12-11
   |         ^^^^^^^^^^"##
    );
}

#[test]
fn plate_list_entry_unknown_key() {
    let text = format!("{PLATES_BASE}\n[[plates.visitors]]\nplate = \"JP116D\"\nvalid_until = 2026-12-11\n");
    assert_eq!(
        error_of(&text),
        r##"rules.toml:11:1: unknown key "valid_until" in [[plates.visitors]] #1; valid keys: plate, name, from, until, days, after, before
   |
11 | valid_until = 2026-12-11
   | ^^^^^^^^^^^"##
    );
}

#[test]
fn plate_list_entry_bad_weekday() {
    let text =
        format!("{PLATES_BASE}\n[[plates.visitors]]\nplate = \"JP116D\"\ndays = [\"sat\", \"sunday\", \"feiertag\"]\n");
    assert_eq!(
        error_of(&text),
        r##"rules.toml:11:26: "days" in [[plates.visitors]] "JP116D" cannot be "feiertag"; use "mon", "tue", "wed", "thu", "fri", "sat", "sun", "weekdays" or "weekend"
   |
11 | days = ["sat", "sunday", "feiertag"]
   |                          ^^^^^^^^^^"##
    );
}

#[test]
fn plate_list_a_rule_names_must_exist() {
    let text = format!(
        r#"{PLATES_BASE}
[[plates.visitors]]
plate = "JP116D"

[[plates.residents]]
plate = "AB123CD"

[[rule]]
name = "gate"
when = {{ event = "plate", plate_list = "visitor" }}
then = {{ relay = "gate", action = "pulse", duration = "1s" }}
"#
    );
    assert_eq!(
        error_of(&text),
        r##"rules.toml:17:40: [[rule]] "gate" when names plate_list "visitor", which no [[plates.visitor]] block defines; did you mean "visitors"? (lists: "visitors", "residents")
   |
17 | when = { event = "plate", plate_list = "visitor" }
   |                                        ^^^^^^^^^"##
    );
    // In `unless` too, and with no list at all the message says how to add one.
    let text = format!(
        r#"{PLATES_BASE}
[[rule]]
name = "stranger"
when = {{ event = "plate", unless = {{ plate_list = "residents" }} }}
then = {{ relay = "gate", action = "pulse", duration = "1s" }}
"#
    );
    assert_eq!(
        error_of(&text),
        r##"rules.toml:11:51: [[rule]] "stranger" when unless names plate_list "residents", which no [[plates.residents]] block defines; this file has no plate list: add one as [[plates.visitors]] with plate = "AB123CD"
   |
11 | when = { event = "plate", unless = { plate_list = "residents" } }
   |                                                   ^^^^^^^^^^^"##
    );
}

#[test]
fn plate_listed_twice_in_one_list() {
    let text = format!(
        "{PLATES_BASE}\n[[plates.visitors]]\nplate = \"JP116D\"\nname = \"Grandma\"\n\n[[plates.visitors]]\nplate = \"jp 116-d\"\nname = \"Grandpa\"\n"
    );
    assert_eq!(
        error_of(&text),
        r##"rules.toml:14:9: plate "JP116D" is on list "visitors" twice (first on line 10); one block per plate: give it one from / until, or put the other visit on another list
   |
14 | plate = "jp 116-d"
   |         ^^^^^^^^^^"##
    );
}

#[test]
fn plate_list_times_are_local_clock_times_in_the_sites_zone() {
    let entry = |keys: &str| format!("{PLATES_BASE}\n[[plates.visitors]]\nplate = \"JP116D\"\n{keys}\n");
    let e = error_of(&entry("from = 2026-12-12T09:00:00+01:00"));
    assert!(
        e.contains(
            "\"from\" in [[plates.visitors]] \"JP116D\" has a UTC offset; write the local time without one"
        ),
        "{e}"
    );
    let e = error_of(&entry("after = \"sunset\""));
    assert!(e.contains("takes a clock time like \"09:00\"; sun times are for rules"), "{e}");
    let e = error_of(&entry("until = \"2026-12-12\""));
    assert!(e.contains("must be a local date-time like 2026-12-12T18:00:00 or a date like 2026-12-12 (no quotes), found a string"), "{e}");
    let e = error_of("[[plates.visitors]]\nplate = \"JP116D\"\nfrom = 2026-12-12\n");
    assert!(e.contains("has \"from\" but [site] has no \"timezone\""), "{e}");
    let e = error_of(&format!("{PLATES_BASE}\n[[plates.Visitors]]\nplate = \"JP116D\"\n"));
    assert!(
        e.contains("plate list \"Visitors\" needs a name of lower-case letters, digits and \"_\""),
        "{e}"
    );
    let e = error_of(&format!("{PLATES_BASE}\n[plates]\nvisitors = \"JP116D\"\n"));
    assert!(
        e.contains("plate list \"visitors\" must be written [[plates.visitors]] (one block per plate)"),
        "{e}"
    );
}
