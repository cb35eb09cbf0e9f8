//! Time as the wire shows it: UTC ISO 8601 with `Z` and whole seconds.

use time::{OffsetDateTime, format_description::well_known::Rfc3339};

/// Seconds since the Unix epoch, now.
pub fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// `2025-01-15T10:30:00Z`. (Written digit by digit: listings format a time per row, and
/// `format!` was an eighth of an accounts page's cost.)
pub fn format(unix: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp(unix).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let Ok(year) = u16::try_from(t.year()) else {
        return format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        );
    };
    let mut out = String::with_capacity(20);
    for p in [1000, 100, 10, 1] {
        out.push(char::from(b'0' + (year / p % 10) as u8));
    }
    let parts = [
        ('-', u8::from(t.month())),
        ('-', t.day()),
        ('T', t.hour()),
        (':', t.minute()),
        (':', t.second()),
    ];
    for (sep, n) in parts {
        out.push(sep);
        out.push(char::from(b'0' + n / 10));
        out.push(char::from(b'0' + n % 10));
    }
    out.push('Z');
    out
}

/// Parses an RFC 3339 time into Unix seconds.
pub fn parse(s: &str) -> Option<i64> {
    OffsetDateTime::parse(s, &Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trips() {
        let t = super::parse("2025-01-15T10:30:00Z").expect("parses");
        assert_eq!(super::format(t), "2025-01-15T10:30:00Z");
    }

    #[test]
    fn formats_like_rfc_3339_everywhere_in_range() {
        use time::format_description::well_known::Rfc3339;
        for unix in [
            0,
            1,
            59,
            951_782_400, // 2000-02-29
            1_735_689_599,
            4_102_444_800,
            253_402_300_799, // 9999-12-31T23:59:59Z
            -1,
            -62_135_596_800, // 0001-01-01
        ] {
            let t = time::OffsetDateTime::from_unix_timestamp(unix).expect("in range");
            let want = t.format(&Rfc3339).expect("formats");
            assert_eq!(super::format(unix), want, "{unix}");
        }
        // Beyond the range: the epoch.
        assert_eq!(super::format(i64::MAX), "1970-01-01T00:00:00Z");
    }
}
