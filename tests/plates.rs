//! Plate lists kept in the rules file (`[[plates.<list>]]`), used by rules'
//! `plate_list` in `when` and `unless`: parsed, matched at a passed wall time
//! (never the clock), explained when they do not match, and written by the
//! page's `set_plate_list` without losing a comment.

use camrelay::clock::{Instant, Now};
use camrelay::command::Command;
use camrelay::config::edit::{plate_lists, read_plate_lists, set_plate_list, EditError, PlateEntryEdit};
use camrelay::config::{describe_rule, parse, Config, PlateTime};
use camrelay::decode::{Device, Dialect, Event, EventKind, Plate, PlateDirection};
use camrelay::engine::plates::Standing;
use camrelay::engine::{Engine, Verdict};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use chrono_tz::Europe::Berlin;
use std::path::Path;

const BASE: &str = r#"
[site]
timezone = "Europe/Berlin"

[[relay]]
name = "gate"
line = 27
max_on = "3s"

[[relay]]
name = "siren"
line = 22
max_on = "1m"

[[camera]]
name = "lpr"
ip = "192.168.1.21"

# the family
[[plates.residents]]
plate = "AB 123-CD"
name = "Anna's car"

[[plates.visitors]]
plate = "JP116D"
name = "Grandma"
from = 2026-12-12T09:00:00
until = 2026-12-12T18:00:00
"#;

const GATE: &str = r#"
[[rule]]
name = "gate"
when = { event = "plate", plate_list = ["visitors", "residents"] }
then = { relay = "gate", action = "pulse", duration = "1s" }
"#;

fn config(extra: &str) -> Config {
    let text = format!("{BASE}{extra}");
    match parse(&text, Path::new("rules.toml")) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    }
}

/// Berlin wall time, as the site's clock shows it.
fn berlin(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    Berlin
        .with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .expect("an unambiguous local time")
        .with_timezone(&Utc)
}

fn now(wall: DateTime<Utc>) -> Now {
    // The engine's instants only need to move forward; the wall time decides the lists.
    Now { at: Instant::from_millis(wall.timestamp_millis() as u64), wall }
}

fn plate_event(number: &str) -> Event {
    let device = Device { ip: Some("192.168.1.21".into()), ..Device::default() };
    let mut e = Event { dialect: Dialect::Ipc, ..Event::bare(EventKind::Plate, device) };
    e.plate = Some(Plate {
        number: number.into(),
        confidence: Some(95.0),
        direction: Some(PlateDirection::Approach),
        ..Plate::default()
    });
    e
}

/// The commands for one read at `wall`, with rule 0's verdict and its detail.
fn read(e: &mut Engine, plate: &str, wall: DateTime<Utc>) -> (Vec<Command>, Verdict, Option<String>) {
    let commands = e.handle(&plate_event(plate), None, now(wall));
    let verdict = e.verdicts().iter().find(|v| v.rule == 0).map(|v| v.verdict).expect("rule 0 listens");
    (commands, verdict, e.verdict_detail(0).map(str::to_string))
}

#[test]
fn a_visitor_for_saturday_opens_the_gate_that_day_only() {
    let cfg = config(GATE);
    assert_eq!(cfg.plates.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(), ["residents", "visitors"]);
    assert_eq!(cfg.plates[0].entries[0].plate, "AB123CD", "normalized as a rule's plate");
    let mut e = Engine::new(&cfg);

    let (c, v, _) = read(&mut e, "JP116D", berlin(2026, 12, 12, 10, 0));
    assert_eq!(v, Verdict::Fired);
    assert_eq!((c.len(), c[0].relay.as_str(), c[0].why.plate.as_deref()), (1, "gate", Some("JP116D")));

    let (c, v, why) = read(&mut e, "JP116D", berlin(2026, 12, 13, 10, 0));
    assert!(c.is_empty());
    assert_eq!(v, Verdict::PlateList);
    assert_eq!(why.as_deref(), Some("plate JP116D (Grandma) on visitors expired Sat 12 Dec 18:00"));

    let (c, _, why) = read(&mut e, "JP116D", berlin(2026, 12, 12, 8, 59));
    assert!(c.is_empty());
    assert_eq!(why.as_deref(), Some("plate JP116D (Grandma) is on visitors only from Sat 12 Dec 09:00"));

    // The last minute counts, the first minute after does not (until is exclusive).
    assert_eq!(read(&mut e, "JP116D", berlin(2026, 12, 12, 17, 59)).1, Verdict::Fired);
    assert_eq!(read(&mut e, "JP116D", berlin(2026, 12, 12, 18, 0)).1, Verdict::PlateList);

    let (_, v, why) = read(&mut e, "ZZ999", berlin(2026, 12, 12, 10, 0));
    assert_eq!(
        (v, why.as_deref()),
        (Verdict::PlateList, Some("plate ZZ999 is not on visitors or residents"))
    );
}

#[test]
fn a_resident_with_no_dates_always_matches() {
    let mut e = Engine::new(&config(GATE));
    for wall in [berlin(2020, 1, 1, 0, 0), berlin(2026, 12, 13, 3, 30), berlin(2040, 7, 4, 23, 59)] {
        let (c, v, _) = read(&mut e, "ab123cd", wall);
        assert_eq!(v, Verdict::Fired, "{wall}");
        assert_eq!(c[0].why.plate.as_deref(), Some("AB123CD"));
    }
}

#[test]
fn weekdays_and_hours_hold_as_a_rules_window_does() {
    let cfg = config(
        r#"
[[plates.deliveries]]
plate = "DHL1"
days = ["sat", "sun"]
after = "09:00"
before = "18:00"

[[plates.deliveries]]
plate = "NIGHT1"
days = ["fri"]
after = "22:00"
before = "06:00"

[[rule]]
name = "gate"
when = { event = "plate", plate_list = "deliveries" }
then = { relay = "gate", action = "pulse", duration = "1s" }
"#,
    );
    let mut e = Engine::new(&cfg);
    assert_eq!(read(&mut e, "DHL1", berlin(2026, 12, 12, 10, 0)).1, Verdict::Fired, "Saturday 10:00");
    assert_eq!(read(&mut e, "DHL1", berlin(2026, 12, 13, 17, 0)).1, Verdict::Fired, "Sunday 17:00");
    let (_, v, why) = read(&mut e, "DHL1", berlin(2026, 12, 14, 10, 0));
    assert_eq!(v, Verdict::PlateList, "Monday");
    assert_eq!(why.as_deref(), Some("plate DHL1 is on deliveries only on Sat and Sun, 09:00–18:00"));
    assert_eq!(read(&mut e, "DHL1", berlin(2026, 12, 12, 18, 30)).1, Verdict::PlateList, "Saturday evening");
    // Friday 22:00 to Saturday 06:00: the window belongs to the Friday it starts on.
    assert_eq!(read(&mut e, "NIGHT1", berlin(2026, 12, 11, 23, 0)).1, Verdict::Fired, "Friday night");
    assert_eq!(read(&mut e, "NIGHT1", berlin(2026, 12, 12, 5, 0)).1, Verdict::Fired, "Saturday 05:00");
    assert_eq!(read(&mut e, "NIGHT1", berlin(2026, 12, 12, 23, 0)).1, Verdict::PlateList, "Saturday night");
}

#[test]
fn plate_distance_half_admits_one_look_alike_misread_named_by_the_listed_plate() {
    let mut e = Engine::new(&config(
        r#"
[[rule]]
name = "gate"
when = { event = "plate", plate_list = "visitors", plate_distance = 0.5 }
then = { relay = "gate", action = "pulse", duration = "1s", plate_cooldown = "1m" }
"#,
    ));
    let saturday = |mi: u32| berlin(2026, 12, 12, 10, mi);
    let (c, v, _) = read(&mut e, "JP1I6D", saturday(0));
    assert_eq!(v, Verdict::Fired, "1 read as I");
    assert_eq!(c[0].why.plate.as_deref(), Some("JP116D"), "the listed plate names the command");
    // The cooldown keys on the listed plate: the exact read a moment later is the same car.
    assert_eq!(read(&mut e, "JP116D", saturday(0)).1, Verdict::PlateCooldown);
    // An ordinary wrong character is another car.
    let (_, v, why) = read(&mut e, "JP117D", saturday(5));
    assert_eq!((v, why.as_deref()), (Verdict::PlateList, Some("plate JP117D is not on visitors")));
    // The misread of an expired entry is explained by that entry.
    let (_, _, why) = read(&mut e, "JP1I6D", berlin(2026, 12, 13, 10, 0));
    assert_eq!(why.as_deref(), Some("plate JP116D (Grandma) on visitors expired Sat 12 Dec 18:00"));
}

#[test]
fn unless_on_residents_keeps_the_siren_still_for_them_only() {
    let cfg = config(
        r#"
[[rule]]
name = "stranger"
when = { event = "plate", unless = { plate_list = "residents" } }
then = { relay = "siren", action = "pulse", duration = "2s" }
"#,
    );
    assert!(describe_rule(&cfg.rules[0], &cfg).contains("unless the plate is on residents"));
    let mut e = Engine::new(&cfg);
    let (c, v, why) = read(&mut e, "AB123CD", berlin(2026, 12, 12, 10, 0));
    assert!(c.is_empty());
    assert_eq!((v, why.as_deref()), (Verdict::Unless, Some("plate AB123CD is on residents")));
    let (c, v, _) = read(&mut e, "XY555", berlin(2026, 12, 12, 10, 1));
    assert_eq!((c.len(), v), (1, Verdict::Fired));
    // Exact: a misread resident is not held back (a misread never hides an alert).
    assert_eq!(read(&mut e, "A8123CD", berlin(2026, 12, 12, 10, 2)).1, Verdict::Fired);
}

#[test]
fn check_names_the_list_and_the_why_not_log_says_why_in_words() {
    let cfg = config(GATE);
    let sentence = describe_rule(&cfg.rules[0], &cfg);
    assert!(sentence.contains("When a plate is read for a plate on visitors or residents"), "{sentence}");
    let mut e = Engine::new(&cfg);
    let mut why = camrelay::why::WhyLog::new();
    e.handle(&plate_event("JP116D"), None, now(berlin(2026, 12, 12, 8, 0)));
    why.record(&e);
    let entries = why.of("gate");
    assert_eq!(
        entries[0].to_string(),
        "plate from camera \"lpr\" plate \"JP116D\": plate JP116D (Grandma) is on visitors only from Sat 12 Dec 09:00"
    );
    let json = serde_json::to_value(&entries[0]).unwrap();
    assert_eq!(json["verdict"], "plate_list");
}

const FILE: &str = r#"# my gate
[site]
timezone = "Europe/Berlin"

[[relay]]
name = "gate"
line = 27
max_on = "3s"

# who may come in: edited on the page
[[plates.visitors]]
plate = "JP116D"
name = "Grandma"  # mum's mum
from = 2026-12-12T09:00:00
until = 2026-12-12T18:00:00

[[plates.visitors]]
plate = "OLD1"

[[plates.residents]]
plate = "AB123CD"  # the blue one

[[rule]]
name = "gate"  # keep me
when = { event = "plate", plate_list = ["visitors", "residents"] }
then = { relay = "gate", action = "pulse", duration = "1s" }
"#;

fn file(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 12, d).unwrap()
}

#[test]
fn set_plate_list_replaces_one_list_and_keeps_every_comment() {
    let (_d, path) = file(FILE);
    let grandma = PlateEntryEdit {
        plate: "JP116D".into(),
        name: Some("Grandma".into()),
        from: Some(PlateTime::At(day(12).and_hms_opt(9, 0, 0).unwrap())),
        until: Some(PlateTime::Date(day(13))),
        days: vec![],
        after: None,
        before: None,
    };
    let courier = PlateEntryEdit {
        plate: "DHL 1".into(),
        name: None,
        from: None,
        until: None,
        days: vec!["weekdays".into()],
        after: Some("08:00".into()),
        before: Some("12:00".into()),
    };
    set_plate_list(&path, "visitors", &[grandma.clone(), courier]).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    for kept in [
        "# my gate",
        "# who may come in: edited on the page\n[[plates.visitors]]",
        "name = \"Grandma\"  # mum's mum",
        "plate = \"AB123CD\"  # the blue one",
        "name = \"gate\"  # keep me",
    ] {
        assert!(text.contains(kept), "{kept:?} kept in:\n{text}");
    }
    assert!(text.contains("until = 2026-12-13\n"), "{text}");
    assert!(!text.contains("OLD1"), "{text}");
    assert!(text.contains("[[plates.visitors]]\nplate = \"DHL 1\"\ndays = [\"weekdays\"]\nafter = \"08:00\"\nbefore = \"12:00\"\n"), "{text}");
    assert_eq!(std::fs::read_to_string(camrelay::config::edit::beside(&path, "prev")).unwrap(), FILE);

    // Read back for the page, at a wall time it passes.
    let lists = read_plate_lists(&path, berlin(2026, 12, 13, 10, 0)).unwrap();
    let visitors = lists.iter().find(|l| l.list == "visitors").unwrap();
    let standings: Vec<(&str, Standing)> =
        visitors.entries.iter().map(|e| (e.entry.plate.as_str(), e.standing)).collect();
    // Sunday: a date `until` is the whole day; the courier comes on weekdays.
    assert_eq!(standings, [("JP116D", Standing::Valid), ("DHL1", Standing::OffHours)]);
    assert_eq!(visitors.entries[0].entry, PlateEntryEdit { plate: "JP116D".into(), ..grandma.clone() });
    let later = plate_lists(&camrelay::config::load(&path).unwrap(), berlin(2026, 12, 14, 0, 0));
    assert_eq!(later[0].list, "visitors", "in file order");
    assert_eq!(later[0].entries[0].standing, Standing::Expired);
    assert!(!later[0].entries[0].valid_now);
    let json = serde_json::to_value(&later[0]).unwrap();
    assert_eq!(json["entries"][0]["from"], "2026-12-12T09:00:00");
    assert_eq!(json["entries"][0]["standing"], "expired");
    assert_eq!(json["entries"][1]["days"][0], "weekdays");

    // A new list goes at the end; an emptied one stays, empty, so rules that
    // name it stay valid; its next plate is a block again.
    set_plate_list(&path, "deliveries", &[PlateEntryEdit { plate: "UPS1".into(), ..grandma.clone() }])
        .unwrap();
    assert!(std::fs::read_to_string(&path)
        .unwrap()
        .trim_end()
        .ends_with("plate = \"UPS1\"\nname = \"Grandma\"\nfrom = 2026-12-12T09:00:00\nuntil = 2026-12-13"));
    set_plate_list(&path, "deliveries", &[]).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("[plates]\ndeliveries = []") && !text.contains("UPS1"), "{text}");
    let lists = read_plate_lists(&path, chrono::Utc::now()).unwrap();
    assert!(lists.iter().any(|l| l.list == "deliveries" && l.entries.is_empty()), "{lists:?}");
    set_plate_list(&path, "deliveries", &[PlateEntryEdit { plate: "DHL2".into(), ..grandma.clone() }])
        .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("[[plates.deliveries]]\nplate = \"DHL2\"") && !text.contains("deliveries = []"),
        "{text}"
    );
}

#[test]
fn set_plate_list_refuses_what_check_would_refuse_and_writes_nothing() {
    let (_d, path) = file(FILE);
    let backwards = PlateEntryEdit {
        plate: "JP116D".into(),
        name: None,
        from: Some(PlateTime::Date(day(13))),
        until: Some(PlateTime::Date(day(12))),
        days: vec![],
        after: None,
        before: None,
    };
    let err = set_plate_list(&path, "visitors", std::slice::from_ref(&backwards)).unwrap_err();
    assert!(matches!(err, EditError::Invalid(_)), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("rules.toml:") && msg.contains("\"until\" (2026-12-12)"), "located: {msg}");
    let bad_day =
        PlateEntryEdit { days: vec!["someday".into()], from: None, until: None, ..backwards.clone() };
    assert!(set_plate_list(&path, "visitors", &[bad_day]).unwrap_err().to_string().contains("\"days\""));
    let twice = PlateEntryEdit { from: None, until: None, ..backwards.clone() };
    let err = set_plate_list(&path, "visitors", &[twice.clone(), twice]).unwrap_err();
    assert!(err.to_string().contains("is on list \"visitors\" twice"), "{err}");
    let err = set_plate_list(&path, "Visitors!", &[]).unwrap_err();
    assert!(matches!(err, EditError::Refused(_)), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), FILE, "nothing written");
    assert!(!camrelay::config::edit::beside(&path, "prev").exists());
}
