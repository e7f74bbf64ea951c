//! What the scanner collected → one [`Event`]: dialect, kind, targets, images.
//!
//! Owns the decisions that need the whole post: which dialect sent it, which
//! kind it is (`smartType` tables of both dialects, PEA split by its block),
//! and joining targets across lists (an IPC `perInfo` item gets its class
//! from the `listInfo` item with the same `targetId`; NVR `eventInfo` from
//! `targetListInfo`). It must never look at bytes again except through the
//! ranges the scanner recorded, and stays linear in the number of items.

use super::model::*;
use super::scan::{Item, Raw, Root};
use super::tags::Tag;
use std::collections::BTreeMap;

/// `smartType` of either dialect → kind. Matched ignoring case, as firmware
/// spells some of them both ways (`VEHICE`/`VEHICLE`/`vehicle`).
fn kind_of_smart_type(raw: &str, has_perimeter: bool, has_tripwire: bool) -> EventKind {
    let t = raw.trim();
    let is = |word: &str| t.eq_ignore_ascii_case(word);
    if is("PEA") {
        // PEA carries either block; a tripwire-only post is a line crossing.
        if has_tripwire && !has_perimeter {
            EventKind::LineCrossing
        } else {
            EventKind::Intrusion
        }
    } else if is("regionIntrusion") {
        EventKind::Intrusion
    } else if is("lineCrossing") {
        EventKind::LineCrossing
    } else if is("AOIENTRY") {
        EventKind::ZoneEntry
    } else if is("AOILEAVE") {
        EventKind::ZoneExit
    } else if is("LOITER") {
        EventKind::Loitering
    } else if is("PVD") {
        EventKind::IllegalParking
    } else if is("VEHICE") || is("VEHICLE") {
        EventKind::Plate
    } else if is("VFD") || is("videoFaceDetect") {
        EventKind::Face
    } else if is("VFD_MATCH") {
        EventKind::FaceMatch
    } else if is("PASSLINECOUNT") || is("targetCountingByLine") {
        EventKind::CountingByLine
    } else if is("TRAFFIC") || is("targetCountingByArea") {
        EventKind::CountingByArea
    } else if is("VSD") || is("videoMetadata") {
        EventKind::Metadata
    } else if is("MOTION") {
        EventKind::Motion
    } else if is("SENSOR") {
        EventKind::Sensor
    } else if is("AVD") {
        EventKind::Tamper
    } else if is("OSC") {
        EventKind::ObjectRemoval
    } else if is("CDD") {
        EventKind::CrowdDensity
    } else if is("CPC") {
        EventKind::PeopleCounting
    } else if is("IPD") {
        EventKind::PeopleIntrusion
    } else {
        EventKind::Unknown(t.to_owned())
    }
}

fn dialect_and_kind(raw: &Raw) -> (Dialect, EventKind) {
    if raw.root == Root::DeviceInfo {
        return (Dialect::Ipc, EventKind::Keepalive);
    }
    let smart = |raw: &Raw| {
        raw.smart_type.as_deref().map(|s| kind_of_smart_type(s, raw.has_perimeter, raw.has_tripwire))
    };
    match raw.message_type {
        Some(message) => {
            let kind = match message {
                b"keepalive" => EventKind::Keepalive,
                b"alarmStatus" => EventKind::AlarmStatus,
                b"alarmData" => smart(raw).unwrap_or_else(|| EventKind::Unknown(String::new())),
                other => match smart(raw) {
                    Some(kind) => kind,
                    None if raw.has_alarm_status => EventKind::AlarmStatus,
                    None => EventKind::Unknown(String::from_utf8_lossy(other).into_owned()),
                },
            };
            (Dialect::Nvr, kind)
        }
        // IPC v1.x, and the 2.1.0 camera envelope with an IPC body: the kind
        // is inferred from which blocks the body carries.
        None => {
            let kind = if raw.has_alarm_status {
                EventKind::AlarmStatus
            } else if raw.has_traject {
                EventKind::Traject
            } else {
                smart(raw).unwrap_or(EventKind::Keepalive)
            };
            (Dialect::Ipc, kind)
        }
    }
}

/// Lists whose items are targets in their own right (the rest only add a class,
/// a box or an image to a target named elsewhere).
fn is_primary(list: Tag) -> bool {
    matches!(
        list,
        Tag::Traject
            | Tag::PerInfo
            | Tag::TripInfo
            | Tag::EventInfo
            | Tag::LicensePlateListInfo
            | Tag::FaceListInfo
    )
}

fn is_event_list(list: Tag) -> bool {
    matches!(list, Tag::PerInfo | Tag::TripInfo | Tag::EventInfo)
}

pub(crate) fn build(mut raw: Raw) -> Event {
    let (dialect, kind) = dialect_and_kind(&raw);
    let plate_event = kind == EventKind::Plate;
    let face_event = matches!(kind, EventKind::Face | EventKind::FaceMatch);

    let has_secondary = raw.items.iter().any(|it| !is_primary(it.list));
    let mut targets: Vec<Target> = Vec::new();
    // Whether each target's class came from its own item (so a join does not
    // override it); only kept when there is something to join.
    let mut class_known: Vec<bool> = Vec::new();
    // Item → target index, only needed to point images at their targets.
    let mut item_target: Vec<Option<usize>> =
        if raw.images.is_empty() { Vec::new() } else { vec![None; raw.items.len()] };
    let link = |item_target: &mut Vec<Option<usize>>, item: usize, target: usize| {
        if let Some(slot) = item_target.get_mut(item) {
            *slot = Some(target);
        }
    };

    for (i, item) in raw.items.iter().enumerate().filter(|(_, it)| is_primary(it.list)) {
        let default_class = match item.list {
            Tag::LicensePlateListInfo => Some(TargetClass::Vehicle),
            Tag::FaceListInfo => Some(TargetClass::Person),
            _ => None,
        };
        let class = item.class.or(default_class);
        // NVR plate boxes are pixels, not the 0–10000 space targets live in.
        let rect = if item.list == Tag::LicensePlateListInfo { None } else { item.rect.rect() };
        link(&mut item_target, i, targets.len());
        targets.push(Target { id: item.target_id, class: class.unwrap_or(TargetClass::Unknown), rect });
        if has_secondary {
            class_known.push(class.is_some());
        }
    }

    if has_secondary {
        // Only posts with two lists to join pay for an index; a traject post never does.
        let mut by_id: BTreeMap<u32, usize> = BTreeMap::new();
        for (t, target) in targets.iter().enumerate() {
            if let Some(id) = target.id {
                by_id.entry(id).or_insert(t);
            }
        }
        for (i, item) in raw.items.iter().enumerate().filter(|(_, it)| !is_primary(it.list)) {
            let rect = item.rect.rect();
            if let Some(&t) = item.target_id.and_then(|id| by_id.get(&id)) {
                if let (false, Some(class)) = (class_known[t], item.class) {
                    targets[t].class = class;
                    class_known[t] = true;
                }
                if targets[t].rect.is_none() {
                    targets[t].rect = rect;
                }
                link(&mut item_target, i, t);
                continue;
            }
            // The LPR post's first listInfo item only carries the overview image.
            let overview_carrier =
                plate_event && item.plate.is_none() && item.target_id.is_none() && rect.is_none();
            let names_target =
                item.target_id.is_some() || rect.is_some() || item.plate.is_some() || item.class.is_some();
            if overview_carrier || !names_target {
                continue;
            }
            let t = targets.len();
            if let Some(id) = item.target_id {
                by_id.insert(id, t);
            }
            let class = item.class.or(plate_event.then_some(TargetClass::Vehicle));
            targets.push(Target { id: item.target_id, class: class.unwrap_or(TargetClass::Unknown), rect });
            class_known.push(class.is_some());
            link(&mut item_target, i, t);
        }
    }

    let images = raw
        .images
        .iter()
        .filter_map(|img| {
            let range = img.range.clone().filter(|r| !r.is_empty())?;
            // An overview is the whole frame, never one target's crop (even inside `vsd`).
            let target =
                img.item.filter(|_| !img.overview).and_then(|i| item_target.get(i).copied().flatten());
            let carrier_overview = img.item.is_some() && target.is_none() && plate_event;
            let role = if img.overview || carrier_overview { ImageRole::Overview } else { ImageRole::Target };
            Some(ImageRef { role, declared_len: img.declared_len, range, target })
        })
        .collect();

    let mut faces = Vec::new();
    for item in &mut raw.items {
        let ipc_face = face_event && item.list == Tag::ListInfo;
        if item.list == Tag::FaceListInfo || ipc_face {
            let mut face = item.face.take().map(|f| *f).unwrap_or_default();
            face.target_id = item.target_id;
            face.rect = item.rect.rect();
            faces.push(face);
        }
    }

    let plate = raw.items.iter_mut().find(|it| it.plate.is_some()).and_then(|item| {
        let mut plate = *item.plate.take()?;
        if item.list == Tag::LicensePlateListInfo {
            plate.rect = item.rect.rect();
        }
        Some(plate)
    });

    let region = raw.items.iter_mut().filter(|it| is_event_list(it.list)).find_map(region_of);
    let first = |f: fn(&Item) -> Option<u32>| raw.items.iter().find_map(f);
    let event_id = first(|it| it.event_id);
    let status = raw.items.iter().find_map(|it| it.status).or(raw.status);

    Event {
        dialect,
        version: raw.version,
        device: raw.device,
        kind,
        smart_type: raw.smart_type.map(|s| s.trim().to_owned()),
        time: raw.current_time.or(raw.data_time),
        status,
        event_id,
        targets,
        region,
        plate,
        faces,
        alarms: raw.alarms,
        images,
    }
}

fn region_of(item: &mut Item) -> Option<Region> {
    if !item.polygon.is_empty() {
        return Some(Region::Polygon(std::mem::take(&mut item.polygon)));
    }
    match (item.line[0].point(), item.line[1].point()) {
        (Some(start), Some(end)) => Some(Region::Line { start, end }),
        _ => None,
    }
}
