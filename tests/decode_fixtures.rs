//! Every fixture under tests/fixtures decodes to the concrete values it carries:
//! kinds, ids, classes, boxes, geometry, plates, faces, alarms, identity,
//! timestamps, and images located by range (the range slices to the placeholder).

use camrelay::decode::*;
use chrono::NaiveDate;
use std::path::{Path, PathBuf};

fn path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(rel)
}

fn load(rel: &str) -> (Vec<u8>, Event) {
    let body = std::fs::read(path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let event = decode(&body).unwrap_or_else(|e| panic!("{rel}: {e}"));
    (body, event)
}

fn rect(x1: u32, y1: u32, x2: u32, y2: u32) -> Option<Rect> {
    Some(Rect { x1, y1, x2, y2 })
}

fn target(id: u32, class: TargetClass, r: Option<Rect>) -> Target {
    Target { id: Some(id), class, rect: r }
}

fn pt(x: u32, y: u32) -> Point {
    Point { x, y }
}

fn micros(v: i64) -> Option<DeviceTime> {
    Some(DeviceTime::UnixMicros(v))
}

fn local(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<DeviceTime> {
    NaiveDate::from_ymd_opt(y, mo, d).and_then(|d| d.and_hms_opt(h, mi, s)).map(DeviceTime::Local)
}

/// An image of `role`, declared `len`, whose range slices to exactly `text`.
#[track_caller]
fn assert_image(body: &[u8], image: &ImageRef, role: ImageRole, len: u64, target: Option<usize>, text: &str) {
    assert_eq!(image.role, role);
    assert_eq!(image.declared_len, Some(len));
    assert_eq!(image.target, target);
    assert_eq!(std::str::from_utf8(&body[image.range.clone()]), Ok(text));
}

fn ipc_smart_device() -> Device {
    // IPC smart-data posts carry no identity at all; the server adds the source IP.
    Device::default()
}

fn nvr_device(name: &str, ip: &str, mac: &str, channel: Option<u32>) -> Device {
    Device {
        name: Some(name.into()),
        mac: Some(mac.into()),
        ip: Some(ip.into()),
        serial: None,
        channel,
        device_no: None,
    }
}

// ---------------------------------------------------------------- IPC v1.x

#[test]
fn ipc_traject_one_person() {
    let (_, e) = load("ipc-v1x/traject.xml");
    assert_eq!(e.dialect, Dialect::Ipc);
    assert_eq!(e.version.as_deref(), Some("1.7"));
    assert_eq!(e.kind, EventKind::Traject);
    assert_eq!(e.smart_type, None);
    assert_eq!(e.time, micros(1_774_646_121_524_166));
    assert_eq!(e.device.name.as_deref(), Some("FaceCam"));
    assert_eq!(e.device.mac.as_deref(), Some("58:5b:69:5f:42:1b"));
    assert_eq!(e.device.serial.as_deref(), Some("I421B0Z1173Q"));
    assert_eq!(e.targets, vec![target(434, TargetClass::Person, rect(6534, 2708, 7585, 6388))]);
    assert!(e.images.is_empty() && e.region.is_none() && e.plate.is_none() && e.alarms.is_empty());
}

#[test]
fn ipc_perimeter_intrusion() {
    let (body, e) = load("ipc-v1x/perimeter-intrusion.xml");
    assert_eq!(e.kind, EventKind::Intrusion);
    assert_eq!(e.smart_type.as_deref(), Some("PEA"));
    assert_eq!(e.status, Some(SmartStatus::Start));
    assert_eq!(e.event_id, Some(220));
    assert_eq!(e.time, micros(1_563_528_106_584_193));
    assert_eq!(e.device, ipc_smart_device());
    // Class joined from listInfo/targetImageData/targetType = 1 by targetId 20.
    assert_eq!(e.targets, vec![target(20, TargetClass::Person, rect(113, 0, 5511, 8472))]);
    assert_eq!(
        e.region,
        Some(Region::Polygon(vec![pt(1625, 2133), pt(1725, 8800), pt(7900, 8900), pt(7800, 2200)]))
    );
    assert_eq!(e.images.len(), 2);
    assert_image(&body, &e.images[0], ImageRole::Overview, 161_438, None, "BASE64_JPEG_OVERVIEW_IMAGE");
    assert_image(&body, &e.images[1], ImageRole::Target, 100_774, Some(0), "BASE64_JPEG_TARGET_CROP");
}

#[test]
fn ipc_line_crossing() {
    let (body, e) = load("ipc-v1x/line-crossing.xml");
    assert_eq!(e.kind, EventKind::LineCrossing);
    assert_eq!(e.smart_type.as_deref(), Some("PEA"));
    assert_eq!(e.event_id, Some(320));
    assert_eq!(e.status, Some(SmartStatus::Start));
    assert_eq!(e.targets, vec![target(30, TargetClass::Person, rect(3200, 2100, 4800, 8500))]);
    assert_eq!(e.region, Some(Region::Line { start: pt(5000, 1000), end: pt(5000, 9000) }));
    assert_image(&body, &e.images[0], ImageRole::Overview, 161_438, None, "BASE64_JPEG_OVERVIEW_IMAGE");
    assert_image(&body, &e.images[1], ImageRole::Target, 95_000, Some(0), "BASE64_JPEG_TARGET_CROP");
}

#[test]
fn ipc_zone_entry_and_exit() {
    let (body, entry) = load("ipc-v1x/zone-entry.xml");
    assert_eq!(entry.kind, EventKind::ZoneEntry);
    assert_eq!(entry.targets, vec![target(40, TargetClass::Person, rect(2000, 3000, 4000, 8000))]);
    assert_image(&body, &entry.images[1], ImageRole::Target, 80_000, Some(0), "BASE64_JPEG_TARGET_CROP");
    let (_, exit) = load("ipc-v1x/zone-exit.xml");
    assert_eq!(exit.kind, EventKind::ZoneExit);
    assert_eq!(exit.smart_type.as_deref(), Some("AOILEAVE"));
    // targetType 2 is a car.
    assert_eq!(exit.targets, vec![target(45, TargetClass::Vehicle, rect(6000, 3000, 8000, 8000))]);
}

#[test]
fn ipc_face_detection() {
    let (body, e) = load("ipc-v1x/face-detection.xml");
    assert_eq!(e.kind, EventKind::Face);
    assert_eq!(e.targets, vec![target(15, TargetClass::Person, rect(4200, 1500, 5800, 4200))]);
    assert_eq!(
        e.faces,
        vec![Face { target_id: Some(15), rect: rect(4200, 1500, 5800, 4200), ..Face::default() }]
    );
    assert_image(&body, &e.images[0], ImageRole::Overview, 200_000, None, "BASE64_JPEG_OVERVIEW_IMAGE");
    assert_image(&body, &e.images[1], ImageRole::Target, 18_000, Some(0), "BASE64_JPEG_FACE_CROP");
}

#[test]
fn ipc_lpr_vehice_spelling() {
    let (body, e) = load("ipc-v1x/lpr.xml");
    assert_eq!(e.kind, EventKind::Plate);
    assert_eq!(e.smart_type.as_deref(), Some("VEHICE"));
    let plate = e.plate.as_ref().expect("plate");
    assert_eq!(plate.number, "ABC1234");
    assert_eq!(plate.list.as_deref(), Some("whiteList"));
    assert_eq!((plate.group.as_deref(), plate.confidence, plate.direction), (None, None, None));
    assert_eq!(e.targets, vec![Target { id: None, class: TargetClass::Vehicle, rect: None }]);
    // listInfo/item[0] carries the overview, item[1] the plate crop, and the
    // firmware also sends sourceDataInfo.
    assert_eq!(e.images.len(), 3);
    assert_image(&body, &e.images[0], ImageRole::Overview, 161_438, None, "BASE64_JPEG_OVERVIEW_IMAGE");
    assert_image(&body, &e.images[1], ImageRole::Target, 3_200, Some(0), "BASE64_JPEG_PLATE_CROP");
    assert_image(&body, &e.images[2], ImageRole::Overview, 161_438, None, "BASE64_JPEG_SOURCE_IMAGE");
}

#[test]
fn ipc_video_metadata() {
    let (body, e) = load("ipc-v1x/video-metadata.xml");
    assert_eq!(e.kind, EventKind::Metadata);
    assert_eq!(e.targets, vec![Target { id: None, class: TargetClass::Person, rect: None }]);
    assert_image(&body, &e.images[0], ImageRole::Overview, 200_000, None, "BASE64_JPEG_OVERVIEW_IMAGE");
    assert_image(&body, &e.images[1], ImageRole::Target, 50_000, Some(0), "BASE64_JPEG_TARGET_CROP");
}

#[test]
fn ipc_alarm_status_us_date() {
    let (_, e) = load("ipc-v1x/alarm-status.xml");
    assert_eq!((e.dialect, e.kind.clone()), (Dialect::Ipc, EventKind::AlarmStatus));
    assert_eq!(e.alarms, vec![Alarm { name: "vehiceAlarm".into(), id: Some(1), active: true }]);
    assert_eq!(e.time, local(2025, 11, 19, 12, 15, 11));
    assert_eq!(
        e.device,
        Device {
            name: Some("Viewtron IPC".into()),
            mac: Some("58:5b:69:5a:84:bb".into()),
            ip: Some("192.168.1.57".into()),
            serial: Some("I84BB0A8D59C".into()),
            channel: None,
            device_no: Some(1),
        }
    );
}

#[test]
fn ipc_alarm_status_iso_date() {
    let (_, e) = load("ipc-v1x/alarm-status-v17.xml");
    assert_eq!(e.kind, EventKind::AlarmStatus);
    assert_eq!(e.alarms, vec![Alarm { name: "perimeterAlarm".into(), id: Some(1), active: true }]);
    assert_eq!(e.time, local(2026, 3, 29, 9, 58, 21));
    assert_eq!(e.device.name.as_deref(), Some("FaceCam"));
    assert_eq!(e.device.device_no, Some(1));
}

#[test]
fn ipc_keepalive_device_info_root() {
    let (_, e) = load("ipc-v1x/keepalive.xml");
    assert_eq!((e.dialect, e.kind.clone(), e.version.clone()), (Dialect::Ipc, EventKind::Keepalive, None));
    assert_eq!(
        e.device,
        Device {
            name: Some("Device Name".into()),
            mac: Some("58:5b:69:5a:84:bb".into()),
            ip: Some("192.168.1.192".into()),
            serial: Some("NF40D099BCM0".into()),
            channel: None,
            device_no: Some(1),
        }
    );
}

// ---------------------------------------------------------------- NVR v2.x

#[test]
fn nvr_keepalive() {
    let (_, e) = load("nvr-v2/keepalive.xml");
    assert_eq!((e.dialect, e.kind.clone()), (Dialect::Nvr, EventKind::Keepalive));
    assert_eq!(e.version.as_deref(), Some("2.0.0"));
    assert_eq!(e.device, nvr_device("Office", "192.168.0.50", "58:5b:69:12:f0:79", None));
}

#[test]
fn nvr_alarm_status_ignores_examples_in_trailing_comments() {
    let (_, e) = load("nvr-v2/alarm-status.xml");
    assert_eq!((e.dialect, e.kind.clone()), (Dialect::Nvr, EventKind::AlarmStatus));
    assert_eq!(e.alarms, vec![Alarm { name: "perimeterAlarm".into(), id: Some(1), active: true }]);
    assert_eq!(e.time, micros(1_772_056_914_000_000));
    assert_eq!(e.device, nvr_device("Device Name", "192.168.0.60", "58:5b:69:40:f4:0d", Some(1)));
}

#[test]
fn nvr_region_intrusion() {
    let (body, e) = load("nvr-v2/region-intrusion.xml");
    assert_eq!((e.dialect, e.kind.clone()), (Dialect::Nvr, EventKind::Intrusion));
    assert_eq!(e.smart_type.as_deref(), Some("regionIntrusion"));
    assert_eq!(e.event_id, Some(916));
    assert_eq!(e.status, None);
    assert_eq!(e.time, micros(1_772_056_914_604_000));
    assert_eq!(e.device.channel, Some(1));
    // Class joined from targetListInfo by targetId 716.
    assert_eq!(e.targets, vec![target(716, TargetClass::Person, rect(3096, 3715, 4005, 9861))]);
    assert_eq!(
        e.region,
        Some(Region::Polygon(vec![pt(1590, 3080), pt(4715, 3181), pt(4772, 9217), pt(416, 9141)]))
    );
    assert_image(&body, &e.images[0], ImageRole::Overview, 400_924, None, "BASE64_JPEG_OVERVIEW_IMAGE");
    assert_image(&body, &e.images[1], ImageRole::Target, 78_796, Some(0), "BASE64_JPEG_TARGET_CROP");
}

#[test]
fn nvr_line_crossing() {
    let (body, e) = load("nvr-v2/line-crossing.xml");
    assert_eq!(e.kind, EventKind::LineCrossing);
    assert_eq!(e.event_id, Some(1409));
    assert_eq!(e.targets, vec![target(1309, TargetClass::Person, rect(3494, 4409, 4261, 9791))]);
    assert_eq!(e.region, Some(Region::Line { start: pt(3579, 2550), end: pt(3655, 9797) }));
    assert_image(&body, &e.images[0], ImageRole::Overview, 443_820, None, "BASE64_JPEG_OVERVIEW_IMAGE");
}

#[test]
fn nvr_counting_by_line_zero_box_is_absent() {
    let (body, e) = load("nvr-v2/target-counting-by-line.xml");
    assert_eq!(e.kind, EventKind::CountingByLine);
    assert_eq!(e.event_id, Some(1080));
    // The NVR sends an all-zero rect for line counting: no box, not a box at (0,0).
    assert_eq!(e.targets, vec![target(480, TargetClass::Person, None)]);
    assert_eq!(e.region, Some(Region::Line { start: pt(3977, 2146), end: pt(3977, 9974) }));
    assert_image(&body, &e.images[1], ImageRole::Target, 72_896, Some(0), "BASE64_JPEG_TARGET_CROP");
}

#[test]
fn nvr_counting_by_area() {
    let (_, e) = load("nvr-v2/target-counting-by-area.xml");
    assert_eq!(e.kind, EventKind::CountingByArea);
    assert_eq!(e.targets, vec![target(2204, TargetClass::Person, rect(4431, 4409, 4971, 9791))]);
    assert!(matches!(&e.region, Some(Region::Polygon(p)) if p.len() == 4 && p[0] == pt(4450, 4292)));
    assert_eq!(e.time, micros(1_772_145_352_968_000));
}

#[test]
fn nvr_video_metadata() {
    let (body, e) = load("nvr-v2/video-metadata.xml");
    assert_eq!(e.kind, EventKind::Metadata);
    assert_eq!(e.event_id, Some(3215));
    assert_eq!(e.targets, vec![target(2215, TargetClass::Person, rect(5284, 4513, 6079, 9479))]);
    assert!(matches!(&e.region, Some(Region::Polygon(p)) if p.len() == 4 && p[2] == pt(9904, 9873)));
    assert_image(&body, &e.images[1], ImageRole::Target, 45_832, Some(0), "BASE64_JPEG_TARGET_CROP");
}

#[test]
fn nvr_face_detection_with_attributes() {
    let (body, e) = load("nvr-v2/face-detection.xml");
    assert_eq!(e.kind, EventKind::Face);
    assert_eq!(e.device, nvr_device("Office", "192.168.0.50", "58:5b:69:12:f0:79", Some(1)));
    assert_eq!(e.targets, vec![target(50, TargetClass::Person, rect(854, 176, 978, 300))]);
    assert_eq!(
        e.faces,
        vec![Face {
            target_id: Some(50),
            rect: rect(854, 176, 978, 300),
            age: Some("middleAged".into()),
            sex: Some("male".into()),
            glasses: Some("unknown".into()),
            mask: Some("unknown".into()),
        }]
    );
    assert_image(&body, &e.images[0], ImageRole::Overview, 440_072, None, "BASE64_JPEG_OVERVIEW_IMAGE");
    assert_image(&body, &e.images[1], ImageRole::Target, 14_860, Some(0), "BASE64_JPEG_FACE_CROP");
}

#[test]
fn nvr_vehicle_plate() {
    let (body, e) = load("nvr-v2/vehicle-lpr.xml");
    assert_eq!(e.kind, EventKind::Plate);
    assert_eq!(e.smart_type.as_deref(), Some("vehicle"));
    assert_eq!(e.device.channel, Some(2));
    assert_eq!(e.time, micros(1_772_210_268_473_000));
    // The plate box is in pixels, so it stays on the plate, not on the target.
    assert_eq!(e.targets, vec![target(104, TargetClass::Vehicle, None)]);
    assert_eq!(
        e.plate,
        Some(Plate {
            number: "JP116D".into(),
            list: None,
            group: None,
            owner: None,
            confidence: None,
            direction: None,
            color: Some("white".into()),
            car: CarAttributes {
                kind: Some("mpv".into()),
                color: Some("white".into()),
                brand: Some("GMC".into()),
                model: Some("GMC_SAVANA".into()),
            },
            rect: rect(1104, 546, 1232, 610),
        })
    );
    assert_image(&body, &e.images[0], ImageRole::Overview, 483_768, None, "BASE64_JPEG_OVERVIEW_IMAGE");
    assert_image(&body, &e.images[1], ImageRole::Target, 2_760, Some(0), "BASE64_JPEG_PLATE_CROP");
}

// ---------------------------------------------------------------- hand-made

#[test]
fn extra_ipc_vehicle_spelling_with_confidence_direction_car() {
    let (body, e) = load("extra/ipc-vehicle-spelling.xml");
    assert_eq!(e.kind, EventKind::Plate);
    assert_eq!(e.smart_type.as_deref(), Some("VEHICLE"));
    assert_eq!(e.time, micros(1_732_045_234_584_000)); // 13 digits: milliseconds
    assert_eq!(e.device.mac.as_deref(), Some("58:5b:69:5a:84:bb")); // dashes and upper case normalized
    let plate = e.plate.expect("plate");
    assert_eq!(plate.number, "XYZ 987");
    assert_eq!(plate.list.as_deref(), Some("blackList"));
    assert_eq!(plate.confidence, Some(99.0));
    assert_eq!(plate.direction, Some(PlateDirection::Leave));
    assert_eq!(
        plate.car,
        CarAttributes {
            kind: Some("sedan".into()),
            color: Some("red".into()),
            brand: Some("Toyota".into()),
            model: Some("Corolla".into()),
        }
    );
    // item[0] announces an overview of length 0 with no data: no image.
    assert_eq!(e.images.len(), 1);
    assert_image(&body, &e.images[0], ImageRole::Target, 3_200, Some(0), "BASE64_JPEG_PLATE_CROP");
}

#[test]
fn extra_nvr_vehicle_group_owner_and_bogus_time() {
    let (_, e) = load("extra/nvr-vehicle-match.xml");
    assert_eq!(e.kind, EventKind::Plate);
    assert_eq!(e.time, None, "20-digit currentTime is the firmware bug: receive time is used");
    assert_eq!(e.device, nvr_device("Driveway NVR", "192.168.0.61", "58:5b:69:40:f4:0e", Some(3)));
    let plate = e.plate.expect("plate");
    assert_eq!((plate.number.as_str(), plate.color.as_deref()), ("KL55AB", Some("yellow")));
    assert_eq!(plate.group.as_deref(), Some("Residents"));
    assert_eq!(plate.owner.as_deref(), Some("J. Doe"));
    assert_eq!(plate.car.kind.as_deref(), Some("suv"));
    assert_eq!(plate.rect, rect(900, 500, 1030, 566));
    assert_eq!(e.targets, vec![target(207, TargetClass::Vehicle, None)]);
    assert!(e.images.is_empty());
}

#[test]
fn extra_lpr_210_envelope_is_ipc() {
    let (body, e) = load("extra/lpr-v210-envelope.xml");
    assert_eq!((e.dialect, e.version.as_deref()), (Dialect::Ipc, Some("2.1.0")));
    assert_eq!(e.kind, EventKind::Plate);
    assert_eq!(e.device.name.as_deref(), Some("LPR Cam"));
    assert_eq!(e.device.device_no, Some(7));
    assert_eq!(e.device.mac.as_deref(), Some("58:5b:69:00:00:90"));
    let plate = e.plate.expect("plate");
    assert_eq!(plate.number, "TEMP42");
    assert_eq!(plate.list.as_deref(), Some("temporaryList"));
    assert_eq!(plate.direction, Some(PlateDirection::Approach));
    // Plain-text base64 (no CDATA) is located the same way.
    assert_image(&body, &e.images[0], ImageRole::Target, 2_900, Some(0), "BASE64_JPEG_PLATE_CROP");
}

#[test]
fn extra_nvr_alarm_status_several_items() {
    let (_, e) = load("extra/nvr-alarm-status-multi.xml");
    assert_eq!(e.kind, EventKind::AlarmStatus);
    assert_eq!(e.device.channel, Some(4));
    let alarm = |name: &str, id, active| Alarm { name: name.into(), id: Some(id), active };
    assert_eq!(
        e.alarms,
        vec![
            alarm("perimeterAlarm", 1, true),
            alarm("perimeterAlarm", 2, false),
            alarm("vfdAlarm", 1, false),
            alarm("chlOfflineAlarm", 4, true),
        ]
    );
}

#[test]
fn extra_ipc_alarm_status_several_alarms_am_time() {
    let (_, e) = load("extra/ipc-alarm-status-multi.xml");
    assert_eq!(e.kind, EventKind::AlarmStatus);
    let alarm = |name: &str, id, active| Alarm { name: name.into(), id: Some(id), active };
    assert_eq!(
        e.alarms,
        vec![alarm("tripwireAlarm", 2, false), alarm("motionAlarm", 1, true), alarm("VFDAlarm", 1, false)]
    );
    assert_eq!(e.time, local(2026, 1, 2, 7, 5, 9));
    assert_eq!(e.device.mac.as_deref(), Some("58:5b:69:5f:42:1c"));
}

#[test]
fn extra_empty_body_is_keepalive() {
    let (_, e) = load("extra/empty-keepalive.xml");
    assert_eq!((e.dialect, e.kind.clone()), (Dialect::Empty, EventKind::Keepalive));
    assert_eq!(decode(b" \r\n\t").map(|e| e.kind), Ok(EventKind::Keepalive));
}

#[test]
fn extra_traject_several_targets_bom_entity() {
    let (_, e) = load("extra/traject-multi.xml");
    assert_eq!(e.kind, EventKind::Traject);
    assert_eq!(e.time, micros(1_774_646_121_524_000));
    assert_eq!(e.device.name.as_deref(), Some("Gate & Drive"));
    assert_eq!(
        e.targets,
        vec![
            target(2157, TargetClass::Person, rect(100, 200, 300, 900)),
            target(2158, TargetClass::Vehicle, rect(4000, 5000, 7000, 8000)),
            target(2159, TargetClass::Motor, rect(8000, 6000, 9000, 9500)),
        ]
    );
}

#[test]
fn extra_traject_seconds_and_unknown_class() {
    let (_, e) = load("extra/traject-10digit.xml");
    assert_eq!(e.version.as_deref(), Some("1.0"));
    assert_eq!(e.time, micros(1_774_646_121_000_000));
    assert_eq!(e.targets, vec![target(9, TargetClass::Unknown, rect(10, 20, 30, 40))]);
}

#[test]
fn extra_listinfo_kinds() {
    let cases: [(&str, EventKind, u32, TargetClass); 7] = [
        ("loiter", EventKind::Loitering, 51, TargetClass::Person),
        ("pvd", EventKind::IllegalParking, 52, TargetClass::Vehicle),
        ("vfd-match", EventKind::FaceMatch, 53, TargetClass::Person),
        ("passlinecount", EventKind::CountingByLine, 54, TargetClass::Person),
        ("traffic", EventKind::CountingByArea, 55, TargetClass::Motor),
        ("motion", EventKind::Motion, 56, TargetClass::Person),
        ("unknown-smarttype", EventKind::Unknown("FALLING".into()), 57, TargetClass::Unknown),
    ];
    for (file, kind, id, class) in cases {
        let (body, e) = load(&format!("extra/{file}.xml"));
        assert_eq!(e.kind, kind, "{file}");
        assert_eq!(e.event_id, Some(id * 101), "{file}");
        assert_eq!(e.status, Some(SmartStatus::Procedure), "{file}");
        assert_eq!(e.device.name.as_deref(), Some("Side"), "{file}");
        // The unknown kind keeps whatever class the post names; FALLING names 1.
        let class = if file == "unknown-smarttype" { TargetClass::Person } else { class };
        assert_eq!(e.targets, vec![target(id, class, rect(1000, 2000, 3000, id * 100))], "{file}");
        assert_image(&body, &e.images[1], ImageRole::Target, 80_000, Some(0), "BASE64_JPEG_TARGET_CROP");
    }
}

#[test]
fn extra_wrapped_base64_decodes_to_jpeg_bytes() {
    let (body, e) = load("extra/image-wrapped.xml");
    assert_eq!(e.kind, EventKind::Face);
    // The overview was announced with length 0 and no data: absent.
    assert_eq!(e.images.len(), 1);
    let crop = &e.images[0];
    assert_eq!((crop.role, crop.declared_len, crop.target), (ImageRole::Target, Some(48), Some(0)));
    let jpeg = image_bytes(&body, crop).expect("valid base64 across lines");
    assert_eq!(jpeg, b"\xff\xd8\xff\xe0camrelay-test-jpeg-0123456789\xff\xd9".to_vec());
    assert_eq!(e.faces.len(), 2);
    assert_eq!(e.faces[1].mask.as_deref(), Some("yes"));
    assert_eq!(e.targets[1], target(52, TargetClass::Person, rect(5000, 200, 5200, 400)));
}

#[test]
fn image_bytes_refuses_placeholders_and_bad_ranges() {
    let (body, e) = load("ipc-v1x/traject.xml");
    assert!(e.images.is_empty());
    let (body2, e2) = load("nvr-v2/vehicle-lpr.xml");
    // "BASE64_JPEG_PLATE_CROP" has underscores: not base64.
    assert!(matches!(image_bytes(&body2, &e2.images[1]), Err(ImageError::Base64(_))));
    let outside =
        ImageRef { role: ImageRole::Overview, declared_len: None, range: 10..body.len() + 1, target: None };
    assert_eq!(
        image_bytes(&body, &outside),
        Err(ImageError::OutOfRange { start: 10, end: body.len() + 1, len: body.len() })
    );
}

// ---------------------------------------------------------------- coverage

/// Every fixture in the project decodes, and the set covers every message and
/// detection kind the protocol names (plus Unknown).
#[test]
fn every_project_fixture_decodes_and_kinds_are_covered() {
    let mut kinds = std::collections::BTreeSet::new();
    let mut dialects = std::collections::BTreeSet::new();
    for dir in ["ipc-v1x", "nvr-v2", "extra"] {
        for entry in std::fs::read_dir(path(dir)).expect("fixture dir") {
            let file = entry.expect("entry").path();
            let body = std::fs::read(&file).expect("read");
            let event = decode(&body).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            kinds.insert(event.kind.word().to_string());
            dialects.insert(format!("{:?}", event.dialect));
        }
    }
    for kind in [
        "keepalive",
        "alarm",
        "traject",
        "intrusion",
        "line_crossing",
        "zone_entry",
        "zone_exit",
        "loitering",
        "illegal_parking",
        "plate",
        "face",
        "face_match",
        "counting_by_line",
        "counting_by_area",
        "metadata",
        "motion",
        "FALLING",
    ] {
        assert!(kinds.contains(kind), "no fixture decodes to {kind}: {kinds:?}");
    }
    assert_eq!(dialects.len(), 3, "{dialects:?}");
}

/// The shared fixture set, when this checkout sits next to it, decodes too
/// (CI clones the project alone, so its absence is not a failure).
#[test]
fn every_shared_fixture_decodes_when_present() {
    let shared = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/viewtron");
    let Ok(dirs) = std::fs::read_dir(&shared) else {
        eprintln!("skipped: {} not present", shared.display());
        return;
    };
    let mut decoded = 0;
    for dir in dirs.flatten().filter(|d| d.path().is_dir()) {
        for file in std::fs::read_dir(dir.path()).expect("dir").flatten() {
            let file = file.path();
            if file.extension().is_some_and(|x| x == "xml") {
                let body = std::fs::read(&file).expect("read");
                decode(&body).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
                decoded += 1;
            }
        }
    }
    assert!(decoded >= 20, "only {decoded} shared fixtures found");
}
