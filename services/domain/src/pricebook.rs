//! The versioned price book: per SKU, list prices per GPU-hour that take effect at given instants.
//! Usage is priced by the version in force at each instant of its interval.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// One price of a SKU, in force from `effective_from` until the next version takes over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceVersion {
    pub effective_from: DateTime<Utc>,
    /// List price per GPU-hour in the book's currency.
    pub price_per_gpu_hour: Decimal,
}

/// Everything the book knows about one SKU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkuPrices {
    pub sku: String,
    pub description: String,
    /// Sorted by `effective_from`, strictly increasing (checked by [`PriceBook::new`]).
    pub versions: Vec<PriceVersion>,
}

/// A validated price book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceBook {
    currency: String,
    skus: BTreeMap<String, SkuPrices>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceBookError {
    #[error("currency `{0}` is not a three-letter ISO 4217 code")]
    BadCurrency(String),
    #[error("the price book lists no SKU")]
    Empty,
    #[error("SKU `{0}` is listed twice")]
    DuplicateSku(String),
    #[error("SKU `{0}` has an empty or malformed id (letters, digits, '.', '-' only)")]
    BadSkuId(String),
    #[error("SKU `{0}` has no price version")]
    NoVersion(String),
    #[error("SKU `{sku}`: versions must have strictly increasing effective_from (at {at})")]
    UnorderedVersions { sku: String, at: DateTime<Utc> },
    #[error("SKU `{sku}`: price {price} must be positive with at most 6 decimal places")]
    BadPrice { sku: String, price: Decimal },
}

/// Most decimal places a list price may carry; keeps amounts far inside `Decimal`'s 28 digits.
pub const MAX_PRICE_PLACES: u32 = 6;

impl PriceBook {
    pub fn new(currency: &str, skus: Vec<SkuPrices>) -> Result<Self, PriceBookError> {
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(PriceBookError::BadCurrency(currency.to_owned()));
        }
        if skus.is_empty() {
            return Err(PriceBookError::Empty);
        }
        let mut by_id = BTreeMap::new();
        for sku in skus {
            validate_sku(&sku)?;
            if by_id.contains_key(&sku.sku) {
                return Err(PriceBookError::DuplicateSku(sku.sku));
            }
            by_id.insert(sku.sku.clone(), sku);
        }
        Ok(Self {
            currency: currency.to_owned(),
            skus: by_id,
        })
    }

    pub fn currency(&self) -> &str {
        &self.currency
    }

    pub fn sku(&self, sku: &str) -> Option<&SkuPrices> {
        self.skus.get(sku)
    }

    pub fn contains_sku(&self, sku: &str) -> bool {
        self.skus.contains_key(sku)
    }
}

impl SkuPrices {
    /// The version in force at `instant`, if the SKU had a price then.
    pub fn version_at(&self, instant: DateTime<Utc>) -> Option<&PriceVersion> {
        self.versions
            .iter()
            .rev()
            .find(|version| version.effective_from <= instant)
    }

    /// Instants strictly inside `(start, end)` where the price changes.
    pub fn changes_within(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        self.versions
            .iter()
            .map(|version| version.effective_from)
            .filter(move |at| *at > start && *at < end)
    }
}

fn validate_sku(sku: &SkuPrices) -> Result<(), PriceBookError> {
    let id_ok = !sku.sku.is_empty()
        && sku.sku.len() <= 64
        && sku
            .sku
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
    if !id_ok {
        return Err(PriceBookError::BadSkuId(sku.sku.clone()));
    }
    if sku.versions.is_empty() {
        return Err(PriceBookError::NoVersion(sku.sku.clone()));
    }
    for pair in sku.versions.windows(2) {
        if pair[1].effective_from <= pair[0].effective_from {
            return Err(PriceBookError::UnorderedVersions {
                sku: sku.sku.clone(),
                at: pair[1].effective_from,
            });
        }
    }
    for version in &sku.versions {
        let price = version.price_per_gpu_hour;
        if price <= Decimal::ZERO || price.normalize().scale() > MAX_PRICE_PLACES {
            return Err(PriceBookError::BadPrice {
                sku: sku.sku.clone(),
                price,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rust_decimal::dec;

    pub(crate) fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    pub(crate) fn h100(versions: &[(&str, Decimal)]) -> SkuPrices {
        SkuPrices {
            sku: "H100-SXM5-80GB".into(),
            description: "NVIDIA H100 SXM5 80GB".into(),
            versions: versions
                .iter()
                .map(|(from, price)| PriceVersion {
                    effective_from: at(from),
                    price_per_gpu_hour: *price,
                })
                .collect(),
        }
    }

    #[test]
    fn finds_the_version_in_force() {
        let sku = h100(&[
            ("2026-01-01T00:00:00Z", dec!(2.49)),
            ("2026-11-15T12:00:00Z", dec!(2.19)),
        ]);
        assert_eq!(sku.version_at(at("2025-12-31T23:59:59Z")), None);
        assert_eq!(
            sku.version_at(at("2026-11-15T11:59:59Z"))
                .unwrap()
                .price_per_gpu_hour,
            dec!(2.49)
        );
        assert_eq!(
            sku.version_at(at("2026-11-15T12:00:00Z"))
                .unwrap()
                .price_per_gpu_hour,
            dec!(2.19)
        );
    }

    #[test]
    fn rejects_invalid_books() {
        let good = h100(&[("2026-01-01T00:00:00Z", dec!(2.49))]);
        assert_eq!(
            PriceBook::new("eur", vec![good.clone()]),
            Err(PriceBookError::BadCurrency("eur".into()))
        );
        assert_eq!(PriceBook::new("EUR", vec![]), Err(PriceBookError::Empty));
        assert!(matches!(
            PriceBook::new("EUR", vec![good.clone(), good.clone()]),
            Err(PriceBookError::DuplicateSku(_))
        ));
        let unordered = h100(&[
            ("2026-02-01T00:00:00Z", dec!(2.49)),
            ("2026-01-01T00:00:00Z", dec!(2.19)),
        ]);
        assert!(matches!(
            PriceBook::new("EUR", vec![unordered]),
            Err(PriceBookError::UnorderedVersions { .. })
        ));
        for price in [dec!(0), dec!(-1), dec!(1.0000001)] {
            let bad = h100(&[("2026-01-01T00:00:00Z", price)]);
            assert!(
                matches!(
                    PriceBook::new("EUR", vec![bad]),
                    Err(PriceBookError::BadPrice { .. })
                ),
                "{price}"
            );
        }
        let mut bad_id = good;
        bad_id.sku = "H100 SXM".into();
        assert!(matches!(
            PriceBook::new("EUR", vec![bad_id]),
            Err(PriceBookError::BadSkuId(_))
        ));
    }
}
