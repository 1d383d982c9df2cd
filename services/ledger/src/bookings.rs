//! Delta rating in Postgres. Per (tenant, month, SKU, price class) the ledger keeps the running
//! GPU-seconds at each list price (`usage_totals`) and what is booked to the journal so far
//! (`usage_bookings`: the amount, and the price lines it is made of). New usage moves the
//! totals; the totals are priced with the tenant's contract as price lines
//! (`gpubill_domain::price_lines`: one per unit price in force, each rounded to the cent), and
//! only the difference between their sum and what is booked is posted: debit 4181 (unbilled
//! receivables), credit 706 (revenue per SKU). Whatever the batches, the booked amount of a key is
//! always the sum of the price lines of its totals, and the invoice prints those lines.

use crate::LedgerError;
use crate::contracts::contracts_in_force;
use crate::journal::post_new;
use chrono::NaiveDate;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::upsert::excluded;
use gpubill_domain::{
    BookedUsage, Contract, JournalTransaction, PriceClass, PriceLine, SecondsAtPrice, lines_amount,
    price_lines,
};
use gpubill_schema::schema::{usage_bookings, usage_totals};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use uuid::Uuid;

/// Usage newly rated: GPU-seconds of one (tenant, month, SKU, class) at one list price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatedAddition {
    pub tenant_id: String,
    pub period: NaiveDate,
    pub sku: String,
    pub price_class: PriceClass,
    pub price_per_gpu_hour: Decimal,
    pub gpu_seconds: Decimal,
}

/// A (tenant, month, SKU, class): the unit delta rating prices.
pub type BookingKey = (String, NaiveDate, String, PriceClass);

/// What a booking step posted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BookingSummary {
    /// Keys whose booked amount changed.
    pub keys_repriced: usize,
    /// Journal transactions posted (one per tenant with a change).
    pub transactions: usize,
    /// Net amount posted to unbilled receivables.
    pub booked: Decimal,
}

/// Adds `additions` to the running totals and books the resulting deltas, in the caller's
/// transaction. Journal transaction ids derive from `batch_id` and the tenant, so the batch's
/// postings are recognisable and a batch can book at most once.
pub fn book_usage(
    conn: &mut PgConnection,
    batch_id: Uuid,
    additions: &[RatedAddition],
) -> Result<BookingSummary, LedgerError> {
    let mut per_price: BTreeMap<(BookingKey, Decimal), Decimal> = BTreeMap::new();
    for addition in additions {
        let key = (
            addition.tenant_id.clone(),
            addition.period,
            addition.sku.clone(),
            addition.price_class,
        );
        *per_price
            .entry((key, addition.price_per_gpu_hour))
            .or_default() += addition.gpu_seconds;
    }
    let mut per_key: BTreeMap<BookingKey, Decimal> = BTreeMap::new();
    for ((key, _), gpu_seconds) in &per_price {
        *per_key.entry(key.clone()).or_default() += *gpu_seconds;
    }
    if per_key.is_empty() {
        return Ok(BookingSummary::default());
    }
    // The booking rows are locked first, in key order, so concurrent batches of the same keys
    // queue instead of pricing the same totals twice, and cannot deadlock.
    let bookings: Vec<_> = per_key
        .iter()
        .map(|((tenant_id, period, sku, class), gpu_seconds)| {
            (
                usage_bookings::tenant_id.eq(tenant_id),
                usage_bookings::period.eq(period),
                usage_bookings::sku.eq(sku),
                usage_bookings::price_class.eq(class.code()),
                usage_bookings::gpu_seconds.eq(gpu_seconds),
                usage_bookings::booked_amount.eq(Decimal::ZERO),
            )
        })
        .collect();
    diesel::insert_into(usage_bookings::table)
        .values(&bookings)
        .on_conflict((
            usage_bookings::tenant_id,
            usage_bookings::period,
            usage_bookings::sku,
            usage_bookings::price_class,
        ))
        .do_update()
        .set((
            usage_bookings::gpu_seconds
                .eq(usage_bookings::gpu_seconds + excluded(usage_bookings::gpu_seconds)),
            usage_bookings::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)?;
    let totals: Vec<_> = per_price
        .iter()
        .map(|(((tenant_id, period, sku, class), price), gpu_seconds)| {
            (
                usage_totals::tenant_id.eq(tenant_id),
                usage_totals::period.eq(period),
                usage_totals::sku.eq(sku),
                usage_totals::price_class.eq(class.code()),
                usage_totals::price_per_gpu_hour.eq(price),
                usage_totals::gpu_seconds.eq(gpu_seconds),
            )
        })
        .collect();
    diesel::insert_into(usage_totals::table)
        .values(&totals)
        .on_conflict((
            usage_totals::tenant_id,
            usage_totals::period,
            usage_totals::sku,
            usage_totals::price_class,
            usage_totals::price_per_gpu_hour,
        ))
        .do_update()
        .set(
            usage_totals::gpu_seconds
                .eq(usage_totals::gpu_seconds + excluded(usage_totals::gpu_seconds)),
        )
        .execute(conn)?;
    let keys: BTreeSet<BookingKey> = per_key.into_keys().collect();
    reprice(conn, &keys, |tenant_id| format!("{batch_id}/{tenant_id}"))
}

/// Prices the tenant's usage of `period` with the contract in force now and books any
/// difference from what is booked, e.g. after a contract change. Call it inside the caller's
/// transaction, after locking the tenant.
pub fn reprice_period(
    conn: &mut PgConnection,
    tenant_id: &str,
    period: NaiveDate,
    reason: &str,
) -> Result<BookingSummary, LedgerError> {
    let keys: Vec<(String, String)> = usage_bookings::table
        .filter(usage_bookings::tenant_id.eq(tenant_id))
        .filter(usage_bookings::period.eq(period))
        .select((usage_bookings::sku, usage_bookings::price_class))
        .for_update()
        .load(conn)?;
    let keys = keys
        .into_iter()
        .map(|(sku, class)| Ok((tenant_id.to_owned(), period, sku, parse_class(&class)?)))
        .collect::<Result<BTreeSet<BookingKey>, LedgerError>>()?;
    reprice(conn, &keys, |tenant_id| format!("{reason}/{tenant_id}"))
}

/// Booked usage of `tenant_id` per month up to `through` (inclusive): GPU-seconds and cents per
/// (SKU, class), as the journal holds them.
pub fn booked_usage(
    conn: &mut PgConnection,
    tenant_id: &str,
    through: NaiveDate,
) -> Result<BTreeMap<NaiveDate, Vec<BookedUsage>>, LedgerError> {
    type Row = (
        NaiveDate,
        String,
        String,
        Decimal,
        Decimal,
        serde_json::Value,
    );
    let rows: Vec<Row> = usage_bookings::table
        .filter(usage_bookings::tenant_id.eq(tenant_id))
        .filter(usage_bookings::period.le(through))
        .order((
            usage_bookings::period,
            usage_bookings::sku,
            usage_bookings::price_class,
        ))
        .select((
            usage_bookings::period,
            usage_bookings::sku,
            usage_bookings::price_class,
            usage_bookings::gpu_seconds,
            usage_bookings::booked_amount,
            usage_bookings::lines,
        ))
        .load(conn)?;
    let mut by_period: BTreeMap<NaiveDate, Vec<_>> = BTreeMap::new();
    for (period, sku, class, gpu_seconds, amount, lines) in rows {
        by_period.entry(period).or_default().push(BookedUsage {
            sku,
            class: parse_class(&class)?,
            gpu_seconds,
            amount,
            lines: lines_from_json(lines)?,
        });
    }
    Ok(by_period)
}

/// Priced totals of a tenant's month under `contract`, without booking anything: what the draft
/// invoice shows: per (SKU, class), GPU-seconds and the price lines, summed.
pub fn priced_usage(
    conn: &mut PgConnection,
    tenant_id: &str,
    period: NaiveDate,
    contract: &Contract,
) -> Result<Vec<BookedUsage>, LedgerError> {
    let totals = load_totals(conn, &[tenant_id], &[period])?;
    Ok(totals
        .into_iter()
        .map(|((_, _, sku, class), at_prices)| {
            let lines = price_lines(contract, &sku, class, &at_prices);
            BookedUsage {
                amount: lines_amount(&lines),
                gpu_seconds: at_prices.values().sum(),
                sku,
                class,
                lines,
            }
        })
        .collect())
}

/// Prices `keys` (whose booking rows the caller holds locked) with the contracts in force and
/// books the differences: one journal transaction per tenant whose amounts moved.
fn reprice(
    conn: &mut PgConnection,
    keys: &BTreeSet<BookingKey>,
    transaction_name: impl Fn(&str) -> String,
) -> Result<BookingSummary, LedgerError> {
    if keys.is_empty() {
        return Ok(BookingSummary::default());
    }
    let tenants: BTreeSet<&str> = keys.iter().map(|key| key.0.as_str()).collect();
    let periods: BTreeSet<NaiveDate> = keys.iter().map(|key| key.1).collect();
    let tenants: Vec<&str> = tenants.into_iter().collect();
    let periods: Vec<NaiveDate> = periods.into_iter().collect();
    let totals = load_totals(conn, &tenants, &periods)?;
    let booked: HashMap<BookingKey, (Decimal, serde_json::Value)> = usage_bookings::table
        .filter(usage_bookings::tenant_id.eq_any(&tenants))
        .filter(usage_bookings::period.eq_any(&periods))
        .select((
            usage_bookings::tenant_id,
            usage_bookings::period,
            usage_bookings::sku,
            usage_bookings::price_class,
            usage_bookings::booked_amount,
            usage_bookings::lines,
        ))
        .load::<(
            String,
            NaiveDate,
            String,
            String,
            Decimal,
            serde_json::Value,
        )>(conn)?
        .into_iter()
        .map(|(tenant_id, period, sku, class, amount, lines)| {
            Ok((
                (tenant_id, period, sku, parse_class(&class)?),
                (amount, lines),
            ))
        })
        .collect::<Result<_, LedgerError>>()?;
    let contracts = contracts_in_force(conn, &tenants)?;
    let list_prices = Contract::default();

    let mut changed = Vec::new();
    // Per tenant, per SKU: the net delta to post.
    let mut deltas: BTreeMap<&str, BTreeMap<&str, Decimal>> = BTreeMap::new();
    for key in keys {
        let (tenant_id, _, sku, class) = key;
        let at_prices = totals.get(key).cloned().unwrap_or_default();
        let contract = contracts.get(tenant_id).unwrap_or(&list_prices);
        let lines = price_lines(contract, sku, *class, &at_prices);
        let target = lines_amount(&lines);
        let lines = lines_to_json(&lines);
        let (already, stored_lines) = booked.get(key).cloned().unwrap_or_default();
        // Lines can change without the amount (a price's seconds move between bands whose
        // roundings compensate): they are rewritten whenever they differ.
        if target != already || lines != stored_lines {
            changed.push((key, target, lines));
        }
        if target != already {
            *deltas
                .entry(tenant_id.as_str())
                .or_default()
                .entry(sku.as_str())
                .or_default() += target - already;
        }
    }
    if changed.is_empty() {
        return Ok(BookingSummary::default());
    }
    let rows: Vec<_> = changed
        .iter()
        .map(|((tenant_id, period, sku, class), amount, lines)| {
            (
                usage_bookings::tenant_id.eq(tenant_id),
                usage_bookings::period.eq(period),
                usage_bookings::sku.eq(sku),
                usage_bookings::price_class.eq(class.code()),
                // Ignored: every row exists; only the booked amount and lines are updated.
                usage_bookings::gpu_seconds.eq(Decimal::ONE),
                usage_bookings::booked_amount.eq(amount),
                usage_bookings::lines.eq(lines),
            )
        })
        .collect();
    diesel::insert_into(usage_bookings::table)
        .values(&rows)
        .on_conflict((
            usage_bookings::tenant_id,
            usage_bookings::period,
            usage_bookings::sku,
            usage_bookings::price_class,
        ))
        .do_update()
        .set((
            usage_bookings::booked_amount.eq(excluded(usage_bookings::booked_amount)),
            usage_bookings::lines.eq(excluded(usage_bookings::lines)),
            usage_bookings::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)?;

    let mut summary = BookingSummary {
        keys_repriced: changed.len(),
        ..BookingSummary::default()
    };
    let mut transactions = Vec::new();
    for (tenant_id, per_sku) in deltas {
        let amounts: Vec<(String, Decimal)> = per_sku
            .into_iter()
            .filter(|(_, delta)| !delta.is_zero())
            .map(|(sku, delta)| (sku.to_owned(), delta))
            .collect();
        if amounts.is_empty() {
            continue;
        }
        summary.booked += amounts.iter().map(|(_, delta)| *delta).sum::<Decimal>();
        let transaction = JournalTransaction::usage(tenant_id, &amounts)?;
        let id = Uuid::new_v5(
            &crate::JOURNAL_NAMESPACE,
            format!("usage/{}", transaction_name(tenant_id)).as_bytes(),
        );
        transactions.push((id, transaction));
    }
    summary.transactions = transactions.len();
    post_new(conn, &transactions)?;
    Ok(summary)
}

/// Running totals of the tenants' months, per booking key: GPU-seconds at each list price.
fn load_totals(
    conn: &mut PgConnection,
    tenants: &[&str],
    periods: &[NaiveDate],
) -> Result<BTreeMap<BookingKey, SecondsAtPrice>, LedgerError> {
    let rows: Vec<(String, NaiveDate, String, String, Decimal, Decimal)> = usage_totals::table
        .filter(usage_totals::tenant_id.eq_any(tenants))
        .filter(usage_totals::period.eq_any(periods))
        // One order of summation, so a list amount is the same on every read.
        .order((
            usage_totals::tenant_id,
            usage_totals::period,
            usage_totals::sku,
            usage_totals::price_class,
            usage_totals::price_per_gpu_hour,
        ))
        .select((
            usage_totals::tenant_id,
            usage_totals::period,
            usage_totals::sku,
            usage_totals::price_class,
            usage_totals::price_per_gpu_hour,
            usage_totals::gpu_seconds,
        ))
        .load(conn)?;
    let mut totals: BTreeMap<BookingKey, SecondsAtPrice> = BTreeMap::new();
    for (tenant_id, period, sku, class, price, gpu_seconds) in rows {
        let key = (tenant_id, period, sku, parse_class(&class)?);
        *totals.entry(key).or_default().entry(price).or_default() += gpu_seconds;
    }
    Ok(totals)
}

/// A price line as `usage_bookings.lines` keeps it: decimals as strings.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct StoredLine {
    gpu_seconds: Decimal,
    unit_price: Decimal,
    amount: Decimal,
}

/// The lines as stored: the same decimals always give the same JSON, so stored lines compare.
fn lines_to_json(lines: &[PriceLine]) -> serde_json::Value {
    let stored: Vec<StoredLine> = lines
        .iter()
        .map(|line| StoredLine {
            gpu_seconds: line.gpu_seconds.normalize(),
            unit_price: line.unit_price,
            amount: line.amount,
        })
        .collect();
    serde_json::Value::Array(
        stored
            .iter()
            .map(|line| {
                serde_json::Value::Object(serde_json::Map::from_iter([
                    (
                        "gpu_seconds".to_owned(),
                        line.gpu_seconds.to_string().into(),
                    ),
                    ("unit_price".to_owned(), line.unit_price.to_string().into()),
                    ("amount".to_owned(), line.amount.to_string().into()),
                ]))
            })
            .collect(),
    )
}

fn lines_from_json(value: serde_json::Value) -> Result<Vec<PriceLine>, LedgerError> {
    let stored: Vec<StoredLine> = serde_json::from_value(value)
        .map_err(|error| LedgerError::Corrupt(format!("usage_bookings.lines: {error}")))?;
    Ok(stored
        .into_iter()
        .map(|line| PriceLine {
            gpu_seconds: line.gpu_seconds,
            unit_price: line.unit_price,
            amount: line.amount,
        })
        .collect())
}

pub(crate) fn parse_class(code: &str) -> Result<PriceClass, LedgerError> {
    code.parse()
        .map_err(|error: gpubill_domain::UnknownPriceClass| LedgerError::Corrupt(error.to_string()))
}
