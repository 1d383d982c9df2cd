//! GPU-hour tier schedules: bands of monthly GPU-hours, each with a percentage off the list
//! amount, applied graduated (each band's hours at its own discount) or by volume (one discount,
//! chosen by the month's total, for all hours).

use crate::money::SECONDS_PER_HOUR;
use rust_decimal::Decimal;

/// Most decimal places a discount percentage may carry (e.g. 12.3456 %); keeps the products of
/// discounts, GPU-seconds and list amounts far inside `Decimal`'s 28 digits.
pub const MAX_DISCOUNT_PLACES: u32 = 4;

/// How a tier schedule's bands apply to a month's GPU-hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TierKind {
    /// Each band's hours get that band's discount.
    Graduated,
    /// The band reached by the month's total hours gives its discount to all of them.
    Volume,
}

/// One band of a tier schedule: from `from_hours` GPU-hours in the month (inclusive) up to the next
/// band's start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierBand {
    pub from_hours: Decimal,
    /// Percentage off the list amount, in [0, 100].
    pub discount_percent: Decimal,
}

/// A validated tier schedule: at least one band, the first from 0 h, starts strictly increasing,
/// discounts in [0, 100].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierSchedule {
    kind: TierKind,
    bands: Vec<TierBand>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TierError {
    #[error("a tier schedule needs at least one band")]
    NoBands,
    #[error("the first band must start at 0 hours, not {0}")]
    FirstBandNotAtZero(Decimal),
    #[error("bands must start at strictly increasing hours: {next} h follows {previous} h")]
    BandsNotIncreasing { previous: Decimal, next: Decimal },
    #[error(
        "band from {from_hours} h: discount {percent} % must be within 0..100 with at most {MAX_DISCOUNT_PLACES} decimal places"
    )]
    BadDiscount {
        from_hours: Decimal,
        percent: Decimal,
    },
}

impl TierSchedule {
    /// Builds a schedule from `(from_hours, discount_percent)` bands in order.
    pub fn new(
        kind: TierKind,
        bands: impl IntoIterator<Item = (Decimal, Decimal)>,
    ) -> Result<Self, TierError> {
        let bands: Vec<TierBand> = bands
            .into_iter()
            .map(|(from_hours, discount_percent)| TierBand {
                from_hours,
                discount_percent,
            })
            .collect();
        let first = bands.first().ok_or(TierError::NoBands)?;
        if !first.from_hours.is_zero() {
            return Err(TierError::FirstBandNotAtZero(first.from_hours));
        }
        for pair in bands.windows(2) {
            if pair[1].from_hours <= pair[0].from_hours {
                return Err(TierError::BandsNotIncreasing {
                    previous: pair[0].from_hours,
                    next: pair[1].from_hours,
                });
            }
        }
        if let Some(bad) = bands
            .iter()
            .find(|band| !is_valid_discount(band.discount_percent))
        {
            return Err(TierError::BadDiscount {
                from_hours: bad.from_hours,
                percent: bad.discount_percent,
            });
        }
        Ok(Self { kind, bands })
    }

    pub fn graduated(
        bands: impl IntoIterator<Item = (Decimal, Decimal)>,
    ) -> Result<Self, TierError> {
        Self::new(TierKind::Graduated, bands)
    }

    pub fn volume(bands: impl IntoIterator<Item = (Decimal, Decimal)>) -> Result<Self, TierError> {
        Self::new(TierKind::Volume, bands)
    }

    pub fn kind(&self) -> TierKind {
        self.kind
    }

    /// The bands in increasing order of `from_hours`; never empty.
    pub fn bands(&self) -> &[TierBand] {
        &self.bands
    }

    /// Discount of the band a month of `gpu_seconds` falls in: the last band starting at or below
    /// it; without usage, the first band. Compared in seconds, where band starts are exact.
    pub fn discount_at_gpu_seconds(&self, gpu_seconds: Decimal) -> Decimal {
        self.bands
            .iter()
            .rev()
            .find(|band| band.from_hours * SECONDS_PER_HOUR <= gpu_seconds)
            .or(self.bands.first())
            .map_or(Decimal::ZERO, |band| band.discount_percent)
    }
}

/// A percentage discount is valid within [0, 100] with at most [`MAX_DISCOUNT_PLACES`] places.
pub(super) fn is_valid_discount(percent: Decimal) -> bool {
    percent >= Decimal::ZERO
        && percent <= Decimal::ONE_HUNDRED
        && percent.normalize().scale() <= MAX_DISCOUNT_PLACES
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::dec;

    #[test]
    fn tier_bands_must_start_at_zero_and_increase() {
        assert_eq!(TierSchedule::graduated([]), Err(TierError::NoBands));
        assert_eq!(
            TierSchedule::volume([(dec!(1), dec!(0))]),
            Err(TierError::FirstBandNotAtZero(dec!(1)))
        );
        assert_eq!(
            TierSchedule::graduated([
                (dec!(0), dec!(0)),
                (dec!(1000), dec!(10)),
                (dec!(1000), dec!(20))
            ]),
            Err(TierError::BandsNotIncreasing {
                previous: dec!(1000),
                next: dec!(1000)
            })
        );
        assert_eq!(
            TierSchedule::graduated([
                (dec!(0), dec!(0)),
                (dec!(1000), dec!(10)),
                (dec!(500), dec!(20))
            ]),
            Err(TierError::BandsNotIncreasing {
                previous: dec!(1000),
                next: dec!(500)
            })
        );
        assert_eq!(
            TierSchedule::volume([(dec!(0), dec!(0)), (dec!(10), dec!(100.5))]),
            Err(TierError::BadDiscount {
                from_hours: dec!(10),
                percent: dec!(100.5)
            })
        );
        assert_eq!(
            TierSchedule::volume([(dec!(0), dec!(-1))]),
            Err(TierError::BadDiscount {
                from_hours: dec!(0),
                percent: dec!(-1)
            })
        );
        let schedule =
            TierSchedule::graduated([(dec!(0), dec!(0)), (dec!(0.5), dec!(100))]).unwrap();
        assert_eq!(schedule.kind(), TierKind::Graduated);
        assert_eq!(schedule.bands().len(), 2);
    }

    #[test]
    fn the_band_at_an_hour_count_includes_its_lower_bound() {
        let schedule = TierSchedule::volume([
            (dec!(0), dec!(0)),
            (dec!(1000), dec!(10)),
            (dec!(10000), dec!(20)),
        ])
        .unwrap();
        let at_hours = |hours: Decimal| schedule.discount_at_gpu_seconds(hours * SECONDS_PER_HOUR);
        assert_eq!(schedule.discount_at_gpu_seconds(dec!(-1)), dec!(0));
        assert_eq!(at_hours(dec!(0)), dec!(0));
        // One nanosecond short of 1,000 h.
        let just_below = dec!(3600000) - dec!(0.000000001);
        assert_eq!(schedule.discount_at_gpu_seconds(just_below), dec!(0));
        assert_eq!(at_hours(dec!(1000)), dec!(10));
        assert_eq!(at_hours(dec!(9999.9)), dec!(10));
        assert_eq!(at_hours(dec!(10000)), dec!(20));
        assert_eq!(at_hours(dec!(1000000)), dec!(20));
    }
}
