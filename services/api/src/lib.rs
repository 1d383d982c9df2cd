//! The gpubill HTTP API (actix-web): health, usage, invoices (draft, finalize, void), credit notes,
//! contracts, prepaid credit, missing usage, the price book, and the scheduler's allocations,
//! quota checks, node states and reconciliation. One file per action under
//! `routes/`, one error type (`error`) mapped to HTTP statuses with a machine-readable body.
//! The customer portal's pages and sessions are served under `/portal` (`portal`).
//! Every request gets a request id and URL checks (`envelope`), every route its access check and,
//! when it changes state, its audit row (`access`); bodies are read by one extractor (`body`).

pub mod access;
pub mod body;
pub mod codec_errors;
pub mod current_request;
pub mod envelope;
pub mod error;
pub mod idempotency;
pub mod input;
pub mod metrics;
pub mod metrics_listener;
pub mod operation;
pub mod overview;
pub mod portal;
pub mod routes;
pub mod session_cookie;
pub mod streaming;

use actix_http::HttpService;
use actix_http::error::DispatchError;
use actix_service::{ServiceFactoryExt, fn_service, map_config};
use actix_web::dev::AppConfig;
use actix_web::{App, middleware, web};
use codec_errors::CodecErrors;
use gpubill_access::Authenticator;
use gpubill_domain::PriceBook;
use gpubill_platform::config::{Cluster, Config, HttpSettings};
use gpubill_platform::{PgPool, Shutdown};
use gpubill_scheduler::Scheduler;
use gpubill_scheduler::reconcile::Reconciler;
use gpubill_schema::api::party::Seller;
use rust_decimal::Decimal;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;

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
    /// Who issues the invoices (`seller.toml`).
    pub seller: Arc<Seller>,
    /// How the books are exported (`[books]`).
    pub books: gpubill_platform::config::BooksSettings,
    /// The customer portal (`[portal]`).
    pub portal: gpubill_platform::config::PortalSettings,
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
            seller: Arc::new(config.seller.clone()),
            books: config.settings.books.clone(),
            portal: config.settings.portal.clone(),
            portal_key_seconds: config.settings.auth.portal_key_seconds,
            reconciler: Arc::new(Reconciler::new(config)),
            currency: config.settings.billing.currency.clone(),
            price_book: Arc::new(config.price_book.clone()),
            missing_usage_after_seconds: config.settings.billing.missing_usage_after_seconds,
        }
    }
}

/// Binds the API to `address` (port 0 picks a free port) with `http`'s workers, shutdown
/// deadline and request head timeout, and returns the server, not yet running, with the address
/// it listens on. Each connection is wrapped so that the answers the HTTP codec makes by itself
/// carry the API's JSON error body too (`codec_errors`).
pub fn bind(
    state: AppState,
    address: &str,
    http: &HttpSettings,
) -> std::io::Result<(Server, SocketAddr)> {
    gpubill_platform::metrics::registry();
    metrics::describe();
    let data = web::Data::new(state);
    let listener = std::net::TcpListener::bind(address)?;
    let bound = listener.local_addr()?;
    let head_timeout = Duration::from_millis(http.request_head_timeout_ms);
    let server = actix_server::Server::build()
        .workers(http.workers)
        .disable_signals()
        .shutdown_timeout(http.shutdown_deadline_seconds)
        .listen("gpubill-api", listener, move || {
            let app = App::new()
                .app_data(data.clone())
                .configure(routes::configure)
                .wrap(middleware::from_fn(envelope::envelope));
            fn_service(|stream: TcpStream| async move {
                let peer = stream.peer_addr().ok();
                Ok::<_, DispatchError>((CodecErrors::new(stream), peer))
            })
            .and_then(
                HttpService::build()
                    .client_request_timeout(head_timeout)
                    .client_disconnect_timeout(Duration::from_secs(1))
                    .h1(map_config(app, |_| AppConfig::default())),
            )
        })?
        .run();
    Ok((server, bound))
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
    idempotency::spawn_purge(pool.clone(), shutdown.clone());
    let (server, address) = bind(
        AppState::new(config, pool, scheduler, authenticator),
        &http.bind,
        http,
    )?;
    tracing::info!(%address, "API listening");
    let handle = server.handle();
    tokio::spawn(async move {
        shutdown.triggered().await;
        handle.stop(true).await;
    });
    server.await
}
