//! `[mqtt]`: the broker, the node's name and Home Assistant discovery.

use super::*;

impl Builder {
    pub(super) fn mqtt(&mut self, t: Tbl) -> R<()> {
        t.check_keys()?;
        if t.bool("enabled")? == Some(false) {
            return Ok(());
        }
        let (url, uspan) = t.req_str("url", "\"mqtt://192.168.1.10\"")?;
        let (host, port, tls) = broker_url(url).map_err(|why| {
            Diag::new(uspan.clone(), "url", format!("[mqtt] url \"{url}\" {why}; write e.g. url = \"mqtt://192.168.1.10\" or \"mqtts://broker.lan:8883\""))
        })?;
        let name = |key: &str| -> R<Option<String>> {
            match t.str(key)? {
                Some((v, span)) if !topic_safe(v) => Err(Diag::new(
                    span,
                    key,
                    format!("[mqtt] {key} \"{v}\" becomes a topic level: use letters, digits, \"_\" and \"-\" only"),
                )),
                other => Ok(other.map(|(v, _)| v.to_string())),
            }
        };
        let node = name("node")?;
        let topic_prefix = match t.str("topic_prefix")? {
            Some((p, span))
                if p.is_empty() || p.contains(['+', '#']) || p.starts_with('/') || p.ends_with('/') =>
            {
                return Err(Diag::new(span, "topic_prefix", format!("[mqtt] topic_prefix \"{p}\" must be topic levels without wildcards (+, #) or a leading or trailing \"/\", e.g. \"camrelay\" or \"house/camrelay\"")));
            }
            Some((p, _)) => p.to_string(),
            None => "camrelay".to_string(),
        };
        let discovery_prefix = match (t.bool("discovery")?, t.str("discovery_prefix")?) {
            (Some(false), _) => None,
            (_, Some((p, span))) if p.is_empty() || p.contains(['+', '#', '/']) => {
                return Err(Diag::new(span, "discovery_prefix", format!("[mqtt] discovery_prefix \"{p}\" must be one topic level, as set in Home Assistant (\"homeassistant\")")));
            }
            (_, Some((p, _))) => Some(p.to_string()),
            (_, None) => Some("homeassistant".to_string()),
        };
        let file = |key: &str| -> R<Option<PathBuf>> {
            match t.str(key)? {
                None => Ok(None),
                Some(("", span)) => Err(Diag::new(span, key, format!("[mqtt] {key} is empty"))),
                Some((path, _)) => Ok(Some(PathBuf::from(path))),
            }
        };
        let password_file = file("password_file")?;
        let ca_file = file("ca_file")?;
        let username = t.str("username")?.map(|(u, _)| u.to_string());
        if password_file.is_some() && username.is_none() {
            return Err(Diag::new(
                t.key_span("password_file"),
                "password_file",
                "[mqtt] password_file needs \"username\" too: the broker checks the pair".to_string(),
            ));
        }
        if ca_file.is_some() && !tls {
            return Err(Diag::new(
                t.key_span("ca_file"),
                "ca_file",
                "[mqtt] ca_file is for mqtts:// brokers; this url is mqtt:// (no TLS)".to_string(),
            ));
        }
        let client_id = match t.str("client_id")? {
            Some((c, span)) if c.is_empty() || c.len() > 64 => {
                return Err(Diag::new(
                    span,
                    "client_id",
                    "[mqtt] client_id must be 1 to 64 characters".to_string(),
                ))
            }
            other => other.map(|(c, _)| c.to_string()),
        };
        let queue = match t.int("queue")? {
            Some((n, span)) => {
                int_in_range(n, "mqtt", "queue", t.label, span)?;
                n as usize
            }
            None => 1024,
        };
        let remote_timeout = match t.duration("remote_timeout")? {
            Some((d, span)) => {
                in_range(d, "mqtt", "remote_timeout", t.label, span)?;
                d
            }
            None => Duration::from_secs(2),
        };
        self.cfg.mqtt = Some(MqttConfig {
            url: url.to_string(),
            host,
            port,
            tls,
            username,
            password_file,
            ca_file,
            client_id,
            node,
            topic_prefix,
            discovery_prefix,
            queue,
            remote_timeout,
        });
        Ok(())
    }
}

/// `mqtt://host[:port]` or `mqtts://host[:port]`: host, port, TLS.
fn broker_url(url: &str) -> Result<(String, u16, bool), &'static str> {
    let (rest, tls, default_port) = if let Some(r) = url.strip_prefix("mqtt://") {
        (r, false, 1883)
    } else if let Some(r) = url.strip_prefix("mqtts://") {
        (r, true, 8883)
    } else {
        return Err("must start with mqtt:// or mqtts://");
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains(['/', '@', '?']) {
        return Err("must be only a host and a port (credentials go in username and password_file)");
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
            (h, p.parse::<u16>().ok().filter(|p| *p > 0).ok_or("has a port that is not 1 to 65535")?)
        }
        _ => (rest, default_port),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err("has no host");
    }
    Ok((host.to_string(), port, tls))
}
