//! The API's requests as Prometheus metrics: a count per route template, method and status, and
//! a latency histogram per route template and method. The route is the template of the route
//! table (`/v1/allocations/{id}`), never the path itself, so the number of series is bounded;
//! what matched no route counts under `unmatched`.

use actix_web::HttpMessage;
use actix_web::dev::ServiceResponse;
use actix_web::http::Method;
use std::time::Duration;

pub const REQUESTS: &str = "gpubill_http_requests_total";
pub const REQUEST_SECONDS: &str = "gpubill_http_request_duration_seconds";

/// The route template a request matched, left by its path's guard for the envelope.
#[derive(Debug, Clone, Copy)]
pub struct MatchedRoute(pub &'static str);

/// Describes the API's metrics (the `# HELP` lines).
pub fn describe() {
    metrics::describe_counter!(
        REQUESTS,
        "HTTP requests answered, by route template, method and status"
    );
    metrics::describe_histogram!(
        REQUEST_SECONDS,
        metrics::Unit::Seconds,
        "Time to answer an HTTP request, by route template and method"
    );
}

/// Counts one answered request and its latency.
pub fn record<B>(response: &ServiceResponse<B>, elapsed: Duration) {
    let request = response.request();
    let route = request
        .extensions()
        .get::<MatchedRoute>()
        .map_or("unmatched", |route| route.0);
    let method = method_label(request.method());
    let status = response.status().as_u16().to_string();
    metrics::counter!(REQUESTS, "route" => route, "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!(REQUEST_SECONDS, "route" => route, "method" => method)
        .record(elapsed.as_secs_f64());
}

/// The method as a label of its own: a client's made-up method counts as `OTHER`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}
