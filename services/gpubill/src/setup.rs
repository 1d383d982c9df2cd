//! Start-up steps shared by the subcommands that touch the ledger.

use anyhow::{Context, Result};
use gpubill_platform::config::Config;
use gpubill_platform::db::{self, PgPool, with_conn};

/// Builds the pool, applies pending migrations and loads the configured tenants. Returns the pool
/// and the migration versions applied.
pub async fn prepare_ledger(config: &Config) -> Result<(PgPool, Vec<String>)> {
    let pool = db::pool(&config.settings.database)?;
    let tenants = config.cluster.tenants.clone();
    let applied = with_conn(&pool, move |conn| {
        let applied = db::migrate(conn)?;
        db::sync_tenants(conn, &tenants)?;
        Ok::<_, db::DbError>(applied)
    })
    .await
    .with_context(|| {
        format!(
            "cannot prepare the ledger database (database.url = {})",
            redact(&config.settings.database.url)
        )
    })?;
    Ok((pool, applied))
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
