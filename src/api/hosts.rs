//! The names this API answers to, against DNS rebinding: a page on
//! `attacker.example` whose name is made to resolve to the Pi (or to
//! 127.0.0.1 behind the README's `ssh -L` tunnel) is still sent by the browser
//! with `Host: attacker.example`, and is refused here with 421.
//!
//! Accepted: any IP address literal (a rebinding needs a name the attacker
//! owns, never a bare address), `localhost`, this machine's host name and
//! `<host name>.local`, and the names in `[api] hosts`. `/health` answers
//! whatever the name (it reads nothing). Owns that decision only.

use axum::http::{header, Request, StatusCode};
use axum::response::Response;

/// The accepted names, lower case; `None` accepts every `Host` (tests that
/// embed the API without a configuration).
#[derive(Debug, Clone)]
pub struct Hosts {
    names: Option<Vec<String>>,
}

impl Hosts {
    /// Every `Host` accepted.
    pub fn any() -> Hosts {
        Hosts { names: None }
    }

    /// `localhost`, this machine's name (and `.local`) and `configured`.
    pub fn new(configured: &[String]) -> Hosts {
        let mut names = vec!["localhost".to_string(), "localhost.localdomain".to_string()];
        if let Some(me) = host_name() {
            names.push(format!("{me}.local"));
            names.push(me);
        }
        names.extend(configured.iter().map(|n| normal(n)));
        Hosts { names: Some(names) }
    }

    /// Is a `Host` header value (name or address, with or without a port) one of ours?
    pub fn allows(&self, host: &str) -> bool {
        let Some(names) = &self.names else { return true };
        let host = host.trim();
        // `[::1]:5003`, `[::1]`: an IPv6 literal.
        if let Some(rest) = host.strip_prefix('[') {
            return rest.split(']').next().is_some_and(|a| a.parse::<std::net::Ipv6Addr>().is_ok());
        }
        let name = match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        };
        name.parse::<std::net::IpAddr>().is_ok() || names.iter().any(|n| *n == normal(name))
    }

    /// The 421 answer for a request sent to another name, if it was.
    pub fn refuse<B>(&self, req: &Request<B>) -> Option<Response> {
        if self.names.is_none() || req.uri().path() == "/health" {
            return None;
        }
        let host = req.headers().get(header::HOST)?;
        let text = host.to_str().unwrap_or("?");
        if self.allows(text) {
            return None;
        }
        let shown: String = text.chars().take(80).filter(|c| !c.is_control()).collect();
        tracing::debug!(host = %shown, "API: request for another host name refused");
        Some(super::error(
            StatusCode::MISDIRECTED_REQUEST,
            &format!(
                "this API answers to its IP addresses, localhost and this machine's name, not {shown:?}: \
                 to reach it by that name, add it to [api] hosts"
            ),
        ))
    }
}

fn normal(name: &str) -> String {
    name.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// This machine's host name, from the kernel.
fn host_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    Some(normal(&name)).filter(|n| !n.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_localhost_and_configured_names_pass_and_others_do_not() {
        let h = Hosts::new(&["Pi.Example.net".to_string()]);
        for ok in
            ["127.0.0.1:5003", "192.168.1.20", "[::1]:5003", "[fe80::1]", "localhost:5003", "pi.example.net."]
        {
            assert!(h.allows(ok), "{ok}");
        }
        for bad in ["attacker.example:5003", "localhost.attacker.example", "[evil]:80", "pi.example.net.evil"]
        {
            assert!(!h.allows(bad), "{bad}");
        }
        if let Some(me) = host_name() {
            assert!(h.allows(&format!("{me}:5003")) && h.allows(&format!("{me}.local")));
        }
        assert!(Hosts::any().allows("anything"));
    }

    #[test]
    fn health_answers_any_name_and_a_request_without_host_is_served() {
        let h = Hosts::new(&[]);
        let req = |path: &str, host: Option<&str>| {
            let mut b = Request::builder().uri(path);
            if let Some(host) = host {
                b = b.header(header::HOST, host);
            }
            b.body(()).unwrap()
        };
        assert!(h.refuse(&req("/health", Some("attacker.example"))).is_none());
        assert!(h.refuse(&req("/api/status", None)).is_none());
        let r = h.refuse(&req("/api/status", Some("attacker.example:5003"))).unwrap();
        assert_eq!(r.status(), StatusCode::MISDIRECTED_REQUEST);
    }
}
