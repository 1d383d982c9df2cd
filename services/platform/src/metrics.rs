//! The process's metrics: one Prometheus recorder, installed by the first caller, behind the
//! `metrics` facade the services record into; its [`PrometheusHandle`] renders the text
//! exposition format for `GET /metrics`. Durations are histograms in seconds, batch sizes in
//! records, with fixed buckets so that instances can be summed.

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;

/// Buckets of every `*_seconds` histogram: 100 µs to 10 s.
const SECONDS_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];
/// Buckets of every `*_records` histogram (batch sizes).
const RECORDS_BUCKETS: &[f64] = &[
    1.0, 10.0, 100.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 25000.0, 50000.0,
];
/// How often histogram samples are folded into their buckets, so that a process nobody scrapes
/// does not keep them all.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's recorder, installed on the first call (later calls return the same handle).
pub fn registry() -> PrometheusHandle {
    HANDLE.get_or_init(install).clone()
}

fn install() -> PrometheusHandle {
    let builder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
        .and_then(|builder| {
            builder.set_buckets_for_metric(Matcher::Suffix("_records".into()), RECORDS_BUCKETS)
        });
    #[allow(clippy::expect_used)] // constant buckets, checked by the tests below
    let recorder = builder
        .expect("the buckets are constant and not empty")
        .build_recorder();
    let handle = recorder.handle();
    if let Err(error) = metrics::set_global_recorder(recorder) {
        // Only this function installs a recorder, once: another one is a programming error.
        panic!("a metrics recorder other than gpubill's was installed: {error}");
    }
    let upkeep = handle.clone();
    std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                upkeep.run_upkeep();
            }
        })
        .map_err(|error| tracing::warn!(%error, "no metrics upkeep thread; histograms grow until scraped"))
        .ok();
    handle
}

/// The metrics in Prometheus' text format.
pub fn render() -> String {
    let handle = registry();
    handle.run_upkeep();
    handle.render()
}

/// Content type of [`render`]'s text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_histograms_render_with_their_buckets() {
        // What is recorded before the recorder is installed is lost: services install it first.
        registry();
        metrics::counter!("gpubill_test_things_total", "kind" => "a").increment(3);
        metrics::histogram!("gpubill_test_step_seconds").record(0.003);
        metrics::histogram!("gpubill_test_batch_records").record(700.0);
        let text = render();
        assert!(
            text.contains("gpubill_test_things_total{kind=\"a\"} 3"),
            "{text}"
        );
        assert!(
            text.contains("gpubill_test_step_seconds_bucket{le=\"0.005\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("gpubill_test_step_seconds_bucket{le=\"0.0025\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("gpubill_test_batch_records_bucket{le=\"1000\"} 1"),
            "{text}"
        );
    }
}
