//! Prometheus text for what the core task owns: relays and rules.
//!
//! Ingest counters are rendered by `ingest` itself; this file must never
//! count anything, only print what the controller and engine already counted.

use crate::clock::Instant;
use crate::engine::Engine;
use crate::relays::controller::Controller;
use std::fmt::Write;

/// Escape a label value per the Prometheus text format.
pub(crate) fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Append relay and rule metrics in Prometheus text format.
pub fn render_core_metrics(
    out: &mut String,
    controller: &Controller,
    engine: &Engine,
    counters: &[crate::engine::RuleCounter],
    now: Instant,
) {
    let stats = controller.stats();
    let mut family = |name: &str,
                      kind: &str,
                      help: &str,
                      value: &dyn Fn(&crate::relays::controller::RelayStats) -> String| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for s in &stats {
            let _ = writeln!(out, "{name}{{relay=\"{}\"}} {}", label(&s.name), value(s));
        }
    };
    family("camrelay_relay_switches_total", "counter", "Times a relay switched on.", &|s| {
        s.switches_on.to_string()
    });
    family("camrelay_relay_on_seconds_total", "counter", "Total time a relay was on.", &|s| {
        format!("{:.3}", s.on_time_ms as f64 / 1000.0)
    });
    family("camrelay_safety_cutoffs_total", "counter", "Relays forced off by max_on.", &|s| {
        s.safety_cutoffs.to_string()
    });
    family(
        "camrelay_chatter_lockouts_total",
        "counter",
        "Relays locked off for wanting more than switch_limit switch-ons in a minute.",
        &|s| s.chatter_lockouts.to_string(),
    );
    family("camrelay_relay_write_errors_total", "counter", "Failed GPIO line writes.", &|s| {
        s.write_errors.to_string()
    });
    let _ = writeln!(
        out,
        "# HELP camrelay_targets_tracked Targets tracked now.\n# TYPE camrelay_targets_tracked gauge\ncamrelay_targets_tracked {}\n\
         # HELP camrelay_targets_ignored_total Targets ignored: their camera already had the most tracked at once.\n\
         # TYPE camrelay_targets_ignored_total counter\ncamrelay_targets_ignored_total {}",
        engine.tracked_targets(),
        engine.ignored_targets()
    );
    let status = controller.status(now);
    let _ = writeln!(
        out,
        "# HELP camrelay_relay_on Whether a relay is on now (1) or off (0).\n# TYPE camrelay_relay_on gauge"
    );
    for r in &status {
        let _ = writeln!(out, "camrelay_relay_on{{relay=\"{}\"}} {}", label(&r.name), u8::from(r.on));
    }
    let _ = writeln!(out, "# HELP camrelay_rule_matches_total Events a rule's conditions matched.\n# TYPE camrelay_rule_matches_total counter");
    for c in counters {
        let _ = writeln!(out, "camrelay_rule_matches_total{{rule=\"{}\"}} {}", label(&c.rule), c.matched);
    }
    let _ = writeln!(out, "# HELP camrelay_rule_commands_total Relay commands a rule issued (rules fired).\n# TYPE camrelay_rule_commands_total counter");
    for c in counters {
        let _ = writeln!(out, "camrelay_rule_commands_total{{rule=\"{}\"}} {}", label(&c.rule), c.commands);
    }
    let _ = writeln!(out, "# HELP camrelay_rule_no_effect_total Matches that changed nothing, by reason (cooldown, relay condition, manual override, ...).\n# TYPE camrelay_rule_no_effect_total counter");
    for c in counters {
        for (reason, n) in &c.no_effect {
            let _ = writeln!(
                out,
                "camrelay_rule_no_effect_total{{rule=\"{}\",reason=\"{}\"}} {n}",
                label(&c.rule),
                label(reason)
            );
        }
    }
    let _ = writeln!(out, "# HELP camrelay_rule_deferred_total Commands taken and carried out when a limit allowed, by the limit (min_off, interlock, chatter lockout).\n# TYPE camrelay_rule_deferred_total counter");
    for c in counters {
        for (reason, n) in &c.deferred {
            let _ = writeln!(
                out,
                "camrelay_rule_deferred_total{{rule=\"{}\",reason=\"{}\"}} {n}",
                label(&c.rule),
                label(reason)
            );
        }
    }
}
