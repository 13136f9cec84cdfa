//! Go-style durations (`720h`, `1h30m`, `90s`, `1.5h`) and upstream's "nillable" durations
//! that also accept `Never`.
//!
//! Parsing follows Go's `time.ParseDuration`, which is what upstream uses for every duration
//! field and for the `karpenter.sh/do-not-disrupt` annotation.

use std::fmt;

/// A non-negative span of time with nanosecond precision (Go's `time.Duration`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration {
    nanos: i64,
}

/// A duration that may be `Never` (upstream's `NillableDuration`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NillableDuration {
    /// Disabled: never happens.
    Never,
    /// After this long.
    After(Duration),
}

/// Why a string is not a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Malformed text.
    #[error("invalid duration {0:?} (expected e.g. 30s, 10m, 720h or 1h30m)")]
    Invalid(String),
    /// Negative durations are not meaningful here.
    #[error("duration {0:?} is negative")]
    Negative(String),
    /// Larger than Go's duration range (about 292 years).
    #[error("duration {0:?} is out of range")]
    OutOfRange(String),
}

const NANOS_PER_SEC: i64 = 1_000_000_000;

impl Duration {
    /// Zero.
    pub const ZERO: Duration = Duration { nanos: 0 };

    /// A duration of whole seconds.
    pub const fn from_secs(secs: i64) -> Self {
        Duration {
            nanos: secs.saturating_mul(NANOS_PER_SEC),
        }
    }

    /// The duration in nanoseconds.
    pub const fn as_nanos(self) -> i64 {
        self.nanos
    }

    /// The duration in whole seconds (truncated).
    pub const fn as_secs(self) -> i64 {
        self.nanos / NANOS_PER_SEC
    }

    /// Parse a Go duration string (`300ms`, `1.5h`, `2h45m`). A sign is rejected when negative.
    pub fn parse(input: &str) -> Result<Self, DurationError> {
        let invalid = || DurationError::Invalid(input.to_string());
        let mut s = input;
        let mut negative = false;
        if let Some(rest) = s.strip_prefix('-') {
            negative = true;
            s = rest;
        } else if let Some(rest) = s.strip_prefix('+') {
            s = rest;
        }
        if s == "0" {
            return Ok(Duration::ZERO);
        }
        if s.is_empty() {
            return Err(invalid());
        }
        let mut total: i128 = 0;
        while !s.is_empty() {
            let num_end = s
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(invalid)?;
            let (number, rest) = s.split_at(num_end);
            let unit_end = rest
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(rest.len());
            let (unit, rest) = rest.split_at(unit_end);
            let unit_nanos: i128 = match unit {
                "ns" => 1,
                "us" | "µs" | "μs" => 1_000,
                "ms" => 1_000_000,
                "s" => 1_000_000_000,
                "m" => 60 * 1_000_000_000,
                "h" => 3_600 * 1_000_000_000,
                _ => return Err(invalid()),
            };
            let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
            if (int_part.is_empty() && frac_part.is_empty()) || frac_part.contains('.') {
                return Err(invalid());
            }
            let overflow = || DurationError::OutOfRange(input.to_string());
            let whole: i128 = if int_part.is_empty() {
                0
            } else {
                int_part.parse::<i128>().map_err(|_| overflow())?
            };
            let mut part = whole.checked_mul(unit_nanos).ok_or_else(overflow)?;
            if !frac_part.is_empty() {
                let digits = &frac_part[..frac_part.len().min(18)];
                let frac: i128 = digits.parse().map_err(|_| invalid())?;
                let scale = 10i128.pow(digits.len() as u32);
                part += frac * unit_nanos / scale;
            }
            total = total.checked_add(part).ok_or_else(overflow)?;
            if total > i128::from(i64::MAX) {
                return Err(overflow());
            }
            s = rest;
        }
        if negative && total != 0 {
            return Err(DurationError::Negative(input.to_string()));
        }
        Ok(Duration {
            nanos: total as i64,
        })
    }
}

impl fmt::Display for Duration {
    /// Go's canonical form for whole seconds: `720h0m0s`, `1m30s`, `0s`; sub-second
    /// durations print in milliseconds or nanoseconds.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.nanos;
        if n % NANOS_PER_SEC != 0 {
            return if n % 1_000_000 == 0 {
                write!(f, "{}ms", n / 1_000_000)
            } else {
                write!(f, "{n}ns")
            };
        }
        let secs = n / NANOS_PER_SEC;
        let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
        if h > 0 {
            write!(f, "{h}h{m}m{s}s")
        } else if m > 0 {
            write!(f, "{m}m{s}s")
        } else {
            write!(f, "{s}s")
        }
    }
}

impl NillableDuration {
    /// Parse `Never` or a Go duration.
    pub fn parse(input: &str) -> Result<Self, DurationError> {
        if input == "Never" {
            Ok(NillableDuration::Never)
        } else {
            Duration::parse(input).map(NillableDuration::After)
        }
    }

    /// The duration, or `None` for `Never`.
    pub fn duration(self) -> Option<Duration> {
        match self {
            NillableDuration::Never => None,
            NillableDuration::After(d) => Some(d),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(
            Duration::parse("720h").map(Duration::as_secs),
            Ok(720 * 3600)
        );
        assert_eq!(Duration::parse("1h30m").map(Duration::as_secs), Ok(5400));
        assert_eq!(Duration::parse("1.5h").map(Duration::as_secs), Ok(5400));
        assert_eq!(Duration::parse("0s"), Ok(Duration::ZERO));
        assert_eq!(Duration::parse("0"), Ok(Duration::ZERO));
        assert_eq!(
            Duration::parse("300ms").map(Duration::as_nanos),
            Ok(300_000_000)
        );
        assert_eq!(Duration::parse("2h45m10s").map(Duration::as_secs), Ok(9910));
    }

    #[test]
    fn rejects_bad_durations() {
        for bad in [
            "",
            "h",
            "10",
            "10d",
            "1.2.3s",
            "-5m",
            "1h-5m",
            "99999999999h",
        ] {
            assert!(Duration::parse(bad).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn never_is_nillable() {
        assert_eq!(
            NillableDuration::parse("Never"),
            Ok(NillableDuration::Never)
        );
        assert_eq!(
            NillableDuration::parse("Never").map(|d| d.duration()),
            Ok(None)
        );
        assert_eq!(
            NillableDuration::parse("30s").map(|d| d.duration()),
            Ok(Some(Duration::from_secs(30)))
        );
    }

    #[test]
    fn displays_like_go() {
        assert_eq!(Duration::from_secs(720 * 3600).to_string(), "720h0m0s");
        assert_eq!(Duration::from_secs(90).to_string(), "1m30s");
        assert_eq!(Duration::ZERO.to_string(), "0s");
    }
}
