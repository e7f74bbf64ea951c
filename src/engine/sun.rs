//! Sunrise and sunset for a place and a date: the NOAA sunrise equation.
//!
//! Accurate to about a minute between the polar circles, which is finer than
//! any porch light needs. Pure arithmetic: no clock, no tables, no I/O.

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

const J2000: f64 = 2_451_545.0;
const UNIX_EPOCH_JD: f64 = 2_440_587.5;

/// Sunrise and sunset on `date` (the civil date at the place) for latitude
/// (north positive) and longitude (east positive), in degrees.
pub fn sun_times(date: NaiveDate, latitude: f64, longitude: f64) -> SunTimes {
    let noon_utc = date.and_hms_opt(12, 0, 0).map(|d| d.and_utc().timestamp()).unwrap_or(0) as f64;
    let jd_noon = noon_utc / 86_400.0 + UNIX_EPOCH_JD;
    // Days since J2000 at local mean solar noon of that date.
    let n = (jd_noon - J2000 + 0.0008).round();
    let j_star = n - longitude / 360.0;
    let m = (357.5291 + 0.985_600_28 * j_star).rem_euclid(360.0);
    let m_rad = m.to_radians();
    let c = 1.9148 * m_rad.sin() + 0.0200 * (2.0 * m_rad).sin() + 0.0003 * (3.0 * m_rad).sin();
    let lambda = (m + c + 180.0 + 102.9372).rem_euclid(360.0).to_radians();
    let j_transit = J2000 + j_star + 0.0053 * m_rad.sin() - 0.0069 * (2.0 * lambda).sin();
    let sin_decl = lambda.sin() * 23.4397_f64.to_radians().sin();
    let cos_decl = (1.0 - sin_decl * sin_decl).sqrt();
    let phi = latitude.to_radians();
    // -0.833°: refraction and the sun's radius.
    let cos_omega = ((-0.833_f64).to_radians().sin() - phi.sin() * sin_decl) / (phi.cos() * cos_decl);
    if cos_omega < -1.0 {
        return SunTimes::AlwaysUp;
    }
    if cos_omega > 1.0 || !cos_omega.is_finite() {
        return SunTimes::AlwaysDown;
    }
    let omega = cos_omega.acos().to_degrees();
    let to_utc = |jd: f64| {
        let ms = ((jd - UNIX_EPOCH_JD) * 86_400_000.0).round() as i64;
        Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
    };
    SunTimes::Normal { rise: to_utc(j_transit - omega / 360.0), set: to_utc(j_transit + omega / 360.0) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Tz;

    /// Reference values from the `astral` Python package (NOAA algorithm), 2026.
    #[test]
    fn agrees_with_reference_within_a_minute() {
        let cases: &[(f64, f64, Tz, (i32, u32, u32), &str, &str)] = &[
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
                assert!(diff <= 60, "{date} at {lat}: got {} want {want} ({diff}s off)", local.time());
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
