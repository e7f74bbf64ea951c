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

#[test]
fn trailing_markup_after_the_root_is_not_read() {
    // The root's end closes the post: what follows is never parsed (even garbage).
    let e = decode(b"<config><messageType>keepalive</messageType></config><oops></nope>").expect("decodes");
    assert_eq!(e.kind, EventKind::Keepalive);
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
