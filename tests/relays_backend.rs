//! Opening backends: duplicate lines refused before any line is touched, the
//! mock's JSON-lines log, and the rppal backend's absence from default builds.

use camrelay::clock::Instant;
use camrelay::command::{Action, Command, Why};
use camrelay::config::Config;
use camrelay::relays::{open_backend, Controller, GpioError, MockBackend};
use serde_json::json;
use std::path::Path;

fn config(toml: &str) -> Config {
    match camrelay::config::parse(toml, Path::new("test.toml")) {
        Ok(cfg) => cfg,
        Err(e) => panic!("test config refused: {e}"),
    }
}

/// A config whose relays may share lines: `check` refuses that, and these
/// tests are about `open_backend` refusing it too (also where only the
/// hardware can tell, e.g. a chip named two ways). Each relay block is
/// parsed on its own with the sections before it.
fn config_sharing_lines(toml: &str) -> Config {
    let mut parts = toml.split("\n[[relay]]");
    let head = parts.next().unwrap_or_default();
    let mut cfg = config(head);
    for block in parts {
        let one = config(&format!("{head}\n[[relay]]{block}"));
        cfg.relays.extend(one.relays);
    }
    cfg
}

fn open_err(toml: &str) -> String {
    let cfg = config_sharing_lines(toml);
    match open_backend(&cfg.gpio, &cfg.relays) {
        Ok(b) => panic!("expected an error, opened {}", b.describe()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn two_relays_on_one_line_are_refused_before_the_backend_opens() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("mock.jsonl");
    let toml = format!(
        r#"
[gpio]
backend = "mock"
mock_log = "{}"

[[relay]]
name = "porch"
line = 17
max_on = "15m"

[[relay]]
name = "gate"
line = 27
max_on = "3s"

[[relay]]
name = "garden"
line = 17
max_on = "15m"
"#,
        log.display()
    );
    assert_eq!(
        open_err(&toml),
        "relays \"porch\" and \"garden\" are both on line 17 of gpiochip0; each relay needs its own line"
    );
    assert!(!log.exists(), "the mock backend must not have opened");
}

#[test]
fn duplicate_lines_are_found_across_chip_spellings_and_by_name() {
    let by_path = r#"
[gpio]
backend = "mock"
chip = "/dev/gpiochip0"
[[relay]]
name = "a"
line = 5
max_on = "1s"
[[relay]]
name = "b"
line = 5
chip = "gpiochip0"
max_on = "1s"
"#;
    assert_eq!(
        open_err(by_path),
        "relays \"a\" and \"b\" are both on line 5 of /dev/gpiochip0; each relay needs its own line"
    );
    let by_name = r#"
[gpio]
backend = "mock"
[[relay]]
name = "a"
line = "GPIO17"
max_on = "1s"
[[relay]]
name = "b"
line = "GPIO17"
max_on = "1s"
"#;
    assert_eq!(
        open_err(by_name),
        "relays \"a\" and \"b\" are both on line \"GPIO17\" of any chip; each relay needs its own line"
    );
    // Same offset on different chips is two lines.
    let two_chips = by_path.replace("chip = \"gpiochip0\"", "chip = \"gpiochip1\"");
    let cfg = config(&two_chips);
    assert!(open_backend(&cfg.gpio, &cfg.relays).is_ok());
}

#[test]
fn duplicate_line_error_is_the_typed_variant() {
    let cfg = config_sharing_lines(
        r#"
[gpio]
backend = "mock"
[[relay]]
name = "a"
line = 3
max_on = "1s"
[[relay]]
name = "b"
line = 3
max_on = "1s"
"#,
    );
    match open_backend(&cfg.gpio, &cfg.relays) {
        Err(GpioError::DuplicateLine { first, second, line, chip, .. }) => {
            assert_eq!(
                (first.as_str(), second.as_str(), line.as_str(), chip.as_str()),
                ("a", "b", "3", "gpiochip0")
            )
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("opened"),
    }
}

#[test]
fn mock_log_has_one_json_object_per_line_change_with_state_and_level() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("relays.jsonl");
    let cfg = config(&format!(
        r#"
[gpio]
backend = "mock"
mock_log = "{}"

[[relay]]
name = "porch_light"
line = 17
active_low = true
max_on = "15m"

[[relay]]
name = "gate"
line = "GPIO27"
max_on = "3s"
"#,
        log.display()
    ));
    let backend = open_backend(&cfg.gpio, &cfg.relays).unwrap();
    assert_eq!(backend.describe(), format!("mock lines 17,\"GPIO27\" (log {})", log.display()));
    let mut ctl = Controller::new(&cfg.relays, backend, Instant::ZERO).unwrap();
    let why = Why { rule: "porch light".into(), event: "presence".into(), ..Why::default() };
    let hold = Command {
        relay: "porch_light".into(),
        action: Action::Hold { until: Instant::from_millis(2_500) },
        why,
        requires: Vec::new(),
    };
    ctl.apply(&hold, Instant::from_millis(1_000));
    let gate_why =
        Why { rule: "gate".into(), event: "plate".into(), plate: Some("AB123".into()), ..Why::default() };
    ctl.apply(
        &Command { relay: "gate".into(), action: Action::On, why: gate_why, requires: Vec::new() },
        Instant::from_millis(1_200),
    );
    ctl.tick(Instant::from_millis(2_500));
    drop(ctl);

    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> =
        text.lines().map(|l| serde_json::from_str(l).expect("each line is one JSON object")).collect();
    assert!(text.ends_with('\n'));
    assert_eq!(
        lines,
        vec![
            json!({"relay": "porch_light", "line": 17, "on": false, "level": 1, "ms": 0, "reason": "startup"}),
            json!({"relay": "gate", "line": "GPIO27", "on": false, "level": 0, "ms": 0, "reason": "startup"}),
            json!({"relay": "porch_light", "line": 17, "on": true, "level": 0, "ms": 1000,
                   "reason": "rule \"porch light\" on presence: hold"}),
            json!({"relay": "gate", "line": "GPIO27", "on": true, "level": 1, "ms": 1200,
                   "reason": "rule \"gate\" on plate plate AB123: on"}),
            json!({"relay": "porch_light", "line": 17, "on": false, "level": 1, "ms": 2500,
                   "reason": "hold ended; rule \"porch light\" on presence: hold"}),
            json!({"relay": "gate", "line": "GPIO27", "on": false, "level": 0, "ms": 2500, "reason": "shutdown"}),
        ]
    );
}

#[test]
fn mock_log_is_appended_not_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("relays.jsonl");
    std::fs::write(&log, "{\"earlier\": true}\n").unwrap();
    let cfg = config(
        r#"
[gpio]
backend = "mock"
[[relay]]
name = "a"
line = 1
max_on = "1s"
"#,
    );
    let mock = MockBackend::new(&cfg.relays, Some(&log)).unwrap();
    drop(mock);
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        text,
        "{\"earlier\": true}\n{\"relay\":\"a\",\"line\":1,\"on\":false,\"level\":0,\"ms\":0,\"reason\":\"startup\"}\n"
    );
}

#[test]
fn an_unwritable_mock_log_is_a_startup_error_naming_the_file() {
    let cfg = config(
        r#"
[gpio]
backend = "mock"
mock_log = "/nonexistent-dir/relays.jsonl"
[[relay]]
name = "a"
line = 1
max_on = "1s"
"#,
    );
    let e = open_backend(&cfg.gpio, &cfg.relays).err().expect("refused");
    assert_eq!(
        e.to_string(),
        "GPIO error on mock_log /nonexistent-dir/relays.jsonl: No such file or directory (os error 2)"
    );
}

#[cfg(not(feature = "rppal"))]
#[test]
fn rppal_backend_says_how_to_get_it_when_not_built_in() {
    let cfg = config(
        r#"
[gpio]
backend = "rppal"
[[relay]]
name = "a"
line = 1
max_on = "1s"
"#,
    );
    assert_eq!(
        open_backend(&cfg.gpio, &cfg.relays).err().expect("refused").to_string(),
        "the rppal backend is not available in this build: rebuild with `cargo build --features rppal` \
         (Linux on a Raspberry Pi), or use backend = \"cdev\""
    );
}
