//! Fuzz target: any bytes through `decode`, then every located image through
//! `image_bytes` and the event through the JSON `inspect` prints. A panic, an
//! out-of-body range or an offset past the end is a finding.
#![no_main]

use camrelay::decode::{decode, image_bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    match decode(body) {
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
