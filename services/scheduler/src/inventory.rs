//! The configured cluster (`cluster.toml`) as the decision core sees it: nodes, reservations,
//! and the static allocations whose GPUs the scheduler must leave alone.

use gpubill_domain::scheduler::{
    ClusterState, GpuSlot, InventoryError, LiveAllocation, NodeSpec, Reservation,
};
use gpubill_platform::config::Cluster;

/// Prefix of the static allocations' ids in the decision state, so they never collide with
/// scheduled ones.
pub const STATIC_PREFIX: &str = "static:";

/// The inventory and reservations, with every static allocation's GPUs held.
pub fn cluster_state(cluster: &Cluster) -> Result<ClusterState, InventoryError> {
    let nodes = cluster
        .nodes
        .iter()
        .map(|node| NodeSpec {
            id: node.id.clone(),
            sku: node.sku.clone(),
            pod: node.pod.clone(),
            gpu_uuids: (0..node.gpus).map(|index| node.gpu_uuid(index)).collect(),
            mig: node.mig,
        })
        .collect();
    let reservations = cluster
        .reservations
        .iter()
        .map(|reservation| Reservation {
            tenant: reservation.tenant.clone(),
            nodes: reservation.nodes.clone(),
        })
        .collect();
    let mut state = ClusterState::new(nodes, reservations)?;
    for allocation in &cluster.allocations {
        let Some(node) = state.node_index(&allocation.node) else {
            continue;
        };
        let sku = state.nodes()[node as usize].sku.clone();
        let held = LiveAllocation {
            id: format!("{STATIC_PREFIX}{}", allocation.id),
            tenant: allocation.tenant.clone(),
            sku,
            // Held as on demand so they are never chosen for preemption: no scheduler owns them.
            class: gpubill_domain::PriceClass::OnDemand,
            priority: 0,
            started_at: allocation.started_at,
            slots: allocation
                .gpus
                .iter()
                .map(|gpu| GpuSlot {
                    node,
                    gpu: *gpu,
                    mig: None,
                })
                .collect(),
        };
        // Configuration validation already refused overlapping static allocations.
        if let Err(error) = state.commit(held) {
            tracing::warn!(%error, allocation = %allocation.id, "static allocation not held");
        }
    }
    Ok(state)
}
