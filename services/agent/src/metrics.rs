//! The agent's Prometheus metrics: what waits in its spool (events and bytes), delivery failures,
//! full-spool alarms and events spooled. They are scraped from `metrics.bind`, the agent serving
//! no API.

use crate::spool::Spool;

pub const SPOOL_EVENTS: &str = "gpubill_agent_spool_events";
pub const SPOOL_BYTES: &str = "gpubill_agent_spool_bytes";
pub const EVENTS_SPOOLED: &str = "gpubill_agent_events_spooled_total";
pub const DELIVERY_FAILURES: &str = "gpubill_agent_delivery_failures_total";
pub const SPOOL_FULL_ALARMS: &str = "gpubill_agent_spool_full_alarms_total";

/// Describes the agent's metrics (the `# HELP` lines).
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge};
    describe_gauge!(
        SPOOL_EVENTS,
        "Events in the spool not yet acknowledged by the broker"
    );
    describe_gauge!(SPOOL_BYTES, Unit::Bytes, "Bytes the spool takes on disk");
    describe_counter!(EVENTS_SPOOLED, "Usage events written to the spool");
    describe_counter!(
        DELIVERY_FAILURES,
        "Deliveries that failed; each rewinds to the oldest unacknowledged event"
    );
    describe_counter!(
        SPOOL_FULL_ALARMS,
        "Times the spool was full with events due (metering paused)"
    );
}

/// Sets the spool's gauges.
pub fn observe(spool: &Spool) {
    metrics::gauge!(SPOOL_EVENTS).set(spool.unacknowledged() as f64);
    metrics::gauge!(SPOOL_BYTES).set(spool.bytes() as f64);
}

pub fn spooled(events: u64) {
    metrics::counter!(EVENTS_SPOOLED).increment(events);
}

pub fn delivery_failed() {
    metrics::counter!(DELIVERY_FAILURES).increment(1);
}

pub fn spool_full() {
    metrics::counter!(SPOOL_FULL_ALARMS).increment(1);
}
