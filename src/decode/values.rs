//! Text of one element → one typed value (number, time, class, MAC, flag).
//!
//! Owns the spelling rules of field values across both dialects. It must never
//! look at element structure (that is `scan`'s job) and never allocate for
//! values that are numbers.

use super::model::{DeviceTime, PlateDirection, SmartStatus, TargetClass};
use chrono::NaiveDateTime;

/// Why a value was refused; the caller adds the field name and offset.
pub(crate) type ValueError = &'static str;

pub(crate) fn trim(bytes: &[u8]) -> &[u8] {
    bytes.trim_ascii()
}

/// A decimal `u32`; the devices pad some values with whitespace.
pub(crate) fn parse_u32(text: &[u8]) -> Result<u32, ValueError> {
    let digits = trim(text);
    if digits.is_empty() {
        return Err("empty number");
    }
    let mut value: u32 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return Err("not a decimal number");
        }
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u32::from(b - b'0')))
            .ok_or("number too large")?;
    }
    Ok(value)
}

/// A coordinate of the normalized picture, 0 to 10000. Anything else is
/// refused rather than clamped or dropped: no fixture of real firmware holds
/// one, and a box silently moved to the corner would put a target in a zone
/// it is not in.
pub(crate) fn parse_coord(text: &[u8]) -> Result<u32, ValueError> {
    let t = trim(text);
    if t.first() == Some(&b'-') {
        return Err("negative coordinate; the picture runs from 0 to 10000");
    }
    match parse_u32(t)? {
        v if v > 10_000 => Err("coordinate above 10000, the edge of the picture"),
        v => Ok(v),
    }
}

/// `currentTime`: 10 digits seconds, 13 milliseconds, 16 microseconds (and the
/// lengths in between read by magnitude, as the firmware's own tools do).
/// Exactly 20 digits is the NVR's bogus stamp (a firmware bug, see the
/// protocol notes) and zero means "unset": both are `None`, so callers fall
/// back to receive time. Any other length past 16 digits is refused.
pub(crate) fn parse_current_time(text: &[u8]) -> Result<Option<DeviceTime>, ValueError> {
    let digits = trim(text);
    if digits.is_empty() {
        return Ok(None);
    }
    if !digits.iter().all(u8::is_ascii_digit) {
        return Err("not a decimal timestamp");
    }
    let significant =
        digits.iter().position(|&b| b != b'0').map_or(&digits[digits.len()..], |i| &digits[i..]);
    if significant.is_empty() || digits.len() == 20 {
        return Ok(None);
    }
    if significant.len() > 16 {
        return Err("timestamp out of range (10, 13 or 16 digits expected)");
    }
    let mut value: i64 = 0;
    for &b in significant {
        value = value * 10 + i64::from(b - b'0');
    }
    let micros = match significant.len() {
        0..=12 => value * 1_000_000,
        13..=15 => value * 1_000,
        _ => value,
    };
    Ok(Some(DeviceTime::UnixMicros(micros)))
}

/// IPC `dataTime`: `2026-03-29 09:58:21` or `11-19-2025 12:15:11 PM`, camera
/// local time. Anything else is `None` (receive time is the fallback), since a
/// clock string the camera garbled is no reason to drop an alarm.
pub(crate) fn parse_data_time(text: &str) -> Option<DeviceTime> {
    let t = text.trim();
    let parsed = NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(t, "%m-%d-%Y %I:%M:%S %p"))
        .or_else(|_| NaiveDateTime::parse_from_str(t, "%m-%d-%Y %H:%M:%S"));
    parsed.ok().map(DeviceTime::Local)
}

/// Target class from an IPC number (1 person, 2 car, 4 motor) or a word
/// (`person`, `car`, `motor`); anything else is `Unknown`, never an error.
pub(crate) fn parse_class(text: &[u8]) -> TargetClass {
    let t = trim(text);
    if !t.is_empty() && t.iter().all(u8::is_ascii_digit) {
        return match parse_u32(t) {
            Ok(1) => TargetClass::Person,
            Ok(2) => TargetClass::Vehicle,
            Ok(4) => TargetClass::Motor,
            _ => TargetClass::Unknown,
        };
    }
    if t.eq_ignore_ascii_case(b"person") {
        TargetClass::Person
    } else if t.eq_ignore_ascii_case(b"car") {
        TargetClass::Vehicle
    } else if t.eq_ignore_ascii_case(b"motor") {
        TargetClass::Motor
    } else {
        TargetClass::Unknown
    }
}

pub(crate) fn parse_status(text: &[u8]) -> SmartStatus {
    match trim(text) {
        b"SMART_START" => SmartStatus::Start,
        b"SMART_PROCEDURE" => SmartStatus::Procedure,
        b"SMART_STOP" => SmartStatus::Stop,
        _ => SmartStatus::None,
    }
}

/// `vehicleDirect`: `approach`; `leave` and `away` both mean leaving.
pub(crate) fn parse_direction(text: &[u8]) -> PlateDirection {
    let t = trim(text);
    if t.eq_ignore_ascii_case(b"approach") {
        PlateDirection::Approach
    } else if t.eq_ignore_ascii_case(b"leave") || t.eq_ignore_ascii_case(b"away") {
        PlateDirection::Leave
    } else {
        PlateDirection::Unknown
    }
}

pub(crate) fn parse_bool(text: &[u8]) -> Result<bool, ValueError> {
    let t = trim(text);
    if t.eq_ignore_ascii_case(b"true") || t == b"1" {
        Ok(true)
    } else if t.eq_ignore_ascii_case(b"false") || t == b"0" {
        Ok(false)
    } else {
        Err("expected true or false")
    }
}

/// MAC in the one form the rules file uses: lower-case, colon separated.
/// Dashes or no separators at all are accepted; anything that is not six hex
/// pairs is kept as sent (lower-cased) rather than refused.
pub(crate) fn normalize_mac(text: &str) -> String {
    let t = text.trim();
    let canonical = t.len() == 17
        && t.bytes().enumerate().all(|(i, b)| {
            if i % 3 == 2 {
                b == b':'
            } else {
                b.is_ascii_digit() || (b'a'..=b'f').contains(&b)
            }
        });
    if canonical {
        return t.to_owned();
    }
    let hex_digits = t.bytes().filter(u8::is_ascii_hexdigit).count();
    let separators_ok = t.bytes().all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'-');
    if hex_digits != 12 || !separators_ok {
        return t.to_ascii_lowercase();
    }
    let mut out = String::with_capacity(17);
    for (i, b) in t.bytes().filter(u8::is_ascii_hexdigit).enumerate() {
        if i > 0 && i % 2 == 0 {
            out.push(':');
        }
        out.push(char::from(b.to_ascii_lowercase()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_time_lengths() {
        assert_eq!(
            parse_current_time(b"1774646121"),
            Ok(Some(DeviceTime::UnixMicros(1_774_646_121_000_000)))
        );
        assert_eq!(
            parse_current_time(b"1774646121524"),
            Ok(Some(DeviceTime::UnixMicros(1_774_646_121_524_000)))
        );
        assert_eq!(
            parse_current_time(b" 1774646121524166 "),
            Ok(Some(DeviceTime::UnixMicros(1_774_646_121_524_166)))
        );
        assert_eq!(parse_current_time(b"17722102684730001234"), Ok(None));
        assert_eq!(
            parse_current_time(b"99999999999999999999999"),
            Err("timestamp out of range (10, 13 or 16 digits expected)")
        );
        assert_eq!(
            parse_current_time(b"1000000000000000000000000000000"),
            Err("timestamp out of range (10, 13 or 16 digits expected)")
        );
        assert_eq!(parse_current_time(b"0"), Ok(None));
        assert_eq!(parse_current_time(b""), Ok(None));
        assert_eq!(parse_current_time(b"12:00"), Err("not a decimal timestamp"));
    }

    #[test]
    fn data_time_forms() {
        let iso = parse_data_time("2026-03-29 09:58:21");
        let us = parse_data_time("11-19-2025 12:15:11 PM");
        let am = parse_data_time("11-19-2025 12:15:11 AM");
        let d = |s| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").ok().map(DeviceTime::Local);
        assert_eq!(iso, d("2026-03-29 09:58:21"));
        assert_eq!(us, d("2025-11-19 12:15:11"));
        assert_eq!(am, d("2025-11-19 00:15:11"));
        assert_eq!(parse_data_time("yesterday"), None);
    }

    #[test]
    fn classes_from_numbers_and_words() {
        assert_eq!(parse_class(b"1"), TargetClass::Person);
        assert_eq!(parse_class(b"2"), TargetClass::Vehicle);
        assert_eq!(parse_class(b"4"), TargetClass::Motor);
        assert_eq!(parse_class(b"3"), TargetClass::Unknown);
        assert_eq!(parse_class(b"person"), TargetClass::Person);
        assert_eq!(parse_class(b" Car "), TargetClass::Vehicle);
        assert_eq!(parse_class(b"motor"), TargetClass::Motor);
        assert_eq!(parse_class(b"bicycle"), TargetClass::Unknown);
        assert_eq!(parse_class(b"99999999999999"), TargetClass::Unknown);
    }

    #[test]
    fn macs_normalized() {
        assert_eq!(normalize_mac("58:5B:69:40:F4:0D"), "58:5b:69:40:f4:0d");
        assert_eq!(normalize_mac(" 58:5b:69:40:f4:0d"), "58:5b:69:40:f4:0d");
        assert_eq!(normalize_mac("58:5b:69:40:f4:0g"), "58:5b:69:40:f4:0g");
        assert_eq!(normalize_mac("58-5B-69-40-F4-0D"), "58:5b:69:40:f4:0d");
        assert_eq!(normalize_mac("585B6940F40D"), "58:5b:69:40:f4:0d");
        assert_eq!(normalize_mac(" Not-A-Mac "), "not-a-mac");
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_u32(b" 42\n"), Ok(42));
        assert_eq!(parse_u32(b"4294967295"), Ok(u32::MAX));
        assert_eq!(parse_u32(b"4294967296"), Err("number too large"));
        assert_eq!(parse_u32(b"4x"), Err("not a decimal number"));
        assert_eq!(parse_coord(b"-12"), Err("negative coordinate; the picture runs from 0 to 10000"));
        assert_eq!(parse_coord(b"10000"), Ok(10_000));
        assert_eq!(parse_coord(b"10001"), Err("coordinate above 10000, the edge of the picture"));
        assert_eq!(parse_bool(b"TRUE"), Ok(true));
        assert_eq!(parse_bool(b"maybe"), Err("expected true or false"));
        assert_eq!(parse_direction(b"away"), PlateDirection::Leave);
        assert_eq!(parse_status(b"SMART_PROCEDURE"), SmartStatus::Procedure);
    }
}
