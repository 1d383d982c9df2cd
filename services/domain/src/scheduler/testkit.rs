//! Test fixtures for the scheduler: small hand-built inventories, allocations and requests, and
//! the proptest strategies that generate random small clusters and workloads.

use chrono::{DateTime, Duration, TimeZone, Utc};
use proptest::prelude::*;

use crate::pricebook::PriceClass;

use super::mig::MigProfile;
use super::placement::PlacementRequest;
use super::state::{ClusterState, GpuSlot, LiveAllocation, NodeSpec, Reservation};

pub const H100: &str = "H100-SXM5-80GB";
pub const L40S: &str = "L40S-48GB";
pub const MIG_1G: &str = "H100-MIG-1g.10gb";
pub const MIG_2G: &str = "H100-MIG-2g.20gb";
pub const MIG_3G: &str = "H100-MIG-3g.40gb";
pub const MIG_4G: &str = "H100-MIG-4g.40gb";
pub const MIG_7G: &str = "H100-MIG-7g.80gb";

pub fn node(id: &str, sku: &str, pod: &str, mig: bool) -> NodeSpec {
    NodeSpec {
        id: id.to_owned(),
        sku: sku.to_owned(),
        pod: pod.to_owned(),
        gpu_uuids: (0..8).map(|gpu| format!("GPU-{id}-{gpu}")).collect(),
        mig,
    }
}

/// `n` whole-GPU H100 nodes `n0`, `n1`… in pod `p0`.
pub fn h100_nodes(n: usize) -> Vec<NodeSpec> {
    (0..n)
        .map(|i| node(&format!("n{i}"), H100, "p0", false))
        .collect()
}

pub fn cluster(nodes: Vec<NodeSpec>) -> ClusterState {
    ClusterState::new(nodes, Vec::new()).unwrap()
}

pub fn reservation(tenant: &str, nodes: &[&str]) -> Reservation {
    Reservation {
        tenant: tenant.to_owned(),
        nodes: nodes.iter().map(|&n| n.to_owned()).collect(),
    }
}

pub fn request(tenant: &str, sku: &str, count: u32, class: PriceClass) -> PlacementRequest {
    PlacementRequest {
        tenant: tenant.to_owned(),
        sku: sku.to_owned(),
        count,
        class,
    }
}

pub fn on_demand(sku: &str, count: u32) -> PlacementRequest {
    request("acme", sku, count, PriceClass::OnDemand)
}

pub fn whole(node: u32, gpu: u8) -> GpuSlot {
    GpuSlot {
        node,
        gpu,
        mig: None,
    }
}

pub fn mig(node: u32, gpu: u8, start: u8, profile: MigProfile) -> GpuSlot {
    GpuSlot {
        node,
        gpu,
        mig: Some((start, profile)),
    }
}

/// An instant `minutes` after a fixed origin.
pub fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap() + Duration::minutes(minutes)
}

pub fn allocation(id: &str, sku: &str, class: PriceClass, slots: Vec<GpuSlot>) -> LiveAllocation {
    LiveAllocation {
        id: id.to_owned(),
        tenant: "other".to_owned(),
        sku: sku.to_owned(),
        class,
        priority: 0,
        started_at: at(0),
        slots,
    }
}

/// A spot allocation of whole H100 GPUs with a priority and a start.
pub fn spot(id: &str, priority: i32, started_minutes: i64, slots: Vec<GpuSlot>) -> LiveAllocation {
    LiveAllocation {
        priority,
        started_at: at(started_minutes),
        ..allocation(id, H100, PriceClass::Spot, slots)
    }
}

/// Commits an on-demand allocation of the first `gpus` GPUs of `node`.
pub fn fill(state: &mut ClusterState, id: &str, node: u32, gpus: u8) {
    let sku = state.nodes()[node as usize].sku.clone();
    let slots = (0..gpus).map(|gpu| whole(node, gpu)).collect();
    state
        .commit(allocation(id, &sku, PriceClass::OnDemand, slots))
        .unwrap();
}

/// SKUs random workloads ask for: whole GPUs of both kinds, every MIG profile, and one SKU no
/// node has.
pub const SKUS: [&str; 8] = [
    H100,
    L40S,
    MIG_1G,
    MIG_2G,
    MIG_3G,
    MIG_4G,
    MIG_7G,
    "B200-192GB",
];

pub const TENANTS: [&str; 3] = ["t0", "t1", "t2"];

/// A random small cluster: 2–3 pods of 2–4 nodes, each an H100 (sometimes in MIG mode) or an
/// L40S, with tenants `t0` and `t1` sometimes holding reserved nodes.
pub fn any_cluster() -> impl Strategy<Value = ClusterState> {
    let any_node = (0u8..10, 0u8..10);
    prop::collection::vec(prop::collection::vec(any_node, 2..=4), 2..=3).prop_map(|pods| {
        let mut nodes = Vec::new();
        let mut reserved: [Vec<String>; 2] = [Vec::new(), Vec::new()];
        for (pod, members) in pods.iter().enumerate() {
            for (kind, reserve) in members {
                let id = format!("p{pod}-n{}", nodes.len());
                let (sku, mig) = match kind {
                    0..=4 => (H100, false),
                    5..=7 => (H100, true),
                    _ => (L40S, false),
                };
                match reserve {
                    0 => reserved[0].push(id.clone()),
                    1 => reserved[1].push(id.clone()),
                    _ => {}
                }
                nodes.push(node(&id, sku, &format!("pod-{pod}"), mig));
            }
        }
        let reservations = reserved
            .iter()
            .zip(TENANTS)
            .filter(|(nodes, _)| !nodes.is_empty())
            .map(|(nodes, tenant)| Reservation {
                tenant: tenant.to_owned(),
                nodes: nodes.clone(),
            })
            .collect();
        ClusterState::new(nodes, reservations).unwrap()
    })
}

pub fn any_class() -> impl Strategy<Value = PriceClass> {
    prop::sample::select(PriceClass::ALL.to_vec())
}

/// A random request: mostly small counts, sometimes whole nodes or an odd large count.
pub fn any_request() -> impl Strategy<Value = PlacementRequest> {
    let count = prop_oneof![
        6 => 1u32..=8,
        2 => (1u32..=3).prop_map(|nodes| nodes * 8),
        1 => 0u32..=40,
    ];
    (
        prop::sample::select(TENANTS.to_vec()),
        prop::sample::select(SKUS.to_vec()),
        count,
        any_class(),
    )
        .prop_map(|(tenant, sku, count, class)| request(tenant, sku, count, class))
}
