//! Contract terms and their validation: percentage discounts, GPU-hour tier schedules, reserved
//! capacity and a minimum monthly commitment. A [`Contract`] can only be built from valid terms,
//! so pricing never meets a malformed one.

use super::reservation::Reservation;
use super::tiers::{MAX_DISCOUNT_PLACES, TierSchedule, is_valid_discount};
use crate::money::CENT_PLACES;
use crate::pricebook::MAX_PRICE_PLACES;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// A contract as negotiated; [`Contract::new`] validates it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContractTerms {
    /// Percentage off the list amount of every SKU that has no discount of its own.
    pub discount_percent_all_skus: Option<Decimal>,
    /// Per-SKU percentages; each replaces the all-SKU discount for its SKU.
    pub discount_percent_by_sku: BTreeMap<String, Decimal>,
    /// Tier schedules on the month's on-demand GPU-hours, per SKU.
    pub tiers_by_sku: BTreeMap<String, TierSchedule>,
    pub reservations: Vec<Reservation>,
    /// Least the month's charges may come to, in EUR (whole cents).
    pub minimum_monthly_commitment: Option<Decimal>,
}

/// A validated contract. `Contract::default()` has no terms: everything at list price.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contract {
    terms: ContractTerms,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContractError {
    #[error(
        "all-SKU discount {0} % must be within 0..100 with at most {MAX_DISCOUNT_PLACES} decimal places"
    )]
    BadAllSkuDiscount(Decimal),
    #[error(
        "SKU `{sku}`: discount {percent} % must be within 0..100 with at most {MAX_DISCOUNT_PLACES} decimal places"
    )]
    BadSkuDiscount { sku: String, percent: Decimal },
    #[error("reservation of SKU `{0}` reserves no GPU")]
    ReservationWithoutGpus(String),
    #[error(
        "reservation of SKU `{sku}`: price {price} must be positive with at most {MAX_PRICE_PLACES} decimal places"
    )]
    BadReservedPrice { sku: String, price: Decimal },
    #[error("reservation of SKU `{sku}`: term end {end} is not after its start {start}")]
    EmptyReservationTerm {
        sku: String,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    },
    #[error("minimum monthly commitment {0} must be zero or more, in whole cents")]
    BadCommitment(Decimal),
}

impl Contract {
    pub fn new(mut terms: ContractTerms) -> Result<Self, ContractError> {
        if let Some(percent) = terms.discount_percent_all_skus
            && !is_valid_discount(percent)
        {
            return Err(ContractError::BadAllSkuDiscount(percent));
        }
        if let Some((sku, percent)) = terms
            .discount_percent_by_sku
            .iter()
            .find(|(_, percent)| !is_valid_discount(**percent))
        {
            return Err(ContractError::BadSkuDiscount {
                sku: sku.clone(),
                percent: *percent,
            });
        }
        // Tier schedules need no check here: `TierSchedule::new` is the only way to build one.
        for reservation in &terms.reservations {
            validate_reservation(reservation)?;
        }
        if let Some(commitment) = terms.minimum_monthly_commitment
            && (commitment < Decimal::ZERO || commitment.normalize().scale() > CENT_PLACES)
        {
            return Err(ContractError::BadCommitment(commitment));
        }
        // One order for equal contracts, and one order of summation for a SKU's reservations.
        terms.reservations.sort();
        Ok(Self { terms })
    }

    pub fn terms(&self) -> &ContractTerms {
        &self.terms
    }

    /// The discount that applies to `sku`: its own if it has one, else the all-SKU one, else 0.
    pub fn discount_percent(&self, sku: &str) -> Decimal {
        self.terms
            .discount_percent_by_sku
            .get(sku)
            .copied()
            .or(self.terms.discount_percent_all_skus)
            .unwrap_or(Decimal::ZERO)
    }

    pub fn tiers(&self, sku: &str) -> Option<&TierSchedule> {
        self.terms.tiers_by_sku.get(sku)
    }

    /// Whether any term of the contract reserves `sku`: reserved-class usage of it is then paid by
    /// the reservation.
    pub fn reserves(&self, sku: &str) -> bool {
        self.terms
            .reservations
            .iter()
            .any(|reservation| reservation.sku == sku)
    }

    /// Sorted by SKU, then term.
    pub fn reservations(&self) -> &[Reservation] {
        &self.terms.reservations
    }

    /// Zero when the contract has none.
    pub fn minimum_monthly_commitment(&self) -> Decimal {
        self.terms
            .minimum_monthly_commitment
            .unwrap_or(Decimal::ZERO)
    }
}

fn validate_reservation(reservation: &Reservation) -> Result<(), ContractError> {
    let sku = || reservation.sku.clone();
    if reservation.gpus == 0 {
        return Err(ContractError::ReservationWithoutGpus(sku()));
    }
    let price = reservation.price_per_gpu_hour;
    if price <= Decimal::ZERO || price.normalize().scale() > MAX_PRICE_PLACES {
        return Err(ContractError::BadReservedPrice { sku: sku(), price });
    }
    if reservation.end <= reservation.start {
        return Err(ContractError::EmptyReservationTerm {
            sku: sku(),
            start: reservation.start,
            end: reservation.end,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::reservation::tests::reservation;
    use crate::pricebook::tests::at;
    use rust_decimal::dec;

    #[test]
    fn a_sku_discount_replaces_the_all_sku_discount() {
        let contract = Contract::new(ContractTerms {
            discount_percent_all_skus: Some(dec!(5)),
            discount_percent_by_sku: BTreeMap::from([
                ("L40S-48GB".to_owned(), dec!(12)),
                ("A100-80GB".to_owned(), dec!(0)),
            ]),
            ..ContractTerms::default()
        })
        .unwrap();
        assert_eq!(contract.discount_percent("H100-SXM5-80GB"), dec!(5));
        // 12 %, not 5 % + 12 % nor 1 − 0.95 × 0.88.
        assert_eq!(contract.discount_percent("L40S-48GB"), dec!(12));
        // A SKU's own 0 % exempts it from the all-SKU discount.
        assert_eq!(contract.discount_percent("A100-80GB"), dec!(0));
        assert_eq!(
            Contract::default().discount_percent("H100-SXM5-80GB"),
            dec!(0)
        );
    }

    #[test]
    fn discounts_must_be_percentages_within_0_and_100() {
        for percent in [dec!(0), dec!(0.0001), dec!(12.5), dec!(100), dec!(100.0000)] {
            assert!(
                Contract::new(ContractTerms {
                    discount_percent_all_skus: Some(percent),
                    ..ContractTerms::default()
                })
                .is_ok(),
                "{percent}"
            );
        }
        for percent in [
            dec!(-0.0001),
            dec!(100.0001),
            dec!(-5),
            dec!(150),
            dec!(10.00001),
        ] {
            assert_eq!(
                Contract::new(ContractTerms {
                    discount_percent_all_skus: Some(percent),
                    ..ContractTerms::default()
                }),
                Err(ContractError::BadAllSkuDiscount(percent))
            );
            assert_eq!(
                Contract::new(ContractTerms {
                    discount_percent_by_sku: BTreeMap::from([("H100".to_owned(), percent)]),
                    ..ContractTerms::default()
                }),
                Err(ContractError::BadSkuDiscount {
                    sku: "H100".into(),
                    percent
                })
            );
        }
    }

    #[test]
    fn reservations_need_gpus_a_price_and_a_term() {
        let good = reservation(
            "H100",
            4,
            dec!(1.80),
            "2026-11-16T00:00:00Z",
            "2027-05-16T00:00:00Z",
        );
        let with = |reservation: Reservation| {
            Contract::new(ContractTerms {
                reservations: vec![reservation],
                ..ContractTerms::default()
            })
        };
        assert!(with(good.clone()).is_ok());
        assert_eq!(
            with(Reservation {
                gpus: 0,
                ..good.clone()
            }),
            Err(ContractError::ReservationWithoutGpus("H100".into()))
        );
        for price in [dec!(0), dec!(-1.80), dec!(1.8000001)] {
            assert_eq!(
                with(Reservation {
                    price_per_gpu_hour: price,
                    ..good.clone()
                }),
                Err(ContractError::BadReservedPrice {
                    sku: "H100".into(),
                    price
                })
            );
        }
        for end in [good.start, at("2026-11-15T23:59:59Z")] {
            assert!(matches!(
                with(Reservation {
                    end,
                    ..good.clone()
                }),
                Err(ContractError::EmptyReservationTerm { .. })
            ));
        }
    }

    #[test]
    fn the_commitment_is_a_non_negative_amount_in_cents() {
        let with = |amount| {
            Contract::new(ContractTerms {
                minimum_monthly_commitment: Some(amount),
                ..ContractTerms::default()
            })
        };
        for amount in [dec!(0), dec!(6000), dec!(6000.50), dec!(0.01), dec!(10.000)] {
            assert_eq!(with(amount).unwrap().minimum_monthly_commitment(), amount);
        }
        for amount in [dec!(-0.01), dec!(6000.005), dec!(-6000)] {
            assert_eq!(with(amount), Err(ContractError::BadCommitment(amount)));
        }
        assert_eq!(Contract::default().minimum_monthly_commitment(), dec!(0));
    }

    #[test]
    fn reservations_are_kept_in_one_order() {
        let early = reservation(
            "H100",
            2,
            dec!(1.9),
            "2026-01-01T00:00:00Z",
            "2027-01-01T00:00:00Z",
        );
        let late = reservation(
            "H100",
            4,
            dec!(1.8),
            "2026-11-16T00:00:00Z",
            "2027-05-16T00:00:00Z",
        );
        let a100 = reservation(
            "A100",
            1,
            dec!(1.1),
            "2026-06-01T00:00:00Z",
            "2027-01-01T00:00:00Z",
        );
        let contract = |reservations| {
            Contract::new(ContractTerms {
                reservations,
                ..ContractTerms::default()
            })
            .unwrap()
        };
        let one = contract(vec![late.clone(), a100.clone(), early.clone()]);
        let other = contract(vec![early.clone(), late.clone(), a100.clone()]);
        assert_eq!(one, other);
        assert_eq!(one.reservations(), [a100, early, late]);
        assert!(one.reserves("H100") && one.reserves("A100") && !one.reserves("L40S"));
    }
}
