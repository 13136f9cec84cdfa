//! Cron schedules of disruption budgets (UTC, five fields, names and `@` macros as
//! upstream's parser accepts), and the "is a window open" question budgets ask.

use karpenter_model::time::{MINUTE, Time, civil_from_days};

/// A parsed schedule: the allowed values of each field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: u64,
    hours: u32,
    days: u32,
    months: u16,
    weekdays: u8,
    /// Day-of-month and day-of-week both restricted: either may match (cron's rule).
    either_day: bool,
}

/// Why a schedule is not valid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid cron schedule {schedule:?}: {message}")]
pub struct CronError {
    /// The schedule.
    pub schedule: String,
    /// What is wrong.
    pub message: String,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

fn value(s: &str, names: &[&str], offset: u32) -> Option<u32> {
    if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
        return Some(i as u32 + offset);
    }
    s.parse().ok()
}

fn field(text: &str, lo: u32, hi: u32, names: &[&str], offset: u32) -> Result<(u64, bool), String> {
    let mut bits = 0u64;
    let mut star = false;
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                s.parse::<u32>()
                    .map_err(|_| format!("bad step in {part:?}"))?,
            ),
            None => (part, 1),
        };
        if step == 0 {
            return Err(format!("zero step in {part:?}"));
        }
        let (a, b) = if range == "*" || range == "?" {
            star = step == 1;
            (lo, hi)
        } else if let Some((x, y)) = range.split_once('-') {
            let x = value(x, names, offset).ok_or_else(|| format!("bad value {x:?}"))?;
            let y = value(y, names, offset).ok_or_else(|| format!("bad value {y:?}"))?;
            (x, y)
        } else {
            let x = value(range, names, offset).ok_or_else(|| format!("bad value {range:?}"))?;
            (x, if part.contains('/') { hi } else { x })
        };
        // 7 means Sunday too in the weekday field
        let (a, b) = if hi == 6 && b == 7 { (a, 6) } else { (a, b) };
        if a < lo || b > hi || a > b {
            return Err(format!("{part:?} is outside {lo}-{hi}"));
        }
        let mut v = a;
        while v <= b {
            bits |= 1 << v;
            v += step;
        }
        if hi == 6 && part.ends_with('7') && !part.contains('-') {
            bits |= 1;
        }
    }
    Ok((bits, star))
}

impl Cron {
    /// Parse a schedule.
    pub fn parse(schedule: &str) -> Result<Cron, CronError> {
        let err = |message: String| CronError {
            schedule: schedule.to_string(),
            message,
        };
        let expanded = match schedule.trim() {
            "@yearly" | "@annually" => "0 0 1 1 *",
            "@monthly" => "0 0 1 * *",
            "@weekly" => "0 0 * * 0",
            "@daily" | "@midnight" => "0 0 * * *",
            "@hourly" => "0 * * * *",
            s => s,
        };
        let parts: Vec<&str> = expanded.split_whitespace().collect();
        if parts.len() != 5 {
            return Err(err(format!("expected 5 fields, found {}", parts.len())));
        }
        let (minutes, _) = field(parts[0], 0, 59, &[], 0).map_err(err)?;
        let (hours, _) = field(parts[1], 0, 23, &[], 0).map_err(err)?;
        let (days, dom_star) = field(parts[2], 1, 31, &[], 0).map_err(err)?;
        let (months, _) = field(parts[3], 1, 12, &MONTHS, 1).map_err(err)?;
        let (weekdays, dow_star) = field(parts[4], 0, 6, &DAYS, 0).map_err(err)?;
        Ok(Cron {
            minutes,
            hours: hours as u32,
            days: days as u32,
            months: months as u16,
            weekdays: weekdays as u8,
            either_day: !dom_star && !dow_star,
        })
    }

    /// Does the schedule fire at the minute starting at `t`?
    pub fn fires(&self, t: Time) -> bool {
        let minutes = t.div_euclid(MINUTE);
        let days = minutes.div_euclid(1440);
        let in_day = minutes.rem_euclid(1440);
        let (_, month, day) = civil_from_days(days);
        let weekday = (days + 4).rem_euclid(7); // 1970-01-01 was a Thursday
        let m_ok = self.minutes & (1 << (in_day % 60)) != 0;
        let h_ok = self.hours & (1 << (in_day / 60)) != 0;
        let mon_ok = self.months & (1 << month) != 0;
        let dom = self.days & (1 << day) != 0;
        let dow = self.weekdays & (1 << weekday) != 0;
        let day_ok = if self.either_day {
            dom || dow
        } else {
            dom && dow
        };
        m_ok && h_ok && mon_ok && day_ok
    }

    /// Did the schedule fire within `[now - duration, now]`?
    pub fn active(&self, now: Time, duration: Time) -> bool {
        let start = (now - duration).div_euclid(MINUTE) * MINUTE;
        let mut t = now.div_euclid(MINUTE) * MINUTE;
        while t >= start {
            if t >= now - duration && self.fires(t) {
                return true;
            }
            t -= MINUTE;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use karpenter_model::time::{HOUR, parse_rfc3339};

    fn at(s: &str) -> Time {
        parse_rfc3339(s).unwrap_or_default()
    }

    #[test]
    fn weekday_business_hours_window() {
        let c = Cron::parse("0 9 * * mon-fri").unwrap_or_else(|e| panic!("{e}"));
        // 2026-11-24 is a Tuesday
        assert!(c.active(at("2026-11-24T12:00:00Z"), 8 * HOUR));
        assert!(!c.active(at("2026-11-24T17:30:00Z"), 8 * HOUR));
        assert!(!c.active(at("2026-11-22T12:00:00Z"), 8 * HOUR), "Sunday");
    }

    #[test]
    fn macros_steps_and_errors() {
        let daily = Cron::parse("@daily").unwrap_or_else(|e| panic!("{e}"));
        assert!(daily.fires(at("2026-11-24T00:00:00Z")));
        assert!(!daily.fires(at("2026-11-24T00:01:00Z")));
        let every15 = Cron::parse("*/15 * * * *").unwrap_or_else(|e| panic!("{e}"));
        assert!(every15.fires(at("2026-11-24T10:45:00Z")));
        assert!(!every15.fires(at("2026-11-24T10:46:00Z")));
        assert!(Cron::parse("61 * * * *").is_err());
        assert!(Cron::parse("* * *").is_err());
    }
}
