//! The price book in Postgres: every start loads the configured book idempotently, a loaded
//! version's price can never change (neither through the configuration nor behind the code's
//! back), and new versions are added beside the old ones.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod support;

use diesel::{Connection, RunQueryDsl};
use gpubill_domain::{PriceBook, PriceClass, PriceVersion, SkuPrices};
use gpubill_ledger::{LedgerError, LoadedPriceBook, load_price_book};
use rust_decimal::{Decimal, dec};
use support::{TestEnv, at};

/// SKUs × classes of `config/pricebook.toml`, one version each.
const SHIPPED_PRICES: usize = 8 * 3;

/// `book` with the versions of the H100 SXM5 edited.
fn with_h100_versions(book: &PriceBook, edit: impl FnOnce(&mut Vec<PriceVersion>)) -> PriceBook {
    let mut skus: Vec<SkuPrices> = book.skus().cloned().collect();
    let h100 = skus
        .iter_mut()
        .find(|sku| sku.sku == "H100-SXM5-80GB")
        .unwrap();
    edit(&mut h100.versions);
    PriceBook::new(book.currency(), skus).unwrap()
}

fn version(from: &str, [on_demand, spot, reserved]: [Decimal; 3]) -> PriceVersion {
    PriceVersion::new(
        at(from),
        [
            (PriceClass::OnDemand, on_demand),
            (PriceClass::Spot, spot),
            (PriceClass::Reserved, reserved),
        ],
    )
    .unwrap()
}

async fn stored_prices(env: &TestEnv) -> i64 {
    env.conn(|conn| {
        #[derive(diesel::QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            count: i64,
        }
        diesel::sql_query("SELECT count(*) AS count FROM price_versions")
            .get_result::<Count>(conn)
            .unwrap()
            .count
    })
    .await
}

/// Models every service starting against the same ledger: the book is stored once, and a new
/// version in the configuration is added beside the loaded ones.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loading_the_same_book_again_stores_nothing() {
    let env = TestEnv::new().await;
    // The environment was set up as every start sets its database up: the book is loaded.
    assert_eq!(stored_prices(&env).await, SHIPPED_PRICES as i64);
    let shipped = env.config.price_book.clone();
    let again = env
        .conn(move |conn| load_price_book(conn, &shipped).unwrap())
        .await;
    assert_eq!(
        again,
        LoadedPriceBook {
            inserted: 0,
            unchanged: SHIPPED_PRICES
        }
    );

    let repriced = with_h100_versions(&env.config.price_book, |versions| {
        versions.push(version(
            "2026-12-01T00:00:00Z",
            [dec!(2.19), dec!(1.09), dec!(1.69)],
        ))
    });
    let (first, second) = env
        .conn(move |conn| {
            (
                load_price_book(conn, &repriced).unwrap(),
                load_price_book(conn, &repriced).unwrap(),
            )
        })
        .await;
    assert_eq!(
        (first, second),
        (
            LoadedPriceBook {
                inserted: 3,
                unchanged: SHIPPED_PRICES
            },
            LoadedPriceBook {
                inserted: 0,
                unchanged: SHIPPED_PRICES + 3
            }
        )
    );
    assert_eq!(stored_prices(&env).await, SHIPPED_PRICES as i64 + 3);

    // The binary does the same at every start.
    let output = env.run_cli(&["migrate"]).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "price book loaded: 0 prices new, {SHIPPED_PRICES} already loaded"
        )),
        "{stdout}"
    );
}

/// Models an operator editing a price in place instead of adding a version: refused, with the
/// way out in the message, and nothing of that book is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_price_of_a_loaded_version_is_refused() {
    let env = TestEnv::new().await;
    let edited = with_h100_versions(&env.config.price_book, |versions| {
        versions[0] = version("2026-01-01T00:00:00Z", [dec!(2.49), dec!(1.30), dec!(1.89)]);
        // A new version in the same book is not stored either.
        versions.push(version(
            "2026-12-01T00:00:00Z",
            [dec!(2.19), dec!(1.09), dec!(1.69)],
        ));
    });
    let refused = env
        .conn(move |conn| load_price_book(conn, &edited))
        .await
        .unwrap_err();
    match &refused {
        LedgerError::PriceVersionChanged {
            sku,
            class,
            effective_from,
            stored,
            configured,
        } => assert_eq!(
            (sku.as_str(), *class, *effective_from, *stored, *configured),
            (
                "H100-SXM5-80GB",
                PriceClass::Spot,
                at("2026-01-01T00:00:00Z"),
                dec!(1.25),
                dec!(1.30)
            )
        ),
        other => panic!("expected PriceVersionChanged, got {other:?}"),
    }
    let message = refused.to_string();
    assert!(
        message.contains("add a new version") && message.contains("Restore 1.25"),
        "{message}"
    );
    assert_eq!(stored_prices(&env).await, SHIPPED_PRICES as i64);
}

/// Models a client bypassing the code: the database itself refuses to change or remove a loaded
/// price.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_refuses_to_change_a_loaded_price() {
    let env = TestEnv::new().await;
    let outcomes = env
        .conn(|conn| {
            [
                "UPDATE price_versions SET price_per_gpu_hour = 0.01 WHERE sku = 'H100-SXM5-80GB'",
                "DELETE FROM price_versions",
                "TRUNCATE price_versions",
            ]
            .map(|statement| {
                let outcome =
                    conn.transaction(|conn| diesel::sql_query(statement).execute(conn).map(|_| ()));
                (statement, outcome.map_err(|e| e.to_string()))
            })
        })
        .await;
    for (statement, outcome) in outcomes {
        let error = outcome.expect_err(statement);
        assert!(
            error.contains("price_versions is append-only"),
            "{statement}: {error}"
        );
    }
    assert_eq!(stored_prices(&env).await, SHIPPED_PRICES as i64);
}
