//! Fuzz target: any text as a rules file. `parse` must answer with a config or
//! a located error, never panic; a config it accepts must describe itself
//! (what `check` prints), build an engine, and drive a controller through
//! every rule's action late in a long run, and on through its next
//! deadlines (flashes, pulse ends, cuts): durations are bounded, so no
//! arithmetic on them can overflow. Every error must point inside the text.
//! `fuzz/rules.dict` holds duration and number tokens (huge, zero, every
//! unit) so the fuzzer reaches this class of input quickly.
#![no_main]

use camrelay::clock::{Instant, Now};
use camrelay::command::{Action, Command, Why};
use camrelay::config::{parse, ActionKind, ConfigError};
use camrelay::relays::{Controller, MockBackend};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match parse(text, "fuzz.toml".as_ref()) {
        Ok(config) => {
            let _ = camrelay::config::summary(&config, "fuzz.toml".as_ref());
            let mut engine = camrelay::engine::Engine::new(&config);
            // Ten years into a run.
            let late = Instant::from_millis(10 * 365 * 86_400_000);
            let now = Now { at: late, wall: chrono::DateTime::UNIX_EPOCH };
            let _ = engine.tick(now);
            let _ = engine.next_deadline();
            let Ok(mock) = MockBackend::new(&config.relays, None) else { return };
            let Ok(mut ctl) = Controller::new(&config.relays, Box::new(mock), late) else { return };
            for rule in &config.rules {
                let action = match rule.then.action {
                    ActionKind::Hold { hold } => Action::Hold { until: late + hold },
                    ActionKind::Pulse { duration, retrigger } => Action::Pulse { duration, retrigger },
                    ActionKind::Blink { on, off, duration, retrigger } => {
                        Action::Blink { on, off, duration, retrigger }
                    }
                    ActionKind::On => Action::On,
                    ActionKind::Off => Action::Off,
                    ActionKind::Toggle => Action::Toggle,
                };
                let why =
                    Why { rule: rule.name.clone(), event: "fuzz".into(), target: Some(1), ..Why::default() };
                let requires = rule.when.relays.clone();
                ctl.apply(&Command { relay: rule.then.relay.clone(), action, why, requires }, late);
            }
            // A few deadlines on: blinks flash, pulses end, max_on cuts.
            for _ in 0..16 {
                let Some(d) = ctl.next_deadline() else { break };
                ctl.tick(d);
            }
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
