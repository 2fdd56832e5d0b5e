//! One structured line per event on stderr, logfmt style:
//!
//! ```text
//! 2025-01-31T12:00:00.123Z level=info event=attached iface=xr3r mode=native prog_id=42
//! ```
//!
//! Values with spaces, quotes or `=` are quoted. No per-packet logging
//! happens anywhere (STYLE "Hot path" 2); these are control-plane events.

use std::fmt::Display;
use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

/// Severity of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    const fn name(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// Formats one line (without the newline).
pub fn format_line(
    now: SystemTime,
    level: Level,
    event: &str,
    fields: &[(&str, &dyn Display)],
) -> String {
    let mut s = format!("{} level={} event={}", rfc3339(now), level.name(), event);
    for (k, v) in fields {
        s.push(' ');
        s.push_str(k);
        s.push('=');
        s.push_str(&quote(&v.to_string()));
    }
    s
}

/// Writes one line to stderr. A failed write is ignored: there is nowhere
/// else to report it.
pub fn log(level: Level, event: &str, fields: &[(&str, &dyn Display)]) {
    let line = format_line(SystemTime::now(), level, event, fields);
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

pub fn info(event: &str, fields: &[(&str, &dyn Display)]) {
    log(Level::Info, event, fields);
}

pub fn warn(event: &str, fields: &[(&str, &dyn Display)]) {
    log(Level::Warn, event, fields);
}

pub fn error(event: &str, fields: &[(&str, &dyn Display)]) {
    log(Level::Error, event, fields);
}

fn quote(v: &str) -> String {
    if !v.is_empty()
        && !v.contains(|c: char| c.is_whitespace() || c == '"' || c == '=' || c.is_control())
    {
        return v.to_owned();
    }
    let mut q = String::with_capacity(v.len() + 2);
    q.push('"');
    for c in v.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            c if c.is_control() => q.push(' '),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` in UTC.
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's
/// `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_709_164_800_250); // 2024-02-29
        assert_eq!(rfc3339(t), "2024-02-29T00:00:00.250Z");
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400 + 86_399); // 2000-02-29
        assert_eq!(rfc3339(t), "2000-02-29T23:59:59.000Z");
    }

    #[test]
    fn fields_are_quoted_when_needed() {
        let l = format_line(
            UNIX_EPOCH,
            Level::Warn,
            "fallback",
            &[
                ("iface", &"xr3r"),
                ("error", &"no \"native\" = x"),
                ("n", &3),
            ],
        );
        assert_eq!(
            l,
            "1970-01-01T00:00:00.000Z level=warn event=fallback iface=xr3r error=\"no \\\"native\\\" = x\" n=3"
        );
    }
}
