//! Time as the wire shows it: UTC ISO 8601 with `Z` and whole seconds.

use time::{OffsetDateTime, format_description::well_known::Rfc3339};

/// Seconds since the Unix epoch, now.
pub fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// `2025-01-15T10:30:00Z`.
pub fn format(unix: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp(unix).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
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
}
