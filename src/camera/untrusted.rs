//! Text that came from a device, made safe before anyone sees or stores it.
//!
//! Anything on the LAN can answer as the camera, so every value read from an
//! answer is checked for its type here: a MAC must be a MAC, a direction one
//! of the firmware's words, and free text (names, models, firmware versions)
//! loses control characters (a line break would end a TOML comment, an ESC
//! would drive the user's terminal) and is cut to a length no real device
//! needs. Owns those checks only; it never writes a file or prints.

/// Longest free text kept from a device (names, models, serials, versions).
pub const MAX_TEXT: usize = 64;
/// Longest host or path kept from a webhook slot.
pub const MAX_ADDRESS: usize = 255;

/// Free text from a device: control and bidirectional-override characters
/// become `?`, and it is cut to `max` characters (with `…`).
pub fn text(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max * 4));
    for (i, c) in s.chars().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        out.push(if unsafe_char(c) { '?' } else { c });
    }
    out
}

/// Characters that must not reach a terminal, a log line or a file from a device.
fn unsafe_char(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

/// Anything shown on a terminal: device text that reached a message some
/// other way (an error from the XML reader, say) loses its control characters
/// there too. Line breaks and tabs of the message itself are kept.
pub fn printable(s: &str) -> String {
    s.chars().map(|c| if c != '\n' && c != '\t' && unsafe_char(c) { '?' } else { c }).collect()
}

/// A MAC address as `aa:bb:cc:dd:ee:ff` (devices write `:` or `-`, any case),
/// or `None` when it is not one.
pub fn mac(s: &str) -> Option<String> {
    let parts: Vec<&str> = s.trim().split([':', '-']).collect();
    let ok =
        parts.len() == 6 && parts.iter().all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()));
    ok.then(|| parts.join(":").to_ascii_lowercase())
}

/// A tripwire's direction: one of the firmware's words, else `unknown`.
pub fn direction(s: &str) -> &'static str {
    match s.trim().to_ascii_lowercase().as_str() {
        "none" => "none",
        "rightortop" => "rightortop",
        "leftorbotton" | "leftorbottom" => "leftorbotton",
        _ => "unknown",
    }
}

/// A word such as a channel status (`online`, `videoLoss`): letters and
/// digits only, else `unknown`.
pub fn word(s: &str) -> String {
    let s = s.trim();
    if !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        s.to_string()
    } else {
        "unknown".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_text_loses_line_breaks_escapes_and_length() {
        assert_eq!(text("E4_4MP", MAX_TEXT), "E4_4MP");
        assert_eq!(text("a\nb\r\u{1b}[2Jc\u{7f}", MAX_TEXT), "a?b??[2Jc?");
        assert_eq!(text("\u{202E}evil", MAX_TEXT), "?evil");
        assert_eq!(text(&"x".repeat(100), 4), "xxxx…");
        assert_eq!(printable("line one\n\u{1b}]0;title\u{7}"), "line one\n?]0;title?");
    }

    #[test]
    fn a_mac_is_a_mac_and_a_direction_a_word() {
        assert_eq!(mac("70-AB-C8-1B-5D-DC").as_deref(), Some("70:ab:c8:1b:5d:dc"));
        assert_eq!(mac("70:ab:c8:1b:5d:dc\n[[rule]]"), None);
        assert_eq!(mac("70:ab:c8:1b:5d"), None);
        assert_eq!(direction("rightortop"), "rightortop");
        assert_eq!(direction("none\"\n[[rule]]"), "unknown");
        assert_eq!(word("videoLoss"), "videoLoss");
        assert_eq!(word("on\nline"), "unknown");
    }
}
