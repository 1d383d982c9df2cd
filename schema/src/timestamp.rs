//! RFC 3339 timestamps of usage events, decoded with a fast path for the one form agents send
//! (`YYYY-MM-DDTHH:MM:SS[.fraction]Z`). Parsing timestamps was a sixth of the aggregator's work
//! per event with chrono's general parser; any other form still goes to chrono, so what is
//! accepted, and how, does not change.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde::Deserializer;
use serde::de::{Error, Visitor};
use std::fmt;

/// Parses an RFC 3339 timestamp exactly as `chrono`'s `DateTime<Utc>` deserializer does.
pub fn parse(text: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    match parse_utc_fast(text.as_bytes()) {
        Some(instant) => Ok(instant),
        None => text
            .parse::<DateTime<FixedOffset>>()
            .map(|instant| instant.with_timezone(&Utc)),
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.d{1,9}]Z` with a valid date and time and no leap second; `None` for
/// anything else, including valid RFC 3339 in other forms.
fn parse_utc_fast(bytes: &[u8]) -> Option<DateTime<Utc>> {
    let (&last, body) = bytes.split_last()?;
    if last != b'Z' || body.len() < 19 {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        body.get(range)?.iter().try_fold(0u32, |value, byte| {
            byte.is_ascii_digit()
                .then(|| value * 10 + u32::from(byte - b'0'))
        })
    };
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if separators.iter().any(|(at, byte)| body[*at] != *byte) {
        return None;
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    let nanos = match &body[19..] {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => {
            let value = number(20..body.len())?;
            value * 10u32.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    let time = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?
        .and_hms_nano_opt(hour, minute, second, nanos)?;
    // chrono reads a leap second (second 60) its own way; leave it to chrono.
    (second < 60).then(|| time.and_utc())
}

/// `#[serde(deserialize_with)]` for a `DateTime<Utc>` field.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    struct Rfc3339;
    impl Visitor<'_> for Rfc3339 {
        type Value = DateTime<Utc>;

        fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
            formatter.write_str("an RFC 3339 timestamp")
        }

        fn visit_str<E: Error>(self, text: &str) -> Result<Self::Value, E> {
            parse(text).map_err(E::custom)
        }
    }
    deserializer.deserialize_str(Rfc3339)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn chrono(text: &str) -> Result<DateTime<Utc>, String> {
        text.parse::<DateTime<FixedOffset>>()
            .map(|instant| instant.with_timezone(&Utc))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn agrees_with_chrono_on_every_form() {
        for text in [
            "2026-11-23T10:00:00Z",
            "2026-11-23T10:00:00.004Z",
            "2026-11-23T10:00:00.123456789Z",
            "2026-11-23T10:00:00.1234567891Z",
            "2026-11-23T10:00:00.Z",
            "2026-11-23T10:00:00+02:00",
            "2026-11-23 10:00:00Z",
            "2026-11-23t10:00:00z",
            "2026-02-29T10:00:00Z",
            "2028-02-29T23:59:59.999999999Z",
            "2026-13-01T00:00:00Z",
            "2026-11-31T00:00:00Z",
            "2026-11-23T24:00:00Z",
            "2026-11-23T10:60:00Z",
            "2016-12-31T23:59:60Z",
            "0000-01-01T00:00:00Z",
            "+2026-11-23T10:00:00Z",
            "2026-1-23T10:00:00Z",
            "2026-11-23T10:00:0Z",
            "yesterday",
            "",
            "Z",
        ] {
            assert_eq!(
                parse(text).map_err(|e| e.to_string()),
                chrono(text),
                "{text:?}"
            );
        }
    }

    proptest! {
        #[test]
        fn agrees_with_chrono_on_any_utc_instant(
            seconds in -62_000_000_000i64..250_000_000_000i64,
            nanos in 0u32..1_000_000_000,
            digits in 0usize..=9,
        ) {
            let instant = DateTime::from_timestamp(seconds, nanos).unwrap();
            let mut text = instant.format("%Y-%m-%dT%H:%M:%S").to_string();
            if digits > 0 {
                let fraction = format!("{nanos:09}");
                text.push('.');
                text.push_str(&fraction[..digits]);
            }
            text.push('Z');
            prop_assert_eq!(parse(&text).map_err(|e| e.to_string()), chrono(&text));
        }
    }
}
