//! The deployment files agree with each other and with the binary: the
//! systemd unit keeps its hardening and its safety hooks, the Debian package
//! metadata ships the unit, the binary and the conffile, and the commands the
//! unit runs exist in the CLI.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

const UNIT: &str = "systemd/camrelay.service";

/// `[Section]` → key → every value given (systemd allows repeated keys).
fn parse_unit(text: &str) -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    let mut sections: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    let mut current = String::new();
    for raw in text.lines() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.to_string();
            continue;
        }
        let (k, v) = line.split_once('=').unwrap_or_else(|| panic!("{UNIT}: not key=value: {line:?}"));
        assert!(!current.is_empty(), "{UNIT}: {k} before any section");
        sections
            .entry(current.clone())
            .or_default()
            .entry(k.trim().to_string())
            .or_default()
            .push(v.trim().to_string());
    }
    sections
}

fn unit() -> BTreeMap<String, BTreeMap<String, Vec<String>>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(UNIT);
    parse_unit(&std::fs::read_to_string(&path).expect("systemd/camrelay.service"))
}

fn service_values(key: &str) -> Vec<String> {
    unit().get("Service").and_then(|s| s.get(key)).cloned().unwrap_or_default()
}

fn service(key: &str) -> String {
    let v = service_values(key);
    assert_eq!(v.len(), 1, "[Service] {key}: expected exactly one value, got {v:?}");
    v[0].clone()
}

#[test]
fn unit_runs_the_daemon_with_readiness_watchdog_reload_and_safe_state() {
    assert_eq!(service("Type"), "notify");
    assert_eq!(service("ExecStart"), "/usr/bin/camrelay run --config /etc/camrelay/rules.toml");
    assert_eq!(
        service("ExecReload"),
        "/usr/bin/camrelay reload --config /etc/camrelay/rules.toml --pid $MAINPID"
    );
    assert_eq!(service("ExecStopPost"), "/usr/bin/camrelay safe-state --config /etc/camrelay/rules.toml");
    assert_eq!(service("Restart"), "on-failure");
    let watchdog = camrelay::config::parse_duration(&service("WatchdogSec")).unwrap();
    assert!(watchdog.as_secs() >= 10, "WatchdogSec {watchdog:?} too tight for a loaded Pi");
    assert_eq!(unit()["Install"]["WantedBy"], vec!["multi-user.target".to_string()]);
}

#[test]
fn unit_runs_unprivileged_with_the_gpio_chips_only() {
    assert_eq!(service("User"), "camrelay");
    assert_eq!(service("Group"), "camrelay");
    assert_eq!(service("SupplementaryGroups"), "gpio");
    assert_eq!(service("DevicePolicy"), "closed");
    assert_eq!(service("DeviceAllow"), "char-gpiochip rw");
    assert_eq!(service("CapabilityBoundingSet"), "");
    assert_eq!(service("StateDirectory"), "camrelay");
    // PrivateDevices=yes would replace /dev and hide /dev/gpiochip*.
    assert!(service_values("PrivateDevices").iter().all(|v| v == "no"), "PrivateDevices hides the chips");
}

#[test]
fn unit_keeps_its_hardening() {
    for (key, want) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectControlGroups", "yes"),
        ("RestrictNamespaces", "yes"),
        ("LockPersonality", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
        ("SystemCallArchitectures", "native"),
    ] {
        assert_eq!(service(key), want, "[Service] {key}");
    }
    assert!(service_values("SystemCallFilter").contains(&"@system-service".to_string()));
    // The only writable place under /etc: the rules folder, for the web page's zone editor.
    assert_eq!(service_values("ReadWritePaths"), vec!["/etc/camrelay".to_string()]);
}

/// Under qemu-user without binfmt_misc the test must start the binary through
/// the emulator itself; scripts/cross-check.sh sets CAMRELAY_TEST_RUNNER.
fn camrelay(args: &[&str]) -> std::process::Output {
    let bin = env!("CARGO_BIN_EXE_camrelay");
    let runner = std::env::var("CAMRELAY_TEST_RUNNER").unwrap_or_default();
    let mut words = runner.split_whitespace();
    let mut cmd = match words.next() {
        Some(emulator) => {
            let mut c = Command::new(emulator);
            c.args(words).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    cmd.args(args).output().expect("start camrelay")
}

#[test]
fn the_commands_the_unit_runs_exist_in_the_cli() {
    for key in ["ExecStart", "ExecStopPost"] {
        let line = service(key);
        let words: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(words[0], "/usr/bin/camrelay", "{key}");
        let out = camrelay(&[words[1], "--help"]);
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{key}: `camrelay {} --help` failed: {help}", words[1]);
        for flag in words[2..].iter().filter(|w| w.starts_with("--")) {
            assert!(help.contains(flag), "{key}: `camrelay {}` has no {flag}:\n{help}", words[1]);
        }
    }
}

fn deb_metadata() -> toml::Table {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).unwrap();
    let manifest: toml::Table = toml::from_str(&text).unwrap();
    manifest["package"]["metadata"]["deb"].as_table().expect("[package.metadata.deb]").clone()
}

#[test]
fn package_ships_binary_conffile_udev_rule_and_enabled_unit() {
    let deb = deb_metadata();
    let assets: Vec<(String, String)> = deb["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let a = a.as_array().unwrap();
            (a[0].as_str().unwrap().to_string(), a[1].as_str().unwrap().to_string())
        })
        .collect();
    let dest = |d: &str| assets.iter().find(|(_, to)| to == d).map(|(from, _)| from.clone());
    assert_eq!(dest("usr/bin/").as_deref(), Some("target/release/camrelay"));
    assert_eq!(dest("etc/camrelay/rules.toml").as_deref(), Some("target/deb-assets/rules.toml"));
    assert!(dest("usr/lib/udev/rules.d/60-camrelay-gpio.rules").is_some());
    for (from, _) in &assets {
        if !from.starts_with("target/") {
            assert!(Path::new(env!("CARGO_MANIFEST_DIR")).join(from).exists(), "asset {from} missing");
        }
    }
    let conf: Vec<&str> = deb["conf-files"].as_array().unwrap().iter().filter_map(|v| v.as_str()).collect();
    assert_eq!(conf, ["/etc/camrelay/rules.toml"]);

    let units = deb["systemd-units"].as_table().unwrap();
    assert_eq!(units["unit-name"].as_str(), Some("camrelay"));
    assert_eq!(units["enable"].as_bool(), Some(true));
    let dir = units["unit-scripts"].as_str().unwrap();
    assert!(Path::new(env!("CARGO_MANIFEST_DIR")).join(dir).join("camrelay.service").exists());

    // cargo-deb splices its systemd snippets at #DEBHELPER#; without the
    // token the unit would be installed but never enabled.
    let scripts = Path::new(env!("CARGO_MANIFEST_DIR")).join(deb["maintainer-scripts"].as_str().unwrap());
    for script in ["postinst", "postrm"] {
        let text = std::fs::read_to_string(scripts.join(script)).unwrap();
        assert!(text.contains("#DEBHELPER#"), "{script} lacks #DEBHELPER#");
    }
    let postinst = std::fs::read_to_string(scripts.join("postinst")).unwrap();
    assert!(postinst.contains("addgroup --quiet --system gpio"));
    assert!(postinst.contains("--system --group"));
    assert!(postinst.contains("adduser --quiet camrelay gpio"));
}

#[test]
fn systemd_analyze_rates_the_unit_ok() {
    // `--offline` needs systemd 250+; elsewhere this is reported, not failed.
    let out = match Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join(UNIT))
        .output()
    {
        Ok(out) if out.status.success() => out,
        Ok(out) => {
            eprintln!(
                "skipped: systemd-analyze security --offline failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return;
        }
        Err(e) => {
            eprintln!("skipped: systemd-analyze not available ({e})");
            return;
        }
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let score: f64 = text
        .lines()
        .find_map(|l| l.split_once("Overall exposure level for camrelay.service:"))
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no exposure score in:\n{text}"));
    assert!(score <= 2.0, "exposure {score} (was 1.5 when written)");
}
