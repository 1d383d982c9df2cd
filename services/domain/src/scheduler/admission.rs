//! Admission under a tenant's quota: concurrent GPUs per SKU, GPU-hours per month and a money
//! budget per month. A request is admitted only if all three hold counting it; admission puts a
//! hold of `units × maximum hours × unit price` (rounded up to the cent) on the budget. A refusal
//! names the limit with its figures: cap, used, requested, remaining.

use rust_decimal::{Decimal, RoundingStrategy};
use std::collections::BTreeMap;

use crate::money::{CENT_PLACES, SECONDS_PER_HOUR};

/// A tenant's limits; a missing limit does not constrain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuotaLimits {
    /// Maximum live GPUs (or MIG instances) per SKU.
    pub concurrent: BTreeMap<String, u32>,
    pub gpu_hours_per_month: Option<Decimal>,
    /// EUR per calendar month.
    pub budget_per_month: Option<Decimal>,
}

/// What the tenant already uses, at the instant of the decision.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantLoad {
    /// Live units per SKU.
    pub concurrent: BTreeMap<String, u32>,
    /// Metered GPU-hours this month.
    pub gpu_hours_used: Decimal,
    /// Hours left to run on the tenant's live allocations (units × time to their maximum end).
    pub gpu_hours_running: Decimal,
    /// Spend this month from the ledger.
    pub spend: Decimal,
    /// Open holds, less what their allocations have metered so far.
    pub open_holds: Decimal,
}

/// The request as admission sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdmissionAsk {
    pub sku: String,
    pub units: u32,
    pub max_duration_seconds: i64,
    /// EUR per unit-hour for the request's class.
    pub unit_price: Decimal,
}

/// An admitted request: its GPU-hours and the hold to place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    pub gpu_hours: Decimal,
    pub hold: Decimal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefusalReason {
    ConcurrentGpus,
    GpuHours,
    Budget,
}

impl RefusalReason {
    /// Machine-readable code: `concurrent_gpus`, `gpu_hours`, `budget`.
    pub fn code(self) -> &'static str {
        match self {
            RefusalReason::ConcurrentGpus => "concurrent_gpus",
            RefusalReason::GpuHours => "gpu_hours",
            RefusalReason::Budget => "budget",
        }
    }
}

/// The first limit a request would exceed, with its figures in the limit's unit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: cap {cap}, used {used}, requested {requested}, remaining {remaining}", reason.code())]
pub struct Refusal {
    pub reason: RefusalReason,
    pub cap: Decimal,
    pub used: Decimal,
    pub requested: Decimal,
    pub remaining: Decimal,
}

/// Admits the ask or names the first limit it exceeds (checked in the order concurrent GPUs,
/// GPU-hours, budget).
///
/// - Concurrent: `used + units <= cap` for the ask's SKU, `used` being the tenant's live units of
///   that SKU.
/// - GPU-hours: the ask's `units × max_duration_seconds / 3600` hours, with
///   `used = gpu_hours_used + gpu_hours_running`.
/// - Budget: the hold, `units × max_duration_seconds × unit_price / 3600` rounded up to the cent,
///   with `used = spend + open_holds`.
///
/// Reaching a cap exactly is admitted; `remaining` is `cap − used`, never below zero. The ask is
/// taken literally: the service refuses zero units and non-positive durations before asking.
/// Figures too large for a `Decimal` saturate at its maximum, which any cap refuses.
pub fn admit(
    limits: &QuotaLimits,
    load: &TenantLoad,
    ask: &AdmissionAsk,
) -> Result<Admission, Refusal> {
    let units = Decimal::from(ask.units);
    let duration = Decimal::from(ask.max_duration_seconds);
    let unit_seconds = saturating_mul(units, duration);
    let gpu_hours = unit_seconds
        .checked_div(SECONDS_PER_HOUR)
        .unwrap_or(Decimal::MAX);
    // Multiplied before dividing, so a hold that is a whole number of cents is computed exactly
    // and not pushed up a cent by the rounding of a recurring hour fraction.
    let exact_cost = saturating_mul(unit_seconds, ask.unit_price)
        .checked_div(SECONDS_PER_HOUR)
        .unwrap_or(Decimal::MAX);
    // Rounded up, away from zero: an authorization never holds less than the request may cost,
    // so running to its maximum duration can never spend past the budget the hold was checked
    // against.
    let mut hold = exact_cost.round_dp_with_strategy(CENT_PLACES, RoundingStrategy::AwayFromZero);
    hold.rescale(CENT_PLACES);

    if let Some(&cap) = limits.concurrent.get(&ask.sku) {
        let used = load.concurrent.get(&ask.sku).copied().unwrap_or(0);
        if u64::from(used) + u64::from(ask.units) > u64::from(cap) {
            return Err(Refusal {
                reason: RefusalReason::ConcurrentGpus,
                cap: Decimal::from(cap),
                used: Decimal::from(used),
                requested: units,
                remaining: Decimal::from(cap.saturating_sub(used)),
            });
        }
    }
    if let Some(cap) = limits.gpu_hours_per_month {
        let used = saturating_add(load.gpu_hours_used, load.gpu_hours_running);
        check(RefusalReason::GpuHours, cap, used, gpu_hours)?;
    }
    if let Some(cap) = limits.budget_per_month {
        let used = saturating_add(load.spend, load.open_holds);
        check(RefusalReason::Budget, cap, used, hold)?;
    }
    Ok(Admission { gpu_hours, hold })
}

/// Refuses `requested` if `used + requested` exceeds `cap`.
fn check(
    reason: RefusalReason,
    cap: Decimal,
    used: Decimal,
    requested: Decimal,
) -> Result<(), Refusal> {
    if saturating_add(used, requested) > cap {
        return Err(Refusal {
            reason,
            cap,
            used,
            requested,
            remaining: cap
                .checked_sub(used)
                .unwrap_or(if cap > used {
                    Decimal::MAX
                } else {
                    Decimal::ZERO
                })
                .max(Decimal::ZERO),
        });
    }
    Ok(())
}

fn saturating_mul(a: Decimal, b: Decimal) -> Decimal {
    a.checked_mul(b)
        .unwrap_or(if a.is_sign_negative() != b.is_sign_negative() {
            Decimal::MIN
        } else {
            Decimal::MAX
        })
}

fn saturating_add(a: Decimal, b: Decimal) -> Decimal {
    a.checked_add(b).unwrap_or(if a.is_sign_negative() {
        Decimal::MIN
    } else {
        Decimal::MAX
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal::dec;

    const H100: &str = "H100-SXM5-80GB";

    fn ask(units: u32, seconds: i64, price: Decimal) -> AdmissionAsk {
        AdmissionAsk {
            sku: H100.into(),
            units,
            max_duration_seconds: seconds,
            unit_price: price,
        }
    }

    fn limits(
        concurrent: Option<u32>,
        hours: Option<Decimal>,
        budget: Option<Decimal>,
    ) -> QuotaLimits {
        QuotaLimits {
            concurrent: concurrent
                .into_iter()
                .map(|cap| (H100.to_owned(), cap))
                .collect(),
            gpu_hours_per_month: hours,
            budget_per_month: budget,
        }
    }

    fn load(
        live: u32,
        hours_used: Decimal,
        hours_running: Decimal,
        spend: Decimal,
        holds: Decimal,
    ) -> TenantLoad {
        TenantLoad {
            concurrent: [(H100.to_owned(), live)].into(),
            gpu_hours_used: hours_used,
            gpu_hours_running: hours_running,
            spend,
            open_holds: holds,
        }
    }

    #[test]
    fn refusal_codes_are_stable() {
        assert_eq!(RefusalReason::ConcurrentGpus.code(), "concurrent_gpus");
        assert_eq!(RefusalReason::GpuHours.code(), "gpu_hours");
        assert_eq!(RefusalReason::Budget.code(), "budget");
    }

    #[test]
    fn without_limits_everything_is_admitted_with_its_hours_and_hold() {
        let admitted = admit(
            &QuotaLimits::default(),
            &TenantLoad::default(),
            &ask(8, 5400, dec!(2.49)),
        )
        .unwrap();
        assert_eq!(admitted.gpu_hours, dec!(12));
        assert_eq!(admitted.hold, dec!(29.88));
        let whole_euros = admit(
            &QuotaLimits::default(),
            &TenantLoad::default(),
            &ask(2, 3600, dec!(3)),
        )
        .unwrap();
        assert_eq!(whole_euros.hold.to_string(), "6.00");
    }

    #[test]
    fn reaching_the_concurrent_cap_exactly_is_admitted_and_one_more_is_refused() {
        let limits = limits(Some(16), None, None);
        assert!(
            admit(
                &limits,
                &load(8, dec!(0), dec!(0), dec!(0), dec!(0)),
                &ask(8, 3600, dec!(1))
            )
            .is_ok()
        );
        assert_eq!(
            admit(
                &limits,
                &load(9, dec!(0), dec!(0), dec!(0), dec!(0)),
                &ask(8, 3600, dec!(1))
            ),
            Err(Refusal {
                reason: RefusalReason::ConcurrentGpus,
                cap: dec!(16),
                used: dec!(9),
                requested: dec!(8),
                remaining: dec!(7),
            })
        );
    }

    #[test]
    fn a_sku_without_concurrent_cap_and_a_tenant_without_load_are_unconstrained_and_zero() {
        let other_sku = QuotaLimits {
            concurrent: [("L40S-48GB".to_owned(), 1)].into(),
            ..QuotaLimits::default()
        };
        assert!(admit(&other_sku, &TenantLoad::default(), &ask(64, 3600, dec!(1))).is_ok());
        let capped = limits(Some(4), None, None);
        let refusal = admit(&capped, &TenantLoad::default(), &ask(5, 3600, dec!(1))).unwrap_err();
        assert_eq!((refusal.used, refusal.remaining), (dec!(0), dec!(4)));
    }

    #[test]
    fn remaining_concurrent_units_never_go_below_zero() {
        let refusal = admit(
            &limits(Some(4), None, None),
            &load(6, dec!(0), dec!(0), dec!(0), dec!(0)),
            &ask(1, 60, dec!(1)),
        )
        .unwrap_err();
        assert_eq!(refusal.remaining, dec!(0));
    }

    #[test]
    fn gpu_hours_count_used_and_running_hours_and_admit_the_cap_exactly() {
        let limits = limits(None, Some(dec!(100)), None);
        let load = load(0, dec!(60.5), dec!(27.5), dec!(0), dec!(0));
        // 4 GPUs × 3 h = 12 h: 88 + 12 = 100, exactly the cap.
        let admitted = admit(&limits, &load, &ask(4, 3 * 3600, dec!(1))).unwrap();
        assert_eq!(admitted.gpu_hours, dec!(12));
        assert_eq!(
            admit(&limits, &load, &ask(4, 3 * 3600 + 1, dec!(1)))
                .unwrap_err()
                .reason,
            RefusalReason::GpuHours
        );
        assert_eq!(
            admit(&limits, &load, &ask(5, 3 * 3600, dec!(1))),
            Err(Refusal {
                reason: RefusalReason::GpuHours,
                cap: dec!(100),
                used: dec!(88.0),
                requested: dec!(15),
                remaining: dec!(12.0),
            })
        );
    }

    #[test]
    fn a_budget_reached_to_the_cent_is_admitted_and_one_cent_over_is_refused() {
        let limits = limits(None, None, Some(dec!(1000)));
        // 8 × 2 h × 2.49 = 39.84; spend + holds = 960.16.
        let at_cap = load(0, dec!(0), dec!(0), dec!(900.16), dec!(60));
        let admitted = admit(&limits, &at_cap, &ask(8, 7200, dec!(2.49))).unwrap();
        assert_eq!(admitted.hold, dec!(39.84));
        let one_cent_over = load(0, dec!(0), dec!(0), dec!(900.17), dec!(60));
        assert_eq!(
            admit(&limits, &one_cent_over, &ask(8, 7200, dec!(2.49))),
            Err(Refusal {
                reason: RefusalReason::Budget,
                cap: dec!(1000),
                used: dec!(960.17),
                requested: dec!(39.84),
                remaining: dec!(39.83),
            })
        );
    }

    #[test]
    fn remaining_budget_never_goes_below_zero() {
        let refusal = admit(
            &limits(None, None, Some(dec!(10))),
            &load(0, dec!(0), dec!(0), dec!(12), dec!(0)),
            &ask(1, 60, dec!(1)),
        )
        .unwrap_err();
        assert_eq!(refusal.remaining, dec!(0));
        assert_eq!(refusal.used, dec!(12));
    }

    #[test]
    fn the_hold_is_rounded_up_to_the_cent() {
        // 1 GPU × 1 s × 2.49 / h = 0.000691666…: held as a whole cent.
        let admitted = admit(
            &QuotaLimits::default(),
            &TenantLoad::default(),
            &ask(1, 1, dec!(2.49)),
        )
        .unwrap();
        assert_eq!(admitted.hold, dec!(0.01));
        // 1 × 3600 s × 2.0701 / h = 2.0701: nearest would be 2.07.
        let admitted = admit(
            &QuotaLimits::default(),
            &TenantLoad::default(),
            &ask(1, 3600, dec!(2.0701)),
        )
        .unwrap();
        assert_eq!(admitted.hold, dec!(2.08));
        // 1 × 1000 s × 1.53 / h = 0.425 exactly: half-even would hold 0.42.
        let admitted = admit(
            &QuotaLimits::default(),
            &TenantLoad::default(),
            &ask(1, 1000, dec!(1.53)),
        )
        .unwrap();
        assert_eq!(admitted.hold, dec!(0.43));
    }

    #[test]
    fn a_hold_of_whole_cents_is_not_pushed_up_by_a_recurring_hour_fraction() {
        // 1 s is 1/3600 h, which a Decimal cannot hold exactly; 1 s at 36 EUR/h is 0.01 exactly.
        let admitted = admit(
            &QuotaLimits::default(),
            &TenantLoad::default(),
            &ask(1, 1, dec!(36)),
        )
        .unwrap();
        assert_eq!(admitted.hold, dec!(0.01));
    }

    #[test]
    fn limits_are_checked_concurrent_then_hours_then_budget() {
        let all = limits(Some(1), Some(dec!(1)), Some(dec!(1)));
        let heavy = ask(2, 7200, dec!(10));
        assert_eq!(
            admit(&all, &TenantLoad::default(), &heavy)
                .unwrap_err()
                .reason,
            RefusalReason::ConcurrentGpus
        );
        let hours_and_budget = limits(None, Some(dec!(1)), Some(dec!(1)));
        assert_eq!(
            admit(&hours_and_budget, &TenantLoad::default(), &heavy)
                .unwrap_err()
                .reason,
            RefusalReason::GpuHours
        );
        let budget = limits(None, None, Some(dec!(1)));
        assert_eq!(
            admit(&budget, &TenantLoad::default(), &heavy)
                .unwrap_err()
                .reason,
            RefusalReason::Budget
        );
    }

    #[test]
    fn the_refusal_message_names_the_limit_and_its_figures() {
        let refusal = admit(
            &limits(Some(2), None, None),
            &TenantLoad::default(),
            &ask(3, 60, dec!(1)),
        )
        .unwrap_err();
        assert_eq!(
            refusal.to_string(),
            "concurrent_gpus: cap 2, used 0, requested 3, remaining 2"
        );
    }

    #[test]
    fn absurd_durations_saturate_and_are_refused_by_any_budget() {
        let refusal = admit(
            &limits(None, None, Some(dec!(1000000))),
            &TenantLoad::default(),
            &ask(u32::MAX, i64::MAX, dec!(100)),
        )
        .unwrap_err();
        assert_eq!(refusal.reason, RefusalReason::Budget);
    }

    fn cents() -> impl Strategy<Value = Decimal> {
        (0i64..2_000_000).prop_map(|c| Decimal::new(c, 2))
    }

    fn hours() -> impl Strategy<Value = Decimal> {
        (0i64..200_000).prop_map(|h| Decimal::new(h, 3))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// An admitted ask never takes any limit past its cap; an ask within every limit is
        /// admitted, with a hold covering its cost by less than a cent.
        #[test]
        fn admit_never_exceeds_a_cap_and_admits_whatever_fits(
            caps in (prop::option::of(0u32..64), prop::option::of(hours()), prop::option::of(cents())),
            used in (0u32..64, hours(), hours(), cents(), cents()),
            units in 1u32..16,
            seconds in 1i64..(7 * 24 * 3600),
            price in (1i64..100_000).prop_map(|p| Decimal::new(p, 4)),
        ) {
            let limits = limits(caps.0, caps.1, caps.2);
            let load = load(used.0, used.1, used.2, used.3, used.4);
            let ask = ask(units, seconds, price);
            let hours = Decimal::from(units) * Decimal::from(seconds) / dec!(3600);
            let cost = Decimal::from(units) * Decimal::from(seconds) * price / dec!(3600);

            let concurrent_fits = caps.0.is_none_or(|cap| used.0 + units <= cap);
            let hours_fit = caps.1.is_none_or(|cap| used.1 + used.2 + hours <= cap);
            let hold = (cost * dec!(100)).ceil() / dec!(100);
            let budget_fits = caps.2.is_none_or(|cap| used.3 + used.4 + hold <= cap);

            match admit(&limits, &load, &ask) {
                Ok(admission) => {
                    prop_assert!(concurrent_fits && hours_fit && budget_fits);
                    prop_assert_eq!(admission.gpu_hours, hours);
                    prop_assert!(admission.hold >= cost && admission.hold - cost < dec!(0.01));
                    prop_assert_eq!(admission.hold, hold);
                }
                Err(refusal) => {
                    prop_assert!(!(concurrent_fits && hours_fit && budget_fits));
                    prop_assert!(refusal.used + refusal.requested > refusal.cap);
                    prop_assert!(refusal.remaining >= Decimal::ZERO);
                    let first = if !concurrent_fits {
                        RefusalReason::ConcurrentGpus
                    } else if !hours_fit {
                        RefusalReason::GpuHours
                    } else {
                        RefusalReason::Budget
                    };
                    prop_assert_eq!(refusal.reason, first);
                }
            }
        }
    }
}
