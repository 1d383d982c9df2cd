//! The accounting journal on a real Postgres: a posted transaction is booked once, whatever the
//! retries; the database itself refuses unbalanced, altered or extended transactions; document
//! numbers stay gapless when many connections finalize at once and some roll back.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod support;

use diesel::{Connection, PgConnection, RunQueryDsl};
use gpubill_domain::{AccountId, DocumentKind, JournalTransaction};
use gpubill_ledger::{LedgerError, Posted, account_balance, next_document_number, post};
use rust_decimal::Decimal;
use rust_decimal::dec;
use support::TestEnv;
use uuid::Uuid;

fn usage(h100: Decimal, l40s: Decimal) -> JournalTransaction {
    JournalTransaction::usage(
        "mistral-lab",
        &[
            ("H100-SXM5-80GB".to_owned(), h100),
            ("L40S-48GB".to_owned(), l40s),
        ],
    )
    .unwrap()
}

/// Models a writer retrying a post whose acknowledgement it lost, and a bug reusing an id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_is_booked_once_under_its_id() {
    let env = TestEnv::new().await;
    let (first, again, reused, receivable, revenue) = env
        .conn(|conn| {
            let id = Uuid::new_v4();
            let first = post(conn, id, &usage(dec!(24.90), dec!(0.99))).unwrap();
            let again = post(conn, id, &usage(dec!(24.90), dec!(0.99))).unwrap();
            let reused = post(conn, id, &usage(dec!(24.90), dec!(1.98)));
            let receivable =
                account_balance(conn, &AccountId::unbilled_receivables("mistral-lab")).unwrap();
            let revenue = account_balance(conn, &AccountId::revenue("H100-SXM5-80GB")).unwrap();
            (first, again, reused, receivable, revenue)
        })
        .await;
    assert_eq!((first, again), (Posted::Booked, Posted::AlreadyBooked));
    assert!(
        matches!(reused, Err(LedgerError::Conflict(_))),
        "{reused:?}"
    );
    assert_eq!((receivable, revenue), (dec!(25.89), dec!(-24.90)));
}

/// Models a client bypassing the code: every attempt to book an unbalanced transaction, to
/// change or remove what is booked, or to extend a booked transaction fails in the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_refuses_unbalanced_altered_or_extended_transactions() {
    let env = TestEnv::new().await;
    let booked = Uuid::new_v4();
    let outcomes = env
        .conn(move |conn| {
            post(conn, booked, &usage(dec!(10.00), dec!(2.50))).unwrap();
            let new_transaction = |id: Uuid| {
                format!(
                    "INSERT INTO journal_transactions (transaction_id, kind, description) \
                     VALUES ('{id}', 'usage', 'raw');"
                )
            };
            let entry = |id: Uuid, line: i32, account: &str, amount: &str| {
                format!(
                    "INSERT INTO journal_entries (transaction_id, line, account_id, amount) \
                     VALUES ('{id}', {line}, '{account}', {amount});"
                )
            };
            let attempts: Vec<(&str, Vec<String>)> = vec![
                ("unbalanced", {
                    let id = Uuid::new_v4();
                    vec![
                        new_transaction(id),
                        entry(id, 0, "4181.mistral-lab", "10.00"),
                        entry(id, 1, "706.H100-SXM5-80GB", "-9.99"),
                    ]
                }),
                ("at least two", vec![new_transaction(Uuid::new_v4())]),
                ("amount", {
                    let id = Uuid::new_v4();
                    vec![
                        new_transaction(id),
                        entry(id, 0, "4181.mistral-lab", "1.001"),
                        entry(id, 1, "706.H100-SXM5-80GB", "-1.001"),
                    ]
                }),
                (
                    "booked earlier",
                    vec![
                        entry(booked, 7, "4181.mistral-lab", "5.00"),
                        entry(booked, 8, "706.H100-SXM5-80GB", "-5.00"),
                    ],
                ),
                (
                    "append-only",
                    vec!["UPDATE journal_entries SET amount = amount * 2".into()],
                ),
                ("append-only", vec!["DELETE FROM journal_entries".into()]),
                (
                    "append-only",
                    vec!["TRUNCATE journal_entries CASCADE".into()],
                ),
                (
                    "append-only",
                    vec!["UPDATE journal_transactions SET kind = 'invoice'".into()],
                ),
                (
                    "append-only",
                    vec!["DELETE FROM journal_transactions".into()],
                ),
            ];
            let outcomes: Vec<(&str, Result<(), String>)> = attempts
                .into_iter()
                .map(|(expected, statements)| {
                    let outcome = conn
                        .transaction(|conn| {
                            for statement in &statements {
                                diesel::sql_query(statement.as_str()).execute(conn)?;
                            }
                            Ok::<_, diesel::result::Error>(())
                        })
                        .map_err(|e| e.to_string());
                    (expected, outcome)
                })
                .collect();
            let receivable =
                account_balance(conn, &AccountId::unbilled_receivables("mistral-lab")).unwrap();
            (outcomes, receivable)
        })
        .await;
    let (outcomes, receivable) = outcomes;
    for (expected, outcome) in outcomes {
        let error = outcome.expect_err(expected);
        assert!(
            error.contains(expected) || (expected == "amount" && error.contains("check")),
            "expected `{expected}`: {error}"
        );
    }
    assert_eq!(receivable, dec!(12.50), "nothing booked changed");
}

/// Models month-end close finalizing invoices from many connections at once, with some
/// finalizations failing and rolling back: the numbers issued are 1, 2, 3, ... without a gap or
/// a repeat, per series.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn document_numbers_are_gapless_under_concurrent_finalizations() {
    const WRITERS: usize = 6;
    const ATTEMPTS: usize = 20;
    let env = TestEnv::new().await;
    env.conn(|conn| {
        diesel::sql_query("CREATE TABLE issued (number TEXT PRIMARY KEY)")
            .execute(conn)
            .unwrap()
    })
    .await;
    let url = env.config.settings.database.url.clone();
    let writers: Vec<_> = (0..WRITERS)
        .map(|writer| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut conn = PgConnection::establish(&url).unwrap();
                let mut committed = 0;
                for attempt in 0..ATTEMPTS {
                    let kind = if attempt % 5 == 4 {
                        DocumentKind::CreditNote
                    } else {
                        DocumentKind::Invoice
                    };
                    let outcome = conn.transaction(|conn| {
                        let number = next_document_number(conn, kind, 2026).unwrap();
                        diesel::sql_query(format!("INSERT INTO issued VALUES ('{number}')"))
                            .execute(conn)?;
                        // Hold the number a moment, as a finalization writing its lines does.
                        std::thread::sleep(std::time::Duration::from_millis(2));
                        if (writer + attempt) % 4 == 3 {
                            return Err(diesel::result::Error::RollbackTransaction);
                        }
                        Ok(())
                    });
                    if outcome.is_ok() {
                        committed += 1;
                    }
                }
                committed
            })
        })
        .collect();
    let committed: usize = writers.into_iter().map(|w| w.join().unwrap()).sum();

    #[derive(diesel::QueryableByName)]
    struct Issued {
        #[diesel(sql_type = diesel::sql_types::Text)]
        number: String,
    }
    let issued: Vec<String> = env
        .conn(|conn| {
            diesel::sql_query("SELECT number FROM issued ORDER BY number")
                .load::<Issued>(conn)
                .unwrap()
        })
        .await
        .into_iter()
        .map(|row| row.number)
        .collect();
    assert_eq!(issued.len(), committed);
    let series = |prefix: &str| -> Vec<String> {
        issued
            .iter()
            .filter(|number| number.starts_with(prefix))
            .cloned()
            .collect()
    };
    let (invoices, credit_notes) = (series("INV-2026-"), series("CN-2026-"));
    assert_eq!(invoices.len() + credit_notes.len(), committed);
    for (prefix, numbers) in [("INV", invoices), ("CN", credit_notes)] {
        let expected: Vec<String> = (1..=numbers.len())
            .map(|sequence| format!("{prefix}-2026-{sequence:06}"))
            .collect();
        assert_eq!(numbers, expected, "{prefix} numbers are 1..=n");
    }
    assert!(
        committed < WRITERS * ATTEMPTS,
        "some finalizations rolled back"
    );
}
