//! Operator-path finding 4: tests that cannot run here showed `ok` in
//! `cargo test`'s summary. build.rs now decides, from this machine, whether
//! the cdev tests and the SDK comparison can run, and `#[ignore]`s them when
//! not; this checks that its decision matches the machine the tests run on,
//! so an ignored test always means "cannot run here" and never "forgotten".

use std::path::Path;

fn usable_gpio_chip() -> bool {
    std::fs::read_dir("/dev").is_ok_and(|d| {
        d.flatten().any(|e| {
            e.file_name().to_string_lossy().starts_with("gpiochip")
                && std::fs::OpenOptions::new().read(true).write(true).open(e.path()).is_ok()
        })
    })
}

#[test]
fn finding_04_the_cdev_tests_are_ignored_exactly_when_there_is_no_gpio_chip() {
    let decided = cfg!(camrelay_gpio);
    if std::env::var_os("CAMRELAY_TEST_CHIP").is_some() {
        assert!(decided, "CAMRELAY_TEST_CHIP set: the cdev tests must run");
        return;
    }
    assert_eq!(
        decided,
        usable_gpio_chip(),
        "build.rs decided the cdev tests {} but this machine {} a usable /dev/gpiochip*",
        if cfg!(camrelay_gpio) { "run" } else { "are ignored" },
        if usable_gpio_chip() { "has" } else { "has no" }
    );
}

#[test]
fn finding_04_the_sdk_comparison_is_ignored_exactly_when_the_sdk_is_missing_and_not_required() {
    let required = std::env::var("CAMRELAY_REQUIRE_SDK").is_ok_and(|v| v == "1");
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python");
    let installed = python.exists()
        && std::process::Command::new(&python)
            .args(["-c", "import viewtron"])
            .output()
            .is_ok_and(|o| o.status.success());
    assert_eq!(cfg!(camrelay_sdk), required || installed, "required {required}, installed {installed}");
}

#[test]
fn the_browser_test_is_ignored_exactly_when_chromium_or_chromedriver_is_missing_and_not_required() {
    let required = std::env::var("CAMRELAY_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
    let on_path = |name: &str| {
        std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
    };
    let installed = on_path("chromium") && on_path("chromedriver");
    assert_eq!(cfg!(camrelay_browser), required || installed, "required {required}, installed {installed}");
}

#[test]
fn the_broker_tests_are_ignored_exactly_when_mosquitto_is_missing_and_not_required() {
    let required = std::env::var("CAMRELAY_REQUIRE_BROKER").is_ok_and(|v| v == "1");
    let on_path = |name: &str| {
        std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
    };
    let installed =
        (on_path("mosquitto") || Path::new("/usr/sbin/mosquitto").is_file()) && on_path("mosquitto_passwd");
    assert_eq!(cfg!(camrelay_broker), required || installed, "required {required}, installed {installed}");
}

#[test]
fn the_root_tests_are_ignored_exactly_when_the_tests_do_not_run_as_root() {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let euid =
        status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|ids| ids.split_whitespace().nth(1));
    assert_eq!(cfg!(camrelay_root), euid == Some("0"), "effective uid {euid:?}");
}

#[test]
fn the_home_assistant_test_is_ignored_exactly_when_its_venv_or_the_broker_is_missing_and_not_required() {
    let required = std::env::var("CAMRELAY_REQUIRE_HA").is_ok_and(|v| v == "1");
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/ha/venv/bin/hass").is_file();
    assert_eq!(
        cfg!(camrelay_ha),
        required || (cfg!(camrelay_broker) && venv),
        "required {required}, venv {venv}"
    );
}
