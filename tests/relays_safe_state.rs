//! `camrelay safe-state --config FILE` through the real binary.

use std::path::Path;

mod common;

fn camrelay(args: &[&str]) -> std::process::Output {
    common::camrelay_command().args(args).output().expect("camrelay runs")
}

#[test]
fn safe_state_drives_every_relay_off_and_says_so() {
    let cfg = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/relays/safe-state.toml");
    let out = camrelay(&["safe-state", "--config", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "mock lines 17,22,\"GPIO23\"\n\
         relay \"porch_light\" (line 17): off, level high (active-low)\n\
         relay \"gate_open\" (line 22): off, level low\n\
         relay \"gate_close\" (line \"GPIO23\"): off, level low\n"
    );
}

#[test]
fn safe_state_writes_the_off_state_of_every_relay_to_the_mock_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("relays.jsonl");
    // A previous run left the porch light on.
    std::fs::write(
        &log,
        "{\"relay\":\"porch_light\",\"line\":17,\"on\":true,\"level\":0,\"ms\":5000,\"reason\":\"rule\"}\n",
    )
    .unwrap();
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/relays/safe-state.toml"))
            .unwrap()
            .replace(
                "backend = \"mock\"",
                &format!("backend = \"mock\"\nmock_log = {:?}", log.display().to_string()),
            );
    let cfg = dir.path().join("rules.toml");
    std::fs::write(&cfg, text).unwrap();

    let out = camrelay(&["safe-state", "--config", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> =
        std::fs::read_to_string(&log).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let last_of = |relay: &str| lines.iter().rev().find(|l| l["relay"] == relay).cloned().unwrap();
    for (relay, level) in [("porch_light", 1), ("gate_open", 0), ("gate_close", 0)] {
        let last = last_of(relay);
        assert_eq!(
            (last["on"].as_bool(), last["level"].as_u64(), last["reason"].as_str()),
            (Some(false), Some(level), Some("safe-state")),
            "{relay}"
        );
    }
    assert_eq!(lines.len(), 4, "the earlier line plus one off per relay");
}

/// Operator-path finding 2: two relays on one line, or a typo anywhere in
/// the file, made `safe-state` exit 1 without touching a relay. It now warns
/// and drives off every relay it can name.
#[test]
fn finding_02_safe_state_drives_the_relays_off_when_the_rest_of_the_file_is_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("rules.toml");
    let log = dir.path().join("relays.jsonl");
    std::fs::write(
        &cfg,
        format!(
            "[gpio]\nbackend = \"mock\"\nmock_log = {:?}\n\
             [[relay]]\nname = \"a\"\nline = 4\nmax_on = \"1s\"\n\
             [[relay]]\nname = \"b\"\nline = 4\nmax_on = \"1s\"\n\
             [[relay]]\nname = \"c\"\nline = 5\nmax_on = \"1s\"\ncolour = \"red\"\n\
             [[rule]]\nname = \"r\"\nwhen = {{ event = \"presence\" }}\nthen = {{ relya = \"a\", action = \"on\" }}\n",
            log.display().to_string()
        ),
    )
    .unwrap();
    let out = camrelay(&["safe-state", "--config", cfg.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    assert!(stderr.contains("unknown key \"colour\""), "{stderr}");
    assert!(stderr.contains("relay \"b\" shares line 4 with relay \"a\""), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("relay \"a\" (line 4): off") && stdout.contains("relay \"c\" (line 5): off"),
        "{stdout}"
    );
    let lines = std::fs::read_to_string(&log).unwrap();
    assert_eq!(lines.matches("\"reason\":\"safe-state\"").count(), 2, "{lines}");
}

#[test]
fn safe_state_with_a_missing_config_fails_naming_the_file() {
    let out = camrelay(&["safe-state", "--config", "/nonexistent/rules.toml"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("camrelay: cannot read /nonexistent/rules.toml"), "{err}");
}
