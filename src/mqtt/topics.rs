//! Every MQTT topic camrelay publishes or listens to, named once.
//!
//! A node's topics live under `<topic_prefix>/<node>/`; names from the rules
//! file become one topic level each through [`level`]. Nothing here touches
//! the network.

/// A name from the rules file as one topic level and id part: letters,
/// digits, `_` and `-` kept, anything else (space, `/`, `+`, `#`) becomes `_`.
pub fn level(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect()
}

/// The topics of one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    /// `<topic_prefix>`, shared by every node of a site.
    pub site: String,
    /// `<topic_prefix>/<node>`.
    pub base: String,
    pub node: String,
    /// Home Assistant's discovery prefix, when discovery is on.
    pub discovery: Option<String>,
}

/// What an incoming message is, by its topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// `<base>/relay/<relay>/set`: ON, OFF, PULSE [duration], RELEASE.
    Set {
        relay: String,
    },
    /// `<base>/relay/<relay>/remote`: a rule on another node commands this relay.
    Remote {
        relay: String,
    },
    /// `<base>/answer`: another node's answer to a command this node sent.
    Answer,
    /// `<discovery>/status`: Home Assistant's birth (`online`) and will (`offline`).
    HomeAssistant,
    /// `<discovery>/<component>/camrelay_<node>/<object>/config`, retained by an earlier run.
    Discovery,
    Other,
}

impl Topics {
    pub fn new(site: &str, node: &str, discovery: Option<&str>) -> Topics {
        Topics {
            site: site.to_string(),
            base: format!("{site}/{node}"),
            node: node.to_string(),
            discovery: discovery.map(str::to_string),
        }
    }

    pub fn availability(&self) -> String {
        format!("{}/availability", self.base)
    }
    pub fn relay(&self, relay: &str, leaf: &str) -> String {
        format!("{}/relay/{}/{leaf}", self.base, level(relay))
    }
    /// `kind`: `zone` or `area`.
    pub fn place(&self, kind: &str, place: &str, leaf: &str) -> String {
        format!("{}/{kind}/{}/{leaf}", self.base, level(place))
    }
    pub fn camera(&self, camera: &str, leaf: &str) -> String {
        format!("{}/camera/{}/{leaf}", self.base, level(camera))
    }
    pub fn input(&self, input: &str, leaf: &str) -> String {
        format!("{}/input/{}/{leaf}", self.base, level(input))
    }
    /// A relay that did not move, tailgating: events, not states.
    pub fn alert(&self) -> String {
        format!("{}/alert", self.base)
    }
    pub fn safety(&self) -> String {
        format!("{}/safety", self.base)
    }
    pub fn reload(&self) -> String {
        format!("{}/reload", self.base)
    }
    pub fn answer(&self) -> String {
        format!("{}/answer", self.base)
    }
    /// Where node `node` publishes what its camera `camera` detects.
    pub fn detection_of(&self, node: &str, camera: &str) -> String {
        format!("{}/{}/camera/{}/detection", self.site, level(node), level(camera))
    }

    /// Where a rule here sends a command for `relay` on `node`.
    pub fn remote_of(&self, node: &str, relay: &str) -> String {
        format!("{}/{}/relay/{}/remote", self.site, level(node), level(relay))
    }
    /// The Home Assistant device and node id of this node: `camrelay_<node>`.
    pub fn device_id(&self) -> String {
        format!("camrelay_{}", level(&self.node))
    }
    pub fn ha_status(&self) -> Option<String> {
        self.discovery.as_ref().map(|d| format!("{d}/status"))
    }
    /// `<discovery>/<component>/camrelay_<node>/<object>/config`.
    pub fn discovery_config(&self, component: &str, object: &str) -> Option<String> {
        self.discovery.as_ref().map(|d| format!("{d}/{component}/{}/{object}/config", self.device_id()))
    }

    /// The filters this node subscribes to on every connection.
    pub fn subscriptions(&self) -> Vec<String> {
        let mut out = vec![
            format!("{}/relay/+/set", self.base),
            format!("{}/relay/+/remote", self.base),
            self.answer(),
        ];
        if let Some(d) = &self.discovery {
            out.push(format!("{d}/status"));
            out.push(format!("{d}/+/{}/+/config", self.device_id()));
        }
        out
    }

    pub fn classify(&self, topic: &str) -> Inbound {
        if topic == self.answer() {
            return Inbound::Answer;
        }
        if let Some(rest) = topic.strip_prefix(&self.base).and_then(|r| r.strip_prefix("/relay/")) {
            if let Some((relay, leaf)) = rest.split_once('/') {
                match leaf {
                    "set" => return Inbound::Set { relay: relay.to_string() },
                    "remote" => return Inbound::Remote { relay: relay.to_string() },
                    _ => {}
                }
            }
        }
        if let Some(d) = &self.discovery {
            if topic.strip_prefix(d.as_str()) == Some("/status") {
                return Inbound::HomeAssistant;
            }
            let own = format!("/{}/", self.device_id());
            if topic.starts_with(&format!("{d}/")) && topic.contains(&own) && topic.ends_with("/config") {
                return Inbound::Discovery;
            }
        }
        Inbound::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_one_level_and_topics_classify_back() {
        let t = Topics::new("camrelay", "shed", Some("homeassistant"));
        assert_eq!(level("porch light/1+#"), "porch_light_1__");
        assert_eq!(t.relay("porch light", "set"), "camrelay/shed/relay/porch_light/set");
        assert_eq!(
            t.classify("camrelay/shed/relay/porch_light/set"),
            Inbound::Set { relay: "porch_light".into() }
        );
        assert_eq!(t.classify("camrelay/shed/relay/gate/remote"), Inbound::Remote { relay: "gate".into() });
        assert_eq!(t.classify("camrelay/shed/relay/gate/state"), Inbound::Other);
        assert_eq!(t.classify("camrelay/other/relay/gate/set"), Inbound::Other);
        assert_eq!(t.classify("camrelay/shed/answer"), Inbound::Answer);
        assert_eq!(t.classify("homeassistant/status"), Inbound::HomeAssistant);
        assert_eq!(t.classify("homeassistant/switch/camrelay_shed/relay_gate/config"), Inbound::Discovery);
        assert_eq!(t.classify("homeassistant/switch/camrelay_barn/relay_gate/config"), Inbound::Other);
        assert_eq!(t.remote_of("garage", "door"), "camrelay/garage/relay/door/remote");
        let off = Topics::new("camrelay", "shed", None);
        assert_eq!(off.classify("homeassistant/status"), Inbound::Other);
        assert_eq!(off.subscriptions().len(), 3);
    }
}
