//! Simulated metering: which events a set of allocations emits, and when. Each GPU of an
//! allocation (each MIG instance, under its [`mig_device_uuid`]) is a stream; its interval `k`
//! covers `[started_at + k·I, started_at + (k+1)·I)` and carries `seq = k + 1`, so a restarted
//! agent re-emits identical events for the same intervals and downstream de-duplication makes the
//! restart harmless. An allocation that has ended stops at `ended_at`: the interval its end cuts
//! is emitted as a shorter last interval `[started_at + k·I, ended_at)`, and none after it. One
//! with a maximum end (`max_end_at`) stops there at the latest, ended or not: the scheduler
//! expires it at that instant, and may write the expiry only a little later.
//!
//! [`mig_device_uuid`]: gpubill_schema::event::mig_device_uuid

use chrono::{DateTime, Duration, Utc};
use gpubill_domain::PriceClass;
use gpubill_platform::config::Cluster;
use gpubill_schema::event::{UsageDataV1, UsageEventV1};
use std::collections::HashSet;

/// One allocation on one node as the agent meters it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeteredAllocation {
    pub tenant_id: String,
    pub allocation_id: String,
    pub node_id: String,
    /// The SKU its usage is priced as: the node's GPU, or the MIG profile.
    pub sku: String,
    pub price_class: PriceClass,
    /// One stream per device: a GPU's UUID, or a MIG instance's `mig_device_uuid`.
    pub devices: Vec<String>,
    pub started_at: DateTime<Utc>,
    /// Set once the allocation has ended: metering stops there.
    pub ended_at: Option<DateTime<Utc>>,
    /// Where metering stops at the latest (a scheduled allocation's maximum duration); `None`
    /// for a static allocation.
    pub max_end_at: Option<DateTime<Utc>>,
}

impl MeteredAllocation {
    /// Where metering stops: the end, else the maximum end, else nowhere.
    fn end(&self) -> Option<DateTime<Utc>> {
        self.ended_at.into_iter().chain(self.max_end_at).min()
    }
}

#[derive(Debug, Clone)]
struct Tracked {
    allocation: MeteredAllocation,
    /// Index of the next interval to emit.
    next_interval: i64,
}

/// What [`Simulation::sync`] changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncReport {
    /// Allocations metered from now on.
    pub added: usize,
    /// Allocations learnt to have ended: metering stops at their end.
    pub ended: usize,
    /// Ended allocations fully metered, no longer listed: forgotten.
    pub dropped: usize,
    /// Running allocations the list no longer names: still metered, as nothing said they ended.
    pub vanished: Vec<String>,
    /// Allocations whose end came after intervals past it were already emitted (the end moved
    /// into the past): those intervals cannot be taken back.
    pub overrun: Vec<String>,
}

/// The allocations one agent meters and how far each has been emitted.
#[derive(Debug, Clone)]
pub struct Simulation {
    interval: Duration,
    /// Intervals starting before this instant are not emitted.
    from: DateTime<Utc>,
    allocations: Vec<Tracked>,
}

impl Simulation {
    /// Meters the static allocations of `cluster` (only those on `node`, if given) from `from` on.
    pub fn new(
        cluster: &Cluster,
        interval_seconds: u32,
        node: Option<&str>,
        from: DateTime<Utc>,
    ) -> Self {
        let mut simulation = Self::empty(interval_seconds, from);
        let allocations = cluster
            .allocations
            .iter()
            .filter(|allocation| node.is_none_or(|n| n == allocation.node))
            .filter_map(|allocation| {
                let node = cluster.nodes.iter().find(|n| n.id == allocation.node)?;
                Some(MeteredAllocation {
                    tenant_id: allocation.tenant.clone(),
                    allocation_id: allocation.id.clone(),
                    node_id: node.id.clone(),
                    sku: node.sku.clone(),
                    price_class: allocation.price_class,
                    devices: allocation
                        .gpus
                        .iter()
                        .map(|index| node.gpu_uuid(*index))
                        .collect(),
                    started_at: allocation.started_at,
                    ended_at: None,
                    max_end_at: None,
                })
            });
        for allocation in allocations {
            simulation.add(allocation);
        }
        simulation
    }

    /// Meters nothing until allocations are given with [`Simulation::sync`].
    pub fn empty(interval_seconds: u32, from: DateTime<Utc>) -> Self {
        Self {
            interval: Duration::seconds(i64::from(interval_seconds)),
            from,
            allocations: Vec::new(),
        }
    }

    fn step(&self) -> i64 {
        self.interval.num_nanoseconds().unwrap_or(i64::MAX).max(1)
    }

    fn add(&mut self, allocation: MeteredAllocation) {
        // First interval that starts at or after `from`.
        let since_start = (self.from - allocation.started_at)
            .num_nanoseconds()
            .unwrap_or(i64::MAX);
        let step = self.step();
        let next_interval = if since_start <= 0 {
            0
        } else {
            ceil_div(since_start, step)
        };
        self.allocations.push(Tracked {
            allocation,
            next_interval,
        });
    }

    /// Brings the metered allocations in line with `current`, the allocations the scheduler lists
    /// for the node now: new ones are metered from their start (or `from`), ended ones stop at
    /// their end, and ended ones fully metered that the list no longer names are forgotten. A
    /// running allocation missing from the list goes on being metered: only an end stops it.
    pub fn sync(&mut self, current: Vec<MeteredAllocation>) -> SyncReport {
        let mut report = SyncReport::default();
        let listed: HashSet<String> = current.iter().map(|a| a.allocation_id.clone()).collect();
        for allocation in current {
            let known = self
                .allocations
                .iter_mut()
                .find(|tracked| tracked.allocation.allocation_id == allocation.allocation_id);
            match known {
                Some(tracked) => {
                    if let (None, Some(ended_at)) =
                        (tracked.allocation.ended_at, allocation.ended_at)
                    {
                        let next_start = interval_bounds(
                            tracked.allocation.started_at,
                            self.interval,
                            tracked.next_interval,
                        )
                        .0;
                        // Metering already stopped at the maximum end, if it came first.
                        let emitted_until = tracked
                            .allocation
                            .max_end_at
                            .map_or(next_start, |max_end| next_start.min(max_end));
                        if emitted_until > ended_at {
                            report.overrun.push(allocation.allocation_id.clone());
                        }
                        tracked.allocation.ended_at = Some(ended_at);
                        report.ended += 1;
                    }
                }
                None => {
                    if allocation.ended_at.is_some() {
                        report.ended += 1;
                    }
                    report.added += 1;
                    self.add(allocation);
                }
            }
        }
        let interval = self.interval;
        self.allocations.retain(|tracked| {
            if listed.contains(&tracked.allocation.allocation_id) {
                return true;
            }
            if is_finished(tracked, interval) {
                report.dropped += 1;
                return false;
            }
            if tracked.allocation.ended_at.is_none() {
                report
                    .vanished
                    .push(tracked.allocation.allocation_id.clone());
            }
            true
        });
        report
    }

    /// Streams metered: devices of allocations not yet fully metered.
    pub fn gpu_count(&self) -> usize {
        self.allocations
            .iter()
            .filter(|tracked| !is_finished(tracked, self.interval))
            .map(|tracked| tracked.allocation.devices.len())
            .sum()
    }

    /// How many events [`Simulation::emit_until`] would emit for `now`, without building them.
    pub fn count_until(&self, now: DateTime<Utc>) -> u64 {
        let step = self.step();
        self.allocations
            .iter()
            .map(|tracked| {
                let allocation = &tracked.allocation;
                let nanos_since_start = |at: DateTime<Utc>| {
                    (at - allocation.started_at)
                        .num_nanoseconds()
                        .unwrap_or(i64::MAX)
                };
                // Interval k has ended by `now` when started_at + (k + 1) × interval <= now, or,
                // once the allocation has ended, when it is the last one and its end <= now.
                let ended = match allocation.end() {
                    Some(end) if end <= now => ceil_div(nanos_since_start(end).max(0), step),
                    _ => nanos_since_start(now).div_euclid(step).max(0),
                };
                let pending = u64::try_from(ended - tracked.next_interval).unwrap_or(0);
                pending * allocation.devices.len() as u64
            })
            .sum()
    }

    /// When the next interval ends: the simulated instant of the next emission.
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        self.allocations
            .iter()
            .filter_map(|tracked| next_bounds(tracked, self.interval).map(|(_, end)| end))
            .min()
    }

    /// Emits every interval that has ended by `now`, in time order per stream.
    pub fn emit_until(&mut self, now: DateTime<Utc>, out: &mut Vec<UsageEventV1>) {
        let interval = self.interval;
        for tracked in &mut self.allocations {
            while let Some((start, end)) = next_bounds(tracked, interval) {
                if end > now {
                    break;
                }
                let allocation = &tracked.allocation;
                let seq = u64::try_from(tracked.next_interval + 1).unwrap_or(u64::MAX);
                for device in &allocation.devices {
                    let data = UsageDataV1 {
                        tenant_id: allocation.tenant_id.clone(),
                        allocation_id: allocation.allocation_id.clone(),
                        node_id: allocation.node_id.clone(),
                        gpu_uuid: device.clone(),
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
                tracked.next_interval += 1;
            }
        }
    }
}

/// The next interval of an allocation to emit, cut at its end; `None` once it has ended and every
/// interval before its end is emitted.
fn next_bounds(tracked: &Tracked, interval: Duration) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let allocation = &tracked.allocation;
    let (start, end) = interval_bounds(allocation.started_at, interval, tracked.next_interval);
    match allocation.end() {
        Some(ended_at) if start >= ended_at => None,
        Some(ended_at) => Some((start, end.min(ended_at))),
        None => Some((start, end)),
    }
}

/// `⌈value / step⌉` for `value ≥ 0`, `step > 0`.
fn ceil_div(value: i64, step: i64) -> i64 {
    value / step + i64::from(value % step != 0)
}

fn is_finished(tracked: &Tracked, interval: Duration) -> bool {
    next_bounds(tracked, interval).is_none()
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
                billing: None,
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

    /// An allocation as the scheduler lists it: two GPUs from `started`, ended at `ended`.
    fn scheduled(id: &str, started: &str, ended: Option<&str>) -> MeteredAllocation {
        MeteredAllocation {
            tenant_id: "t1".into(),
            allocation_id: id.into(),
            node_id: "n1".into(),
            sku: "H100-SXM5-80GB".into(),
            price_class: PriceClass::Spot,
            devices: vec!["GPU-a".into(), "MIG-GPU-b/4".into()],
            started_at: at(started),
            ended_at: ended.map(at),
            max_end_at: None,
        }
    }

    fn bounds(events: &[UsageEventV1]) -> Vec<(u64, DateTime<Utc>, DateTime<Utc>)> {
        events
            .iter()
            .filter(|e| e.data.gpu_uuid == "GPU-a")
            .map(|e| (e.data.seq, e.data.interval_start, e.data.interval_end))
            .collect()
    }

    #[test]
    fn intervals_follow_the_allocations_own_start_and_the_last_one_is_cut_at_its_end() {
        let mut sim = Simulation::empty(10, at("2026-11-24T10:00:00Z"));
        sim.sync(vec![scheduled(
            "a1",
            "2026-11-24T10:00:03.250Z",
            Some("2026-11-24T10:00:27Z"),
        )]);
        assert_eq!(sim.next_due(), Some(at("2026-11-24T10:00:13.250Z")));
        let mut out = Vec::new();
        sim.emit_until(at("2026-11-24T11:00:00Z"), &mut out);
        assert_eq!(
            bounds(&out),
            [
                (
                    1,
                    at("2026-11-24T10:00:03.250Z"),
                    at("2026-11-24T10:00:13.250Z")
                ),
                (
                    2,
                    at("2026-11-24T10:00:13.250Z"),
                    at("2026-11-24T10:00:23.250Z")
                ),
                (
                    3,
                    at("2026-11-24T10:00:23.250Z"),
                    at("2026-11-24T10:00:27Z")
                ),
            ]
        );
        assert_eq!(out.len(), 6, "both devices, same intervals");
        // The short last interval is emitted at the allocation's end, so it encodes the same way
        // whenever it is emitted.
        assert_eq!(out[5].time, at("2026-11-24T10:00:27Z"));
        assert_eq!(out[5].data.gpu_uuid, "MIG-GPU-b/4");
        assert_eq!(sim.next_due(), None);
        assert_eq!(sim.gpu_count(), 0);
    }

    #[test]
    fn an_end_learnt_later_cuts_the_interval_in_progress() {
        let mut sim = Simulation::empty(10, at("2026-11-24T10:00:00Z"));
        sim.sync(vec![scheduled("a1", "2026-11-24T10:00:05Z", None)]);
        let mut out = Vec::new();
        sim.emit_until(at("2026-11-24T10:00:29Z"), &mut out);
        assert_eq!(bounds(&out).len(), 2);
        assert_eq!(sim.next_due(), Some(at("2026-11-24T10:00:35Z")));

        let report = sim.sync(vec![scheduled(
            "a1",
            "2026-11-24T10:00:05Z",
            Some("2026-11-24T10:00:31.5Z"),
        )]);
        assert_eq!((report.added, report.ended), (0, 1));
        assert!(report.overrun.is_empty());
        assert_eq!(sim.next_due(), Some(at("2026-11-24T10:00:31.5Z")));
        out.clear();
        sim.emit_until(at("2026-11-24T11:00:00Z"), &mut out);
        assert_eq!(
            bounds(&out),
            [(3, at("2026-11-24T10:00:25Z"), at("2026-11-24T10:00:31.5Z"))]
        );
        // An end exactly on an interval boundary leaves no empty interval behind.
        let mut sim = Simulation::empty(10, at("2026-11-24T10:00:00Z"));
        sim.sync(vec![scheduled(
            "a1",
            "2026-11-24T10:00:05Z",
            Some("2026-11-24T10:00:25Z"),
        )]);
        out.clear();
        sim.emit_until(at("2026-11-24T11:00:00Z"), &mut out);
        assert_eq!(bounds(&out).last().unwrap().2, at("2026-11-24T10:00:25Z"));
        assert_eq!(bounds(&out).len(), 2);
    }

    #[test]
    fn a_running_allocation_is_not_metered_past_its_maximum_end() {
        // The scheduler expires it at 10:00:25 but has not written so yet: still listed as
        // running, it is metered up to its maximum end and no further.
        let mut sim = Simulation::empty(10, at("2026-11-24T10:00:00Z"));
        let running = MeteredAllocation {
            max_end_at: Some(at("2026-11-24T10:00:25Z")),
            ..scheduled("a1", "2026-11-24T10:00:00Z", None)
        };
        sim.sync(vec![running.clone()]);
        assert_eq!(sim.count_until(at("2026-11-24T10:01:00Z")), 3 * 2);
        let mut out = Vec::new();
        sim.emit_until(at("2026-11-24T10:01:00Z"), &mut out);
        assert_eq!(
            bounds(&out).last().unwrap(),
            &(3, at("2026-11-24T10:00:20Z"), at("2026-11-24T10:00:25Z"))
        );
        assert_eq!(sim.next_due(), None);
        // Its expiry, learnt later, changes nothing.
        let expired = MeteredAllocation {
            ended_at: Some(at("2026-11-24T10:00:25Z")),
            ..running
        };
        let report = sim.sync(vec![expired]);
        assert!(report.overrun.is_empty());
        out.clear();
        sim.emit_until(at("2026-11-24T11:00:00Z"), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn a_restarted_follower_re_emits_identical_events() {
        let allocation = || {
            vec![scheduled(
                "a1",
                "2026-11-24T10:00:03Z",
                Some("2026-11-24T10:01:07Z"),
            )]
        };
        let mut whole = Simulation::empty(10, at("2026-11-24T10:00:00Z"));
        whole.sync(allocation());
        let mut all = Vec::new();
        whole.emit_until(at("2026-11-24T11:00:00Z"), &mut all);
        assert_eq!(bounds(&all).len(), 7);

        let mut resumed = Simulation::empty(10, at("2026-11-24T10:00:30Z"));
        resumed.sync(allocation());
        let mut tail = Vec::new();
        resumed.emit_until(at("2026-11-24T11:00:00Z"), &mut tail);
        assert_eq!(tail.first().unwrap().data.seq, 4);
        assert_eq!(tail, all[all.len() - tail.len()..]);
    }

    #[test]
    fn sync_adds_new_allocations_forgets_finished_ones_and_keeps_vanished_running_ones() {
        let mut sim = Simulation::empty(10, at("2026-11-24T10:00:00Z"));
        let report = sim.sync(vec![
            scheduled("done", "2026-11-24T10:00:00Z", Some("2026-11-24T10:00:15Z")),
            scheduled("running", "2026-11-24T10:00:00Z", None),
        ]);
        assert_eq!((report.added, report.ended), (2, 1));
        let mut out = Vec::new();
        sim.emit_until(at("2026-11-24T10:00:20Z"), &mut out);
        assert_eq!(out.len(), 2 * 2 + 2 * 2);

        // Both gone from the list: the finished one is forgotten, the running one still metered.
        let report = sim.sync(Vec::new());
        assert_eq!(report.dropped, 1);
        assert_eq!(report.vanished, ["running"]);
        assert_eq!(sim.gpu_count(), 2);

        // Listed again while still known: not added twice, no event repeated.
        let report = sim.sync(vec![scheduled("running", "2026-11-24T10:00:00Z", None)]);
        assert_eq!(report.added, 0);
        out.clear();
        sim.emit_until(at("2026-11-24T10:00:30Z"), &mut out);
        assert_eq!(out.iter().map(|e| e.data.seq).collect::<Vec<_>>(), [3, 3]);

        // An allocation created and released before `from`: nothing to meter.
        let report = sim.sync(vec![
            scheduled("running", "2026-11-24T10:00:00Z", None),
            scheduled(
                "early",
                "2026-11-24T09:00:00Z",
                Some("2026-11-24T09:30:00Z"),
            ),
        ]);
        assert_eq!(report.added, 1);
        assert_eq!(sim.count_until(at("2026-11-24T12:00:00Z")), 2 * (720 - 3));
    }

    #[test]
    fn an_end_before_what_was_already_emitted_is_reported() {
        let mut sim = Simulation::empty(10, at("2026-11-24T10:00:00Z"));
        sim.sync(vec![scheduled("a1", "2026-11-24T10:00:00Z", None)]);
        let mut out = Vec::new();
        sim.emit_until(at("2026-11-24T10:00:30Z"), &mut out);
        let report = sim.sync(vec![scheduled(
            "a1",
            "2026-11-24T10:00:00Z",
            Some("2026-11-24T10:00:25Z"),
        )]);
        assert_eq!(report.overrun, ["a1"]);
        assert_eq!(sim.next_due(), None);
    }

    #[test]
    fn count_until_matches_what_emit_until_emits_with_ends() {
        for (from, until) in [
            ("2026-11-24T10:00:00Z", "2026-11-24T10:00:00Z"),
            ("2026-11-24T10:00:00Z", "2026-11-24T10:00:16Z"),
            ("2026-11-24T10:00:00Z", "2026-11-24T10:00:27Z"),
            ("2026-11-24T10:00:00Z", "2026-11-24T10:00:27.5Z"),
            ("2026-11-24T10:00:20Z", "2026-11-24T10:01:00Z"),
            ("2026-11-24T10:00:30Z", "2026-11-24T10:01:00Z"),
        ] {
            let mut sim = Simulation::empty(10, at(from));
            sim.sync(vec![
                scheduled("a1", "2026-11-24T10:00:03Z", Some("2026-11-24T10:00:27.5Z")),
                scheduled("a2", "2026-11-24T10:00:07Z", None),
                scheduled("a3", "2026-11-24T10:00:01Z", Some("2026-11-24T10:00:21Z")),
            ]);
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
    fn node_filter_keeps_only_that_node() {
        let sim = Simulation::new(&cluster(), 10, Some("n2"), at("2026-11-01T00:00:00Z"));
        assert_eq!(sim.gpu_count(), 0);
        assert_eq!(sim.next_due(), None);
    }
}
