//! Byte-level edits of a post for the decoder's property tests: one enum and
//! one `apply`, so every suite mutates bodies the same way. Each suite picks
//! its own mix of edits with its own proptest strategy.
// Not every suite draws every edit (decode_props never splices markup).
#![allow(dead_code)]

/// One edit at a position taken modulo the body's length, so any `usize` is valid.
#[derive(Debug, Clone)]
pub enum Mutation {
    Replace(usize, u8),
    Insert(usize, u8),
    Delete(usize, usize),
    Truncate(usize),
    Duplicate(usize, usize),
    /// A whole piece of markup, where the fast path draws its lines.
    Splice(usize, &'static str),
}

pub fn apply(body: &mut Vec<u8>, m: &Mutation) {
    let len = body.len().max(1);
    match *m {
        Mutation::Replace(p, b) => {
            if !body.is_empty() {
                body[p % len] = b;
            }
        }
        Mutation::Insert(p, b) => body.insert(p % (body.len() + 1), b),
        Mutation::Delete(p, n) => {
            let start = p % len;
            let end = (start + n).min(body.len());
            body.drain(start.min(end)..end);
        }
        Mutation::Truncate(p) => body.truncate(p % len),
        Mutation::Duplicate(p, n) => {
            let start = p % len;
            let end = (start + n).min(body.len());
            let copy = body.get(start..end).map(<[u8]>::to_vec).unwrap_or_default();
            body.splice(end..end, copy);
        }
        Mutation::Splice(p, piece) => {
            let at = p % (body.len() + 1);
            body.splice(at..at, piece.bytes());
        }
    }
}
