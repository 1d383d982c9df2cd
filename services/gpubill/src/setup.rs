//! Start-up steps shared by the subcommands that touch the ledger.

use anyhow::{Context, Result};
use gpubill_ledger::profiles::seed_billing_profiles;
use gpubill_ledger::{LoadedPriceBook, load_price_book};
use gpubill_platform::config::Config;
use gpubill_platform::db::{self, PgPool, with_conn};

/// A ledger database ready for the services.
pub struct PreparedLedger {
    pub pool: PgPool,
    /// The migration versions applied by this start.
    pub migrations_applied: Vec<String>,
    pub price_book: LoadedPriceBook,
}

/// Builds the pool, applies pending migrations, and loads the configured tenants (with the
/// billing profiles of those that have none) and price book.
/// Every start loads the price book: versions already loaded are left as they are, and a loaded
/// version whose price the configuration changed stops the start (versions are immutable).
pub async fn prepare_ledger(config: &Config) -> Result<PreparedLedger> {
    let pool = db::pool(&config.settings.database)?;
    let tenants = config.cluster.tenants.clone();
    let buyers = config.cluster.billing_identities();
    let book = config.price_book.clone();
    let (migrations_applied, price_book) = with_conn(&pool, move |conn| {
        let applied = db::migrate(conn)?;
        db::sync_tenants(conn, &tenants)?;
        seed_billing_profiles(conn, &buyers, chrono::Utc::now())
            .context("cannot seed the billing profiles of cluster.toml")?;
        let loaded = load_price_book(conn, &book).context("cannot load the price book")?;
        Ok::<_, anyhow::Error>((applied, loaded))
    })
    .await
    .with_context(|| {
        format!(
            "cannot prepare the ledger database (database.url = {})",
            redact(&config.settings.database.url)
        )
    })?;
    tracing::info!(
        inserted = price_book.inserted,
        unchanged = price_book.unchanged,
        "price book loaded"
    );
    Ok(PreparedLedger {
        pool,
        migrations_applied,
        price_book,
    })
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_the_password_only() {
        assert_eq!(
            super::redact("postgres://u:secret@h:5432/d"),
            "postgres://u:***@h:5432/d"
        );
        assert_eq!(super::redact("postgres://h/d"), "postgres://h/d");
    }
}
