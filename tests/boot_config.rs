//! `camrelay boot-config`: the firmware lines that hold each relay at its off
//! level from power-on, for the example rules and for lines it cannot place.

use std::process::Command;

fn boot_config(rules: &str) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_camrelay"))
        .args(["boot-config", "--config", rules])
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn the_example_rules_get_one_off_level_line_per_relay() {
    let (ok, out, err) = boot_config(concat!(env!("CARGO_MANIFEST_DIR"), "/rules.example.toml"));
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("gpio=")).collect();
    assert_eq!(
        lines,
        vec![
            "gpio=17=op,dh  # porch_light (active-low: off is high)",
            "gpio=27=op,dh  # gate (active-low: off is high)",
            "gpio=22=op,dh  # siren (active-low: off is high)",
            "gpio=23=op,dh  # drive_lamp (active-low: off is high)",
        ],
        "{out}"
    );
    assert!(out.contains("/boot/firmware/config.txt"), "{out}");
}

#[test]
fn active_high_names_and_foreign_chips_are_told_apart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.toml");
    std::fs::write(
        &path,
        r#"[gpio]
backend = "mock"

[[relay]]
name = "fan"
line = "GPIO5"
max_on = "1h"

[[relay]]
name = "pump"
line = 3
chip = "gpiochip2"
max_on = "1h"

[[relay]]
name = "bell"
line = "BELL_OUT"
active_low = true
max_on = "1s"
"#,
    )
    .unwrap();
    let (ok, out, err) = boot_config(path.to_str().unwrap());
    assert!(ok, "{err}");
    assert!(out.contains("gpio=5=op,dl  # fan (active-high: off is low)"), "{out}");
    assert!(
        out.contains("# pump: no gpio= line: offset 3 on chip \"gpiochip2\", which is not the Pi's header"),
        "{out}"
    );
    assert!(out.contains("# bell: no gpio= line: line \"BELL_OUT\" is not named GPIOn"), "{out}");
    assert_eq!(out.lines().filter(|l| l.starts_with("gpio=")).count(), 1, "{out}");
}
