//! What the devices answer, decoded: identity, channels, snapshots, webhook
//! slots, and the camera's own regions and lines.
//!
//! Follows `viewtron-camera-api.md` for both API generations (v1.9 and
//! v2.0). Pure: bytes in, typed values or [`AnswerError`] out; never does I/O.
//! Every value is checked for its type on the way in ([`untrusted`]): what
//! leaves here is safe to print, log and write as a TOML value.

use super::untrusted::{self, MAX_ADDRESS, MAX_TEXT};
use super::xml::{self, Element};
use crate::decode::Point;
use base64::Engine as _;

/// The API generation, from `GetDeviceInfo`: v2.0 answers `apiVersion`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Generation {
    #[serde(rename = "1.9")]
    V19,
    #[serde(rename = "2.0")]
    V20,
}

impl std::fmt::Display for Generation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Generation::V19 => "v1.9",
            Generation::V20 => "v2.0",
        })
    }
}

/// Why an answer could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    /// `<config status="failed" errorCode="N">`.
    #[error("the device refused it: error {code} ({meaning}){}", .desc.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Refused { code: u32, meaning: &'static str, desc: Option<String> },
    #[error("the answer is not the XML the API documents: {0}")]
    Malformed(String),
    #[error("the answer lacks {0}")]
    Missing(&'static str),
    #[error("the snapshot is not a JPEG (it starts {0}); the camera may be sending a video key frame")]
    NotJpeg(String),
}

/// What an `errorCode` means, per the vendor's documentation.
pub fn error_meaning(code: u32) -> &'static str {
    match code {
        1 => "invalid request: unknown command, channel or action",
        2 => "invalid XML format",
        3 => "invalid XML content or out of range",
        4 => "permission denied",
        5 => "network port error, or this client is black/white-listed",
        7 => "system busy",
        8 => "password expired",
        9 => "unauthorized",
        10 => "user locked",
        11 => "unsupported function",
        12 => "channel error",
        15 => "missing required parameters",
        16 => "range error",
        17 => "service not enabled",
        18 => "modification not allowed (would restart)",
        19 => "over specifications",
        79 => "internal error",
        _ => "unknown error code",
    }
}

/// Parse an answer and refuse a `status="failed"` one.
pub fn document(body: &[u8]) -> Result<Element, AnswerError> {
    let root = xml::parse(body).map_err(AnswerError::Malformed)?;
    if root.attr("status") == Some("failed") {
        let code = root.attr("errorCode").and_then(|c| c.trim().parse().ok()).unwrap_or(0);
        return Err(AnswerError::Refused {
            code,
            meaning: error_meaning(code),
            desc: root.attr("errorDesc").map(|d| untrusted::text(d, 120)).filter(|d| !d.is_empty()),
        });
    }
    Ok(root)
}

/// `GetDeviceInfo`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeviceInfo {
    pub generation: Generation,
    pub name: Option<String>,
    pub description: Option<String>,
    pub model: Option<String>,
    pub brand: Option<String>,
    pub firmware: Option<String>,
    pub mac: Option<String>,
    pub serial: Option<String>,
    /// `chlMaxCount`: 1 on a camera, the channel count on an NVR.
    pub channels: u32,
    pub alarm_outputs: u32,
}

impl DeviceInfo {
    /// An NVR has more than one channel (or says so in its description).
    pub fn is_nvr(&self) -> bool {
        self.channels > 1
            || self.description.as_deref().is_some_and(|d| d.to_ascii_uppercase().contains("NVR"))
    }
}

pub fn device_info(body: &[u8]) -> Result<DeviceInfo, AnswerError> {
    let root = document(body)?;
    let info = root.child("deviceInfo").ok_or(AnswerError::Missing("<deviceInfo>"))?;
    let text = |k: &str| info.text_at(&[k]).map(|t| untrusted::text(t, MAX_TEXT));
    let number = |k: &str| info.text_at(&[k]).and_then(|v| v.parse().ok());
    Ok(DeviceInfo {
        generation: if info.child("apiVersion").is_some() { Generation::V20 } else { Generation::V19 },
        name: text("deviceName"),
        description: text("deviceDescription"),
        model: text("model"),
        brand: text("brand"),
        firmware: text("softwareVersion"),
        mac: info.text_at(&["mac"]).and_then(untrusted::mac),
        serial: text("sn"),
        channels: number("chlMaxCount").unwrap_or(1),
        alarm_outputs: number("alarmOutCount").unwrap_or(0),
    })
}

/// One channel of an NVR (or the camera's one).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Channel {
    pub id: u32,
    pub name: Option<String>,
    /// `online`, `offline`, `videoOn`, `videoLoss`.
    pub status: String,
}

/// `GetChannelInfo` (v2.0) or `GetChannelList` (v1.9 NVR).
pub fn channels(body: &[u8]) -> Result<Vec<Channel>, AnswerError> {
    let root = document(body)?;
    let list = root.child("channelList").ok_or(AnswerError::Missing("<channelList>"))?;
    let mut out = Vec::new();
    for item in list.all("item") {
        if let Some(id) = item.text_at(&["channelId"]).and_then(|v| v.parse().ok()) {
            out.push(Channel {
                id,
                name: item.text_at(&["name"]).map(|n| untrusted::text(n, MAX_TEXT)),
                status: untrusted::word(item.text_at(&["status"]).unwrap_or("unknown")),
            });
        } else if let Ok(id) = item.text.parse() {
            // v1.9 NVR: <item channelStatus="online">1</item>
            out.push(Channel {
                id,
                name: None,
                status: untrusted::word(item.attr("channelStatus").unwrap_or("unknown")),
            });
        }
    }
    Ok(out)
}

const JPEG_MAGIC: [u8; 3] = [0xFF, 0xD8, 0xFF];

fn jpeg(bytes: Vec<u8>) -> Result<Vec<u8>, AnswerError> {
    if bytes.starts_with(&JPEG_MAGIC) {
        return Ok(bytes);
    }
    let head: Vec<String> = bytes.iter().take(4).map(|b| format!("{b:02X}")).collect();
    Err(AnswerError::NotJpeg(head.join(" ")))
}

/// `GetSnapshot`: the JPEG itself (v1.9) or XML with it in base64 (v2.0).
pub fn snapshot(body: Vec<u8>) -> Result<Vec<u8>, AnswerError> {
    let first = body.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(0);
    if body.get(first) != Some(&b'<') {
        return jpeg(body);
    }
    let root = document(&body)?;
    let data = root
        .at(&["downloadOneImage", "sourceBase64Data"])
        .or_else(|| find(&root, "sourceBase64Data"))
        .ok_or(AnswerError::Missing("<downloadOneImage><sourceBase64Data>"))?;
    let clean: String = data.text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(clean.as_bytes())
        .map_err(|e| AnswerError::Malformed(format!("the snapshot's base64 does not decode: {e}")))?;
    jpeg(bytes)
}

fn find<'a>(e: &'a Element, name: &str) -> Option<&'a Element> {
    if e.name == name {
        return Some(e);
    }
    e.children.iter().find_map(|c| find(c, name))
}

/// One `httpPostV2` URL slot.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PostSlot {
    /// 1, 2 or 3.
    pub id: u32,
    pub enabled: bool,
    pub protocol: String,
    pub domain: String,
    pub port: u16,
    pub path: String,
    /// `subscribeDateType` items.
    pub data: Vec<String>,
    /// `subscriptionEvents` items.
    pub events: Vec<String>,
    #[serde(skip)]
    pub element: Element,
}

impl PostSlot {
    /// Where it posts, as a URL.
    pub fn target(&self) -> String {
        format!("{}://{}:{}{}", self.protocol, self.domain, self.port, self.path)
    }

    /// A slot nobody uses: switched off with no address, or no address at all.
    pub fn is_free(&self) -> bool {
        self.domain.is_empty() || (!self.enabled && self.domain == "0.0.0.0")
    }

    /// Does it post to this host and port?
    pub fn points_at(&self, host: &str, port: u16) -> bool {
        self.domain.eq_ignore_ascii_case(host) && self.port == port
    }
}

/// `GetHttpPostConfig`: the slots, how many the device allows, and the
/// answer's `httpPostV2` element (written back with one slot changed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostConfig {
    pub slots: Vec<PostSlot>,
    pub max_slots: u32,
    pub element: Element,
}

pub fn post_config(body: &[u8]) -> Result<PostConfig, AnswerError> {
    let root = document(body)?;
    let v2 = root.child("httpPostV2").ok_or(AnswerError::Missing("<httpPostV2>"))?.clone();
    let list = v2.at(&["postUrlConf", "urlList"]).ok_or(AnswerError::Missing("<postUrlConf><urlList>"))?;
    let max_slots = list.attr("maxCount").and_then(|m| m.parse().ok()).unwrap_or(3);
    let mut slots = Vec::new();
    for item in list.all("item") {
        let id =
            item.text_at(&["urlId"]).and_then(|v| v.parse().ok()).ok_or(AnswerError::Missing("<urlId>"))?;
        let items = |k: &str| -> Vec<String> {
            item.child(k)
                .map(|l| l.all("item").map(|i| untrusted::text(&i.text, MAX_TEXT)).collect())
                .unwrap_or_default()
        };
        let address = |path: &[&str], default: &str| {
            untrusted::text(item.text_at(path).unwrap_or(default), MAX_ADDRESS)
        };
        slots.push(PostSlot {
            id,
            enabled: item.text_at(&["switch"]) == Some("true"),
            protocol: untrusted::word(item.text_at(&["url", "protocol"]).unwrap_or("http")),
            domain: address(&["url", "domain"], ""),
            port: item.text_at(&["url", "port"]).and_then(|p| p.parse().ok()).unwrap_or(80),
            path: address(&["url", "path"], "/"),
            data: items("subscribeDateType"),
            events: items("subscriptionEvents"),
            element: item.clone(),
        });
    }
    Ok(PostConfig { slots, max_slots, element: v2 })
}

/// Which of the camera's own detections a region belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RegionKind {
    Perimeter,
    Entry,
    Exit,
}

impl RegionKind {
    pub const ALL: [RegionKind; 3] = [RegionKind::Perimeter, RegionKind::Entry, RegionKind::Exit];

    pub fn command(self) -> &'static str {
        match self {
            RegionKind::Perimeter => "GetSmartPerimeterConfig",
            RegionKind::Entry => "GetSmartAoiEntryConfig",
            RegionKind::Exit => "GetSmartAoiLeaveConfig",
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            RegionKind::Perimeter => "perimeter",
            RegionKind::Entry => "entry",
            RegionKind::Exit => "exit",
        }
    }
}

/// One region the camera has drawn: a polygon in the 0–10000 space.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Region {
    pub kind: RegionKind,
    /// 1-based, in the camera's order.
    pub index: usize,
    pub points: Vec<Point>,
    /// Is the detection switched on in the camera.
    pub enabled: bool,
}

/// Regions or lines of one kind a camera may list; real ones have at most 4.
pub const MAX_DRAWN: usize = 16;

/// A point in the picture's 0–10000 space, or why it is not one.
fn point(e: &Element) -> Result<Point, String> {
    let n = |k: &str| -> Result<u32, String> {
        let text = e.text_at(&[k]).or_else(|| e.text_at(&[&k.to_ascii_lowercase()]));
        let text = text.ok_or_else(|| format!("no <{k}>"))?;
        match text.parse::<u32>() {
            Ok(v) if v <= 10_000 => Ok(v),
            _ => Err(format!("<{k}> is {:?}, not a coordinate from 0 to 10000", untrusted::text(text, 16))),
        }
    };
    Ok(Point { x: n("X")?, y: n("Y")? })
}

/// `GetSmartPerimeterConfig`, `GetSmartAoiEntryConfig`, `GetSmartAoiLeaveConfig`.
/// A region of fewer than 3 points is one the camera has not drawn, and is
/// left out; one whose points cannot be read (not numbers, outside the
/// picture) refuses the whole answer, so an import never silently holds
/// fewer zones than the camera shows.
pub fn regions(body: &[u8], kind: RegionKind) -> Result<Vec<Region>, AnswerError> {
    let root = document(body)?;
    let info = find(&root, "regionInfo").ok_or(AnswerError::Missing("<regionInfo>"))?;
    let wrapper = root.children.first();
    let enabled = wrapper.and_then(|w| w.text_at(&["switch"])).map_or(true, |s| s == "true");
    let mut out = Vec::new();
    let bad =
        |i: usize, why: String| AnswerError::Malformed(format!("{} region {}: {why}", kind.word(), i + 1));
    let items: Vec<&Element> = info.all("item").collect();
    if items.len() > MAX_DRAWN {
        return Err(AnswerError::Malformed(format!(
            "{} {} regions listed; a camera has at most {MAX_DRAWN}",
            items.len(),
            kind.word()
        )));
    }
    for (i, item) in items.into_iter().enumerate() {
        let Some(group) = item.child("pointGroup") else { continue };
        let points =
            group.all("item").map(point).collect::<Result<Vec<Point>, String>>().map_err(|e| bad(i, e))?;
        // Fewer than 3 well-formed points: a region the camera has not
        // (finished) drawing, as firmware lists its unused slots.
        if points.len() >= 3 {
            out.push(Region { kind, index: i + 1, points, enabled });
        }
    }
    Ok(out)
}

/// One tripwire line the camera has drawn.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Tripwire {
    pub index: usize,
    pub start: Point,
    pub end: Point,
    /// `none`, `rightortop`, `leftorbotton` (the firmware's spelling).
    pub direction: String,
    pub enabled: bool,
}

/// `GetSmartTripwireConfig`.
pub fn tripwires(body: &[u8]) -> Result<Vec<Tripwire>, AnswerError> {
    let root = document(body)?;
    let info = find(&root, "lineInfo").ok_or(AnswerError::Missing("<lineInfo>"))?;
    let enabled = root.children.first().and_then(|w| w.text_at(&["switch"])).map_or(true, |s| s == "true");
    let items: Vec<&Element> = info.all("item").collect();
    if items.len() > MAX_DRAWN {
        return Err(AnswerError::Malformed(format!(
            "{} tripwires listed; a camera has at most {MAX_DRAWN}",
            items.len()
        )));
    }
    let mut out = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let end_point = |name: &str| -> Result<Option<Point>, AnswerError> {
            match item.child(name) {
                None => Ok(None),
                Some(e) => point(e)
                    .map(Some)
                    .map_err(|why| AnswerError::Malformed(format!("tripwire {}: <{name}>: {why}", i + 1))),
            }
        };
        let (start, end) = match (end_point("startPoint")?, end_point("endPoint")?) {
            // Neither end: a line the camera has not drawn.
            (None, None) => continue,
            (Some(s), Some(e)) if s == e => continue,
            (Some(s), Some(e)) => (s, e),
            _ => {
                return Err(AnswerError::Malformed(format!(
                    "tripwire {} has one end only; a line needs <startPoint> and <endPoint>",
                    i + 1
                )))
            }
        };
        out.push(Tripwire {
            index: i + 1,
            start,
            end,
            direction: untrusted::direction(item.text_at(&["direction"]).unwrap_or("none")).to_string(),
            enabled,
        });
    }
    Ok(out)
}
