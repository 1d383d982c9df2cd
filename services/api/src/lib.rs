//! The gpubill HTTP API (actix-web): health, usage, invoices (draft, finalize, void), credit notes,
//! contracts, prepaid credit, missing usage, the price book, and the scheduler's allocations,
//! quota checks, node states and reconciliation. One file per action under
//! `routes/`, one error type (`error`) mapped to HTTP statuses with a machine-readable body.
//! Every request gets a request id and URL checks (`envelope`), every route its access check and,
//! when it changes state, its audit row (`access`); bodies are read by one extractor (`body`).

pub mod access;
pub mod body;
pub mod envelope;
pub mod error;
pub mod input;
pub mod routes;

use actix_web::{App, HttpServer, middleware, web};
use gpubill_access::Authenticator;
use gpubill_domain::PriceBook;
use gpubill_platform::config::{Cluster, Config};
use gpubill_platform::{PgPool, Shutdown};
use gpubill_scheduler::Scheduler;
use gpubill_scheduler::reconcile::Reconciler;
use rust_decimal::Decimal;
use std::net::SocketAddr;
use std::sync::Arc;

pub use actix_web::dev::{Server, ServerHandle};
pub use error::ApiError;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub currency: String,
    /// Contracts name SKUs; they must exist in the book.
    pub price_book: Arc<PriceBook>,
    pub missing_usage_after_seconds: i64,
    pub scheduler: Scheduler,
    /// Allocations against metered usage, with `cluster.toml`'s static allocations.
    pub reconciler: Arc<Reconciler>,
    /// API keys, checked from memory.
    pub authenticator: Authenticator,
    /// Tenants and nodes a key may be bound to.
    pub cluster: Arc<Cluster>,
    pub max_credit_grant: Decimal,
    pub portal_key_seconds: i64,
}

impl AppState {
    pub fn new(
        config: &Config,
        pool: PgPool,
        scheduler: Scheduler,
        authenticator: Authenticator,
    ) -> Self {
        Self {
            pool,
            scheduler,
            authenticator,
            cluster: Arc::new(config.cluster.clone()),
            max_credit_grant: config.settings.billing.max_credit_grant,
            portal_key_seconds: config.settings.auth.portal_key_seconds,
            reconciler: Arc::new(Reconciler::new(config)),
            currency: config.settings.billing.currency.clone(),
            price_book: Arc::new(config.price_book.clone()),
            missing_usage_after_seconds: config.settings.billing.missing_usage_after_seconds,
        }
    }
}

/// Binds the API to `address` (port 0 picks a free port) and returns the server, not yet
/// running, with the address it listens on.
pub fn bind(
    state: AppState,
    address: &str,
    workers: usize,
    shutdown_deadline_seconds: u64,
) -> std::io::Result<(Server, SocketAddr)> {
    let data = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .configure(routes::configure)
            .wrap(middleware::from_fn(envelope::envelope))
    })
    .workers(workers)
    .disable_signals()
    .shutdown_timeout(shutdown_deadline_seconds)
    .bind(address)?;
    let bound = server
        .addrs()
        .first()
        .copied()
        .ok_or_else(|| std::io::Error::other(format!("no address bound for {address}")))?;
    Ok((server.run(), bound))
}

/// Serves on `http.bind` until `shutdown` is triggered, then drains in-flight requests.
pub async fn serve(config: &Config, pool: PgPool, mut shutdown: Shutdown) -> std::io::Result<()> {
    let http = &config.settings.http;
    let scheduler = Scheduler::start(config, pool.clone())
        .await
        .map_err(|error| std::io::Error::other(format!("scheduler: {error}")))?;
    scheduler.spawn_background(shutdown.clone());
    let authenticator = Authenticator::start(pool.clone(), &config.settings.auth)
        .await
        .map_err(|error| std::io::Error::other(format!("API keys: {error}")))?;
    authenticator.spawn_refresh(shutdown.clone());
    let (server, address) = bind(
        AppState::new(config, pool, scheduler, authenticator),
        &http.bind,
        http.workers,
        http.shutdown_deadline_seconds,
    )?;
    tracing::info!(%address, "API listening");
    let handle = server.handle();
    tokio::spawn(async move {
        shutdown.triggered().await;
        handle.stop(true).await;
    });
    server.await
}
