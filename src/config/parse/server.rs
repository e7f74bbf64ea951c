//! `[server]` and `[api]`: what serde cannot say about them (the networks of
//! `allow`, a token that would be logged or guessed). serde reads them.

use super::*;

/// Every `[server] allow` entry must be a network: `run` would refuse it.
pub(super) fn check_allow(t: &Tbl) -> R<()> {
    let Some((entries, _)) = t.strings("allow").or_else(|e| {
        // An empty list allows every source: fine here.
        if matches!(t.get("allow").map(|v| v.get_ref()), Some(DeValue::Array(a)) if a.is_empty()) {
            Ok(None)
        } else {
            Err(e)
        }
    })?
    else {
        return Ok(());
    };
    for (entry, span) in entries {
        if let Err(e) = crate::ingest::parse_network(entry) {
            return Err(Diag::new(span, "allow", format!("[server] {e}")));
        }
    }
    Ok(())
}

/// `token` and `token_file` are alternatives, and the file must be readable
/// now: `run` reads it at startup.
pub(super) fn check_token(t: &Tbl, api: &ApiConfig) -> R<()> {
    for name in &api.hosts {
        let ok = !name.is_empty()
            && name.len() <= 253
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            && name.parse::<std::net::IpAddr>().is_err();
        if !ok {
            let span = t.get("hosts").map(|v| v.span()).unwrap_or_else(|| t.key_span("hosts"));
            return Err(Diag::new(
                span,
                "hosts",
                format!(
                    "[api] hosts: {name:?} is not a host name; write names only (no scheme, port or address), e.g. hosts = [\"pi.example.net\"]"
                ),
            ));
        }
    }
    if api.token.is_some() && api.token_file.is_some() {
        return Err(Diag::new(
            t.key_span("token_file"),
            "token_file",
            "[api] has both \"token\" and \"token_file\"; keep one (token_file keeps the secret out of this file)"
                .to_string(),
        ));
    }
    // A token file that cannot be read is a warning (config::lint), as it is
    // for `run`: the rules keep working, manual control is refused.
    Ok(())
}
