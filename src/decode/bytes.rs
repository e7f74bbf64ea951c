//! Byte searches shared by both tokenizers' shortcuts, a word at a time.
//!
//! Owns finding the next interesting byte. The tags and texts of a post are a
//! few bytes each, so a byte loop pays a mispredicted exit per token and a
//! memchr call pays its setup for nothing; eight bytes per step with exact
//! per-byte flags (no carries between bytes) pays neither, and long runs (the
//! base64 of an image) are handed to memchr after a few words. Portable: plain
//! `u64` arithmetic, loaded little-endian on every target so the lowest
//! flagged byte is always the first one in the body. It must never read
//! outside the slice (every load is a checked `get`).

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = ONES * 0x80;
const LOW7: u64 = ONES * 0x7f;
/// Words looked at before a search hands over to memchr (long text: images).
const SHORT_WORDS: usize = 4;

/// The 8 bytes at `at`, or `None` within 8 bytes of the end.
#[inline(always)]
fn word(body: &[u8], at: usize) -> Option<u64> {
    let bytes = body.get(at..at.checked_add(8)?)?;
    <[u8; 8]>::try_from(bytes).ok().map(u64::from_le_bytes)
}

/// The high bit of every byte of `w` equal to `b`.
#[inline(always)]
fn eq(w: u64, b: u8) -> u64 {
    let x = w ^ (ONES * u64::from(b));
    !(((x & LOW7) + LOW7) | x) & HIGH
}

/// The high bit of every byte of `w` below `n` (`n` at most 0x80).
#[inline(always)]
fn below(w: u64, n: u8) -> u64 {
    !(((w & LOW7) + ONES * u64::from(0x80 - n)) | w) & HIGH
}

/// Offset of the first flagged byte.
#[inline(always)]
fn first(flags: u64) -> usize {
    (flags.trailing_zeros() / 8) as usize
}

/// The whitespace quick-xml recognizes (`is_ascii_whitespace` also has form feed).
#[inline]
pub(crate) fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

#[inline(always)]
fn spaces(w: u64) -> u64 {
    eq(w, b' ') | eq(w, b'\t') | eq(w, b'\n') | eq(w, b'\r')
}

/// Index of the first non-whitespace byte at or after `from` (`body.len()` if none).
#[inline]
pub(crate) fn skip_space(body: &[u8], mut from: usize) -> usize {
    while let Some(w) = word(body, from) {
        let other = !spaces(w) & HIGH;
        if other != 0 {
            return from + first(other);
        }
        from += 8;
    }
    while body.get(from).is_some_and(|&b| is_space(b)) {
        from += 1;
    }
    from
}

/// Index of the first `needle` at or after `from`.
#[inline]
pub(crate) fn find(body: &[u8], mut from: usize, needle: u8) -> Option<usize> {
    for _ in 0..SHORT_WORDS {
        let Some(w) = word(body, from) else { break };
        let hit = eq(w, needle);
        if hit != 0 {
            return Some(from + first(hit));
        }
        from += 8;
    }
    Some(from + memchr::memchr(needle, body.get(from..)?)?)
}

/// Flags at or above the byte after the one `bit` flags (`bit` a single flag).
#[inline(always)]
fn after(bit: u64) -> u64 {
    !((bit << 1).wrapping_sub(1))
}

/// Where element content starting at `from` ends: the next `<`, and whether
/// everything before it is whitespace (indentation, which nobody reads).
/// When the `<` is in the first word both answers come from one load, the
/// common case for indentation and for the short text of a leaf.
#[inline]
pub(crate) fn content_end(body: &[u8], from: usize) -> Option<(usize, bool)> {
    // Two words cover the deepest indentation of a real post.
    let mut at = from;
    for _ in 0..2 {
        let Some(w) = word(body, at) else { break };
        let lt = eq(w, b'<');
        let other = !spaces(w) & HIGH;
        if lt != 0 {
            let lowest = lt & lt.wrapping_neg();
            return Some((at + first(lt), other & lowest.wrapping_sub(1) == 0));
        }
        if other != 0 {
            return Some((find(body, at, b'<')?, false));
        }
        at += 8;
    }
    let text = skip_space(body, at);
    if *body.get(text)? == b'<' {
        return Some((text, true));
    }
    Some((find(body, text, b'<')?, false))
}

/// Index of the `>` ending a start tag, from `from` (just after its name), by
/// quick-xml's rule: the first `>` outside single or double quotes, so both
/// agree on where every tag ends whatever its attributes hold. The quotes and
/// the `>` of a short attribute list are walked within one word's flags.
#[inline]
pub(crate) fn tag_end(body: &[u8], mut from: usize) -> Option<usize> {
    // The quote being closed (its flags), or 0 outside quotes.
    let mut open = 0u8;
    while let Some(w) = word(body, from) {
        let (gt, double, single) = (eq(w, b'>'), eq(w, b'"'), eq(w, b'\''));
        let mut from_bit = !0u64;
        loop {
            let hit = from_bit
                & match open {
                    0 => gt | double | single,
                    b'"' => double,
                    _ => single,
                };
            if hit == 0 {
                break;
            }
            let bit = hit & hit.wrapping_neg();
            open = match open {
                0 if bit & gt != 0 => return Some(from + first(bit)),
                0 if bit & double != 0 => b'"',
                0 => b'\'',
                _ => 0,
            };
            from_bit = after(bit);
        }
        from += 8;
    }
    // The last few bytes of the body, one at a time.
    for (i, &b) in body.get(from..)?.iter().enumerate() {
        match b {
            b'>' if open == 0 => return Some(from + i),
            b'"' | b'\'' if open == 0 => open = b,
            _ if b == open => open = 0,
            _ => {}
        }
    }
    None
}

/// Where an element name starting at `from` ends: the first whitespace, `>`
/// or `/` (quick-xml's name runs to the first whitespace; the caller makes
/// sure `/` and `>` end it there too). `None` when a quote or a control byte
/// comes first: quick-xml would read those differently (a quote opens a value).
#[inline]
pub(crate) fn element_name_end(body: &[u8], mut from: usize) -> Option<usize> {
    let end = loop {
        let Some(w) = word(body, from) else {
            let rest = body.get(from..)?;
            break from + rest.iter().position(|&b| b <= b' ' || matches!(b, b'>' | b'/' | b'"' | b'\''))?;
        };
        let hit = below(w, b' ' + 1) | eq(w, b'>') | eq(w, b'/') | eq(w, b'"') | eq(w, b'\'');
        if hit != 0 {
            break from + first(hit);
        }
        from += 8;
    };
    let b = *body.get(end)?;
    (is_space(b) || b == b'>' || b == b'/').then_some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes that sit next to the classes in value (`<` ± 1, with the high
    /// bit set, control bytes around whitespace), so a flag leaking into a
    /// neighbour or across a byte boundary shows up.
    const ALPHABET: &[u8] = b"<>\"'/ \t\n\r\x0c\x00\x1f\x21\x3b\x3d\xbc\xbe\xa2\xa7\xaf\xa0\x80\xff\x7fa9";

    fn bodies() -> impl Iterator<Item = Vec<u8>> {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        (0..40_000).map(move |i| {
            let mut next = || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as usize
            };
            let len = i % 41;
            (0..len).map(|_| ALPHABET[next() % ALPHABET.len()]).collect()
        })
    }

    fn naive_tag_end(body: &[u8], from: usize) -> Option<usize> {
        let mut open = 0u8;
        for (i, &b) in body.get(from..)?.iter().enumerate() {
            match b {
                b'>' if open == 0 => return Some(from + i),
                b'"' | b'\'' if open == 0 => open = b,
                _ if b == open => open = 0,
                _ => {}
            }
        }
        None
    }

    #[test]
    fn word_searches_agree_with_byte_loops() {
        for body in bodies() {
            for from in 0..=body.len() + 1 {
                let rest = body.get(from..);
                let position = |f: &dyn Fn(u8) -> bool| rest.and_then(|r| r.iter().position(|&b| f(b)));
                let naive_find = position(&|b| b == b'<').map(|i| from + i);
                assert_eq!(find(&body, from, b'<'), naive_find, "find {body:?} from {from}");
                let naive_skip = position(&|b| !is_space(b)).map_or(body.len().max(from), |i| from + i);
                assert_eq!(skip_space(&body, from), naive_skip, "skip_space {body:?} from {from}");
                let naive_content = naive_find.map(|lt| (lt, body[from..lt].iter().all(|&b| is_space(b))));
                assert_eq!(content_end(&body, from), naive_content, "content_end {body:?} from {from}");
                let naive_name = position(&|b| b <= b' ' || matches!(b, b'>' | b'/' | b'"' | b'\''))
                    .map(|i| from + i)
                    .filter(|&end| matches!(body[end], b' ' | b'\t' | b'\r' | b'\n' | b'>' | b'/'));
                assert_eq!(element_name_end(&body, from), naive_name, "name {body:?} from {from}");
                assert_eq!(tag_end(&body, from), naive_tag_end(&body, from), "tag_end {body:?} from {from}");
            }
        }
    }

    #[test]
    fn long_runs_are_searched_past_the_short_words() {
        let mut body = vec![b'a'; 1000];
        body.extend_from_slice(b" \t<\"'>");
        assert_eq!(find(&body, 0, b'<'), Some(1002));
        assert_eq!(content_end(&body, 0), Some((1002, false)));
        assert_eq!(content_end(&body, 1000), Some((1002, true)));
        assert_eq!(skip_space(&body, 1000), 1002);
        assert_eq!(tag_end(&body, 0), None, "the quote is never closed");
        assert_eq!(tag_end(&body[..1005], 0), None);
        body.extend_from_slice(&[b'x'; 20]);
        body.extend_from_slice(b"'>\">");
        assert_eq!(tag_end(&body, 0), Some(body.len() - 1), "quotes of the other kind and `>` inside");
        assert_eq!(element_name_end(&body, 0), Some(1000));
    }
}
