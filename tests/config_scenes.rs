//! The keys for real scenes (areas, occupancy, zone order, direction,
//! stationary targets, relay conditions, blink, holidays): every misuse is
//! refused with the file, line, key and what would be valid, as `check` and
//! `run` both refuse it.

use camrelay::config::{parse, RelayCondition};
use std::path::Path;

const BASE: &str = r#"[site]
timezone = "Europe/Berlin"

[[relay]]
name = "lamp"
line = 17
max_on = "15m"

[[relay]]
name = "siren"
line = 27
max_on = "1m"
min_off = "1s"

[[camera]]
name = "front"
mac = "58:5b:69:00:00:01"

[[camera]]
name = "side"
mac = "58:5b:69:00:00:02"

[[zone]]
name = "path"
camera = "front"
polygon = [[4000, 4000], [6000, 4000], [6000, 8000], [4000, 8000]]

[[zone]]
name = "door"
camera = "front"
polygon = [[3000, 2000], [7000, 2000], [7000, 4000], [3000, 4000]]

[[zone]]
name = "yard"
camera = "side"
polygon = [[0, 0], [10000, 0], [10000, 10000], [0, 10000]]

[[area]]
name = "garden"
zones = ["path", "yard"]
"#;

/// The line of an appended rule's `when`.
fn rule_line() -> usize {
    BASE.lines().count() + 4
}

fn refused(rule: &str) -> String {
    let text = format!("{BASE}\n[[rule]]\nname = \"r\"\n{rule}\n");
    match parse(&text, Path::new("rules.toml")) {
        Ok(_) => panic!("expected a refusal for:\n{rule}"),
        Err(e) => e.to_string(),
    }
}

fn accepted(extra: &str) -> camrelay::config::Config {
    let text = format!("{BASE}\n{extra}\n");
    parse(&text, Path::new("rules.toml")).unwrap_or_else(|e| panic!("{e}"))
}

fn assert_says(message: &str, line: usize, parts: &[&str]) {
    assert!(message.starts_with(&format!("rules.toml:{line}:")), "{message}");
    for p in parts {
        assert!(message.contains(p), "missing {p:?} in:\n{message}");
    }
}

#[test]
fn area_and_zone_together_are_refused() {
    let m = refused(
        r#"when = { event = "presence", zone = "path", area = "garden" }
then = { relay = "lamp", action = "hold", hold = "10s" }"#,
    );
    assert_says(&m, rule_line(), &["both \"zone\" and \"area\"", "list the zones in the [[area]]"]);
}

#[test]
fn an_area_is_entered_and_left_as_a_place() {
    let m = refused(
        r#"when = { event = "zone_entry", area = "garden" }
then = { relay = "lamp", action = "on" }"#,
    );
    assert_says(&m, rule_line(), &["use event = \"area_occupied\"", "\"area_empty\""]);
}

#[test]
fn an_unknown_area_suggests_the_known_one() {
    let m = refused(
        r#"when = { event = "presence", area = "gardn" }
then = { relay = "lamp", action = "hold", hold = "10s" }"#,
    );
    assert_says(&m, rule_line(), &["\"gardn\"", "did you mean \"garden\""]);
}

#[test]
fn an_area_needs_known_zones_and_its_own_name() {
    let text = format!("{BASE}\n[[area]]\nname = \"back\"\nzones = [\"pathh\"]\n");
    let m = parse(&text, Path::new("rules.toml")).unwrap_err().to_string();
    assert_says(&m, BASE.lines().count() + 4, &["\"pathh\"", "did you mean \"path\""]);
    let text = format!("{BASE}\n[[area]]\nname = \"door\"\nzones = [\"path\"]\n");
    let m = parse(&text, Path::new("rules.toml")).unwrap_err().to_string();
    assert_says(&m, BASE.lines().count() + 3, &["already a zone named \"door\""]);
}

#[test]
fn counting_needs_a_place_and_counts_only_with_occupancy() {
    let m = refused(
        r#"when = { event = "occupancy", class = "person" }
then = { relay = "lamp", action = "on" }"#,
    );
    assert_says(&m, rule_line(), &["needs the place to count in", "area = \"driveway\""]);
    let m = refused(
        r#"when = { event = "presence", zone = "path", min_count = 2 }
then = { relay = "lamp", action = "hold", hold = "10s" }"#,
    );
    assert_says(&m, rule_line(), &["\"min_count\"", "applies to event = \"occupancy\" only"]);
    let m = refused(
        r#"when = { event = "occupancy", area = "garden", min_count = 3, max_count = 2 }
then = { relay = "lamp", action = "hold", hold = "10s" }"#,
    );
    assert_says(&m, rule_line(), &["\"max_count\" (2) is below \"min_count\" (3)"]);
    let m = refused(
        r#"when = { event = ["occupancy", "area_empty"], area = "garden" }
then = { relay = "lamp", action = "on" }"#,
    );
    assert_says(&m, rule_line(), &["rules of their own"]);
    let m = refused(
        r#"when = { event = "area_occupied", area = "garden", min_area = 0.1 }
then = { relay = "lamp", action = "on" }"#,
    );
    assert_says(&m, rule_line(), &["\"min_area\"", "occupancy counts every target"]);
}

#[test]
fn zone_order_is_on_one_camera_and_needs_the_zone_it_leads_to() {
    let m = refused(
        r#"when = { event = "zone_entry", zone = "door", from_zone = "yard" }
then = { relay = "lamp", action = "hold", hold = "10s" }"#,
    );
    assert_says(&m, rule_line(), &["zone \"yard\" is on camera \"side\"", "one camera tracks"]);
    let m = refused(
        r#"when = { event = "zone_entry", from_zone = "path" }
then = { relay = "lamp", action = "hold", hold = "10s" }"#,
    );
    assert_says(&m, rule_line(), &["needs the zone the target goes to"]);
    let m = refused(
        r#"when = { event = "zone_entry", zone = "door", within = "10s" }
then = { relay = "lamp", action = "hold", hold = "10s" }"#,
    );
    assert_says(&m, rule_line(), &["\"within\"", "needs \"from_zone\""]);
    let m = refused(
        r#"when = { event = "presence", zone = "door", towards = "path", away_from = "path" }
then = { relay = "lamp", action = "hold", hold = "10s" }"#,
    );
    assert_says(&m, rule_line(), &["both \"towards\" and \"away_from\""]);
}

#[test]
fn stationary_and_plates_keys_stay_with_their_events() {
    let m = refused(
        r#"when = { event = "plate", include_stationary = true }
then = { relay = "lamp", action = "hold", hold = "10s" }"#,
    );
    assert_says(
        &m,
        rule_line(),
        &[
            "\"include_stationary\"",
            "applies to event = \"presence\", \"occupancy\", \"area_occupied\", \"area_empty\" only",
        ],
    );
    let text = format!("{BASE}\n[presence]\nstationary_tolerance = 0.9\n");
    let m = parse(&text, Path::new("rules.toml")).unwrap_err().to_string();
    assert_says(&m, BASE.lines().count() + 3, &["\"stationary_tolerance\"", "between 0 and 0.5"]);
    let text = format!("{BASE}\n[presence]\nstationary_after = \"2h\"\n");
    let m = parse(&text, Path::new("rules.toml")).unwrap_err().to_string();
    assert_says(&m, BASE.lines().count() + 3, &["\"stationary_after\"", "the longest accepted is \"1h\""]);
}

#[test]
fn relay_conditions_name_known_relays() {
    let m = refused(
        r#"when = { event = "plate", relay_off = "sirne" }
then = { relay = "lamp", action = "hold", hold = "10s" }"#,
    );
    assert_says(&m, rule_line(), &["\"sirne\"", "did you mean \"siren\""]);
    let c = accepted(
        r#"[[rule]]
name = "r"
when = { event = "plate", relay_off = "siren", no_manual = ["lamp"] }
then = { relay = "lamp", action = "on" }"#,
    );
    assert_eq!(
        c.rules[0].when.relays,
        [RelayCondition::Off("siren".into()), RelayCondition::NoManual("lamp".into())]
    );
}

#[test]
fn a_blink_the_relay_limits_would_hold_back_is_refused() {
    let m = refused(
        r#"when = { event = "plate" }
then = { relay = "siren", action = "blink", on = "500ms", off = "500ms", duration = "10s" }"#,
    );
    assert_says(
        &m,
        rule_line() + 1,
        &["\"off\" = \"500ms\" is shorter than relay \"siren\" min_off = \"1s\""],
    );
    let m = refused(
        r#"when = { event = "plate" }
then = { relay = "siren", action = "blink", on = "1s", off = "1s", duration = "1m" }"#,
    );
    assert_says(&m, rule_line() + 1, &["31 times a minute", "switch_limit = 20"]);
    let m = refused(
        r#"when = { event = "plate" }
then = { relay = "siren", action = "blink", on = "1s", off = "2s" }"#,
    );
    assert_says(&m, rule_line() + 1, &["needs \"duration\""]);
    let m = refused(
        r#"when = { event = "plate" }
then = { relay = "siren", action = "pulse", duration = "1s", on = "1s" }"#,
    );
    assert_says(&m, rule_line() + 1, &["\"on\" does not go with action = \"pulse\""]);
    accepted(
        r#"[[rule]]
name = "r"
when = { event = "plate" }
then = { relay = "siren", action = "blink", on = "1s", off = "2s", duration = "30s" }"#,
    );
}

#[test]
fn holiday_dates_are_dates() {
    let m = refused(
        r#"when = { event = "plate", except_days = ["2026-02-30"] }
then = { relay = "lamp", action = "on" }"#,
    );
    assert_says(&m, rule_line(), &["\"except_days\"", "\"2026-12-24..2026-12-26\"", "\"2026-02-30\""]);
    let m = refused(
        r#"when = { event = "plate", days = ["2026-12-26..2026-12-24"] }
then = { relay = "lamp", action = "on" }"#,
    );
    assert_says(&m, rule_line(), &["\"days\"", "2026-12-24..2026-12-26"]);
    let c = accepted(
        r#"[[rule]]
name = "r"
when = { event = "plate", days = ["weekdays", "2026-12-26"], except_days = ["2026-12-24..2026-12-25"] }
then = { relay = "lamp", action = "on" }"#,
    );
    let s = c.rules[0].when.schedule.as_ref().unwrap();
    assert_eq!((s.days, s.dates.len(), s.except.len()), (0b001_1111, 1, 1));
}
