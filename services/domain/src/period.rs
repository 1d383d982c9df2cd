//! Billing periods: calendar months in UTC, written `YYYY-MM`.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use std::{fmt, str::FromStr};

/// A calendar month, the unit of invoicing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BillingPeriod {
    year: i32,
    month: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    #[error("period `{0}` is not of the form YYYY-MM")]
    Malformed(String),
    #[error("period `{0}` has a month outside 01..12 or a year outside 2000..9999")]
    OutOfRange(String),
}

impl BillingPeriod {
    pub fn new(year: i32, month: u32) -> Result<Self, PeriodError> {
        if !(2000..=9999).contains(&year) || !(1..=12).contains(&month) {
            return Err(PeriodError::OutOfRange(format!("{year:04}-{month:02}")));
        }
        Ok(Self { year, month })
    }

    /// The period an instant falls in.
    pub fn containing(instant: DateTime<Utc>) -> Self {
        Self {
            year: instant.year(),
            month: instant.month(),
        }
    }

    /// First day of the month: the ledger's key for the period.
    pub fn first_day(self) -> NaiveDate {
        // Valid by construction: month is 1..=12 and day 1 exists in every month.
        NaiveDate::from_ymd_opt(self.year, self.month, 1).unwrap_or(NaiveDate::MIN)
    }

    /// Inclusive start of the period.
    pub fn start(self) -> DateTime<Utc> {
        Utc.from_utc_datetime(&self.first_day().and_time(chrono::NaiveTime::MIN))
    }

    /// Exclusive end of the period: the start of the next one.
    pub fn end(self) -> DateTime<Utc> {
        self.next().start()
    }

    pub fn next(self) -> Self {
        if self.month == 12 {
            Self {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Self {
                year: self.year,
                month: self.month + 1,
            }
        }
    }
}

impl fmt::Display for BillingPeriod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl FromStr for BillingPeriod {
    type Err = PeriodError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let malformed = || PeriodError::Malformed(text.to_owned());
        let (year, month) = text.split_once('-').ok_or_else(malformed)?;
        if year.len() != 4
            || month.len() != 2
            || !(year.bytes().chain(month.bytes())).all(|b| b.is_ascii_digit())
        {
            return Err(malformed());
        }
        let year = year.parse().map_err(|_| malformed())?;
        let month = month.parse().map_err(|_| malformed())?;
        Self::new(year, month).map_err(|_| PeriodError::OutOfRange(text.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_yyyy_mm() {
        let period: BillingPeriod = "2026-11".parse().unwrap();
        assert_eq!(period.to_string(), "2026-11");
        assert_eq!(period.start().to_rfc3339(), "2026-11-01T00:00:00+00:00");
        assert_eq!(period.end().to_rfc3339(), "2026-12-01T00:00:00+00:00");
    }

    #[test]
    fn december_rolls_into_january() {
        let period: BillingPeriod = "2026-12".parse().unwrap();
        assert_eq!(period.next().to_string(), "2027-01");
        assert_eq!(period.end().to_rfc3339(), "2027-01-01T00:00:00+00:00");
    }

    #[test]
    fn rejects_malformed_and_out_of_range() {
        for text in [
            "2026-1",
            "26-11",
            "2026/11",
            "2026-11-01",
            "",
            "abcd-ef",
            "+026-11",
        ] {
            assert!(
                matches!(
                    text.parse::<BillingPeriod>(),
                    Err(PeriodError::Malformed(_))
                ),
                "{text}"
            );
        }
        for text in ["2026-00", "2026-13", "1999-12"] {
            assert!(
                matches!(
                    text.parse::<BillingPeriod>(),
                    Err(PeriodError::OutOfRange(_))
                ),
                "{text}"
            );
        }
    }
}
