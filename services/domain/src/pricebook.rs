//! The versioned price book: per SKU, list prices per GPU-hour for each price class (on demand,
//! spot, reserved) that take effect at given instants. Usage is priced by the version in force at
//! each instant of its interval, at the price of the class the usage was sold under.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::{fmt, str::FromStr};

/// How a GPU was sold for a stretch of usage. The scheduler labels usage; rating keeps the label.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PriceClass {
    /// The default: usage that does not say how it was sold was sold on demand, which is what
    /// every usage event meant before classes existed.
    #[default]
    OnDemand,
    Spot,
    /// Usage placed on the tenant's reserved capacity of the SKU.
    Reserved,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown price class `{0}` (expected on_demand, spot or reserved)")]
pub struct UnknownPriceClass(pub String);

impl PriceClass {
    pub const ALL: [PriceClass; 3] = [PriceClass::OnDemand, PriceClass::Spot, PriceClass::Reserved];

    /// Stable code used in storage and on the wire.
    pub fn code(self) -> &'static str {
        match self {
            PriceClass::OnDemand => "on_demand",
            PriceClass::Spot => "spot",
            PriceClass::Reserved => "reserved",
        }
    }

    /// Position in [`PriceClass::ALL`], where a version keeps this class's price.
    fn index(self) -> usize {
        match self {
            PriceClass::OnDemand => 0,
            PriceClass::Spot => 1,
            PriceClass::Reserved => 2,
        }
    }
}

impl fmt::Display for PriceClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for PriceClass {
    type Err = UnknownPriceClass;

    fn from_str(code: &str) -> Result<Self, Self::Err> {
        PriceClass::ALL
            .into_iter()
            .find(|class| class.code() == code)
            .ok_or_else(|| UnknownPriceClass(code.to_owned()))
    }
}

/// The prices of a SKU in force from `effective_from` until the next version takes over: one list
/// price per GPU-hour, in the book's currency, for every price class. A version always prices all
/// classes ([`PriceVersion::new`] refuses one that does not), so rating never meets a class
/// without a price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceVersion {
    pub effective_from: DateTime<Utc>,
    /// Indexed like [`PriceClass::ALL`].
    prices: [Decimal; PriceClass::ALL.len()],
}

/// Why the prices given for a version do not make one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceVersionError {
    #[error(
        "the version from {effective_from} has no {class} price (every version prices on_demand, spot and reserved)"
    )]
    MissingClass {
        effective_from: DateTime<Utc>,
        class: PriceClass,
    },
    #[error("the version from {effective_from} prices {class} twice")]
    DuplicateClass {
        effective_from: DateTime<Utc>,
        class: PriceClass,
    },
}

impl PriceVersion {
    /// A version from its list price per class; each class must be priced exactly once. Whether
    /// the prices themselves are acceptable is checked with the rest of the book by
    /// [`PriceBook::new`].
    pub fn new(
        effective_from: DateTime<Utc>,
        prices: impl IntoIterator<Item = (PriceClass, Decimal)>,
    ) -> Result<Self, PriceVersionError> {
        let mut given: [Option<Decimal>; PriceClass::ALL.len()] = [None; PriceClass::ALL.len()];
        for (class, price) in prices {
            let slot = &mut given[class.index()];
            if slot.is_some() {
                return Err(PriceVersionError::DuplicateClass {
                    effective_from,
                    class,
                });
            }
            *slot = Some(price);
        }
        let mut complete = [Decimal::ZERO; PriceClass::ALL.len()];
        for class in PriceClass::ALL {
            complete[class.index()] =
                given[class.index()].ok_or(PriceVersionError::MissingClass {
                    effective_from,
                    class,
                })?;
        }
        Ok(Self {
            effective_from,
            prices: complete,
        })
    }

    /// List price per GPU-hour of `class` under this version.
    pub fn price(&self, class: PriceClass) -> Decimal {
        self.prices[class.index()]
    }

    /// Every class with its price, in [`PriceClass::ALL`] order.
    pub fn prices(&self) -> impl Iterator<Item = (PriceClass, Decimal)> + '_ {
        PriceClass::ALL
            .into_iter()
            .map(|class| (class, self.price(class)))
    }
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
    #[error(
        "SKU `{sku}`: {class} price {price} from {effective_from} must be positive with at most 6 decimal places"
    )]
    BadPrice {
        sku: String,
        class: PriceClass,
        effective_from: DateTime<Utc>,
        price: Decimal,
    },
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

    /// Every SKU, by id.
    pub fn skus(&self) -> impl Iterator<Item = &SkuPrices> {
        self.skus.values()
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
        for (class, price) in version.prices() {
            if price <= Decimal::ZERO || price.normalize().scale() > MAX_PRICE_PLACES {
                return Err(PriceBookError::BadPrice {
                    sku: sku.sku.clone(),
                    class,
                    effective_from: version.effective_from,
                    price,
                });
            }
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

    /// A version from `from` with its on-demand, spot and reserved prices.
    pub(crate) fn version(from: &str, [on_demand, spot, reserved]: [Decimal; 3]) -> PriceVersion {
        PriceVersion::new(
            at(from),
            [
                (PriceClass::OnDemand, on_demand),
                (PriceClass::Spot, spot),
                (PriceClass::Reserved, reserved),
            ],
        )
        .unwrap()
    }

    /// The H100 SXM5 with versions of (effective from, [on demand, spot, reserved]).
    pub(crate) fn h100(versions: &[(&str, [Decimal; 3])]) -> SkuPrices {
        SkuPrices {
            sku: "H100-SXM5-80GB".into(),
            description: "NVIDIA H100 SXM5 80GB".into(),
            versions: versions
                .iter()
                .map(|(from, prices)| version(from, *prices))
                .collect(),
        }
    }

    #[test]
    fn price_class_codes_are_stable_and_round_trip() {
        let codes: Vec<&str> = PriceClass::ALL.iter().map(|class| class.code()).collect();
        assert_eq!(codes, ["on_demand", "spot", "reserved"]);
        for class in PriceClass::ALL {
            assert_eq!(class.to_string().parse::<PriceClass>(), Ok(class));
        }
        for code in ["", "OnDemand", "on-demand", "RESERVED", "spot "] {
            assert_eq!(
                code.parse::<PriceClass>(),
                Err(UnknownPriceClass(code.to_owned()))
            );
        }
        assert_eq!(PriceClass::default(), PriceClass::OnDemand);
    }

    #[test]
    fn finds_the_version_in_force() {
        let sku = h100(&[
            ("2026-01-01T00:00:00Z", [dec!(2.49), dec!(1.25), dec!(1.89)]),
            ("2026-11-15T12:00:00Z", [dec!(2.19), dec!(1.09), dec!(1.69)]),
        ]);
        assert_eq!(sku.version_at(at("2025-12-31T23:59:59Z")), None);
        let before = sku.version_at(at("2026-11-15T11:59:59Z")).unwrap();
        assert_eq!(before.price(PriceClass::OnDemand), dec!(2.49));
        assert_eq!(before.price(PriceClass::Spot), dec!(1.25));
        assert_eq!(before.price(PriceClass::Reserved), dec!(1.89));
        let after = sku.version_at(at("2026-11-15T12:00:00Z")).unwrap();
        assert_eq!(
            after.prices().collect::<Vec<_>>(),
            [
                (PriceClass::OnDemand, dec!(2.19)),
                (PriceClass::Spot, dec!(1.09)),
                (PriceClass::Reserved, dec!(1.69)),
            ]
        );
    }

    #[test]
    fn a_version_must_price_every_class_once() {
        let from = at("2026-01-01T00:00:00Z");
        assert_eq!(
            PriceVersion::new(
                from,
                [
                    (PriceClass::OnDemand, dec!(2.49)),
                    (PriceClass::Reserved, dec!(1.89)),
                ]
            ),
            Err(PriceVersionError::MissingClass {
                effective_from: from,
                class: PriceClass::Spot
            })
        );
        assert!(matches!(
            PriceVersion::new(from, []),
            Err(PriceVersionError::MissingClass {
                class: PriceClass::OnDemand,
                ..
            })
        ));
        assert_eq!(
            PriceVersion::new(
                from,
                [
                    (PriceClass::Spot, dec!(1.25)),
                    (PriceClass::OnDemand, dec!(2.49)),
                    (PriceClass::Spot, dec!(1.20)),
                    (PriceClass::Reserved, dec!(1.89)),
                ]
            ),
            Err(PriceVersionError::DuplicateClass {
                effective_from: from,
                class: PriceClass::Spot
            })
        );
        // The order the classes are given in does not matter.
        let shuffled = PriceVersion::new(
            from,
            [
                (PriceClass::Reserved, dec!(1.89)),
                (PriceClass::OnDemand, dec!(2.49)),
                (PriceClass::Spot, dec!(1.25)),
            ],
        )
        .unwrap();
        assert_eq!(
            shuffled,
            version("2026-01-01T00:00:00Z", [dec!(2.49), dec!(1.25), dec!(1.89)])
        );
    }

    #[test]
    fn rejects_invalid_books() {
        let good = h100(&[("2026-01-01T00:00:00Z", [dec!(2.49), dec!(1.25), dec!(1.89)])]);
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
            ("2026-02-01T00:00:00Z", [dec!(2.49), dec!(1.25), dec!(1.89)]),
            ("2026-01-01T00:00:00Z", [dec!(2.19), dec!(1.09), dec!(1.69)]),
        ]);
        assert!(matches!(
            PriceBook::new("EUR", vec![unordered]),
            Err(PriceBookError::UnorderedVersions { .. })
        ));
        // Every class's price is checked, not only the on-demand one.
        for (index, class) in PriceClass::ALL.into_iter().enumerate() {
            for price in [dec!(0), dec!(-1), dec!(1.0000001)] {
                let mut prices = [dec!(2.49), dec!(1.25), dec!(1.89)];
                prices[index] = price;
                let bad = h100(&[("2026-01-01T00:00:00Z", prices)]);
                assert_eq!(
                    PriceBook::new("EUR", vec![bad]),
                    Err(PriceBookError::BadPrice {
                        sku: "H100-SXM5-80GB".into(),
                        class,
                        effective_from: at("2026-01-01T00:00:00Z"),
                        price
                    }),
                    "{class} {price}"
                );
            }
        }
        let mut bad_id = good;
        bad_id.sku = "H100 SXM".into();
        assert!(matches!(
            PriceBook::new("EUR", vec![bad_id]),
            Err(PriceBookError::BadSkuId(_))
        ));
    }
}
