//! Build-time facts for the test suite: whether this machine has a GPIO chip
//! the cdev tests can use, whether the vendor SDK venv is installed,
//! whether a browser (chromium and chromedriver) can run the web page test,
//! whether Mosquitto can run the MQTT tests, and whether Home Assistant's
//! venv (scripts/setup-ha-venv.sh) can run the real Home Assistant test. Tests
//! that cannot run here are then `#[ignore]`d, so `cargo test`'s own summary
//! counts them as ignored, never as passed (a test cannot ignore itself at
//! run time on stable Rust). Nothing here affects the library or the binary.

use std::path::Path;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(camrelay_gpio)");
    println!("cargo::rustc-check-cfg=cfg(camrelay_sdk)");
    println!("cargo::rustc-check-cfg=cfg(camrelay_browser)");
    println!("cargo::rustc-check-cfg=cfg(camrelay_broker)");
    println!("cargo::rustc-check-cfg=cfg(camrelay_root)");
    println!("cargo::rustc-check-cfg=cfg(camrelay_ha)");
    println!("cargo:rerun-if-env-changed=CAMRELAY_REQUIRE_HA");
    println!("cargo:rerun-if-env-changed=CAMRELAY_REQUIRE_BROKER");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CAMRELAY_REQUIRE_SDK");
    println!("cargo:rerun-if-env-changed=CAMRELAY_TEST_CHIP");
    println!("cargo:rerun-if-env-changed=CAMRELAY_REQUIRE_BROWSER");
    // A path cargo is told to watch that does not exist makes the script
    // stale on every build (each build then recompiled camrelay: 71 s for a
    // no-op). So watch a tool where it is, else the folder it would appear
    // in (installing it changes the folder); scripts/setup-sdk-venv.sh
    // touches build.rs when it creates the venv.
    watch_file_or_folder("/usr/sbin/mosquitto");
    watch_file_or_folder("/usr/bin/chromedriver");
    if Path::new(".venv/pyvenv.cfg").is_file() {
        println!("cargo:rerun-if-changed=.venv/pyvenv.cfg");
    }
    // scripts/setup-ha-venv.sh touches build.rs when it makes the venv.
    if Path::new(HA_VENV_HASS).is_file() {
        println!("cargo:rerun-if-changed={HA_VENV_HASS}");
    }

    let gpio = std::env::var_os("CAMRELAY_TEST_CHIP").is_some()
        || std::fs::read_dir("/dev").is_ok_and(|d| {
            d.flatten().any(|e| {
                e.file_name().to_string_lossy().starts_with("gpiochip")
                    && std::fs::OpenOptions::new().read(true).write(true).open(e.path()).is_ok()
            })
        });
    if gpio {
        println!("cargo:rustc-cfg=camrelay_gpio");
    }

    // Required (CI): never ignored, so a missing SDK fails the test.
    let required = std::env::var("CAMRELAY_REQUIRE_SDK").is_ok_and(|v| v == "1");
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let python = Path::new(&manifest).join(".venv/bin/python");
    let installed = python.exists()
        && std::process::Command::new(&python)
            .args(["-c", "import viewtron"])
            .output()
            .is_ok_and(|o| o.status.success());
    if required || installed {
        println!("cargo:rustc-cfg=camrelay_sdk");
    }

    if root() {
        println!("cargo:rustc-cfg=camrelay_root");
    }

    // The web page's browser test: Debian's chromium and chromedriver.
    // Required (CI): never ignored, so a missing browser fails the test.
    let browser = std::env::var("CAMRELAY_REQUIRE_BROWSER").is_ok_and(|v| v == "1")
        || (on_path("chromium") && on_path("chromedriver"));
    if browser {
        println!("cargo:rustc-cfg=camrelay_browser");
    }

    // The MQTT tests: Debian's mosquitto (the broker) and mosquitto_passwd.
    // Required (CI): never ignored, so a missing broker fails the tests.
    let broker = std::env::var("CAMRELAY_REQUIRE_BROKER").is_ok_and(|v| v == "1")
        || ((on_path("mosquitto") || Path::new("/usr/sbin/mosquitto").is_file())
            && on_path("mosquitto_passwd"));
    if broker {
        println!("cargo:rustc-cfg=camrelay_broker");
    }

    // The real Home Assistant test: its venv and a broker.
    // Required (CI): never ignored, so a missing venv fails the test.
    let ha = std::env::var("CAMRELAY_REQUIRE_HA").is_ok_and(|v| v == "1")
        || (broker && Path::new(&manifest).join(HA_VENV_HASS).is_file());
    if ha {
        println!("cargo:rustc-cfg=camrelay_ha");
    }
}

/// Home Assistant from PyPI (scripts/setup-ha-venv.sh), under target/.
const HA_VENV_HASS: &str = "target/ha/venv/bin/hass";

/// Tests that give a file to another owner or group need root; cargo runs
/// the tests as the user that ran this script.
fn root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|ids| ids.split_whitespace().nth(1))
            == Some("0")
    })
}

fn watch_file_or_folder(path: &str) {
    let p = Path::new(path);
    match p.parent() {
        Some(dir) if !p.exists() && dir.is_dir() => println!("cargo:rerun-if-changed={}", dir.display()),
        _ if p.exists() => println!("cargo:rerun-if-changed={path}"),
        _ => {}
    }
}

fn on_path(name: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
}
