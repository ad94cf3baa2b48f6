//! Periods, written as the lake's partition values and the reports' file names spell them: a
//! day (`2026-10-03`), a calendar month (`2026-10`) and an ISO week (`2026-W44`). Their formats
//! are defined here and nowhere else.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Datelike, Days, IsoWeek, NaiveDate, NaiveDateTime, Utc, Weekday};

/// `YYYY-MM-DD`.
const DAY_FORMAT: &str = "%Y-%m-%d";
/// `YYYY-MM`.
const MONTH_FORMAT: &str = "%Y-%m";

/// `YYYY-MM-DD hh:mm:ss`, as Athena prints the lake's UTC times (a fraction may follow when read).
const CLOCK_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// A UTC time as Athena prints it and as the command lines show it: `2026-10-03 18:00:01`.
pub fn clock(t: DateTime<Utc>) -> String {
    t.format(CLOCK_FORMAT).to_string()
}

/// A time as [`clock`] writes it, with or without a fraction (`2026-10-03 18:00:01.000`).
pub fn parse_clock(text: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(text, &format!("{CLOCK_FORMAT}%.f"))
        .ok()
        .map(|t| t.and_utc())
}

/// A UTC calendar day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(NaiveDate);

impl Day {
    /// The day of `date`.
    pub fn of(date: NaiveDate) -> Self {
        Day(date)
    }

    /// The date.
    pub fn date(self) -> NaiveDate {
        self.0
    }

    /// The month that holds it.
    pub fn month(self) -> Month {
        Month::of(self.0)
    }

    /// Every day from this one to `last`, both included (none when `last` is earlier).
    pub fn through(self, last: Day) -> impl Iterator<Item = Day> {
        self.0
            .iter_days()
            .take_while(move |d| *d <= last.0)
            .map(Day)
    }

    /// The UTC day of a time in microseconds since the epoch, if it has one.
    pub fn of_micros(micros: i64) -> Option<Self> {
        chrono::DateTime::from_timestamp_micros(micros).map(|t| Day(t.date_naive()))
    }
}

impl From<NaiveDate> for Day {
    fn from(date: NaiveDate) -> Self {
        Day(date)
    }
}

impl fmt::Display for Day {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format(DAY_FORMAT))
    }
}

impl FromStr for Day {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        NaiveDate::parse_from_str(s, DAY_FORMAT)
            .ok()
            .filter(|_| s.len() == 10)
            .map(Day)
            .ok_or_else(|| format!("`{s}` is not a day: expected YYYY-MM-DD, e.g. 2026-10-03"))
    }
}

/// A calendar month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    first: NaiveDate,
}

impl Month {
    /// The month that holds `day`.
    pub fn of(day: NaiveDate) -> Self {
        Month {
            first: day.with_day(1).expect("day 1 exists"),
        }
    }

    /// Its first day.
    pub fn first(self) -> NaiveDate {
        self.first
    }

    /// Its last day.
    pub fn last(self) -> NaiveDate {
        self.next().first - Days::new(1)
    }

    /// The month after.
    pub fn next(self) -> Self {
        Month {
            first: self.first + chrono::Months::new(1),
        }
    }

    /// The month before.
    pub fn previous(self) -> Self {
        Month {
            first: self.first - chrono::Months::new(1),
        }
    }

    /// The year, for folder names.
    pub fn year(self) -> i32 {
        self.first.year()
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.first.format(MONTH_FORMAT))
    }
}

impl FromStr for Month {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        NaiveDate::parse_from_str(&format!("{s}-01"), DAY_FORMAT)
            .ok()
            .filter(|_| s.len() == 7)
            .map(|first| Month { first })
            .ok_or_else(|| format!("`{s}` is not a month: expected YYYY-MM, e.g. 2026-10"))
    }
}

/// An ISO week (Monday to Sunday).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Week {
    monday: NaiveDate,
}

impl Week {
    /// The week that holds `day`.
    pub fn of(day: NaiveDate) -> Self {
        let w: IsoWeek = day.iso_week();
        Week {
            monday: NaiveDate::from_isoywd_opt(w.year(), w.week(), Weekday::Mon)
                .expect("an ISO week has a Monday"),
        }
    }

    /// Its Monday.
    pub fn first(self) -> NaiveDate {
        self.monday
    }

    /// Its Sunday.
    pub fn last(self) -> NaiveDate {
        self.monday + Days::new(6)
    }

    /// The ISO year, for folder names.
    pub fn year(self) -> i32 {
        self.monday.iso_week().year()
    }
}

impl fmt::Display for Week {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = self.monday.iso_week();
        write!(f, "{}-W{:02}", w.year(), w.week())
    }
}

impl FromStr for Week {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not an ISO week: expected YYYY-Www, e.g. 2026-W44");
        let (year, week) = s.split_once("-W").ok_or_else(bad)?;
        let (year, week): (i32, u32) = (
            year.parse().map_err(|_| bad())?,
            week.parse().map_err(|_| bad())?,
        );
        NaiveDate::from_isoywd_opt(year, week, Weekday::Mon)
            .map(|monday| Week { monday })
            .ok_or_else(bad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_and_weeks() {
        let m: Month = "2026-10".parse().unwrap();
        assert_eq!(m.last(), NaiveDate::from_ymd_opt(2026, 10, 31).unwrap());
        assert_eq!(m.previous().to_string(), "2026-09");
        assert_eq!(
            "2026-12".parse::<Month>().unwrap().next().to_string(),
            "2027-01"
        );
        assert!("2026-13".parse::<Month>().is_err());
        assert!("2026-1".parse::<Month>().is_err());
        // ISO 8601: 2026-W01 starts on Monday 2025-12-29; 2026-11-25 is a Wednesday of week 48.
        let w: Week = "2026-W01".parse().unwrap();
        assert_eq!(w.first(), NaiveDate::from_ymd_opt(2025, 12, 29).unwrap());
        let w = Week::of(NaiveDate::from_ymd_opt(2026, 11, 25).unwrap());
        assert_eq!(w.to_string(), "2026-W48");
        assert_eq!(w.last(), NaiveDate::from_ymd_opt(2026, 11, 29).unwrap());
        assert!("2026-W54".parse::<Week>().is_err());
        let d: Day = "2026-10-03".parse().unwrap();
        assert_eq!(d.to_string(), "2026-10-03");
        assert_eq!(d.month(), m);
        assert!("2026-10-3".parse::<Day>().is_err());
        assert!("2026-02-30".parse::<Day>().is_err());
        let t = parse_clock("2026-10-03 18:00:01.000").unwrap();
        assert_eq!(clock(t), "2026-10-03 18:00:01");
        assert_eq!(parse_clock("2026-10-03 18:00:01"), Some(t));
        assert_eq!(parse_clock("2026-10-03T18:00:01"), None);
    }
}
