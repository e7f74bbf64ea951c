//! The fast tokenizer against the quick-xml walk: `decode` (fast path with
//! fallback) must give exactly what `decode_reference` (quick-xml only) gives
//! for any bytes, the same event or the same error; and every real post must
//! be taken by the fast path, or its speedup would not exist where it counts.
//! Seeds are fixed (same cases every run); failures are not persisted.

mod mutation;

use camrelay::decode::*;
use mutation::{apply, Mutation};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Every `.xml` under `dir`, recursively, sorted.
fn xml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() {
            xml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "xml") {
            out.push(path);
        }
    }
}

/// The project's fixtures, plus the shared sample set when it is checked out
/// next to the project (the tests pass without it).
fn fixture_paths() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    xml_files(&root.join("tests/fixtures"), &mut out);
    xml_files(&root.join("../shared/fixtures/viewtron"), &mut out);
    out
}

fn fixtures() -> &'static [Vec<u8>] {
    static ALL: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    ALL.get_or_init(|| fixture_paths().iter().map(|p| std::fs::read(p).expect("read fixture")).collect())
}

/// Deterministic base64 of `len` characters, optionally wrapped at 76 columns
/// like some firmware does.
fn base64_text(len: usize, seed: u64, wrap: bool) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut state = seed | 1;
    let mut out = String::with_capacity(len + len / 76 * 2);
    for i in 0..len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        if wrap && i > 0 && i % 76 == 0 {
            out.push_str("\r\n");
        }
        out.push(char::from(ALPHABET[(state >> 58) as usize]));
    }
    out
}

/// The one property: the fast path never changes what `decode` answers.
fn same_as_reference(body: &[u8]) -> Result<(), TestCaseError> {
    let reference = decode_reference(body);
    prop_assert_eq!(&decode(body), &reference, "decode differs from the quick-xml walk");
    if let Some(fast) = decode_fast(body) {
        prop_assert_eq!(
            Ok(fast),
            reference,
            "the fast path accepted what the quick-xml walk reads otherwise"
        );
    }
    Ok(())
}

#[test]
fn every_fixture_takes_the_fast_path_and_equals_the_reference() {
    let paths = fixture_paths();
    assert!(paths.len() >= 36, "fixtures found: {}", paths.len());
    for path in &paths {
        let body = std::fs::read(path).expect("read fixture");
        let reference = decode_reference(&body).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let fast = decode_fast(&body).unwrap_or_else(|| panic!("{} fell back to quick-xml", path.display()));
        assert_eq!(fast, reference, "{}", path.display());
        assert_eq!(decode(&body), Ok(reference), "{}", path.display());
    }
}

/// Posts as cameras send them, with real-size base64 (CDATA and plain text,
/// one line or wrapped) in place of the fixtures' placeholder words.
#[test]
fn image_posts_take_the_fast_path_and_locate_the_same_ranges() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    for rel in ["ipc-v1x/perimeter-intrusion.xml", "nvr-v2/region-intrusion.xml", "ipc-v1x/lpr.xml"] {
        let text = std::fs::read_to_string(root.join(rel)).expect("fixture");
        for wrap in [false, true] {
            let body = text
                .replace("BASE64_JPEG_OVERVIEW_IMAGE", &base64_text(430_000, 7, wrap))
                .replace("BASE64_JPEG_TARGET_CROP", &base64_text(100_000, 11, wrap));
            let body = body.as_bytes();
            let reference = decode_reference(body).unwrap_or_else(|e| panic!("{rel}: {e}"));
            assert!(!reference.images.is_empty(), "{rel}: images located");
            assert_eq!(decode_fast(body).as_ref(), Some(&reference), "{rel} (wrapped: {wrap})");
        }
    }
}

/// Shapes at the edge of the fast path's subset: each must come out the same
/// whichever way it is read (most of them are left to quick-xml).
#[test]
fn edge_shapes_decode_as_the_reference_does() {
    let wrap = |inner: &str| {
        format!(
            "<config version=\"1.7\"><traject><item><targetId>1</targetId>{inner}</item></traject></config>"
        )
    };
    let shapes = [
        "<?xml version=\"1.0\"?>\n<config version='1.7'><smartType>MOTION</smartType></config>".to_string(),
        "\u{feff}<!-- c --><?pi x?>\n<config version=\"1.7\"/>".to_string(),
        "<!----><config></config>".to_string(),
        "<!-- a -- b --><config></config>".to_string(),
        "<!-- a --->\n<config></config>".to_string(),
        "<??><config></config>".to_string(),
        "<?>?><config></config>".to_string(),
        "<config version = \"1.7\"></config>".to_string(),
        "<config version=\"1.7\"version=\"2\"></config>".to_string(),
        "<config version=\"1.7\" version=\"2.0\"><messageType>keepalive</messageType></config>".to_string(),
        "<config version=\"a>b\"></config>".to_string(),
        "<config version=\"1.7\" / ></config>".to_string(),
        "<config></config >".to_string(),
        "<config></config>trailing<".to_string(),
        "<config><mac>AA:BB:CC:DD:EE:FF</mac ></config>".to_string(),
        "<config><mac> <![CDATA[aa:bb]]> x </mac></config>".to_string(),
        "<config><mac>x<![CDATA[aa:bb]]></mac></config>".to_string(),
        "<config><deviceName>a &amp; b</deviceName></config>".to_string(),
        "<config><deviceName>a &bogus; b</deviceName></config>".to_string(),
        "<config><deviceName><![CDATA[a &amp; b]]></deviceName></config>".to_string(),
        "<config><deviceName>\u{c}x</deviceName></config>".to_string(),
        "<config><!-- inside --><smartType>PEA</smartType></config>".to_string(),
        "<config><?x?><smartType>PEA</smartType></?x?></config>".to_string(),
        "<config><?x?></?x?></config>".to_string(),
        "<config><smartType>PEA</smartType><!x></!x></config>".to_string(),
        "<config><1a>1</1a><-a/></config>".to_string(),
        "<config><![cdata[x]]></config>".to_string(),
        "<config><alarmStatusInfo><motionAlarm id=\"7\" id=\"x\">true</motionAlarm></alarmStatusInfo></config>".to_string(),
        "<config><alarmStatusInfo><motionAlarm id=\"x\">true</motionAlarm></alarmStatusInfo></config>".to_string(),
        "<config><alarmStatusInfo><motionAlarm id='3'>1</motionAlarm></alarmStatusInfo></config>".to_string(),
        "<config><types><a></b></types><smartType>PEA</smartType></config>".to_string(),
        "<config><types><types></types></types></config>".to_string(),
        "<config><x:y>1</x:y></config>".to_string(),
        "<config><\u{e9}>1</\u{e9}></config>".to_string(),
        "<config><a\tb=\"1\"\n/></config>".to_string(),
        wrap("<rect><x1>1</x1><y1>2</y1><x2>3</x2><y2>4</y2></rect><point><x>1</x><y>1</y></point>"),
        wrap("<rect><x1>-1</x1><y1> 2 </y1><x2>3</x2><y2>4x</y2></rect>"),
        wrap("<unknown><x>1<y>2</unknown>"),
        wrap("<plateConfidence count=\"88\"/><plateNumber>AB&lt;1</plateNumber>"),
        format!("<config>{}</config>", "<item>".repeat(70)),
        format!("<config>{}{}</config>", "<item>".repeat(62), "</item>".repeat(62)),
    ];
    for shape in &shapes {
        if let Err(e) = same_as_reference(shape.as_bytes()) {
            panic!("{shape:?}: {e}");
        }
    }
}

/// Markup at the boundary of the fast path's subset.
const PIECES: &[&str] = &[
    "<!-- c -->",
    "<!---->",
    "<?pi?>",
    "</?pi?>",
    "<!x>",
    "<1a>",
    "<?xml version=\"1.0\"?>",
    "<![CDATA[x]]>",
    "<![CDATA[",
    "]]>",
    "<!DOCTYPE config>",
    "&amp;",
    "&#x41;",
    "&bogus;",
    " a=\"1\"",
    " a='1'",
    " a = \"1\"",
    "/>",
    " />",
    "</item>",
    "</item >",
    "<item>",
    "<item/>",
    "<x1>7</x1>",
    "<types>",
    "</types>",
    "\u{feff}",
    "\t",
    "\r\n",
    "<config>",
    "</config>",
    "<DeviceInfo>",
    "\u{e9}",
    "\u{c}",
    "\"",
    "'",
    "<",
    ">",
];

fn interesting_byte() -> impl Strategy<Value = u8> {
    prop_oneof![prop::sample::select(b"<>/!?[]&;=\"' \n\t\r-0123456789xX\xff\xc3\xef".to_vec()), any::<u8>(),]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), interesting_byte()).prop_map(|(p, b)| Mutation::Replace(p, b)),
        (any::<usize>(), interesting_byte()).prop_map(|(p, b)| Mutation::Insert(p, b)),
        (any::<usize>(), 1usize..40).prop_map(|(p, n)| Mutation::Delete(p, n)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 1usize..200).prop_map(|(p, n)| Mutation::Duplicate(p, n)),
        (any::<usize>(), prop::sample::select(PIECES)).prop_map(|(p, s)| Mutation::Splice(p, s)),
    ]
}

/// A generated element tree, rendered with the syntax variations real
/// firmware and hostile senders might use; most render inside the fast
/// path's subset, so the comparison covers the routing, not just refusals.
#[derive(Debug, Clone)]
enum Node {
    Element {
        name: &'static str,
        attributes: Vec<(&'static str, &'static str, u8)>,
        children: Vec<Node>,
        form: u8,
    },
    Text(&'static str),
    CData(&'static str),
    Other(&'static str),
}

const NAMES: &[&str] = &[
    "traject",
    "item",
    "targetId",
    "eventId",
    "targetType",
    "rect",
    "x1",
    "y1",
    "x2",
    "y2",
    "point",
    "x",
    "y",
    "mac",
    "sn",
    "deviceName",
    "ip",
    "channelId",
    "deviceNo.",
    "smartType",
    "messageType",
    "currentTime",
    "dataTime",
    "status",
    "types",
    "enum",
    "perimeter",
    "perInfo",
    "boundary",
    "tripwire",
    "tripInfo",
    "line",
    "startPoint",
    "endPoint",
    "listInfo",
    "eventInfo",
    "targetListInfo",
    "licensePlateListInfo",
    "faceListInfo",
    "alarmStatusInfo",
    "motionAlarm",
    "perimeterAlarm",
    "sourceDataInfo",
    "targetImageData",
    "sourceBase64Length",
    "sourceBase64Data",
    "targetBase64Length",
    "targetBase64Data",
    "plateNumber",
    "plateConfidence",
    "carAttr",
    "color",
    "age",
    "sex",
    "deviceInfo",
    "velocity",
    "ns:x",
    "a-b.c",
];

const TEXTS: &[&str] = &[
    "7",
    " 42\n",
    "-3",
    "0",
    "4294967296",
    "x7",
    "",
    "   ",
    "person",
    "car",
    "2",
    "SMART_START",
    "PEA",
    "traject",
    "alarmData",
    "alarmStatus",
    "VEHICE",
    "1774646121524166",
    "2026-03-29 09:58:21",
    "58-5B-69-5F-42-1B",
    "58:5b:69:5f:42:1b",
    "a &amp; b",
    "a &bogus; b",
    "&#x41;",
    "true",
    "1",
    "maybe",
    "QUJD",
    "QU JD\r\nRA==",
    "\u{e9}t\u{e9}",
    "\u{c}",
    "]]>",
    "a>b",
    "approach",
];

const ATTRIBUTES: &[(&str, &str)] = &[
    ("id", "3"),
    ("id", "x"),
    ("count", "88"),
    ("count", ""),
    ("version", "1.7"),
    ("version", " 2.0.0 "),
    ("type", "uint32"),
    ("type", "a>b"),
    ("xmlns", "http://www.ipc.com/ver10"),
];

fn node() -> impl Strategy<Value = Node> {
    let leaf = prop_oneof![
        30 => prop::sample::select(TEXTS).prop_map(Node::Text),
        10 => prop::sample::select(TEXTS).prop_map(Node::CData),
        1 => prop::sample::select(&["<!-- c -->", "<?pi x?>", "<!DOCTYPE x>", "&amp;", "<", "</x>"][..])
            .prop_map(Node::Other),
    ];
    leaf.prop_recursive(6, 80, 6, |inner| {
        (
            prop::sample::select(NAMES),
            prop::collection::vec((prop::sample::select(ATTRIBUTES), 0u8..8), 0..3),
            prop::collection::vec(inner, 0..6),
            0u8..16,
        )
            .prop_map(|(name, attributes, children, form)| Node::Element {
                name,
                attributes: attributes.into_iter().map(|((k, v), style)| (k, v, style)).collect(),
                children,
                form,
            })
    })
}

fn render(node: &Node, out: &mut String) {
    match node {
        Node::Text(t) => out.push_str(t),
        Node::CData(t) => {
            out.push_str("<![CDATA[");
            out.push_str(&t.replace("]]>", ""));
            out.push_str("]]>");
        }
        Node::Other(t) => out.push_str(t),
        &Node::Element { name, ref attributes, ref children, form } => {
            out.push('<');
            out.push_str(name);
            for (i, &(k, v, style)) in attributes.iter().enumerate() {
                // Mostly the form cameras send; sometimes what only quick-xml reads.
                let (sep, eq, q) = match style {
                    0..=3 => (" ", "=", '"'),
                    4 | 5 => ("\n\t", "=", '\''),
                    6 => (" ", " = ", '"'),
                    _ if i > 0 => ("", "=", '"'),
                    _ => (" ", "=", '"'),
                };
                out.push_str(sep);
                out.push_str(k);
                out.push_str(eq);
                out.push(q);
                out.push_str(v);
                out.push(q);
            }
            if children.is_empty() && form % 4 == 0 {
                out.push_str(if form == 4 { " />" } else { "/>" });
                return;
            }
            out.push('>');
            for (i, child) in children.iter().enumerate() {
                if form % 3 == 0 {
                    out.push_str("\n  ");
                }
                if form == 7 && i == 1 {
                    out.push_str("<!-- inner -->");
                }
                render(child, out);
            }
            out.push_str("</");
            out.push_str(name);
            out.push_str(if form == 15 { " >" } else { ">" });
        }
    }
}

fn document(root: &'static str, prolog: &'static str, children: &[Node]) -> String {
    let mut out = String::from(prolog);
    out.push_str(&format!("<{root} version=\"1.7\">"));
    for child in children {
        out.push_str("\n  ");
        render(child, &mut out);
    }
    out.push_str(&format!("\n</{root}>\n<!-- after -->"));
    out
}

fn config(cases: u32) -> Config {
    Config { cases, rng_seed: RngSeed::Fixed(0xfa57_ca7e), failure_persistence: None, ..Config::default() }
}

proptest! {
    #![proptest_config(config(3_000))]

    #[test]
    fn arbitrary_bytes_decode_as_the_reference(body in prop::collection::vec(any::<u8>(), 0..512)) {
        same_as_reference(&body)?;
    }

    #[test]
    fn arbitrary_markup_decodes_as_the_reference(parts in prop::collection::vec(prop::sample::select(vec![
        "<config version=\"1.7\">", "<config version='2.0.0'>", "</config>", "<traject>", "</traject>",
        "<item>", "</item>", "<item/>", "<targetId>", "</targetId>", "7", " ", "\n", "<rect>", "</rect>",
        "<x1>", "</x1>", "<types>", "</types>", "<![CDATA[", "]]>", "<!--", "-->", "<?xml version=\"1.0\"?>",
        "<listInfo>", "</listInfo>", "<targetImageData>", "</targetImageData>", "<targetBase64Data>",
        "</targetBase64Data>", "QUJD", "<alarmStatusInfo>", "</alarmStatusInfo>", "<motionAlarm id=\"1\">",
        "</motionAlarm>", "true", "&amp;", "&#xffffff;", "<sourceDataInfo>", "</sourceDataInfo>",
        "<perimeter>", "<boundary>", "<point>", "<x>", "</x>", "<mac>", "</mac>", "<deviceName>",
        "</deviceName>", "<smartType>", "</smartType>", "PEA", "<plateConfidence count=\"9\"/>", "/>", ">",
        "<?pi?>", "</?pi?>", "<a b='>'>", "</a>", "</item >",
    ]), 0..120)) {
        same_as_reference(parts.concat().as_bytes())?;
    }

    #[test]
    fn generated_documents_decode_as_the_reference(
        root in prop_oneof![8 => Just("config"), 1 => Just("DeviceInfo"), 1 => Just("alarm")],
        prolog in prop_oneof![
            3 => Just("<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n"),
            2 => Just(""),
            2 => Just("\u{feff}<!-- c -->\n<?xml version=\"1.0\"?>"),
            1 => Just("\n<!DOCTYPE x>"),
        ],
        children in prop::collection::vec(node(), 0..8),
    ) {
        same_as_reference(document(root, prolog, &children).as_bytes())?;
    }

    #[test]
    fn mutated_fixtures_decode_as_the_reference(
        which in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let mut body = which.get(fixtures()).clone();
        for m in &mutations {
            apply(&mut body, m);
        }
        same_as_reference(&body)?;
    }
}

/// The differential tests above only mean something if mutated posts land on
/// both sides of the fast path's line: count them over a fixed sequence.
#[test]
fn mutations_exercise_both_paths() {
    let all = fixtures();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng as usize
    };
    let (mut fast, mut fell_back) = (0, 0);
    for _ in 0..2_000 {
        let mut body = all[next() % all.len()].clone();
        let m = match next() % 3 {
            0 => Mutation::Replace(next(), b"<>/\"'&x "[next() % 8]),
            1 => Mutation::Delete(next(), 1 + next() % 8),
            _ => Mutation::Splice(next(), PIECES[next() % PIECES.len()]),
        };
        apply(&mut body, &m);
        if let Err(e) = same_as_reference(&body) {
            panic!("{m:?} on {:?}: {e}", String::from_utf8_lossy(&body));
        }
        if decode_fast(&body).is_some() {
            fast += 1;
        } else {
            fell_back += 1;
        }
    }
    assert!(fast > 200 && fell_back > 200, "fast path took {fast}, fell back on {fell_back}");
}
