//! Viewtron XML → [`Event`]: bytes in, one normalized event (or a typed error) out.
//!
//! Owns both wire dialects (IPC v1.x, NVR v2.x) and maps them onto the one
//! model in [`model`]. It must never do I/O, read a clock, expand entities, or
//! copy image data: base64 blobs are located by byte range and decoded only
//! through [`image_bytes`] when something asks.
//!
//! Two tokenizers feed one field routing (`scan::Scanner`). `fast` is a
//! hand-written tokenizer for the markup cameras actually send; it exists
//! because quick-xml's event machinery alone cost more than decoding a 1.5 KB
//! traject post, the post every camera sends several times a second. The
//! quick-xml walk in `scan` reads everything else and owns every error. The
//! fast path must never change an answer: on anything it is not sure of it
//! declines and the quick-xml walk decodes the body from its first byte, so
//! results, error messages and offsets are the walk's (tests/decode_fast.rs
//! and the fuzz target compare the two on arbitrary input).

mod build;
mod bytes;
mod fast;
pub mod inspect;
pub mod model;
mod scan;
mod tags;
mod values;

pub use model::*;
pub use scan::{MAX_DEPTH, MAX_ITEMS, MAX_POINTS};

use thiserror::Error;

/// Why a body could not be decoded. Every variant says where (byte offset).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("not XML at byte {offset}: {reason}")]
    NotXml { offset: usize, reason: String },
    #[error("truncated: the document ends at byte {offset} inside <{open}>")]
    Truncated { offset: usize, open: String },
    #[error("no recognizable root at byte {offset}: found <{found}>, expected <config> or <DeviceInfo>")]
    UnknownRoot { offset: usize, found: String },
    #[error("invalid UTF-8 in <{field}> at byte {offset}")]
    InvalidUtf8 { offset: usize, field: String },
    #[error("DTD or entity declaration at byte {offset} refused (never expanded)")]
    Doctype { offset: usize },
    #[error("nesting deeper than {limit} elements at byte {offset}")]
    TooDeep { offset: usize, limit: usize },
    #[error("bad value in <{field}> at byte {offset}: {reason}")]
    BadValue { offset: usize, field: String, reason: String },
    /// More list entries than any real post holds: refused before they cost memory.
    #[error("more than {limit} {what} in one post at byte {offset}")]
    TooMany { offset: usize, what: &'static str, limit: usize },
    /// Something after the root element other than whitespace, comments or
    /// processing instructions: a second document, trailing markup or text.
    #[error("content after the root element at byte {offset}: {found}")]
    Trailing { offset: usize, found: String },
}

impl DecodeError {
    /// A short stable word for metrics labels and error XML (`not_xml`, `truncated`, ...).
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::NotXml { .. } => "not_xml",
            DecodeError::Truncated { .. } => "truncated",
            DecodeError::UnknownRoot { .. } => "unknown_root",
            DecodeError::InvalidUtf8 { .. } => "invalid_utf8",
            DecodeError::Doctype { .. } => "doctype",
            DecodeError::TooDeep { .. } => "too_deep",
            DecodeError::BadValue { .. } => "bad_value",
            DecodeError::TooMany { .. } => "too_many",
            DecodeError::Trailing { .. } => "trailing_content",
        }
    }

    /// Byte offset in the body where the problem was found.
    pub fn offset(&self) -> usize {
        match self {
            DecodeError::NotXml { offset, .. }
            | DecodeError::Truncated { offset, .. }
            | DecodeError::UnknownRoot { offset, .. }
            | DecodeError::InvalidUtf8 { offset, .. }
            | DecodeError::Doctype { offset }
            | DecodeError::TooDeep { offset, .. }
            | DecodeError::BadValue { offset, .. }
            | DecodeError::TooMany { offset, .. }
            | DecodeError::Trailing { offset, .. } => *offset,
        }
    }
}

/// Decode one post body. An empty (or whitespace-only) body is the IPC keepalive.
///
/// Linear in the body's length, refusing DOCTYPE and nesting deeper than
/// [`MAX_DEPTH`] as soon as they appear. Images are located, not copied (see
/// [`ImageRef::range`] and [`image_bytes`]).
///
/// Lenient where devices differ, strict where input is hostile: a UTF-8 BOM,
/// comments and processing instructions around the root are fine; the
/// camera's `<types>` capability list is stepped over without being checked
/// when it is plain markup; unknown elements are ignored and unknown
/// `smartType`s become [`EventKind::Unknown`].
///
/// One clean post or an error: after the root only whitespace, comments and
/// processing instructions may follow (a second document, markup or text is
/// [`DecodeError::Trailing`]); every byte outside the located images must be
/// UTF-8, read or not (image text is checked as base64 when it is decoded);
/// an identity field given twice must agree; at most [`MAX_ITEMS`] list
/// entries and [`MAX_POINTS`] points per polygon.
pub fn decode(body: &[u8]) -> Result<Event, DecodeError> {
    if body.trim_ascii().is_empty() {
        return Ok(Event::empty_keepalive());
    }
    // The fast tokenizer takes the posts cameras send; anything else (and
    // every error) is the quick-xml walk's to judge, from the first byte.
    match fast::scan(body) {
        Some(raw) => whole(body, raw),
        None => scan::scan(body).and_then(|raw| whole(body, raw)),
    }
}

/// The checks that look at the body as a whole, the same for both walks.
fn whole(body: &[u8], raw: scan::Raw<'_>) -> Result<Event, DecodeError> {
    let end = raw.end.min(body.len());
    check_tail(body, end)?;
    let mut from = 0;
    let mut ranges: Vec<_> = raw.images.iter().filter_map(|i| i.range.clone()).collect();
    ranges.sort_by_key(|r| r.start);
    for r in ranges.iter().chain(std::iter::once(&(body.len()..body.len()))) {
        let until = r.start.max(from).min(body.len());
        if let Err(e) = std::str::from_utf8(&body[from..until]) {
            return Err(DecodeError::InvalidUtf8 { offset: from + e.valid_up_to(), field: "body".into() });
        }
        from = from.max(r.end.min(body.len()));
    }
    Ok(build::build(raw))
}

/// After the root: whitespace, comments and processing instructions only.
fn check_tail(body: &[u8], end: usize) -> Result<(), DecodeError> {
    let mut at = end;
    loop {
        while body.get(at).is_some_and(u8::is_ascii_whitespace) {
            at += 1;
        }
        let rest = &body[at.min(body.len())..];
        if rest.is_empty() {
            return Ok(());
        }
        let trailing = |found: &str| Err(DecodeError::Trailing { offset: at, found: found.into() });
        if rest.starts_with(b"<!--") {
            match memchr::memmem::find(&rest[4..], b"-->") {
                Some(i) => at += 4 + i + 3,
                None => return trailing("an unclosed comment"),
            }
        } else if rest.starts_with(b"<?xml") {
            return trailing("a second document");
        } else if rest.starts_with(b"<?") {
            match memchr::memmem::find(&rest[2..], b"?>") {
                Some(i) => at += 2 + i + 2,
                None => return trailing("an unclosed processing instruction"),
            }
        } else if rest[0] == b'<' {
            return trailing("markup after the root element");
        } else {
            return trailing("text after the root element");
        }
    }
}

/// Not API: [`decode`] through the quick-xml walk only, the reference the
/// fast path is tested against (differential tests, fuzz target).
#[doc(hidden)]
pub fn decode_reference(body: &[u8]) -> Result<Event, DecodeError> {
    if body.trim_ascii().is_empty() {
        return Ok(Event::empty_keepalive());
    }
    scan::scan(body).and_then(|raw| whole(body, raw))
}

/// Not API: [`decode`] through the fast path only; `None` where `decode`
/// would fall back to the quick-xml walk, or refuses the body as a whole.
/// Lets tests prove real posts never fall back.
#[doc(hidden)]
pub fn decode_fast(body: &[u8]) -> Option<Event> {
    if body.trim_ascii().is_empty() {
        return Some(Event::empty_keepalive());
    }
    fast::scan(body).and_then(|raw| whole(body, raw).ok())
}

/// Why an image could not be turned into JPEG bytes.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ImageError {
    #[error("image range {start}..{end} lies outside the {len}-byte body")]
    OutOfRange { start: usize, end: usize, len: usize },
    #[error("image is not valid base64: {0}")]
    Base64(String),
}

/// Standard alphabet; padding optional and stray low bits tolerated, because
/// firmware base64 is not always canonical and a slightly odd JPEG is still a
/// picture worth keeping.
const LENIENT_BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Decode one located image to its JPEG bytes. The only place base64 is decoded.
/// Whitespace and line breaks inside the base64 (some firmware wraps lines) are skipped.
pub fn image_bytes(body: &[u8], image: &ImageRef) -> Result<Vec<u8>, ImageError> {
    use base64::Engine as _;
    let out_of_range =
        || ImageError::OutOfRange { start: image.range.start, end: image.range.end, len: body.len() };
    let text = body.get(image.range.clone()).ok_or_else(out_of_range)?;
    let result = if text.iter().any(u8::is_ascii_whitespace) {
        let compact: Vec<u8> = text.iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
        LENIENT_BASE64.decode(compact)
    } else {
        LENIENT_BASE64.decode(text)
    };
    result.map_err(|e| ImageError::Base64(e.to_string()))
}
