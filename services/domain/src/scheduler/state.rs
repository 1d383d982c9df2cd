//! The cluster as the scheduler sees it: nodes (SKU, 8 GPUs, InfiniBand pod, MIG mode, ready,
//! drained or down), tenants' reserved nodes, and the live allocations holding GPUs or MIG
//! slices. Every change checks that no GPU slot is held twice.

use crate::pricebook::PriceClass;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

use super::mig::MigProfile;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum NodeState {
    #[default]
    Ready,
    /// Takes no new allocations; live ones run on.
    Drained,
    /// Takes no new allocations; live ones are the service's to release.
    Down,
}

/// One node of the inventory, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    pub id: String,
    /// Whole-GPU SKU of the node's GPUs (the parent SKU when in MIG mode).
    pub sku: String,
    /// InfiniBand pod; the node itself is the NVLink domain.
    pub pod: String,
    pub gpu_uuids: Vec<String>,
    /// The node's GPUs are in MIG mode: they host MIG instances only.
    pub mig: bool,
}

/// Nodes reserved to a tenant: they host only that tenant's reserved-class allocations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub tenant: String,
    pub nodes: Vec<String>,
}

/// What an allocation holds on one GPU: the whole GPU, or one MIG instance starting at a slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GpuSlot {
    /// Index of the node in the inventory.
    pub node: u32,
    /// Index of the GPU on its node (0..8).
    pub gpu: u8,
    pub mig: Option<(u8, MigProfile)>,
}

/// A live allocation, as far as decisions need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveAllocation {
    pub id: String,
    pub tenant: String,
    pub sku: String,
    pub class: PriceClass,
    /// Spot only: lower is preempted first.
    pub priority: i32,
    pub started_at: DateTime<Utc>,
    pub slots: Vec<GpuSlot>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InventoryError {
    #[error("node `{0}` is listed twice")]
    DuplicateNode(String),
    #[error("node `{node}` has {gpus} GPUs; every node has 8")]
    GpuCount { node: String, gpus: usize },
    #[error("GPU `{0}` is listed twice")]
    DuplicateGpu(String),
    #[error("reservation of `{tenant}` names unknown node `{node}`")]
    UnknownReservedNode { tenant: String, node: String },
    #[error("node `{0}` is reserved twice")]
    NodeReservedTwice(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("unknown node `{0}`")]
    UnknownNode(String),
    #[error("allocation `{0}` is already live")]
    AllocationExists(String),
    #[error("allocation `{0}` holds a slot already held ({1:?})")]
    SlotTaken(String, GpuSlot),
    #[error("allocation `{0}` holds an invalid slot ({1:?})")]
    InvalidSlot(String, GpuSlot),
}

/// Inventory, node states, reservations and live allocations.
#[derive(Debug, Clone)]
pub struct ClusterState {
    _private: (),
}

impl ClusterState {
    pub fn new(
        nodes: Vec<NodeSpec>,
        reservations: Vec<Reservation>,
    ) -> Result<Self, InventoryError> {
        let _ = (nodes, reservations);
        todo!()
    }

    pub fn nodes(&self) -> &[NodeSpec] {
        todo!()
    }

    pub fn node_index(&self, id: &str) -> Option<u32> {
        let _ = id;
        todo!()
    }

    pub fn node_state(&self, node: u32) -> NodeState {
        let _ = node;
        todo!()
    }

    pub fn set_node_state(&mut self, id: &str, state: NodeState) -> Result<(), StateError> {
        let _ = (id, state);
        todo!()
    }

    /// Tenant a node is reserved to, if any.
    pub fn reserved_to(&self, node: u32) -> Option<&str> {
        let _ = node;
        todo!()
    }

    /// Adds a live allocation; refused (and nothing changes) if any slot is invalid or held.
    pub fn commit(&mut self, allocation: LiveAllocation) -> Result<(), StateError> {
        let _ = allocation;
        todo!()
    }

    /// Removes a live allocation and frees its slots.
    pub fn release(&mut self, id: &str) -> Option<LiveAllocation> {
        let _ = id;
        todo!()
    }

    pub fn allocation(&self, id: &str) -> Option<&LiveAllocation> {
        let _ = id;
        todo!()
    }

    pub fn allocations(&self) -> impl Iterator<Item = &LiveAllocation> {
        std::iter::empty()
    }

    /// Live GPUs (or MIG instances) per tenant and SKU.
    pub fn concurrent_units(&self) -> BTreeMap<(String, String), u32> {
        todo!()
    }

    /// Free whole GPUs and free MIG slices, for reports.
    pub fn free_gpus(&self) -> usize {
        todo!()
    }

    /// Checks every invariant from scratch: no slot held twice, MIG geometry valid on every GPU,
    /// whole GPUs only on non-MIG nodes of their SKU, MIG instances only on MIG nodes of their
    /// parent SKU. For tests and debug assertions.
    pub fn check_invariants(&self) -> Result<(), String> {
        todo!()
    }
}
