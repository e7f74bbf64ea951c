//! The relay controller on a virtual clock: every safety limit and every
//! command, asserted as exact transitions in the mock backend's timeline.

use camrelay::clock::Instant;
use camrelay::command::{Action, Command, Why};
use camrelay::config::RelayConfig;
use camrelay::relays::{
    ControlError, Controller, Manual, ManualOverride, MockBackend, MockRecord, PendingSwitch,
    ReconfigureError,
};
use camrelay::words::Retrigger;
use std::path::Path;
use std::time::Duration;

fn relays(toml: &str) -> Vec<RelayConfig> {
    let text = format!("[gpio]\nbackend = \"mock\"\n{toml}");
    match camrelay::config::parse(&text, Path::new("test.toml")) {
        Ok(cfg) => cfg.relays,
        Err(e) => panic!("test config refused: {e}"),
    }
}

fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

struct Rig {
    ctl: Controller,
    rec: MockRecord,
    startup: usize,
}

fn rig(toml: &str) -> Rig {
    let cfg = relays(toml);
    let mock = MockBackend::new(&cfg, None).expect("mock opens");
    let rec = mock.record();
    let ctl = Controller::new(&cfg, Box::new(mock), Instant::ZERO).expect("controller starts");
    let startup = rec.len();
    assert_eq!(startup, cfg.len(), "one startup entry per relay");
    Rig { ctl, rec, startup }
}

impl Rig {
    /// Transitions after startup as (ms, relay, on, reason).
    fn timeline(&self) -> Vec<(u64, String, bool, String)> {
        self.rec.changes_since(self.startup).into_iter().map(|c| (c.ms, c.relay, c.on, c.reason)).collect()
    }

    /// (ms, relay, on) only.
    fn switches(&self) -> Vec<(u64, String, bool)> {
        self.timeline().into_iter().map(|(ms, r, on, _)| (ms, r, on)).collect()
    }

    /// What the runtime does: sleep until each deadline up to `t`, tick.
    fn run_until(&mut self, t: u64) {
        for _ in 0..10_000 {
            match self.ctl.next_deadline() {
                Some(d) if d <= at(t) => self.ctl.tick(d),
                _ => {
                    self.ctl.tick(at(t));
                    return;
                }
            }
        }
        panic!("deadlines never settle");
    }

    fn send(&mut self, t: u64, relay: &str, rule: &str, action: Action) {
        self.run_until(t);
        self.ctl.apply(&cmd(relay, rule, action), at(t));
    }

    fn manual(&mut self, t: u64, relay: &str, req: Manual) {
        self.run_until(t);
        self.ctl.manual(relay, req, at(t)).expect("known relay");
    }
}

fn cmd(relay: &str, rule: &str, action: Action) -> Command {
    Command {
        relay: relay.into(),
        action,
        why: Why { rule: rule.into(), event: "presence".into(), ..Why::default() },
        requires: Vec::new(),
    }
}

fn hold(until: u64) -> Action {
    Action::Hold { until: at(until) }
}

fn pulse(ms: u64, retrigger: Retrigger) -> Action {
    Action::Pulse { duration: Duration::from_millis(ms), retrigger }
}

fn sw(ms: u64, relay: &str, on: bool) -> (u64, String, bool) {
    (ms, relay.to_string(), on)
}

const PORCH: &str = r#"
[[relay]]
name = "porch"
line = 17
active_low = true
max_on = "10s"
"#;

#[test]
fn max_on_cuts_a_held_relay_at_exactly_max_on() {
    let mut r = rig(PORCH);
    r.send(1_000, "porch", "porch light", hold(60_000));
    assert_eq!(r.ctl.next_deadline(), Some(at(11_000)));
    r.run_until(30_000);
    assert_eq!(
        r.timeline(),
        vec![
            (1_000, "porch".into(), true, "rule \"porch light\" on presence: hold".into()),
            (11_000, "porch".into(), false, "max_on".into()),
        ]
    );
    let stats = &r.ctl.stats()[0];
    assert_eq!(
        (stats.safety_cutoffs, stats.switches_on, stats.switches_off, stats.on_time_ms),
        (1, 1, 1, 10_000)
    );
}

#[test]
fn a_held_light_stays_off_while_its_claim_is_renewed_and_rearms_after_it_lapses() {
    let mut r = rig(PORCH);
    r.send(1_000, "porch", "porch light", hold(31_000));
    // The person stays: the rule renews its hold every few seconds.
    for t in (5_000..=40_000).step_by(5_000) {
        r.send(t, "porch", "porch light", hold(t + 30_000));
    }
    r.run_until(69_999);
    assert_eq!(r.switches(), vec![sw(1_000, "porch", true), sw(11_000, "porch", false)]);
    // The last renewal (until 70 s) lapses; the next hold is a new presence.
    r.send(75_000, "porch", "porch light", hold(80_000));
    r.run_until(90_000);
    assert_eq!(
        r.switches(),
        vec![
            sw(1_000, "porch", true),
            sw(11_000, "porch", false),
            sw(75_000, "porch", true),
            sw(80_000, "porch", false)
        ]
    );
    let last = r.timeline().pop().unwrap();
    assert_eq!(last.3, "hold ended; rule \"porch light\" on presence: hold");
}

#[test]
fn after_a_cut_a_hold_from_another_rule_switches_on_again() {
    let mut r = rig(PORCH);
    r.send(1_000, "porch", "person", hold(60_000));
    r.send(20_000, "porch", "person", hold(60_000));
    r.send(25_000, "porch", "car", hold(30_000));
    r.run_until(70_000);
    assert_eq!(
        r.switches(),
        vec![
            sw(1_000, "porch", true),
            sw(11_000, "porch", false),
            sw(25_000, "porch", true),
            sw(30_000, "porch", false),
        ]
    );
}

const GATE: &str = r#"
[[relay]]
name = "gate"
line = 27
max_on = "3s"
"#;

#[test]
fn a_gate_pulse_cut_by_max_on_can_be_requested_again() {
    let mut r = rig(GATE);
    r.send(1_000, "gate", "residents", pulse(5_000, Retrigger::Single));
    r.send(6_000, "gate", "residents", pulse(2_000, Retrigger::Single));
    r.run_until(20_000);
    let t = r.timeline();
    assert_eq!(
        r.switches(),
        vec![
            sw(1_000, "gate", true),
            sw(4_000, "gate", false),
            sw(6_000, "gate", true),
            sw(8_000, "gate", false)
        ]
    );
    assert_eq!(t[1].3, "max_on");
    assert_eq!(t[3].3, "pulse ended; rule \"residents\" on presence: pulse");
}

#[test]
fn pulse_retrigger_single_ignores_a_second_pulse_while_one_runs() {
    let mut r = rig(GATE);
    r.send(1_000, "gate", "g", pulse(2_000, Retrigger::Single));
    r.send(2_000, "gate", "g", pulse(2_000, Retrigger::Single));
    r.run_until(5_000);
    r.send(5_000, "gate", "g", pulse(1_000, Retrigger::Single));
    r.run_until(9_000);
    assert_eq!(
        r.switches(),
        vec![
            sw(1_000, "gate", true),
            sw(3_000, "gate", false),
            sw(5_000, "gate", true),
            sw(6_000, "gate", false)
        ]
    );
}

#[test]
fn pulse_retrigger_restart_runs_the_full_duration_again() {
    let mut r = rig(GATE);
    r.send(1_000, "gate", "g", pulse(2_000, Retrigger::Restart));
    r.send(2_500, "gate", "g", pulse(2_000, Retrigger::Restart));
    assert_eq!(r.ctl.next_deadline(), Some(at(4_000)), "max_on 3 s after 1 s comes first");
    r.run_until(9_000);
    // Restarted to end at 4.5 s, but max_on (3 s from 1 s) cuts at 4 s.
    assert_eq!(r.switches(), vec![sw(1_000, "gate", true), sw(4_000, "gate", false)]);

    let mut r = rig(GATE);
    r.send(1_000, "gate", "g", pulse(1_500, Retrigger::Restart));
    r.send(2_000, "gate", "g", pulse(1_500, Retrigger::Restart));
    r.run_until(9_000);
    assert_eq!(r.switches(), vec![sw(1_000, "gate", true), sw(3_500, "gate", false)]);
}

const PUMP: &str = r#"
[[relay]]
name = "pump"
line = 5
max_on = "1h"
min_off = "30s"
"#;

#[test]
fn min_off_delays_a_reswitch_to_exactly_last_off_plus_min_off() {
    let mut r = rig(PUMP);
    r.send(40_000, "pump", "dry", pulse(5_000, Retrigger::Single));
    r.send(50_000, "pump", "dry", pulse(5_000, Retrigger::Single));
    assert_eq!(
        r.ctl.status(at(50_000))[0].pending,
        Some(PendingSwitch { at: Some(at(75_000)), waiting_for: "min_off".into() })
    );
    assert_eq!(r.ctl.next_deadline(), Some(at(75_000)));
    r.run_until(100_000);
    let t = r.timeline();
    assert_eq!(
        r.switches(),
        vec![
            sw(40_000, "pump", true),
            sw(45_000, "pump", false),
            // the delayed pulse is still a full 5 s pulse
            sw(75_000, "pump", true),
            sw(80_000, "pump", false),
        ]
    );
    assert_eq!(t[2].3, "min_off elapsed; rule \"dry\" on presence: pulse");
}

#[test]
fn min_off_counts_from_the_startup_drive_off() {
    let mut r = rig(PUMP);
    r.send(1_000, "pump", "dry", hold(60_000));
    r.run_until(60_000);
    assert_eq!(r.switches(), vec![sw(30_000, "pump", true), sw(60_000, "pump", false)]);
}

#[test]
fn a_delayed_switch_on_is_dropped_when_no_longer_wanted() {
    let mut r = rig(PUMP);
    r.send(40_000, "pump", "dry", pulse(5_000, Retrigger::Single));
    r.send(50_000, "pump", "dry", hold(60_000));
    r.send(55_000, "pump", "dry", Action::Off);
    assert_eq!(r.ctl.status(at(55_000))[0].pending, None);
    r.run_until(100_000);
    assert_eq!(r.switches(), vec![sw(40_000, "pump", true), sw(45_000, "pump", false)]);
}

const GATE_PAIR: &str = r#"
[[relay]]
name = "gate_open"
line = 22
max_on = "30s"
interlock = "gate"
interlock_wait = "1s"

[[relay]]
name = "gate_close"
line = 23
max_on = "30s"
interlock = "gate"
interlock_wait = "1s"
"#;

#[test]
fn interlock_makes_the_later_request_wait_until_off_plus_wait() {
    let mut r = rig(GATE_PAIR);
    r.send(10_000, "gate_open", "open", pulse(5_000, Retrigger::Single));
    r.send(12_000, "gate_close", "close", pulse(5_000, Retrigger::Single));
    let status = r.ctl.status(at(12_000));
    assert_eq!(
        status[1].pending,
        Some(PendingSwitch { at: None, waiting_for: "interlock: \"gate_open\" is on".into() })
    );
    r.run_until(15_000);
    assert_eq!(
        r.ctl.status(at(15_000))[1].pending,
        Some(PendingSwitch { at: Some(at(16_000)), waiting_for: "interlock_wait".into() })
    );
    r.run_until(30_000);
    let t = r.timeline();
    assert_eq!(
        r.switches(),
        vec![
            sw(10_000, "gate_open", true),
            sw(15_000, "gate_open", false),
            sw(16_000, "gate_close", true),
            sw(21_000, "gate_close", false),
        ]
    );
    assert_eq!(t[2].3, "interlock_wait elapsed; rule \"close\" on presence: pulse");
}

#[test]
fn interlock_serves_waiting_relays_first_come_first_served() {
    let three = r#"
[[relay]]
name = "a"
line = 1
max_on = "30s"
interlock = "g"
interlock_wait = "1s"
[[relay]]
name = "b"
line = 2
max_on = "30s"
interlock = "g"
interlock_wait = "1s"
[[relay]]
name = "c"
line = 3
max_on = "30s"
interlock = "g"
interlock_wait = "1s"
"#;
    let mut r = rig(three);
    r.send(10_000, "a", "ra", Action::On);
    r.send(11_000, "c", "rc", hold(100_000));
    r.send(12_000, "b", "rb", hold(40_000));
    r.send(20_000, "a", "ra", Action::Off);
    // a asks again right away: it queues behind c and b.
    r.send(20_500, "a", "ra", Action::On);
    let status = r.ctl.status(at(20_500));
    assert_eq!(
        status[1].pending.as_ref().map(|p| p.waiting_for.as_str()),
        Some("interlock: queued behind \"c\"")
    );
    r.run_until(120_000);
    assert_eq!(
        r.switches(),
        vec![
            sw(10_000, "a", true),
            sw(20_000, "a", false),
            sw(21_000, "c", true),  // c asked first (11 s), b second (12 s)
            sw(51_000, "c", false), // max_on; b's claim ended at 40 s meanwhile
            sw(52_000, "a", true),
            sw(82_000, "a", false),
        ]
    );
}

#[test]
fn manual_on_beats_the_rules_until_release() {
    let mut r = rig(PORCH.replace("10s", "1h").as_str());
    r.send(1_000, "porch", "light", hold(5_000));
    r.manual(2_000, "porch", Manual::On);
    r.run_until(8_000);
    assert_eq!(r.switches(), vec![sw(1_000, "porch", true)]);
    assert_eq!(r.ctl.status(at(8_000))[0].manual, Some(ManualOverride::On));
    r.manual(8_000, "porch", Manual::Release);
    r.run_until(20_000);
    assert_eq!(
        r.timeline(),
        vec![
            (1_000, "porch".into(), true, "rule \"light\" on presence: hold".into()),
            (8_000, "porch".into(), false, "manual release, back to rules".into()),
        ]
    );
}

#[test]
fn manual_off_beats_a_rule_hold_and_release_hands_back_to_it() {
    let mut r = rig(PORCH.replace("10s", "1h").as_str());
    r.send(1_000, "porch", "light", hold(20_000));
    r.manual(2_000, "porch", Manual::Off);
    r.send(3_000, "porch", "light", hold(20_000));
    r.manual(4_000, "porch", Manual::Release);
    r.run_until(30_000);
    assert_eq!(
        r.timeline(),
        vec![
            (1_000, "porch".into(), true, "rule \"light\" on presence: hold".into()),
            (2_000, "porch".into(), false, "manual off".into()),
            (4_000, "porch".into(), true, "manual release, back to rules".into()),
            (20_000, "porch".into(), false, "hold ended; rule \"light\" on presence: hold".into()),
        ]
    );
}

#[test]
fn manual_on_is_still_bounded_by_max_on() {
    let mut r = rig(PORCH);
    r.manual(1_000, "porch", Manual::On);
    r.run_until(30_000);
    assert_eq!(r.switches(), vec![sw(1_000, "porch", true), sw(11_000, "porch", false)]);
    assert_eq!(r.ctl.status(at(30_000))[0].manual, None, "the cut-off ends the manual on");
}

#[test]
fn manual_pulse_ends_by_itself_and_hands_back_to_the_rules() {
    let mut r = rig(PORCH);
    r.manual(1_000, "porch", Manual::Pulse(Duration::from_millis(2_000)));
    let s = &r.ctl.status(at(1_000))[0];
    assert_eq!(s.until, Some(at(3_000)));
    r.run_until(10_000);
    assert_eq!(
        r.timeline(),
        vec![
            (1_000, "porch".into(), true, "manual pulse 2000ms".into()),
            (3_000, "porch".into(), false, "manual pulse ended".into()),
        ]
    );
    assert_eq!(r.ctl.status(at(10_000))[0].manual, None);
}

#[test]
fn manual_requests_name_unknown_relays_and_refuse_empty_pulses() {
    let mut r = rig(PORCH);
    let e = r.ctl.manual("nope", Manual::On, at(1_000)).unwrap_err();
    assert_eq!(e.to_string(), "no relay named \"nope\"; relays: \"porch\"");
    assert_eq!(r.ctl.manual("porch", Manual::Pulse(Duration::ZERO), at(1_000)), Err(ControlError::ZeroPulse));
    assert!(r.switches().is_empty());
}

#[test]
fn two_rules_holding_one_relay_keep_it_on_until_the_later_claim_ends() {
    let mut r = rig(PORCH);
    r.send(1_000, "porch", "a", hold(5_000));
    r.send(2_000, "porch", "b", hold(8_000));
    r.send(3_000, "porch", "a", hold(6_000));
    r.run_until(20_000);
    let t = r.timeline();
    assert_eq!(r.switches(), vec![sw(1_000, "porch", true), sw(8_000, "porch", false)]);
    assert_eq!(t[1].3, "hold ended; rule \"b\" on presence: hold");
}

#[test]
fn toggle_flips_the_latch() {
    let mut r = rig(PORCH.replace("10s", "1h").as_str());
    r.send(1_000, "porch", "button", Action::Toggle);
    r.send(2_000, "porch", "button", Action::Toggle);
    // Toggle while a hold keeps it on: latched, so it outlives the hold.
    r.send(3_000, "porch", "light", hold(5_000));
    r.send(4_000, "porch", "button", Action::Toggle);
    r.run_until(6_000);
    r.send(7_000, "porch", "button", Action::Toggle);
    r.run_until(10_000);
    assert_eq!(
        r.switches(),
        vec![
            sw(1_000, "porch", true),
            sw(2_000, "porch", false),
            sw(3_000, "porch", true),
            sw(7_000, "porch", false),
        ]
    );
}

#[test]
fn off_clears_claims_latch_and_pulses_from_rules() {
    let mut r = rig(PORCH.replace("10s", "1h").as_str());
    r.send(1_000, "porch", "a", hold(60_000));
    r.send(1_100, "porch", "b", hold(60_000));
    r.send(1_200, "porch", "c", Action::On);
    r.send(1_300, "porch", "d", pulse(50_000, Retrigger::Single));
    r.send(3_000, "porch", "stop", Action::Off);
    r.run_until(3_500);
    assert_eq!(r.ctl.next_deadline(), None, "nothing left to expire");
    r.send(4_000, "porch", "a", hold(5_000));
    r.run_until(70_000);
    let t = r.timeline();
    assert_eq!(
        r.switches(),
        vec![
            sw(1_000, "porch", true),
            sw(3_000, "porch", false),
            sw(4_000, "porch", true),
            sw(5_000, "porch", false)
        ]
    );
    assert_eq!(t[1].3, "rule \"stop\" on presence: off");
}

#[test]
fn dropping_the_controller_drives_every_relay_off() {
    let mut r = rig(&format!("{PORCH}{GATE}"));
    r.send(1_000, "porch", "a", hold(5_000));
    r.send(1_500, "gate", "g", pulse(2_000, Retrigger::Single));
    let rec = r.rec.clone();
    let skip = r.startup;
    drop(r.ctl);
    let after: Vec<_> =
        rec.changes_since(skip).into_iter().map(|c| (c.ms, c.relay, c.on, c.reason)).collect();
    assert_eq!(
        after[2..],
        [(1_500, "porch".into(), false, "shutdown".into()), (1_500, "gate".into(), false, "shutdown".into())]
    );
}

#[test]
fn a_panic_unwinding_through_the_owner_leaves_relays_off() {
    let cfg = relays(PORCH);
    let mock = MockBackend::new(&cfg, None).unwrap();
    let rec = mock.record();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut ctl = Controller::new(&cfg, Box::new(mock), Instant::ZERO).unwrap();
        ctl.apply(&cmd("porch", "a", hold(9_000)), at(1_000));
        panic!("fatal error in the runtime");
    }));
    assert!(result.is_err());
    let last = rec.changes().pop().unwrap();
    assert_eq!((last.on, last.level, last.reason.as_str()), (false, 1, "shutdown"));
}

#[test]
fn all_off_ignores_min_off_and_forgets_every_demand() {
    let mut r = rig(&format!("{PUMP}{PORCH}"));
    r.send(40_000, "pump", "dry", hold(100_000));
    r.send(40_000, "porch", "a", Action::On);
    r.manual(41_000, "porch", Manual::On);
    r.ctl.all_off(at(42_000), "fatal error");
    r.run_until(200_000);
    assert_eq!(
        r.timeline()[2..],
        [
            (42_000, "pump".into(), false, "fatal error".into()),
            (42_000, "porch".into(), false, "fatal error".into())
        ]
    );
    assert!(r.ctl.status(at(200_000)).iter().all(|s| !s.on && s.manual.is_none() && s.pending.is_none()));
}

#[test]
fn a_failed_switch_off_is_retried_and_holds_back_the_interlock_partner() {
    let mut r = rig(GATE_PAIR);
    r.send(10_000, "gate_open", "open", pulse(2_000, Retrigger::Single));
    r.rec.set_failing(0, true);
    r.run_until(12_000); // the pulse ends, the write fails
    r.send(12_500, "gate_close", "close", pulse(2_000, Retrigger::Single));
    let st = r.ctl.status(at(12_500));
    assert!(st[0].write_fault && !st[0].on);
    assert_eq!(
        st[1].pending,
        Some(PendingSwitch {
            at: None,
            waiting_for: "interlock: \"gate_open\" has an unconfirmed switch-off".into()
        })
    );
    r.run_until(13_500); // retry at 13 s fails too
    r.rec.set_failing(0, false);
    r.run_until(30_000); // retry at 14 s succeeds; close waits interlock_wait from then
    assert_eq!(
        r.timeline(),
        vec![
            (10_000, "gate_open".into(), true, "rule \"open\" on presence: pulse".into()),
            (14_000, "gate_open".into(), false, "retry switch-off after a write error".into()),
            (
                15_000,
                "gate_close".into(),
                true,
                "interlock_wait elapsed; rule \"close\" on presence: pulse".into()
            ),
            (17_000, "gate_close".into(), false, "pulse ended; rule \"close\" on presence: pulse".into()),
        ]
    );
    assert_eq!(r.ctl.stats()[0].write_errors, 2);
}

#[test]
fn reconfigure_changes_limits_in_place_keeping_states() {
    let mut r = rig(PORCH.replace("10s", "1h").as_str());
    r.send(1_000, "porch", "a", hold(600_000));
    let shorter = relays(PORCH.replace("10s", "5s").as_str());
    r.ctl.reconfigure(&shorter, at(3_000)).expect("limits reload");
    assert_eq!(r.switches(), vec![sw(1_000, "porch", true)], "still on: 2 s of 5 s used");
    r.run_until(20_000);
    assert_eq!(r.switches(), vec![sw(1_000, "porch", true), sw(6_000, "porch", false)]);
}

#[test]
fn reconfigure_refuses_wiring_changes_as_needing_a_restart() {
    let mut r = rig(&format!("{PORCH}{GATE}"));
    r.send(1_000, "porch", "a", hold(5_000));
    let moved = relays(&format!("{}{GATE}", PORCH.replace("17", "22").replace("active_low = true", "")));
    assert_eq!(
        r.ctl.reconfigure(&moved, at(2_000)).unwrap_err().to_string(),
        "relay changes need a restart: relay \"porch\" line 17 → 22; relay \"porch\" active_low true → false"
    );
    let added = relays(&format!("{PORCH}{GATE}{PUMP}"));
    assert_eq!(
        r.ctl.reconfigure(&added, at(2_000)),
        Err(ReconfigureError::NeedsRestart { changes: vec!["relay \"pump\" added".into()] })
    );
    let removed = relays(PORCH);
    assert_eq!(
        r.ctl.reconfigure(&removed, at(2_000)).unwrap_err().to_string(),
        "relay changes need a restart: relay \"gate\" removed"
    );
    r.run_until(10_000);
    // Refused reloads changed nothing: the hold ran its course.
    assert_eq!(r.switches(), vec![sw(1_000, "porch", true), sw(5_000, "porch", false)]);
}

#[test]
fn reconfigure_merging_interlock_groups_switches_off_the_later_relay() {
    let mut r = rig(&format!("{PORCH}{GATE}").replace("10s", "1h").replace("3s", "1h"));
    r.send(1_000, "porch", "a", Action::On);
    r.send(2_000, "gate", "g", Action::On);
    let merged = relays(
        &format!("{PORCH}interlock = \"x\"\n{GATE}interlock = \"x\"\n")
            .replace("10s", "1h")
            .replace("3s", "1h"),
    );
    r.ctl.reconfigure(&merged, at(3_000)).expect("limits reload");
    r.run_until(10_000);
    assert_eq!(
        r.switches(),
        vec![sw(1_000, "porch", true), sw(2_000, "gate", true), sw(3_000, "gate", false)]
    );
    assert_eq!(
        r.ctl.status(at(10_000))[1].pending,
        Some(PendingSwitch { at: None, waiting_for: "interlock: \"porch\" is on".into() })
    );
}

#[test]
fn status_reports_state_why_since_and_until() {
    let mut r = rig(PORCH);
    r.send(1_000, "porch", "porch light", hold(4_000));
    let s = &r.ctl.status(at(2_000))[0];
    assert_eq!((s.name.as_str(), s.on, s.since, s.until), ("porch", true, at(1_000), Some(at(4_000))));
    assert_eq!(s.why.as_ref().map(|w| w.rule.as_str()), Some("porch light"));
    assert_eq!(s.reason, "rule \"porch light\" on presence: hold");
    // A longer hold is bounded by max_on in `until`.
    r.send(2_000, "porch", "porch light", hold(50_000));
    assert_eq!(r.ctl.status(at(2_000))[0].until, Some(at(11_000)));
    let json = serde_json::to_value(&r.ctl.status(at(2_000))[0]).unwrap();
    assert_eq!(json["since"], 1_000);
    assert_eq!(json["until"], 11_000);
    assert_eq!(json["why"]["rule"], "porch light");
}

#[test]
fn commands_for_unknown_relays_change_nothing() {
    let mut r = rig(PORCH);
    r.send(1_000, "garage", "a", Action::On);
    r.run_until(5_000);
    assert!(r.switches().is_empty());
    assert_eq!(r.ctl.next_deadline(), None);
}

#[test]
fn manual_off_cancels_a_running_rule_pulse_for_good() {
    let mut r = rig(GATE.replace("3s", "1m").as_str());
    r.send(1_000, "gate", "residents", pulse(10_000, Retrigger::Single));
    r.manual(2_000, "gate", Manual::Off);
    r.send(3_000, "gate", "residents", pulse(10_000, Retrigger::Single));
    r.manual(4_000, "gate", Manual::Release);
    r.run_until(30_000);
    assert_eq!(r.switches(), vec![sw(1_000, "gate", true), sw(2_000, "gate", false)]);
    assert_eq!(r.ctl.next_deadline(), None);
}

/// Hostile-LAN finding 1 on the virtual clock: a `toggle` fed a fresh target
/// per post (a command every 10 ms) with the default limits switches on once
/// a second (`min_off` 1 s), 20 times in a minute, then rests for 60 s.
#[test]
fn chatter_under_a_detection_flood_settles_into_a_counted_lockout() {
    let mut r = rig("[[relay]]\nname = \"light\"\nline = 5\nmax_on = \"10m\"\n");
    for t in (0..70_000).step_by(10) {
        r.send(t, "light", "toggle on presence", Action::Toggle);
    }
    r.run_until(200_000);
    let ons: Vec<u64> = r.switches().into_iter().filter(|s| s.2).map(|s| s.0).collect();
    assert_eq!(ons.len(), 20, "{ons:?}");
    let offs: Vec<u64> = r.switches().into_iter().filter(|s| !s.2).map(|s| s.0).collect();
    for (on, off) in ons.iter().skip(1).zip(offs.iter()) {
        assert!(on - off >= 1_000, "off for {} ms: {:?}", on - off, r.switches());
    }
    let stats = &r.ctl.stats()[0];
    assert_eq!(stats.chatter_lockouts, 1);
    // The flood stopped at 70 s inside the lockout; the latch it left decides
    // what happens when the lockout ends: at most one more switch-on.
    assert!(r.ctl.status(at(200_000))[0].pending.is_none());
}

#[test]
fn switch_limit_locks_out_for_exactly_a_minute_and_then_serves_a_demand_still_wanted() {
    let mut r =
        rig("[[relay]]\nname = \"gate\"\nline = 5\nmax_on = \"3s\"\nmin_off = \"0s\"\nswitch_limit = 3\n");
    for t in [1_000, 2_000, 3_000, 4_000] {
        r.send(t, "gate", "plate", pulse(100, Retrigger::Single));
        r.run_until(t + 500);
    }
    assert_eq!(
        r.switches(),
        vec![
            sw(1_000, "gate", true),
            sw(1_100, "gate", false),
            sw(2_000, "gate", true),
            sw(2_100, "gate", false),
            sw(3_000, "gate", true),
            sw(3_100, "gate", false),
        ]
    );
    assert_eq!(
        r.ctl.status(at(4_500))[0].pending,
        Some(PendingSwitch { at: Some(at(64_000)), waiting_for: "chatter lockout".into() })
    );
    r.run_until(70_000);
    let t = r.timeline();
    assert_eq!(t.len(), 8, "{t:?}");
    assert_eq!((t[6].0, t[6].2), (64_000, true));
    assert!(t[6].3.starts_with("chatter lockout ended; "), "{t:?}");
    assert_eq!((t[7].0, t[7].2), (64_100, false));
    assert_eq!(r.ctl.stats()[0].chatter_lockouts, 1);
}

#[test]
fn switch_limit_unlimited_and_min_off_zero_are_what_the_file_says() {
    let mut r = rig(
        "[[relay]]\nname = \"fast\"\nline = 5\nmax_on = \"1h\"\nmin_off = \"0s\"\nswitch_limit = \"unlimited\"\n",
    );
    for t in (0..2_000).step_by(20) {
        r.send(t, "fast", "toggle", Action::Toggle);
    }
    r.run_until(3_000);
    assert_eq!(r.switches().len(), 100, "every toggle switches when the file asks for no limit");
    assert_eq!(r.ctl.stats()[0].chatter_lockouts, 0);
}

#[test]
fn defect_9_max_on_and_min_off_bound_the_duty_of_a_relay_recommanded_by_ever_new_rules() {
    // Issue 23: a remote node re-commanding with a new rule (or target) each
    // time kept a relay on 2 s of every 3 under max_on 2 s and min_off 1 s.
    // Decided: max_on bounds each on period and min_off each rest, so no
    // sender can keep a relay on more than max_on / (max_on + min_off) of the
    // time; a load that must rest longer sets a longer min_off (docs/rules.md).
    let mut r = rig("[[relay]]\nname = \"heater\"\nline = 4\nmax_on = \"2s\"\nmin_off = \"1s\"\n");
    for (i, t) in (1_000..61_000).step_by(100).enumerate() {
        r.send(t, "heater", &format!("remote rule {i}"), hold(t + 30_000));
    }
    r.run_until(61_000);
    let s = r.switches();
    let (mut on_ms, mut since) = (0u64, None);
    for (i, (ms, _, on)) in s.iter().enumerate() {
        if *on {
            if i > 0 {
                assert!(ms - s[i - 1].0 >= 1_000, "rested {} ms before {ms}: {s:?}", ms - s[i - 1].0);
            }
            since = Some(*ms);
        } else if let Some(start) = since.take() {
            assert!(ms - start <= 2_000, "on {} ms from {start}", ms - start);
            on_ms += ms - start;
        }
    }
    let duty = on_ms as f64 / 60_000.0;
    assert!(duty <= 2.0 / 3.0 + 0.01, "on {:.0}% of the time", duty * 100.0);
    assert!(duty > 0.6, "and it does run at that bound: {:.0}%", duty * 100.0);
}
