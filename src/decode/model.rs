//! The normalized event model: what every Viewtron post becomes after decoding.
//!
//! Owns the plain data types shared by the decoder, the engine and the tools
//! (`inspect`, `replay`). It must never reference a dialect's XML element names
//! beyond the raw strings kept for explanation (`smart_type`, alarm names): the
//! engine matches on these types only.

use serde::Serialize;
use std::ops::Range;

/// Which wire dialect a post used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dialect {
    /// IP camera posting directly (`config` version 1.x, the 2.1.0 LPR
    /// envelope without `messageType`, or a `<DeviceInfo>` keepalive).
    Ipc,
    /// NVR forwarding for its channels (`config` version 2.x with `messageType`).
    Nvr,
    /// An empty body: the IPC keepalive carries no dialect marker at all.
    Empty,
}

/// One decoded post.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub dialect: Dialect,
    /// The `config version` attribute as sent (`1.7`, `2.0.0`), if any.
    pub version: Option<String>,
    pub device: Device,
    pub kind: EventKind,
    /// The raw `smartType` as sent (`PEA`, `regionIntrusion`, `VEHICE`), kept for
    /// explanations and for `Unknown` kinds.
    pub smart_type: Option<String>,
    /// When the device says the event happened; `None` when absent or bogus
    /// (the 20-digit NVR value), so callers fall back to receive time.
    pub time: Option<DeviceTime>,
    /// IPC `status`: start / procedure / stop of a smart event.
    pub status: Option<SmartStatus>,
    /// The camera-side rule's event id (`eventId`), when sent.
    pub event_id: Option<u32>,
    /// Every target the post names (traject items, event targets, faces, plates).
    pub targets: Vec<Target>,
    /// The camera-side zone polygon or tripwire line the event refers to.
    pub region: Option<Region>,
    /// Licence plate data (plate events only).
    pub plate: Option<Plate>,
    /// Face attributes (face events only), one per face.
    pub faces: Vec<Face>,
    /// Alarm status elements (alarm-status posts only).
    pub alarms: Vec<Alarm>,
    /// Byte ranges of the base64 images inside the body, never copied.
    pub images: Vec<ImageRef>,
}

/// Who sent the post, as far as the post says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
pub struct Device {
    pub name: Option<String>,
    /// Lower-case, colon separated (`58:5b:69:5f:42:1b`), whatever case was sent.
    pub mac: Option<String>,
    pub ip: Option<String>,
    pub serial: Option<String>,
    /// NVR channel (`channelId`) the event came from.
    pub channel: Option<u32>,
    /// IPC `deviceNo.` / `DeviceNo.`.
    pub device_no: Option<u32>,
}

/// What happened. The engine's `event = "..."` words map onto these.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "name")]
pub enum EventKind {
    /// Heartbeat (empty body, `<DeviceInfo>`, NVR `messageType=keepalive`).
    Keepalive,
    /// `<alarmStatusInfo>`: see `Event::alarms`.
    AlarmStatus,
    /// Real-time tracking (`traject`): the basis of presence.
    Traject,
    /// Zone intrusion (IPC `PEA` perimeter, NVR `regionIntrusion`).
    Intrusion,
    /// Line crossing (IPC `PEA` tripwire, NVR `lineCrossing`).
    LineCrossing,
    /// IPC `AOIENTRY`.
    ZoneEntry,
    /// IPC `AOILEAVE`.
    ZoneExit,
    /// IPC `LOITER`.
    Loitering,
    /// IPC `PVD`.
    IllegalParking,
    /// IPC `VEHICE`/`VEHICLE`, NVR `vehicle`.
    Plate,
    /// IPC `VFD`, NVR `videoFaceDetect`.
    Face,
    /// IPC `VFD_MATCH`: face recognised against the camera's database.
    FaceMatch,
    /// IPC `PASSLINECOUNT`, NVR `targetCountingByLine`.
    CountingByLine,
    /// IPC `TRAFFIC`, NVR `targetCountingByArea`.
    CountingByArea,
    /// IPC `VSD`, NVR `videoMetadata`.
    Metadata,
    /// IPC `MOTION`.
    Motion,
    /// IPC `SENSOR` (alarm input).
    Sensor,
    /// IPC `AVD`: video tamper / abnormal video.
    Tamper,
    /// IPC `OSC`: object left or removed.
    ObjectRemoval,
    /// IPC `CDD`: crowd density.
    CrowdDensity,
    /// IPC `CPC`: cross-line people counting.
    PeopleCounting,
    /// IPC `IPD`: people intrusion.
    PeopleIntrusion,
    /// Synthesized by camrelay when a device stops sending keepalives; never
    /// decoded from a post (the NVR's own `chlOfflineAlarm` is an alarm).
    DeviceOffline,
    /// Not posted by devices: synthesized by camrelay when a device reported
    /// offline is heard again (`camera_online`).
    DeviceOnline,
    /// A smartType this version does not know; the raw name is kept.
    Unknown(String),
}

/// Smart event phase (IPC `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SmartStatus {
    Start,
    Procedure,
    Stop,
    None,
}

/// The device's own timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceTime {
    /// `currentTime`, normalized to microseconds since the Unix epoch.
    UnixMicros(i64),
    /// `dataTime`: camera local wall time, no zone attached.
    Local(chrono::NaiveDateTime),
}

/// A tracked or detected object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    pub id: Option<u32>,
    pub class: TargetClass,
    /// Bounding box; 0–10000 on both axes (see `Rect`).
    pub rect: Option<Rect>,
}

/// Target class, one vocabulary for IPC numbers (1/2/4) and words (person/car/motor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetClass {
    Person,
    Vehicle,
    Motor,
    Unknown,
}

/// Axis-aligned box. Normalized to 0–10000 except NVR licence-plate boxes,
/// which the NVR sends in pixels (see `Plate::rect`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Rect {
    pub x1: u32,
    pub y1: u32,
    pub x2: u32,
    pub y2: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Point {
    pub x: u32,
    pub y: u32,
}

/// The camera-side geometry an event refers to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Region {
    Polygon(Vec<Point>),
    Line { start: Point, end: Point },
}

/// Licence plate read.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Plate {
    /// As sent (`ABC1234`).
    pub number: String,
    /// IPC `vehicleListType` as sent: `whiteList`, `blackList`, `temporaryList`.
    pub list: Option<String>,
    /// NVR `licensePlateMatchInfo/groupName` (user-defined group).
    pub group: Option<String>,
    /// NVR `licensePlateMatchInfo/carOwner`.
    pub owner: Option<String>,
    /// 0–100 (IPC `PlateConfidence count="9900"` is 99.00).
    pub confidence: Option<f32>,
    pub direction: Option<PlateDirection>,
    /// Plate colour (NVR `licensePlateAttribute/color`).
    pub color: Option<String>,
    pub car: CarAttributes,
    /// Plate box; NVR sends pixels here, not 0–10000.
    pub rect: Option<Rect>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PlateDirection {
    Approach,
    Leave,
    Unknown,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CarAttributes {
    pub kind: Option<String>,
    pub color: Option<String>,
    pub brand: Option<String>,
    pub model: Option<String>,
}

/// Face detection attributes (NVR only sends age/sex/glasses/mask).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Face {
    pub target_id: Option<u32>,
    pub rect: Option<Rect>,
    pub age: Option<String>,
    pub sex: Option<String>,
    pub glasses: Option<String>,
    pub mask: Option<String>,
}

/// One alarm element of an alarm-status post.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alarm {
    /// Element name as sent (`perimeterAlarm`, `VFDAlarm`, `chlOfflineAlarm`).
    pub name: String,
    pub id: Option<u32>,
    pub active: bool,
}

/// Where a base64 JPEG sits inside the body: found, measured, never copied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageRef {
    pub role: ImageRole,
    /// The `…Base64Length` the device declared.
    pub declared_len: Option<u64>,
    /// Byte range of the base64 text inside the body (CDATA markers excluded).
    pub range: Range<usize>,
    /// Index into `Event::targets` for target crops, when known.
    pub target: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageRole {
    /// Full frame (`sourceBase64Data`).
    Overview,
    /// Target, face or plate crop (`targetBase64Data`).
    Target,
}

impl Rect {
    /// Bottom-centre of the box: where a person's feet or a car's wheels are.
    pub fn bottom_center(&self) -> Point {
        Point { x: (self.x1 + self.x2) / 2, y: self.y2.max(self.y1) }
    }

    pub fn center(&self) -> Point {
        Point { x: (self.x1 + self.x2) / 2, y: (self.y1 + self.y2) / 2 }
    }

    pub fn width(&self) -> u32 {
        self.x2.abs_diff(self.x1)
    }

    pub fn height(&self) -> u32 {
        self.y2.abs_diff(self.y1)
    }

    /// Area as a fraction of the frame (0.0–1.0).
    pub fn area_fraction(&self) -> f64 {
        (self.width() as f64 * self.height() as f64) / 1e8
    }
}

impl EventKind {
    /// The kind a [`EventKind::word`] names (another node's detections
    /// arrive as words); any other word is `Unknown`.
    pub fn from_word(word: &str) -> EventKind {
        Self::DETECTIONS
            .iter()
            .find(|k| k.word() == word)
            .cloned()
            .unwrap_or_else(|| EventKind::Unknown(word.to_string()))
    }

    /// The kinds an alarm post can be: what a camera detects (not traject,
    /// keepalives, alarm status or a device coming and going).
    pub const DETECTIONS: &'static [EventKind] = &[
        EventKind::Intrusion,
        EventKind::LineCrossing,
        EventKind::ZoneEntry,
        EventKind::ZoneExit,
        EventKind::Loitering,
        EventKind::IllegalParking,
        EventKind::Plate,
        EventKind::Face,
        EventKind::FaceMatch,
        EventKind::CountingByLine,
        EventKind::CountingByArea,
        EventKind::Metadata,
        EventKind::Motion,
        EventKind::Sensor,
        EventKind::Tamper,
        EventKind::ObjectRemoval,
        EventKind::CrowdDensity,
        EventKind::PeopleCounting,
        EventKind::PeopleIntrusion,
    ];

    /// The word used for this kind in rules files and in logs.
    pub fn word(&self) -> &str {
        match self {
            EventKind::Keepalive => "keepalive",
            EventKind::AlarmStatus => "alarm",
            EventKind::Traject => "traject",
            EventKind::Intrusion => "intrusion",
            EventKind::LineCrossing => "line_crossing",
            EventKind::ZoneEntry => "zone_entry",
            EventKind::ZoneExit => "zone_exit",
            EventKind::Loitering => "loitering",
            EventKind::IllegalParking => "illegal_parking",
            EventKind::Plate => "plate",
            EventKind::Face => "face",
            EventKind::FaceMatch => "face_match",
            EventKind::CountingByLine => "counting_by_line",
            EventKind::CountingByArea => "counting_by_area",
            EventKind::Metadata => "metadata",
            EventKind::Motion => "motion",
            EventKind::Sensor => "sensor",
            EventKind::Tamper => "tamper",
            EventKind::ObjectRemoval => "object_removal",
            EventKind::CrowdDensity => "crowd_density",
            EventKind::PeopleCounting => "people_counting",
            EventKind::PeopleIntrusion => "people_intrusion",
            EventKind::DeviceOffline => "camera_offline",
            EventKind::DeviceOnline => "camera_online",
            EventKind::Unknown(name) => name,
        }
    }
}

impl TargetClass {
    pub fn word(&self) -> &'static str {
        match self {
            TargetClass::Person => "person",
            TargetClass::Vehicle => "vehicle",
            TargetClass::Motor => "motor",
            TargetClass::Unknown => "unknown",
        }
    }
}

impl Event {
    /// An event that says only who and what: no targets, geometry or images.
    pub fn bare(kind: EventKind, device: Device) -> Event {
        Event {
            dialect: Dialect::Empty,
            version: None,
            device,
            kind,
            smart_type: None,
            time: None,
            status: None,
            event_id: None,
            targets: Vec::new(),
            region: None,
            plate: None,
            faces: Vec::new(),
            alarms: Vec::new(),
            images: Vec::new(),
        }
    }

    /// The IPC keepalive: an empty body, so nothing but the kind is known.
    pub fn empty_keepalive() -> Event {
        Event::bare(EventKind::Keepalive, Device::default())
    }

    /// The images of one role, in body order.
    pub fn images_of(&self, role: ImageRole) -> impl Iterator<Item = &ImageRef> + '_ {
        self.images.iter().filter(move |i| i.role == role)
    }
}
