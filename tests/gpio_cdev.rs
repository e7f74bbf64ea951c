//! The cdev backend against a real kernel GPIO chip.
//!
//! Runs wherever a `/dev/gpiochip*` exists: inside the QEMU guest of
//! `scripts/gpio-vm-test.sh` (Linux 6.12's gpiolib and PL061 driver), on a
//! board, or with gpio-sim. Where there is no chip each test says it was
//! skipped and why; that is the only skip.
//!
//! Which chip: `CAMRELAY_TEST_CHIP` (path, name or label) if set, else the
//! first chip with at least four free lines. The tests drive free lines of
//! that chip, so on a board with things wired to it, choose the chip (and
//! know that its free lines will toggle).
//!
//! The physical level of a line: with `CAMRELAY_TEST_PL061_BASE` set (the VM
//! sets it to the PL061's MMIO address), it is read from the controller's data
//! register through `/dev/mem` (busybox `devmem`), which involves neither
//! camrelay nor gpiolib's active-low handling. Elsewhere it is derived from the
//! kernel alone: while a line is held, the kernel's read-back of the logical
//! value XOR the active-low flag the kernel reports in line info; once
//! released, the value read by a fresh "as is" request (no direction change,
//! no inversion), since the kernel keeps a released output at its level.

#![cfg(target_os = "linux")]

use camrelay::clock::Instant;
use camrelay::config::{GpioConfig, RelayConfig};
use camrelay::relays::cdev::{CdevBackend, Uapi, CONSUMER};
use camrelay::relays::{Backend, GpioError};
use gpiocdev::line::{Direction, Value};
use gpiocdev::{Chip, Request};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

const SKIP: &str =
    "skipped: no GPIO chip on this machine (run scripts/gpio-vm-test.sh for a real kernel GPIO driver)";

/// Tests share the chip's lines, so they take turns.
static LINES: Mutex<()> = Mutex::new(());

/// The chip under test.
struct TestChip {
    path: PathBuf,
    name: String,
    label: String,
    num_lines: u32,
    /// Lines no one holds, lowest first; the tests use the first four.
    free: Vec<u32>,
}

impl TestChip {
    fn chip(&self) -> Chip {
        Chip::from_path(&self.path).expect("the test chip opens")
    }

    fn path_str(&self) -> String {
        self.path.display().to_string()
    }

    fn info(&self, offset: u32) -> gpiocdev::line::Info {
        self.chip().line_info(offset).expect("line info")
    }
}

/// The chip to test on, or None when this machine has none.
fn test_chip() -> Option<TestChip> {
    let paths = gpiocdev::chip::chips().unwrap_or_default();
    if paths.is_empty() {
        return None;
    }
    let wanted = std::env::var("CAMRELAY_TEST_CHIP").ok();
    let mut candidates = Vec::new();
    for path in paths {
        let chip = Chip::from_path(&path).unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
        let info = chip.info().expect("chip info");
        let free: Vec<u32> =
            (0..info.num_lines).filter(|&o| chip.line_info(o).map(|li| !li.used).unwrap_or(false)).collect();
        candidates.push(TestChip {
            path,
            name: info.name,
            label: info.label,
            num_lines: info.num_lines,
            free,
        });
    }
    let chosen = match &wanted {
        Some(w) => candidates.into_iter().find(|c| &c.path_str() == w || &c.name == w || &c.label == w),
        None => candidates.into_iter().find(|c| c.free.len() >= 4),
    };
    match chosen {
        Some(c) if c.free.len() >= 4 => Some(c),
        Some(c) => panic!("{} has only {} free lines; the tests need 4", c.path.display(), c.free.len()),
        None => panic!("GPIO chips exist but none fits (CAMRELAY_TEST_CHIP={wanted:?}, 4 free lines needed)"),
    }
}

/// Take the lines and find the chip, or skip the test.
macro_rules! chip_or_skip {
    ($guard:ident, $chip:ident) => {
        let $guard = LINES.lock().unwrap_or_else(|e| e.into_inner());
        let Some($chip) = test_chip() else {
            println!("{SKIP}");
            return;
        };
    };
}

/// One relay as a user writes it, parsed by the real config code so the test
/// keeps up with the schema.
fn relay(name: &str, line: &str, chip: Option<&str>, active_low: bool) -> RelayConfig {
    let chip = chip.map(|c| format!("chip = {c:?}\n")).unwrap_or_default();
    let text = format!(
        "[[relay]]\nname = {name:?}\nline = {line}\n{chip}active_low = {active_low}\nmax_on = \"1h\"\n"
    );
    let mut config = camrelay::config::parse(&text, Path::new("gpio_cdev.rs")).expect("relay config parses");
    config.relays.remove(0)
}

fn gpio(chip: Option<&str>) -> GpioConfig {
    GpioConfig { chip: chip.map(str::to_string), ..GpioConfig::default() }
}

fn open(gpio: &GpioConfig, relays: &[RelayConfig]) -> CdevBackend {
    CdevBackend::open(gpio, relays).unwrap_or_else(|e| panic!("open failed: {e}"))
}

fn open_err(gpio: &GpioConfig, relays: &[RelayConfig]) -> GpioError {
    match CdevBackend::open(gpio, relays) {
        Ok(b) => panic!("open succeeded ({}) but should have been refused", b.describe()),
        Err(e) => e,
    }
}

/// The PL061 data register, read through /dev/mem: the level the controller drives.
fn pl061_level(offset: u32) -> Option<bool> {
    let base = std::env::var("CAMRELAY_TEST_PL061_BASE").ok()?;
    let base =
        u64::from_str_radix(base.trim_start_matches("0x"), 16).expect("CAMRELAY_TEST_PL061_BASE is hex");
    // Address bits 9..2 mask which lines a data read returns: 0x3fc returns all eight.
    let addr = format!("0x{:x}", base + 0x3fc);
    let out = std::process::Command::new("devmem")
        .args([&addr, "8"])
        .output()
        .unwrap_or_else(|e| panic!("devmem {addr}: {e}"));
    assert!(out.status.success(), "devmem {addr} failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let value = u64::from_str_radix(text.trim().trim_start_matches("0x").trim_start_matches("0X"), 16)
        .unwrap_or_else(|e| panic!("devmem printed {text:?}: {e}"));
    Some(value & (1 << offset) != 0)
}

/// Physical level (true = high) of a line the backend holds as relay `index`.
fn level_held(chip: &TestChip, backend: &CdevBackend, index: usize, offset: u32) -> bool {
    if let Some(level) = pl061_level(offset) {
        return level;
    }
    let logical = backend.line_levels().expect("read back")[index];
    logical ^ chip.info(offset).active_low
}

/// Physical level of a line no one holds.
fn level_released(chip: &TestChip, offset: u32) -> bool {
    if let Some(level) = pl061_level(offset) {
        return level;
    }
    let req = Request::builder()
        .on_chip(&chip.path)
        .with_consumer("camrelay-test-reader")
        .with_line(offset)
        .as_is()
        .request()
        .expect("as-is request of a released line");
    req.value(offset).expect("read value") == Value::Active
}

/// Leave `offset` released, driven to physical `high`.
fn prime(chip: &TestChip, offset: u32, high: bool) {
    let req = Request::builder()
        .on_chip(&chip.path)
        .with_consumer("camrelay-test-primer")
        .with_line(offset)
        .as_output(Value::from(high))
        .request()
        .expect("priming request");
    drop(req);
    assert_eq!(level_released(chip, offset), high, "line {offset} keeps its level after release");
}

fn at() -> Instant {
    Instant::from_millis(0)
}

#[test]
#[cfg_attr(
    not(camrelay_gpio),
    ignore = "no usable GPIO chip here; scripts/gpio-vm-test.sh runs it on a real kernel driver"
)]
fn lines_are_requested_as_outputs_with_consumer_camrelay() {
    chip_or_skip!(_guard, chip);
    let (a, b) = (chip.free[0], chip.free[1]);
    let relays = [relay("light", &a.to_string(), None, false), relay("gate", &b.to_string(), None, true)];
    let backend = open(&gpio(Some(&chip.path_str())), &relays);
    for (offset, active_low) in [(a, false), (b, true)] {
        let info = chip.info(offset);
        assert!(info.used, "line {offset} is held");
        assert_eq!(info.consumer, CONSUMER, "line {offset} consumer");
        assert_eq!(info.consumer, "camrelay");
        assert_eq!(info.direction, Direction::Output, "line {offset} direction");
        assert_eq!(info.active_low, active_low, "line {offset} active-low flag");
    }
    assert_eq!(backend.describe(), format!("cdev {} ({}) lines {a},{b}", chip.path_str(), chip.label));
}

#[test]
#[cfg_attr(
    not(camrelay_gpio),
    ignore = "no usable GPIO chip here; scripts/gpio-vm-test.sh runs it on a real kernel driver"
)]
fn lines_start_off_whatever_level_they_were_left_at() {
    chip_or_skip!(_guard, chip);
    let (a, b) = (chip.free[0], chip.free[1]);
    // Leave both lines at their relay's ON level, as a crashed process would.
    prime(&chip, a, true);
    prime(&chip, b, false);
    let relays = [relay("light", &a.to_string(), None, false), relay("gate", &b.to_string(), None, true)];
    let backend = open(&gpio(Some(&chip.path_str())), &relays);
    assert_eq!(backend.line_levels().expect("read back"), vec![false, false], "logical levels");
    assert!(!level_held(&chip, &backend, 0, a), "active-high relay off = physical low");
    assert!(level_held(&chip, &backend, 1, b), "active-low relay off = physical high");
}

#[test]
#[cfg_attr(
    not(camrelay_gpio),
    ignore = "no usable GPIO chip here; scripts/gpio-vm-test.sh runs it on a real kernel driver"
)]
fn an_active_low_relay_drives_its_line_low_when_on() {
    chip_or_skip!(_guard, chip);
    let (a, b) = (chip.free[0], chip.free[1]);
    let relays = [relay("light", &a.to_string(), None, false), relay("gate", &b.to_string(), None, true)];
    let mut backend = open(&gpio(Some(&chip.path_str())), &relays);
    backend.set(1, true, at(), "test").expect("gate on");
    assert_eq!(backend.line_levels().expect("read back"), vec![false, true]);
    assert!(!level_held(&chip, &backend, 1, b), "active-low relay on = physical low");
    assert!(!level_held(&chip, &backend, 0, a), "the other relay stays off (low)");
    backend.set(0, true, at(), "test").expect("light on");
    assert!(level_held(&chip, &backend, 0, a), "active-high relay on = physical high");
    backend.set(1, false, at(), "test").expect("gate off");
    assert!(level_held(&chip, &backend, 1, b), "active-low relay off = physical high");
    assert!(level_held(&chip, &backend, 0, a), "the light stays on");
}

#[test]
#[cfg_attr(
    not(camrelay_gpio),
    ignore = "no usable GPIO chip here; scripts/gpio-vm-test.sh runs it on a real kernel driver"
)]
fn dropping_the_backend_drives_every_line_off_then_releases_it() {
    chip_or_skip!(_guard, chip);
    let (a, b) = (chip.free[0], chip.free[1]);
    let relays = [relay("light", &a.to_string(), None, false), relay("gate", &b.to_string(), None, true)];
    let mut backend = open(&gpio(Some(&chip.path_str())), &relays);
    backend.set(0, true, at(), "test").expect("light on");
    backend.set(1, true, at(), "test").expect("gate on");
    drop(backend);
    assert!(!chip.info(a).used && !chip.info(b).used, "lines released");
    assert!(!level_released(&chip, a), "active-high line left low (off)");
    assert!(level_released(&chip, b), "active-low line left high (off)");
}

#[test]
#[cfg_attr(
    not(camrelay_gpio),
    ignore = "no usable GPIO chip here; scripts/gpio-vm-test.sh runs it on a real kernel driver"
)]
fn two_relays_on_one_line_are_refused() {
    chip_or_skip!(_guard, chip);
    let a = chip.free[0];
    // Same line, once by path and once by label: only the backend can see that.
    let relays = [
        relay("light", &a.to_string(), Some(&chip.path_str()), false),
        relay("gate", &a.to_string(), Some(&chip.label), false),
    ];
    match open_err(&gpio(None), &relays) {
        GpioError::DuplicateLine { first, second, line, chip: c, .. } => {
            assert_eq!((first.as_str(), second.as_str()), ("light", "gate"));
            assert_eq!(line, a.to_string());
            assert_eq!(c, format!("{} ({})", chip.path_str(), chip.label));
        }
        other => panic!("expected DuplicateLine, got {other:?}: {other}"),
    }
    assert!(!chip.info(a).used, "nothing left requested");
}

#[test]
#[cfg_attr(
    not(camrelay_gpio),
    ignore = "no usable GPIO chip here; scripts/gpio-vm-test.sh runs it on a real kernel driver"
)]
fn a_line_held_by_another_consumer_is_reported_busy_with_its_name() {
    chip_or_skip!(_guard, chip);
    let (a, b) = (chip.free[0], chip.free[1]);
    let _other = Request::builder()
        .on_chip(&chip.path)
        .with_consumer("other-app")
        .with_line(b)
        .as_input()
        .request()
        .expect("other-app takes the line");
    let relays = [relay("light", &a.to_string(), None, false), relay("gate", &b.to_string(), None, true)];
    let err = open_err(&gpio(Some(&chip.name)), &relays);
    let message = err.to_string();
    match err {
        GpioError::LineBusy { relay, line, consumer, .. } => {
            assert_eq!(relay, "gate");
            assert_eq!(line, b);
            assert_eq!(consumer, "other-app");
        }
        other => panic!("expected LineBusy, got {other:?}: {other}"),
    }
    assert!(message.contains("held by consumer \"other-app\""), "message: {message}");
    assert!(!chip.info(a).used, "the free line was not left requested");
    assert_eq!(chip.info(b).consumer, "other-app", "the other app keeps its line");
}

#[test]
#[cfg_attr(
    not(camrelay_gpio),
    ignore = "no usable GPIO chip here; scripts/gpio-vm-test.sh runs it on a real kernel driver"
)]
fn a_chip_that_does_not_exist_is_reported_with_the_chips_that_do() {
    chip_or_skip!(_guard, chip);
    let relays = [relay("light", &chip.free[0].to_string(), None, false)];
    let err = open_err(&gpio(Some("/dev/gpiochip99")), &relays);
    let message = err.to_string();
    match err {
        GpioError::ChipNotFound { chip: missing, available } => {
            assert_eq!(missing, "/dev/gpiochip99");
            let expected = format!("{} (label {}, {} lines)", chip.path_str(), chip.label, chip.num_lines);
            assert!(available.contains(&expected), "{expected:?} in {available:?}");
        }
        other => panic!("expected ChipNotFound, got {other:?}: {other}"),
    }
    assert!(message.contains(&chip.label), "message lists the chip: {message}");
    // A label no chip has is refused the same way.
    assert!(matches!(open_err(&gpio(Some("no-such-label")), &relays), GpioError::ChipNotFound { .. }));
}

#[test]
#[cfg_attr(
    not(camrelay_gpio),
    ignore = "no usable GPIO chip here; scripts/gpio-vm-test.sh runs it on a real kernel driver"
)]
fn chips_are_found_by_label_and_by_name() {
    chip_or_skip!(_guard, chip);
    let (a, b) = (chip.free[0], chip.free[1]);
    // [gpio] chip by label for one relay, the relay's own chip by name for the other.
    let relays =
        [relay("light", &a.to_string(), None, false), relay("gate", &b.to_string(), Some(&chip.name), false)];
    let mut backend = open(&gpio(Some(&chip.label)), &relays);
    assert_eq!(chip.info(a).consumer, "camrelay");
    assert_eq!(chip.info(b).consumer, "camrelay");
    backend.set(0, true, at(), "test").expect("light on");
    assert!(level_held(&chip, &backend, 0, a), "the label found the right chip: line {a} went high");
    assert!(backend.describe().contains(&chip.path_str()), "{}", backend.describe());
}

#[test]
#[cfg_attr(
    not(camrelay_gpio),
    ignore = "no usable GPIO chip here; scripts/gpio-vm-test.sh runs it on a real kernel driver"
)]
fn lines_are_found_by_name_and_a_missing_name_is_line_not_found() {
    chip_or_skip!(_guard, chip);
    let named = chip.free.iter().copied().find(|&o| !chip.info(o).name.is_empty());
    if let Some(offset) = named {
        // No chip given: the name is searched across all chips.
        let name = chip.info(offset).name;
        let backend = open(&gpio(None), &[relay("light", &format!("{name:?}"), None, false)]);
        assert_eq!(chip.info(offset).consumer, "camrelay", "line {name} found at offset {offset}");
        drop(backend);
    } else {
        println!("note: {} has no named lines; only the missing-name case runs", chip.path_str());
    }
    let err = open_err(&gpio(None), &[relay("light", "\"NO_SUCH_LINE\"", None, false)]);
    match &err {
        GpioError::LineNotFound { relay, line, searched, .. } => {
            assert_eq!(relay, "light");
            assert_eq!(line, "NO_SUCH_LINE");
            assert!(searched.contains(&chip.path_str()), "searched: {searched}");
        }
        other => panic!("expected LineNotFound, got {other:?}: {other}"),
    }
    // Named on one chip: only that chip is searched.
    match open_err(&gpio(Some(&chip.label)), &[relay("light", "\"NO_SUCH_LINE\"", None, false)]) {
        GpioError::LineNotFound { searched, .. } => {
            assert_eq!(searched, format!("searched {} ({})", chip.path_str(), chip.label))
        }
        other => panic!("expected LineNotFound, got {other:?}: {other}"),
    }
}

#[test]
#[cfg_attr(
    not(camrelay_gpio),
    ignore = "no usable GPIO chip here; scripts/gpio-vm-test.sh runs it on a real kernel driver"
)]
fn a_line_past_the_end_of_the_chip_is_out_of_range_with_the_line_count() {
    chip_or_skip!(_guard, chip);
    let relays = [relay("light", &chip.num_lines.to_string(), None, false)];
    let err = open_err(&gpio(Some(&chip.path_str())), &relays);
    let message = err.to_string();
    match err {
        GpioError::LineOutOfRange { relay, line, lines, .. } => {
            assert_eq!(relay, "light");
            assert_eq!(line, chip.num_lines);
            assert_eq!(lines, chip.num_lines);
        }
        other => panic!("expected LineOutOfRange, got {other:?}: {other}"),
    }
    assert!(message.contains(&format!("has lines 0..{}", chip.num_lines)), "{message}");
}

#[test]
#[cfg_attr(
    not(camrelay_gpio),
    ignore = "no usable GPIO chip here; scripts/gpio-vm-test.sh runs it on a real kernel driver"
)]
fn the_uapi_v1_fallback_requests_and_drives_lines_the_same_way() {
    chip_or_skip!(_guard, chip);
    let (a, b) = (chip.free[0], chip.free[1]);
    prime(&chip, b, false);
    let relays = [relay("light", &a.to_string(), None, false), relay("gate", &b.to_string(), None, true)];
    let mut backend = CdevBackend::open_with_uapi(&gpio(Some(&chip.path_str())), &relays, Uapi::V1)
        .unwrap_or_else(|e| panic!("v1 open failed: {e}"));
    assert_eq!(chip.info(a).consumer, "camrelay");
    assert_eq!(chip.info(b).consumer, "camrelay");
    assert!(level_held(&chip, &backend, 1, b), "active-low relay starts off (high) over v1");
    backend.set(1, true, at(), "test").expect("gate on");
    backend.set(0, true, at(), "test").expect("light on");
    assert_eq!(backend.line_levels().expect("read back"), vec![true, true]);
    assert!(!level_held(&chip, &backend, 1, b), "active-low relay on = low over v1");
    assert!(level_held(&chip, &backend, 0, a), "active-high relay on = high over v1");
    backend.set(1, false, at(), "test").expect("gate off");
    assert!(level_held(&chip, &backend, 1, b), "gate off = high over v1");
}

/// The one case that needs no chip: on a machine without GPIO the error says so.
#[test]
#[cfg_attr(camrelay_gpio, ignore = "this machine has GPIO chips")]
fn without_any_chip_open_reports_that_none_exist() {
    let _guard = LINES.lock().unwrap_or_else(|e| e.into_inner());
    if !gpiocdev::chip::chips().unwrap_or_default().is_empty() {
        println!("not applicable: this machine has GPIO chips (the other tests cover it)");
        return;
    }
    let relays = [relay("light", "17", None, true)];
    let err = open_err(&gpio(None), &relays);
    assert!(
        matches!(&err, GpioError::ChipNotFound { chip, available } if chip == "gpiochip0" && available.is_empty()),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "GPIO chip \"gpiochip0\" not found; chips on this system: none (is the GPIO driver loaded?). \
         Set [gpio] chip (or the relay's chip) to one of them"
    );
}

/// Run unprivileged (the VM runs it as uid 1000 with CAMRELAY_TEST_UNPRIVILEGED=1):
/// a chip the user may not open is refused with the `gpio` group hint.
#[test]
#[ignore = "run unprivileged with CAMRELAY_TEST_UNPRIVILEGED=1 (scripts/gpio-vm-test.sh does)"]
fn without_permission_the_error_names_the_gpio_group_and_udev_rule() {
    let _guard = LINES.lock().unwrap_or_else(|e| e.into_inner());
    if std::env::var_os("CAMRELAY_TEST_UNPRIVILEGED").is_none() {
        println!("not applicable: run unprivileged with CAMRELAY_TEST_UNPRIVILEGED=1 (the VM does)");
        return;
    }
    let paths = gpiocdev::chip::chips().unwrap_or_default();
    let Some(path) = paths.first() else {
        println!("{SKIP}");
        return;
    };
    let path = path.display().to_string();
    let relays = [relay("light", "0", None, false)];
    for chip in [path.as_str(), "9030000.pl061"] {
        let err = open_err(&gpio(Some(chip)), &relays);
        let message = err.to_string();
        match err {
            GpioError::PermissionDenied { path: denied } => assert_eq!(denied, path, "chip {chip}"),
            other => panic!("chip {chip}: expected PermissionDenied, got {other:?}: {other}"),
        }
        assert!(message.contains("`gpio` group") && message.contains("udev rule"), "{message}");
    }
}
