//! The price book in Postgres: every version of the configured price book, one row per SKU, price
//! class and version in `price_versions`, loaded at each start. A loaded version never changes (the
//! table is append-only), so the prices that rated the ledger stay on record beside it, and a
//! configuration that would reprice past usage is refused instead of silently diverging from it.

use crate::LedgerError;
use chrono::{DateTime, Utc};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use gpubill_domain::{PriceBook, PriceClass};
use gpubill_schema::schema::price_versions;
use rust_decimal::Decimal;
use std::collections::HashMap;

/// Rows per INSERT statement: 4 bind parameters a row stays far below Postgres' 65,535.
const ROWS_PER_STATEMENT: usize = 1000;

/// What loading the price book did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadedPriceBook {
    /// (SKU, class, version) prices stored by this load.
    pub inserted: usize,
    /// Prices already stored, with the same value.
    pub unchanged: usize,
}

/// Where a price is stored: SKU, class code and effective_from.
type PriceKey = (String, String, DateTime<Utc>);

/// Stores every price of `book` that `price_versions` does not hold yet, in one transaction (or
/// the caller's). Loading the same book again stores nothing, so every start can call it. A price
/// already stored for the same SKU, class and effective_from with another value is refused with
/// [`LedgerError::PriceVersionChanged`] and nothing is stored: a version is immutable once loaded.
/// Versions stored earlier but no longer in `book` (a SKU taken off sale) are left as they are.
pub fn load_price_book(
    conn: &mut PgConnection,
    book: &PriceBook,
) -> Result<LoadedPriceBook, LedgerError> {
    let wanted: Vec<(&str, PriceClass, DateTime<Utc>, Decimal)> = book
        .skus()
        .flat_map(|sku| {
            sku.versions.iter().flat_map(move |version| {
                version.prices().map(move |(class, price)| {
                    (sku.sku.as_str(), class, version.effective_from, price)
                })
            })
        })
        .collect();
    conn.transaction(|conn| {
        // Insert first, then compare with what is stored: a concurrent start loading the same
        // book waits on the rows this one inserts, finds them on commit and inserts nothing.
        let mut inserted = 0;
        for chunk in wanted.chunks(ROWS_PER_STATEMENT) {
            let rows: Vec<_> = chunk
                .iter()
                .map(|(sku, class, effective_from, price)| {
                    (
                        price_versions::sku.eq(*sku),
                        price_versions::price_class.eq(class.code()),
                        price_versions::effective_from.eq(*effective_from),
                        price_versions::price_per_gpu_hour.eq(*price),
                    )
                })
                .collect();
            inserted += diesel::insert_into(price_versions::table)
                .values(&rows)
                .on_conflict_do_nothing()
                .execute(conn)?;
        }
        let stored: HashMap<PriceKey, Decimal> = price_versions::table
            .select((
                price_versions::sku,
                price_versions::price_class,
                price_versions::effective_from,
                price_versions::price_per_gpu_hour,
            ))
            .load::<(String, String, DateTime<Utc>, Decimal)>(conn)?
            .into_iter()
            .map(|(sku, class, effective_from, price)| ((sku, class, effective_from), price))
            .collect();
        for (sku, class, effective_from, configured) in &wanted {
            let key = ((*sku).to_owned(), class.code().to_owned(), *effective_from);
            // Decimal equality is by value: 2.49 stored as 2.490 is the same price.
            if let Some(stored) = stored.get(&key)
                && stored != configured
            {
                // Returning an error rolls back what this load inserted.
                return Err(LedgerError::PriceVersionChanged {
                    sku: (*sku).to_owned(),
                    class: *class,
                    effective_from: *effective_from,
                    stored: *stored,
                    configured: *configured,
                });
            }
        }
        Ok(LoadedPriceBook {
            inserted,
            unchanged: wanted.len() - inserted,
        })
    })
}
