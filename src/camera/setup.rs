//! Turning what a camera says into what camrelay needs: the `[[camera]]`
//! block that matches its posts, the `httpPostV2` slot that subscribes it,
//! and `[[zone]]` blocks from its own regions and lines.
//!
//! Pure but for [`drawn_zones`], which only reads: device answers in, TOML
//! text and XML elements out. Choosing a slot never takes one that posts
//! elsewhere unless the caller names it.

use super::answer::{DeviceInfo, PostConfig, PostSlot, Region, Tripwire};
use super::xml::Element;
use crate::decode::Point;

/// Where the camera must post to reach camrelay's ingest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ingest {
    pub host: String,
    pub port: u16,
    pub path: String,
}

/// Which slot to use, and whether it already posts here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotChoice {
    /// Already points here with what camrelay needs: nothing to change.
    AlreadyHere(u32),
    /// Use this slot (points here with other data, or is free).
    Use(u32),
}

/// Why no slot can be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlotError {
    #[error("every httpPostV2 slot posts elsewhere ({}); name one to take over with --slot N", .0.join("; "))]
    AllTaken(Vec<String>),
    #[error("slot {0} does not exist (the camera has {1})")]
    NoSuchSlot(u32, u32),
}

/// What camrelay subscribes: tracking, alarm changes and smart events.
pub const DATA: [&str; 3] = ["traject", "alarmStatus", "smartData"];

/// Pick the slot: the one pointing here, else a free one, else the one named.
pub fn choose_slot(cfg: &PostConfig, ingest: &Ingest, forced: Option<u32>) -> Result<SlotChoice, SlotError> {
    if let Some(id) = forced {
        if id == 0 || id > cfg.max_slots {
            return Err(SlotError::NoSuchSlot(id, cfg.max_slots));
        }
        return Ok(SlotChoice::Use(id));
    }
    if let Some(s) = cfg.slots.iter().find(|s| s.points_at(&ingest.host, ingest.port)) {
        let complete =
            s.enabled && s.path == ingest.path && DATA.iter().all(|d| s.data.iter().any(|x| x == d));
        return Ok(if complete { SlotChoice::AlreadyHere(s.id) } else { SlotChoice::Use(s.id) });
    }
    if let Some(s) = cfg.slots.iter().find(|s| s.is_free()) {
        return Ok(SlotChoice::Use(s.id));
    }
    if let Some(id) = (1..=cfg.max_slots).find(|id| !cfg.slots.iter().any(|s| s.id == *id)) {
        return Ok(SlotChoice::Use(id));
    }
    Err(SlotError::AllTaken(cfg.slots.iter().map(|s| format!("{}: {}", s.id, s.target())).collect()))
}

fn leaf(name: &str, ty: &str, text: &str) -> Element {
    Element::new(name).with_attr("type", ty).with_text(text)
}

fn list(name: &str, items: &[&str]) -> Element {
    let mut l = Element::new(name).with_attr("type", "list").with_attr("count", &items.len().to_string());
    for i in items {
        l.push(Element::new("item").with_text(*i));
    }
    l
}

/// The `urlList` item that makes slot `id` post to camrelay, in the shape
/// the camera itself uses: `template` is one of its own items (slot `id` as
/// it is, or another slot), copied with only the values camrelay means to
/// change set: element names, attributes (typed or bare), their order and
/// every element camrelay does not know stay as the camera wrote them.
/// Firmware differs here (`<urlId type="uint32">1</urlId>` or a bare
/// `<urlId>1</urlId>`), and a camera that expects its own shape may drop
/// an item written in another. Without a template: the documented shape.
pub fn our_slot_like(template: Option<&Element>, id: u32, ingest: &Ingest, images: bool) -> Element {
    let Some(template) = template else { return our_slot(id, ingest, images) };
    let mut data: Vec<&str> = DATA.to_vec();
    if images {
        data.extend(["sourceImage", "targetImage"]);
    }
    let mut item = template.clone();
    // Typed like its siblings: a camera that types one leaf types them all.
    let typed = template.child("urlId").is_some_and(|e| e.attr("type").is_some());
    set_leaf(&mut item, "urlId", "uint32", &id.to_string(), typed);
    set_leaf(&mut item, "switch", "boolean", "true", typed);
    if item.child("url").is_none() {
        item.push(Element::new("url"));
    }
    if let Some(url) = item.child_mut("url") {
        set_leaf(url, "protocol", "string", "http", typed);
        set_leaf(url, "domain", "string", &ingest.host, typed);
        set_leaf(url, "port", "uint32", &ingest.port.to_string(), typed);
        set_leaf(url, "path", "string", &ingest.path, typed);
        set_leaf(url, "authentication", "string", "none", typed);
    }
    set_leaf(&mut item, "heatBeatSwitch", "boolean", "true", typed);
    if item.text_at(&["keepaliveTimeval"]).is_none() {
        set_leaf(&mut item, "keepaliveTimeval", "uint32", "30", typed);
    }
    set_list(&mut item, "subscribeDateType", &data, typed);
    set_list(&mut item, "subscriptionEvents", &["ALL"], typed);
    item
}

/// Give `parent`'s child `name` this text, keeping its attributes; a child
/// the template lacks is added, typed or bare like its siblings.
fn set_leaf(parent: &mut Element, name: &str, ty: &str, text: &str, typed: bool) {
    match parent.child_mut(name) {
        Some(e) => e.text = text.to_string(),
        None if typed => parent.push(leaf(name, ty, text)),
        None => parent.push(Element::new(name).with_text(text)),
    }
}

/// Make `parent`'s list `name` hold these items, in the shape of its first
/// item, with its `count` attribute (if it has one) saying how many.
fn set_list(parent: &mut Element, name: &str, items: &[&str], typed: bool) {
    if parent.child(name).is_none() {
        parent.push(if typed { list(name, &[]) } else { Element::new(name) });
    }
    let Some(l) = parent.child_mut(name) else { return };
    let shape = l.children.iter().find(|c| c.name == "item").cloned().unwrap_or_else(|| Element::new("item"));
    l.children.retain(|c| c.name != "item");
    for i in items {
        l.push(Element { text: i.to_string(), children: Vec::new(), ..shape.clone() });
    }
    if let Some(c) = l.attrs.iter_mut().find(|(k, _)| k == "count") {
        c.1 = items.len().to_string();
    }
}

/// How the slot the camera reads back differs from what was sent, field by
/// field (`port: 80, sent 5002`); empty when it is what was meant.
pub fn slot_differences(sent: &Element, back: Option<&PostSlot>) -> Vec<String> {
    let Some(back) = back else { return vec!["the slot is missing from the camera's answer".into()] };
    let text = |path: &[&str]| sent.text_at(path).unwrap_or("").to_string();
    let mut out = Vec::new();
    let mut field = |name: &str, got: String, want: String| {
        if got != want {
            out.push(format!("{name}: {got:?}, sent {want:?}"));
        }
    };
    field("switch", back.enabled.to_string(), text(&["switch"]));
    field("protocol", back.protocol.clone(), text(&["url", "protocol"]));
    field("domain", back.domain.clone(), text(&["url", "domain"]));
    field("port", back.port.to_string(), text(&["url", "port"]));
    field("path", back.path.clone(), text(&["url", "path"]));
    let sent_data: Vec<String> = sent
        .child("subscribeDateType")
        .map(|l| l.all("item").map(|i| i.text.clone()).collect())
        .unwrap_or_default();
    let missing: Vec<&String> = sent_data.iter().filter(|d| !back.data.contains(d)).collect();
    if !missing.is_empty() {
        out.push(format!(
            "subscribeDateType: {}, sent {}",
            if back.data.is_empty() { "none".into() } else { back.data.join(", ") },
            sent_data.join(", ")
        ));
    }
    out
}

/// The `urlList` item that makes slot `id` post to camrelay, in the shape
/// the vendor's documentation shows (every leaf typed).
pub fn our_slot(id: u32, ingest: &Ingest, images: bool) -> Element {
    let mut data: Vec<&str> = DATA.to_vec();
    if images {
        data.extend(["sourceImage", "targetImage"]);
    }
    let mut url = Element::new("url");
    url.push(leaf("protocol", "string", "http"));
    url.push(leaf("domain", "string", &ingest.host));
    url.push(leaf("port", "uint32", &ingest.port.to_string()));
    url.push(leaf("path", "string", &ingest.path));
    url.push(leaf("authentication", "string", "none"));
    let mut item = Element::new("item");
    item.push(leaf("urlId", "uint32", &id.to_string()));
    item.push(leaf("switch", "boolean", "true"));
    item.push(url);
    item.push(leaf("heatBeatSwitch", "boolean", "true"));
    item.push(leaf("keepaliveTimeval", "uint32", "30"));
    item.push(list("subscribeDateType", &data));
    item.push(list("subscriptionEvents", &["ALL"]));
    item
}

/// The camera's `httpPostV2` with slot `id` replaced by `item` (or removed
/// when `item` is `None`), every other slot exactly as the camera sent it.
pub fn with_slot(cfg: &PostConfig, id: u32, item: Option<Element>) -> Element {
    let mut v2 = cfg.element.clone();
    let Some(conf) = v2.child_mut("postUrlConf") else { return v2 };
    let Some(urls) = conf.child_mut("urlList") else { return v2 };
    let slot_id = |e: &Element| e.text_at(&["urlId"]).and_then(|v| v.parse::<u32>().ok());
    urls.children.retain(|e| e.name != "item" || slot_id(e) != Some(id));
    if let Some(item) = item {
        urls.children.push(item);
    }
    urls.children.sort_by_key(|e| slot_id(e).unwrap_or(u32::MAX));
    let count = urls.children.iter().filter(|e| e.name == "item").count().to_string();
    match urls.attrs.iter_mut().find(|(k, _)| k == "count") {
        Some(c) => c.1 = count,
        None => urls.attrs.push(("count".into(), count)),
    }
    v2
}

/// One of the camera's own slot items to shape ours like: slot `id` if it
/// lists one, else the first it lists.
pub fn slot_template(cfg: &PostConfig, id: u32) -> Option<&Element> {
    slot_element(cfg, id).or_else(|| cfg.slots.first().map(|s| &s.element))
}

/// The slot's previous state, kept so unsubscribe can restore it exactly.
pub fn slot_element(cfg: &PostConfig, id: u32) -> Option<&Element> {
    cfg.slots.iter().find(|s| s.id == id).map(|s: &PostSlot| &s.element)
}

/// A TOML string value, escaped by the TOML library: never spliced text
/// (Rust's `{:?}` is not TOML: it writes `\u{1b}`, which TOML refuses).
fn quote(s: &str) -> String {
    toml_edit::Value::from(s).to_string().trim().to_string()
}

/// Text for a `#` comment: one line, whatever the device sent.
fn comment(s: &str) -> String {
    super::untrusted::text(s, 200)
}

/// The `[[camera]]` block that matches this device's posts (by MAC), with its API.
pub fn camera_block(name: &str, info: &DeviceInfo, url: &str, user: &str, password_file: &str) -> String {
    let mut s = String::from("[[camera]]\n");
    s.push_str(&format!("name = {}\n", quote(name)));
    match (&info.mac, &info.serial) {
        (Some(mac), _) => s.push_str(&format!("mac = {}\n", quote(mac))),
        (None, Some(sn)) => s.push_str(&format!("serial = {}\n", quote(sn))),
        (None, None) => {}
    }
    s.push_str(&format!("url = {}\n", quote(url)));
    if user != "admin" {
        s.push_str(&format!("user = {}\n", quote(user)));
    }
    s.push_str(&format!("password_file = {}\n", quote(password_file)));
    s
}

/// The `[[camera]]` blocks for an NVR's channels.
pub fn nvr_blocks(nvr_name: &str, nvr_host: &str, channels: &[super::answer::Channel]) -> String {
    let mut s = String::new();
    for c in channels {
        let name = c.name.clone().unwrap_or_else(|| format!("{nvr_name}_ch{}", c.id));
        s.push_str(&format!(
            "[[camera]]\nname = {}\nnvr = {}\nchannel = {}    # {}\n\n",
            quote(&slug(&name)),
            quote(nvr_host),
            c.id,
            comment(&c.status)
        ));
    }
    s
}

/// A name usable as a zone or camera name: lower case, `_` for the rest.
pub fn slug(s: &str) -> String {
    let mut out: String =
        s.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).collect();
    while out.contains("__") {
        out = out.replace("__", "_");
    }
    out.trim_matches('_').to_string()
}

/// How thick each side of an imported tripwire is (picture units).
pub const TRIPWIRE_SIDE: u32 = 600;

/// One imported zone: its name and its `[[zone]]` text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedZone {
    pub name: String,
    pub polygon: Vec<Point>,
    /// Where it came from, for the comment above it.
    pub from: String,
}

impl ImportedZone {
    pub fn block(&self, camera: &str) -> String {
        let pts: Vec<String> = self.polygon.iter().map(|p| format!("[{}, {}]", p.x, p.y)).collect();
        format!(
            "# {}\n[[zone]]\nname = {}\ncamera = {}\npolygon = [{}]\n",
            comment(&self.from),
            quote(&self.name),
            quote(camera),
            pts.join(", ")
        )
    }
}

/// The camera's regions as zones, and each tripwire as two thin zones, one
/// on each side of the line, named `<line>_a` (left of start → end, in
/// picture coordinates with y down) and `<line>_b`: a crossing is then
/// `event = "zone_entry", zone = "<line>_b", from_zone = "<line>_a"`.
pub fn zones_from(camera: &str, regions: &[Region], lines: &[Tripwire]) -> Vec<ImportedZone> {
    let base = slug(camera);
    let mut out = Vec::new();
    for r in regions {
        out.push(ImportedZone {
            name: format!("{base}_{}_{}", r.kind.word(), r.index),
            polygon: r.points.clone(),
            from: format!(
                "the camera's {} region {}{}",
                r.kind.word(),
                r.index,
                if r.enabled { "" } else { " (switched off in the camera)" }
            ),
        });
    }
    for l in lines {
        let (a, b) = sides(l.start, l.end, TRIPWIRE_SIDE);
        let name = format!("{base}_line_{}", l.index);
        let from = format!("the camera's tripwire {} (direction {})", l.index, l.direction);
        out.push(ImportedZone { name: format!("{name}_a"), polygon: a, from: format!("{from}, side a") });
        out.push(ImportedZone { name: format!("{name}_b"), polygon: b, from: format!("{from}, side b") });
    }
    out
}

/// Ask the camera for every kind of region and its tripwires, as zones
/// ([`zones_from`]). A kind the camera lacks answers "unsupported" (or any
/// other refusal): skipped. An answer that is not what the API documents
/// fails the whole import: better no zones than fewer than the camera shows.
pub async fn drawn_zones(
    client: &super::client::Client,
    camera: &str,
) -> Result<Vec<ImportedZone>, super::client::CameraError> {
    use super::answer::{AnswerError, RegionKind};
    use super::client::CameraError;
    let mut regions = Vec::new();
    for kind in RegionKind::ALL {
        match client.regions(kind).await {
            Ok(r) => regions.extend(r),
            Err(CameraError::Answer { source: AnswerError::Refused { .. }, .. }) => {}
            Err(e) => return Err(e),
        }
    }
    let lines = match client.tripwires().await {
        Ok(l) => l,
        Err(CameraError::Answer { source: AnswerError::Refused { .. }, .. }) => Vec::new(),
        Err(e) => return Err(e),
    };
    Ok(zones_from(camera, &regions, &lines))
}

/// Two rectangles of width `w` along the segment, one each side, clamped to the picture.
fn sides(s: Point, e: Point, w: u32) -> (Vec<Point>, Vec<Point>) {
    let (dx, dy) = (e.x as f64 - s.x as f64, e.y as f64 - s.y as f64);
    let len = (dx * dx + dy * dy).sqrt().max(1.0);
    // The normal pointing to the left of start → end on screen (y down).
    let (nx, ny) = (dy / len * w as f64, -dx / len * w as f64);
    let clamp = |v: f64| v.round().clamp(0.0, 10_000.0) as u32;
    let at = |p: Point, k: f64| Point { x: clamp(p.x as f64 + nx * k), y: clamp(p.y as f64 + ny * k) };
    (vec![s, e, at(e, 1.0), at(s, 1.0)], vec![s, at(s, -1.0), at(e, -1.0), e])
}
