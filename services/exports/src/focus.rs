//! FOCUS 1.2 cost and usage rows (the FinOps Open Cost and Usage Specification), one tenant's
//! billing period at a time, as CSV (RFC 4180, ASCII, a header).
//!
//! - **Usage**: a row per allocation (`ResourceId`), SKU, price class, list price and hour (or
//!   day) of use. `ListCost` is the quantity at list price. `BilledCost` is the invoice's
//!   usage amount of that SKU and class, spread over its rows in proportion to their
//!   GPU-seconds by cumulative rounding (each row gets `round(A·c_i/W) − round(A·c_{i−1}/W)`,
//!   `c_i` the seconds up to and including row i), so the rows add up to the invoice's lines
//!   to the cent and each row is within a cent of its exact share. `ContractedUnitPrice` is the
//!   invoice's average unit price of the SKU and class, and `ContractedCost` the quantity at it.
//!   Reserved-class usage is `Committed`, names its reservation (`CommitmentDiscount*`, status
//!   `Used`) and is billed 0: the reservation's purchase row carries its cost.
//! - **Purchase**: a row per reservation line (`Recurring`), and the reservation's unused part
//!   as a `Usage` row with status `Unused`.
//! - **Adjustment**: usage of an earlier month billed on this invoice (`ChargeClass`
//!   `Correction`, the charge period that month), and the minimum-commitment true-up.
//! - **Tax**: the invoice's VAT; **Credit**: prepaid credit applied, negative.
//!
//! `SUM(BilledCost)` of a period's rows is the invoice's amount due (total including VAT, less
//! prepaid credit applied); without the Credit row, its total. A month not finalized yet is
//! exported from its draft, `InvoiceId` empty. Text is folded to ASCII (the validator refuses
//! anything else) and every decimal is written with a point and at least one place.

use crate::ExportError;
use crate::csv::record;
use crate::parquet_rows::{Kind, ParquetRows};
use crate::text::Charset;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use chrono_tz::Tz;
use gpubill_domain::{SECONDS_PER_HOUR, day_start_in, round_to_cents};
use gpubill_schema::api::invoice::{InvoiceView, LineView};
use rust_decimal::{Decimal, RoundingStrategy};
use std::collections::HashMap;
use std::io::Write;

/// The length of a usage row's charge period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grain {
    Hour,
    Day,
}

impl Grain {
    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "hour" => Some(Self::Hour),
            "day" => Some(Self::Day),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::Hour => "hour",
            Self::Day => "day",
        }
    }

    /// The end of the bucket starting at `start`.
    fn end(self, start: DateTime<Utc>, time_zone: Tz) -> DateTime<Utc> {
        match self {
            Self::Hour => start + Duration::hours(1),
            Self::Day => {
                let day = start.with_timezone(&time_zone).date_naive();
                day_start_in(day + chrono::Days::new(1), time_zone)
            }
        }
    }
}

/// The columns, in the order written.
pub const COLUMNS: [&str; 56] = [
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "CommitmentDiscountCategory",
    "CommitmentDiscountId",
    "CommitmentDiscountName",
    "CommitmentDiscountQuantity",
    "CommitmentDiscountStatus",
    "CommitmentDiscountType",
    "CommitmentDiscountUnit",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedCost",
    "ContractedUnitPrice",
    "EffectiveCost",
    "InvoiceId",
    "InvoiceIssuerName",
    "ListCost",
    "ListUnitPrice",
    "PricingCategory",
    "PricingCurrency",
    "PricingCurrencyContractedUnitPrice",
    "PricingCurrencyEffectiveCost",
    "PricingCurrencyListUnitPrice",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "ServiceCategory",
    "ServiceName",
    "ServiceSubcategory",
    "SkuId",
    "SkuMeter",
    "SkuPriceDetails",
    "SkuPriceId",
    "x_PriceClass",
    "x_GpuSeconds",
    "x_Gpus",
    "x_Nodes",
    "x_MigProfile",
    "x_TimeZone",
    "x_ServicePeriod",
    "x_InvoiceStatus",
    "x_Grain",
];

const UNIT: &str = "GPU-Hours";
const SERVICE_NAME: &str = "GPU Compute";
const SERVICE_CATEGORY: &str = "Compute";
const SERVICE_SUBCATEGORY: &str = "Other (Compute)";

/// One bucket of one allocation's usage, as the ledger reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    pub allocation_id: String,
    pub sku: String,
    pub price_class: String,
    pub list_price: Decimal,
    pub start: DateTime<Utc>,
    pub gpu_seconds: Decimal,
    /// The nodes the usage ran on, space separated.
    pub nodes: String,
    /// GPUs (or MIG instances) used in the bucket.
    pub gpus: i64,
}

/// One tenant's billing period: who, when, and the invoice (or draft) that bills it.
#[derive(Debug, Clone)]
pub struct TenantPeriod {
    pub tenant_id: String,
    pub tenant_name: String,
    pub time_zone: Tz,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub invoice: InvoiceView,
    /// GPU-seconds of the period's buckets per (SKU, price class): the weights the usage
    /// amounts are spread by.
    pub seconds: HashMap<(String, String), Decimal>,
}

/// A usage amount being spread over its rows.
#[derive(Debug, Default)]
struct Spread {
    amount: Decimal,
    hours: Decimal,
    seconds: Decimal,
    seconds_done: Decimal,
    billed_done: Decimal,
}

impl Spread {
    /// The next row's share of the amount, for `seconds` more.
    fn next(&mut self, seconds: Decimal) -> Decimal {
        self.seconds_done += seconds;
        let billed_to_here = if self.seconds.is_zero() {
            Decimal::ZERO
        } else {
            round_to_cents(self.amount * self.seconds_done / self.seconds)
        };
        let share = billed_to_here - self.billed_done;
        self.billed_done = billed_to_here;
        share
    }

    /// The invoice's average unit price: amount over GPU-hours billed.
    fn unit_price(&self) -> Decimal {
        if self.hours.is_zero() {
            Decimal::ZERO
        } else {
            price(self.amount / self.hours)
        }
    }
}

/// The usage amounts of a period being spread, per (SKU, price class).
type Spreads = HashMap<(String, String), Spread>;

/// The file FOCUS rows are written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FocusFormat {
    Csv,
    Parquet,
}

impl FocusFormat {
    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "csv" => Some(Self::Csv),
            "parquet" => Some(Self::Parquet),
            _ => None,
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Parquet => "parquet",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=us-ascii",
            Self::Parquet => "application/vnd.apache.parquet",
        }
    }
}

/// Where the rows go.
enum Output<W: Write + Send> {
    Csv(W),
    Parquet(Box<ParquetRows<W>>),
}

/// How each column is typed in a Parquet file.
fn kind(column: &str) -> Kind {
    match column {
        "BillingPeriodEnd" | "BillingPeriodStart" | "ChargePeriodEnd" | "ChargePeriodStart" => {
            Kind::Instant
        }
        "BilledCost"
        | "CommitmentDiscountQuantity"
        | "ConsumedQuantity"
        | "ContractedCost"
        | "ContractedUnitPrice"
        | "EffectiveCost"
        | "ListCost"
        | "ListUnitPrice"
        | "PricingCurrencyContractedUnitPrice"
        | "PricingCurrencyEffectiveCost"
        | "PricingCurrencyListUnitPrice"
        | "PricingQuantity"
        | "x_GpuSeconds" => Kind::Number,
        _ => Kind::Text,
    }
}

/// Writes FOCUS rows, a tenant's period at a time.
pub struct FocusWriter<W: Write + Send> {
    out: Output<W>,
    shared: Shared,
    rows: u64,
    period: Option<(TenantPeriod, Spreads)>,
}

/// What every row of the file shares.
struct Shared {
    provider: String,
    currency: String,
    grain: Grain,
}

impl Shared {
    /// The columns every row of a period has.
    fn base(&self, period: &TenantPeriod, start: DateTime<Utc>, end: DateTime<Utc>) -> Row {
        let invoice = &period.invoice;
        HashMap::from([
            ("BillingAccountId", ascii(&period.tenant_id)),
            ("BillingAccountName", ascii(&period.tenant_name)),
            ("BillingCurrency", self.currency.clone()),
            ("BillingPeriodStart", instant(period.start)),
            ("BillingPeriodEnd", instant(period.end)),
            ("ChargePeriodStart", instant(start)),
            ("ChargePeriodEnd", instant(end)),
            ("InvoiceId", invoice.number.clone().unwrap_or_default()),
            ("InvoiceIssuerName", self.provider.clone()),
            ("ProviderName", self.provider.clone()),
            ("PublisherName", self.provider.clone()),
            ("PricingCurrency", self.currency.clone()),
            ("ServiceCategory", SERVICE_CATEGORY.to_owned()),
            ("ServiceName", SERVICE_NAME.to_owned()),
            ("ServiceSubcategory", SERVICE_SUBCATEGORY.to_owned()),
            ("x_TimeZone", period.time_zone.name().to_owned()),
            (
                "x_InvoiceStatus",
                format!("{:?}", invoice.status).to_lowercase(),
            ),
            ("x_Grain", self.grain.code().to_owned()),
        ])
    }
}

/// One row, by column.
type Row = HashMap<&'static str, String>;

impl<W: Write + Send> FocusWriter<W> {
    /// Starts the file (with its header, for CSV). `provider` is the seller (provider,
    /// publisher and invoice issuer).
    pub fn new(
        mut out: W,
        format: FocusFormat,
        provider: &str,
        currency: &str,
        grain: Grain,
    ) -> Result<Self, ExportError> {
        let out = match format {
            FocusFormat::Csv => {
                record(&mut out, &COLUMNS)?;
                Output::Csv(out)
            }
            FocusFormat::Parquet => {
                let columns: Vec<(&str, Kind)> = COLUMNS
                    .iter()
                    .map(|column| (*column, kind(column)))
                    .collect();
                Output::Parquet(Box::new(ParquetRows::new(out, &columns)?))
            }
        };
        Ok(Self {
            out,
            shared: Shared {
                provider: ascii(provider),
                currency: currency.to_owned(),
                grain,
            },
            rows: 0,
            period: None,
        })
    }

    /// Starts a tenant's period; its buckets follow, then [`Self::end_period`].
    pub fn begin_period(&mut self, period: TenantPeriod) {
        let mut spreads: HashMap<(String, String), Spread> = HashMap::new();
        for line in period.invoice.lines.iter().filter(|line| is_usage(line)) {
            let key = (
                line.sku.clone().unwrap_or_default(),
                line.price_class.clone().unwrap_or_default(),
            );
            let spread = spreads.entry(key).or_default();
            spread.amount += line.amount;
            spread.hours += line.quantity_gpu_hours;
        }
        for (key, seconds) in &period.seconds {
            spreads.entry(key.clone()).or_default().seconds = *seconds;
        }
        self.period = Some((period, spreads));
    }

    /// A usage row for `bucket`.
    pub fn usage(&mut self, bucket: &Bucket) -> Result<(), ExportError> {
        let Some((period, spreads)) = self.period.as_mut() else {
            return Err(ExportError::Inconsistent(
                "usage outside a period".to_owned(),
            ));
        };
        let key = (bucket.sku.clone(), bucket.price_class.clone());
        let spread = spreads.entry(key).or_default();
        let billed = spread.next(bucket.gpu_seconds);
        let contracted_price = spread.unit_price();
        let hours = hours(bucket.gpu_seconds);
        let end = self.shared.grain.end(bucket.start, period.time_zone);
        let mut row = self.shared.base(period, bucket.start, end);
        let reserved = bucket.price_class == "reserved";
        row.extend([
            ("BilledCost", amount(billed)),
            ("ChargeCategory", "Usage".to_owned()),
            (
                "ChargeDescription",
                ascii(&format!(
                    "{} {} GPU usage",
                    bucket.sku,
                    bucket.price_class.replace('_', " ")
                )),
            ),
            ("ChargeFrequency", "Usage-Based".to_owned()),
            ("ConsumedQuantity", decimal(hours)),
            ("ConsumedUnit", UNIT.to_owned()),
            ("ContractedCost", decimal(hours * contracted_price)),
            ("ContractedUnitPrice", decimal(contracted_price)),
            (
                "PricingCurrencyContractedUnitPrice",
                decimal(contracted_price),
            ),
            (
                "EffectiveCost",
                decimal(if reserved {
                    hours * bucket.list_price
                } else {
                    billed
                }),
            ),
            (
                "PricingCurrencyEffectiveCost",
                decimal(if reserved {
                    hours * bucket.list_price
                } else {
                    billed
                }),
            ),
            ("ListCost", decimal(hours * bucket.list_price)),
            ("ListUnitPrice", decimal(bucket.list_price)),
            ("PricingCurrencyListUnitPrice", decimal(bucket.list_price)),
            (
                "PricingCategory",
                pricing_category(&bucket.price_class).to_owned(),
            ),
            ("PricingQuantity", decimal(hours)),
            ("PricingUnit", UNIT.to_owned()),
            ("ResourceId", ascii(&bucket.allocation_id)),
            ("ResourceName", ascii(&bucket.allocation_id)),
            ("ResourceType", "GPU allocation".to_owned()),
            ("x_GpuSeconds", decimal(bucket.gpu_seconds)),
            ("x_Nodes", ascii(&bucket.nodes)),
            ("x_Gpus", bucket.gpus.to_string()),
        ]);
        row.extend(sku_columns(&bucket.sku, &bucket.price_class));
        if reserved {
            row.extend(reservation_columns(
                &period.tenant_id,
                &bucket.sku,
                hours,
                "Used",
            ));
        }
        self.put(&row)
    }

    /// Ends the period: usage amounts no bucket carried (booked without metered detail), the
    /// reservations, adjustments, true-up, tax and credit rows.
    pub fn end_period(
        &mut self,
        reserved_hours: &HashMap<String, Decimal>,
    ) -> Result<(), ExportError> {
        let Some((period, spreads)) = self.period.take() else {
            return Ok(());
        };
        let mut unmetered: Vec<_> = spreads
            .into_iter()
            .filter(|(_, spread)| spread.seconds.is_zero() && !spread.amount.is_zero())
            .collect();
        unmetered.sort_by(|a, b| a.0.cmp(&b.0));
        for ((sku, class), spread) in unmetered {
            let mut row = self.shared.base(&period, period.start, period.end);
            row.extend(line_costs(spread.amount, spread.hours, spread.unit_price()));
            row.extend([
                ("ChargeCategory", "Usage".to_owned()),
                (
                    "ChargeDescription",
                    ascii(&format!("{sku} {} GPU usage", class.replace('_', " "))),
                ),
                ("ChargeFrequency", "Usage-Based".to_owned()),
                ("ConsumedQuantity", decimal(spread.hours)),
                ("ConsumedUnit", UNIT.to_owned()),
                ("PricingCategory", pricing_category(&class).to_owned()),
            ]);
            row.extend(sku_columns(&sku, &class));
            self.put(&row)?;
        }
        for line in period.invoice.lines.iter().filter(|line| !is_usage(line)) {
            self.line_row(&period, line, reserved_hours)?;
        }
        self.totals_rows(&period)
    }

    /// A reservation, late usage or true-up line as rows.
    fn line_row(
        &mut self,
        period: &TenantPeriod,
        line: &LineView,
        reserved_hours: &HashMap<String, Decimal>,
    ) -> Result<(), ExportError> {
        let mut row = self.shared.base(period, period.start, period.end);
        row.insert("ChargeDescription", ascii(&line.description));
        match line.charge.as_str() {
            "reservation" => {
                let sku = line.sku.clone().unwrap_or_default();
                row.extend(line_costs(
                    line.amount,
                    line.quantity_gpu_hours,
                    line.unit_price,
                ));
                row.extend([
                    ("ChargeCategory", "Purchase".to_owned()),
                    ("ChargeFrequency", "Recurring".to_owned()),
                    ("EffectiveCost", "0.00".to_owned()),
                    ("PricingCurrencyEffectiveCost", "0.00".to_owned()),
                    ("PricingCategory", "Standard".to_owned()),
                ]);
                row.extend(sku_columns(&sku, "reserved"));
                row.extend(reservation_columns(
                    &period.tenant_id,
                    &sku,
                    line.quantity_gpu_hours,
                    "",
                ));
                row.remove("CommitmentDiscountStatus");
                self.put(&row)?;
                let used = reserved_hours.get(&sku).copied().unwrap_or_default();
                let unused = line.quantity_gpu_hours - used;
                if unused > Decimal::ZERO {
                    let mut row = self.shared.base(period, period.start, period.end);
                    row.extend(line_costs(Decimal::ZERO, unused, line.unit_price));
                    row.extend([
                        ("ChargeCategory", "Usage".to_owned()),
                        (
                            "ChargeDescription",
                            ascii(&format!("{sku} reserved capacity not used")),
                        ),
                        ("ChargeFrequency", "Usage-Based".to_owned()),
                        ("EffectiveCost", decimal(unused * line.unit_price)),
                        (
                            "PricingCurrencyEffectiveCost",
                            decimal(unused * line.unit_price),
                        ),
                        ("PricingCategory", "Committed".to_owned()),
                    ]);
                    row.extend(sku_columns(&sku, "reserved"));
                    row.extend(reservation_columns(
                        &period.tenant_id,
                        &sku,
                        unused,
                        "Unused",
                    ));
                    self.put(&row)?;
                }
                Ok(())
            }
            _ => {
                // Usage of an earlier month billed late, or the commitment true-up.
                let late = line.adjustment && line.charge == "usage";
                if late {
                    row.insert("ChargeClass", "Correction".to_owned());
                    row.insert("x_ServicePeriod", line.service_period.clone());
                    if let (Some(sku), Some(class)) = (&line.sku, &line.price_class) {
                        row.extend(sku_columns(sku, class));
                        row.insert("PricingCategory", pricing_category(class).to_owned());
                    }
                }
                row.extend(line_costs(
                    line.amount,
                    line.quantity_gpu_hours,
                    line.unit_price,
                ));
                row.extend([
                    ("ChargeCategory", "Adjustment".to_owned()),
                    (
                        "ChargeFrequency",
                        if late { "Usage-Based" } else { "Recurring" }.to_owned(),
                    ),
                ]);
                self.put(&row)
            }
        }
    }

    /// The invoice's VAT and the prepaid credit it drew.
    fn totals_rows(&mut self, period: &TenantPeriod) -> Result<(), ExportError> {
        let invoice = &period.invoice;
        for (category, amount, description) in [
            (
                "Tax",
                invoice.vat_total,
                format!("VAT {} ({})", invoice.vat_category, invoice.vat_rate),
            ),
            (
                "Credit",
                -invoice.credit_applied,
                "Prepaid credit applied".to_owned(),
            ),
        ] {
            if amount.is_zero() {
                continue;
            }
            let mut row = self.shared.base(period, period.start, period.end);
            for column in [
                "BilledCost",
                "ContractedCost",
                "EffectiveCost",
                "ListCost",
                "PricingCurrencyEffectiveCost",
            ] {
                row.insert(column, self::amount(amount));
            }
            row.extend([
                ("ChargeCategory", category.to_owned()),
                ("ChargeDescription", ascii(&description)),
                ("ChargeFrequency", "Recurring".to_owned()),
            ]);
            self.put(&row)?;
        }
        Ok(())
    }

    fn put(&mut self, row: &Row) -> Result<(), ExportError> {
        let fields: Vec<&str> = COLUMNS
            .iter()
            .map(|column| row.get(column).map_or("", String::as_str))
            .collect();
        match &mut self.out {
            Output::Csv(out) => record(out, &fields)?,
            Output::Parquet(rows) => rows.push(&fields)?,
        }
        self.rows += 1;
        Ok(())
    }

    /// Rows written; completes and flushes the file.
    pub fn finish(self) -> Result<u64, ExportError> {
        let mut out = match self.out {
            Output::Csv(out) => out,
            Output::Parquet(rows) => rows.finish()?,
        };
        out.flush()?;
        Ok(self.rows)
    }
}

/// A usage line of this month (not a late one of an earlier month).
fn is_usage(line: &LineView) -> bool {
    line.charge == "usage" && !line.adjustment
}

/// Cost columns of a line billed as a whole: list = contracted = billed.
fn line_costs(billed: Decimal, hours: Decimal, unit_price: Decimal) -> Vec<(&'static str, String)> {
    let quantity = (!hours.is_zero()).then(|| decimal(hours));
    let mut columns = vec![
        ("BilledCost", amount(billed)),
        ("ContractedCost", amount(billed)),
        ("EffectiveCost", amount(billed)),
        ("PricingCurrencyEffectiveCost", amount(billed)),
        ("ListCost", amount(billed)),
    ];
    if let Some(quantity) = quantity {
        columns.extend([
            ("PricingQuantity", quantity),
            ("PricingUnit", UNIT.to_owned()),
            ("ListUnitPrice", decimal(unit_price)),
            ("ContractedUnitPrice", decimal(unit_price)),
            ("PricingCurrencyListUnitPrice", decimal(unit_price)),
            ("PricingCurrencyContractedUnitPrice", decimal(unit_price)),
        ]);
    }
    columns
}

fn sku_columns(sku: &str, class: &str) -> Vec<(&'static str, String)> {
    vec![
        ("SkuId", ascii(sku)),
        ("SkuPriceId", ascii(&format!("{sku}:{class}"))),
        ("SkuMeter", "GPU time".to_owned()),
        (
            "SkuPriceDetails",
            format!("{{\"x_PriceClass\":\"{}\"}}", ascii(class)),
        ),
        ("x_PriceClass", ascii(class)),
        (
            "x_MigProfile",
            sku.split_once("-MIG-")
                .map(|(_, profile)| ascii(profile))
                .unwrap_or_default(),
        ),
    ]
}

/// A tenant's reservation of a SKU as a commitment discount; `status` `Used`, `Unused`, or
/// empty on its purchase.
fn reservation_columns(
    tenant_id: &str,
    sku: &str,
    hours: Decimal,
    status: &str,
) -> Vec<(&'static str, String)> {
    vec![
        ("CommitmentDiscountCategory", "Usage".to_owned()),
        (
            "CommitmentDiscountId",
            ascii(&format!("{tenant_id}:reservation:{sku}")),
        ),
        (
            "CommitmentDiscountName",
            ascii(&format!("{sku} reserved capacity")),
        ),
        ("CommitmentDiscountQuantity", decimal(hours)),
        ("CommitmentDiscountStatus", status.to_owned()),
        ("CommitmentDiscountType", "Reserved GPU capacity".to_owned()),
        ("CommitmentDiscountUnit", UNIT.to_owned()),
    ]
}

fn pricing_category(class: &str) -> &'static str {
    match class {
        "spot" => "Dynamic",
        "reserved" => "Committed",
        _ => "Standard",
    }
}

/// GPU-seconds as GPU-hours, to 9 places.
fn hours(gpu_seconds: Decimal) -> Decimal {
    (gpu_seconds / SECONDS_PER_HOUR)
        .round_dp_with_strategy(9, RoundingStrategy::MidpointNearestEven)
}

/// A unit price to 9 places.
fn price(value: Decimal) -> Decimal {
    value.round_dp_with_strategy(9, RoundingStrategy::MidpointNearestEven)
}

/// A decimal with a point and at least one place (`2980.0`, `2.3655`).
fn decimal(value: Decimal) -> String {
    let mut value = value.normalize();
    if value.scale() == 0 {
        value.rescale(1);
    }
    value.to_string()
}

/// Money to the cent (`285.04`).
fn amount(value: Decimal) -> String {
    crate::text::amount_with_point(value)
}

fn instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Text folded to ASCII.
fn ascii(text: &str) -> String {
    let mut out = Vec::with_capacity(text.len());
    Charset::Ascii.encode(text, &mut out);
    // Charset::Ascii writes bytes below 0x80 only, each a character of its own.
    out.into_iter().map(char::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::dec;

    #[test]
    fn a_spread_amount_adds_up_to_the_cent_whatever_the_weights() {
        let mut spread = Spread {
            amount: dec!(100.00),
            seconds: dec!(3),
            ..Spread::default()
        };
        let shares: Vec<Decimal> = (0..3).map(|_| spread.next(dec!(1))).collect();
        assert_eq!(shares, [dec!(33.33), dec!(33.34), dec!(33.33)]);
        assert_eq!(shares.iter().sum::<Decimal>(), dec!(100.00));
    }

    #[test]
    fn decimals_always_have_a_point() {
        assert_eq!(decimal(dec!(2980)), "2980.0");
        assert_eq!(decimal(dec!(2.36550)), "2.3655");
        assert_eq!(ascii("Société Générale €"), "Societe Generale EUR");
    }
}
