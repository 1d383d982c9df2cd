//! Allocation-versus-metering reconciliation: over a window `[since, now]`, what each GPU (or MIG
//! instance) of each allocation was allocated for against what the ledger metered for it
//! (`usage_runs`), in both directions:
//!
//! - **allocated but silent**: a scheduled allocation's GPU whose allocated time
//!   (`started_at .. coalesce(ended_at, now)`, within the window) exceeds its metered time by
//!   more than `scheduler.reconciliation_tolerance_seconds`: revenue leaking, or an agent that is
//!   down or broken. The tolerance covers the agent's interval, its poll of the scheduler and the
//!   aggregator's lag.
//! - **metered but unallocated**: a usage stream `(allocation_id, gpu_uuid)` whose allocation is
//!   unknown, belongs to another tenant, does not hold that GPU, or that was metered outside the
//!   allocation's `[started_at, ended_at]` for longer than the tolerance: billed use the scheduler
//!   never granted (a misconfigured or rogue agent, or a scheduler that lost a decision).
//!
//! A MIG instance is metered under its own device id (`gpubill_schema::event::mig_device_uuid`),
//! and is matched under it here. The static allocations of `cluster.toml` count as allocated
//! from their start on, so their usage is never flagged; they are fixed workloads metered over
//! chosen windows (tests, benchmarks), not continuously, so they are not checked for silence.
//!
//! Everything is clipped to the window's start: only time at or after `since` counts.

use crate::error::SchedulerError;
use crate::model::Allocation;
use crate::store;
use chrono::{DateTime, Duration, Utc};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamptz};
use gpubill_platform::config::Config;
use gpubill_schema::api::ErrorCode;
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// Why a discrepancy is flagged (`reason` in the report). The metered-but-unallocated reasons are
/// those the aggregator dead-letters usage for (`gpubill_domain::Unallocated`): with
/// `aggregator.unknown_allocations = "reject"` only usage billed before that check, or usage of
/// unknown allocations under `"bill"`, can be flagged here.
pub mod reason {
    use gpubill_domain::Unallocated;

    /// Allocated but not a second metered in the window.
    pub const NEVER_METERED: &str = "never_metered";
    /// Allocated, metered, but short of the allocated time by more than the tolerance.
    pub const UNDER_METERED: &str = "under_metered";
    /// Usage for an allocation the scheduler and `cluster.toml` do not know.
    pub const UNKNOWN_ALLOCATION: &str = Unallocated::UnknownAllocation.code();
    /// Usage under another tenant than the allocation's.
    pub const TENANT_MISMATCH: &str = Unallocated::TenantMismatch.code();
    /// Usage of a GPU (or MIG instance) the allocation does not hold.
    pub const GPU_NOT_ALLOCATED: &str = Unallocated::GpuNotAllocated.code();
    /// Usage before the allocation started or after it ended.
    pub const OUTSIDE_ALLOCATION: &str = Unallocated::OutsideAllocation.code();
}

/// One allocation as reconciliation sees it: its tenant, its span and its devices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllocatedSpan {
    pub id: String,
    pub tenant: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    /// `(node, device)`: a GPU's UUID, or a MIG instance's device id.
    pub devices: Vec<(String, String)>,
    /// Checked for silence: scheduled allocations are, static ones are not.
    pub expects_metering: bool,
}

impl AllocatedSpan {
    /// A scheduled allocation, with the device id each GPU or MIG instance is metered under.
    pub fn scheduled(allocation: &Allocation) -> Self {
        Self {
            id: allocation.id.clone(),
            tenant: allocation.tenant.clone(),
            started_at: allocation.started_at,
            ended_at: allocation.ended_at,
            devices: allocation
                .placement
                .iter()
                .map(|gpu| (gpu.node.clone(), gpu.device()))
                .collect(),
            expects_metering: true,
        }
    }
}

/// One metered usage stream within the window, as the ledger has it.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct MeteredStream {
    #[diesel(sql_type = Text)]
    pub allocation_id: String,
    #[diesel(sql_type = Text)]
    pub gpu_uuid: String,
    #[diesel(sql_type = Text)]
    pub tenant: String,
    #[diesel(sql_type = Text)]
    pub node: String,
    /// Metered at or after `since`, in microseconds (the ledger's resolution).
    #[diesel(sql_type = BigInt)]
    pub metered_micros: i64,
    /// Start of the first usage at or after `since`, and end of the last.
    #[diesel(sql_type = Timestamptz)]
    pub first_start: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    pub last_end: DateTime<Utc>,
}

/// A GPU (or MIG instance) of an allocation, or a metered stream, that does not reconcile.
/// Seconds are exact decimals (to the microsecond), serialized as strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Discrepancy {
    pub allocation_id: String,
    pub tenant: String,
    pub node: String,
    /// The device: a GPU's UUID, or a MIG instance's `MIG-<gpu uuid>/<first slice>`.
    pub gpu_uuid: String,
    /// One of [`reason`].
    pub reason: &'static str,
    /// Allocated to this tenant on this device within the window.
    pub allocated_seconds: Decimal,
    /// Metered for this allocation and device within the window (in total, inside the allocation
    /// or not).
    pub metered_seconds: Decimal,
    /// Allocated but not metered.
    pub missing_seconds: Decimal,
    /// Metered but not allocated.
    pub unallocated_seconds: Decimal,
}

/// The reconciliation report (`GET /v1/reconciliation`, `gpubill reconcile`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Reconciliation {
    pub since: DateTime<Utc>,
    pub as_of: DateTime<Utc>,
    pub tolerance_seconds: i64,
    /// Scheduled allocations' GPUs (or MIG instances) checked for silence.
    pub gpus_checked: usize,
    /// Usage streams metered within the window, all checked against the allocations.
    pub streams_checked: usize,
    pub allocated_but_silent: Vec<Discrepancy>,
    pub metered_but_unallocated: Vec<Discrepancy>,
}

impl Reconciliation {
    /// Nothing flagged.
    pub fn is_clean(&self) -> bool {
        self.allocated_but_silent.is_empty() && self.metered_but_unallocated.is_empty()
    }
}

/// Microseconds of `[from, to)`, or 0 when empty.
fn micros(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    (to - from).num_microseconds().unwrap_or(i64::MAX).max(0)
}

fn seconds(micros: i64) -> Decimal {
    Decimal::new(micros, 6).normalize()
}

/// Compares `allocations` with `streams` over `[since, now]`. `outside` returns the microseconds a
/// stream was metered before `start` or after `end` (`None`: still running), at or after `since`;
/// it is asked only for streams whose first or last usage lies outside their allocation.
pub fn reconcile<E>(
    allocations: &[AllocatedSpan],
    streams: &[MeteredStream],
    since: DateTime<Utc>,
    now: DateTime<Utc>,
    tolerance: Duration,
    mut outside: impl FnMut(&MeteredStream, DateTime<Utc>, Option<DateTime<Utc>>) -> Result<i64, E>,
) -> Result<Reconciliation, E> {
    let tolerance_micros = tolerance.num_microseconds().unwrap_or(i64::MAX);
    let by_id: HashMap<&str, &AllocatedSpan> = allocations
        .iter()
        .map(|allocation| (allocation.id.as_str(), allocation))
        .collect();
    // Per allocated device: metered inside the allocation, and in total.
    let mut metered: HashMap<(&str, &str), (i64, i64)> = HashMap::new();
    let mut unallocated = Vec::new();
    for stream in streams {
        let flag = |reason: &'static str, allocated: i64, unallocated: i64| Discrepancy {
            allocation_id: stream.allocation_id.clone(),
            tenant: stream.tenant.clone(),
            node: stream.node.clone(),
            gpu_uuid: stream.gpu_uuid.clone(),
            reason,
            allocated_seconds: seconds(allocated),
            metered_seconds: seconds(stream.metered_micros),
            missing_seconds: Decimal::ZERO,
            unallocated_seconds: seconds(unallocated),
        };
        let Some(allocation) = by_id.get(stream.allocation_id.as_str()) else {
            unallocated.push(flag(reason::UNKNOWN_ALLOCATION, 0, stream.metered_micros));
            continue;
        };
        if allocation.tenant != stream.tenant {
            unallocated.push(flag(reason::TENANT_MISMATCH, 0, stream.metered_micros));
            continue;
        }
        if !allocation
            .devices
            .iter()
            .any(|(_, device)| *device == stream.gpu_uuid)
        {
            unallocated.push(flag(reason::GPU_NOT_ALLOCATED, 0, stream.metered_micros));
            continue;
        }
        let begins_early = stream.first_start < allocation.started_at;
        let ends_late = allocation
            .ended_at
            .is_some_and(|ended_at| stream.last_end > ended_at);
        let outside_micros = if begins_early || ends_late {
            outside(stream, allocation.started_at, allocation.ended_at)?
        } else {
            0
        };
        let inside = stream.metered_micros - outside_micros;
        metered.insert(
            (allocation.id.as_str(), stream.gpu_uuid.as_str()),
            (inside, stream.metered_micros),
        );
        if outside_micros > tolerance_micros {
            let allocated = micros(
                allocation.started_at.max(since),
                allocation.ended_at.unwrap_or(now),
            );
            unallocated.push(flag(reason::OUTSIDE_ALLOCATION, allocated, outside_micros));
        }
    }

    let mut silent = Vec::new();
    let mut gpus_checked = 0;
    for allocation in allocations.iter().filter(|a| a.expects_metering) {
        let allocated = micros(
            allocation.started_at.max(since),
            allocation.ended_at.unwrap_or(now).min(now),
        );
        for (node, device) in &allocation.devices {
            gpus_checked += 1;
            let (inside, total) = metered
                .get(&(allocation.id.as_str(), device.as_str()))
                .copied()
                .unwrap_or((0, 0));
            let missing = (allocated - inside).max(0);
            if missing > tolerance_micros {
                silent.push(Discrepancy {
                    allocation_id: allocation.id.clone(),
                    tenant: allocation.tenant.clone(),
                    node: node.clone(),
                    gpu_uuid: device.clone(),
                    reason: if total == 0 {
                        reason::NEVER_METERED
                    } else {
                        reason::UNDER_METERED
                    },
                    allocated_seconds: seconds(allocated),
                    metered_seconds: seconds(total),
                    missing_seconds: seconds(missing),
                    unallocated_seconds: Decimal::ZERO,
                });
            }
        }
    }
    let order = |d: &Discrepancy| {
        (
            d.tenant.clone(),
            d.allocation_id.clone(),
            d.node.clone(),
            d.gpu_uuid.clone(),
        )
    };
    silent.sort_by_key(order);
    unallocated.sort_by_key(order);
    Ok(Reconciliation {
        since,
        as_of: now,
        tolerance_seconds: tolerance.num_seconds(),
        gpus_checked,
        streams_checked: streams.len(),
        allocated_but_silent: silent,
        metered_but_unallocated: unallocated,
    })
}

/// Reconciles the ledger with the scheduler's allocations and `cluster.toml`'s static ones.
#[derive(Debug, Clone)]
pub struct Reconciler {
    tolerance: Duration,
    statics: Vec<AllocatedSpan>,
}

impl Reconciler {
    pub fn new(config: &Config) -> Self {
        let statics = config
            .cluster
            .static_grants()
            .into_iter()
            .map(|grant| AllocatedSpan {
                id: grant.allocation_id,
                tenant: grant.tenant,
                started_at: grant.started_at,
                ended_at: grant.ended_at,
                devices: grant.devices,
                expects_metering: false,
            })
            .collect();
        Self {
            tolerance: Duration::seconds(
                config.settings.scheduler.reconciliation_tolerance_seconds,
            ),
            statics,
        }
    }

    pub fn tolerance(&self) -> Duration {
        self.tolerance
    }

    /// Reconciles `[since, now]`. `since` after `now` is refused (`invalid_since`).
    pub fn run(
        &self,
        conn: &mut PgConnection,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Reconciliation, SchedulerError> {
        if since > now {
            return Err(SchedulerError::invalid(
                ErrorCode::InvalidSince,
                format!("since {since} is after now ({now})"),
            ));
        }
        let streams = metered_streams(conn, since)?;
        let mut ids: Vec<String> = streams.iter().map(|s| s.allocation_id.clone()).collect();
        ids.sort();
        ids.dedup();
        let scheduled = store::reconciled_allocations(conn, since, now, &ids)?;
        // A scheduled allocation wins over a static one of the same id (they never share ids:
        // the scheduler's are UUIDs).
        let mut allocations: BTreeMap<String, AllocatedSpan> = self
            .statics
            .iter()
            .map(|span| (span.id.clone(), span.clone()))
            .collect();
        for allocation in &scheduled {
            allocations.insert(allocation.id.clone(), AllocatedSpan::scheduled(allocation));
        }
        let allocations: Vec<AllocatedSpan> = allocations.into_values().collect();
        let report = reconcile(
            &allocations,
            &streams,
            since,
            now,
            self.tolerance,
            |stream, start, end| outside_micros(conn, stream, since, start, end),
        )?;
        tracing::info!(
            since = %since,
            gpus_checked = report.gpus_checked,
            streams_checked = report.streams_checked,
            allocated_but_silent = report.allocated_but_silent.len(),
            metered_but_unallocated = report.metered_but_unallocated.len(),
            "reconciled allocations with metered usage"
        );
        Ok(report)
    }
}

/// Every usage stream with usage at or after `since`, summed in the database.
fn metered_streams(
    conn: &mut PgConnection,
    since: DateTime<Utc>,
) -> Result<Vec<MeteredStream>, SchedulerError> {
    Ok(diesel::sql_query(
        "SELECT allocation_id, gpu_uuid, tenant_id AS tenant, min(node_id) AS node, \
                sum(round(extract(epoch FROM run_end - greatest(run_start, $1)) * 1000000))::bigint \
                    AS metered_micros, \
                min(greatest(run_start, $1)) AS first_start, max(run_end) AS last_end \
         FROM usage_runs WHERE run_end > $1 \
         GROUP BY allocation_id, gpu_uuid, tenant_id \
         ORDER BY allocation_id, gpu_uuid, tenant_id",
    )
    .bind::<Timestamptz, _>(since)
    .load(conn)?)
}

#[derive(QueryableByName)]
struct Micros {
    #[diesel(sql_type = BigInt)]
    micros: i64,
}

/// Microseconds of a stream metered at or after `since` but before `start` or after `end`.
fn outside_micros(
    conn: &mut PgConnection,
    stream: &MeteredStream,
    since: DateTime<Utc>,
    start: DateTime<Utc>,
    end: Option<DateTime<Utc>>,
) -> Result<i64, SchedulerError> {
    let row: Micros = diesel::sql_query(
        "SELECT coalesce(sum(round(1000000 * ( \
                    greatest(0, extract(epoch FROM least(run_end, $3) - greatest(run_start, $1))) \
                  + greatest(0, extract(epoch FROM run_end \
                        - greatest(run_start, $1, coalesce($4, 'infinity'::timestamptz))))))), \
                0)::bigint AS micros \
         FROM usage_runs \
         WHERE allocation_id = $5 AND gpu_uuid = $6 AND tenant_id = $2 AND run_end > $1 \
           AND (run_start < $3 OR run_end > coalesce($4, 'infinity'::timestamptz))",
    )
    .bind::<Timestamptz, _>(since)
    .bind::<Text, _>(&stream.tenant)
    .bind::<Timestamptz, _>(start)
    .bind::<Nullable<Timestamptz>, _>(end)
    .bind::<Text, _>(&stream.allocation_id)
    .bind::<Text, _>(&stream.gpu_uuid)
    .get_result(conn)?;
    Ok(row.micros)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn span(
        id: &str,
        tenant: &str,
        start: &str,
        end: Option<&str>,
        devices: &[&str],
    ) -> AllocatedSpan {
        AllocatedSpan {
            id: id.into(),
            tenant: tenant.into(),
            started_at: at(start),
            ended_at: end.map(at),
            devices: devices
                .iter()
                .map(|d| ("node-001".to_owned(), (*d).to_owned()))
                .collect(),
            expects_metering: true,
        }
    }

    /// A stream metered without holes over `[from, to)`.
    fn stream(id: &str, gpu: &str, tenant: &str, from: &str, to: &str) -> MeteredStream {
        MeteredStream {
            allocation_id: id.into(),
            gpu_uuid: gpu.into(),
            tenant: tenant.into(),
            node: "node-001".into(),
            metered_micros: micros(at(from), at(to)),
            first_start: at(from),
            last_end: at(to),
        }
    }

    /// `outside` for hole-free streams: the part of `[first_start, last_end)` outside the span.
    fn contiguous(
        stream: &MeteredStream,
        start: DateTime<Utc>,
        end: Option<DateTime<Utc>>,
    ) -> Result<i64, std::convert::Infallible> {
        let before = micros(stream.first_start, stream.last_end.min(start));
        let after = end.map_or(0, |end| {
            micros(stream.first_start.max(end), stream.last_end)
        });
        Ok(before + after)
    }

    const SINCE: &str = "2026-11-24T10:00:00Z";
    const NOW: &str = "2026-11-24T11:00:00Z";

    fn run(allocations: &[AllocatedSpan], streams: &[MeteredStream]) -> Reconciliation {
        reconcile(
            allocations,
            streams,
            at(SINCE),
            at(NOW),
            Duration::seconds(120),
            contiguous,
        )
        .unwrap()
    }

    #[test]
    fn metered_as_allocated_within_the_tolerance_is_clean() {
        let allocations = [
            span(
                "a1",
                "t1",
                "2026-11-24T10:10:00Z",
                Some("2026-11-24T10:20:00Z"),
                &["GPU-1", "GPU-2"],
            ),
            span("a2", "t2", "2026-11-24T10:30:00Z", None, &["MIG-GPU-3/0"]),
        ];
        let streams = [
            stream(
                "a1",
                "GPU-1",
                "t1",
                "2026-11-24T10:10:00Z",
                "2026-11-24T10:20:00Z",
            ),
            // An agent a little behind: within the tolerance.
            stream(
                "a1",
                "GPU-2",
                "t1",
                "2026-11-24T10:10:00Z",
                "2026-11-24T10:18:30Z",
            ),
            stream(
                "a2",
                "MIG-GPU-3/0",
                "t2",
                "2026-11-24T10:30:00Z",
                "2026-11-24T10:59:50Z",
            ),
        ];
        let report = run(&allocations, &streams);
        assert!(report.is_clean(), "{report:#?}");
        assert_eq!((report.gpus_checked, report.streams_checked), (3, 3));
    }

    #[test]
    fn an_allocated_gpu_metered_short_or_not_at_all_is_silent() {
        let allocations = [span(
            "a1",
            "t1",
            "2026-11-24T09:00:00Z",
            None,
            &["GPU-1", "GPU-2", "GPU-3"],
        )];
        let streams = [
            stream(
                "a1",
                "GPU-1",
                "t1",
                "2026-11-24T09:00:00Z",
                "2026-11-24T10:59:00Z",
            ),
            stream(
                "a1",
                "GPU-2",
                "t1",
                "2026-11-24T09:00:00Z",
                "2026-11-24T10:30:00Z",
            ),
        ];
        // Clipped to the window: the stream as the database returns it starts at `since`.
        let streams: Vec<_> = streams
            .into_iter()
            .map(|mut s| {
                s.first_start = s.first_start.max(at(SINCE));
                s.metered_micros = micros(s.first_start, s.last_end);
                s
            })
            .collect();
        let report = run(&allocations, &streams);
        assert!(report.metered_but_unallocated.is_empty());
        let silent: Vec<_> = report
            .allocated_but_silent
            .iter()
            .map(|d| {
                (
                    d.gpu_uuid.as_str(),
                    d.reason,
                    d.allocated_seconds.to_string(),
                    d.metered_seconds.to_string(),
                    d.missing_seconds.to_string(),
                )
            })
            .collect();
        assert_eq!(
            silent,
            [
                (
                    "GPU-2",
                    reason::UNDER_METERED,
                    "3600".into(),
                    "1800".into(),
                    "1800".into()
                ),
                (
                    "GPU-3",
                    reason::NEVER_METERED,
                    "3600".into(),
                    "0".into(),
                    "3600".into()
                ),
            ]
        );
    }

    #[test]
    fn usage_no_allocation_grants_is_metered_but_unallocated() {
        let allocations = [
            span(
                "a1",
                "t1",
                "2026-11-24T10:00:00Z",
                Some("2026-11-24T10:30:00Z"),
                &["GPU-1"],
            ),
            span("a2", "t2", "2026-11-24T10:00:00Z", None, &["MIG-GPU-2/4"]),
        ];
        let streams = [
            // Within the allocation: fine. Then three more minutes after its end.
            stream(
                "a1",
                "GPU-1",
                "t1",
                "2026-11-24T10:00:00Z",
                "2026-11-24T10:33:00Z",
            ),
            // The GPU is not a1's.
            stream(
                "a1",
                "GPU-9",
                "t1",
                "2026-11-24T10:00:00Z",
                "2026-11-24T10:10:00Z",
            ),
            // a2's instance billed to another tenant.
            stream(
                "a2",
                "MIG-GPU-2/4",
                "t1",
                "2026-11-24T10:00:00Z",
                "2026-11-24T10:10:00Z",
            ),
            // The whole GPU of a2's MIG instance is not a2's.
            stream(
                "a2",
                "GPU-2",
                "t2",
                "2026-11-24T10:00:00Z",
                "2026-11-24T10:10:00Z",
            ),
            stream(
                "ghost",
                "GPU-5",
                "t3",
                "2026-11-24T10:00:00Z",
                "2026-11-24T10:00:10Z",
            ),
        ];
        let report = run(&allocations, &streams);
        let flagged: Vec<_> = report
            .metered_but_unallocated
            .iter()
            .map(|d| {
                (
                    d.allocation_id.as_str(),
                    d.gpu_uuid.as_str(),
                    d.reason,
                    d.unallocated_seconds.to_string(),
                )
            })
            .collect();
        assert_eq!(
            flagged,
            [
                ("a1", "GPU-1", reason::OUTSIDE_ALLOCATION, "180".to_owned()),
                ("a1", "GPU-9", reason::GPU_NOT_ALLOCATED, "600".to_owned()),
                (
                    "a2",
                    "MIG-GPU-2/4",
                    reason::TENANT_MISMATCH,
                    "600".to_owned()
                ),
                ("a2", "GPU-2", reason::GPU_NOT_ALLOCATED, "600".to_owned()),
                (
                    "ghost",
                    "GPU-5",
                    reason::UNKNOWN_ALLOCATION,
                    "10".to_owned()
                ),
            ]
        );
        // a2's instance was never metered under its own tenant.
        assert_eq!(report.allocated_but_silent.len(), 1);
        assert_eq!(report.allocated_but_silent[0].gpu_uuid, "MIG-GPU-2/4");
    }

    #[test]
    fn usage_outside_the_allocation_within_the_tolerance_is_not_flagged_and_not_counted() {
        let allocations = [span(
            "a1",
            "t1",
            "2026-11-24T10:00:05Z",
            Some("2026-11-24T10:10:00Z"),
            &["GPU-1"],
        )];
        let streams = [stream(
            "a1",
            "GPU-1",
            "t1",
            "2026-11-24T10:00:00Z",
            "2026-11-24T10:10:10Z",
        )];
        let report = run(&allocations, &streams);
        assert!(report.is_clean(), "{report:#?}");
        // The 15 s outside do not make up for time missing inside.
        let streams = [stream(
            "a1",
            "GPU-1",
            "t1",
            "2026-11-24T10:07:00Z",
            "2026-11-24T10:10:10Z",
        )];
        let report = run(&allocations, &streams);
        assert_eq!(report.allocated_but_silent.len(), 1);
        assert_eq!(
            report.allocated_but_silent[0].missing_seconds.to_string(),
            "415"
        );
    }

    #[test]
    fn static_allocations_count_as_allocated_but_are_not_checked_for_silence() {
        let mut fixed = span(
            "alloc-fixed",
            "t1",
            "2026-11-01T00:00:00Z",
            None,
            &["GPU-1", "GPU-2"],
        );
        fixed.expects_metering = false;
        let streams = [stream(
            "alloc-fixed",
            "GPU-1",
            "t1",
            "2026-11-24T10:00:00Z",
            "2026-11-24T10:05:00Z",
        )];
        let report = run(&[fixed], &streams);
        assert!(report.is_clean(), "{report:#?}");
        assert_eq!(report.gpus_checked, 0);
    }

    #[test]
    fn an_allocation_ended_before_the_window_is_not_allocated_in_it() {
        let allocations = [span(
            "a1",
            "t1",
            "2026-11-24T08:00:00Z",
            Some("2026-11-24T09:00:00Z"),
            &["GPU-1"],
        )];
        let report = run(&allocations, &[]);
        assert!(report.is_clean(), "{report:#?}");
    }
}
