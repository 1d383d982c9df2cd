//! The spans of time exports cover, from what a person types: a day (`2026-10-31`, a whole day
//! of the books' time zone) or an instant (RFC 3339).

use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use gpubill_domain::day_start_in;

/// Why a time given to an export is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("`{0}` is neither a day (YYYY-MM-DD) nor an RFC 3339 instant")]
    NotATime(String),
    #[error("the window ends ({to}) where or before it starts ({from})")]
    Reversed { from: String, to: String },
}

/// A day or an instant, as given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeArg {
    Day(NaiveDate),
    Instant(DateTime<Utc>),
}

impl std::str::FromStr for TimeArg {
    type Err = WindowError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            return Ok(Self::Day(day));
        }
        DateTime::parse_from_rfc3339(text)
            .map(|instant| Self::Instant(instant.with_timezone(&Utc)))
            .map_err(|_| WindowError::NotATime(text.to_owned()))
    }
}

impl TimeArg {
    /// As the start of a window: a day's first instant.
    pub fn start(self, time_zone: Tz) -> DateTime<Utc> {
        match self {
            Self::Day(day) => day_start_in(day, time_zone),
            Self::Instant(instant) => instant,
        }
    }

    /// As the (exclusive) end of a window: a day is included whole, so the window ends where
    /// the next day starts.
    pub fn end(self, time_zone: Tz) -> DateTime<Utc> {
        match self {
            // A parsed day is at most year 9999 (four digits): the next day exists.
            Self::Day(day) => day_start_in(day + chrono::Days::new(1), time_zone),
            Self::Instant(instant) => instant,
        }
    }

    /// As a moment the books are looked at: entries booked at or before it count. A day means
    /// its last instant (the microsecond before the next day, Postgres' resolution).
    pub fn at(self, time_zone: Tz) -> DateTime<Utc> {
        match self {
            Self::Day(_) => self.end(time_zone) - Duration::microseconds(1),
            Self::Instant(instant) => instant,
        }
    }
}

/// `[from, to)` from two time arguments; refuses an empty or reversed window.
pub fn window(
    from: TimeArg,
    to: TimeArg,
    time_zone: Tz,
) -> Result<(DateTime<Utc>, DateTime<Utc>), WindowError> {
    let (start, end) = (from.start(time_zone), to.end(time_zone));
    if end <= start {
        return Err(WindowError::Reversed {
            from: start.to_rfc3339(),
            to: end.to_rfc3339(),
        });
    }
    Ok((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Paris;

    #[test]
    fn days_are_whole_days_of_the_books_time_zone() {
        let from: TimeArg = "2026-10-01".parse().unwrap();
        let to: TimeArg = "2026-10-31".parse().unwrap();
        let (start, end) = window(from, to, Paris).unwrap();
        assert_eq!(start.to_rfc3339(), "2026-09-30T22:00:00+00:00");
        assert_eq!(end.to_rfc3339(), "2026-10-31T23:00:00+00:00");
        assert_eq!(
            to.at(Paris).to_rfc3339(),
            "2026-10-31T22:59:59.999999+00:00"
        );
        let instant: TimeArg = "2026-10-05T10:00:00Z".parse().unwrap();
        assert_eq!(instant.at(Paris).to_rfc3339(), "2026-10-05T10:00:00+00:00");
        assert!(window(to, from, Paris).is_err());
        assert!("yesterday".parse::<TimeArg>().is_err());
    }
}
