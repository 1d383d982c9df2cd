//! The books as files (FEC, CSV journal, trial balance, FOCUS): gather the journal, the documents behind
//! its transactions and the tenants' names from one consistent snapshot, hand each line to a
//! writer of `gpubill_exports`, line by line as Postgres sends them.

use crate::LedgerError;
use crate::credits::grant_documents;
use crate::invoicing::{invoice_of_period, journal_documents, tenants_to_close};
use crate::journal::{StoredEntry, account_totals, for_each_entry};
use crate::usage_buckets::{bucket_totals, for_each_bucket};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use diesel::pg::PgConnection;
use gpubill_domain::{BillingPeriod, PriceClass, SECONDS_PER_HOUR};
use gpubill_exports::fec::{FecOptions, FecSummary, FecWriter, FiscalYear};
use gpubill_exports::focus::{Bucket, FocusFormat, FocusWriter, Grain, TenantPeriod};
use gpubill_exports::journal_csv::JournalCsvWriter;
use gpubill_exports::{AccountLine, ExportError, JournalLine, Piece, TenantRef, trial_balance};
use gpubill_schema::api::export::TrialBalance;
use rust_decimal::Decimal;
use std::collections::HashMap;
use std::io::Write;
use uuid::Uuid;

/// Runs `read` in a read-only, repeatable-read transaction: everything it reads is one
/// snapshot, so a file never mixes entries booked during the export with their documents.
pub fn in_snapshot<T>(
    conn: &mut PgConnection,
    read: impl FnOnce(&mut PgConnection) -> Result<T, LedgerError>,
) -> Result<T, LedgerError> {
    conn.build_transaction()
        .read_only()
        .repeatable_read()
        .run(read)
}

/// What the lines need beyond the journal: documents and tenant names.
struct Context {
    time_zone: Tz,
    pieces: HashMap<Uuid, Piece>,
    tenants: HashMap<String, String>,
}

impl Context {
    fn gather(conn: &mut PgConnection, time_zone: Tz) -> Result<Self, LedgerError> {
        let day = |at: DateTime<Utc>| at.with_timezone(&time_zone).date_naive();
        let mut pieces = HashMap::new();
        for (transaction_id, number, issued_at) in journal_documents(conn)? {
            let piece = Piece {
                reference: number,
                date: day(issued_at),
            };
            pieces.insert(transaction_id, piece);
        }
        for (transaction_id, grant_id, granted_at) in grant_documents(conn)? {
            let piece = Piece {
                reference: grant_id.to_string(),
                date: day(granted_at),
            };
            pieces.insert(transaction_id, piece);
        }
        let tenants = crate::tenant_names(conn)?.into_iter().collect();
        Ok(Self {
            time_zone,
            pieces,
            tenants,
        })
    }

    fn tenant(&self, tenant_id: &str) -> TenantRef {
        TenantRef {
            id: tenant_id.to_owned(),
            name: self
                .tenants
                .get(tenant_id)
                .cloned()
                .unwrap_or_else(|| tenant_id.to_owned()),
        }
    }

    /// The lines of one transaction, with its document and tenant.
    fn lines(&self, entries: &mut Vec<StoredEntry>) -> Vec<JournalLine> {
        let Some(first) = entries.first() else {
            return Vec::new();
        };
        let piece = self
            .pieces
            .get(&first.transaction_id)
            .cloned()
            .unwrap_or_else(|| {
                Piece::booking(
                    first.transaction_id,
                    first.booked_at.with_timezone(&self.time_zone).date_naive(),
                )
            });
        let tenant = entries
            .iter()
            .find_map(|entry| entry.account.tenant())
            .map(|tenant_id| self.tenant(tenant_id));
        entries
            .drain(..)
            .map(|entry| JournalLine {
                transaction_id: entry.transaction_id,
                kind: entry.kind,
                description: entry.description,
                booked_at: entry.booked_at,
                line: entry.line,
                account: entry.account,
                amount: entry.amount,
                piece: piece.clone(),
                tenant: tenant.clone(),
            })
            .collect()
    }
}

/// Calls `write` with every journal line booked in `[from, to)`, in booking order, each with
/// its document and tenant, and `progress` with the count of lines done every 10,000 lines.
/// Run it [`in_snapshot`].
pub fn for_each_line(
    conn: &mut PgConnection,
    time_zone: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    mut write: impl FnMut(&JournalLine) -> Result<(), ExportError>,
    mut progress: impl FnMut(u64),
) -> Result<u64, LedgerError> {
    let context = Context::gather(conn, time_zone)?;
    let mut transaction: Vec<StoredEntry> = Vec::with_capacity(16);
    let mut done = 0_u64;
    let mut flush = |transaction: &mut Vec<StoredEntry>| -> Result<(), LedgerError> {
        for line in context.lines(transaction) {
            write(&line)?;
            done += 1;
            if done.is_multiple_of(10_000) {
                progress(done);
            }
        }
        Ok(())
    };
    for_each_entry(conn, from, to, |entry: StoredEntry| {
        if transaction
            .first()
            .is_some_and(|first| first.transaction_id != entry.transaction_id)
        {
            flush(&mut transaction)?;
        }
        transaction.push(entry);
        Ok::<(), LedgerError>(())
    })?;
    flush(&mut transaction)?;
    progress(done);
    Ok(done)
}

/// Writes the FEC of `year` to `out`, from one snapshot.
pub fn write_fec<W: Write>(
    conn: &mut PgConnection,
    year: FiscalYear,
    options: FecOptions,
    out: W,
    progress: impl FnMut(u64),
) -> Result<(FecSummary, W), LedgerError> {
    in_snapshot(conn, |conn| {
        let mut writer = FecWriter::new(out, options)?;
        for_each_line(
            conn,
            options.time_zone,
            year.start_in(options.time_zone),
            year.end_in(options.time_zone),
            |line| writer.write(line),
            progress,
        )?;
        Ok(writer.finish()?)
    })
}

/// Writes the CSV journal of `[from, to)` to `out`, from one snapshot; returns the lines
/// written.
pub fn write_journal_csv<W: Write>(
    conn: &mut PgConnection,
    time_zone: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    out: W,
    progress: impl FnMut(u64),
) -> Result<u64, LedgerError> {
    in_snapshot(conn, |conn| {
        let mut writer = JournalCsvWriter::new(out)?;
        for_each_line(
            conn,
            time_zone,
            from,
            to,
            |line| writer.write(line),
            progress,
        )?;
        Ok(writer.finish()?.0)
    })
}

/// The trial balance at `at`.
pub fn trial_balance_at(
    conn: &mut PgConnection,
    at: DateTime<Utc>,
    currency: &str,
) -> Result<TrialBalance, LedgerError> {
    in_snapshot(conn, |conn| {
        let tenants: HashMap<String, String> = crate::tenant_names(conn)?.into_iter().collect();
        let accounts = account_totals(conn, at)?
            .into_iter()
            .map(|(account, debit, credit)| {
                let tenant = account.tenant().map(|tenant_id| TenantRef {
                    id: tenant_id.to_owned(),
                    name: tenants.get(tenant_id).cloned().unwrap_or_default(),
                });
                AccountLine {
                    account,
                    tenant,
                    debit,
                    credit,
                }
            })
            .collect();
        Ok(trial_balance::compose(at, currency, accounts)?)
    })
}

/// Writes the FOCUS rows of `period` for `tenant` (or every tenant) to `out`, from one
/// snapshot: each tenant's usage buckets, then the other lines of its invoice (or draft);
/// `progress` gets the rows written every 10,000. Returns the rows written.
#[allow(clippy::too_many_arguments)] // the export's parameters, each given once
pub fn write_focus<W: Write + Send>(
    conn: &mut PgConnection,
    period: BillingPeriod,
    tenant: Option<&str>,
    grain: Grain,
    format: FocusFormat,
    provider: &str,
    currency: &str,
    out: W,
    mut progress: impl FnMut(u64),
) -> Result<u64, LedgerError> {
    in_snapshot(conn, |conn| {
        let names: HashMap<String, String> = crate::tenant_names(conn)?.into_iter().collect();
        let tenants: Vec<(String, Tz)> = tenants_to_close(conn)?
            .into_iter()
            .filter(|(id, _)| tenant.is_none_or(|wanted| wanted == id))
            .collect();
        if let (Some(wanted), true) = (tenant, tenants.is_empty()) {
            return Err(LedgerError::UnknownTenant(wanted.to_owned()));
        }
        let mut writer = FocusWriter::new(out, format, provider, currency, grain)?;
        let mut buckets = 0_u64;
        for (tenant_id, time_zone) in tenants {
            let totals = bucket_totals(conn, period.first_day(), Some(&tenant_id), grain.code())?;
            let invoice = invoice_of_period(conn, &tenant_id, period, currency)?;
            let reserved_hours: HashMap<String, Decimal> = totals
                .iter()
                .filter(|total| total.price_class == PriceClass::Reserved.code())
                .map(|total| (total.sku.clone(), total.gpu_seconds / SECONDS_PER_HOUR))
                .collect();
            writer.begin_period(TenantPeriod {
                tenant_name: names
                    .get(&tenant_id)
                    .cloned()
                    .unwrap_or_else(|| tenant_id.clone()),
                time_zone,
                start: period.start_in(time_zone),
                end: period.end_in(time_zone),
                invoice,
                seconds: totals
                    .into_iter()
                    .map(|total| ((total.sku, total.price_class), total.gpu_seconds))
                    .collect(),
                tenant_id: tenant_id.clone(),
            });
            for_each_bucket(
                conn,
                period.first_day(),
                Some(&tenant_id),
                grain.code(),
                |row| {
                    writer.usage(&Bucket {
                        allocation_id: row.allocation_id,
                        sku: row.sku,
                        price_class: row.price_class,
                        list_price: row.list_price,
                        start: row.start,
                        gpu_seconds: row.gpu_seconds,
                        nodes: row.nodes,
                        gpus: row.gpus,
                    })?;
                    buckets += 1;
                    if buckets.is_multiple_of(10_000) {
                        progress(buckets);
                    }
                    Ok::<(), LedgerError>(())
                },
            )?;
            writer.end_period(&reserved_hours)?;
        }
        progress(buckets);
        Ok(writer.finish()?)
    })
}
