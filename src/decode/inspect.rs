//! `camrelay inspect`: one decoded post → one line of JSON.
//!
//! Owns the JSON shape users see when they check what their camera sends. It
//! must stay pure (the binary reads the files and prints): bytes in, text out.

use super::{decode, DecodeError};
use serde_json::json;

/// The JSON object printed for one file: `{"file": ..., "bytes": ..., "event": {...}}`.
pub fn to_json(file: &str, body: &[u8]) -> Result<serde_json::Value, DecodeError> {
    let event = decode(body)?;
    Ok(json!({ "file": file, "bytes": body.len(), "event": event }))
}
