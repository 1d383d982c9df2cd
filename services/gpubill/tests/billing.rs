//! Billing on a real Postgres: delta-rated usage booked to the journal, invoices finalized with
//! gapless numbers under concurrency, late usage billed as an adjustment naming its month, credit
//! notes reversing an invoice exactly, prepaid credit, an idempotent month close, and the
//! database refusing edits that would falsify any of it.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod support;

use diesel::{Connection, PgConnection, RunQueryDsl};
use gpubill_domain::{AccountId, BillingPeriod, CreditSource, PriceClass};
use gpubill_ledger::contracts::{ContractDocument, set_contract};
use gpubill_ledger::credits::{credit_balance, grant_credit};
use gpubill_ledger::invoicing::{Finalized, InvoiceView, finalize_invoice, invoice, void_invoice};
use gpubill_ledger::{LedgerError, account_balance};
use rust_decimal::Decimal;
use rust_decimal::dec;
use std::collections::BTreeMap;
use support::{TestEnv, at, book, h100_hours};
use uuid::Uuid;

const H100: &str = "H100-SXM5-80GB";

fn finalize(conn: &mut PgConnection, tenant_id: &str, month: &str, now: &str) -> Finalized {
    let period: BillingPeriod = month.parse().unwrap();
    finalize_invoice(conn, tenant_id, period, "EUR", &support::seller(), at(now)).unwrap()
}

fn issued(outcome: Finalized) -> InvoiceView {
    match outcome {
        Finalized::Issued(invoice) => invoice,
        other => panic!("expected an issued invoice, got {other:?}"),
    }
}

/// Every account's balance.
fn balances(conn: &mut PgConnection) -> BTreeMap<String, Decimal> {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        account_id: String,
        #[diesel(sql_type = diesel::sql_types::Numeric)]
        balance: Decimal,
    }
    diesel::sql_query(
        "SELECT account_id, sum(amount) AS balance FROM journal_entries GROUP BY account_id",
    )
    .load::<Row>(conn)
    .unwrap()
    .into_iter()
    .map(|row| (row.account_id, row.balance.normalize()))
    .filter(|(_, balance)| !balance.is_zero())
    .collect()
}

/// Models usage delivered late: the aggregator books it for a month already invoiced. The
/// invoice stays as issued; the next month's invoice bills the difference on a line naming the
/// month the usage belongs to, and nothing is billed twice or lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_booked_after_its_month_was_finalized_is_billed_next_month_as_an_adjustment() {
    let env = TestEnv::new().await;
    let (september, september_again, october, receivables, unbilled) = env
        .conn(|conn| {
            let t = "mistral-lab";
            book(
                conn,
                &[h100_hours(
                    t,
                    "2026-09",
                    PriceClass::OnDemand,
                    dec!(2.49),
                    dec!(100),
                )],
            );
            let september = issued(finalize(conn, t, "2026-09", "2026-10-05T00:00:00Z"));
            // Late: ten more hours of September, with fifty of October.
            book(
                conn,
                &[
                    h100_hours(t, "2026-09", PriceClass::OnDemand, dec!(2.49), dec!(10)),
                    h100_hours(t, "2026-10", PriceClass::OnDemand, dec!(2.49), dec!(50)),
                ],
            );
            let october = issued(finalize(conn, t, "2026-10", "2026-11-05T00:00:00Z"));
            let september_again = invoice(conn, september.number.as_deref().unwrap()).unwrap();
            let receivables = account_balance(conn, &AccountId::customer_receivables(t)).unwrap();
            let unbilled = account_balance(conn, &AccountId::unbilled_receivables(t)).unwrap();
            (september, september_again, october, receivables, unbilled)
        })
        .await;
    assert_eq!(
        september_again, september,
        "a finalized invoice never changes"
    );
    assert_eq!(september.net_total, dec!(249.00));
    assert_eq!(september.total, dec!(298.80));
    let lines: Vec<(&str, bool, Decimal)> = october
        .lines
        .iter()
        .map(|line| (line.service_period.as_str(), line.adjustment, line.amount))
        .collect();
    assert_eq!(
        lines,
        [
            ("2026-10", false, dec!(124.50)),
            ("2026-09", true, dec!(24.90))
        ]
    );
    assert!(
        october.lines[1].description.contains("2026-09"),
        "{}",
        october.lines[1].description
    );
    assert_eq!(october.net_total, dec!(149.40));
    // Everything booked is billed: nothing left unbilled, receivables are the two totals.
    assert_eq!(unbilled, Decimal::ZERO);
    assert_eq!(receivables, september.total + october.total);
}

/// Models finance voiding an invoice issued in error: the credit note mirrors it line by line,
/// every journal balance returns to what it was before the invoice, the prepaid credit it drew
/// comes back, and the month can then be invoiced again under a new number.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credit_note_reverses_its_invoice_exactly_and_the_month_can_be_billed_again() {
    let env = TestEnv::new().await;
    env.conn(|conn| {
        let t = "helix-bio";
        grant_credit(
            conn,
            Uuid::new_v4(),
            t,
            dec!(100.00),
            CreditSource::Bought,
            "top-up",
        )
        .unwrap();
        book(
            conn,
            &[
                h100_hours(
                    t,
                    "2026-09",
                    PriceClass::OnDemand,
                    dec!(2.49),
                    dec!(333.333),
                ),
                h100_hours(t, "2026-09", PriceClass::Spot, dec!(1.25), dec!(12.5)),
            ],
        );
        let before = balances(conn);
        let first = issued(finalize(conn, t, "2026-09", "2026-10-05T00:00:00Z"));
        assert_eq!(first.credit_applied, dec!(100.00));
        assert_eq!(first.amount_due, first.total - dec!(100.00));
        assert_eq!(credit_balance(conn, t).unwrap(), Decimal::ZERO);
        // Reverse charge: a German customer with a VAT number pays no French VAT.
        assert_eq!(first.vat_category, "reverse_charge");
        assert_eq!(first.vat_total, Decimal::ZERO);

        let number = first.number.clone().unwrap();
        let note = void_invoice(
            conn,
            &number,
            "issued in error",
            &support::seller(),
            at("2026-10-06T00:00:00Z"),
        )
        .unwrap();
        assert_eq!(note.invoice_number, number);
        assert_eq!(note.lines.len(), first.lines.len());
        for (credit, line) in note.lines.iter().zip(&first.lines) {
            assert_eq!(credit.amount, -line.amount);
            assert_eq!(credit.description, line.description);
        }
        assert_eq!(
            (note.net_total, note.vat_total, note.total),
            (-first.net_total, -first.vat_total, -first.total)
        );
        assert_eq!(note.credit_returned, dec!(100.00));
        assert_eq!(
            balances(conn),
            before,
            "the credit note undoes the invoice's journal"
        );
        assert_eq!(credit_balance(conn, t).unwrap(), dec!(100.00));
        assert_eq!(
            invoice(conn, &number).unwrap().status,
            gpubill_ledger::invoicing::InvoiceStatus::Voided
        );

        let again = void_invoice(
            conn,
            &number,
            "again",
            &support::seller(),
            at("2026-10-07T00:00:00Z"),
        )
        .unwrap();
        assert_eq!(
            again.number, note.number,
            "voiding twice issues one credit note"
        );

        let second = issued(finalize(conn, t, "2026-09", "2026-10-08T00:00:00Z"));
        assert_ne!(second.number, first.number);
        let amounts = |invoice: &InvoiceView| -> Vec<Decimal> {
            invoice.lines.iter().map(|line| line.amount).collect()
        };
        assert_eq!(amounts(&second), amounts(&first));
        assert_eq!(second.total, first.total);
    })
    .await;
}

/// Models many finalizations at once (a close with several workers, plus API calls): invoice
/// numbers stay consecutive from 1, one per invoice, with no gap or repeat.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_finalizations_number_invoices_without_gaps() {
    let env = TestEnv::new().await;
    const TENANTS: usize = 40;
    env.conn(|conn| {
        for index in 0..TENANTS {
            let tenant = format!("load-{index:02}");
            diesel::sql_query(format!(
                "INSERT INTO tenants (tenant_id, name) VALUES ('{tenant}', 'Load {index}')"
            ))
            .execute(conn)
            .unwrap();
            gpubill_ledger::profiles::put_billing_profile(
                conn,
                &support::french_buyer(&tenant),
                chrono::Utc::now(),
            )
            .unwrap();
            book(
                conn,
                &[h100_hours(
                    &tenant,
                    "2026-09",
                    PriceClass::OnDemand,
                    dec!(2.49),
                    dec!(1),
                )],
            );
        }
    })
    .await;
    let mut workers = Vec::new();
    for worker in 0..4 {
        let pool = env.pool.clone();
        workers.push(tokio::task::spawn_blocking(move || {
            let mut conn = pool.get().unwrap();
            (0..TENANTS)
                .filter(|index| index % 4 == worker)
                .map(|index| {
                    let outcome = finalize(
                        &mut conn,
                        &format!("load-{index:02}"),
                        "2026-09",
                        "2026-10-05T00:00:00Z",
                    );
                    issued(outcome).number.unwrap()
                })
                .collect::<Vec<_>>()
        }));
    }
    let mut numbers = Vec::new();
    for worker in workers {
        numbers.extend(worker.await.unwrap());
    }
    numbers.sort();
    let expected: Vec<String> = (1..=TENANTS).map(|n| format!("INV-2026-{n:06}")).collect();
    assert_eq!(numbers, expected);
}

/// Models an operator running the month-end close twice (a retry after a timeout): the second
/// run issues nothing and changes no row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_a_month_twice_changes_nothing() {
    let env = TestEnv::new().await;
    env.conn(|conn| {
        for tenant in ["mistral-lab", "helix-bio", "nordic-nlp"] {
            book(
                conn,
                &[h100_hours(
                    tenant,
                    "2026-09",
                    PriceClass::OnDemand,
                    dec!(2.49),
                    dec!(24),
                )],
            );
        }
        // A commitment the month falls short of: a true-up line.
        let document: ContractDocument =
            serde_json::from_str(r#"{"minimum_monthly_commitment": "1000.00"}"#).unwrap();
        set_contract(conn, "nordic-nlp", &document).unwrap();
    })
    .await;
    let snapshot = || {
        env.conn(|conn| {
            let mut lines = Vec::new();
            for query in [
                "SELECT concat_ws('|', number, tenant_id, period, issue, net_total, vat_total, total, credit_applied) AS line FROM invoices ORDER BY 1",
                "SELECT concat_ws('|', invoice_id, line, charge, amount) AS line FROM invoice_lines ORDER BY 1",
                "SELECT concat_ws('|', transaction_id, line, account_id, amount) AS line FROM journal_entries ORDER BY 1",
                "SELECT concat_ws('|', kind, year, last_sequence) AS line FROM document_counters ORDER BY 1",
            ] {
                #[derive(diesel::QueryableByName)]
                struct Line {
                    #[diesel(sql_type = diesel::sql_types::Text)]
                    line: String,
                }
                lines.extend(
                    diesel::sql_query(query)
                        .load::<Line>(conn)
                        .unwrap()
                        .into_iter()
                        .map(|row| row.line),
                );
            }
            lines
        })
    };
    let first = env.run_cli(&["close", "--period", "2026-09"]).await;
    let first_output = String::from_utf8_lossy(&first.stdout).to_string();
    assert!(
        first.status.success(),
        "{first_output}\n{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(
        first_output.contains("invoices issued:        3"),
        "{first_output}"
    );
    let after_first = snapshot().await;
    assert!(
        after_first
            .iter()
            .any(|line| line.contains("commitment_true_up"))
    );

    let second = env.run_cli(&["close", "--period", "2026-09"]).await;
    let second_output = String::from_utf8_lossy(&second.stdout).to_string();
    assert!(
        second.status.success(),
        "{:?}: {second_output}\n{}",
        second.status,
        String::from_utf8_lossy(&second.stderr)
    );
    assert!(
        second_output.contains("invoices issued:        0"),
        "{second_output}"
    );
    assert!(
        second_output.contains("already finalized:      3"),
        "{second_output}"
    );
    assert_eq!(snapshot().await, after_first);

    let early = env.run_cli(&["close", "--period", "2099-01"]).await;
    assert!(!early.status.success(), "a month not over cannot be closed");
}

/// Models a client bypassing the code: the database refuses to edit an invoice or its lines, to
/// issue a second live invoice for a month, and to draw more prepaid credit than was granted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_refuses_edited_invoices_double_invoices_and_overdrawn_credit() {
    let env = TestEnv::new().await;
    env.conn(|conn| {
        let t = "mistral-lab";
        book(conn, &[h100_hours(t, "2026-09", PriceClass::OnDemand, dec!(2.49), dec!(10))]);
        let first = issued(finalize(conn, t, "2026-09", "2026-10-05T00:00:00Z"));
        let attempts = [
            "UPDATE invoices SET total = 0",
            "DELETE FROM invoice_lines",
            "UPDATE invoice_lines SET amount = 0",
            "TRUNCATE invoices CASCADE",
            "INSERT INTO invoices SELECT gen_random_uuid(), 'INV-2026-999999', tenant_id, period, 2, currency, country, vat_number, vat_category, commitment, net_total, vat_total, total, credit_applied, transaction_id, issued_at FROM invoices",
        ];
        for attempt in attempts {
            let refused = conn.transaction(|conn| diesel::sql_query(attempt).execute(conn));
            assert!(refused.is_err(), "{attempt} was accepted");
        }
        assert_eq!(invoice(conn, first.number.as_deref().unwrap()).unwrap(), first);

        let overdraw = conn.transaction(|conn| {
            gpubill_ledger::post_new(
                conn,
                &[(
                    Uuid::new_v4(),
                    gpubill_domain::JournalTransaction::credit_use(t, dec!(5.00)).unwrap(),
                )],
            )
        });
        assert!(
            matches!(overdraw, Err(LedgerError::Db(_))),
            "credit drawn without a balance: {overdraw:?}"
        );
    })
    .await;
}

/// Models the running pipeline: agents' usage through Kafka and the aggregator lands in the
/// journal as each tenant's priced usage, contract discount included, to the cent, whatever the
/// batches; the draft invoice bills exactly what the journal holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aggregator_books_each_tenants_priced_usage_to_the_journal() {
    let env = TestEnv::with_settings(&[("GPUBILL_AGGREGATOR_BATCH_MAX_EVENTS", "97")]).await;
    env.conn(|conn| {
        let document: ContractDocument =
            serde_json::from_str(r#"{"discount_percent": "10"}"#).unwrap();
        set_contract(conn, "mistral-lab", &document).unwrap();
    })
    .await;
    support::meter_two_hours(&env).await;
    env.run_aggregator_until_caught_up().await;
    let period: BillingPeriod = "2026-11".parse().unwrap();
    let checks = env
        .conn(move |conn| {
            ["mistral-lab", "nordic-nlp"].map(|tenant| {
                let draft =
                    gpubill_ledger::invoicing::draft_invoice(conn, tenant, period, "EUR").unwrap();
                let unbilled =
                    account_balance(conn, &AccountId::unbilled_receivables(tenant)).unwrap();
                (tenant, draft, unbilled)
            })
        })
        .await;
    for (tenant, draft, unbilled) in &checks {
        assert!(!draft.lines.is_empty(), "{tenant} has usage");
        assert_eq!(
            draft.net_total, *unbilled,
            "{tenant}: draft equals the journal"
        );
    }
    // mistral-lab: 2 GPUs × 2 h at 2.49 less 10 % = 8.964 → 8.96; nordic-nlp: 1 GPU × 1.5 h.
    assert_eq!(checks[0].2, dec!(8.96));
    assert_eq!(checks[1].2, dec!(3.74));
}

/// One on-demand H100 event of `tenant`, on an allocation and a GPU of its own.
fn h100_usage(tenant: &str, seq: u64, start: &str, end: &str) -> Vec<u8> {
    use gpubill_schema::event::{UsageDataV1, UsageEventV1};
    UsageEventV1::new(
        UsageDataV1 {
            tenant_id: tenant.into(),
            allocation_id: format!("{tenant}-tz"),
            node_id: "node-001".into(),
            gpu_uuid: format!("GPU-TZ-{tenant}"),
            sku: H100.into(),
            price_class: PriceClass::OnDemand,
            seq,
            interval_start: at(start),
            interval_end: at(end),
        },
        at(end),
    )
    .encode()
}

/// Models a tenant billed in Paris months (mistral-lab, `Europe/Paris`) using a GPU from 22:00 on
/// 31 October to 00:20 on 1 November UTC, through the broker and the aggregator: midnight in
/// Paris is 23:00 UTC, so the hour before it is on the October invoice and the 80 minutes after
/// it on November's, whatever the events' edges; a tenant billed in UTC months splits the same
/// usage at 00:00 UTC. Each month can be finalized once it has ended in the tenant's zone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_across_midnight_in_the_tenants_time_zone_is_billed_on_both_local_months() {
    let env = TestEnv::new().await;
    env.conn(|conn| {
        diesel::sql_query(
            "INSERT INTO tenants (tenant_id, name, country) VALUES ('utc-lab', 'UTC Lab', 'FR')",
        )
        .execute(conn)
        .unwrap();
        gpubill_ledger::profiles::put_billing_profile(
            conn,
            &support::french_buyer("utc-lab"),
            chrono::Utc::now(),
        )
        .unwrap();
    })
    .await;
    // Three events: one across 23:00 UTC (midnight in Paris), one across 00:00 UTC.
    let events = [
        (1, "2026-10-31T22:00:00Z", "2026-10-31T22:40:00Z"),
        (2, "2026-10-31T22:40:00Z", "2026-10-31T23:20:00Z"),
        (3, "2026-10-31T23:20:00Z", "2026-11-01T00:20:00Z"),
    ];
    let records: Vec<(&str, Vec<u8>)> = ["mistral-lab", "utc-lab"]
        .into_iter()
        .flat_map(|tenant| {
            events
                .iter()
                .map(move |(seq, start, end)| (tenant, h100_usage(tenant, *seq, start, end)))
        })
        .collect();
    env.produce_raw(&records).await;
    let stats = env.run_aggregator_until_caught_up().await;
    assert_eq!((stats.applied, stats.dead_lettered), (6, 0));

    let (paris, utc, open) = env
        .conn(|conn| {
            let invoiced = |conn: &mut PgConnection, tenant: &str, month: &str| {
                issued(finalize(conn, tenant, month, "2026-12-05T00:00:00Z"))
            };
            // November has ended in Paris at 23:00 UTC on the 30th, not yet in UTC.
            let november: BillingPeriod = "2026-11".parse().unwrap();
            let open = finalize_invoice(
                conn,
                "utc-lab",
                november,
                "EUR",
                &support::seller(),
                at("2026-11-30T23:30:00Z"),
            );
            let paris = [
                invoiced(conn, "mistral-lab", "2026-10"),
                issued(
                    finalize_invoice(
                        conn,
                        "mistral-lab",
                        november,
                        "EUR",
                        &support::seller(),
                        at("2026-11-30T23:30:00Z"),
                    )
                    .unwrap(),
                ),
            ];
            let utc = [
                invoiced(conn, "utc-lab", "2026-10"),
                invoiced(conn, "utc-lab", "2026-11"),
            ];
            (paris, utc, open)
        })
        .await;
    assert!(
        matches!(&open, Err(LedgerError::PeriodOpen { ends_at, .. }) if *ends_at == at("2026-12-01T00:00:00Z")),
        "{open:?}"
    );
    let billed = |invoice: &InvoiceView| -> Vec<(String, String, Decimal, Decimal)> {
        invoice
            .lines
            .iter()
            .map(|line| {
                (
                    invoice.time_zone.clone(),
                    line.service_period.clone(),
                    line.gpu_seconds,
                    line.amount,
                )
            })
            .collect()
    };
    let line = |zone: &str, month: &str, seconds: Decimal, amount: Decimal| {
        (zone.to_owned(), month.to_owned(), seconds, amount)
    };
    // Paris: 22:00–23:00 UTC is October (1 h × 2.49); 23:00–00:20 UTC is November (80 min).
    assert_eq!(
        billed(&paris[0]),
        [line("Europe/Paris", "2026-10", dec!(3600), dec!(2.49))]
    );
    assert_eq!(
        billed(&paris[1]),
        [line("Europe/Paris", "2026-11", dec!(4800), dec!(3.32))]
    );
    assert_eq!(
        (paris[0].period.as_str(), paris[1].period.as_str()),
        ("2026-10", "2026-11")
    );
    // 2.49 + 20 % VAT = 2.988 → 2.99; 3.32 + 0.664 → 0.66 = 3.98.
    assert_eq!((paris[0].total, paris[1].total), (dec!(2.99), dec!(3.98)));
    // UTC: 22:00–00:00 is October (2 h), 00:00–00:20 November (20 min).
    assert_eq!(
        billed(&utc[0]),
        [line("UTC", "2026-10", dec!(7200), dec!(4.98))]
    );
    assert_eq!(
        billed(&utc[1]),
        [line("UTC", "2026-11", dec!(1200), dec!(0.83))]
    );
}

/// Models an operator correcting the time zone of a tenant with nothing billed yet while an
/// aggregator runs on the tenants it read before: the tenant's first usage is cut at the new
/// zone's midnight, not at the one the aggregator had read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_aggregator_rates_first_usage_in_a_zone_changed_since_it_started() {
    let env = TestEnv::new().await;
    let aggregator = env.start_aggregator();
    // Another tenant's usage: once it is in the ledger, the aggregator has read the tenants.
    env.produce_raw(&[(
        "helix-bio",
        h100_usage(
            "helix-bio",
            1,
            "2026-11-10T00:00:00Z",
            "2026-11-10T00:00:10Z",
        ),
    )])
    .await;
    env.wait_caught_up().await;
    env.conn(|conn| {
        diesel::sql_query(
            "UPDATE tenants SET time_zone = 'America/New_York' WHERE tenant_id = 'mistral-lab'",
        )
        .execute(conn)
        .unwrap();
    })
    .await;
    // Across midnight in Paris, the zone the aggregator read; 18:00 in New York.
    env.produce_raw(&[(
        "mistral-lab",
        h100_usage(
            "mistral-lab",
            1,
            "2026-10-31T22:59:55Z",
            "2026-10-31T23:00:05Z",
        ),
    )])
    .await;
    env.wait_caught_up().await;
    let stats = aggregator.stop().await;
    assert_eq!((stats.applied, stats.dead_lettered), (2, 0));
    assert!(
        stats.fenced >= 1,
        "the batch rated in Paris months was refused: {stats:?}"
    );
    #[derive(diesel::QueryableByName, Debug, PartialEq)]
    struct Booked {
        #[diesel(sql_type = diesel::sql_types::Text)]
        line: String,
    }
    let booked: Vec<String> = env
        .conn(|conn| {
            diesel::sql_query(
                "SELECT period::text || ' ' || trim_scale(gpu_seconds)::text AS line \
                 FROM usage_bookings WHERE tenant_id = 'mistral-lab' ORDER BY 1",
            )
            .load::<Booked>(conn)
            .unwrap()
        })
        .await
        .into_iter()
        .map(|row| row.line)
        .collect();
    assert_eq!(booked, ["2026-10-01 10"]);
}

/// Models an operator editing a tenant's `time_zone` in cluster.toml: a tenant with nothing billed
/// yet moves to its new zone at the next start, but one with usage booked keeps the months it was
/// billed in, and the start fails with the tenant and both zones named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenants_time_zone_is_fixed_once_it_has_usage() {
    let env = TestEnv::new().await;
    let configured = env.config.cluster.tenants.clone();
    let moved: Vec<_> = configured
        .iter()
        .cloned()
        .map(|mut tenant| {
            tenant.time_zone = gpubill_domain::Tz::America__New_York;
            tenant
        })
        .collect();
    let (unbilled_move, billed_move, zones) = env
        .conn(move |conn| {
            // Nothing billed yet: every tenant may move.
            let unbilled_move = gpubill_platform::db::sync_tenants(conn, &moved).map(|_| ());
            gpubill_platform::db::sync_tenants(conn, &configured).unwrap();
            book(
                conn,
                &[h100_hours(
                    "mistral-lab",
                    "2026-11",
                    PriceClass::OnDemand,
                    dec!(2.49),
                    dec!(1),
                )],
            );
            let billed_move = gpubill_platform::db::sync_tenants(conn, &moved)
                .map(|_| ())
                .map_err(|error| error.to_string());
            #[derive(diesel::QueryableByName)]
            struct Zone {
                #[diesel(sql_type = diesel::sql_types::Text)]
                line: String,
            }
            let zones: Vec<String> = diesel::sql_query(
                "SELECT tenant_id || ' ' || time_zone AS line FROM tenants ORDER BY 1",
            )
            .load::<Zone>(conn)
            .unwrap()
            .into_iter()
            .map(|zone| zone.line)
            .collect();
            (unbilled_move, billed_move, zones)
        })
        .await;
    assert!(unbilled_move.is_ok(), "{unbilled_move:?}");
    let error = billed_move.unwrap_err();
    assert!(
        error.contains("mistral-lab")
            && error.contains("Europe/Paris")
            && error.contains("America/New_York"),
        "{error}"
    );
    // The refused start changed nothing.
    assert_eq!(
        zones,
        [
            "helix-bio Europe/Berlin",
            "mistral-lab Europe/Paris",
            "nordic-nlp Europe/Oslo"
        ]
    );
}
