//! Simulated metering: which events a set of allocations emits, and when. Each GPU of an
//! allocation is a stream; its interval `k` covers `[started_at + k·I, started_at + (k+1)·I)` and
//! carries `seq = k + 1`, so a restarted agent re-emits identical events for the same intervals
//! and downstream de-duplication makes the restart harmless.

use chrono::{DateTime, Duration, Utc};
use gpubill_domain::PriceClass;
use gpubill_platform::config::Cluster;
use gpubill_schema::event::{UsageDataV1, UsageEventV1};

#[derive(Debug, Clone)]
struct MeteredAllocation {
    tenant_id: String,
    allocation_id: String,
    node_id: String,
    sku: String,
    price_class: PriceClass,
    gpu_uuids: Vec<String>,
    started_at: DateTime<Utc>,
    /// Index of the next interval to emit.
    next_interval: i64,
}

/// The allocations one agent meters and how far each has been emitted.
#[derive(Debug, Clone)]
pub struct Simulation {
    interval: Duration,
    allocations: Vec<MeteredAllocation>,
}

impl Simulation {
    /// Meters the allocations of `cluster` (only those on `node`, if given) from `from` on.
    pub fn new(
        cluster: &Cluster,
        interval_seconds: u32,
        node: Option<&str>,
        from: DateTime<Utc>,
    ) -> Self {
        let interval = Duration::seconds(i64::from(interval_seconds));
        let allocations = cluster
            .allocations
            .iter()
            .filter(|allocation| node.is_none_or(|n| n == allocation.node))
            .filter_map(|allocation| {
                let node = cluster.nodes.iter().find(|n| n.id == allocation.node)?;
                // First interval that starts at or after `from`.
                let since_start = (from - allocation.started_at)
                    .num_nanoseconds()
                    .unwrap_or(i64::MAX);
                let step = interval.num_nanoseconds().unwrap_or(i64::MAX);
                let next_interval = if since_start <= 0 {
                    0
                } else {
                    (since_start + step - 1) / step
                };
                Some(MeteredAllocation {
                    tenant_id: allocation.tenant.clone(),
                    allocation_id: allocation.id.clone(),
                    node_id: node.id.clone(),
                    sku: node.sku.clone(),
                    price_class: allocation.price_class,
                    gpu_uuids: allocation
                        .gpus
                        .iter()
                        .map(|index| node.gpu_uuid(*index))
                        .collect(),
                    started_at: allocation.started_at,
                    next_interval,
                })
            })
            .collect();
        Self {
            interval,
            allocations,
        }
    }

    pub fn gpu_count(&self) -> usize {
        self.allocations.iter().map(|a| a.gpu_uuids.len()).sum()
    }

    /// How many events [`Simulation::emit_until`] would emit for `now`, without building them.
    pub fn count_until(&self, now: DateTime<Utc>) -> u64 {
        let step = self.interval.num_nanoseconds().unwrap_or(i64::MAX).max(1);
        self.allocations
            .iter()
            .map(|allocation| {
                // Interval k has ended by `now` when started_at + (k + 1) × interval <= now.
                let since_start = (now - allocation.started_at)
                    .num_nanoseconds()
                    .unwrap_or(i64::MAX);
                let ended = since_start.div_euclid(step).max(0);
                let pending = u64::try_from(ended - allocation.next_interval).unwrap_or(0);
                pending * allocation.gpu_uuids.len() as u64
            })
            .sum()
    }

    /// When the next interval ends: the simulated instant of the next emission.
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        self.allocations
            .iter()
            .map(|a| interval_bounds(a.started_at, self.interval, a.next_interval).1)
            .min()
    }

    /// Emits every interval that has ended by `now`, in time order per stream.
    pub fn emit_until(&mut self, now: DateTime<Utc>, out: &mut Vec<UsageEventV1>) {
        let interval = self.interval;
        for allocation in &mut self.allocations {
            loop {
                let k = allocation.next_interval;
                let (start, end) = interval_bounds(allocation.started_at, interval, k);
                if end > now {
                    break;
                }
                let seq = u64::try_from(k + 1).unwrap_or(u64::MAX);
                for gpu in &allocation.gpu_uuids {
                    let data = UsageDataV1 {
                        tenant_id: allocation.tenant_id.clone(),
                        allocation_id: allocation.allocation_id.clone(),
                        node_id: allocation.node_id.clone(),
                        gpu_uuid: gpu.clone(),
                        sku: allocation.sku.clone(),
                        price_class: allocation.price_class,
                        seq,
                        interval_start: start,
                        interval_end: end,
                    };
                    // The emission time is the end of the interval on the simulated clock, so the
                    // same interval always encodes to the same bytes.
                    out.push(UsageEventV1::new(data, end));
                }
                allocation.next_interval += 1;
            }
        }
    }
}

/// `[start, end)` of interval `k` of a stream that started at `started_at`.
fn interval_bounds(
    started_at: DateTime<Utc>,
    interval: Duration,
    k: i64,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = started_at + interval * i32::try_from(k).unwrap_or(i32::MAX);
    (start, start + interval)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use gpubill_platform::config::{AllocationSpec, NodeSpec, TenantSpec};

    pub(crate) fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn cluster() -> Cluster {
        cluster_with(vec![0, 3])
    }

    /// One tenant with one allocation of `gpus` on one 8-GPU node, from 2026-11-01.
    pub(crate) fn cluster_with(gpus: Vec<u8>) -> Cluster {
        Cluster {
            tenants: vec![TenantSpec {
                id: "t1".into(),
                name: "T1".into(),
                country: "FR".into(),
                vat_number: None,
                quota: Default::default(),
                time_zone: gpubill_domain::DEFAULT_TIME_ZONE,
            }],
            nodes: vec![NodeSpec {
                id: "n1".into(),
                sku: "H100-SXM5-80GB".into(),
                gpus: 8,
                pod: "pod-01".into(),
                gpu_uuids: Vec::new(),
                mig: false,
            }],
            allocations: vec![AllocationSpec {
                id: "a1".into(),
                tenant: "t1".into(),
                node: "n1".into(),
                gpus,
                started_at: at("2026-11-01T00:00:00Z"),
                price_class: PriceClass::OnDemand,
            }],
            reservations: Vec::new(),
        }
    }

    #[test]
    fn emits_one_event_per_gpu_per_ended_interval_with_consecutive_seq() {
        let mut sim = Simulation::new(&cluster(), 10, None, at("2026-11-01T00:00:00Z"));
        let mut out = Vec::new();
        sim.emit_until(at("2026-11-01T00:00:25Z"), &mut out);
        assert_eq!(out.len(), 4);
        assert_eq!(
            out.iter().map(|e| e.data.seq).collect::<Vec<_>>(),
            [1, 1, 2, 2]
        );
        assert_eq!(out[2].data.interval_start, at("2026-11-01T00:00:10Z"));
        assert_eq!(out[2].data.interval_end, at("2026-11-01T00:00:20Z"));
        assert_eq!(sim.next_due(), Some(at("2026-11-01T00:00:30Z")));
    }

    #[test]
    fn a_restart_from_a_later_instant_continues_the_same_streams() {
        let mut whole = Simulation::new(&cluster(), 10, None, at("2026-11-01T00:00:00Z"));
        let mut all = Vec::new();
        whole.emit_until(at("2026-11-01T00:01:00Z"), &mut all);

        let mut resumed = Simulation::new(&cluster(), 10, None, at("2026-11-01T00:00:35Z"));
        let mut tail = Vec::new();
        resumed.emit_until(at("2026-11-01T00:01:00Z"), &mut tail);
        assert_eq!(tail.first().unwrap().data.seq, 5);
        assert_eq!(tail, all[all.len() - tail.len()..]);
    }

    #[test]
    fn count_until_matches_what_emit_until_emits() {
        let mut cluster = cluster();
        cluster.allocations.push(AllocationSpec {
            id: "a2".into(),
            tenant: "t1".into(),
            node: "n1".into(),
            gpus: vec![1, 2, 5],
            started_at: at("2026-11-01T00:00:07Z"),
            price_class: PriceClass::OnDemand,
        });
        for (from, until) in [
            ("2026-11-01T00:00:00Z", "2026-11-01T00:00:00Z"),
            ("2026-11-01T00:00:00Z", "2026-11-01T00:00:16Z"),
            ("2026-11-01T00:00:00Z", "2026-11-01T00:00:17Z"),
            ("2026-11-01T00:00:35Z", "2026-11-01T01:00:00Z"),
            ("2026-10-31T23:00:00Z", "2026-11-01T00:00:09Z"),
        ] {
            let sim = Simulation::new(&cluster, 10, None, at(from));
            let mut out = Vec::new();
            sim.clone().emit_until(at(until), &mut out);
            assert_eq!(
                sim.count_until(at(until)),
                out.len() as u64,
                "{from} .. {until}"
            );
        }
    }

    #[test]
    fn gpu_uuids_are_stable_and_distinct() {
        let cluster = cluster();
        let node = &cluster.nodes[0];
        let mut other = node.clone();
        other.id = "n2".into();
        assert_eq!(node.gpu_uuid(0), cluster.nodes[0].gpu_uuid(0));
        assert_ne!(node.gpu_uuid(0), node.gpu_uuid(1));
        assert_ne!(node.gpu_uuid(0), other.gpu_uuid(0));
        assert!(node.gpu_uuid(0).starts_with("GPU-"));
        other.gpu_uuids = (0..8).map(|i| format!("GPU-configured-{i}")).collect();
        assert_eq!(other.gpu_uuid(3), "GPU-configured-3");
    }

    #[test]
    fn node_filter_keeps_only_that_node() {
        let sim = Simulation::new(&cluster(), 10, Some("n2"), at("2026-11-01T00:00:00Z"));
        assert_eq!(sim.gpu_count(), 0);
        assert_eq!(sim.next_due(), None);
    }
}
