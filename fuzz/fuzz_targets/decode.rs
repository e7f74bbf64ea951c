//! Fuzz target: any bytes through `decode`, then every located image through
//! `image_bytes` and the event through the JSON `inspect` prints. A panic, an
//! out-of-body range or an offset past the end is a finding; so is the fast
//! tokenizer answering anything but what the quick-xml walk answers.
#![no_main]

use camrelay::decode::{decode, decode_fast, decode_reference, image_bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let decoded = decode(body);
    let reference = decode_reference(body);
    assert_eq!(decoded, reference, "decode differs from the quick-xml walk");
    if let Some(fast) = decode_fast(body) {
        assert_eq!(Ok(fast), reference, "the fast path accepted what the quick-xml walk reads otherwise");
    }
    match decoded {
        Ok(event) => {
            for image in &event.images {
                assert!(image.range.start < image.range.end && image.range.end <= body.len());
                let _ = image_bytes(body, image);
            }
            let _ = camrelay::decode::inspect::to_json("fuzz", body);
        }
        Err(e) => assert!(e.offset() <= body.len(), "{e}"),
    }
});
