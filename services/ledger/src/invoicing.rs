//! The invoice lifecycle in Postgres: a live draft (composed from the ledger on every read), a
//! finalized invoice (lines frozen, gapless number, journal posted, prepaid credit drawn, in one
//! database transaction), and a credit note voiding it (the exact mirror of the invoice and of
//! its journal entries). What an invoice contains is decided by `gpubill_domain::compose_invoice`;
//! this module only gathers its inputs and stores its result. A period is a calendar month of the
//! tenant's time zone (`tenants.time_zone`): the ledger keys it by its first day, the aggregator
//! books usage on the tenant's local months, and a month can be finalized once it has ended there.

use crate::bookings::{booked_usage, parse_class, priced_usage, reprice_period};
use crate::contracts::contracts_in_force;
use crate::credits::credit_balance;
use crate::journal::post_new;
use crate::numbering::next_document_number;
use crate::profiles::billing_profile;
use crate::{JOURNAL_NAMESPACE, LedgerError, lock_tenant};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use gpubill_domain::{
    AccountId, BilledLine, BillingPeriod, ChargeKind, ComposedInvoice, Contract, DocumentKind,
    DocumentLine, DocumentNumber, Entry, FinalizedInvoice, JournalTransaction, PriceClass,
    ServicePeriod, TransactionKind, Tz, VatCategory, compose_invoice, credit_note_for,
    parse_time_zone, vat_treatment,
};
use gpubill_einvoice::document::{Issued, IssuedLine, Voided, due_date};
pub use gpubill_schema::api::invoice::{
    CreditNoteLineView, CreditNoteView, InvoiceStatus, InvoiceView, LineView,
};
use gpubill_schema::api::party::Seller;
use gpubill_schema::schema::{
    credit_note_lines, credit_notes, invoice_lines, invoices, journal_entries, tenants,
};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use uuid::Uuid;

/// What finalizing did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finalized {
    Issued(InvoiceView),
    /// The month already has a live invoice; nothing was written.
    AlreadyFinalized(InvoiceView),
    /// Nothing to bill for the month: no invoice was issued.
    NothingToBill,
}

/// The tenant's invoice for `period` (a month of the tenant's time zone) as it would be finalized
/// now, without storing anything. The month's usage is priced with the contract in force.
pub fn draft_invoice(
    conn: &mut PgConnection,
    tenant_id: &str,
    period: BillingPeriod,
    currency: &str,
) -> Result<InvoiceView, LedgerError> {
    conn.transaction(|conn| {
        let profile = tenant_profile(conn, tenant_id)?;
        let contract = contract_of(conn, tenant_id)?;
        let (current, earlier) = gather(conn, tenant_id, period, Some(&contract))?;
        let balance = credit_balance(conn, tenant_id)?;
        let composed = compose(period, &contract, &current, &earlier, &profile, balance)?;
        Ok(view_of_composed(tenant_id, currency, &profile, &composed))
    })
}

/// Finalizes the tenant's invoice for `period`: reprices the month with the contract in force,
/// composes the invoice, takes the next invoice number of the issue year, stores the frozen
/// lines with `seller` and the tenant's billing profile as they are, posts the invoice to the
/// journal and draws prepaid credit, all in one transaction. Idempotent: a month with a live
/// invoice returns it unchanged. Refused with [`LedgerError::PeriodOpen`] while `now` is before
/// the month's end in the tenant's time zone, and with [`LedgerError::BillingProfileMissing`]
/// for a tenant without a billing profile.
pub fn finalize_invoice(
    conn: &mut PgConnection,
    tenant_id: &str,
    period: BillingPeriod,
    currency: &str,
    seller: &Seller,
    now: DateTime<Utc>,
) -> Result<Finalized, LedgerError> {
    conn.transaction(|conn| {
        lock_tenant(conn, tenant_id)?;
        let profile = tenant_profile(conn, tenant_id)?;
        let ends_at = period.end_in(profile.time_zone);
        if now < ends_at {
            return Err(LedgerError::PeriodOpen {
                period,
                time_zone: profile.time_zone,
                ends_at,
            });
        }
        if let Some(number) = live_invoice(conn, tenant_id, period.first_day())? {
            return Ok(Finalized::AlreadyFinalized(invoice(conn, &number)?));
        }
        let buyer = billing_profile(conn, tenant_id)?
            .ok_or_else(|| LedgerError::BillingProfileMissing(tenant_id.to_owned()))?;
        let issue = 1 + invoices::table
            .filter(invoices::tenant_id.eq(tenant_id))
            .filter(invoices::period.eq(period.first_day()))
            .count()
            .get_result::<i64>(conn)?;
        let invoice_id = Uuid::new_v5(
            &JOURNAL_NAMESPACE,
            format!("invoice/{tenant_id}/{period}/{issue}").as_bytes(),
        );
        reprice_period(
            conn,
            tenant_id,
            period.first_day(),
            &format!("finalize/{invoice_id}"),
        )?;
        let contract = contract_of(conn, tenant_id)?;
        let (current, earlier) = gather(conn, tenant_id, period, None)?;
        let balance = credit_balance(conn, tenant_id)?;
        let composed = compose(period, &contract, &current, &earlier, &profile, balance)?;
        if composed.lines.iter().all(|line| line.amount.is_zero()) {
            return Ok(Finalized::NothingToBill);
        }
        let number = next_document_number(conn, DocumentKind::Invoice, now.year())?;
        let mut transactions = vec![(
            Uuid::new_v5(
                &JOURNAL_NAMESPACE,
                format!("journal/{invoice_id}").as_bytes(),
            ),
            JournalTransaction::invoice(tenant_id, &composed)?,
        )];
        let credit_used = composed.credit.credit_used;
        if credit_used > Decimal::ZERO {
            transactions.push((
                credit_use_id(invoice_id),
                JournalTransaction::credit_use(tenant_id, credit_used)?,
            ));
        }
        post_new(conn, &transactions)?;
        let vat = &profile.treatment;
        diesel::insert_into(invoices::table)
            .values((
                invoices::invoice_id.eq(invoice_id),
                invoices::number.eq(number.to_string()),
                invoices::tenant_id.eq(tenant_id),
                invoices::period.eq(period.first_day()),
                invoices::issue.eq(i32::try_from(issue).unwrap_or(i32::MAX)),
                invoices::currency.eq(currency),
                invoices::country.eq(&profile.country),
                invoices::vat_number.eq(&profile.vat_number),
                invoices::vat_category.eq(vat.category.code()),
                invoices::commitment.eq(composed.commitment),
                invoices::net_total.eq(composed.vat.net_total),
                invoices::vat_total.eq(composed.vat.vat_total),
                invoices::total.eq(composed.vat.total),
                invoices::credit_applied.eq(credit_used),
                invoices::transaction_id.eq(transactions[0].0),
                invoices::issued_at.eq(now),
                invoices::seller.eq(Some(identity_json(seller)?)),
                invoices::buyer.eq(Some(identity_json(&buyer)?)),
                invoices::due_on.eq(Some(due_date(seller, now))),
            ))
            .execute(conn)?;
        let lines: Vec<_> = composed
            .lines
            .iter()
            .zip(line_views(&composed))
            .map(|(line, view)| {
                (
                    invoice_lines::invoice_id.eq(invoice_id),
                    invoice_lines::line.eq(view.line),
                    invoice_lines::charge.eq(view.charge),
                    invoice_lines::service_period.eq(line.service_period.first_day()),
                    invoice_lines::adjustment.eq(view.adjustment),
                    invoice_lines::sku.eq(view.sku),
                    invoice_lines::price_class.eq(view.price_class),
                    invoice_lines::description.eq(view.description),
                    invoice_lines::gpu_seconds.eq(view.gpu_seconds),
                    invoice_lines::quantity_gpu_hours.eq(view.quantity_gpu_hours),
                    invoice_lines::unit_price.eq(view.unit_price),
                    invoice_lines::amount.eq(view.amount),
                    invoice_lines::vat_category.eq(view.vat_category),
                    invoice_lines::vat_rate.eq(view.vat_rate),
                )
            })
            .collect();
        diesel::insert_into(invoice_lines::table)
            .values(&lines)
            .execute(conn)?;
        tracing::info!(
            tenant_id,
            %period,
            number = %number,
            total = %composed.vat.total,
            credit_used = %credit_used,
            "invoice finalized"
        );
        Ok(Finalized::Issued(invoice(conn, &number.to_string())?))
    })
}

/// Voids the invoice `number` with a credit note that mirrors it line by line and reverses its
/// journal entries, giving back the prepaid credit it drew. The credit note names `seller` and the
/// tenant's billing profile as they are (the invoice's buyer when the profile is gone).
/// Idempotent: an invoice already voided returns its credit note.
pub fn void_invoice(
    conn: &mut PgConnection,
    number: &str,
    reason: &str,
    seller: &Seller,
    now: DateTime<Utc>,
) -> Result<CreditNoteView, LedgerError> {
    conn.transaction(|conn| {
        let (invoice_id, tenant_id, transaction_id, credit_applied): (Uuid, String, Uuid, Decimal) =
            invoices::table
                .filter(invoices::number.eq(number))
                .select((
                    invoices::invoice_id,
                    invoices::tenant_id,
                    invoices::transaction_id,
                    invoices::credit_applied,
                ))
                .first(conn)
                .optional()?
                .ok_or_else(|| LedgerError::NotFound(format!("invoice {number}")))?;
        lock_tenant(conn, &tenant_id)?;
        if let Some(existing) = credit_note_of(conn, invoice_id)? {
            return credit_note(conn, &existing);
        }
        let stored = invoice(conn, number)?;
        let buyer_json = match billing_profile(conn, &tenant_id)? {
            Some(buyer) => Some(identity_json(&buyer)?),
            None => invoices::table
                .filter(invoices::invoice_id.eq(invoice_id))
                .select(invoices::buyer)
                .first::<Option<serde_json::Value>>(conn)?,
        };
        let invoice_number: DocumentNumber = number
            .parse()
            .map_err(|e: gpubill_domain::NumberingError| LedgerError::Corrupt(e.to_string()))?;
        let document_lines = stored
            .lines
            .iter()
            .map(|line| {
                Ok(DocumentLine {
                    description: line.description.clone(),
                    category: line
                        .vat_category
                        .parse::<VatCategory>()
                        .map_err(|e| LedgerError::Corrupt(e.to_string()))?,
                    rate: line.vat_rate,
                    // A true-up is one of itself, as on the invoice's document lines.
                    quantity: if charge_kind(&line.charge)? == ChargeKind::CommitmentTrueUp {
                        Decimal::ONE
                    } else {
                        line.quantity_gpu_hours
                    },
                    unit_price: line.unit_price,
                    net: line.amount,
                })
            })
            .collect::<Result<Vec<_>, LedgerError>>()?;
        let finalized = FinalizedInvoice::from_lines(invoice_number, document_lines)
            .map_err(|e| LedgerError::Corrupt(e.to_string()))?;
        let mirror =
            credit_note_for(&finalized).map_err(|e| LedgerError::Corrupt(e.to_string()))?;
        let credit_note_number = next_document_number(conn, DocumentKind::CreditNote, now.year())?;
        let credit_note_id = Uuid::new_v5(
            &JOURNAL_NAMESPACE,
            format!("credit-note/{invoice_id}").as_bytes(),
        );

        // The reversal: every entry the invoice posted, and the credit it drew, negated.
        let mut reversed_from = vec![transaction_id];
        if credit_applied > Decimal::ZERO {
            reversed_from.push(credit_use_id(invoice_id));
        }
        let original: Vec<(String, Decimal)> = journal_entries::table
            .filter(journal_entries::transaction_id.eq_any(&reversed_from))
            .order((journal_entries::transaction_id, journal_entries::line))
            .select((journal_entries::account_id, journal_entries::amount))
            .load(conn)?;
        let entries = original
            .into_iter()
            .map(|(account, amount)| Ok(Entry::debit(account.parse::<AccountId>()?, amount)))
            .collect::<Result<Vec<_>, LedgerError>>()?;
        let reversal = JournalTransaction::new(
            TransactionKind::Invoice,
            format!("invoice {number}"),
            entries,
        )?
        .reversal(
            TransactionKind::CreditNote,
            format!("credit note {credit_note_number} voiding {number}"),
        );
        let reversal_id = Uuid::new_v5(
            &JOURNAL_NAMESPACE,
            format!("journal/{credit_note_id}").as_bytes(),
        );
        post_new(conn, &[(reversal_id, reversal)])?;
        diesel::insert_into(credit_notes::table)
            .values((
                credit_notes::credit_note_id.eq(credit_note_id),
                credit_notes::number.eq(credit_note_number.to_string()),
                credit_notes::invoice_id.eq(invoice_id),
                credit_notes::reason.eq(reason),
                credit_notes::net_total.eq(mirror.vat.net_total),
                credit_notes::vat_total.eq(mirror.vat.vat_total),
                credit_notes::total.eq(mirror.vat.total),
                credit_notes::credit_returned.eq(credit_applied),
                credit_notes::transaction_id.eq(reversal_id),
                credit_notes::issued_at.eq(now),
                credit_notes::seller.eq(Some(identity_json(seller)?)),
                credit_notes::buyer.eq(buyer_json),
            ))
            .execute(conn)?;
        let lines: Vec<_> = mirror
            .lines
            .iter()
            .enumerate()
            .map(|(index, line)| {
                (
                    credit_note_lines::credit_note_id.eq(credit_note_id),
                    credit_note_lines::line.eq(i16::try_from(index).unwrap_or(i16::MAX)),
                    credit_note_lines::description.eq(&line.description),
                    credit_note_lines::quantity.eq(line.quantity),
                    credit_note_lines::unit_price.eq(line.unit_price),
                    credit_note_lines::amount.eq(line.net),
                    credit_note_lines::vat_category.eq(line.category.code()),
                    credit_note_lines::vat_rate.eq(line.rate),
                )
            })
            .collect();
        diesel::insert_into(credit_note_lines::table)
            .values(&lines)
            .execute(conn)?;
        tracing::info!(
            tenant_id,
            invoice = number,
            credit_note = %credit_note_number,
            total = %mirror.vat.total,
            "invoice voided"
        );
        credit_note(conn, &credit_note_number.to_string())
    })
}

/// A legal identity as an invoice freezes it.
fn identity_json(identity: &impl serde::Serialize) -> Result<serde_json::Value, LedgerError> {
    serde_json::to_value(identity)
        .map_err(|error| LedgerError::Corrupt(format!("identity as JSON: {error}")))
}

/// The tenant's invoices in the order they were issued (by number: numbers are given in commit
/// order, without gaps), after `after_number`, at most `limit`.
pub fn list_invoices(
    conn: &mut PgConnection,
    tenant_id: &str,
    after_number: Option<&str>,
    limit: i64,
) -> Result<Vec<InvoiceView>, LedgerError> {
    let mut query = invoices::table
        .filter(invoices::tenant_id.eq(tenant_id))
        .order(invoices::number)
        .select(invoices::number)
        .limit(limit)
        .into_boxed();
    if let Some(after) = after_number {
        query = query.filter(invoices::number.gt(after.to_owned()));
    }
    let numbers: Vec<String> = query.load(conn)?;
    numbers.iter().map(|number| invoice(conn, number)).collect()
}

/// The finalized invoice `number` with its lines and status.
pub fn invoice(conn: &mut PgConnection, number: &str) -> Result<InvoiceView, LedgerError> {
    type Row = (
        Uuid,
        String,
        NaiveDate,
        String,
        String,
        Option<String>,
        String,
        (Decimal, Decimal, Decimal, Decimal),
        DateTime<Utc>,
        String,
    );
    let row: Row = invoices::table
        .inner_join(tenants::table)
        .filter(invoices::number.eq(number))
        .select((
            invoices::invoice_id,
            invoices::tenant_id,
            invoices::period,
            invoices::currency,
            invoices::country,
            invoices::vat_number,
            invoices::vat_category,
            (
                invoices::net_total,
                invoices::vat_total,
                invoices::total,
                invoices::credit_applied,
            ),
            invoices::issued_at,
            tenants::time_zone,
        ))
        .first(conn)
        .optional()?
        .ok_or_else(|| LedgerError::NotFound(format!("invoice {number}")))?;
    let (invoice_id, tenant_id, period, currency, country, vat_number, category) =
        (row.0, row.1, row.2, row.3, row.4, row.5, row.6);
    let (net_total, vat_total, total, credit_applied) = row.7;
    let category_code: VatCategory = category
        .parse()
        .map_err(|e: gpubill_domain::VatError| LedgerError::Corrupt(e.to_string()))?;
    type LineRow = (
        i16,
        String,
        NaiveDate,
        bool,
        Option<String>,
        Option<String>,
        String,
        (Decimal, Decimal, Decimal, Decimal),
        String,
        Decimal,
    );
    let lines: Vec<LineRow> = invoice_lines::table
        .filter(invoice_lines::invoice_id.eq(invoice_id))
        .order(invoice_lines::line)
        .select((
            invoice_lines::line,
            invoice_lines::charge,
            invoice_lines::service_period,
            invoice_lines::adjustment,
            invoice_lines::sku,
            invoice_lines::price_class,
            invoice_lines::description,
            (
                invoice_lines::gpu_seconds,
                invoice_lines::quantity_gpu_hours,
                invoice_lines::unit_price,
                invoice_lines::amount,
            ),
            invoice_lines::vat_category,
            invoice_lines::vat_rate,
        ))
        .load(conn)?;
    let credit_note = credit_note_of(conn, invoice_id)?;
    Ok(InvoiceView {
        number: Some(number.to_owned()),
        tenant_id,
        period: month_of(period),
        // The tenant's zone now is the invoice's: it cannot change once the tenant has an invoice.
        time_zone: row.9,
        status: if credit_note.is_some() {
            InvoiceStatus::Voided
        } else {
            InvoiceStatus::Finalized
        },
        issued_at: Some(row.8),
        currency,
        country,
        vat_number,
        vat_category: category,
        // One category per invoice, so one rate: the lines'.
        vat_rate: lines.first().map_or(Decimal::ZERO, |line| line.9),
        vat_mention: category_code.mention().map(str::to_owned),
        lines: lines
            .into_iter()
            .map(|line| LineView {
                line: line.0,
                charge: line.1,
                service_period: month_of(line.2),
                adjustment: line.3,
                sku: line.4,
                price_class: line.5,
                description: line.6,
                gpu_seconds: line.7.0,
                quantity_gpu_hours: line.7.1,
                unit_price: line.7.2,
                amount: line.7.3,
                vat_category: line.8,
                vat_rate: line.9,
            })
            .collect(),
        net_total,
        vat_total,
        total,
        credit_applied,
        amount_due: total - credit_applied,
        credit_note,
    })
}

/// The credit note `number` with its lines.
pub fn credit_note(conn: &mut PgConnection, number: &str) -> Result<CreditNoteView, LedgerError> {
    type Row = (
        Uuid,
        String,
        String,
        String,
        DateTime<Utc>,
        (Decimal, Decimal, Decimal, Decimal),
    );
    let row: Row = credit_notes::table
        .inner_join(invoices::table)
        .filter(credit_notes::number.eq(number))
        .select((
            credit_notes::credit_note_id,
            invoices::number,
            invoices::tenant_id,
            credit_notes::reason,
            credit_notes::issued_at,
            (
                credit_notes::net_total,
                credit_notes::vat_total,
                credit_notes::total,
                credit_notes::credit_returned,
            ),
        ))
        .first(conn)
        .optional()?
        .ok_or_else(|| LedgerError::NotFound(format!("credit note {number}")))?;
    let lines: Vec<(i16, String, Decimal, Decimal, Decimal, String, Decimal)> =
        credit_note_lines::table
            .filter(credit_note_lines::credit_note_id.eq(row.0))
            .order(credit_note_lines::line)
            .select((
                credit_note_lines::line,
                credit_note_lines::description,
                credit_note_lines::quantity,
                credit_note_lines::unit_price,
                credit_note_lines::amount,
                credit_note_lines::vat_category,
                credit_note_lines::vat_rate,
            ))
            .load(conn)?;
    Ok(CreditNoteView {
        number: number.to_owned(),
        invoice_number: row.1,
        tenant_id: row.2,
        reason: row.3,
        issued_at: row.4,
        lines: lines
            .into_iter()
            .map(
                |(line, description, quantity, unit_price, amount, vat_category, vat_rate)| {
                    CreditNoteLineView {
                        line,
                        description,
                        quantity,
                        unit_price,
                        amount,
                        vat_category,
                        vat_rate,
                    }
                },
            )
            .collect(),
        net_total: row.5.0,
        vat_total: row.5.1,
        total: row.5.2,
        credit_returned: row.5.3,
    })
}

/// Every tenant with its time zone, in id order: any may have something to bill (usage, late
/// usage of an earlier month, a reservation or a commitment); finalizing one with nothing is a
/// cheap no-op. The zone tells when the tenant's month ends.
pub fn tenants_to_close(conn: &mut PgConnection) -> Result<Vec<(String, Tz)>, LedgerError> {
    let rows: Vec<(String, String)> = tenants::table
        .order(tenants::tenant_id)
        .select((tenants::tenant_id, tenants::time_zone))
        .load(conn)?;
    rows.into_iter()
        .map(|(tenant_id, name)| {
            let time_zone = stored_time_zone(&tenant_id, &name)?;
            Ok((tenant_id, time_zone))
        })
        .collect()
}

/// What an invoice needs to know about its tenant: VAT and the calendar of its months.
struct TenantProfile {
    country: String,
    vat_number: Option<String>,
    treatment: gpubill_domain::VatTreatment,
    time_zone: Tz,
}

fn tenant_profile(conn: &mut PgConnection, tenant_id: &str) -> Result<TenantProfile, LedgerError> {
    let (country, vat_number, time_zone): (String, Option<String>, String) = tenants::table
        .filter(tenants::tenant_id.eq(tenant_id))
        .select((tenants::country, tenants::vat_number, tenants::time_zone))
        .first(conn)
        .optional()?
        .ok_or_else(|| LedgerError::UnknownTenant(tenant_id.to_owned()))?;
    let treatment = vat_treatment(&country, vat_number.as_deref())
        .map_err(|error| LedgerError::Refused(format!("tenant `{tenant_id}`: {error}")))?;
    Ok(TenantProfile {
        country,
        vat_number,
        treatment,
        time_zone: stored_time_zone(tenant_id, &time_zone)?,
    })
}

/// A tenant's stored time zone. Names are checked when the configuration loads, so an unknown one
/// was written around gpubill.
fn stored_time_zone(tenant_id: &str, name: &str) -> Result<Tz, LedgerError> {
    parse_time_zone(name).map_err(|error| {
        LedgerError::Corrupt(format!("time zone of tenant `{tenant_id}`: {error}"))
    })
}

fn contract_of(conn: &mut PgConnection, tenant_id: &str) -> Result<Contract, LedgerError> {
    Ok(contracts_in_force(conn, &[tenant_id])?
        .remove(tenant_id)
        .unwrap_or_default())
}

fn compose(
    period: BillingPeriod,
    contract: &Contract,
    current: &ServicePeriod,
    earlier: &[ServicePeriod],
    profile: &TenantProfile,
    credit_balance: Decimal,
) -> Result<ComposedInvoice, LedgerError> {
    compose_invoice(
        period,
        profile.time_zone,
        contract,
        current,
        earlier,
        profile.treatment,
        credit_balance,
    )
    .map_err(|error| LedgerError::Refused(error.to_string()))
}

/// The compose inputs of `period`: the month itself, and every earlier month with booked usage
/// or billed lines. With `price_current_with`, the month's usage is priced now instead of read
/// as booked (a draft books nothing).
fn gather(
    conn: &mut PgConnection,
    tenant_id: &str,
    period: BillingPeriod,
    price_current_with: Option<&Contract>,
) -> Result<(ServicePeriod, Vec<ServicePeriod>), LedgerError> {
    let through = period.first_day();
    let mut months: BTreeMap<NaiveDate, ServicePeriod> = BTreeMap::new();
    let mut booked = booked_usage(conn, tenant_id, through)?;
    if let Some(contract) = price_current_with {
        booked.insert(through, priced_usage(conn, tenant_id, through, contract)?);
    }
    for (date, usage) in booked {
        month(&mut months, date)?.booked_usage = usage;
    }
    // Lines of live invoices only: a voided invoice bills nothing.
    type BilledRow = (
        NaiveDate,
        String,
        Option<String>,
        Option<String>,
        Decimal,
        Decimal,
        Decimal,
    );
    let billed: Vec<BilledRow> = invoice_lines::table
        .inner_join(invoices::table)
        .filter(invoices::tenant_id.eq(tenant_id))
        .filter(invoice_lines::service_period.le(through))
        .filter(invoice_is_live())
        .select((
            invoice_lines::service_period,
            invoice_lines::charge,
            invoice_lines::sku,
            invoice_lines::price_class,
            invoice_lines::gpu_seconds,
            invoice_lines::unit_price,
            invoice_lines::amount,
        ))
        .load(conn)?;
    for (date, charge, sku, class, gpu_seconds, unit_price, amount) in billed {
        let charge = charge_kind(&charge)?;
        let class = class.as_deref().map(parse_class).transpose()?;
        // A true-up's price is its amount: it is no part of what keys its lines.
        let unit_price = (charge != ChargeKind::CommitmentTrueUp).then_some(unit_price);
        month(&mut months, date)?.billed.push(BilledLine {
            charge,
            sku,
            class,
            unit_price,
            gpu_seconds,
            amount,
        });
    }
    let commitments: Vec<(NaiveDate, Decimal)> = invoices::table
        .filter(invoices::tenant_id.eq(tenant_id))
        .filter(invoices::period.le(through))
        .filter(invoice_is_live())
        .select((invoices::period, invoices::commitment))
        .load(conn)?;
    for (date, commitment) in commitments {
        month(&mut months, date)?.frozen_commitment = Some(commitment);
    }
    let current = months
        .remove(&through)
        .unwrap_or_else(|| ServicePeriod::new(period));
    Ok((current, months.into_values().collect()))
}

/// A stored charge kind.
fn charge_kind(code: &str) -> Result<ChargeKind, LedgerError> {
    ChargeKind::from_code(code).ok_or_else(|| LedgerError::Corrupt(format!("charge kind `{code}`")))
}

fn month(
    months: &mut BTreeMap<NaiveDate, ServicePeriod>,
    date: NaiveDate,
) -> Result<&mut ServicePeriod, LedgerError> {
    Ok(months
        .entry(date)
        .or_insert(ServicePeriod::new(period_of(date)?)))
}

fn line_views(composed: &ComposedInvoice) -> Vec<LineView> {
    composed
        .lines
        .iter()
        .enumerate()
        .map(|(index, line)| LineView {
            line: i16::try_from(index).unwrap_or(i16::MAX),
            charge: line.charge.code().to_owned(),
            service_period: line.service_period.to_string(),
            adjustment: line.is_adjustment(),
            sku: line.sku.clone(),
            price_class: line.class.map(|class: PriceClass| class.code().to_owned()),
            description: line.description.clone(),
            gpu_seconds: line.gpu_seconds.normalize(),
            quantity_gpu_hours: line.quantity_gpu_hours,
            unit_price: line.unit_price,
            amount: line.amount,
            vat_category: line.vat_category.code().to_owned(),
            vat_rate: line.vat_rate,
        })
        .collect()
}

fn view_of_composed(
    tenant_id: &str,
    currency: &str,
    profile: &TenantProfile,
    composed: &ComposedInvoice,
) -> InvoiceView {
    InvoiceView {
        number: None,
        tenant_id: tenant_id.to_owned(),
        period: composed.period.to_string(),
        time_zone: profile.time_zone.name().to_owned(),
        status: InvoiceStatus::Draft,
        issued_at: None,
        currency: currency.to_owned(),
        country: profile.country.clone(),
        vat_number: profile.vat_number.clone(),
        vat_category: profile.treatment.category.code().to_owned(),
        vat_rate: profile.treatment.rate,
        vat_mention: profile.treatment.mention.map(str::to_owned),
        lines: line_views(composed),
        net_total: composed.vat.net_total,
        vat_total: composed.vat.vat_total,
        total: composed.vat.total,
        credit_applied: composed.credit.credit_used,
        amount_due: composed.credit.amount_still_due,
        credit_note: None,
    }
}

fn live_invoice(
    conn: &mut PgConnection,
    tenant_id: &str,
    period: NaiveDate,
) -> Result<Option<String>, LedgerError> {
    Ok(invoices::table
        .filter(invoices::tenant_id.eq(tenant_id))
        .filter(invoices::period.eq(period))
        .filter(invoice_is_live())
        .select(invoices::number)
        .first(conn)
        .optional()?)
}

/// An invoice no credit note voids: the only kind that bills anything.
#[diesel::dsl::auto_type]
fn invoice_is_live() -> _ {
    diesel::dsl::not(diesel::dsl::exists(
        credit_notes::table.filter(credit_notes::invoice_id.eq(invoices::invoice_id)),
    ))
}

fn credit_note_of(
    conn: &mut PgConnection,
    invoice_id: Uuid,
) -> Result<Option<String>, LedgerError> {
    Ok(credit_notes::table
        .filter(credit_notes::invoice_id.eq(invoice_id))
        .select(credit_notes::number)
        .first(conn)
        .optional()?)
}

fn period_of(date: NaiveDate) -> Result<BillingPeriod, LedgerError> {
    month_of(date)
        .parse()
        .map_err(|e: gpubill_domain::PeriodError| LedgerError::Corrupt(e.to_string()))
}

fn month_of(date: NaiveDate) -> String {
    date.format("%Y-%m").to_string()
}

/// The invoice `number` as issued, for its e-invoice: its lines, amounts and the identities it
/// froze. [`LedgerError::NoEInvoice`] for an invoice issued before invoices froze identities.
pub fn issued_invoice(conn: &mut PgConnection, number: &str) -> Result<Issued, LedgerError> {
    let row: IssuedRow = invoices::table
        .inner_join(tenants::table)
        .filter(invoices::number.eq(number))
        .select(IssuedRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| LedgerError::NotFound(format!("invoice {number}")))?;
    let lines = issued_lines(conn, row.invoice_id)?;
    let (Some(seller), Some(buyer)) = (row.seller, row.buyer) else {
        return Err(LedgerError::NoEInvoice(number.to_owned()));
    };
    Ok(Issued {
        number: row.number,
        issued_at: row.issued_at,
        voids: None,
        reason: None,
        currency: row.currency,
        period: period_of(row.period)?,
        time_zone: parse_time_zone(&row.time_zone)
            .map_err(|error| LedgerError::Corrupt(error.to_string()))?,
        seller: identity_of(seller)?,
        buyer: identity_of(buyer)?,
        lines,
        net_total: row.net_total,
        vat_total: row.vat_total,
        total: row.total,
        prepaid: row.credit_applied,
    })
}

/// The credit note `number` as issued, for its e-invoice: the voided invoice's lines and
/// amounts, the credit it gave back, and the identities the credit note froze.
pub fn issued_credit_note(conn: &mut PgConnection, number: &str) -> Result<Issued, LedgerError> {
    type Row = (
        Uuid,
        String,
        DateTime<Utc>,
        Decimal,
        Option<serde_json::Value>,
        Option<serde_json::Value>,
    );
    let (invoice_id, reason, issued_at, credit_returned, seller, buyer): Row = credit_notes::table
        .filter(credit_notes::number.eq(number))
        .select((
            credit_notes::invoice_id,
            credit_notes::reason,
            credit_notes::issued_at,
            credit_notes::credit_returned,
            credit_notes::seller,
            credit_notes::buyer,
        ))
        .first(conn)
        .optional()?
        .ok_or_else(|| LedgerError::NotFound(format!("credit note {number}")))?;
    let invoice_number: String = invoices::table
        .find(invoice_id)
        .select(invoices::number)
        .first(conn)?;
    let voided = issued_invoice(conn, &invoice_number)?;
    let (Some(seller), Some(buyer)) = (seller, buyer) else {
        return Err(LedgerError::NoEInvoice(number.to_owned()));
    };
    Ok(Issued {
        number: number.to_owned(),
        issued_at,
        voids: Some(Voided {
            number: voided.number,
            issued_at: voided.issued_at,
        }),
        reason: Some(reason),
        seller: identity_of(seller)?,
        buyer: identity_of(buyer)?,
        prepaid: credit_returned,
        ..voided
    })
}

#[derive(Queryable, Selectable)]
#[diesel(check_for_backend(diesel::pg::Pg))]
struct IssuedRow {
    #[diesel(select_expression = invoices::invoice_id)]
    invoice_id: Uuid,
    #[diesel(select_expression = invoices::number)]
    number: String,
    #[diesel(select_expression = invoices::period)]
    period: NaiveDate,
    #[diesel(select_expression = invoices::currency)]
    currency: String,
    #[diesel(select_expression = invoices::issued_at)]
    issued_at: DateTime<Utc>,
    #[diesel(select_expression = invoices::net_total)]
    net_total: Decimal,
    #[diesel(select_expression = invoices::vat_total)]
    vat_total: Decimal,
    #[diesel(select_expression = invoices::total)]
    total: Decimal,
    #[diesel(select_expression = invoices::credit_applied)]
    credit_applied: Decimal,
    #[diesel(select_expression = invoices::seller)]
    seller: Option<serde_json::Value>,
    #[diesel(select_expression = invoices::buyer)]
    buyer: Option<serde_json::Value>,
    #[diesel(select_expression = tenants::time_zone)]
    time_zone: String,
}

fn issued_lines(conn: &mut PgConnection, invoice_id: Uuid) -> Result<Vec<IssuedLine>, LedgerError> {
    type Row = (
        String,
        String,
        NaiveDate,
        Decimal,
        Decimal,
        Decimal,
        String,
        Decimal,
    );
    let rows: Vec<Row> = invoice_lines::table
        .filter(invoice_lines::invoice_id.eq(invoice_id))
        .order(invoice_lines::line)
        .select((
            invoice_lines::charge,
            invoice_lines::description,
            invoice_lines::service_period,
            invoice_lines::gpu_seconds,
            invoice_lines::unit_price,
            invoice_lines::amount,
            invoice_lines::vat_category,
            invoice_lines::vat_rate,
        ))
        .load(conn)?;
    rows.into_iter()
        .map(
            |(
                charge,
                description,
                service_period,
                gpu_seconds,
                unit_price,
                amount,
                category,
                rate,
            )| {
                Ok(IssuedLine {
                    charge: charge_kind(&charge)?,
                    description,
                    service_period: period_of(service_period)?,
                    gpu_seconds,
                    unit_price,
                    amount,
                    category: category
                        .parse::<VatCategory>()
                        .map_err(|error| LedgerError::Corrupt(error.to_string()))?,
                    rate,
                })
            },
        )
        .collect()
}

/// A frozen identity read back.
fn identity_of<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, LedgerError> {
    serde_json::from_value(value)
        .map_err(|error| LedgerError::Corrupt(format!("frozen identity: {error}")))
}

/// The id of the transaction drawing prepaid credit to settle invoice `invoice_id`.
fn credit_use_id(invoice_id: Uuid) -> Uuid {
    Uuid::new_v5(
        &JOURNAL_NAMESPACE,
        format!("credit/{invoice_id}").as_bytes(),
    )
}

/// The documents behind the sales journal's transactions, by transaction id: each invoice
/// (its own transaction and the credit use that settled it) and each credit note, with its
/// number and when it was issued.
pub fn journal_documents(
    conn: &mut PgConnection,
) -> Result<Vec<(Uuid, String, DateTime<Utc>)>, LedgerError> {
    let issued: Vec<(Uuid, Uuid, String, DateTime<Utc>, Decimal)> = invoices::table
        .select((
            invoices::invoice_id,
            invoices::transaction_id,
            invoices::number,
            invoices::issued_at,
            invoices::credit_applied,
        ))
        .load(conn)?;
    let mut documents = Vec::with_capacity(issued.len() * 2);
    for (invoice_id, transaction_id, number, issued_at, credit_applied) in issued {
        if credit_applied > Decimal::ZERO {
            documents.push((credit_use_id(invoice_id), number.clone(), issued_at));
        }
        documents.push((transaction_id, number, issued_at));
    }
    let credit_notes: Vec<(Uuid, String, DateTime<Utc>)> = credit_notes::table
        .select((
            credit_notes::transaction_id,
            credit_notes::number,
            credit_notes::issued_at,
        ))
        .load(conn)?;
    documents.extend(credit_notes);
    Ok(documents)
}

/// The tenant's invoice of `period` as it stands: the live invoice if the month is finalized,
/// else the draft (number `None`).
pub fn invoice_of_period(
    conn: &mut PgConnection,
    tenant_id: &str,
    period: BillingPeriod,
    currency: &str,
) -> Result<InvoiceView, LedgerError> {
    match live_invoice(conn, tenant_id, period.first_day())? {
        Some(number) => invoice(conn, &number),
        None => draft_invoice(conn, tenant_id, period, currency),
    }
}

/// The tenant's time zone, whose months are its billing periods.
pub fn tenant_time_zone(conn: &mut PgConnection, tenant_id: &str) -> Result<Tz, LedgerError> {
    let name: String = tenants::table
        .filter(tenants::tenant_id.eq(tenant_id))
        .select(tenants::time_zone)
        .first(conn)
        .optional()?
        .ok_or_else(|| LedgerError::UnknownTenant(tenant_id.to_owned()))?;
    stored_time_zone(tenant_id, &name)
}
