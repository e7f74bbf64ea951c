//! A hand-written tokenizer for the markup cameras actually send, in front of
//! the quick-xml walk in `scan`.
//!
//! Why it exists: on a 1.5 KB traject post quick-xml's event machinery (an
//! `Event` per node, its own copy of every open name, a `memchr` call per
//! text gap) cost more than everything camrelay does with the events, and
//! capped decode at ~60x the vendor SDK. Real posts use a tiny, regular
//! subset of XML; this walks exactly that subset with word-at-a-time searches
//! (`bytes`) and feeds the same [`Scanner`] routing the quick-xml walk feeds.
//! One routing, two tokenizers: what a field means lives only in `scan`.
//!
//! Owns recognizing that subset and nothing else: an optional UTF-8 BOM,
//! whitespace, `<?...?>` and `<!--...-->` before the root; start tags whose
//! name starts with an ASCII letter, `_` or `:` and runs to whitespace, `>` or
//! `/>` (where quick-xml's name ends too) with no quote or control byte in
//! it; attribute lists delimited by quick-xml's own rule (the first `>`
//! outside quotes) and read, only when the routing asks, in the form `k="v"`
//! or `k='v'` after whitespace; text; CDATA sections; and end tags that
//! repeat the open name exactly. The root's end tag ends the walk, as in
//! `scan`; nothing after it is read.
//!
//! It must never decide anything about a post that the quick-xml walk would
//! decide differently. So it never reports an error: the moment it meets
//! anything outside the subset (a comment or PI inside the root, DOCTYPE, a
//! mismatched or missing end tag, `</name >`, an attribute list it would have
//! to guess at, a name starting with a non-ASCII byte, truncation, text
//! outside the root) or the routing refuses something (bad value, depth,
//! unknown root, invalid UTF-8), it returns `None` and `decode` runs
//! `scan::scan` from the first byte, which gives today's result or today's
//! error with its offset. Refusals therefore stay in one place, and this
//! module's only obligation is: when it returns `Some`, the `Raw` equals what
//! `scan::scan` collects (checked by tests/decode_fast.rs and the fuzz
//! target). Text goes to the routing raw,
//! `&` and all, exactly as quick-xml hands it over: unescaping is the
//! routing's job in both walks. The `<types>` list and unread item fields are
//! stepped over by `scan::skip_unused`, at exactly the points `scan` does.
//!
//! Same invariants as `scan`: linear time (every byte is looked at a bounded
//! number of times, and a fallback walks the body once more at most), no
//! allocation per element, images located by the byte range of their text and
//! never copied or scanned twice, and no panics (every access is a `get` or
//! follows a check of the same index).

use super::bytes::{content_end, element_name_end, find, is_space, skip_space, tag_end};
use super::scan::{same_bytes, skip_unused, Raw, Scanner, StartTag};
use std::borrow::Cow;
use std::cell::Cell;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Bytes accepted in attribute names (only read when the routing asks for an
/// attribute). Narrower than XML, so every key accepted here is read the same
/// way by quick-xml, whose keys end at whitespace or `=`.
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

/// Index just past the run of attribute-name bytes starting at `from`.
#[inline]
fn name_end(body: &[u8], mut from: usize) -> usize {
    while body.get(from).is_some_and(|&b| NAME[usize::from(b)]) {
        from += 1;
    }
    from
}

/// One attribute `key="value"` starting at `at` (which must hold the key):
/// the key, the value and the index just past the closing quote. `None` for
/// anything but that exact form (spaces around `=` included: quick-xml would
/// accept them, but no camera sends them, and refusing is always safe).
#[inline]
fn attribute(list: &[u8], at: usize) -> Option<(&[u8], &[u8], usize)> {
    let key_end = name_end(list, at);
    let key = list.get(at..key_end).filter(|k| !k.is_empty())?;
    if list.get(key_end) != Some(&b'=') {
        return None;
    }
    let quote = *list.get(key_end + 1).filter(|&&q| q == b'"' || q == b'\'')?;
    let value_start = key_end + 2;
    let len = list.get(value_start..)?.iter().position(|&b| b == quote)?;
    Some((key, list.get(value_start..value_start + len)?, value_start + len + 1))
}

/// A start tag found here. Its attribute list is only delimited; it is read
/// when the routing asks for an attribute (a handful of elements per post).
struct Start<'a> {
    name: &'a [u8],
    /// Between the name and `>` (or `/>`), as quick-xml's `BytesStart` holds it.
    attributes: &'a [u8],
    /// Set when an attribute was asked for and the list is not in the
    /// accepted form: quick-xml might read it differently, so the walk gives up.
    refused: Cell<bool>,
}

impl StartTag for Start<'_> {
    #[inline]
    fn name(&self) -> &[u8] {
        self.name
    }

    /// The first attribute with that key, as quick-xml's `try_get_attribute`
    /// answers when every attribute before it is written `k="v"` or `k='v'`
    /// after whitespace (it reads those exactly so).
    fn attr(&self, key: &[u8]) -> Result<Option<Cow<'_, [u8]>>, String> {
        let list = self.attributes;
        let mut at = 0;
        loop {
            let next = skip_space(list, at);
            if next == list.len() {
                return Ok(None);
            }
            match attribute(list, next).filter(|_| next > at) {
                Some((k, v, _)) if k == key => return Ok(Some(Cow::Borrowed(v))),
                Some((_, _, end)) => at = end,
                None => {
                    self.refused.set(true);
                    return Ok(None);
                }
            }
        }
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
    let mut at = 0;
    loop {
        let gt = find(section, at, b'>')?;
        if gt >= 2 && section.get(gt - 2..gt) == Some(&b"]]"[..]) {
            return Some(gt - 2);
        }
        at = gt + 1;
    }
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
                let same = body.get(at + 2..end).is_some_and(|n| same_bytes(n, name));
                if s.depth() == 0 || !same || body.get(end) != Some(&b'>') {
                    return None;
                }
                s.pop();
                if s.depth() == 0 {
                    return Some(s.finish(end + 1));
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
                // `<?` (a PI) and anything exotic (non-ASCII) are quick-xml's.
                let initial = *body.get(name_start)?;
                if !(initial.is_ascii_alphabetic() || initial == b'_' || initial == b':') {
                    return None;
                }
                let name_stop = element_name_end(body, name_start)?;
                let name = body.get(name_start..name_stop).filter(|n| !n.is_empty())?;
                // quick-xml's name runs to the first whitespace: it must stop
                // where ours does, so a `/` must be that of `/>`.
                let (gt, empty) = match *body.get(name_stop)? {
                    b'>' => (name_stop, false),
                    b'/' if body.get(name_stop + 1) == Some(&b'>') => (name_stop + 1, true),
                    b if is_space(b) => {
                        let gt = tag_end(body, name_stop)?;
                        (gt, body.get(gt - 1) == Some(&b'/'))
                    }
                    _ => return None,
                };
                let attributes = body.get(name_stop..gt - usize::from(empty))?;
                let tag = Start { name, attributes, refused: Cell::new(false) };
                s.start(&tag, at).ok()?;
                if tag.refused.get() {
                    return None;
                }
                let after = gt + 1;
                at = after;
                if empty {
                    s.pop();
                    if s.depth() == 0 {
                        return Some(s.finish(after));
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
        // Content up to the next `<`: indentation is skipped, text goes to
        // the routing (a base64 image is crossed here once, and only located).
        let (lt, blank) = content_end(body, at)?;
        if !blank {
            s.text(body.get(at..lt)?, false, at).ok()?;
        }
        at = lt;
    }
}
