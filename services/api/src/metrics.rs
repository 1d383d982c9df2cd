//! The API's requests as Prometheus metrics: a count per route template, method and status, and
//! a latency histogram per route template and method. The route is the template of the route
//! table (`/v1/allocations/{id}`), never the path itself, so the number of series is bounded;
//! what matched no route counts under `unmatched`.

use actix_web::HttpMessage;
use actix_web::dev::ServiceResponse;
use actix_web::http::Method;
use metrics::{Counter, Histogram};
use std::cell::RefCell;
use std::collections::HashMap;
use std::time::Duration;

pub const REQUESTS: &str = "gpubill_http_requests_total";
pub const REQUEST_SECONDS: &str = "gpubill_http_request_duration_seconds";

/// The route template a request matched, left by its path's guard for the envelope.
#[derive(Debug, Clone, Copy)]
pub struct MatchedRoute(pub &'static str);

/// The answer of a `GET /metrics`: every metric of this process in Prometheus' text format.
pub fn exposition() -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok()
        .content_type(gpubill_platform::metrics::CONTENT_TYPE)
        .body(gpubill_platform::metrics::render())
}

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
    let key = (
        route,
        method_label(request.method()),
        response.status().as_u16(),
    );
    HANDLES.with_borrow_mut(|handles| {
        let (requests, seconds) = handles.entry(key).or_insert_with(|| register(key));
        requests.increment(1);
        seconds.record(elapsed.as_secs_f64());
    });
}

/// A series' handles by (route, method, status).
type Handles = HashMap<(&'static str, &'static str, u16), (Counter, Histogram)>;

thread_local! {
    /// Each worker thread's handles on the series it has recorded: finding a series in the
    /// registry (building its key, hashing its labels) costs more than the quota check's own
    /// work, and a handle is an atomic to add to.
    static HANDLES: RefCell<Handles> = RefCell::new(HashMap::new());
}

fn register((route, method, status): (&'static str, &'static str, u16)) -> (Counter, Histogram) {
    (
        metrics::counter!(REQUESTS, "route" => route, "method" => method, "status" => status.to_string()),
        metrics::histogram!(REQUEST_SECONDS, "route" => route, "method" => method),
    )
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
