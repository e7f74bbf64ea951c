//! The rules in force as the web page draws them: relays, cameras, zones,
//! areas and rules, with no tokens, passwords or password files.
//!
//! A plain view of a [`Config`], made by the core on request (the page asks
//! through the core's command channel), so the page never reads the rules
//! file or the engine.

use super::Config;
use serde::Serialize;

/// The rules in force, as the page draws them: no tokens, no password files.
#[derive(Debug, Clone, Serialize)]
pub struct PageConfig {
    pub relays: Vec<RelayView>,
    pub cameras: Vec<CameraView>,
    pub zones: Vec<ZoneView>,
    pub areas: Vec<AreaView>,
    pub rules: Vec<RuleView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RelayView {
    pub name: String,
    pub max_on: String,
    /// A gate (or a door strike): it has a position input (`confirm`) or a
    /// rule pulses it. The page offers "Open" (a pulse) instead of on/off.
    pub gate: bool,
    /// How long "Open" pulses it: the first pulsing rule's `duration`, else 1 s.
    pub open_for: String,
    /// The `[[input]]` that tells whether it moved (`confirm = { input = ... }`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CameraView {
    pub name: String,
    /// camrelay can ask it for its picture and regions.
    pub has_url: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ZoneView {
    pub name: String,
    pub camera: String,
    pub polygon: Vec<[u32; 2]>,
    /// `bottom_center`, `center` or `box`: what of a target's box must be inside.
    pub anchor: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct AreaView {
    pub name: String,
    pub zones: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleView {
    pub name: String,
    /// The rule in words, as `camrelay check` prints it.
    pub sentence: String,
    pub events: Vec<&'static str>,
    pub cameras: Vec<String>,
    pub zones: Vec<String>,
    pub relay: String,
    pub action: &'static str,
}

/// The page's view of a configuration.
pub fn page_config(cfg: &Config) -> PageConfig {
    PageConfig {
        relays: cfg
            .relays
            .iter()
            .map(|r| {
                let pulse = cfg.rules.iter().find_map(|rule| match rule.then.action {
                    super::ActionKind::Pulse { duration, .. } if rule.then.relay == r.name => Some(duration),
                    _ => None,
                });
                RelayView {
                    name: r.name.clone(),
                    max_on: super::fmt_duration(r.max_on),
                    gate: r.confirm.is_some() || pulse.is_some(),
                    open_for: super::fmt_duration(pulse.unwrap_or(std::time::Duration::from_secs(1))),
                    position: r.confirm.as_ref().map(|c| c.input.clone()),
                }
            })
            .collect(),
        // A camera of another node has no picture or zones here: its page is that node's.
        cameras: cfg
            .cameras
            .iter()
            .filter(|c| c.node.is_none())
            .map(|c| CameraView { name: c.name.clone(), has_url: c.api.is_some() })
            .collect(),
        zones: cfg
            .zones
            .iter()
            .map(|z| ZoneView {
                name: z.name.clone(),
                camera: z.camera.clone(),
                polygon: z.polygon.iter().map(|p| [p.x, p.y]).collect(),
                anchor: super::edit::anchor_word(z.anchor),
            })
            .collect(),
        areas: cfg.areas.iter().map(|a| AreaView { name: a.name.clone(), zones: a.zones.clone() }).collect(),
        rules: cfg
            .rules
            .iter()
            .map(|r| RuleView {
                name: r.name.clone(),
                sentence: super::describe_rule(r, cfg),
                events: r.when.events.iter().map(|e| e.word()).collect(),
                cameras: r.when.cameras.clone(),
                zones: r.when.zones.clone(),
                relay: r.then.relay.clone(),
                action: r.then.action.word(),
            })
            .collect(),
    }
}
