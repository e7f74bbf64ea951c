//! A hand-written tokenizer for the markup cameras actually send, in front of
//! the quick-xml walk in `scan`.
//!
//! Why it exists: on a 1.5 KB traject post quick-xml's event machinery (one
//! `Event` per node, its own stack of open names, a `memchr` call per text
//! gap) costs more than everything camrelay does with the events. Real posts
//! use a tiny, regular subset of XML, and this walks exactly that subset with
//! plain byte loops, feeding the same [`Scanner`] routing the quick-xml walk
//! feeds. One routing, two tokenizers: field semantics live only in `scan`.
//!
//! Owns recognizing that subset and nothing else: an optional UTF-8 BOM,
//! `<?...?>` and `<!--...-->` before the root, elements whose names and
//! attribute names are ASCII name characters, attributes written `k="v"` or
//! `k='v'` after whitespace, text, CDATA sections, self-closing tags, and end
//! tags that repeat the open name exactly. The root's end tag ends the walk,
//! as in `scan`.
//!
//! It must never decide anything about a post that the quick-xml walk would
//! decide differently. So it never reports an error: the moment it meets
//! anything outside the subset (a comment or PI inside the root, DOCTYPE, a
//! mismatched or missing end tag, odd attribute syntax, non-ASCII names,
//! truncation, text outside the root) or the routing refuses something (bad
//! value, depth, unknown root, invalid UTF-8), it returns `None` and `decode`
//! runs `scan::scan` from the start, which gives today's result or today's
//! error with its offset. Refusals therefore stay in one place, and this
//! module's only obligation is: when it returns `Some`, the `Raw` equals what
//! `scan::scan` collects (checked by the differential tests and the fuzz
//! target). Text is handed to the routing raw, `&` and all, exactly as
//! quick-xml hands it over (unescaping is the routing's job in both walks).
//!
//! Same invariants as `scan`: linear time (each byte is looked at a bounded
//! number of times, and a fallback walks the body once more at most), no
//! allocation per element, images located by the byte range of their text and
//! never copied or scanned twice, and no panics (every access is `get` or
//! bounded by a check just before it).

use super::scan::{skip_unused, Raw, Scanner, StartTag};
use std::borrow::Cow;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Bytes accepted in element and attribute names. Narrower than XML (no
/// non-ASCII), so every name this module accepts is read the same way by
/// quick-xml, whose names end only at whitespace, `/>` or `>`.
static NAME: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b':');
        b += 1;
    }
    table
};

/// The whitespace quick-xml recognizes (`is_ascii_whitespace` also has form feed).
#[inline]
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

#[inline]
fn is_name(b: u8) -> bool {
    NAME[usize::from(b)]
}

/// Index of the first non-whitespace byte at or after `from` (`body.len()` if none).
#[inline]
fn skip_space(body: &[u8], mut from: usize) -> usize {
    while let Some(&b) = body.get(from) {
        if !is_space(b) {
            break;
        }
        from += 1;
    }
    from
}

/// Index just past the run of name bytes starting at `from`.
#[inline]
fn name_end(body: &[u8], mut from: usize) -> usize {
    while let Some(&b) = body.get(from) {
        if !is_name(b) {
            break;
        }
        from += 1;
    }
    from
}

/// One attribute `key="value"` starting at `at` (which must hold the key):
/// the key, the value and the index just past the closing quote. `None` for
/// anything but that exact form (spaces around `=` included: quick-xml would
/// accept them, but no camera sends them, and refusing is always safe).
#[inline]
fn attribute(body: &[u8], at: usize) -> Option<(&[u8], &[u8], usize)> {
    let key_end = name_end(body, at);
    let key = body.get(at..key_end).filter(|k| !k.is_empty())?;
    if body.get(key_end) != Some(&b'=') {
        return None;
    }
    let quote = *body.get(key_end + 1).filter(|&&q| q == b'"' || q == b'\'')?;
    let value_start = key_end + 2;
    let len = body.get(value_start..)?.iter().position(|&b| b == quote)?;
    Some((key, body.get(value_start..value_start + len)?, value_start + len + 1))
}

/// The attribute list after a name ending at `at`, up to the tag's `>`:
/// the index where the list ends (at `>` or `/>`), whether the tag closes
/// itself, and the index just past `>`. Attributes must each follow
/// whitespace; a `>` inside a quoted value is part of the value, as for
/// quick-xml.
#[inline]
fn attribute_list(body: &[u8], mut at: usize) -> Option<(usize, bool, usize)> {
    loop {
        let next = skip_space(body, at);
        match *body.get(next)? {
            b'>' => return Some((next, false, next + 1)),
            b'/' => return (body.get(next + 1) == Some(&b'>')).then_some((next, true, next + 2)),
            _ if next == at => return None,
            _ => at = attribute(body, next)?.2,
        }
    }
}

/// A start tag found here: its name and the attribute list already checked by
/// [`attribute_list`], re-read only for the few attributes the routing asks for.
struct Start<'a> {
    name: &'a [u8],
    attributes: &'a [u8],
}

impl StartTag for Start<'_> {
    #[inline]
    fn name(&self) -> &[u8] {
        self.name
    }

    /// The first attribute with that key, as quick-xml's `try_get_attribute`
    /// answers for a list in the accepted form.
    fn attr(&self, key: &[u8]) -> Result<Option<Cow<'_, [u8]>>, String> {
        let list = self.attributes;
        let mut at = skip_space(list, 0);
        while at < list.len() {
            // Checked once already; failing here would mean the two readings
            // disagree, which the routing then reports and `decode` falls back.
            let (k, v, next) = attribute(list, at).ok_or("attribute list re-read differently")?;
            if k == key {
                return Ok(Some(Cow::Borrowed(v)));
            }
            at = skip_space(list, next);
        }
        Ok(None)
    }
}

/// Index of the root's `<`, after a BOM, whitespace, an XML declaration (or
/// other `<?...?>`) and comments.
fn prolog(body: &[u8]) -> Option<usize> {
    let mut at = if body.starts_with(BOM) { BOM.len() } else { 0 };
    loop {
        at = skip_space(body, at);
        let rest = body.get(at..)?;
        if rest.starts_with(b"<?") {
            // quick-xml ends it at the first `>` after a `?`; taking only a
            // first `>` that has one means both agree on where it ends.
            let gt = memchr::memchr(b'>', rest)?;
            if gt < 4 || rest.get(gt - 1) != Some(&b'?') {
                return None;
            }
            at += gt + 1;
        } else if rest.starts_with(b"<!--") {
            // The first `--` must be the end: a comment holding `--` (not
            // XML) or ending `--->` is left to quick-xml.
            let dashes = memchr::memmem::find(rest.get(4..)?, b"--")? + 4;
            if rest.get(dashes + 2) != Some(&b'>') {
                return None;
            }
            at += dashes + 3;
        } else if rest.first() == Some(&b'<') {
            return Some(at);
        } else {
            return None;
        }
    }
}

/// Length of a CDATA section's content, `section` starting just after
/// `<![CDATA[`: up to the first `]]>`, found the way quick-xml and
/// `scan::leaf_text` find it.
#[inline]
fn cdata_len(section: &[u8]) -> Option<usize> {
    memchr::memchr_iter(b'>', section)
        .find(|&i| i >= 2 && section.get(i - 2..i) == Some(&b"]]"[..]))
        .map(|i| i - 2)
}

/// The collected fields, when `body` is entirely in the accepted subset and
/// the routing accepted every value; `None` means "ask `scan::scan`".
pub(crate) fn scan(body: &[u8]) -> Option<Raw<'_>> {
    let mut s = Scanner::new(body);
    let mut at = prolog(body)?;
    loop {
        // Here `body[at]` is a `<`.
        match *body.get(at + 1)? {
            b'/' => {
                let name = s.top_name();
                let end = at + 2 + name.len();
                if s.depth() == 0 || body.get(at + 2..end) != Some(name) || body.get(end) != Some(&b'>') {
                    return None;
                }
                s.pop();
                if s.depth() == 0 {
                    return Some(s.finish());
                }
                at = end + 1;
            }
            b'!' => {
                let section = body.get(at..)?.strip_prefix(b"<![CDATA[")?;
                let len = cdata_len(section)?;
                s.text(section.get(..len)?, true, at).ok()?;
                at += 9 + len + 3;
            }
            _ => {
                let name_start = at + 1;
                let name_stop = name_end(body, name_start);
                let name = body.get(name_start..name_stop).filter(|n| !n.is_empty())?;
                let (list_end, empty, after) = attribute_list(body, name_stop)?;
                let attributes = body.get(name_stop..list_end)?;
                s.start(&Start { name, attributes }, at).ok()?;
                at = after;
                if empty {
                    s.pop();
                    if s.depth() == 0 {
                        return Some(s.finish());
                    }
                } else if s.never_read() {
                    // Exactly where `scan` steps over it, so both collect the same.
                    if let Some(len) = skip_unused(body.get(at..)?, name) {
                        at += len;
                        s.pop();
                    }
                }
            }
        }
        // Content up to the next `<`. Indentation is the common case and is
        // stepped over without a call; real text gets one memchr (a base64
        // image is crossed once, here, and only located by the routing).
        let text_start = at;
        at = skip_space(body, at);
        if *body.get(at)? != b'<' {
            at += memchr::memchr(b'<', body.get(at..)?)?;
            s.text(body.get(text_start..at)?, false, text_start).ok()?;
        }
    }
}
