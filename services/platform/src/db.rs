//! Postgres access: the connection pool, migrations, reference data, and the bridge that runs
//! blocking diesel work off the async runtime.

use crate::config::{DatabaseSettings, TenantSpec};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::r2d2::{ConnectionManager, Pool, PooledConnection};
use diesel::upsert::excluded;
use diesel_migrations::MigrationHarness;
use gpubill_schema::models::NewTenant;
use gpubill_schema::schema::tenants;
use std::time::Duration;

pub type PgPool = Pool<ConnectionManager<PgConnection>>;
pub type PooledPg = PooledConnection<ConnectionManager<PgConnection>>;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("cannot get a database connection: {0}")]
    Pool(#[from] diesel::r2d2::PoolError),
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("database migration failed: {0}")]
    Migration(String),
    #[error("database task was cancelled or panicked: {0}")]
    Task(String),
}

/// Builds a pool. Connections are opened lazily, so an unreachable server is reported by the
/// first use, not here.
pub fn pool(settings: &DatabaseSettings) -> Result<PgPool, DbError> {
    Ok(Pool::builder()
        .max_size(settings.pool_size)
        .min_idle(Some(0))
        .connection_timeout(Duration::from_secs(settings.connect_timeout_seconds))
        .test_on_check_out(true)
        .build_unchecked(ConnectionManager::new(&settings.url)))
}

/// Applies pending migrations; returns the versions applied.
pub fn migrate(conn: &mut PgConnection) -> Result<Vec<String>, DbError> {
    let applied = conn
        .run_pending_migrations(gpubill_schema::MIGRATIONS)
        .map_err(|e| DbError::Migration(e.to_string()))?;
    Ok(applied.iter().map(ToString::to_string).collect())
}

/// Whether migrations compiled into this binary are not applied yet.
pub fn has_pending_migrations(conn: &mut PgConnection) -> Result<bool, DbError> {
    conn.has_pending_migration(gpubill_schema::MIGRATIONS)
        .map_err(|e| DbError::Migration(e.to_string()))
}

/// Inserts the configured tenants, updating names, VAT profiles and time zones that changed.
/// Tenants are never deleted here: their usage and invoices outlive a configuration change. The
/// database refuses to move the time zone of a tenant that has usage booked or an invoice (its
/// months are fixed once billed), which fails the start with the tenant named.
pub fn sync_tenants(conn: &mut PgConnection, specs: &[TenantSpec]) -> Result<usize, DbError> {
    let rows: Vec<NewTenant> = specs
        .iter()
        .map(|spec| NewTenant {
            tenant_id: spec.id.clone(),
            name: spec.name.clone(),
            country: spec.country.clone(),
            vat_number: spec.vat_number.clone(),
            time_zone: spec.time_zone.name().to_owned(),
        })
        .collect();
    Ok(diesel::insert_into(tenants::table)
        .values(&rows)
        .on_conflict(tenants::tenant_id)
        .do_update()
        .set((
            tenants::name.eq(excluded(tenants::name)),
            tenants::country.eq(excluded(tenants::country)),
            tenants::vat_number.eq(excluded(tenants::vat_number)),
            tenants::time_zone.eq(excluded(tenants::time_zone)),
        ))
        .execute(conn)?)
}

/// Runs blocking diesel work on tokio's blocking pool with a pooled connection.
pub async fn with_conn<T, E, F>(pool: &PgPool, work: F) -> Result<T, E>
where
    F: FnOnce(&mut PgConnection) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<DbError> + Send + 'static,
{
    let pool = pool.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get().map_err(DbError::from)?;
        work(&mut conn)
    })
    .await
    .map_err(|e| E::from(DbError::Task(e.to_string())))?
}
