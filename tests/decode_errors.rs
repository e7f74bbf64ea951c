//! Bodies the decoder must refuse, each with its typed reason, the exact
//! message and the byte offset where the problem is; and the leniencies it
//! must keep (BOM, leading comments, trailing comments, unknown kinds).

use camrelay::decode::*;

#[track_caller]
fn refused(body: &[u8]) -> DecodeError {
    match decode(body) {
        Ok(event) => panic!("decoded {:?} from {:?}", event.kind, String::from_utf8_lossy(body)),
        Err(e) => e,
    }
}

#[test]
fn not_xml() {
    let e = refused(b"{\"event\": \"person\"}");
    assert_eq!((e.reason(), e.offset()), ("not_xml", 0));
    assert_eq!(e.to_string(), "not XML at byte 0: text outside the root element");
}

#[test]
fn mismatched_end_tag() {
    let body = b"<config version=\"1.7\"><smartType>PEA</deviceName></config>";
    let e = refused(body);
    assert_eq!(e.reason(), "not_xml");
    assert_eq!(e.offset(), 36); // where `</deviceName>` starts
    assert_eq!(e.to_string(), "not XML at byte 36: </deviceName> does not close <smartType>");
}

#[test]
fn only_a_declaration_has_no_root() {
    let body = b"<?xml version=\"1.0\"?>\n<!-- nothing else -->\n";
    let e = refused(body);
    assert_eq!(e, DecodeError::NotXml { offset: body.len(), reason: "no root element".into() });
}

#[test]
fn truncated_inside_an_element() {
    let full =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ipc-v1x/traject.xml")).unwrap();
    let cut = &full[..full.windows(7).position(|w| w == b"</rect>").unwrap()];
    let e = refused(cut);
    assert_eq!(e, DecodeError::Truncated { offset: cut.len(), open: "rect".into() });
    assert_eq!(e.to_string(), format!("truncated: the document ends at byte {} inside <rect>", cut.len()));
}

#[test]
fn truncated_inside_a_tag_and_inside_cdata() {
    let e = refused(b"<config version=\"1.7\"><deviceName><![CDATA[Fac");
    assert_eq!(e, DecodeError::Truncated { offset: 46, open: "deviceName".into() });
    let e = refused(b"<config version=\"1.7\"><traj");
    assert_eq!(e, DecodeError::Truncated { offset: 27, open: "config".into() });
}

#[test]
fn unknown_root() {
    let e = refused(b"<?xml version=\"1.0\"?><html><body/></html>");
    assert_eq!(e, DecodeError::UnknownRoot { offset: 21, found: "html".into() });
    assert_eq!(
        e.to_string(),
        "no recognizable root at byte 21: found <html>, expected <config> or <DeviceInfo>"
    );
}

#[test]
fn invalid_utf8_in_a_field() {
    let body = b"<config version=\"1.7\"><deviceName>Gar\xffage</deviceName></config>";
    let e = refused(body);
    assert_eq!(e, DecodeError::InvalidUtf8 { offset: 37, field: "deviceName".into() });
    assert_eq!(e.to_string(), "invalid UTF-8 in <deviceName> at byte 37");
}

#[test]
fn doctype_and_entities_are_refused_not_expanded() {
    let lol = b"<?xml version=\"1.0\"?>\n<!DOCTYPE config [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;\">]>\n<config><deviceName>&b;</deviceName></config>";
    let e = refused(lol);
    assert_eq!(e, DecodeError::Doctype { offset: 22 });
    assert_eq!(e.to_string(), "DTD or entity declaration at byte 22 refused (never expanded)");
    // Without a DTD, an undeclared entity in a field is a bad value, never looked up.
    let e = refused(b"<config><deviceName>&xxe;</deviceName></config>");
    assert_eq!(e.reason(), "bad_value");
    assert_eq!(e.offset(), 20);
}

#[test]
fn nesting_bound_refuses_early() {
    let depth = 100_000;
    let body = "<config>".to_string() + &"<a>".repeat(depth) + &"</a>".repeat(depth) + "</config>";
    let e = refused(body.as_bytes());
    // Refused at the 65th open element: after reading ~200 bytes of 700 KB.
    assert_eq!(e, DecodeError::TooDeep { offset: 8 + 3 * (MAX_DEPTH - 1), limit: MAX_DEPTH });
    assert_eq!(e.to_string(), format!("nesting deeper than 64 elements at byte {}", 8 + 3 * 63));
    // One level less is fine.
    let ok =
        "<config>".to_string() + &"<a>".repeat(MAX_DEPTH - 1) + &"</a>".repeat(MAX_DEPTH - 1) + "</config>";
    assert_eq!(decode(ok.as_bytes()).map(|e| e.kind), Ok(EventKind::Keepalive));
}

#[test]
fn bad_number() {
    let body = b"<config version=\"1.7\"><traject><item><targetId>12a</targetId></item></traject></config>";
    let e = refused(body);
    assert_eq!(
        e,
        DecodeError::BadValue { offset: 47, field: "targetId".into(), reason: "not a decimal number".into() }
    );
    let e = refused(
        b"<config><alarmStatusInfo><motionAlarm id=\"1\">maybe</motionAlarm></alarmStatusInfo></config>",
    );
    assert_eq!(e.to_string(), "bad value in <motionAlarm> at byte 45: expected true or false");
}

#[test]
fn bom_leading_comments_and_trailing_comments_decode() {
    let body = b"\xef\xbb\xbf  <!-- c --><?xml-stylesheet x?>\n<config version=\"2.0.0\"><messageType>keepalive</messageType></config>\n<!-- <config><messageType>alarmStatus</messageType></config> -->\n";
    let e = decode(body).expect("decodes");
    assert_eq!((e.dialect, e.kind), (Dialect::Nvr, EventKind::Keepalive));
}

/// Hostile-LAN finding 10: bodies that were not one clean post were answered
/// with success. Each is now refused with a reason, whichever walk reads it.
#[test]
fn finding_10_a_body_that_is_not_one_clean_post_is_refused() {
    let keepalive = "<config><messageType>keepalive</messageType></config>";
    let cases: Vec<(Vec<u8>, &str, &str)> = vec![
        (format!("{keepalive}<oops></nope>").into_bytes(), "trailing_content", "markup after the root element"),
        (format!("{keepalive}\n<?xml version=\"1.0\"?>{keepalive}").into_bytes(), "trailing_content", "a second document"),
        (format!("{keepalive}{keepalive}").into_bytes(), "trailing_content", "markup after the root element"),
        (format!("{keepalive} garbage").into_bytes(), "trailing_content", "text after the root element"),
        (format!("{keepalive}<!-- never closed").into_bytes(), "trailing_content", "an unclosed comment"),
        (b"<config><types><\xffx/></types><messageType>keepalive</messageType></config>".to_vec(), "invalid_utf8", "invalid UTF-8 in <body>"),
        ([keepalive.as_bytes(), b"<!-- \xff -->"].concat(), "invalid_utf8", "invalid UTF-8"),
        (
            b"<config version=\"1.7\"><mac>58:5b:69:00:00:01</mac><mac>58:5b:69:00:00:02</mac><smartType>PEA</smartType></config>".to_vec(),
            "bad_value",
            "given twice with different values",
        ),
        (
            b"<config version=\"1.7\"><smartType>PEA</smartType><perimeter><perInfo><item><targetId>1</targetId><rect><x1>-5</x1><y1>-5</y1><x2>-1</x2><y2>-1</y2></rect></item></perInfo></perimeter></config>".to_vec(),
            "bad_value",
            "negative coordinate",
        ),
        (
            b"<config version=\"1.7\"><smartType>PEA</smartType><perimeter><perInfo><item><targetId>1</targetId><rect><x1>1</x1><y1>1</y1><x2>20000</x2><y2>5</y2></rect></item></perInfo></perimeter></config>".to_vec(),
            "bad_value",
            "coordinate above 10000",
        ),
        (
            b"<config version=\"1.7\"><currentTime>1000000000000000000000000000000</currentTime><smartType>PEA</smartType></config>".to_vec(),
            "bad_value",
            "timestamp out of range",
        ),
    ];
    for (body, reason, words) in &cases {
        let e = refused(body);
        assert_eq!(e.reason(), *reason, "{}: {e}", String::from_utf8_lossy(body));
        assert!(e.to_string().contains(words), "{}: {e}", String::from_utf8_lossy(body));
        assert_eq!(camrelay::decode::decode_reference(body), Err(e), "both walks refuse alike");
    }
    // Kept on purpose: comments, PIs and whitespace after the root (the
    // fixtures keep examples there), the same MAC twice, and the NVR's bogus
    // 20-digit currentTime (firmware bug: receive time is used instead).
    for ok in [
        format!("{keepalive}\n<!-- <config>example</config> -->\n<?pi x?>\n"),
        "<config version=\"1.7\"><mac>58:5b:69:00:00:01</mac><deviceInfo><mac>58:5B:69:00:00:01</mac></deviceInfo><smartType>PEA</smartType></config>".into(),
        "<config version=\"2.0.0\"><messageType>alarmData</messageType><currentTime>18446744073709551615</currentTime><smartType>vehicle</smartType></config>".into(),
    ] {
        assert!(decode(ok.as_bytes()).is_ok(), "{ok}: {:?}", decode(ok.as_bytes()));
    }
}

/// Hostile-LAN finding 5, in the decoder: a post holds at most MAX_ITEMS
/// list entries and MAX_POINTS points per polygon, refused before they cost memory.
#[test]
fn finding_05_memory_a_post_with_more_targets_than_any_camera_tracks_is_refused() {
    let items = |n: usize| {
        let mut body = String::from("<config version=\"1.7\"><smartType>TRAJECT</smartType><traject>");
        for i in 0..n {
            body += &format!("<item><targetId>{i}</targetId><targetType>person</targetType></item>");
        }
        body + "</traject></config>"
    };
    let max = camrelay::decode::MAX_ITEMS;
    assert_eq!(decode(items(max).as_bytes()).map(|e| e.targets.len()), Ok(max));
    let e = refused(items(max + 1).as_bytes());
    assert_eq!(e.reason(), "too_many");
    assert_eq!(
        e.to_string().split(" at byte").next(),
        Some("more than 256 list items (targets, events) in one post")
    );
    let e = refused(items(55_000).as_bytes());
    assert!(e.offset() < 30_000, "refused early, at byte {}", e.offset());
}

#[test]
fn unknown_smart_type_and_message_type_are_kinds_not_errors() {
    let e = decode(b"<config version=\"2.0.0\"><messageType>alarmData</messageType><smartType>fireDetect</smartType></config>")
        .expect("decodes");
    assert_eq!(e.kind, EventKind::Unknown("fireDetect".into()));
    assert_eq!(e.kind.word(), "fireDetect");
    let e = decode(b"<config version=\"2.0.0\"><messageType>diagnostics</messageType></config>")
        .expect("decodes");
    assert_eq!(e.kind, EventKind::Unknown("diagnostics".into()));
}

#[test]
fn types_block_is_stepped_over_only_when_plain() {
    // With a comment inside, <types> is tokenized normally, and a broken one is refused.
    let broken = b"<config><types><!-- x --><a></b></types><traject><item><targetId>1</targetId></item></traject></config>";
    assert_eq!(refused(broken).reason(), "not_xml");
    // Plain markup is stepped over; what follows decodes.
    let plain = b"<config><types><targetType><enum>person</enum></targetType></types><traject><item><targetId>1</targetId><targetType>car</targetType></item></traject></config>";
    let e = decode(plain).expect("decodes");
    assert_eq!(e.targets, vec![Target { id: Some(1), class: TargetClass::Vehicle, rect: None }]);
    // A nested <types> or a CDATA inside falls back to the tokenizer, which still finds the right end.
    let nested = b"<config><types><types>x</types><![CDATA[</types>]]></types><traject><item><targetId>2</targetId></item></traject></config>";
    assert_eq!(decode(nested).map(|e| e.targets.len()), Ok(1));
}

#[test]
fn error_reasons_are_stable_words() {
    let cases: [(&[u8], &str); 6] = [
        (b"hello", "not_xml"),
        (b"<config>", "truncated"),
        (b"<rss/>", "unknown_root"),
        (b"<config><sn>\xc3</sn></config>", "invalid_utf8"),
        (b"<!DOCTYPE config><config/>", "doctype"),
        (b"<config><channelId>-1</channelId><deviceInfo/></config>", "bad_value"),
    ];
    for (body, reason) in cases {
        assert_eq!(refused(body).reason(), reason, "{}", String::from_utf8_lossy(body));
    }
}

#[test]
fn leaf_fields_in_every_shape_decode_alike() {
    let shapes: [&[u8]; 5] = [
        b"<config><deviceName>Yard</deviceName></config>",
        b"<config><deviceName><![CDATA[Yard]]></deviceName></config>",
        b"<config><deviceName>\n  <![CDATA[Yard]]>\n</deviceName ></config>",
        b"<config><deviceName>  Yard\n</deviceName></config>",
        b"<config><deviceName>Y<!-- c -->ard</deviceName></config>",
    ];
    for (i, body) in shapes.iter().enumerate() {
        let e = decode(body).unwrap_or_else(|e| panic!("shape {i}: {e}"));
        // The commented shape is two text nodes: the last one is kept.
        let want = if i == 4 { "ard" } else { "Yard" };
        assert_eq!(e.device.name.as_deref(), Some(want), "shape {i}");
    }
}
