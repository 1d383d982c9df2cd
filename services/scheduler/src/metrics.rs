//! The scheduler's Prometheus metrics: allocations running and their changes by status, units
//! (GPUs or MIG instances) held per SKU and price class, quota refusals by reason, and the time
//! placement takes. Gauges are set from the decision state after each change, so they are what
//! the scheduler holds, not a running sum that could drift.

use crate::model::AllocationStatus;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

pub const ALLOCATIONS_RUNNING: &str = "gpubill_scheduler_allocations_running";
pub const ALLOCATIONS: &str = "gpubill_scheduler_allocations_total";
pub const UNITS_IN_USE: &str = "gpubill_scheduler_units_in_use";
pub const QUOTA_REFUSALS: &str = "gpubill_scheduler_quota_refusals_total";
pub const PLACEMENT_SECONDS: &str = "gpubill_scheduler_placement_duration_seconds";

/// Describes the scheduler's metrics (the `# HELP` lines).
pub fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(ALLOCATIONS_RUNNING, "Allocations running");
    describe_counter!(
        ALLOCATIONS,
        "Allocations that entered a status: running (created), released, expired, preempted"
    );
    describe_gauge!(
        UNITS_IN_USE,
        "GPUs or MIG instances held by running allocations, by SKU and price class"
    );
    describe_counter!(
        QUOTA_REFUSALS,
        "Requests refused by a quota, by reason and by call (check or allocation)"
    );
    describe_histogram!(
        PLACEMENT_SECONDS,
        Unit::Seconds,
        "Time to place an allocation (with preemption when needed)"
    );
}

/// Which call a quota refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Check,
    Allocation,
}

impl Call {
    fn code(self) -> &'static str {
        match self {
            Call::Check => "check",
            Call::Allocation => "allocation",
        }
    }
}

/// `count` allocations entered `status`.
pub fn allocations_entered(status: AllocationStatus, count: usize) {
    metrics::counter!(ALLOCATIONS, "status" => status.code()).increment(count as u64);
}

pub fn quota_refused(reason: &'static str, call: Call) {
    metrics::counter!(QUOTA_REFUSALS, "reason" => reason, "call" => call.code()).increment(1);
}

pub fn placement_took(elapsed: Duration) {
    metrics::histogram!(PLACEMENT_SECONDS).record(elapsed.as_secs_f64());
}

/// Sets the gauges from the running allocations, given as `(sku, class, units)`; a series
/// published before (`published`) and now absent is set to zero. Returns the series now
/// published.
pub fn publish_running<'a>(
    running: impl Iterator<Item = (&'a str, &'a str, u32)>,
    published: &BTreeSet<(String, String)>,
) -> BTreeSet<(String, String)> {
    let mut units: BTreeMap<(String, String), u64> =
        published.iter().map(|key| (key.clone(), 0)).collect();
    let mut allocations = 0usize;
    for (sku, class, held) in running {
        allocations += 1;
        *units.entry((sku.to_owned(), class.to_owned())).or_default() += u64::from(held);
    }
    metrics::gauge!(ALLOCATIONS_RUNNING).set(allocations as f64);
    for ((sku, class), held) in &units {
        metrics::gauge!(UNITS_IN_USE, "sku" => sku.clone(), "class" => class.clone())
            .set(*held as f64);
    }
    units.into_keys().collect()
}
