//! Property tests of the relay controller over random command sequences and
//! random tick times, checked against the mock backend's timeline: the
//! physical line changes, not the controller's own view of itself.
//!
//! - two relays of an interlock group are never on at the same instant, and
//!   one switches on only `interlock_wait` after the other's last switch-off;
//! - no on-interval is longer than `max_on`;
//! - no switch-on comes sooner than `min_off` after the relay's last switch-off;
//! - no relay switches on more than `switch_limit` times in any 60 s, even
//!   under a flood of commands a few milliseconds apart;
//! - with injected write failures, the interlock still holds on the lines.

use camrelay::clock::Instant;
use camrelay::command::{Action, Command, Why};
use camrelay::config::RelayConfig;
use camrelay::relays::{Controller, LineChange, Manual, MockBackend, MockRecord};
use camrelay::words::Retrigger;
use proptest::prelude::*;
use std::path::Path;
use std::time::Duration;

const NAMES: [&str; 3] = ["gate_open", "gate_close", "light"];

#[derive(Debug, Clone)]
struct Limits {
    max_on: u64,
    min_off: [u64; 3],
    wait: [u64; 2],
    /// `None`: `switch_limit = "unlimited"`.
    switch_limit: [Option<u32>; 3],
}

#[derive(Debug, Clone)]
enum Op {
    Rule { relay: usize, rule: usize, action: Act },
    Manual { relay: usize, req: Manual },
    Tick,
    Failing { relay: usize, failing: bool },
}

#[derive(Debug, Clone, Copy)]
enum Act {
    Hold(u64),
    Pulse(u64, Retrigger),
    On,
    Off,
    Toggle,
}

fn limits() -> impl Strategy<Value = Limits> {
    (
        1_000u64..10_000,
        prop::array::uniform3(0u64..3_000),
        prop::array::uniform2(0u64..2_000),
        prop::array::uniform3(prop::option::weighted(0.9, 1u32..12)),
    )
        .prop_map(|(max_on, min_off, wait, switch_limit)| Limits { max_on, min_off, wait, switch_limit })
}

/// What a user gets without writing `min_off` or `switch_limit`.
fn default_limits() -> impl Strategy<Value = Limits> {
    (100u64..5_000).prop_map(|max_on| Limits {
        max_on,
        min_off: [1_000; 3],
        wait: [0; 2],
        switch_limit: [Some(20); 3],
    })
}

fn act() -> impl Strategy<Value = Act> {
    prop_oneof![
        3 => (1u64..8_000).prop_map(Act::Hold),
        2 => (1u64..6_000, prop_oneof![Just(Retrigger::Single), Just(Retrigger::Restart)])
            .prop_map(|(d, r)| Act::Pulse(d, r)),
        1 => Just(Act::On),
        1 => Just(Act::Off),
        1 => Just(Act::Toggle),
    ]
}

fn manual() -> impl Strategy<Value = Manual> {
    prop_oneof![
        Just(Manual::On),
        Just(Manual::Off),
        (1u64..5_000).prop_map(|d| Manual::Pulse(Duration::from_millis(d))),
        Just(Manual::Release),
    ]
}

fn op(faults: bool) -> BoxedStrategy<Op> {
    let base = prop_oneof![
        6 => (0usize..3, 0usize..3, act()).prop_map(|(relay, rule, action)| Op::Rule { relay, rule, action }),
        2 => (0usize..3, manual()).prop_map(|(relay, req)| Op::Manual { relay, req }),
        2 => Just(Op::Tick),
    ];
    if faults {
        prop_oneof![9 => base, 1 => (0usize..3, any::<bool>()).prop_map(|(relay, failing)| Op::Failing { relay, failing })]
            .boxed()
    } else {
        base.boxed()
    }
}

fn config(l: &Limits) -> Vec<RelayConfig> {
    let text = format!(
        r#"
[gpio]
backend = "mock"

[[relay]]
name = "gate_open"
line = 22
max_on = "{max_on}ms"
min_off = "{m0}ms"
switch_limit = {s0}
interlock = "gate"
interlock_wait = "{w0}ms"

[[relay]]
name = "gate_close"
line = 23
active_low = true
max_on = "{max_on}ms"
min_off = "{m1}ms"
switch_limit = {s1}
interlock = "gate"
interlock_wait = "{w1}ms"

[[relay]]
name = "light"
line = 24
max_on = "{max_on}ms"
min_off = "{m2}ms"
switch_limit = {s2}
"#,
        max_on = l.max_on,
        m0 = l.min_off[0],
        m1 = l.min_off[1],
        m2 = l.min_off[2],
        w0 = l.wait[0],
        w1 = l.wait[1],
        s0 = limit_text(l.switch_limit[0]),
        s1 = limit_text(l.switch_limit[1]),
        s2 = limit_text(l.switch_limit[2]),
    );
    camrelay::config::parse(&text, Path::new("prop.toml")).expect("property config parses").relays
}

fn limit_text(limit: Option<u32>) -> String {
    limit.map_or_else(|| "\"unlimited\"".to_string(), |n| n.to_string())
}

/// Process every deadline up to `t` the way the runtime does, then tick at `t`.
fn advance(ctl: &mut Controller, now: &mut u64, t: u64) -> Result<(), TestCaseError> {
    for _ in 0..100_000 {
        match ctl.next_deadline() {
            Some(d) if d.as_millis() <= t => {
                prop_assert!(d.as_millis() >= *now, "deadline {d} is before the last tick at {now} ms");
                *now = d.as_millis();
                ctl.tick(d);
            }
            _ => {
                *now = t;
                ctl.tick(Instant::from_millis(t));
                return Ok(());
            }
        }
    }
    Err(TestCaseError::fail("deadlines never settle"))
}

/// Run a sequence; return the whole timeline (startup entries included).
fn run(l: &Limits, ops: &[(u64, Op)]) -> Result<Vec<LineChange>, TestCaseError> {
    let cfg = config(l);
    let mock = MockBackend::new(&cfg, None).expect("mock");
    let rec: MockRecord = mock.record();
    let mut ctl = Controller::new(&cfg, Box::new(mock), Instant::ZERO).expect("controller");
    let mut now = 0u64;
    for (dt, op) in ops {
        let t = now + dt;
        advance(&mut ctl, &mut now, t)?;
        let at = Instant::from_millis(t);
        match op {
            Op::Rule { relay, rule, action } => {
                let action = match *action {
                    Act::Hold(d) => Action::Hold { until: Instant::from_millis(t + d) },
                    Act::Pulse(d, retrigger) => {
                        Action::Pulse { duration: Duration::from_millis(d), retrigger }
                    }
                    Act::On => Action::On,
                    Act::Off => Action::Off,
                    Act::Toggle => Action::Toggle,
                };
                let why = Why { rule: format!("rule{rule}"), event: "presence".into(), ..Why::default() };
                ctl.apply(&Command { relay: NAMES[*relay].into(), action, why, requires: Vec::new() }, at);
            }
            Op::Manual { relay, req } => ctl.manual(NAMES[*relay], *req, at).expect("known relay"),
            Op::Tick => ctl.tick(at),
            Op::Failing { relay, failing } => rec.set_failing(*relay, *failing),
        }
    }
    // Let every claim, pulse and latch run out (latches end at max_on), then shut down.
    let end = now + 60_000;
    advance(&mut ctl, &mut now, end)?;
    drop(ctl);
    Ok(rec.changes())
}

/// Walk the physical timeline and check the limits that must hold on the lines.
fn check(l: &Limits, timeline: &[LineChange], check_timing: bool) -> Result<(), TestCaseError> {
    let group = [Some(0usize), Some(0), None];
    let mut on = [false; 3];
    let mut on_since = [0u64; 3];
    // The startup drive-off counts as each relay's last switch-off.
    let mut last_off = [0u64; 3];
    let mut ons: [Vec<u64>; 3] = Default::default();
    for c in timeline {
        let i = c.index;
        if c.on {
            prop_assert!(!on[i], "{} switched on twice", c.relay);
            for j in 0..3 {
                if j != i && group[i].is_some() && group[j] == group[i] {
                    prop_assert!(!on[j], "{} on at {} ms while {} is on", c.relay, c.ms, NAMES[j]);
                    if check_timing {
                        prop_assert!(
                            c.ms >= last_off[j] + l.wait[i],
                            "{} on at {} ms, {} ms after {} went off (interlock_wait {} ms)",
                            c.relay,
                            c.ms,
                            c.ms - last_off[j],
                            NAMES[j],
                            l.wait[i]
                        );
                    }
                }
            }
            if check_timing {
                prop_assert!(
                    c.ms >= last_off[i] + l.min_off[i],
                    "{} on at {} ms, only {} ms after its switch-off (min_off {} ms)",
                    c.relay,
                    c.ms,
                    c.ms - last_off[i],
                    l.min_off[i]
                );
            }
            if let (true, Some(limit)) = (check_timing, l.switch_limit[i]) {
                let in_window = ons[i].iter().filter(|&&t| t + 60_000 > c.ms).count();
                prop_assert!(
                    in_window < limit as usize,
                    "{} on at {} ms: the {}th switch-on within 60 s (switch_limit {limit})",
                    c.relay,
                    c.ms,
                    in_window + 1
                );
            }
            ons[i].push(c.ms);
            on[i] = true;
            on_since[i] = c.ms;
        } else if on[i] {
            if check_timing {
                prop_assert!(
                    c.ms - on_since[i] <= l.max_on,
                    "{} on for {} ms (max_on {} ms)",
                    c.relay,
                    c.ms - on_since[i],
                    l.max_on
                );
            }
            on[i] = false;
            last_off[i] = c.ms;
        }
    }
    if check_timing {
        prop_assert!(on.iter().all(|o| !o), "a relay ended on: {on:?}");
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn interlock_max_on_and_min_off_hold_on_every_timeline(
        l in limits(),
        ops in prop::collection::vec((0u64..3_000, op(false)), 1..80),
    ) {
        let timeline = run(&l, &ops)?;
        check(&l, &timeline, true)?;
    }

    /// Finding 1 of the hostile-LAN issue: a flood of commands (a fresh
    /// target per post, a toggle, an on/off pair, pulses back to back) a few
    /// milliseconds apart, with the limits a user gets by default.
    #[test]
    fn chatter_under_a_detection_flood_is_bounded_by_min_off_and_switch_limit(
        l in default_limits(),
        ops in prop::collection::vec((0u64..250, op(false)), 300..900),
    ) {
        let timeline = run(&l, &ops)?;
        check(&l, &timeline, true)?;
    }

    #[test]
    fn interlock_holds_on_the_lines_even_when_writes_fail(
        l in limits(),
        ops in prop::collection::vec((0u64..3_000, op(true)), 1..80),
    ) {
        let timeline = run(&l, &ops)?;
        check(&l, &timeline, false)?;
    }
}

/// The property test's checker must reject a timeline that breaks the interlock.
#[test]
fn the_checker_rejects_overlapping_interlocked_relays() {
    let l = Limits { max_on: 5_000, min_off: [0; 3], wait: [0; 2], switch_limit: [None, None, Some(2)] };
    let change = |index: usize, on: bool, ms: u64| LineChange {
        relay: NAMES[index].into(),
        line: serde_json::Value::from(index),
        on,
        level: u8::from(on),
        ms,
        reason: String::new(),
        index,
    };
    let overlap = [change(0, true, 10), change(1, true, 20), change(0, false, 30), change(1, false, 40)];
    assert!(check(&l, &overlap, false).is_err());
    let too_long = [change(2, true, 10), change(2, false, 5_011)];
    assert!(check(&l, &too_long, true).is_err());
    let chatter = [
        change(2, true, 10),
        change(2, false, 20),
        change(2, true, 30),
        change(2, false, 40),
        change(2, true, 59_000),
    ];
    assert!(check(&l, &chatter, true).is_err(), "a third switch-on within 60 s with switch_limit 2");
    let fine = [change(0, true, 10), change(0, false, 30), change(1, true, 30), change(1, false, 40)];
    assert!(check(&l, &fine, true).is_ok());
}
