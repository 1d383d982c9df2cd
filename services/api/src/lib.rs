//! The gpubill HTTP API (actix-web): health, usage, invoices (draft, finalize, void), credit notes,
//! contracts, prepaid credit, missing usage, the price book, and the scheduler's allocations,
//! quota checks, node states and reconciliation. One file per action under
//! `routes/`, one error type (`error`) mapped to HTTP statuses with a machine-readable body.

pub mod error;
pub mod routes;

use actix_web::{App, HttpServer, web};
use gpubill_domain::PriceBook;
use gpubill_platform::config::Config;
use gpubill_platform::{PgPool, Shutdown};
use gpubill_scheduler::Scheduler;
use gpubill_scheduler::reconcile::Reconciler;
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
}

impl AppState {
    pub fn new(config: &Config, pool: PgPool, scheduler: Scheduler) -> Self {
        Self {
            pool,
            scheduler,
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
    let (server, address) = bind(
        AppState::new(config, pool, scheduler),
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
