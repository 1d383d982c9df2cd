//! Billing periods: calendar months, written `YYYY-MM`, on the calendar of the tenant's time zone.
//! A tenant's month runs from local midnight of its first day to local midnight of the next
//! month's first day, so its length in hours follows the zone's daylight-saving changes (March
//! 2026 in `Europe/Paris` lasts 743 hours). UTC is the default zone, and the zone-free methods
//! ([`BillingPeriod::start`], [`BillingPeriod::end`], [`BillingPeriod::containing`]) are UTC's.

use chrono::{DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
pub use chrono_tz::Tz;
use std::{fmt, str::FromStr};

/// The zone of a tenant that names none.
pub const DEFAULT_TIME_ZONE: Tz = Tz::UTC;

/// A calendar month, the unit of invoicing. The month is a label; where it starts and ends
/// depends on the time zone it is read in ([`BillingPeriod::start_in`]).
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

/// A time-zone name the IANA database does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not an IANA time zone name (names are case-sensitive, such as `Europe/Paris`, \
     `America/New_York` or `UTC`)"
)]
pub struct UnknownTimeZone(pub String);

/// The zone named `name` in the IANA database (`Europe/Paris`, `UTC`).
pub fn parse_time_zone(name: &str) -> Result<Tz, UnknownTimeZone> {
    name.parse().map_err(|_| UnknownTimeZone(name.to_owned()))
}

impl BillingPeriod {
    pub fn new(year: i32, month: u32) -> Result<Self, PeriodError> {
        if !(2000..=9999).contains(&year) || !(1..=12).contains(&month) {
            return Err(PeriodError::OutOfRange(format!("{year:04}-{month:02}")));
        }
        Ok(Self { year, month })
    }

    /// The period an instant falls in, in UTC.
    pub fn containing(instant: DateTime<Utc>) -> Self {
        Self::containing_in(instant, DEFAULT_TIME_ZONE)
    }

    /// The period an instant falls in on the calendar of `time_zone`: the one with
    /// `start_in(time_zone) <= instant < end_in(time_zone)`, so that a zone's periods cover the
    /// timeline without gap or overlap.
    pub fn containing_in(instant: DateTime<Utc>, time_zone: Tz) -> Self {
        let local = instant.with_timezone(&time_zone);
        let by_local_date = Self {
            year: local.year(),
            month: local.month(),
        };
        // The local date decides, except in the hour a clock turned back across the midnight
        // that starts a month: those instants read as the old month's last day, yet the new
        // month has started (its start is the first time the clock showed that midnight).
        if instant < by_local_date.start_in(time_zone) {
            by_local_date.previous()
        } else if instant >= by_local_date.end_in(time_zone) {
            by_local_date.next()
        } else {
            by_local_date
        }
    }

    /// First day of the month: the ledger's key for the period.
    pub fn first_day(self) -> NaiveDate {
        // Valid by construction: month is 1..=12 and day 1 exists in every month.
        NaiveDate::from_ymd_opt(self.year, self.month, 1).unwrap_or(NaiveDate::MIN)
    }

    /// Inclusive start of the period in UTC.
    pub fn start(self) -> DateTime<Utc> {
        self.start_in(DEFAULT_TIME_ZONE)
    }

    /// Exclusive end of the period in UTC: the start of the next one.
    pub fn end(self) -> DateTime<Utc> {
        self.end_in(DEFAULT_TIME_ZONE)
    }

    /// Inclusive start of the period on the calendar of `time_zone`: the instant the zone's
    /// clocks first show midnight of the month's first day. Where the zone skips that midnight
    /// (a daylight-saving change at 00:00), the instant of the skip.
    pub fn start_in(self, time_zone: Tz) -> DateTime<Utc> {
        first_instant_at_or_after(self.first_day().and_time(chrono::NaiveTime::MIN), time_zone)
    }

    /// Exclusive end of the period on the calendar of `time_zone`: the start of the next one.
    pub fn end_in(self, time_zone: Tz) -> DateTime<Utc> {
        self.next().start_in(time_zone)
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

    pub fn previous(self) -> Self {
        if self.month == 1 {
            Self {
                year: self.year - 1,
                month: 12,
            }
        } else {
            Self {
                year: self.year,
                month: self.month - 1,
            }
        }
    }
}

/// The first instant of `day` on the calendar of `time_zone` (midnight, or the instant a
/// daylight-saving change skips it).
pub fn day_start_in(day: NaiveDate, time_zone: Tz) -> DateTime<Utc> {
    first_instant_at_or_after(day.and_time(chrono::NaiveTime::MIN), time_zone)
}

/// The first instant at which the clocks of `time_zone` show `local` or a later time.
fn first_instant_at_or_after(local: NaiveDateTime, time_zone: Tz) -> DateTime<Utc> {
    match time_zone.from_local_datetime(&local) {
        LocalResult::Single(instant) | LocalResult::Ambiguous(instant, _) => {
            instant.with_timezone(&Utc)
        }
        LocalResult::None => {
            // `local` lies in a gap: the clocks jump over it at one instant, the answer. UTC
            // offsets lie within -12 h..+14 h, so that instant is within a day of `local` read
            // as UTC; clocks only move forward across a gap, so bisecting finds it. Transitions
            // fall on whole seconds, and so do both ends and every midpoint here.
            let as_utc = Utc.from_utc_datetime(&local);
            let (mut before, mut after) = (as_utc - Duration::days(1), as_utc + Duration::days(1));
            while after - before > Duration::seconds(1) {
                let middle = before + Duration::seconds((after - before).num_seconds() / 2);
                if middle.with_timezone(&time_zone).naive_local() >= local {
                    after = middle;
                } else {
                    before = middle;
                }
            }
            after
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

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn zone(name: &str) -> Tz {
        parse_time_zone(name).unwrap()
    }

    fn hours_in(period: &str, time_zone: &str) -> i64 {
        let period: BillingPeriod = period.parse().unwrap();
        (period.end_in(zone(time_zone)) - period.start_in(zone(time_zone))).num_hours()
    }

    #[test]
    fn a_paris_month_starts_at_local_midnight() {
        let november: BillingPeriod = "2026-11".parse().unwrap();
        let paris = zone("Europe/Paris");
        // Winter time (UTC+1) on both ends.
        assert_eq!(november.start_in(paris), at("2026-10-31T23:00:00Z"));
        assert_eq!(november.end_in(paris), at("2026-11-30T23:00:00Z"));
        // Summer time (UTC+2) at the start of October.
        let october = november.previous();
        assert_eq!(october.start_in(paris), at("2026-09-30T22:00:00Z"));
        assert_eq!(october.end_in(paris), november.start_in(paris));
        assert_eq!(
            BillingPeriod::containing_in(at("2026-10-31T22:59:59.999Z"), paris),
            october
        );
        assert_eq!(
            BillingPeriod::containing_in(at("2026-10-31T23:00:00Z"), paris),
            november
        );
    }

    #[test]
    fn daylight_saving_changes_lengthen_and_shorten_months() {
        // Clocks go forward on the last Sunday of March and back on the last Sunday of October.
        assert_eq!(hours_in("2026-03", "Europe/Paris"), 743);
        assert_eq!(hours_in("2026-10", "Europe/Paris"), 745);
        assert_eq!(hours_in("2026-11", "Europe/Paris"), 720);
        assert_eq!(hours_in("2026-03", "Europe/Berlin"), 743);
        assert_eq!(hours_in("2026-10", "Europe/Oslo"), 745);
        // The United States change on the second Sunday of March and the first of November.
        assert_eq!(hours_in("2026-03", "America/New_York"), 743);
        assert_eq!(hours_in("2026-11", "America/New_York"), 721);
        // Japan has no daylight saving time; UTC never changes.
        assert_eq!(hours_in("2026-03", "Asia/Tokyo"), 744);
        assert_eq!(hours_in("2026-03", "UTC"), 744);
    }

    #[test]
    fn a_year_ends_at_local_midnight_behind_and_ahead_of_utc() {
        let january: BillingPeriod = "2027-01".parse().unwrap();
        let new_york = zone("America/New_York");
        let tokyo = zone("Asia/Tokyo");
        assert_eq!(january.start_in(new_york), at("2027-01-01T05:00:00Z"));
        assert_eq!(january.start_in(tokyo), at("2026-12-31T15:00:00Z"));
        let december = january.previous();
        assert_eq!(december.to_string(), "2026-12");
        assert_eq!(december.end_in(new_york), january.start_in(new_york));
        // New Year's Eve, 23:59 in New York, is already January in Tokyo and in UTC.
        let instant = at("2027-01-01T04:59:00Z");
        assert_eq!(BillingPeriod::containing_in(instant, new_york), december);
        assert_eq!(BillingPeriod::containing_in(instant, tokyo), january);
        assert_eq!(BillingPeriod::containing(instant), january);
        assert_eq!(
            BillingPeriod::containing_in(at("2026-12-31T14:59:59Z"), tokyo),
            december
        );
    }

    #[test]
    fn a_month_whose_first_midnight_is_skipped_starts_at_the_skip() {
        // Paraguay moved its clocks from 00:00 to 01:00 on Sunday 1 October 2023: that month's
        // first local midnight never happened, and the month starts when the clocks jumped.
        let october: BillingPeriod = "2023-10".parse().unwrap();
        let asuncion = zone("America/Asuncion");
        let midnight = october.first_day().and_time(chrono::NaiveTime::MIN);
        assert_eq!(
            asuncion.from_local_datetime(&midnight),
            LocalResult::None,
            "no such local time"
        );
        assert_eq!(october.start_in(asuncion), at("2023-10-01T04:00:00Z"));
        assert_eq!(
            BillingPeriod::containing_in(at("2023-10-01T03:59:59Z"), asuncion),
            october.previous()
        );
        assert_eq!(
            BillingPeriod::containing_in(at("2023-10-01T04:00:00Z"), asuncion),
            october
        );
        assert_eq!(hours_in("2023-09", "America/Asuncion"), 720);
    }

    #[test]
    fn utc_is_the_default_zone() {
        let november: BillingPeriod = "2026-11".parse().unwrap();
        assert_eq!(november.start(), november.start_in(DEFAULT_TIME_ZONE));
        assert_eq!(november.end(), november.end_in(Tz::UTC));
        assert_eq!(november.previous().next(), november);
        assert_eq!(
            "2027-01"
                .parse::<BillingPeriod>()
                .unwrap()
                .previous()
                .to_string(),
            "2026-12"
        );
    }

    #[test]
    fn unknown_time_zones_are_named_in_the_error() {
        assert_eq!(parse_time_zone("Europe/Paris"), Ok(Tz::Europe__Paris));
        assert_eq!(parse_time_zone("UTC"), Ok(Tz::UTC));
        for name in ["Europe/Pariss", "europe/paris", "", "CEST", "+01:00"] {
            let error = parse_time_zone(name).unwrap_err();
            assert!(error.to_string().contains(&format!("`{name}`")), "{error}");
        }
    }

    /// Zones ahead of and behind UTC, with and without daylight saving time, with half- and
    /// quarter-hour offsets, and with clocks changed at midnight.
    const ZONES: [&str; 14] = [
        "UTC",
        "Europe/Paris",
        "Europe/Oslo",
        "America/New_York",
        "America/St_Johns",
        "America/Santiago",
        "America/Asuncion",
        "Asia/Tokyo",
        "Asia/Kolkata",
        "Asia/Kathmandu",
        "Asia/Beirut",
        "Australia/Lord_Howe",
        "Pacific/Kiritimati",
        "Pacific/Pago_Pago",
    ];

    proptest::proptest! {
        /// In every zone, an instant lies in the period that contains it, and consecutive
        /// periods meet: the periods of a zone tile the timeline.
        #[test]
        fn periods_of_a_zone_tile_the_timeline(
            seconds in 946_684_800i64..4_102_444_800i64,
            zone_index in 0..ZONES.len(),
        ) {
            let time_zone = zone(ZONES[zone_index]);
            let instant = DateTime::from_timestamp(seconds, 0).unwrap();
            let period = BillingPeriod::containing_in(instant, time_zone);
            proptest::prop_assert!(period.start_in(time_zone) <= instant);
            proptest::prop_assert!(instant < period.end_in(time_zone));
            proptest::prop_assert_eq!(period.end_in(time_zone), period.next().start_in(time_zone));
            proptest::prop_assert!(period.previous().start_in(time_zone) < period.start_in(time_zone));
            // A month is 28 to 31 days, give or take the zone's changes of offset.
            let hours = (period.end_in(time_zone) - period.start_in(time_zone)).num_hours();
            proptest::prop_assert!((28 * 24 - 24..=31 * 24 + 24).contains(&hours), "{hours}");
            // Away from a month's first day, the local date decides.
            let local = instant.with_timezone(&time_zone);
            if local.day() > 1 && local.day() < 28 {
                proptest::prop_assert_eq!(
                    (period.year, period.month),
                    (local.year(), local.month())
                );
            }
        }
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
