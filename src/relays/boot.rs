//! Relays off from power-on: the Raspberry Pi firmware's `gpio=` lines.
//!
//! Between power-on and camrelay's start a Pi's lines float or take their
//! firmware defaults, so a relay board can click at boot. The firmware reads
//! `/boot/firmware/config.txt` long before Linux, and `gpio=17=op,dh` makes
//! BCM 17 an output driven high from then on. This module turns the rules'
//! relays into those lines: the off level of each (`dh` for active-low
//! relays, `dl` for active-high), by the BCM number the rules use.
//!
//! Pure: configuration in, text out. It never touches a line or a file.

use crate::config::{GpioConfig, LineRef, RelayConfig};

/// The highest BCM number the firmware's `gpio=` takes (bank 0 and 1 of the
/// BCM283x/2711; the Pi 5's header is BCM 0–27 too).
pub const MAX_BCM: u32 = 53;

/// One relay's line for `config.txt`, or why it has none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootLine {
    /// `gpio=BCM=op,dh` or `op,dl`.
    Set { relay: String, bcm: u32, active_low: bool },
    /// The BCM number cannot be told from the rules (a line name that is not
    /// `GPIOn`, or a chip that is not the Pi's header).
    Unknown { relay: String, why: String },
}

impl BootLine {
    /// The text for `config.txt`: the line and a comment naming the relay.
    pub fn text(&self) -> String {
        match self {
            BootLine::Set { relay, bcm, active_low } => {
                let (level, word) = if *active_low {
                    ("dh", "active-low: off is high")
                } else {
                    ("dl", "active-high: off is low")
                };
                format!("gpio={bcm}=op,{level}  # {relay} ({word})")
            }
            BootLine::Unknown { relay, why } => format!("# {relay}: no gpio= line: {why}"),
        }
    }
}

/// Chips that are the Pi's 40-pin header: offsets there are BCM numbers.
fn is_header_chip(chip: Option<&str>) -> bool {
    match chip.map(|c| c.trim_start_matches("/dev/")) {
        // No chip: offsets are on gpiochip0, the header on every Pi since
        // kernel 6.6.45 (the Pi 5's RP1 before that was gpiochip4).
        None => true,
        Some(c) => {
            matches!(c, "gpiochip0" | "gpiochip4" | "pinctrl-bcm2711" | "pinctrl-bcm2835" | "pinctrl-rp1")
        }
    }
}

/// Each relay's firmware line, in file order.
pub fn boot_lines(gpio: &GpioConfig, relays: &[RelayConfig]) -> Vec<BootLine> {
    relays
        .iter()
        .map(|r| {
            let chip = r.chip.as_deref().or(gpio.chip.as_deref());
            let bcm = match &r.line {
                LineRef::Name(name) => match name.strip_prefix("GPIO").and_then(|n| n.parse::<u32>().ok()) {
                    Some(n) => Ok(n),
                    None => Err(format!("line {name:?} is not named GPIOn; find its BCM number with gpioinfo")),
                },
                LineRef::Offset(o) if is_header_chip(chip) => Ok(*o),
                LineRef::Offset(o) => Err(format!(
                    "offset {o} on chip {:?}, which is not the Pi's header (an expander keeps its own power-on state)",
                    chip.unwrap_or_default()
                )),
            };
            match bcm {
                Ok(bcm) if bcm <= MAX_BCM => BootLine::Set { relay: r.name.clone(), bcm, active_low: r.active_low },
                Ok(bcm) => BootLine::Unknown { relay: r.name.clone(), why: format!("BCM {bcm} is above {MAX_BCM}") },
                Err(why) => BootLine::Unknown { relay: r.name.clone(), why },
            }
        })
        .collect()
}

/// The whole block to paste into `/boot/firmware/config.txt`.
pub fn config_txt(gpio: &GpioConfig, relays: &[RelayConfig]) -> String {
    let mut out = String::from(
        "# camrelay: every relay's line at its off level from power-on, before Linux and camrelay start.\n\
         # Add to /boot/firmware/config.txt (under [all]) and reboot.\n",
    );
    for line in boot_lines(gpio, relays) {
        out.push_str(&line.text());
        out.push('\n');
    }
    out
}
