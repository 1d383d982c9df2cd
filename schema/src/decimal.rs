//! Decimals in JSON request and response bodies, for `#[serde(with = ...)]`: always strings, and
//! only plain ones (`"500.00"`: no sign, exponent or spaces; `gpubill_domain::money`), so no value
//! passes through a float or a notation a person would misread. `cents` is money: at most two
//! places in, exactly two out; `plain` is a rate, a percentage or a quantity.

use gpubill_domain::money::{CENT_PLACES, amount_text, parse_plain_decimal};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serializer};

/// Most decimal places of a plain decimal in a request (a price per GPU-hour to the
/// micro-euro, a percentage, hours).
pub const PLAIN_PLACES: u32 = 6;

fn parse<'de, D: Deserializer<'de>>(deserializer: D, places: u32) -> Result<Decimal, D::Error> {
    let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
    parse_plain_decimal(&text, places).map_err(serde::de::Error::custom)
}

/// A plain decimal with at most [`PLAIN_PLACES`] places, written as `Decimal` writes it.
pub mod plain {
    use super::*;

    pub fn serialize<S: Serializer>(value: &Decimal, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
        parse(deserializer, PLAIN_PLACES)
    }
}

/// [`plain`], optional (`null` or absent is `None`).
pub mod plain_option {
    use super::*;

    pub fn serialize<S: Serializer>(
        value: &Option<Decimal>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => serializer.collect_str(value),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Decimal>, D::Error> {
        #[derive(Deserialize)]
        struct Plain(#[serde(with = "plain")] Decimal);
        Ok(Option::<Plain>::deserialize(deserializer)?.map(|Plain(value)| value))
    }
}

/// Money: at most two places in, exactly two out (`"1000000000.00"`, never `"-0"`).
pub mod cents {
    use super::*;

    pub fn serialize<S: Serializer>(value: &Decimal, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&amount_text(*value))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
        parse(deserializer, CENT_PLACES)
    }
}

/// [`cents`], optional.
pub mod cents_option {
    use super::*;

    pub fn serialize<S: Serializer>(
        value: &Option<Decimal>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => serializer.serialize_str(&amount_text(*value)),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Decimal>, D::Error> {
        #[derive(Deserialize)]
        struct Cents(#[serde(with = "cents")] Decimal);
        Ok(Option::<Cents>::deserialize(deserializer)?.map(|Cents(value)| value))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use rust_decimal::dec;
    use serde::Serialize;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Body {
        #[serde(with = "cents")]
        amount: Decimal,
        #[serde(default, with = "plain_option")]
        percent: Option<Decimal>,
    }

    #[test]
    fn money_is_a_plain_string_of_at_most_two_places_and_is_written_with_two() {
        let body: Body = serde_json::from_str(r#"{"amount": "1000000000"}"#).unwrap();
        assert_eq!(body.amount, dec!(1000000000));
        assert_eq!(
            serde_json::to_string(&body).unwrap(),
            r#"{"amount":"1000000000.00","percent":null}"#
        );
        for refused in [
            r#"{"amount": "1e9"}"#,
            r#"{"amount": "-5.00"}"#,
            r#"{"amount": "5.001"}"#,
            r#"{"amount": 5}"#,
            r#"{"amount": "5", "percent": "1e2"}"#,
        ] {
            assert!(serde_json::from_str::<Body>(refused).is_err(), "{refused}");
        }
        let body: Body = serde_json::from_str(r#"{"amount": "5", "percent": "12.5"}"#).unwrap();
        assert_eq!(body.percent, Some(dec!(12.5)));
    }
}
