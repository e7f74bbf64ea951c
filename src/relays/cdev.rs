//! Linux GPIO character-device backend (`/dev/gpiochipN`) through `gpiocdev`.
//!
//! Owns requesting every configured line once, as an output, initially off,
//! with consumer label `camrelay`. It must never request a line "as is" or on.

use super::{Backend, GpioError};
use crate::clock::Instant;
use crate::config::{GpioConfig, RelayConfig};

/// All relay lines, requested from the kernel.
pub struct CdevBackend {
    _private: (),
}

impl CdevBackend {
    /// Request every relay's line as an output, initially off.
    pub fn open(gpio: &GpioConfig, relays: &[RelayConfig]) -> Result<CdevBackend, GpioError> {
        let _ = (gpio, relays);
        Err(GpioError::Unavailable { backend: "cdev", hint: "not built yet".into() })
    }
}

impl Backend for CdevBackend {
    fn set(&mut self, index: usize, on: bool, at: Instant, reason: &str) -> Result<(), GpioError> {
        let _ = (index, on, at, reason);
        Err(GpioError::Unavailable { backend: "cdev", hint: "not built yet".into() })
    }

    fn describe(&self) -> String {
        "cdev".into()
    }
}
