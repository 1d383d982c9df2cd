//! `gpubill bench-export`: how fast the finance exports stream and how much memory they take.
//! On a database of its own (`gpubill_bench_<id>`, dropped afterwards) it books `--journal-lines`
//! journal entry lines (usage accruals, two lines each, spread over a year) and a month of
//! hourly rated usage of `--gpus` GPUs (one allocation each, on one tenant), then times the FEC
//! of the year and the FOCUS export of the month at hourly grain, each written to a file, and
//! prints rows per second and the process's peak resident memory after each.

use crate::bench::on_scratch_database;
use crate::setup;
use anyhow::{Context, Result};
use chrono::Datelike;
use diesel::{Connection, PgConnection, RunQueryDsl};
use gpubill_domain::{BillingPeriod, PriceClass};
use gpubill_exports::fec::{FecOptions, FiscalYear};
use gpubill_exports::focus::{FocusFormat, Grain};
use gpubill_ledger::bookings::{RatedAddition, book_usage};
use gpubill_ledger::books::{write_fec, write_focus};
use gpubill_platform::config::Config;
use gpubill_platform::db::with_conn;
use rust_decimal::Decimal;
use std::io::BufWriter;
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub struct BenchExportArgs {
    /// Journal entry lines to book and export as a FEC.
    #[arg(long, default_value_t = 5_000_000)]
    journal_lines: i64,
    /// GPUs metered every hour of --period, exported as FOCUS rows.
    #[arg(long, default_value_t = 1016)]
    gpus: i64,
    /// The month of usage.
    #[arg(long, default_value = "2026-10")]
    period: String,
    /// Keep the bench database afterwards (its name is printed).
    #[arg(long)]
    keep: bool,
}

/// Journal transactions booked per database transaction while loading.
const TRANSACTIONS_PER_LOAD: i64 = 250_000;
/// The tenant the usage is metered for (one of cluster.toml's).
pub(crate) const TENANT: &str = "mistral-lab";
const SKU: &str = "H100-SXM5-80GB";

pub async fn run(config: &Config, args: BenchExportArgs) -> Result<()> {
    let period: BillingPeriod = args
        .period
        .parse()
        .with_context(|| format!("--period `{}`", args.period))?;
    anyhow::ensure!(
        args.journal_lines >= 2 && args.gpus >= 1,
        "--journal-lines ≥ 2 and --gpus ≥ 1"
    );
    on_scratch_database(config, args.keep, |config| async move {
        measure(&config, &args, period).await
    })
    .await
}

async fn measure(config: &Config, args: &BenchExportArgs, period: BillingPeriod) -> Result<()> {
    let pool = setup::prepare_ledger(config).await?.pool;
    let (lines, gpus) = (args.journal_lines, args.gpus);
    let started = Instant::now();
    let year = period.first_day().year();
    with_conn(&pool, move |conn| load_journal(conn, lines / 2, year)).await?;
    println!(
        "{} journal lines booked in {:.1?}",
        lines / 2 * 2,
        started.elapsed()
    );
    let started = Instant::now();
    with_conn(&pool, move |conn| load_usage(conn, gpus, period, 1)).await?;
    println!(
        "{gpus} GPUs metered hourly over {period} in {:.1?}",
        started.elapsed()
    );

    let books = config.settings.books.clone();
    let fiscal_year =
        FiscalYear::closing_in(year, books.fiscal_year_start_month).context("fiscal year")?;
    let options = FecOptions {
        separator: books.fec_separator,
        charset: books.fec_charset,
        time_zone: books.time_zone,
    };
    let fec_path = std::env::temp_dir().join(format!("{}-fec.txt", uuid::Uuid::new_v4()));
    let path = fec_path.clone();
    let started = Instant::now();
    let summary = with_conn(&pool, move |conn| {
        let out = BufWriter::with_capacity(1 << 20, std::fs::File::create(&path)?);
        write_fec(conn, fiscal_year, options, out, |_| {})
            .map(|(summary, _)| summary)
            .map_err(anyhow::Error::from)
    })
    .await?;
    report("FEC", summary.lines, started, &fec_path);

    let focus_path = std::env::temp_dir().join(format!("{}-focus.csv", uuid::Uuid::new_v4()));
    let path = focus_path.clone();
    let (provider, currency) = (
        config.seller.legal_name.clone(),
        config.settings.billing.currency.clone(),
    );
    let started = Instant::now();
    let rows = with_conn(&pool, move |conn| {
        let out = BufWriter::with_capacity(1 << 20, std::fs::File::create(&path)?);
        write_focus(
            conn,
            period,
            Some(TENANT),
            Grain::Hour,
            FocusFormat::Csv,
            &provider,
            &currency,
            out,
            |_| {},
        )
        .map_err(anyhow::Error::from)
    })
    .await?;
    report("FOCUS", rows, started, &focus_path);
    Ok(())
}

/// Prints the rate and the peak memory so far, and removes the file.
fn report(what: &str, rows: u64, started: Instant, path: &std::path::Path) {
    let elapsed = started.elapsed();
    let bytes = std::fs::metadata(path).map(|meta| meta.len()).unwrap_or(0);
    println!(
        "{what}: {rows} rows, {:.1} MB, in {:.2} s = {:.0} rows/s; peak RSS of the process so far {} MB",
        bytes as f64 / 1e6,
        elapsed.as_secs_f64(),
        rows as f64 / elapsed.as_secs_f64().max(f64::EPSILON),
        peak_rss_mb().map_or_else(|| "?".to_owned(), |mb| mb.to_string())
    );
    let _ = std::fs::remove_file(path);
}

/// `VmHWM` of /proc/self/status, in MB.
fn peak_rss_mb() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

/// Books `transactions` usage accruals (two lines each) spread over `year`, by SQL in batches,
/// under the journal's own checks (balance at commit, append-only).
fn load_journal(conn: &mut PgConnection, transactions: i64, year: i32) -> Result<()> {
    diesel::sql_query(format!(
        "INSERT INTO accounts (account_id, pcg_code, title) VALUES
           ('4181.{TENANT}', '4181', 'Clients - factures à établir'),
           ('706.{SKU}', '706', 'Prestations de services')
         ON CONFLICT DO NOTHING"
    ))
    .execute(conn)?;
    let seconds_per_transaction = (365 * 86_400 / transactions.max(1)).max(1);
    let mut first = 0;
    while first < transactions {
        let last = (first + TRANSACTIONS_PER_LOAD).min(transactions);
        conn.transaction(|conn| -> Result<()> {
            diesel::sql_query(format!(
                "INSERT INTO journal_transactions (transaction_id, kind, description, booked_at)
                 SELECT md5('bench' || i)::uuid, 'usage', 'usage of {TENANT}',
                        timestamptz '{year}-01-01 00:00:00+01' + i * interval '{seconds_per_transaction} seconds'
                 FROM generate_series({first}, {last} - 1) i"
            ))
            .execute(conn)?;
            diesel::sql_query(format!(
                "INSERT INTO journal_entries (transaction_id, line, account_id, amount)
                 SELECT md5('bench' || i)::uuid, l.line, l.account,
                        CASE l.line WHEN 0 THEN -1 ELSE 1 END * (1 + i % 100000) / 100.0
                 FROM generate_series({first}, {last} - 1) i,
                      (VALUES (0, '706.{SKU}'), (1, '4181.{TENANT}')) AS l(line, account)"
            ))
            .execute(conn)?;
            Ok(())
        })?;
        first = last;
    }
    Ok(())
}

/// A month of hourly rated usage of `gpus` GPUs of mistral-lab, one allocation each, at 2.49 on
/// demand, and its booking in the ledger in `bookings` equal usage accruals (the aggregator books
/// one per batch).
pub(crate) fn load_usage(
    conn: &mut PgConnection,
    gpus: i64,
    period: BillingPeriod,
    bookings: i64,
) -> Result<()> {
    // mistral-lab's time zone in cluster.toml.
    let time_zone = gpubill_domain::Tz::Europe__Paris;
    let (start, end) = (period.start_in(time_zone), period.end_in(time_zone));
    let day = period.first_day();
    conn.transaction(|conn| -> Result<()> {
        diesel::sql_query(format!(
            "INSERT INTO usage_streams (allocation_id, gpu_uuid, tenant_id, watermark_seq, max_seq, last_end, first_start)
             SELECT 'bench-' || g, 'GPU-bench-' || g, '{TENANT}', 1, 1, '{end}', '{start}'
             FROM generate_series(1, {gpus}) g"
        ))
        .execute(conn)?;
        diesel::sql_query(format!(
            "INSERT INTO usage_runs (allocation_id, gpu_uuid, first_seq, last_seq, tenant_id, node_id, sku,
                                     run_start, run_end, gpu_seconds, event_digests, source_partition,
                                     first_offset, last_offset, ingested_at, price_class)
             SELECT 'bench-' || g, 'GPU-bench-' || g, 1, 1, '{TENANT}', 'node-' || (g / 8), '{SKU}',
                    '{start}', '{end}', extract(epoch FROM timestamptz '{end}' - timestamptz '{start}'),
                    decode(repeat('00', 16), 'hex'), 0, g, g, now(), 'on_demand'
             FROM generate_series(1, {gpus}) g"
        ))
        .execute(conn)?;
        diesel::sql_query(format!(
            "INSERT INTO rated_usage (allocation_id, gpu_uuid, first_seq, segment, tenant_id, sku, period,
                                      segment_start, segment_end, gpu_seconds, price_per_gpu_hour, amount, price_class)
             SELECT 'bench-' || g, 'GPU-bench-' || g, 1, h.n, '{TENANT}', '{SKU}', '{day}',
                    timestamptz '{start}' + h.n * interval '1 hour',
                    timestamptz '{start}' + (h.n + 1) * interval '1 hour', 3600, 2.49, 2.49, 'on_demand'
             FROM generate_series(1, {gpus}) g,
                  generate_series(0, (extract(epoch FROM timestamptz '{end}' - timestamptz '{start}') / 3600)::int - 1) AS h(n)"
        ))
        .execute(conn)?;
        let seconds = Decimal::from((end - start).num_seconds() * gpus);
        let share = (seconds / Decimal::from(bookings)).trunc();
        for booking in 0..bookings {
            // The last accrual takes what the equal shares leave.
            let gpu_seconds = if booking + 1 == bookings {
                seconds - share * Decimal::from(bookings - 1)
            } else {
                share
            };
            book_usage(
                conn,
                uuid::Uuid::new_v4(),
                &[RatedAddition {
                    tenant_id: TENANT.to_owned(),
                    period: day,
                    sku: SKU.to_owned(),
                    price_class: PriceClass::OnDemand,
                    price_per_gpu_hour: Decimal::new(249, 2),
                    gpu_seconds,
                }],
            )?;
        }
        Ok(())
    })?;
    Ok(())
}
