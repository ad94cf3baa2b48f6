//! AWS EventBridge schedule expressions: `cron(...)` (six fields) and `rate(...)`.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A validated schedule expression, as EventBridge accepts it.
#[derive(Debug, Clone)]
pub struct Schedule {
    text: String,
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    Rate(Duration),
    Cron(Box<Cron>),
}

impl Schedule {
    /// The expression as written, e.g. `cron(0 18 ? * SAT *)`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The first time strictly after `after` when the schedule fires (UTC, as EventBridge
    /// evaluates it). A `rate(...)` schedule fires every period counted from `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.kind {
            Kind::Rate(period) => after.checked_add_signed(*period),
            Kind::Cron(cron) => cron.find_next_occurrence(&after, false).ok(),
        }
    }
}

const CRON_HELP: &str = "expected `cron(Minutes Hours Day-of-month Month Day-of-week Year)` with `?` in either day-of-month or day-of-week, e.g. \"cron(0 18 ? * SAT *)\"";
const RATE_HELP: &str = "expected `rate(N unit)` with unit minute(s), hour(s) or day(s), e.g. \"rate(1 day)\" or \"rate(12 hours)\"";

fn parse_rate(body: &str) -> Result<Duration, String> {
    let mut parts = body.split_whitespace();
    let (Some(value), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(RATE_HELP.to_string());
    };
    let n: i64 = value
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("`{value}` is not a positive whole number; {RATE_HELP}"))?;
    let (singular, seconds) = match unit {
        "minute" | "minutes" => ("minute", 60),
        "hour" | "hours" => ("hour", 3600),
        "day" | "days" => ("day", 86_400),
        _ => return Err(format!("unknown unit `{unit}`; {RATE_HELP}")),
    };
    // EventBridge insists on the singular for 1 and the plural otherwise.
    let plural = unit != singular;
    if (n == 1) == plural {
        let want = if n == 1 {
            singular.to_string()
        } else {
            format!("{singular}s")
        };
        return Err(format!("use `{want}` with the value {n}; {RATE_HELP}"));
    }
    Ok(Duration::seconds(n * seconds))
}

fn parse_cron(body: &str) -> Result<Cron, String> {
    let fields: Vec<&str> = body.split_whitespace().collect();
    if fields.len() != 6 {
        return Err(format!("found {} fields; {CRON_HELP}", fields.len()));
    }
    let (dom, dow) = (fields[2], fields[4]);
    if (dom == "?") == (dow == "?") {
        return Err(format!(
            "exactly one of day-of-month (`{dom}`) and day-of-week (`{dow}`) must be `?`; {CRON_HELP}"
        ));
    }
    if fields[5] != "*" {
        for year in fields[5].split([',', '-', '/']) {
            if let Ok(y) = year.parse::<u32>()
                && !(1970..=2199).contains(&y)
            {
                return Err(format!("year {y} is outside 1970-2199; {CRON_HELP}"));
            }
        }
    }
    // EventBridge numbers weekdays 1-7 from Sunday, as Quartz does, and has no seconds field.
    let parser = CronParser::builder()
        .seconds(Seconds::Required)
        .year(Year::Required)
        .alternative_weekdays(true)
        .build();
    parser
        .parse(&format!("0 {body}"))
        .map_err(|e| format!("{e}; {CRON_HELP}"))
}

impl FromStr for Schedule {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        let inner = |prefix: &str| {
            text.strip_prefix(prefix)
                .and_then(|rest| rest.strip_suffix(')'))
                .map(str::trim)
        };
        let kind = if let Some(body) = inner("cron(") {
            Kind::Cron(Box::new(
                parse_cron(body).map_err(|e| format!("bad schedule `{text}`: {e}"))?,
            ))
        } else if let Some(body) = inner("rate(") {
            Kind::Rate(parse_rate(body).map_err(|e| format!("bad schedule `{text}`: {e}"))?)
        } else {
            return Err(format!(
                "bad schedule `{text}`: expected `cron(...)` or `rate(...)`, e.g. \"cron(0 18 ? * SAT *)\""
            ));
        };
        Ok(Self {
            text: text.to_string(),
            kind,
        })
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Schedule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Schedule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        super::values::from_text(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0).unwrap()
    }

    #[test]
    fn cron_weekdays_count_from_sunday() {
        // 2026-11-25 is a Wednesday; the next Saturday is the 28th.
        let from = at(2026, 11, 25, 12, 0);
        for text in ["cron(0 18 ? * SAT *)", "cron(0 18 ? * 7 *)"] {
            let s: Schedule = text.parse().unwrap();
            assert_eq!(s.next_after(from), Some(at(2026, 11, 28, 18, 0)), "{text}");
        }
        let sunday: Schedule = "cron(30 2 ? * 1 *)".parse().unwrap();
        assert_eq!(sunday.next_after(from), Some(at(2026, 11, 29, 2, 30)));
    }

    #[test]
    fn cron_day_of_month_and_year() {
        let s: Schedule = "cron(0 6 14 * ? *)".parse().unwrap();
        assert_eq!(
            s.next_after(at(2026, 11, 25, 0, 0)),
            Some(at(2026, 12, 14, 6, 0))
        );
        let last: Schedule = "cron(0 0 L * ? 2027)".parse().unwrap();
        assert_eq!(
            last.next_after(at(2026, 11, 25, 0, 0)),
            Some(at(2027, 1, 31, 0, 0))
        );
    }

    #[test]
    fn rates() {
        let s: Schedule = "rate(12 hours)".parse().unwrap();
        assert_eq!(
            s.next_after(at(2026, 1, 1, 0, 0)),
            Some(at(2026, 1, 1, 12, 0))
        );
        assert!("rate(1 day)".parse::<Schedule>().is_ok());
        assert!(
            "rate(1 days)"
                .parse::<Schedule>()
                .unwrap_err()
                .contains("use `day`")
        );
        assert!(
            "rate(2 day)"
                .parse::<Schedule>()
                .unwrap_err()
                .contains("use `days`")
        );
        assert!(
            "rate(0 days)"
                .parse::<Schedule>()
                .unwrap_err()
                .contains("positive")
        );
        assert!(
            "rate(5 weeks)"
                .parse::<Schedule>()
                .unwrap_err()
                .contains("unknown unit")
        );
    }

    #[test]
    fn bad_crons() {
        let err = |t: &str| t.parse::<Schedule>().unwrap_err();
        assert!(err("cron(0 18 * * SAT *)").contains("must be `?`"));
        assert!(err("cron(0 18 ? * ? *)").contains("must be `?`"));
        assert!(err("cron(0 18 ? * SAT)").contains("found 5 fields"));
        assert!(err("cron(61 18 ? * SAT *)").contains("bad schedule"));
        assert!(err("cron(0 18 ? * SAT 1969)").contains("1970-2199"));
        assert!(err("every saturday").contains("expected `cron(...)` or `rate(...)`"));
    }
}
