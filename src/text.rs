//! Text shared by every layer: values quoted in error lines, and timestamps as results show them.

/// A value quoted in an error line, cut so that the line stays short whatever its size: the first
/// 64 characters, then how long it was.
pub fn cut(s: &str) -> String {
    const KEEP: usize = 64;
    if s.chars().count() <= KEEP {
        return format!("{s:?}");
    }
    let head: String = s.chars().take(KEEP).collect();
    format!("{head:?}… ({} bytes)", s.len())
}

/// RFC 3339 timestamp of an SDK DateTime (UTC, second precision).
pub fn rfc3339(t: &aws_smithy_types::DateTime) -> String {
    let whole = aws_smithy_types::DateTime::from_secs(t.secs());
    whole.fmt(aws_smithy_types::date_time::Format::DateTime).unwrap_or_else(|_| t.secs().to_string())
}

/// A byte count for people: "84.2 MB" (decimal megabytes, as Lambda's quotas page writes sizes),
/// with the exact count after it so a limit can be compared.
pub fn human_bytes(n: u64) -> String {
    format!("{:.1} MB ({n} bytes)", n as f64 / 1_000_000.0)
}
