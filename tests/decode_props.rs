//! Property tests: whatever bytes arrive, decode never panics, stays within the
//! body, and refuses hostile structure by its bounds instead of by work.
//! Seeds are fixed so every run checks the same cases (no flaky CI); failures
//! are not persisted to files, so a regression shows up as a plain test failure.

mod mutation;

use camrelay::decode::*;
use mutation::{apply, Mutation};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use std::path::Path;

fn fixtures() -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut out = Vec::new();
    for dir in ["ipc-v1x", "nvr-v2", "extra"] {
        let mut files: Vec<_> =
            std::fs::read_dir(root.join(dir)).expect("fixtures").flatten().map(|e| e.path()).collect();
        files.sort();
        out.extend(files.iter().map(|f| std::fs::read(f).expect("read")));
    }
    out
}

fn config(cases: u32) -> Config {
    Config { cases, rng_seed: RngSeed::Fixed(0x5eed_cafe), failure_persistence: None, ..Config::default() }
}

/// What must hold for any input: no panic (proptest reports one as a failure),
/// offsets and ranges inside the body, image decoding total.
fn check(body: &[u8]) -> Result<(), TestCaseError> {
    match decode(body) {
        Ok(event) => {
            for image in &event.images {
                prop_assert!(image.range.start < image.range.end && image.range.end <= body.len());
                prop_assert!(image.target.map_or(true, |t| t < event.targets.len()));
                let _ = image_bytes(body, image);
            }
            // The JSON `inspect` prints must always be producible.
            prop_assert!(serde_json::to_string(&event).is_ok());
        }
        Err(e) => {
            prop_assert!(e.offset() <= body.len(), "{e} beyond {} bytes", body.len());
            prop_assert!(!e.to_string().is_empty() && !e.reason().is_empty());
        }
    }
    Ok(())
}

fn interesting_byte() -> impl Strategy<Value = u8> {
    prop_oneof![prop::sample::select(b"<>/!?[]&;=\"' \n-0123456789xX\xff\xc3\xef".to_vec()), any::<u8>(),]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), interesting_byte()).prop_map(|(p, b)| Mutation::Replace(p, b)),
        (any::<usize>(), interesting_byte()).prop_map(|(p, b)| Mutation::Insert(p, b)),
        (any::<usize>(), 1usize..40).prop_map(|(p, n)| Mutation::Delete(p, n)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 1usize..200).prop_map(|(p, n)| Mutation::Duplicate(p, n)),
    ]
}

proptest! {
    #![proptest_config(config(2_000))]

    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..2048)) {
        check(&body)?;
    }

    #[test]
    fn arbitrary_markup_never_panics(parts in prop::collection::vec(prop::sample::select(vec![
        "<config version=\"1.7\">", "</config>", "<traject>", "</traject>", "<item>", "</item>",
        "<targetId>", "</targetId>", "7", "<rect>", "</rect>", "<x1>", "</x1>", "<types>", "</types>",
        "<![CDATA[", "]]>", "<!--", "-->", "<listInfo>", "</listInfo>", "<targetImageData>",
        "</targetImageData>", "<targetBase64Data>", "</targetBase64Data>", "QUJD", "<alarmStatusInfo>",
        "</alarmStatusInfo>", "<motionAlarm id=\"1\">", "</motionAlarm>", "true", "&amp;", "&#xffffff;",
        "<sourceDataInfo>", "</sourceDataInfo>", "<perimeter>", "<boundary>", "<point>", "<x>", "</x>",
    ]), 0..120)) {
        check(parts.concat().as_bytes())?;
    }
}

proptest! {
    #![proptest_config(config(3_000))]

    #[test]
    fn mutated_fixtures_never_panic(
        which in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let all = fixtures();
        let mut body = which.get(&all).clone();
        for m in &mutations {
            apply(&mut body, m);
        }
        check(&body)?;
    }
}

/// Hostile nesting of any depth is refused at the bound: the error offset shows
/// the decoder stopped after MAX_DEPTH elements, not after reading the body.
#[test]
fn deep_nesting_is_refused_at_the_bound_whatever_the_depth() {
    for depth in [MAX_DEPTH + 1, 1_000, 100_000, 1_000_000] {
        let body = "<config>".to_string() + &"<item>".repeat(depth);
        let e = decode(body.as_bytes()).expect_err("refused");
        assert_eq!(
            e,
            DecodeError::TooDeep { offset: 8 + 6 * (MAX_DEPTH - 1), limit: MAX_DEPTH },
            "depth {depth}"
        );
    }
}

/// Work is per element, never per pair: a post with many targets and many
/// list entries to join decodes them all (a quadratic join would still pass
/// here, but the output pins the join's result for every one of them).
#[test]
fn many_targets_join_one_to_one() {
    // Half the post's list-item limit in each of its two lists.
    let n = (camrelay::decode::MAX_ITEMS / 2) as u32;
    let mut body = String::from("<config version=\"1.7\"><smartType>PEA</smartType><perimeter><perInfo>");
    for i in 0..n {
        body += &format!(
            "<item><targetId>{i}</targetId><rect><x1>1</x1><y1>2</y1><x2>3</x2><y2>4</y2></rect></item>"
        );
    }
    body += "</perInfo></perimeter><listInfo>";
    for i in (0..n).rev() {
        body += &format!("<item><targetId>{i}</targetId><targetImageData><targetType>{}</targetType></targetImageData></item>", 1 + (i % 2));
    }
    body += "</listInfo></config>";
    let e = decode(body.as_bytes()).expect("decodes");
    assert_eq!(e.targets.len(), n as usize);
    for (i, t) in e.targets.iter().enumerate() {
        let class = if i % 2 == 0 { TargetClass::Person } else { TargetClass::Vehicle };
        assert_eq!((t.id, t.class), (Some(i as u32), class));
    }
}

/// A huge image is located, not read: its range covers it exactly.
#[test]
fn a_large_image_is_located_by_range() {
    let blob = "A".repeat(4 << 20);
    let body = format!(
        "<config version=\"2.0.0\"><messageType>alarmData</messageType><smartType>videoMetadata</smartType><sourceDataInfo><sourceBase64Length>{}</sourceBase64Length><sourceBase64Data>{blob}</sourceBase64Data></sourceDataInfo></config>",
        blob.len()
    );
    let e = decode(body.as_bytes()).expect("decodes");
    let image = &e.images[0];
    assert_eq!(image.declared_len, Some(4 << 20));
    assert_eq!(image.range.len(), 4 << 20);
    assert_eq!(&body.as_bytes()[image.range.start - 1..image.range.start], b">");
    assert_eq!(image_bytes(body.as_bytes(), image).map(|v| v.len()), Ok(3 << 20));
}
