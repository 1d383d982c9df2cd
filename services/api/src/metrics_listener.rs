//! The listener of `metrics.bind`: `GET /metrics` without a key, and nothing else, for a
//! Prometheus scraper on the operators' network. Every service (API, aggregator, agent) can run
//! one; it is the only way to scrape the services that serve no API.

use actix_web::{App, HttpResponse, HttpServer, web};
use gpubill_platform::Shutdown;
use gpubill_platform::config::MetricsSettings;
use gpubill_platform::metrics;
use std::net::SocketAddr;

/// Starts the listener when `metrics.bind` is set, until `shutdown`; returns the address it
/// listens on (`None` when not set).
pub fn start(
    settings: &MetricsSettings,
    mut shutdown: Shutdown,
) -> std::io::Result<Option<SocketAddr>> {
    if settings.bind.is_empty() {
        return Ok(None);
    }
    metrics::registry();
    let server = HttpServer::new(|| {
        App::new()
            .route(
                "/metrics",
                web::get().to(async || crate::metrics::exposition()),
            )
            .default_service(web::to(HttpResponse::NotFound))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .bind(&settings.bind)?;
    let address = server.addrs().first().copied();
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    tokio::spawn(async move {
        shutdown.triggered().await;
        handle.stop(true).await;
    });
    tracing::info!(address = ?address, "metrics listening");
    Ok(address)
}
