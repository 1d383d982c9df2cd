//! `gpubill close --period YYYY-MM`: the month-end close. Finalizes every tenant's invoice for
//! the month, each in its own database transaction, with a progress bar, then prints a summary.
//! Idempotent: a tenant whose month is already finalized is counted and left unchanged, so a
//! second run issues nothing. A tenant that cannot be finalized is reported and does not stop
//! the others; the command then exits with an error.
//!
//! Each tenant's month is a calendar month of its time zone, so the month ends at different
//! instants for different tenants. The close is all or nothing: it refuses to start until the
//! month has ended for every tenant (in the zone furthest behind UTC) plus
//! `billing.finalize_grace_hours`, so one close finalizes everyone and no tenant is left over.

use crate::progress::Progress;
use crate::setup;
use anyhow::{Context, Result};
use chrono::{DateTime, Duration, Utc};
use gpubill_domain::{BillingPeriod, DEFAULT_TIME_ZONE, Tz};
use gpubill_ledger::invoicing::{Finalized, finalize_invoice, tenants_to_close};
use gpubill_platform::config::Config;
use gpubill_platform::db::{DbError, PgPool, with_conn};
use gpubill_schema::api::party::Seller;
use rust_decimal::Decimal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub struct CloseArgs {
    /// The month to close, `YYYY-MM` (each tenant's, in its time zone).
    #[arg(long)]
    period: String,
    /// Tenants finalized at once, each on its own connection (at most database.pool_size).
    #[arg(long, default_value_t = 2)]
    jobs: usize,
}

/// What the close did, summed over tenants.
#[derive(Debug, Default)]
pub struct Summary {
    pub issued: usize,
    pub already_finalized: usize,
    pub nothing_to_bill: usize,
    pub failed: Vec<(String, String)>,
    pub net_total: Decimal,
    pub vat_total: Decimal,
    pub total: Decimal,
    pub credit_applied: Decimal,
    pub amount_due: Decimal,
}

pub async fn run(config: &Config, args: CloseArgs) -> Result<()> {
    let period: BillingPeriod = args
        .period
        .parse()
        .with_context(|| format!("--period `{}`", args.period))?;
    let pool = setup::prepare_ledger(config).await?.pool;
    let time_zones: Vec<Tz> = with_conn(&pool, |conn| {
        tenants_to_close(conn).map_err(|error| anyhow::anyhow!(error))
    })
    .await?
    .into_iter()
    .map(|(_, time_zone)| time_zone)
    .collect();
    let grace = Duration::hours(config.settings.billing.finalize_grace_hours);
    let (last_zone, last_end) = last_end(period, time_zones);
    anyhow::ensure!(
        Utc::now() >= last_end + grace,
        "{period} can be closed from {}: its end in {last_zone} (the last of the tenants' time \
         zones to end it) plus billing.finalize_grace_hours = {}; finalize a single invoice \
         earlier through the API",
        last_end + grace,
        config.settings.billing.finalize_grace_hours
    );
    let jobs = args
        .jobs
        .clamp(1, config.settings.database.pool_size as usize);
    let currency = &config.settings.billing.currency;
    let (summary, elapsed) = close_month(&pool, currency, &config.seller, period, jobs).await?;
    summary.print(period, elapsed, currency);
    let targets = [
        ("period", period.to_string()),
        ("issued", summary.issued.to_string()),
        ("failed", summary.failed.len().to_string()),
    ]
    .map(|(name, value)| (name.to_owned(), value))
    .into();
    let succeeded = summary.failed.is_empty();
    with_conn(&pool, move |conn| {
        gpubill_access::audit::append_command(conn, "gpubill close", None, targets, succeeded)
            .context("cannot write the audit trail")
    })
    .await?;
    anyhow::ensure!(
        summary.failed.is_empty(),
        "{} tenants could not be finalized; fix them and run close again (finalized ones are kept)",
        summary.failed.len()
    );
    Ok(())
}

/// When `period` has ended in every one of `time_zones`: its end in the zone that ends it last
/// (the one furthest behind UTC), and that zone. UTC's end when there is no zone.
pub fn last_end(
    period: BillingPeriod,
    time_zones: impl IntoIterator<Item = Tz>,
) -> (Tz, DateTime<Utc>) {
    time_zones
        .into_iter()
        .map(|time_zone| (time_zone, period.end_in(time_zone)))
        .max_by_key(|(_, end)| *end)
        .unwrap_or((DEFAULT_TIME_ZONE, period.end()))
}

/// Finalizes `period` for every tenant with `jobs` workers, each tenant in its own transaction,
/// showing progress; returns what happened and how long it took.
pub async fn close_month(
    pool: &PgPool,
    currency: &str,
    seller: &Seller,
    period: BillingPeriod,
    jobs: usize,
) -> Result<(Summary, std::time::Duration)> {
    let tenants = with_conn(pool, |conn| {
        tenants_to_close(conn).map_err(|error| anyhow::anyhow!(error))
    })
    .await?;
    let started = Instant::now();
    let progress = Progress::new(format!("closing {period}"), tenants.len() as u64, "tenants");
    let queue = Arc::new(Mutex::new(tenants.into_iter()));
    let summary = Arc::new(Mutex::new(Summary::default()));
    let done = Arc::new(AtomicUsize::new(0));
    // Each worker keeps one connection for the whole close, opened here one after the other
    // before any work starts. Checking one out per tenant would cost a liveness query each time;
    // worse, a worker waiting for a connection makes the pool start opening one in its own
    // threads, and if another worker's connection comes back first, nobody waits for that one: a
    // close shorter than a TLS handshake then exits while OpenSSL is still in use on it, which
    // crashes the process.
    let connections = {
        let pool = pool.clone();
        tokio::task::spawn_blocking(move || {
            (0..jobs.max(1))
                .map(|_| pool.get().map_err(DbError::from))
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .context("opening the close's connections stopped")??
    };
    let mut workers = Vec::new();
    for mut conn in connections {
        let (queue, summary, done) = (queue.clone(), summary.clone(), done.clone());
        let progress = progress.clone();
        let (currency, seller) = (currency.to_owned(), seller.clone());
        workers.push(tokio::task::spawn_blocking(move || {
            while let Some((tenant_id, _)) = lock(&queue).next() {
                let outcome = finalize_invoice(
                    &mut conn,
                    &tenant_id,
                    period,
                    &currency,
                    &seller,
                    Utc::now(),
                )
                .map_err(|error| anyhow::anyhow!(error));
                lock(&summary).add(tenant_id, period, outcome);
                progress.show(done.fetch_add(1, Ordering::Relaxed) as u64 + 1);
            }
        }));
    }
    for worker in workers {
        worker.await.context("a close worker stopped")?;
    }
    progress.finish();
    let elapsed = started.elapsed();
    let summary = std::mem::take(&mut *lock(&summary));
    Ok((summary, elapsed))
}

/// The guarded value; a worker that panicked holding the lock leaves it usable, since every
/// update of the queue and the summary is complete before the lock is released.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Summary {
    fn add(&mut self, tenant_id: String, period: BillingPeriod, outcome: Result<Finalized>) {
        match outcome {
            Ok(Finalized::Issued(invoice)) => {
                self.issued += 1;
                self.net_total += invoice.net_total;
                self.vat_total += invoice.vat_total;
                self.total += invoice.total;
                self.credit_applied += invoice.credit_applied;
                self.amount_due += invoice.amount_due;
            }
            Ok(Finalized::AlreadyFinalized(_)) => self.already_finalized += 1,
            Ok(Finalized::NothingToBill) => self.nothing_to_bill += 1,
            Err(error) => {
                tracing::error!(tenant_id, %period, error = %error, "invoice not finalized");
                self.failed.push((tenant_id, format!("{error:#}")));
            }
        }
    }

    pub fn print(&self, period: BillingPeriod, elapsed: std::time::Duration, currency: &str) {
        println!("close of {period}: {elapsed:.2?}");
        println!("  invoices issued:        {}", self.issued);
        println!("  already finalized:      {}", self.already_finalized);
        println!("  nothing to bill:        {}", self.nothing_to_bill);
        println!("  failed:                 {}", self.failed.len());
        println!("  net total:              {} {currency}", self.net_total);
        println!("  VAT:                    {} {currency}", self.vat_total);
        println!("  total:                  {} {currency}", self.total);
        println!(
            "  prepaid credit applied: {} {currency}",
            self.credit_applied
        );
        println!("  amount due:             {} {currency}", self.amount_due);
        for (tenant_id, error) in &self.failed {
            println!("  {tenant_id}: {error}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_ends_for_every_tenant_when_it_ends_in_the_zone_furthest_behind_utc() {
        let november: BillingPeriod = "2026-11".parse().unwrap();
        let end = |text: &str| text.parse::<DateTime<Utc>>().unwrap();
        assert_eq!(
            last_end(
                november,
                [
                    Tz::Europe__Paris,
                    Tz::America__New_York,
                    Tz::Asia__Tokyo,
                    Tz::UTC
                ]
            ),
            (Tz::America__New_York, end("2026-12-01T05:00:00Z"))
        );
        assert_eq!(
            last_end(november, [Tz::Europe__Paris, Tz::Europe__Oslo]).1,
            end("2026-11-30T23:00:00Z")
        );
        assert_eq!(
            last_end(november, []),
            (Tz::UTC, end("2026-12-01T00:00:00Z"))
        );
    }
}
