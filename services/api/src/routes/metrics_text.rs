//! `GET /metrics`: every metric of this process (the API's requests, the scheduler's decisions)
//! in Prometheus' text format, for admin keys. A scraper without a key uses `metrics.bind`.

use actix_web::HttpResponse;

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    summary = "Prometheus metrics of this instance",
    operation_id = "metrics",
    responses((status = 200, description = "The Prometheus text exposition format", content_type = "text/plain"))
)]
pub async fn metrics() -> HttpResponse {
    crate::metrics::exposition()
}
