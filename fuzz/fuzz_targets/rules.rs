//! Fuzz target: any text as a rules file. `parse` must answer with a config or
//! a located error, never panic; a config it accepts must build an engine and
//! a summary, and every error must point inside the text.
#![no_main]

use camrelay::config::{parse, ConfigError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match parse(text, "fuzz.toml".as_ref()) {
        Ok(config) => {
            let _ = camrelay::engine::Engine::new(&config);
        }
        Err(e) => {
            let message = e.to_string();
            assert!(!message.is_empty());
            if let ConfigError::At { line, column, .. } = e {
                assert!(message.starts_with("fuzz.toml:"), "{message}");
                assert!(line >= 1 && line <= text.lines().count().max(1) + 1, "line {line} outside the text");
                assert!(column >= 1, "column {column}");
            }
        }
    }
});
