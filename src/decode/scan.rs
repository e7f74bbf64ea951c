//! The field routing both tokenizers feed, and the quick-xml walk: the
//! reference reading of every post and the only one that reports errors.
//!
//! Owns the routing ([`Scanner`]): a fixed-size stack of [`Tag`]s (no
//! allocation per element), the refusals made while routing (depth, unknown
//! root, bad values, invalid UTF-8), and the routing of each text node to the
//! one field it fills. It must never materialize text it does not need: base64
//! images are only located (a byte range computed from the slice the tokenizer
//! hands over), numbers are parsed from the raw bytes, and only string fields
//! are UTF-8 checked and unescaped. Dialect and kind decisions are left to
//! `build`. Start tags arrive as [`StartTag`], so `fast` and the walk here
//! share this one routing instead of each keeping a copy of what fields mean.
//!
//! Owns the quick-xml walk ([`scan`]) too, and with it every refusal of
//! structure (DOCTYPE, mismatched or missing end tags, truncation, text
//! outside the root) and every error message and offset. `decode` runs it
//! whenever `fast` declines a body; it must therefore stay complete on its
//! own, and its behaviour is what tests/decode_fast.rs holds `fast` to.
//!
//! Why not the obvious way (unescape every text, build a tree or a serde
//! struct, let quick-xml check end names): each of those allocates or copies
//! per node, and on a 1.5 KB traject post that alone costs more than
//! tokenizing. Here the per-node work is a tag lookup and a stack push; leaf
//! fields are read straight to their end tag (`leaf_text`), and the unused
//! `<types>` block is stepped over (`skip_unused`, shared with `fast`), both
//! falling back to the tokenizer on anything unusual. Every byte is still
//! looked at a bounded number of times.

use super::bytes;
use super::model::{Alarm, Device, DeviceTime, Face, Plate, Point, Rect, SmartStatus, TargetClass};
use super::tags::Tag;
use super::values;
use super::DecodeError;
use quick_xml::events::{BytesStart, Event as XmlEvent};
use quick_xml::Reader;
use std::borrow::Cow;
use std::ops::Range;

/// Deeper than any real post (the deepest is 8) and shallow enough that a
/// hostile 100,000-level document is refused after a few hundred bytes.
pub const MAX_DEPTH: usize = 64;

/// List items (targets, events, alarms, images) one post may hold. A camera
/// tracks a few dozen targets at most; 55,000 of them (3.8 MB, under the
/// body limit) once took the daemon from 6 MB to 539 MB.
pub const MAX_ITEMS: usize = 256;

/// Points one polygon or point list may hold (real regions have 4 to 10).
pub const MAX_POINTS: usize = 64;

const NO_ITEM: u32 = u32::MAX;

/// Four optional numbers filled one element at a time (`x1`..`y2`, `x`/`y`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Parts<const N: usize> {
    pub v: [u32; N],
    pub seen: u8,
}

impl<const N: usize> Default for Parts<N> {
    fn default() -> Self {
        Parts { v: [0; N], seen: 0 }
    }
}

impl<const N: usize> Parts<N> {
    fn set(&mut self, i: usize, value: u32) {
        self.v[i] = value;
        self.seen |= 1 << i;
    }

    pub fn complete(&self) -> bool {
        self.seen == (1u8 << N) - 1
    }
}

impl Parts<4> {
    /// The box, unless incomplete or all zeros (NVR line counting sends zeros
    /// for "no box"; a real box is never a single point at the corner).
    pub fn rect(&self) -> Option<Rect> {
        let [x1, y1, x2, y2] = self.v;
        (self.complete() && self.v != [0; 4]).then_some(Rect { x1, y1, x2, y2 })
    }
}

impl Parts<2> {
    pub fn point(&self) -> Option<Point> {
        self.complete().then_some(Point { x: self.v[0], y: self.v[1] })
    }
}

/// One `item` of a target/event list (or the `vsd` block, which acts as one).
#[derive(Debug)]
pub(crate) struct Item {
    /// The list it came from (`Tag::Traject`, `Tag::ListInfo`, `Tag::Vsd`, ...).
    pub list: Tag,
    pub target_id: Option<u32>,
    pub event_id: Option<u32>,
    pub status: Option<SmartStatus>,
    pub class: Option<TargetClass>,
    pub rect: Parts<4>,
    pub polygon: Vec<Point>,
    pub line: [Parts<2>; 2],
    pub plate: Option<Box<Plate>>,
    pub face: Option<Box<Face>>,
}

impl Item {
    fn new(list: Tag) -> Item {
        Item {
            list,
            target_id: None,
            event_id: None,
            status: None,
            class: None,
            rect: Parts::default(),
            polygon: Vec::new(),
            line: [Parts::default(); 2],
            plate: None,
            face: None,
        }
    }

    fn plate(&mut self) -> &mut Plate {
        self.plate.get_or_insert_with(Default::default)
    }

    fn face(&mut self) -> &mut Face {
        self.face.get_or_insert_with(Default::default)
    }
}

/// A base64 blob found in the body.
#[derive(Debug)]
pub(crate) struct RawImage {
    /// `true` for `sourceDataInfo` (overview), `false` for `targetImageData`.
    pub overview: bool,
    /// Index into `Raw::items` of the item it belongs to.
    pub item: Option<usize>,
    pub declared_len: Option<u64>,
    pub range: Option<Range<usize>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Root {
    Config,
    DeviceInfo,
}

/// Everything one pass collects; `build` turns it into an `Event`.
#[derive(Debug)]
pub(crate) struct Raw<'a> {
    pub root: Root,
    pub version: Option<String>,
    pub message_type: Option<&'a [u8]>,
    pub smart_type: Option<String>,
    pub current_time: Option<DeviceTime>,
    pub data_time: Option<DeviceTime>,
    pub status: Option<SmartStatus>,
    pub device: Device,
    pub items: Vec<Item>,
    pub alarms: Vec<Alarm>,
    pub images: Vec<RawImage>,
    pub has_traject: bool,
    pub has_perimeter: bool,
    pub has_tripwire: bool,
    pub has_alarm_status: bool,
    /// Byte just past the root element's end: what follows is `decode`'s to judge.
    pub end: usize,
}

/// A start tag as the routing sees it, whichever tokenizer found it.
pub(crate) trait StartTag {
    /// The element name, a sub-slice of the body.
    fn name(&self) -> &[u8];
    /// The raw (never unescaped) value of the first attribute called `key`;
    /// `Err` is the tokenizer's complaint about the attribute list.
    fn attr(&self, key: &[u8]) -> Result<Option<Cow<'_, [u8]>>, String>;
}

impl StartTag for BytesStart<'_> {
    #[inline]
    fn name(&self) -> &[u8] {
        BytesStart::name(self).into_inner()
    }

    fn attr(&self, key: &[u8]) -> Result<Option<Cow<'_, [u8]>>, String> {
        match self.try_get_attribute(key) {
            Ok(found) => Ok(found.map(|a| a.value)),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// The routing shared by both tokenizers (this module's quick-xml walk and
/// `fast`): it is fed start tags, text and pops, and owns everything they mean.
pub(crate) struct Scanner<'a> {
    body: &'a [u8],
    depth: usize,
    tags: [Tag; MAX_DEPTH],
    /// Byte range of each open element's name, for end-tag checks and errors.
    names: [(u32, u32); MAX_DEPTH],
    /// The list item each open element belongs to (`NO_ITEM` outside items).
    item_at: [u32; MAX_DEPTH],
    alarm_name: Option<String>,
    alarm_id: Option<u32>,
    alarm_item_id: Option<u32>,
    /// Name offset of the element that last set each identity field
    /// (device number, channel, MAC, name, serial, IP).
    identity_from: [u32; 6],
    raw: Raw<'a>,
}

/// Where `part` starts inside `body`, when it is a sub-slice of it (always, for
/// a slice reader; checked so a future quick-xml that copies cannot produce a
/// bogus range).
fn offset_in(body: &[u8], part: &[u8]) -> Option<usize> {
    let start = (part.as_ptr() as usize).checked_sub(body.as_ptr() as usize)?;
    (start.checked_add(part.len())? <= body.len()).then_some(start)
}

/// A slice reader hands out sub-slices of the body; anything else would break
/// the no-copy contract, so it is refused rather than silently copied.
fn borrowed(content: Cow<'_, [u8]>, at: usize) -> Result<&'_ [u8], DecodeError> {
    match content {
        Cow::Borrowed(b) => Ok(b),
        Cow::Owned(_) => {
            Err(DecodeError::NotXml { offset: at, reason: "tokenizer copied a text node".into() })
        }
    }
}

/// Byte equality for element names (a few bytes): inline, where `==` on
/// slices of unknown length calls `memcmp` once per end tag.
#[inline]
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

fn too_many(at: usize, what: &'static str, limit: usize) -> DecodeError {
    DecodeError::TooMany { offset: at.saturating_sub(1), what, limit }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub(crate) fn scan(body: &[u8]) -> Result<Raw<'_>, DecodeError> {
    let mut reader = Reader::from_reader(body);
    // End names are checked against our own stack, which already holds them
    // as ranges; quick-xml's check would copy every name into a second buffer.
    reader.config_mut().check_end_names = false;
    // Indentation between elements is half of all events in a pretty-printed
    // post; skipping it inside the tokenizer spares a dispatch per node (text
    // ends are trimmed by `text` only for the fields it reads).
    reader.config_mut().trim_text_start = true;
    let mut s = Scanner::new(body);
    // Bytes stepped over by `skip_unused` and `leaf_text`, which quick-xml's own positions miss.
    let mut skipped = 0usize;
    loop {
        let before = body.len() - reader.get_ref().len();
        // One match on the result: binding the event first costs a copy of it
        // per node, which shows on a 1.5 KB post.
        match reader.read_event() {
            Err(e) => return Err(s.xml_error(e, reader.error_position() as usize + skipped)),
            Ok(XmlEvent::Start(e)) => {
                s.start(&e, before)?;
                let rest: &'_ [u8] = reader.get_ref();
                if s.never_read() {
                    if let Some(len) = skip_unused(rest, e.name().into_inner()) {
                        *reader.get_mut() = &rest[len..];
                        skipped += len;
                        s.pop();
                    }
                } else if s.tags[s.depth - 1].is_leaf() {
                    if let Some(leaf) = leaf_text(rest, e.name().into_inner()) {
                        s.text(leaf.content, leaf.cdata, before)?;
                        *reader.get_mut() = &rest[leaf.len..];
                        skipped += leaf.len;
                        s.pop();
                    }
                }
            }
            Ok(XmlEvent::Empty(e)) => {
                s.start(&e, before)?;
                s.pop();
                if s.depth == 0 {
                    return Ok(s.finish(body.len() - reader.get_ref().len()));
                }
            }
            Ok(XmlEvent::End(e)) => {
                let name = e.name().into_inner();
                // `before` may sit on skipped whitespace or past a consumed `<`;
                // the name's own position is exact.
                let before = offset_in(body, name).map_or(before, |at| at.saturating_sub(2));
                if s.depth == 0 {
                    return Err(DecodeError::NotXml {
                        offset: before,
                        reason: format!("</{}> closes nothing", lossy(name)),
                    });
                }
                let open = s.open_name(s.depth - 1);
                if !same_bytes(name, open) {
                    return Err(DecodeError::NotXml {
                        offset: before,
                        reason: format!("</{}> does not close <{}>", lossy(name), lossy(open)),
                    });
                }
                s.pop();
                if s.depth == 0 {
                    // What follows the root (the fixtures keep more examples in
                    // comments there) is checked by `decode`, for both walks alike.
                    return Ok(s.finish(body.len() - reader.get_ref().len()));
                }
            }
            Ok(XmlEvent::Text(t)) => s.text(borrowed(t.into_inner(), before)?, false, before)?,
            Ok(XmlEvent::CData(c)) => s.text(borrowed(c.into_inner(), before)?, true, before)?,
            Ok(XmlEvent::DocType(d)) => {
                let at = offset_in(body, &d).and_then(|p| body[..p].iter().rposition(|&b| b == b'<'));
                return Err(DecodeError::Doctype { offset: at.unwrap_or(before) });
            }
            Ok(XmlEvent::Decl(_)) | Ok(XmlEvent::PI(_)) | Ok(XmlEvent::Comment(_)) => {}
            Ok(XmlEvent::Eof) => {
                return Err(if s.depth == 0 {
                    DecodeError::NotXml { offset: body.len(), reason: "no root element".into() }
                } else {
                    DecodeError::Truncated { offset: body.len(), open: lossy(s.open_name(s.depth - 1)) }
                });
            }
        }
    }
}

/// `skip_unused` for the `<types>` list, the same decision reached by three
/// vectorized searches instead of a visit to each of its ~40 `<`s. Only a `<`
/// followed by `!`, `?`, `types` or `/types` can decide anything, so: the
/// first `</types` that could end the element is the candidate; a nested
/// `<types` or a `<!`/`<?` before it refuses; else that end tag decides.
fn skip_types(rest: &[u8]) -> Option<usize> {
    use memchr::memmem::Finder;
    use std::sync::LazyLock;
    static CLOSE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"</types"));
    static OPEN: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"<types"));
    let mut from = 0;
    // `</types` cannot overlap itself, so resuming past each match misses none.
    let end = loop {
        let at = from + CLOSE.find(rest.get(from..)?)?;
        match rest.get(at + 7) {
            None | Some(b'>') => break at,
            Some(b) if b.is_ascii_whitespace() => break at,
            Some(_) => from = at + 7, // `</typesX`: another element
        }
    };
    let before = rest.get(..end)?;
    let nested = OPEN
        .find_iter(before)
        .any(|at| matches!(before.get(at + 6), Some(b'>' | b'/' | b' ' | b'\t' | b'\r' | b'\n')));
    let hidden = memchr::memchr2_iter(b'!', b'?', before).any(|i| i > 0 && before.get(i - 1) == Some(&b'<'));
    if nested || hidden {
        return None;
    }
    let tail = rest.get(end + 7..)?;
    let spaces = tail.iter().take_while(|b| b.is_ascii_whitespace()).count();
    (tail.get(spaces) == Some(&b'>')).then_some(end + 7 + spaces + 1)
}

/// The content of a leaf element read without the tokenizer.
struct Leaf<'b> {
    content: &'b [u8],
    cdata: bool,
    /// Bytes from the end of the start tag to just past the end tag.
    len: usize,
}

/// For an element whose start tag was just read: its content, when that is a
/// single text node, or a single CDATA section with only whitespace around it,
/// directly followed by the element's own end tag. One memchr to the next `<`
/// (or one pass to `]]>`), instead of two more tokenizer events and their
/// dispatch; a leaf field costs a third of what it would. Anything else (a
/// child, a comment, mixed content, a wrong end tag) is `None` and left to the
/// tokenizer, which then reports whatever is wrong with it.
#[inline]
fn leaf_text<'b>(rest: &'b [u8], name: &[u8]) -> Option<Leaf<'b>> {
    let lt = memchr::memchr(b'<', rest)?;
    let (content, cdata, after) = match rest[lt + 1..].strip_prefix(b"![CDATA[") {
        Some(section) => {
            if !rest[..lt].trim_ascii().is_empty() {
                return None;
            }
            let start = lt + 9;
            let end = memchr::memchr_iter(b'>', section).find(|&i| i >= 2 && &section[i - 2..i] == b"]]")?;
            let after = start + end + 1;
            let spaces = rest[after..].iter().take_while(|b| b.is_ascii_whitespace()).count();
            (&section[..end - 2], true, after + spaces)
        }
        None => (&rest[..lt], false, lt),
    };
    let tail = strip_name(rest.get(after..)?.strip_prefix(b"</")?, name)?;
    let spaces = tail.iter().take_while(|b| b.is_ascii_whitespace()).count();
    (tail.get(spaces) == Some(&b'>')).then_some(Leaf {
        content,
        cdata,
        len: after + 2 + name.len() + spaces + 1,
    })
}

#[inline]
fn strip_name<'b>(text: &'b [u8], name: &[u8]) -> Option<&'b [u8]> {
    let head = text.get(..name.len())?;
    same_bytes(head, name).then(|| &text[name.len()..])
}

/// Length of `rest` up to and including `</name>`, when the element's content
/// is plain markup: no comment, CDATA, processing instruction or nested
/// `<name`, any of which could hide or fake the end tag (then `None`, and the
/// tokenizer walks it as usual). One pass over the `<`s (`bytes::find`: an
/// unread item field has a handful, too close together for a memchr call
/// each); the content is not checked for well-formedness, which is the price
/// of never reading it.
///
/// The `<types>` capability list is a third of every traject post: tokenizing
/// it would cost more than decoding everything else, and even the walk by
/// `<`s was a sixth of a decode, so it gets its own search (`skip_types`).
pub(crate) fn skip_unused(rest: &[u8], name: &[u8]) -> Option<usize> {
    if name == b"types" {
        return skip_types(rest);
    }
    let mut from = 0;
    while let Some(at) = bytes::find(rest, from, b'<') {
        from = at + 1;
        let after = rest.get(at + 1..)?;
        match after.first()? {
            b'!' | b'?' => return None,
            b'/' => {
                let Some(tail) = strip_name(&after[1..], name) else { continue };
                let spaces = tail.iter().take_while(|b| b.is_ascii_whitespace()).count();
                match tail.get(spaces) {
                    Some(b'>') => return Some(at + 2 + name.len() + spaces + 1),
                    Some(_) if spaces == 0 => continue, // `</typesX>`: another element
                    _ => return None,
                }
            }
            _ => {
                if let Some(tail) = strip_name(after, name) {
                    if matches!(tail.first(), None | Some(b'>' | b'/') | Some(b' ' | b'\t' | b'\r' | b'\n')) {
                        return None;
                    }
                }
            }
        }
    }
    None
}

impl<'a> Scanner<'a> {
    pub(crate) fn new(body: &'a [u8]) -> Scanner<'a> {
        Scanner {
            body,
            depth: 0,
            tags: [Tag::Other; MAX_DEPTH],
            names: [(0, 0); MAX_DEPTH],
            item_at: [NO_ITEM; MAX_DEPTH],
            alarm_name: None,
            alarm_id: None,
            alarm_item_id: None,
            identity_from: [u32::MAX; 6],
            raw: Raw {
                root: Root::Config,
                version: None,
                message_type: None,
                smart_type: None,
                current_time: None,
                data_time: None,
                status: None,
                device: Device::default(),
                items: Vec::new(),
                alarms: Vec::new(),
                images: Vec::new(),
                has_traject: false,
                has_perimeter: false,
                has_tripwire: false,
                has_alarm_status: false,
                end: 0,
            },
        }
    }

    /// What the walk collected; called once the root element has closed,
    /// `end` being the byte just past it.
    pub(crate) fn finish(mut self, end: usize) -> Raw<'a> {
        self.raw.end = end;
        self.raw
    }

    /// How many elements are open.
    #[inline]
    pub(crate) fn depth(&self) -> usize {
        self.depth
    }

    /// Name of the innermost open element (empty at depth 0).
    #[inline]
    pub(crate) fn top_name(&self) -> &'a [u8] {
        match self.depth {
            0 => &[],
            d => self.open_name(d - 1),
        }
    }

    fn open_name(&self, level: usize) -> &'a [u8] {
        let (start, end) = self.names[level];
        self.body.get(start as usize..end as usize).unwrap_or_default()
    }

    fn xml_error(&self, e: quick_xml::Error, at: usize) -> DecodeError {
        use quick_xml::errors::SyntaxError;
        match e {
            quick_xml::Error::Syntax(
                SyntaxError::UnclosedTag
                | SyntaxError::UnclosedCData
                | SyntaxError::UnclosedComment
                | SyntaxError::UnclosedDoctype
                | SyntaxError::UnclosedPIOrXmlDecl,
            ) => {
                let open =
                    if self.depth == 0 { "prolog".into() } else { lossy(self.open_name(self.depth - 1)) };
                DecodeError::Truncated { offset: self.body.len(), open }
            }
            other => DecodeError::NotXml { offset: at, reason: other.to_string() },
        }
    }

    /// Whether the element just opened holds nothing the model keeps: the
    /// `<types>` capability list, fields of a list item this decoder does not
    /// know, and the traject `point` (always observed as zero).
    pub(crate) fn never_read(&self) -> bool {
        let d = self.depth;
        let parent = if d >= 2 { self.tags[d - 2] } else { Tag::Other };
        match self.tags[d - 1] {
            Tag::Types => d == 2,
            Tag::Other | Tag::Point => parent == Tag::ListItem,
            _ => false,
        }
    }

    pub(crate) fn pop(&mut self) {
        self.depth -= 1;
        if self.tags[self.depth] == Tag::Alarm {
            self.alarm_name = None;
            self.alarm_id = None;
        }
    }

    fn item(&mut self) -> Option<&mut Item> {
        let at = self.item_at[self.depth - 1];
        if at == NO_ITEM {
            None
        } else {
            self.raw.items.get_mut(at as usize)
        }
    }

    fn field_name(&self) -> String {
        lossy(self.open_name(self.depth - 1))
    }

    fn bad_value(&self, offset: usize, reason: &str) -> DecodeError {
        DecodeError::BadValue { offset, field: self.field_name(), reason: reason.into() }
    }

    fn u32_attr(&self, e: &impl StartTag, key: &[u8], at: usize) -> Result<Option<u32>, DecodeError> {
        match e.attr(key) {
            Ok(Some(value)) => values::parse_u32(&value).map(Some).map_err(|r| DecodeError::BadValue {
                offset: at,
                field: format!("{}@{}", lossy(e.name()), lossy(key)),
                reason: r.into(),
            }),
            Ok(None) => Ok(None),
            Err(reason) => Err(DecodeError::NotXml { offset: at, reason }),
        }
    }

    pub(crate) fn start(&mut self, e: &impl StartTag, before: usize) -> Result<(), DecodeError> {
        let name = e.name();
        let name_at = offset_in(self.body, name).unwrap_or(before);
        if self.depth == MAX_DEPTH {
            return Err(DecodeError::TooDeep { offset: name_at.saturating_sub(1), limit: MAX_DEPTH });
        }
        let raw_tag = Tag::of(name);
        let (tag, parent) = if self.depth == 0 {
            match raw_tag {
                Tag::Config => {
                    self.raw.root = Root::Config;
                    if let Ok(Some(v)) = e.attr(b"version") {
                        let v = std::str::from_utf8(&v).map_err(|_| DecodeError::InvalidUtf8 {
                            offset: name_at,
                            field: "config@version".into(),
                        })?;
                        self.raw.version = Some(v.trim().to_owned());
                    }
                }
                Tag::DeviceInfoRoot => self.raw.root = Root::DeviceInfo,
                _ => {
                    return Err(DecodeError::UnknownRoot {
                        offset: name_at.saturating_sub(1),
                        found: lossy(name),
                    })
                }
            }
            (raw_tag, Tag::Other)
        } else {
            let parent = self.tags[self.depth - 1];
            let tag = match raw_tag {
                _ if parent == Tag::AlarmStatusInfo => Tag::Alarm,
                Tag::Item if parent.is_list() => Tag::ListItem,
                Tag::Item if matches!(parent, Tag::Boundary | Tag::PointGroup) => Tag::PointItem,
                Tag::Item if parent == Tag::Alarm => Tag::AlarmItem,
                other => other,
            };
            (tag, parent)
        };
        let d = self.depth;
        let inherited = if d == 0 { NO_ITEM } else { self.item_at[d - 1] };
        self.tags[d] = tag;
        self.names[d] = (name_at as u32, (name_at + name.len()) as u32);
        self.item_at[d] = inherited;
        self.depth = d + 1;
        match tag {
            Tag::ListItem => self.new_item(parent, name_at)?,
            Tag::Vsd => self.new_item(Tag::Vsd, name_at)?,
            Tag::PointItem => {
                if let Some(item) = self.item() {
                    if item.polygon.len() == MAX_POINTS {
                        return Err(too_many(name_at, "polygon points", MAX_POINTS));
                    }
                    item.polygon.push(Point { x: 0, y: 0 });
                }
            }
            Tag::SourceDataInfo | Tag::TargetImageData => {
                let item = (inherited != NO_ITEM).then_some(inherited as usize);
                let overview = tag == Tag::SourceDataInfo;
                if self.raw.images.len() == MAX_ITEMS {
                    return Err(too_many(name_at, "images", MAX_ITEMS));
                }
                self.raw.images.push(RawImage { overview, item, declared_len: None, range: None });
            }
            Tag::Alarm => {
                let alarm_name = std::str::from_utf8(name)
                    .map_err(|_| DecodeError::InvalidUtf8 { offset: name_at, field: "alarm name".into() })?;
                self.alarm_name = Some(alarm_name.to_owned());
                self.alarm_id = self.u32_attr(e, b"id", name_at)?;
            }
            Tag::AlarmItem => self.alarm_item_id = self.u32_attr(e, b"id", name_at)?,
            Tag::PlateConfidence => {
                if let Some(count) = self.u32_attr(e, b"count", name_at)? {
                    if let Some(item) = self.item() {
                        item.plate().confidence = Some(count as f32 / 100.0);
                    }
                }
            }
            Tag::Traject => self.raw.has_traject = true,
            Tag::Perimeter => self.raw.has_perimeter = true,
            Tag::Tripwire => self.raw.has_tripwire = true,
            Tag::AlarmStatusInfo => self.raw.has_alarm_status = true,
            _ => {}
        }
        Ok(())
    }

    fn new_item(&mut self, list: Tag, at: usize) -> Result<(), DecodeError> {
        let index = self.raw.items.len();
        if index == MAX_ITEMS {
            return Err(too_many(at, "list items (targets, events)", MAX_ITEMS));
        }
        self.raw.items.push(Item::new(list));
        self.item_at[self.depth - 1] = index as u32;
        Ok(())
    }

    /// A text or CDATA node inside the element on top of the stack.
    pub(crate) fn text(&mut self, content: &'a [u8], cdata: bool, before: usize) -> Result<(), DecodeError> {
        let d = self.depth;
        if d == 0 {
            if content.trim_ascii().is_empty() {
                return Ok(());
            }
            return Err(DecodeError::NotXml {
                offset: before,
                reason: "text outside the root element".into(),
            });
        }
        let top = self.tags[d - 1];
        if top == Tag::Other {
            return Ok(());
        }
        let trimmed = content.trim_ascii();
        if trimmed.is_empty() {
            return Ok(());
        }
        let at = offset_in(self.body, trimmed).unwrap_or(before);
        let parent = if d >= 2 { self.tags[d - 2] } else { Tag::Other };
        let grand = if d >= 3 { self.tags[d - 3] } else { Tag::Other };
        match top {
            Tag::X1 | Tag::Y1 | Tag::X2 | Tag::Y2 if parent == Tag::Rect && grand == Tag::ListItem => {
                let v = values::parse_coord(trimmed).map_err(|r| self.bad_value(at, r))?;
                let i = match top {
                    Tag::X1 => 0,
                    Tag::Y1 => 1,
                    Tag::X2 => 2,
                    _ => 3,
                };
                if let Some(item) = self.item() {
                    item.rect.set(i, v);
                }
            }
            Tag::X | Tag::Y => {
                let v = values::parse_coord(trimmed).map_err(|r| self.bad_value(at, r))?;
                let i = usize::from(top == Tag::Y);
                let in_polygon =
                    parent == Tag::PointItem || (parent == Tag::Point && grand == Tag::PointItem);
                let line_end = match parent {
                    Tag::StartPoint if matches!(grand, Tag::Line | Tag::DirectionLine) => Some(0),
                    Tag::EndPoint if matches!(grand, Tag::Line | Tag::DirectionLine) => Some(1),
                    _ => None,
                };
                if let Some(item) = self.item() {
                    if in_polygon {
                        if let Some(p) = item.polygon.last_mut() {
                            if i == 0 {
                                p.x = v;
                            } else {
                                p.y = v;
                            }
                        }
                    } else if let Some(end) = line_end {
                        item.line[end].set(i, v);
                    }
                }
            }
            Tag::TargetId | Tag::EventId if parent == Tag::ListItem => {
                let v = values::parse_u32(trimmed).map_err(|r| self.bad_value(at, r))?;
                if let Some(item) = self.item() {
                    if top == Tag::TargetId {
                        item.target_id = Some(v);
                    } else {
                        item.event_id = Some(v);
                    }
                }
            }
            Tag::TargetType if matches!(parent, Tag::ListItem | Tag::TargetImageData) => {
                let class = values::parse_class(trimmed);
                if let Some(item) = self.item() {
                    item.class = Some(class);
                }
            }
            Tag::Status => {
                let status = values::parse_status(trimmed);
                if parent == Tag::ListItem {
                    if let Some(item) = self.item() {
                        item.status = Some(status);
                    }
                } else if parent == Tag::Config {
                    self.raw.status = Some(status);
                }
            }
            Tag::SourceBase64Length | Tag::TargetBase64Length
                if matches!(parent, Tag::SourceDataInfo | Tag::TargetImageData) =>
            {
                let v = values::parse_u32(trimmed).map_err(|r| self.bad_value(at, r))?;
                if let Some(image) = self.raw.images.last_mut() {
                    image.declared_len = Some(u64::from(v));
                }
            }
            Tag::SourceBase64Data | Tag::TargetBase64Data
                if matches!(parent, Tag::SourceDataInfo | Tag::TargetImageData) =>
            {
                // Located, never copied or scanned again: the range comes from
                // the slice the tokenizer already delimited.
                if let Some(image) = self.raw.images.last_mut() {
                    if image.range.is_none() {
                        image.range = offset_in(self.body, trimmed).map(|s| s..s + trimmed.len());
                    }
                }
            }
            Tag::Alarm | Tag::AlarmItem => {
                let active = values::parse_bool(trimmed).map_err(|r| self.bad_value(at, r))?;
                let id = if top == Tag::Alarm { self.alarm_id } else { self.alarm_item_id };
                if let Some(name) = &self.alarm_name {
                    if self.raw.alarms.len() == MAX_ITEMS {
                        return Err(too_many(at, "alarms", MAX_ITEMS));
                    }
                    self.raw.alarms.push(Alarm { name: name.clone(), id, active });
                }
            }
            Tag::MessageType if parent == Tag::Config => self.raw.message_type = Some(trimmed),
            Tag::SmartType if parent == Tag::Config => {
                self.raw.smart_type = Some(self.string(trimmed, cdata, at)?);
            }
            Tag::CurrentTime if parent == Tag::Config => {
                self.raw.current_time =
                    values::parse_current_time(trimmed).map_err(|r| self.bad_value(at, r))?;
            }
            Tag::DataTime if parent == Tag::Config => {
                self.raw.data_time = values::parse_data_time(&self.string(trimmed, cdata, at)?);
            }
            Tag::DeviceName
            | Tag::DeviceNo
            | Tag::Sn
            | Tag::Mac
            | Tag::MacAddress
            | Tag::Ip
            | Tag::IpAddress
            | Tag::ChannelId
                if matches!(parent, Tag::Config | Tag::DeviceInfo | Tag::DeviceInfoRoot) =>
            {
                self.device_field(top, trimmed, cdata, at)?;
            }
            _ if parent == Tag::ListItem || self.item_at[d - 1] != NO_ITEM => {
                self.item_field(top, parent, trimmed, cdata, at)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Identity fields: a post names one device, so a field given twice
    /// with different values (a second `<mac>` that would change who posted)
    /// is refused; the same value twice is harmless.
    fn device_field(&mut self, tag: Tag, text: &'a [u8], cdata: bool, at: usize) -> Result<(), DecodeError> {
        // Which element gave each field: a second text node of the same
        // element (split by a comment) replaces the first, as it always did.
        let here = self.names[self.depth - 1].0;
        let field = match tag {
            Tag::DeviceNo => 0,
            Tag::ChannelId => 1,
            Tag::Mac | Tag::MacAddress => 2,
            Tag::DeviceName => 3,
            Tag::Sn => 4,
            _ => 5,
        };
        let from = std::mem::replace(&mut self.identity_from[field], here);
        let same_element = from == here;
        fn set<T: PartialEq + std::fmt::Debug>(
            slot: &mut Option<T>,
            v: T,
            same_element: bool,
        ) -> Result<(), String> {
            match slot {
                Some(old) if *old != v && !same_element => {
                    Err(format!("given twice with different values ({old:?}, then {v:?})"))
                }
                _ => {
                    *slot = Some(v);
                    Ok(())
                }
            }
        }
        let result = match tag {
            Tag::DeviceNo => {
                let v = values::parse_u32(text).map_err(|r| self.bad_value(at, r))?;
                set(&mut self.raw.device.device_no, v, same_element)
            }
            Tag::ChannelId => {
                let v = values::parse_u32(text).map_err(|r| self.bad_value(at, r))?;
                set(&mut self.raw.device.channel, v, same_element)
            }
            Tag::Mac | Tag::MacAddress => {
                let mac = values::normalize_mac(&self.text_str(text, cdata, at)?);
                set(&mut self.raw.device.mac, mac, same_element)
            }
            _ => {
                let s = self.string(text, cdata, at)?;
                let device = &mut self.raw.device;
                match tag {
                    Tag::DeviceName => set(&mut device.name, s, same_element),
                    Tag::Sn => set(&mut device.serial, s, same_element),
                    _ => set(&mut device.ip, s, same_element),
                }
            }
        };
        result.map_err(|reason| self.bad_value(at, &reason))
    }

    /// Plate and face fields of the current list item.
    fn item_field(
        &mut self,
        tag: Tag,
        parent: Tag,
        text: &[u8],
        cdata: bool,
        at: usize,
    ) -> Result<(), DecodeError> {
        enum Slot {
            Number,
            List,
            PlateColor,
            Group,
            Owner,
            CarKind,
            CarColor,
            CarBrand,
            CarModel,
            Age,
            Sex,
            Glasses,
            Mask,
        }
        let car = matches!(parent, Tag::CarAttr | Tag::CarAttribute);
        let slot = match tag {
            Tag::PlateNumber if parent == Tag::ListItem => Slot::Number,
            Tag::LicensePlateNumber if parent == Tag::LicensePlateAttribute => Slot::Number,
            Tag::VehicleListType if parent == Tag::ListItem => Slot::List,
            Tag::VehicleDirect if parent == Tag::ListItem => {
                let direction = values::parse_direction(text);
                if let Some(item) = self.item() {
                    item.plate().direction = Some(direction);
                }
                return Ok(());
            }
            Tag::Color if parent == Tag::LicensePlateAttribute => Slot::PlateColor,
            Tag::Color if car => Slot::CarColor,
            Tag::Type if parent == Tag::CarAttr => Slot::CarKind,
            Tag::CarType if parent == Tag::CarAttribute => Slot::CarKind,
            Tag::Brand if car => Slot::CarBrand,
            Tag::Model if car => Slot::CarModel,
            Tag::GroupName if parent == Tag::LicensePlateMatchInfo => Slot::Group,
            Tag::CarOwner if parent == Tag::LicensePlateMatchInfo => Slot::Owner,
            Tag::Age if parent == Tag::ListItem => Slot::Age,
            Tag::Sex if parent == Tag::ListItem => Slot::Sex,
            Tag::Glasses if parent == Tag::ListItem => Slot::Glasses,
            Tag::Mask if parent == Tag::ListItem => Slot::Mask,
            _ => return Ok(()),
        };
        let s = self.string(text, cdata, at)?;
        let Some(item) = self.item() else { return Ok(()) };
        match slot {
            Slot::Number => item.plate().number = s,
            Slot::List => item.plate().list = Some(s),
            Slot::PlateColor => item.plate().color = Some(s),
            Slot::Group => item.plate().group = Some(s),
            Slot::Owner => item.plate().owner = Some(s),
            Slot::CarKind => item.plate().car.kind = Some(s),
            Slot::CarColor => item.plate().car.color = Some(s),
            Slot::CarBrand => item.plate().car.brand = Some(s),
            Slot::CarModel => item.plate().car.model = Some(s),
            Slot::Age => item.face().age = Some(s),
            Slot::Sex => item.face().sex = Some(s),
            Slot::Glasses => item.face().glasses = Some(s),
            Slot::Mask => item.face().mask = Some(s),
        }
        Ok(())
    }

    /// The only place text becomes a string: UTF-8 checked, and unescaped only
    /// when it holds a reference (CDATA is taken as is). Borrowed from the body
    /// unless unescaping had to build a new one.
    fn text_str(&self, text: &'a [u8], cdata: bool, at: usize) -> Result<Cow<'a, str>, DecodeError> {
        let s = std::str::from_utf8(text).map_err(|e| DecodeError::InvalidUtf8 {
            offset: at + e.valid_up_to(),
            field: self.field_name(),
        })?;
        if cdata || !s.contains('&') {
            return Ok(Cow::Borrowed(s));
        }
        quick_xml::escape::unescape(s)
            .map(|c| Cow::Owned(c.trim().to_owned()))
            .map_err(|e| self.bad_value(at, &e.to_string()))
    }

    fn string(&self, text: &'a [u8], cdata: bool, at: usize) -> Result<String, DecodeError> {
        self.text_str(text, cdata, at).map(Cow::into_owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `skip_unused` as it was first written, memchr from `<` to `<`.
    fn skip_unused_by_every_lt(rest: &[u8], name: &[u8]) -> Option<usize> {
        for at in memchr::memchr_iter(b'<', rest) {
            let after = &rest[at + 1..];
            match after.first()? {
                b'!' | b'?' => return None,
                b'/' => {
                    let Some(tail) = strip_name(&after[1..], name) else { continue };
                    let spaces = tail.iter().take_while(|b| b.is_ascii_whitespace()).count();
                    match tail.get(spaces) {
                        Some(b'>') => return Some(at + 2 + name.len() + spaces + 1),
                        Some(_) if spaces == 0 => continue,
                        _ => return None,
                    }
                }
                _ => {
                    if let Some(tail) = strip_name(after, name) {
                        if matches!(
                            tail.first(),
                            None | Some(b'>' | b'/') | Some(b' ' | b'\t' | b'\r' | b'\n')
                        ) {
                            return None;
                        }
                    }
                }
            }
        }
        None
    }

    /// The word-at-a-time search finds the same `<`s: random markup built
    /// from pieces that sit on every branch, for odd names too (quick-xml's
    /// names may hold `<` or `/`).
    #[test]
    fn skip_unused_decides_as_memchr_over_every_lt() {
        const PIECES: &[&[u8]] = &[
            b"<",
            b">",
            b"/",
            b"!",
            b"?",
            b" ",
            b"\x0c",
            b"\n",
            b"x",
            b"<enum>",
            b"</enum>",
            b"a",
            b"aa",
            b"<aa",
            b"</aa",
            b"a<a",
            b"</a",
            b"<a/",
            b"-",
            b"<!--",
            b"<?",
            b"types",
            b"<types",
            b"</types",
            b"</typesX>",
            b"</types >",
            b"</types\x0c>",
            b"</types x>",
            b"<types/>",
        ];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as usize
        };
        let mut decided = [0usize; 2];
        for _ in 0..60_000 {
            let name: &[u8] = [&b"types"[..], b"a", b"aa", b"a<a", b"a/", b"aXa"][next() % 6];
            let rest: Vec<u8> =
                (0..next() % 60).flat_map(|_| PIECES[next() % PIECES.len()].to_vec()).collect();
            let expected = skip_unused_by_every_lt(&rest, name);
            let case =
                || format!("{:?} in {:?}", String::from_utf8_lossy(name), String::from_utf8_lossy(&rest));
            assert_eq!(skip_unused(&rest, name), expected, "{}", case());
            decided[usize::from(expected.is_some())] += 1;
        }
        assert!(decided[0] > 3_000 && decided[1] > 3_000, "{decided:?}");
    }
}
