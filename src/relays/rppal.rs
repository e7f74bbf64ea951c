//! Raspberry Pi memory-mapped GPIO backend through `rppal` (cargo feature `rppal`).
//!
//! For Pi users on kernels whose GPIO character device is unusable. Owns one
//! output pin per relay, addressed by BCM GPIO number (`line = 17` or
//! `line = "GPIO17"`; `chip` is ignored). It must never drive a pin to its on
//! level at open: each pin becomes an output already at its off level.
//! `rppal`'s upstream was retired in July 2025; `cdev` is the default.

use super::{Backend, GpioError};
use crate::clock::Instant;
use crate::config::{LineRef, RelayConfig};
use ::rppal::gpio::{Error as RppalError, Gpio, OutputPin};

/// One output pin per relay.
pub struct RppalBackend {
    pins: Vec<(OutputPin, bool)>,
    numbers: Vec<u8>,
}

impl RppalBackend {
    /// Take every relay's pin as an output at its off level.
    pub fn open(relays: &[RelayConfig]) -> Result<RppalBackend, GpioError> {
        let gpio = Gpio::new().map_err(|e| map_err(e, "the Raspberry Pi GPIO"))?;
        let mut pins = Vec::with_capacity(relays.len());
        let mut numbers = Vec::with_capacity(relays.len());
        for r in relays {
            let number = bcm_number(r)?;
            if let Some(first) = numbers.iter().position(|&n| n == number) {
                return Err(GpioError::DuplicateLine {
                    what: "relay",
                    first: relays[first].name.clone(),
                    second: r.name.clone(),
                    line: format!("GPIO{number}"),
                    chip: "the Raspberry Pi GPIO (rppal)".into(),
                });
            }
            let pin = gpio.get(number).map_err(|e| match e {
                RppalError::PinNotAvailable(n) => GpioError::LineOutOfRange {
                    what: "relay",
                    relay: r.name.clone(),
                    line: u32::from(n),
                    chip: "the Raspberry Pi GPIO (rppal)".into(),
                    lines: 54,
                },
                other => map_err(other, &format!("relay {:?} GPIO{number}", r.name)),
            })?;
            let mut out = if r.active_low { pin.into_output_high() } else { pin.into_output_low() };
            // Keep driving the off level after exit instead of falling back to an input
            // (a floating input may read as "on" to an active-high board).
            out.set_reset_on_drop(false);
            pins.push((out, r.active_low));
            numbers.push(number);
        }
        Ok(RppalBackend { pins, numbers })
    }
}

fn bcm_number(r: &RelayConfig) -> Result<u8, GpioError> {
    let parsed = match &r.line {
        LineRef::Offset(n) => u8::try_from(*n).ok(),
        LineRef::Name(name) => {
            let digits = name.strip_prefix("GPIO").or_else(|| name.strip_prefix("BCM")).unwrap_or(name);
            digits.parse::<u8>().ok()
        }
    };
    parsed.ok_or_else(|| GpioError::LineNotFound {
        what: "relay",
        relay: r.name.clone(),
        line: r.line.to_string(),
        searched: "rppal takes BCM numbers: 17 or \"GPIO17\"".into(),
    })
}

fn map_err(e: RppalError, what: &str) -> GpioError {
    match e {
        RppalError::PermissionDenied(path) => GpioError::PermissionDenied { path },
        other => GpioError::Io { what: what.to_string(), message: other.to_string() },
    }
}

impl Backend for RppalBackend {
    fn set(&mut self, index: usize, on: bool, _at: Instant, _reason: &str) -> Result<(), GpioError> {
        let Some((pin, active_low)) = self.pins.get_mut(index) else {
            return Err(GpioError::Io {
                what: format!("rppal relay #{index}"),
                message: "no such relay".into(),
            });
        };
        if on != *active_low {
            pin.set_high();
        } else {
            pin.set_low();
        }
        Ok(())
    }

    fn describe(&self) -> String {
        let lines: Vec<String> = self.numbers.iter().map(|n| format!("GPIO{n}")).collect();
        format!("rppal {}", lines.join(","))
    }
}
