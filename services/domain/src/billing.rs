//! Composing a tenant's invoice for a billing period from what the journal booked and what
//! earlier invoices billed: the period's own charges, plus adjustment lines for charges booked on
//! earlier service periods after their invoice was finalized.
//!
//! # Inputs
//!
//! The invoice is for tenant T and billing period P, a calendar month of T's time zone, as is every
//! service period. For each service period Q (a calendar month charges are *for*) the caller passes a [`ServicePeriod`]:
//! - **booked usage** ([`BookedUsage`]): per (SKU, price class), the GPU-seconds the journal holds
//!   for Q, the amount booked for them in whole cents, and the price lines it was booked as. The
//!   aggregator books the sum of `price_lines(contract, SKU, class, seconds at each list price)`
//!   per key, delta by delta, so this is the contract's price of Q's final totals, one line per
//!   unit price in force, each rounded once. Usage that arrives after Q was invoiced is booked on
//!   Q all the same.
//! - **billed lines** ([`BilledLine`]): every line *for Q* on an invoice that is not voided: the
//!   lines of Q's own invoice and the adjustment lines naming Q on later invoices. Lines of a
//!   voided invoice are left out, since its credit note took them back.
//! - **frozen commitment**: the minimum commitment recorded on Q's latest non-voided invoice
//!   ([`ComposedInvoice::commitment`] when it was composed), `None` if Q has none.
//!
//! `current` is P itself; `earlier` holds the service periods before P that may need adjusting
//! (any subset: a period left out is simply not adjusted on this invoice).
//!
//! # Rules
//!
//! 1. **Expected minus billed.** For each service period Q the *expected* charges are computed
//!    as below, and the invoice bills `expected − billed` per (charge kind, SKU, class, unit
//!    price), in amount and in GPU-seconds, billed lines of one key being added up. A difference that is zero in
//!    both amount and GPU-seconds gives no line. Billing every composed line and composing again
//!    therefore gives no line at all: composing is idempotent.
//! 2. **Usage** of (SKU, class): expected = the booked price lines, one per unit price (entries
//!    of one pair add up). Reserved-class usage paid by a reservation is booked at zero and still
//!    makes a line with its GPU-seconds and a zero amount.
//! 3. **Reservations**, one line per SKU and reserved price:
//!    - for Q = P, the contract's reservations whose term overlaps P (in T's time zone), exactly as
//!      [`charges_for_month`] bills them: GPU-seconds reserved at the price, and their amount
//!      rounded once per line;
//!    - for Q < P, expected = billed, so no adjustment: reserved capacity is billed once, with
//!      its period's invoice, and a contract changed since does not reprice a closed month.
//! 4. **Commitment true-up** (no SKU): with commitment_Q the contract's
//!    `minimum_monthly_commitment()` for Q = P, and Q's frozen commitment (zero if none) for
//!    Q < P, expected = `max(0, commitment_Q − Σ expected usage amounts of Q − Σ expected
//!    reservation amounts of Q)`. Late usage on a month that had a true-up lowers that true-up:
//!    the adjustment then holds a usage line and a negative true-up line. Once adjusted, a month
//!    has been billed exactly the greater of its commitment and its charges.
//! 5. **Reserved-class usage of P** must fit a reservation term covering P and stay within the
//!    GPU-seconds reserved, as in [`charges_for_month`] ([`MonthError`]).
//! 6. **Regular and adjustment lines.** Lines for P are regular lines; lines for Q < P are
//!    adjustment lines naming Q ([`ComposedLine::adjustment_of`]), their description prefixed
//!    `Adjustment for Q: `. Adjustment amounts may be negative (a lowered true-up, a volume tier
//!    crossed by late usage).
//! 7. **Line order.** Regular lines first, in the order of [`charges_for_month`]: by SKU, within a
//!    SKU usage (on-demand, spot, reserved) then the reservation, each by descending unit price,
//!    the true-up last. Then the
//!    adjustments, by service period ascending, in the same order within a period.
//! 8. **VAT.** Every line carries the tenant's [`VatTreatment`] (category and rate), and the
//!    invoice's VAT is [`vat_per_rate`] over the lines; net, VAT and total come from that
//!    breakdown.
//! 9. **Prepaid credit** settles the total including VAT: `apply_prepaid_credit(balance,
//!    total)`. A total of zero or less (adjustments only, e.g. a volume tier crossed) draws
//!    nothing.
//!
//! The first invoice of a month (nothing billed, no earlier period) has the lines and total of
//! [`charges_for_month`] over the same usage, when the booked amounts are the rounded priced
//! amounts (property-tested).
//!
//! # Rounding
//!
//! Every input amount is already in whole cents (booked usage, billed lines and a frozen
//! commitment are refused otherwise), and so is the contract's commitment, so every difference,
//! a true-up included, is exact; a line's amount is only given its two places. The only roundings
//! are: a price line (usage or reservation), its GPU-seconds × unit price half-even to the cent;
//! VAT, per rate, by [`vat_per_rate`]; and the displayed quantity, half-even to 6 places of a
//! GPU-hour, which never feeds back into an amount. The unit price is never rounded. A regular
//! line's amount is its product rounded; an adjustment line's is the difference of two such
//! amounts, which may differ from its own product rounded by a cent.
//!
//! # What the caller keeps
//!
//! P is finalized once: composing a period whose invoice stands again bills only what is missing
//! from it. Once the invoice is finalized, its lines become billed lines of their service periods
//! ([`ComposedLine::to_billed_line`]) and [`ComposedInvoice::commitment`] becomes P's frozen
//! commitment. A voided period can be composed again as the current period: its billed lines are
//! then only adjustments from later invoices, if any, and it is billed in full again, reservations
//! included. Passed as an *earlier* period instead, a voided period with no standing invoice would
//! get its usage back as adjustments but neither its reservations (expected = billed = nothing)
//! nor a true-up (no frozen commitment): re-finalize it as the current period first.
//!
//! [`charges_for_month`]: crate::contract::charges_for_month

mod render;

use crate::contract::{
    ChargeKind, Contract, CreditApplication, CreditError, MonthError, PriceClass, PriceLine,
    apply_prepaid_credit, check_reserved_usage, reserved_by_sku, reserved_lines,
};
use crate::credit_note::DocumentLine;
use crate::invoice::quantity_hours;
use crate::money::{CENT_PLACES, round_to_cents, unit_price_shown};
use crate::period::{BillingPeriod, Tz};
use crate::vat::{
    TaxableAmount, VatBreakdown, VatBreakdownError, VatCategory, VatTreatment, vat_per_rate,
};
use rust_decimal::Decimal;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

/// Usage of one (SKU, price class) booked in the journal for a service period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookedUsage {
    pub sku: String,
    pub class: PriceClass,
    /// Exact GPU-seconds booked.
    pub gpu_seconds: Decimal,
    /// Amount booked, in whole cents: the sum of `lines`.
    pub amount: Decimal,
    /// The price lines the amount was booked as (`contract::price_lines`): their GPU-seconds add
    /// up to `gpu_seconds`, their amounts to `amount`.
    pub lines: Vec<PriceLine>,
}

/// A line of a non-voided invoice, for one service period: a regular line of that period's
/// invoice or an adjustment line naming it on a later one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BilledLine {
    pub charge: ChargeKind,
    /// Set on usage and reservation lines, `None` on a true-up.
    pub sku: Option<String>,
    /// The usage's class; [`PriceClass::Reserved`] on a reservation line; `None` on a true-up.
    pub class: Option<PriceClass>,
    /// The line's unit price; `None` on a true-up, whose price is its amount.
    pub unit_price: Option<Decimal>,
    pub gpu_seconds: Decimal,
    /// Whole cents; negative on some adjustments.
    pub amount: Decimal,
}

/// What the journal and the invoices hold for one service period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePeriod {
    pub period: BillingPeriod,
    pub booked_usage: Vec<BookedUsage>,
    pub billed: Vec<BilledLine>,
    /// Commitment frozen on this period's latest non-voided invoice, if any.
    pub frozen_commitment: Option<Decimal>,
}

impl ServicePeriod {
    /// A service period with nothing booked or billed yet.
    pub fn new(period: BillingPeriod) -> Self {
        Self {
            period,
            booked_usage: Vec::new(),
            billed: Vec::new(),
            frozen_commitment: None,
        }
    }
}

/// One line of a composed invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposedLine {
    pub charge: ChargeKind,
    /// The month the line's charges are for.
    pub service_period: BillingPeriod,
    /// `Some(service period)` on an adjustment of a period invoiced before, `None` on a regular
    /// line of the invoice's own period.
    pub adjustment_of: Option<BillingPeriod>,
    pub sku: Option<String>,
    /// As on [`BilledLine::class`].
    pub class: Option<PriceClass>,
    /// Usage: GPU-seconds used (or, on an adjustment, added since). Reservation: GPU-seconds
    /// reserved. True-up: zero.
    pub gpu_seconds: Decimal,
    /// `gpu_seconds` in GPU-hours, half-even to 6 places, for display only.
    pub quantity_gpu_hours: Decimal,
    /// EUR per GPU-hour in force for the line, exact: the list price after the contract, or the
    /// reserved price. On a true-up, its amount (a quantity of one).
    pub unit_price: Decimal,
    /// Whole cents; may be negative on an adjustment.
    pub amount: Decimal,
    pub vat_category: VatCategory,
    pub vat_rate: Decimal,
    /// What the tenant reads, e.g. `H100-SXM5-80GB, on-demand, 192.000000 GPU-h`.
    pub description: String,
}

/// An invoice ready to be numbered and finalized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposedInvoice {
    pub period: BillingPeriod,
    /// In the order of rule 7 of the module doc.
    pub lines: Vec<ComposedLine>,
    pub vat: VatBreakdown,
    /// The period's minimum commitment, to freeze with the invoice.
    pub commitment: Decimal,
    /// Prepaid credit drawn on the total including VAT.
    pub credit: CreditApplication,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ComposeError {
    #[error("the current service period is {current}, not the invoice's period {invoice}")]
    CurrentPeriodMismatch {
        invoice: BillingPeriod,
        current: BillingPeriod,
    },
    #[error("service period {service} is not before the invoice's period {invoice}")]
    EarlierPeriodNotBefore {
        invoice: BillingPeriod,
        service: BillingPeriod,
    },
    #[error("service period {0} is given more than once")]
    DuplicateServicePeriod(BillingPeriod),
    #[error(
        "service period {period}, SKU `{sku}`, class {class}: booked usage must not be negative"
    )]
    NegativeBookedUsage {
        period: BillingPeriod,
        sku: String,
        class: PriceClass,
    },
    #[error(
        "service period {period}, SKU `{sku}`, class {class}: the booked price lines do not add up to the booked GPU-seconds and amount"
    )]
    BookedLinesMismatch {
        period: BillingPeriod,
        sku: String,
        class: PriceClass,
    },
    #[error("service period {period}: amount {amount} is not a whole number of cents")]
    NotCents {
        period: BillingPeriod,
        amount: Decimal,
    },
    #[error(
        "service period {period}: a billed {kind} line has SKU {sku:?} and class {class:?}, which does not fit its kind",
        kind = .charge.code()
    )]
    MalformedBilledLine {
        period: BillingPeriod,
        charge: ChargeKind,
        sku: Option<String>,
        class: Option<PriceClass>,
    },
    #[error("service period {period}: frozen commitment {commitment} must not be negative")]
    NegativeFrozenCommitment {
        period: BillingPeriod,
        commitment: Decimal,
    },
    #[error(transparent)]
    ReservedUsage(#[from] MonthError),
    #[error(transparent)]
    Vat(#[from] VatBreakdownError),
    #[error(transparent)]
    Credit(#[from] CreditError),
}

/// Composes tenant's invoice for `period`, a month of the tenant's `time_zone`, under `contract`:
/// the current period's charges less what is billed for it, and adjustments of the `earlier`
/// service periods. The rules are in the module doc.
pub fn compose_invoice(
    period: BillingPeriod,
    time_zone: Tz,
    contract: &Contract,
    current: &ServicePeriod,
    earlier: &[ServicePeriod],
    vat: VatTreatment,
    credit_balance: Decimal,
) -> Result<ComposedInvoice, ComposeError> {
    if current.period != period {
        return Err(ComposeError::CurrentPeriodMismatch {
            invoice: period,
            current: current.period,
        });
    }
    let mut earlier: Vec<&ServicePeriod> = earlier.iter().collect();
    earlier.sort_by_key(|service| service.period);
    if let Some(late) = earlier.iter().find(|service| service.period >= period) {
        return Err(ComposeError::EarlierPeriodNotBefore {
            invoice: period,
            service: late.period,
        });
    }
    if let Some(pair) = earlier
        .windows(2)
        .find(|pair| pair[0].period == pair[1].period)
    {
        return Err(ComposeError::DuplicateServicePeriod(pair[0].period));
    }

    let commitment = contract.minimum_monthly_commitment();
    let mut lines = Vec::new();
    for service in std::iter::once(current).chain(earlier) {
        lines.extend(lines_for_service_period(
            period, time_zone, contract, service, vat,
        )?);
    }
    let breakdown = vat_per_rate(lines.iter().map(ComposedLine::taxable_amount))?;
    let credit = apply_prepaid_credit(credit_balance, breakdown.total)?;
    Ok(ComposedInvoice {
        period,
        lines,
        vat: breakdown,
        commitment,
        credit,
    })
}

impl ComposedInvoice {
    /// Whether there is nothing to invoice: no line at all.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The lines as [`DocumentLine`]s, in order, for
    /// [`FinalizedInvoice::from_lines`](crate::credit_note::FinalizedInvoice::from_lines).
    pub fn document_lines(&self) -> Vec<DocumentLine> {
        self.lines.iter().map(ComposedLine::document_line).collect()
    }

    /// Mandatory VAT mentions of the invoice's categories (reverse charge, out of scope), once
    /// each, in category order.
    pub fn vat_mentions(&self) -> Vec<&'static str> {
        let categories: BTreeSet<VatCategory> =
            self.lines.iter().map(|line| line.vat_category).collect();
        categories
            .into_iter()
            .filter_map(VatCategory::mention)
            .collect()
    }
}

impl ComposedLine {
    pub fn is_adjustment(&self) -> bool {
        self.adjustment_of.is_some()
    }

    pub fn taxable_amount(&self) -> TaxableAmount {
        TaxableAmount {
            category: self.vat_category,
            rate: self.vat_rate,
            net: self.amount,
        }
    }

    /// What this line adds to its service period's billed lines once the invoice is finalized.
    pub fn to_billed_line(&self) -> BilledLine {
        BilledLine {
            charge: self.charge,
            sku: self.sku.clone(),
            class: self.class,
            unit_price: (self.charge != ChargeKind::CommitmentTrueUp).then_some(self.unit_price),
            gpu_seconds: self.gpu_seconds,
            amount: self.amount,
        }
    }

    /// The line as printed: quantity in GPU-hours (display; one on a true-up), the unit price in
    /// force, net amount the line's amount.
    pub fn document_line(&self) -> DocumentLine {
        let quantity = if self.charge == ChargeKind::CommitmentTrueUp {
            Decimal::ONE
        } else {
            self.quantity_gpu_hours
        };
        DocumentLine {
            description: self.description.clone(),
            category: self.vat_category,
            rate: self.vat_rate,
            quantity,
            unit_price: self.unit_price,
            net: self.amount,
        }
    }
}

/// What a line bills: its charge kind, SKU, class and unit price. Ordered as lines are printed
/// within a service period: by SKU, the true-up (no SKU) last; within a SKU by kind, then class,
/// then descending unit price.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LineKey {
    charge: ChargeKind,
    sku: Option<String>,
    class: Option<PriceClass>,
    /// `None` on a true-up, whose amount is its price.
    unit_price: Option<Decimal>,
}

impl LineKey {
    fn usage(sku: &str, class: PriceClass, unit_price: Decimal) -> Self {
        Self {
            charge: ChargeKind::Usage,
            sku: Some(sku.to_owned()),
            class: Some(class),
            unit_price: Some(unit_price.normalize()),
        }
    }

    fn reservation(sku: &str, unit_price: Decimal) -> Self {
        Self {
            charge: ChargeKind::Reservation,
            sku: Some(sku.to_owned()),
            class: Some(PriceClass::Reserved),
            unit_price: Some(unit_price.normalize()),
        }
    }

    fn true_up() -> Self {
        Self {
            charge: ChargeKind::CommitmentTrueUp,
            sku: None,
            class: None,
            unit_price: None,
        }
    }

    fn order(
        &self,
    ) -> (
        bool,
        &Option<String>,
        ChargeKind,
        Option<PriceClass>,
        std::cmp::Reverse<Option<Decimal>>,
    ) {
        (
            self.sku.is_none(),
            &self.sku,
            self.charge,
            self.class,
            std::cmp::Reverse(self.unit_price),
        )
    }

    /// Whether SKU, class and unit price are those a line of this kind has.
    fn is_well_formed(&self) -> bool {
        match self.charge {
            ChargeKind::Usage => {
                self.sku.is_some() && self.class.is_some() && self.unit_price.is_some()
            }
            ChargeKind::Reservation => {
                self.sku.is_some()
                    && self.class == Some(PriceClass::Reserved)
                    && self.unit_price.is_some()
            }
            ChargeKind::CommitmentTrueUp => {
                self.sku.is_none() && self.class.is_none() && self.unit_price.is_none()
            }
        }
    }
}

impl Ord for LineKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.order().cmp(&other.order())
    }
}

impl PartialOrd for LineKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// GPU-seconds and amount (whole cents) of one key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Quantities {
    gpu_seconds: Decimal,
    amount: Decimal,
}

impl std::ops::AddAssign for Quantities {
    fn add_assign(&mut self, other: Self) {
        self.gpu_seconds += other.gpu_seconds;
        self.amount += other.amount;
    }
}

/// The lines `service` needs on the invoice for `invoice_period`: expected less billed, per key.
fn lines_for_service_period(
    invoice_period: BillingPeriod,
    time_zone: Tz,
    contract: &Contract,
    service: &ServicePeriod,
    vat: VatTreatment,
) -> Result<Vec<ComposedLine>, ComposeError> {
    let period = service.period;
    let is_current = period == invoice_period;
    let billed = billed_by_key(service)?;
    let mut expected = booked_usage_by_key(service)?;

    let commitment = if is_current {
        let reserved = reserved_by_sku(period, time_zone, contract);
        check_reserved_usage(
            period,
            contract,
            expected.iter().filter_map(|(key, quantities)| {
                Some((key.sku.as_deref()?, key.class?, quantities.gpu_seconds))
            }),
            &reserved,
        )?;
        for (sku, lines) in reserved_lines(period, time_zone, contract) {
            for priced in lines {
                *expected
                    .entry(LineKey::reservation(sku, priced.unit_price))
                    .or_default() += Quantities {
                    gpu_seconds: priced.gpu_seconds,
                    amount: priced.amount,
                };
            }
        }
        contract.minimum_monthly_commitment()
    } else {
        // Reserved capacity was billed with its own period's invoice; nothing to adjust.
        for (key, quantities) in &billed {
            if key.charge == ChargeKind::Reservation {
                expected.insert(key.clone(), *quantities);
            }
        }
        match service.frozen_commitment {
            Some(commitment) if commitment < Decimal::ZERO => {
                return Err(ComposeError::NegativeFrozenCommitment { period, commitment });
            }
            Some(commitment) => checked_cents(period, commitment)?,
            None => Decimal::ZERO,
        }
    };
    // Whole cents less whole cents: the shortfall is exact.
    let charges: Decimal = expected.values().map(|quantities| quantities.amount).sum();
    expected.insert(
        LineKey::true_up(),
        Quantities {
            gpu_seconds: Decimal::ZERO,
            amount: (commitment - charges).max(Decimal::ZERO),
        },
    );

    let keys: BTreeSet<&LineKey> = expected.keys().chain(billed.keys()).collect();
    let adjustment_of = (!is_current).then_some(period);
    let lines = keys
        .into_iter()
        .filter_map(|key| {
            let expected = expected.get(key).copied().unwrap_or_default();
            let billed = billed.get(key).copied().unwrap_or_default();
            let gpu_seconds = expected.gpu_seconds - billed.gpu_seconds;
            let amount = expected.amount - billed.amount;
            if gpu_seconds.is_zero() && amount.is_zero() {
                return None;
            }
            // Exact already; rounding only gives the amount its two places.
            Some(line(
                key,
                period,
                adjustment_of,
                gpu_seconds,
                round_to_cents(amount),
                vat,
            ))
        })
        .collect();
    Ok(lines)
}

/// Booked usage added up per (SKU, class, unit price) from its price lines, checked
/// non-negative, in whole cents, and adding up to what was booked.
fn booked_usage_by_key(
    service: &ServicePeriod,
) -> Result<BTreeMap<LineKey, Quantities>, ComposeError> {
    let mut booked = BTreeMap::new();
    for usage in &service.booked_usage {
        if usage.gpu_seconds < Decimal::ZERO || usage.amount < Decimal::ZERO {
            return Err(ComposeError::NegativeBookedUsage {
                period: service.period,
                sku: usage.sku.clone(),
                class: usage.class,
            });
        }
        let amount = checked_cents(service.period, usage.amount)?;
        let lines_seconds: Decimal = usage.lines.iter().map(|line| line.gpu_seconds).sum();
        let lines_amount: Decimal = usage.lines.iter().map(|line| line.amount).sum();
        if lines_seconds != usage.gpu_seconds || lines_amount != amount {
            return Err(ComposeError::BookedLinesMismatch {
                period: service.period,
                sku: usage.sku.clone(),
                class: usage.class,
            });
        }
        for line in &usage.lines {
            *booked
                .entry(LineKey::usage(&usage.sku, usage.class, line.unit_price))
                .or_insert_with(Quantities::default) += Quantities {
                gpu_seconds: line.gpu_seconds,
                amount: checked_cents(service.period, line.amount)?,
            };
        }
    }
    Ok(booked)
}

/// Billed lines added up per key, checked well formed and in whole cents.
fn billed_by_key(service: &ServicePeriod) -> Result<BTreeMap<LineKey, Quantities>, ComposeError> {
    let mut billed = BTreeMap::new();
    for line in &service.billed {
        let key = LineKey {
            charge: line.charge,
            sku: line.sku.clone(),
            class: line.class,
            unit_price: line.unit_price.map(|price| price.normalize()),
        };
        if !key.is_well_formed() {
            return Err(ComposeError::MalformedBilledLine {
                period: service.period,
                charge: line.charge,
                sku: line.sku.clone(),
                class: line.class,
            });
        }
        *billed.entry(key).or_insert_with(Quantities::default) += Quantities {
            gpu_seconds: line.gpu_seconds,
            amount: checked_cents(service.period, line.amount)?,
        };
    }
    Ok(billed)
}

fn checked_cents(period: BillingPeriod, amount: Decimal) -> Result<Decimal, ComposeError> {
    if amount.normalize().scale() > CENT_PLACES {
        return Err(ComposeError::NotCents { period, amount });
    }
    Ok(amount)
}

fn line(
    key: &LineKey,
    service_period: BillingPeriod,
    adjustment_of: Option<BillingPeriod>,
    gpu_seconds: Decimal,
    amount: Decimal,
    vat: VatTreatment,
) -> ComposedLine {
    let quantity_gpu_hours = quantity_hours(gpu_seconds);
    let sku = key.sku.as_deref().unwrap_or_default();
    // A true-up is one of itself: its price is its amount.
    let unit_price = unit_price_shown(key.unit_price.unwrap_or(amount));
    let what = match key.charge {
        ChargeKind::Usage => format!(
            "{sku}, {}, {quantity_gpu_hours} GPU-h at {unit_price}",
            key.class.map_or("", class_label)
        ),
        ChargeKind::Reservation => {
            format!("Reservation {sku}, {quantity_gpu_hours} GPU-h reserved at {unit_price}")
        }
        ChargeKind::CommitmentTrueUp => "Minimum commitment true-up".to_owned(),
    };
    let description = match adjustment_of {
        Some(adjusted) => format!("Adjustment for {adjusted}: {what}"),
        None => what,
    };
    ComposedLine {
        charge: key.charge,
        service_period,
        adjustment_of,
        sku: key.sku.clone(),
        class: key.class,
        gpu_seconds,
        quantity_gpu_hours,
        unit_price,
        amount,
        vat_category: vat.category,
        vat_rate: vat.rate,
        description,
    }
}

/// How a price class reads on an invoice.
fn class_label(class: PriceClass) -> &'static str {
    match class {
        PriceClass::OnDemand => "on-demand",
        PriceClass::Spot => "spot",
        PriceClass::Reserved => "reserved",
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod worked_example;
