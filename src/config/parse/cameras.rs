//! `[[camera]]`: how a post is matched to a camera (its own identity, its
//! NVR's channel, or both: one camera, two sources) and cameras of other
//! nodes.

use super::*;

impl Builder {
    pub(super) fn camera(&mut self, t: Tbl) -> R<()> {
        t.check_keys()?;
        let (name, nspan) = t.req_str("name", "\"driveway\"")?;
        unique(self.cfg.cameras.iter().map(|c| c.name.as_str()), name, nspan.clone(), "camera")?;
        self.one_level_each("camera", name, nspan.clone())?;
        let label = format!("[[camera]] \"{name}\"");
        let t = Tbl { label: &label, ..t };
        if let Some((node, span)) = t.str("node")? {
            return self.node_camera(&t, name, nspan, node, span);
        }
        let mac = match t.str("mac")? {
            None => None,
            Some((m, span)) => {
                let norm = normalize_mac(m);
                let hex: String = norm.chars().filter(|c| *c != ':').collect();
                if hex.len() != 12 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                    return Err(Diag::new(span, "mac", format!("\"mac\" in {label} must be six hex pairs like \"58:5b:69:5f:42:1b\", found \"{m}\"")));
                }
                Some(norm)
            }
        };
        let ip = match t.str("ip")? {
            None => None,
            Some((s, span)) => Some(s.trim().parse::<IpAddr>().map_err(|_| {
                Diag::new(
                    span,
                    "ip",
                    format!("\"ip\" in {label} must be an IP address like \"192.168.1.20\", found \"{s}\""),
                )
            })?),
        };
        let serial = t.str("serial")?.map(|(s, _)| s.to_string());
        let device_name = t.str("device_name")?.map(|(s, _)| s.to_string());
        let nvr = t.str("nvr")?.map(|(s, span)| (s.to_string(), span));
        let channel = match t.int("channel")? {
            None => None,
            Some((n, span)) => Some(u32::try_from(n).map_err(|_| {
                Diag::new(
                    span,
                    "channel",
                    format!("\"channel\" in {label} must be a channel number from 0 up, found {n}"),
                )
            })?),
        };
        if let (Some((_, span)), None) = (&nvr, channel) {
            return Err(Diag::new(
                span.clone(),
                "nvr",
                format!("{label} names an \"nvr\" but no \"channel\"; add e.g. channel = 1"),
            ));
        }
        let nvr =
            nvr.map(
                |(s, _)| {
                    if s.contains(':') || s.contains('-') && s.len() == 17 {
                        normalize_mac(&s)
                    } else {
                        s
                    }
                },
            );
        let duplicate_window = match positive(t.duration("duplicate_window")?, "duplicate_window", t.label)? {
            Some((_, span)) if nvr.is_none() || !own_identity(&t) => {
                return Err(Diag::new(span, "duplicate_window", format!("\"duplicate_window\" in {label} is for a camera with two sources: its own mac (or ip, serial, device_name) and the nvr and channel that forward it")));
            }
            Some((d, _)) => d,
            None => DEFAULT_DUPLICATE_WINDOW,
        };
        let api = match t.str("url")? {
            None => {
                for key in ["user", "password_file"] {
                    if t.get(key).is_some() {
                        return Err(Diag::new(
                            t.key_span(key),
                            key,
                            format!("\"{key}\" in {label} is for the camera's API, which needs its address: url = \"http://192.168.1.20\""),
                        ));
                    }
                }
                None
            }
            Some((url, span)) => {
                if let Some(rest) = url.strip_prefix("https://") {
                    return Err(Diag::new(
                        span,
                        "url",
                        format!("\"url\" in {label}: cameras serve their API over plain HTTP on the LAN, camrelay does not speak HTTPS to them; write url = \"http://{}\"", rest.trim_end_matches('/')),
                    ));
                }
                let rest = url.strip_prefix("http://").map(|r| r.trim_end_matches('/'));
                if !rest.is_some_and(|r| !r.is_empty() && !r.contains('/') && !r.contains('@')) {
                    return Err(Diag::new(
                        span,
                        "url",
                        format!("\"url\" in {label} is the camera's address, like \"http://192.168.1.20\" or \"http://192.168.1.20:8080\" (plain HTTP, no path, no password), found \"{url}\""),
                    ));
                }
                let Some((file, _)) = t.str("password_file")? else {
                    return Err(t.missing("password_file", "\"driveway.password\""));
                };
                Some(CameraApi {
                    url: url.trim_end_matches('/').to_string(),
                    user: t.str("user")?.map(|(u, _)| u.to_string()).unwrap_or_else(|| "admin".into()),
                    password_file: PathBuf::from(file),
                })
            }
        };
        let own = mac.is_some() || ip.is_some() || serial.is_some() || device_name.is_some();
        if api.is_some() && nvr.is_some() && !own {
            return Err(Diag::new(
                t.key_span("url"),
                "url",
                format!("{label} is behind an NVR: its API is the NVR's, which has no webhook settings; name the camera itself too (mac = \"...\" or ip = \"...\") so it is one camera with two sources, or leave url out"),
            ));
        }
        self.cfg.cameras.push(CameraConfig {
            name: name.to_string(),
            mac,
            ip,
            serial,
            device_name,
            duplicate_window,
            nvr,
            channel,
            api,
            node: None,
        });
        Ok(())
    }

    /// `[[camera]] name = "drive", node = "garage"`: camera `drive` of node
    /// `garage`, whose detections that node publishes; rules here may use them.
    pub(super) fn node_camera(
        &mut self,
        t: &Tbl,
        name: &str,
        nspan: Range<usize>,
        node: &str,
        span: Range<usize>,
    ) -> R<()> {
        let Some(mqtt) = &self.cfg.mqtt else {
            return Err(Diag::new(span, "node", format!("{} is a camera of node \"{node}\": its detections come over the broker, which needs an [mqtt] section", t.label)));
        };
        if !topic_safe(node) || !topic_safe(name) {
            return Err(Diag::new(
                if topic_safe(name) { span } else { nspan },
                "node",
                format!("{}: a camera of another node needs a name and a node of letters, digits, \"_\" and \"-\" (they are topic levels)", t.label),
            ));
        }
        if mqtt.node.as_deref() == Some(node) {
            return Err(Diag::new(
                span,
                "node",
                format!(
                    "{} names this node (\"{node}\"); leave \"node\" out for a camera that posts here",
                    t.label
                ),
            ));
        }
        for key in ["mac", "ip", "serial", "device_name", "nvr", "channel", "url", "user", "password_file"] {
            if t.get(key).is_some() {
                return Err(Diag::new(
                    t.key_span(key),
                    key,
                    format!("\"{key}\" does not go with \"node\" in {}: that camera posts to node \"{node}\", which identifies it; here it is known by its name there", t.label),
                ));
            }
        }
        self.cfg.cameras.push(CameraConfig {
            name: name.to_string(),
            node: Some(node.to_string()),
            ..Default::default()
        });
        Ok(())
    }

    pub(super) fn camera_exists(&self, camera: &str, span: Range<usize>, label: &str) -> R<()> {
        if self.cfg.cameras.iter().any(|c| c.name == camera) {
            return Ok(());
        }
        Err(unknown_ref(
            span,
            "camera",
            camera,
            label,
            self.cfg.cameras.iter().map(|c| c.name.as_str()),
            "[[camera]]",
        ))
    }
}

/// Does a `[[camera]]` table name the camera itself, not only its NVR?
fn own_identity(t: &Tbl) -> bool {
    ["mac", "ip", "serial", "device_name"].iter().any(|k| t.get(k).is_some())
}
