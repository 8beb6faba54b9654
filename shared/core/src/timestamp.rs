//! Timestamps as the reference writes them: ISO 8601, UTC, whole seconds, `Z`.

use std::time::{SystemTime, UNIX_EPOCH};

use time::{OffsetDateTime, format_description::well_known::Rfc3339};

/// The current time, e.g. `2026-01-10T12:00:00Z`.
pub fn now() -> String {
    format(OffsetDateTime::now_utc())
}

/// The current time in unix seconds (TTLs, rate windows, signature timestamps).
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `at` in UTC, truncated to whole seconds.
pub fn format(at: OffsetDateTime) -> String {
    let whole_seconds = at
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(at);
    whole_seconds.format(&Rfc3339).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn formats_whole_seconds_in_utc() {
        assert_eq!(
            format(datetime!(2026-01-10 13:00:00.123 +01:00)),
            "2026-01-10T12:00:00Z"
        );
    }
}
