//! Sunrise and sunset for a place and a date: the NOAA solar calculator's equations.
//!
//! Within half a minute of the reference between the polar circles, finer
//! than any porch light needs. Pure arithmetic: no clock, no tables, no I/O.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};

/// The sun on one day at one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SunTimes {
    Normal {
        rise: DateTime<Utc>,
        set: DateTime<Utc>,
    },
    /// Midnight sun: the sun does not set that day.
    AlwaysUp,
    /// Polar night: the sun does not rise that day.
    AlwaysDown,
}

const UNIX_EPOCH_JD: f64 = 2_440_587.5;

/// Declination (radians) and equation of time (minutes) at Julian day `jd`,
/// from the NOAA solar calculator's formulas.
fn solar_position(jd: f64) -> (f64, f64) {
    let jc = (jd - 2_451_545.0) / 36_525.0;
    let l0 = (280.46646 + jc * (36_000.769_83 + jc * 0.000_303_2)).rem_euclid(360.0).to_radians();
    let m = (357.52911 + jc * (35_999.050_29 - 0.000_153_7 * jc)).to_radians();
    let e = 0.016_708_634 - jc * (0.000_042_037 + 0.000_000_126_7 * jc);
    let c = m.sin() * (1.914_602 - jc * (0.004_817 + 0.000_014 * jc))
        + (2.0 * m).sin() * (0.019_993 - 0.000_101 * jc)
        + (3.0 * m).sin() * 0.000_289;
    let omega = (125.04 - 1934.136 * jc).to_radians();
    let app_long = (l0.to_degrees() + c - 0.005_69 - 0.004_78 * omega.sin()).to_radians();
    let mean_obliq =
        23.0 + (26.0 + (21.448 - jc * (46.815 + jc * (0.000_59 - jc * 0.001_813))) / 60.0) / 60.0;
    let obliq = (mean_obliq + 0.002_56 * omega.cos()).to_radians();
    let decl = (obliq.sin() * app_long.sin()).asin();
    let y = (obliq / 2.0).tan().powi(2);
    let eq_time = 4.0
        * (y * (2.0 * l0).sin() - 2.0 * e * m.sin() + 4.0 * e * y * m.sin() * (2.0 * l0).cos()
            - 0.5 * y * y * (4.0 * l0).sin()
            - 1.25 * e * e * (2.0 * m).sin())
        .to_degrees();
    (decl, eq_time)
}

/// Minutes after 00:00 UTC of the sun crossing the horizon (rising when
/// `sign` is -1, setting when +1), evaluated at `jd`; `Err` when it does not.
fn crossing(jd: f64, latitude: f64, longitude: f64, sign: f64) -> Result<f64, SunTimes> {
    let (decl, eq_time) = solar_position(jd);
    let phi = latitude.to_radians();
    // 90.833°: refraction and the sun's radius.
    let cos_ha = 90.833_f64.to_radians().cos() / (phi.cos() * decl.cos()) - phi.tan() * decl.tan();
    if cos_ha < -1.0 {
        return Err(SunTimes::AlwaysUp);
    }
    if cos_ha > 1.0 || !cos_ha.is_finite() {
        return Err(SunTimes::AlwaysDown);
    }
    let ha = cos_ha.acos().to_degrees();
    Ok(720.0 - 4.0 * (longitude - sign * ha) - eq_time)
}

/// Sunrise and sunset on `date` (the civil date at the place) for latitude
/// (north positive) and longitude (east positive), in degrees.
pub fn sun_times(date: NaiveDate, latitude: f64, longitude: f64) -> SunTimes {
    let midnight = date.and_hms_opt(0, 0, 0).map(|d| d.and_utc().timestamp()).unwrap_or(0) as f64;
    let jd0 = midnight / 86_400.0 + UNIX_EPOCH_JD;
    let mut times = [0.0f64; 2];
    for (slot, sign) in [(0usize, -1.0), (1, 1.0)] {
        // First at local noon, then once more at the approximate event itself.
        let noon = jd0 + (720.0 - 4.0 * longitude) / 1440.0;
        let first = match crossing(noon, latitude, longitude, sign) {
            Ok(m) => m,
            Err(polar) => return polar,
        };
        times[slot] = crossing(jd0 + first / 1440.0, latitude, longitude, sign).unwrap_or(first);
    }
    let to_utc = |minutes: f64| {
        let ms = ((midnight + minutes * 60.0) * 1000.0).round() as i64;
        Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
    };
    SunTimes::Normal { rise: to_utc(times[0]), set: to_utc(times[1]) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Tz;

    /// Reference values from the `astral` Python package (NOAA algorithm), 2026.
    #[test]
    fn agrees_with_reference_within_half_a_minute() {
        type Case = (f64, f64, Tz, (i32, u32, u32), &'static str, &'static str);
        let cases: &[Case] = &[
            (52.52, 13.405, chrono_tz::Europe::Berlin, (2026, 6, 21), "04:43:28", "21:32:54"),
            (52.52, 13.405, chrono_tz::Europe::Berlin, (2026, 12, 21), "08:15:16", "15:53:35"),
            (52.52, 13.405, chrono_tz::Europe::Berlin, (2026, 3, 28), "05:50:40", "18:33:14"),
            (-33.8688, 151.2093, chrono_tz::Australia::Sydney, (2026, 1, 15), "05:59:43", "20:08:45"),
            (40.7128, -74.006, chrono_tz::America::New_York, (2026, 11, 26), "06:55:42", "16:30:43"),
        ];
        for (lat, lon, tz, (y, mo, d), rise, set) in cases {
            let date = NaiveDate::from_ymd_opt(*y, *mo, *d).unwrap();
            let SunTimes::Normal { rise: r, set: s } = sun_times(date, *lat, *lon) else {
                panic!("sun should rise and set at {lat}")
            };
            for (got, want) in [(r, rise), (s, set)] {
                let local = got.with_timezone(tz);
                let want = chrono::NaiveTime::parse_from_str(want, "%H:%M:%S").unwrap();
                assert_eq!(local.date_naive(), date);
                let diff = (local.time() - want).num_seconds().abs();
                assert!(diff <= 30, "{date} at {lat}: got {} want {want} ({diff}s off)", local.time());
            }
        }
    }

    #[test]
    fn polar_day_and_night() {
        let tromso = (69.65, 18.96);
        let june = NaiveDate::from_ymd_opt(2026, 6, 21).unwrap();
        let dec = NaiveDate::from_ymd_opt(2026, 12, 21).unwrap();
        assert_eq!(sun_times(june, tromso.0, tromso.1), SunTimes::AlwaysUp);
        assert_eq!(sun_times(dec, tromso.0, tromso.1), SunTimes::AlwaysDown);
    }
}
