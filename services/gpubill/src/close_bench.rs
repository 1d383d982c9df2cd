//! `gpubill bench-close`: how long the month-end close takes for many tenants. On a database of
//! its own (`gpubill_bench_<id>`, dropped afterwards), it creates `--tenants` tenants (French,
//! German with a VAT number and American in turn, each billed in its country's time zone, one in
//! ten with a minimum commitment and one in five with prepaid credit), books a month of on-demand
//! and spot usage for each through delta rating, then times `close` for that month, and a second
//! close that must change nothing.

use crate::bench::on_scratch_database;
use crate::close::close_month;
use crate::setup;
use anyhow::{Context, Result};
use diesel::Connection;
use diesel::RunQueryDsl;
use diesel::sql_types::BigInt;
use gpubill_domain::legal_id::luhn_check_digit;
use gpubill_domain::{BillingPeriod, CreditSource, PriceClass};
use gpubill_einvoice::identity::buyer_from_update;
use gpubill_ledger::bookings::{RatedAddition, book_usage};
use gpubill_ledger::contracts::{ContractDocument, set_contract};
use gpubill_ledger::credits::grant_credit;
use gpubill_ledger::profiles::seed_billing_profiles;
use gpubill_platform::config::Config;
use gpubill_platform::db::with_conn;
use gpubill_schema::api::party::{BillingProfileUpdate, Buyer, ElectronicAddress, PostalAddress};
use rust_decimal::Decimal;
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub struct BenchCloseArgs {
    /// Tenants to create and invoice.
    #[arg(long, default_value_t = 10_000)]
    tenants: i64,
    /// The month their usage falls in and that is closed.
    #[arg(long, default_value = "2026-10")]
    period: String,
    /// Tenants finalized at once, as `close --jobs`.
    #[arg(long, default_value_t = 2)]
    jobs: usize,
    /// Keep the bench database afterwards (its name is printed).
    #[arg(long)]
    keep: bool,
}

/// Tenants whose usage is booked per delta-rating call (one batch of the aggregator).
const TENANTS_PER_BATCH: i64 = 500;

pub async fn run(config: &Config, args: BenchCloseArgs) -> Result<()> {
    let period: BillingPeriod = args
        .period
        .parse()
        .with_context(|| format!("--period `{}`", args.period))?;
    anyhow::ensure!(args.tenants >= 1, "--tenants must be at least 1");
    on_scratch_database(config, args.keep, |config| async move {
        measure(&config, &args, period).await
    })
    .await
}

async fn measure(config: &Config, args: &BenchCloseArgs, period: BillingPeriod) -> Result<()> {
    let pool = setup::prepare_ledger(config).await?.pool;
    let tenants = args.tenants;
    let started = Instant::now();
    with_conn(&pool, move |conn| populate(conn, tenants, period)).await?;
    println!(
        "{tenants} tenants with a month of usage booked in {:.2?}",
        started.elapsed()
    );
    let currency = &config.settings.billing.currency;
    let (summary, elapsed) =
        close_month(&pool, currency, &config.seller, period, args.jobs).await?;
    summary.print(period, elapsed, currency);
    let per_second = summary.issued as f64 / elapsed.as_secs_f64().max(f64::EPSILON);
    println!(
        "close: {} invoices in {:.2} s = {per_second:.0} invoices/s ({} jobs)",
        summary.issued,
        elapsed.as_secs_f64(),
        args.jobs
    );
    let (again, again_elapsed) =
        close_month(&pool, currency, &config.seller, period, args.jobs).await?;
    println!(
        "second close: {} issued, {} already finalized, in {:.2} s",
        again.issued,
        again.already_finalized,
        again_elapsed.as_secs_f64()
    );
    anyhow::ensure!(
        summary.failed.is_empty() && again.issued == 0,
        "the close did not finalize every tenant exactly once"
    );
    Ok(())
}

/// The billing profile of bench tenant `i`, of its country (as `populate` gives them): a French
/// one with a SIREN made from `i` and its electronic address, the others by e-mail.
fn bench_buyer(i: i64) -> Result<Buyer, anyhow::Error> {
    let (country, vat_number) = match i % 3 {
        0 => ("FR", None),
        1 => ("DE", Some(format!("DE{i:09}"))),
        _ => ("US", None),
    };
    let french = country == "FR";
    let siren = french
        .then(|| {
            let base = format!("8{i:07}");
            luhn_check_digit(&base).map(|digit| format!("{base}{digit}"))
        })
        .flatten();
    let email = format!("billing@bench-{i:06}.example");
    let update = BillingProfileUpdate {
        legal_name: format!("Bench tenant {i}"),
        address: PostalAddress {
            line1: "1 Bench street".to_owned(),
            line2: None,
            postcode: "00000".to_owned(),
            city: "Bench".to_owned(),
            country: country.to_owned(),
        },
        electronic_address: match &siren {
            Some(siren) => ElectronicAddress {
                scheme: "0225".to_owned(),
                id: siren.clone(),
            },
            None => ElectronicAddress {
                scheme: "EM".to_owned(),
                id: email.clone(),
            },
        },
        siren,
        billing_email: email,
        purchase_order: None,
    };
    Ok(buyer_from_update(
        &format!("bench-{i:06}"),
        country,
        vat_number.as_deref(),
        update,
    )?)
}

fn populate(
    conn: &mut diesel::PgConnection,
    tenants: i64,
    period: BillingPeriod,
) -> Result<(), anyhow::Error> {
    diesel::sql_query(
        "INSERT INTO tenants (tenant_id, name, country, vat_number, time_zone) \
         SELECT format('bench-%s', lpad(i::text, 6, '0')), format('Bench tenant %s', i), \
                (ARRAY['FR', 'DE', 'US'])[1 + i % 3], \
                CASE WHEN i % 3 = 1 THEN format('DE%s', lpad(i::text, 9, '0')) END, \
                (ARRAY['Europe/Paris', 'Europe/Berlin', 'America/New_York'])[1 + i % 3] \
         FROM generate_series(1, $1) AS i",
    )
    .bind::<BigInt, _>(tenants)
    .execute(conn)?;
    let buyers: Vec<Buyer> = (1..=tenants).map(bench_buyer).collect::<Result<_, _>>()?;
    seed_billing_profiles(conn, &buyers, chrono::Utc::now())?;
    let commitment: ContractDocument =
        serde_json::from_str(r#"{"minimum_monthly_commitment": "2500.00"}"#)?;
    for first in (1..=tenants).step_by(usize::try_from(TENANTS_PER_BATCH)?) {
        let last = (first + TENANTS_PER_BATCH - 1).min(tenants);
        let additions: Vec<RatedAddition> = (first..=last)
            .flat_map(|i| {
                let tenant_id = format!("bench-{i:06}");
                let hours = Decimal::from(10 * (1 + i % 50));
                [
                    (PriceClass::OnDemand, Decimal::new(249, 2), hours),
                    (PriceClass::Spot, Decimal::new(125, 2), Decimal::from(5)),
                ]
                .map(|(price_class, price, hours)| RatedAddition {
                    tenant_id: tenant_id.clone(),
                    period: period.first_day(),
                    sku: "H100-SXM5-80GB".to_owned(),
                    price_class,
                    price_per_gpu_hour: price,
                    gpu_seconds: hours * Decimal::from(3600),
                })
            })
            .collect();
        conn.transaction(|conn| book_usage(conn, uuid::Uuid::new_v4(), &additions))?;
    }
    for i in (1..=tenants).filter(|i| i % 10 == 0) {
        set_contract(conn, &format!("bench-{i:06}"), &commitment)?;
    }
    for i in (1..=tenants).filter(|i| i % 5 == 0) {
        grant_credit(
            conn,
            uuid::Uuid::new_v4(),
            &format!("bench-{i:06}"),
            Decimal::new(20_000, 2),
            CreditSource::Bought,
            "bench",
        )?;
    }
    Ok(())
}
