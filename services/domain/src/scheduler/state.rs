//! The cluster as the scheduler sees it: nodes (SKU, 8 GPUs, InfiniBand pod, MIG mode, ready,
//! drained or down), tenants' reserved nodes, and the live allocations holding GPUs or MIG
//! slices. Every change checks that no GPU slot is held twice.

use crate::pricebook::PriceClass;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use super::mig::{
    ALL_SLICES, MIG_PARENT_SKU, MigProfile, SLICES_PER_GPU, SkuShape, valid_geometry,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum NodeState {
    #[default]
    Ready,
    /// Takes no new allocations; live ones run on.
    Drained,
    /// Takes no new allocations; live ones are the service's to release.
    Down,
}

impl NodeState {
    pub const ALL: [Self; 3] = [Self::Ready, Self::Drained, Self::Down];

    /// Machine-readable code: `ready`, `drained`, `down`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::Drained => "drained",
            Self::Down => "down",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.code() == code)
    }
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

/// Occupancy of a GPU held whole: every slice, plus a flag no MIG instance sets.
const WHOLE: u8 = 0b1111_1111;

/// GPUs on every node.
pub const GPUS_PER_NODE: usize = 8;

/// What never changes once the state is built: the nodes, their pods, the reservations and the
/// lookup tables derived from them. Shared between clones, so the clone preemption simulates on
/// copies only what decisions change.
#[derive(Debug)]
struct Inventory {
    nodes: Vec<NodeSpec>,
    by_id: HashMap<String, u32>,
    /// Pod of each node, numbered by first appearance in `nodes`.
    pod_of: Vec<u32>,
    pods: usize,
    reserved_to: Vec<Option<String>>,
    /// Reserved nodes of each tenant, ascending.
    reserved_nodes: HashMap<String, Vec<u32>>,
    /// Non-MIG nodes per SKU, ascending.
    whole_nodes: HashMap<String, Vec<u32>>,
    /// MIG-mode nodes per (parent) SKU, ascending.
    mig_nodes: HashMap<String, Vec<u32>>,
}

/// Inventory, node states, reservations and live allocations.
///
/// Besides the allocations it keeps, per GPU, a mask of what is taken (every slice and a flag for
/// a whole GPU; the MIG slices taken otherwise) and, per node, its free GPUs and free slices, so a
/// placement decision reads a few bytes per node and allocates nothing per node.
#[derive(Debug, Clone)]
pub struct ClusterState {
    inventory: Arc<Inventory>,
    node_states: Vec<NodeState>,
    occupancy: Vec<[u8; GPUS_PER_NODE]>,
    /// GPUs with nothing on them, per node.
    free_gpus: Vec<u8>,
    /// Slices not taken, per node (0 for a GPU held whole).
    free_slices: Vec<u8>,
    allocations: BTreeMap<String, Arc<LiveAllocation>>,
}

/// The bits a slot takes on its GPU.
fn slot_bits(slot: &GpuSlot) -> u8 {
    match slot.mig {
        None => WHOLE,
        Some((start, profile)) => profile.mask_at(start),
    }
}

/// Free GPUs and free slices of a node, from its GPUs' occupancy.
fn node_free(gpus: &[u8; GPUS_PER_NODE]) -> (u8, u8) {
    let free_gpus = gpus.iter().filter(|&&mask| mask == 0).count() as u8;
    let free_slices = gpus
        .iter()
        .map(|&mask| SLICES_PER_GPU - (mask & ALL_SLICES).count_ones() as u8)
        .sum();
    (free_gpus, free_slices)
}

impl ClusterState {
    pub fn new(
        nodes: Vec<NodeSpec>,
        reservations: Vec<Reservation>,
    ) -> Result<Self, InventoryError> {
        let mut by_id = HashMap::with_capacity(nodes.len());
        let mut uuids = HashSet::with_capacity(nodes.len() * GPUS_PER_NODE);
        let mut pod_numbers: HashMap<&str, u32> = HashMap::new();
        let mut pod_of = Vec::with_capacity(nodes.len());
        let mut whole_nodes: HashMap<String, Vec<u32>> = HashMap::new();
        let mut mig_nodes: HashMap<String, Vec<u32>> = HashMap::new();
        for (index, node) in nodes.iter().enumerate() {
            let index = index as u32;
            if node.gpu_uuids.len() != GPUS_PER_NODE {
                return Err(InventoryError::GpuCount {
                    node: node.id.clone(),
                    gpus: node.gpu_uuids.len(),
                });
            }
            if by_id.insert(node.id.clone(), index).is_some() {
                return Err(InventoryError::DuplicateNode(node.id.clone()));
            }
            for uuid in &node.gpu_uuids {
                if !uuids.insert(uuid.as_str()) {
                    return Err(InventoryError::DuplicateGpu(uuid.clone()));
                }
            }
            let next_pod = pod_numbers.len() as u32;
            pod_of.push(*pod_numbers.entry(node.pod.as_str()).or_insert(next_pod));
            let kind = if node.mig {
                &mut mig_nodes
            } else {
                &mut whole_nodes
            };
            kind.entry(node.sku.clone()).or_default().push(index);
        }
        let pods = pod_numbers.len();

        let mut reserved_to: Vec<Option<String>> = vec![None; nodes.len()];
        let mut reserved_nodes: HashMap<String, Vec<u32>> = HashMap::new();
        for reservation in reservations {
            for node in &reservation.nodes {
                let Some(&index) = by_id.get(node) else {
                    return Err(InventoryError::UnknownReservedNode {
                        tenant: reservation.tenant.clone(),
                        node: node.clone(),
                    });
                };
                let slot = &mut reserved_to[index as usize];
                if slot.is_some() {
                    return Err(InventoryError::NodeReservedTwice(node.clone()));
                }
                *slot = Some(reservation.tenant.clone());
                reserved_nodes
                    .entry(reservation.tenant.clone())
                    .or_default()
                    .push(index);
            }
        }
        for indices in reserved_nodes.values_mut() {
            indices.sort_unstable();
        }

        let count = nodes.len();
        Ok(Self {
            inventory: Arc::new(Inventory {
                nodes,
                by_id,
                pod_of,
                pods,
                reserved_to,
                reserved_nodes,
                whole_nodes,
                mig_nodes,
            }),
            node_states: vec![NodeState::Ready; count],
            occupancy: vec![[0; GPUS_PER_NODE]; count],
            free_gpus: vec![GPUS_PER_NODE as u8; count],
            free_slices: vec![SLICES_PER_GPU * GPUS_PER_NODE as u8; count],
            allocations: BTreeMap::new(),
        })
    }

    pub fn nodes(&self) -> &[NodeSpec] {
        &self.inventory.nodes
    }

    pub fn node_index(&self, id: &str) -> Option<u32> {
        self.inventory.by_id.get(id).copied()
    }

    /// State of a node; an index outside the inventory reads as [`NodeState::Down`].
    pub fn node_state(&self, node: u32) -> NodeState {
        self.node_states
            .get(node as usize)
            .copied()
            .unwrap_or(NodeState::Down)
    }

    pub fn set_node_state(&mut self, id: &str, state: NodeState) -> Result<(), StateError> {
        let index = self
            .node_index(id)
            .ok_or_else(|| StateError::UnknownNode(id.to_owned()))?;
        self.node_states[index as usize] = state;
        Ok(())
    }

    /// Tenant a node is reserved to, if any.
    pub fn reserved_to(&self, node: u32) -> Option<&str> {
        self.inventory
            .reserved_to
            .get(node as usize)
            .and_then(|tenant| tenant.as_deref())
    }

    /// Adds a live allocation; refused (and nothing changes) if any slot is invalid or held.
    ///
    /// A slot is invalid if its node or GPU does not exist, if it is a whole GPU on a MIG node or
    /// a MIG instance on a whole-GPU node, if its start is not allowed for its profile, or if it
    /// does not match the allocation's SKU (node SKU, MIG profile): the state never holds what
    /// [`ClusterState::check_invariants`] would reject. Node states and reservations are not
    /// checked: the service rebuilds the state from whatever is live.
    pub fn commit(&mut self, allocation: LiveAllocation) -> Result<(), StateError> {
        if self.allocations.contains_key(&allocation.id) {
            return Err(StateError::AllocationExists(allocation.id));
        }
        let shape = SkuShape::of(&allocation.sku);
        // Bits this allocation adds per GPU, so its own slots are checked against each other too.
        let mut added: BTreeMap<(u32, u8), u8> = BTreeMap::new();
        for slot in &allocation.slots {
            if !self.slot_fits_node(&shape, slot) {
                return Err(StateError::InvalidSlot(allocation.id.clone(), *slot));
            }
            let bits = slot_bits(slot);
            let mine = added.entry((slot.node, slot.gpu)).or_insert(0);
            let held = self.occupancy[slot.node as usize][slot.gpu as usize] | *mine;
            if held & bits != 0 {
                return Err(StateError::SlotTaken(allocation.id.clone(), *slot));
            }
            *mine |= bits;
        }
        for (&(node, gpu), &bits) in &added {
            self.occupancy[node as usize][gpu as usize] |= bits;
        }
        self.recount(added.keys().map(|&(node, _)| node));
        self.allocations
            .insert(allocation.id.clone(), Arc::new(allocation));
        Ok(())
    }

    /// Removes a live allocation and frees its slots.
    pub fn release(&mut self, id: &str) -> Option<LiveAllocation> {
        let allocation = self.allocations.remove(id)?;
        for slot in &allocation.slots {
            self.occupancy[slot.node as usize][slot.gpu as usize] &= !slot_bits(slot);
        }
        self.recount(allocation.slots.iter().map(|slot| slot.node));
        Some(Arc::try_unwrap(allocation).unwrap_or_else(|shared| (*shared).clone()))
    }

    pub fn allocation(&self, id: &str) -> Option<&LiveAllocation> {
        self.allocations
            .get(id)
            .map(|allocation| allocation.as_ref())
    }

    /// Live allocations, by id.
    pub fn allocations(&self) -> impl Iterator<Item = &LiveAllocation> {
        self.allocations
            .values()
            .map(|allocation| allocation.as_ref())
    }

    /// Live GPUs (or MIG instances) per tenant and SKU.
    pub fn concurrent_units(&self) -> BTreeMap<(String, String), u32> {
        let mut units: BTreeMap<(String, String), u32> = BTreeMap::new();
        for allocation in self.allocations() {
            *units
                .entry((allocation.tenant.clone(), allocation.sku.clone()))
                .or_default() += allocation.slots.len() as u32;
        }
        units
    }

    /// GPUs with nothing on them (no whole-GPU allocation, no MIG instance), on every node
    /// whatever its state, for reports. Free MIG slices are [`ClusterState::free_mig_slices`].
    pub fn free_gpus(&self) -> usize {
        self.free_gpus.iter().map(|&free| usize::from(free)).sum()
    }

    /// Free compute slices on MIG-mode nodes, whatever their state, for reports.
    pub fn free_mig_slices(&self) -> usize {
        self.inventory
            .mig_nodes
            .values()
            .flatten()
            .map(|&node| usize::from(self.free_slices[node as usize]))
            .sum()
    }

    /// Checks every invariant from scratch: no slot held twice, MIG geometry valid on every GPU,
    /// whole GPUs only on non-MIG nodes of their SKU, MIG instances only on MIG nodes of their
    /// parent SKU. For tests and debug assertions.
    ///
    /// It also checks that the per-GPU and per-node bookkeeping placement reads agrees with what
    /// the allocations hold.
    pub fn check_invariants(&self) -> Result<(), String> {
        let count = self.inventory.nodes.len();
        let mut occupancy = vec![[0u8; GPUS_PER_NODE]; count];
        let mut instances: BTreeMap<(u32, u8), Vec<(u8, MigProfile)>> = BTreeMap::new();
        for (id, allocation) in &self.allocations {
            if *id != allocation.id {
                return Err(format!(
                    "allocation `{}` is kept under `{id}`",
                    allocation.id
                ));
            }
            let shape = SkuShape::of(&allocation.sku);
            for slot in &allocation.slots {
                if !self.slot_fits_node(&shape, slot) {
                    return Err(format!(
                        "allocation `{id}` ({}) holds {slot:?}, which its SKU cannot take",
                        allocation.sku
                    ));
                }
                let gpu = &mut occupancy[slot.node as usize][slot.gpu as usize];
                let bits = slot_bits(slot);
                if *gpu & bits != 0 {
                    return Err(format!("allocation `{id}` holds {slot:?}, already held"));
                }
                *gpu |= bits;
                if let Some(instance) = slot.mig {
                    instances
                        .entry((slot.node, slot.gpu))
                        .or_default()
                        .push(instance);
                }
            }
        }
        for ((node, gpu), on_gpu) in &instances {
            if !valid_geometry(on_gpu) {
                return Err(format!(
                    "GPU {gpu} of node {node} has an invalid MIG geometry: {on_gpu:?}"
                ));
            }
        }
        if self.node_states.len() != count || self.occupancy.len() != count {
            return Err("per-node tables do not cover the inventory".to_owned());
        }
        for (node, gpus) in occupancy.iter().enumerate() {
            if *gpus != self.occupancy[node] {
                return Err(format!(
                    "node {node}: occupancy {:?} recorded, {gpus:?} held",
                    self.occupancy[node]
                ));
            }
            let (free_gpus, free_slices) = node_free(gpus);
            if (free_gpus, free_slices) != (self.free_gpus[node], self.free_slices[node]) {
                return Err(format!(
                    "node {node}: {} free GPUs and {} free slices recorded, {free_gpus} and \
                     {free_slices} recomputed",
                    self.free_gpus[node], self.free_slices[node]
                ));
            }
        }
        Ok(())
    }

    /// Whether a slot exists and can be held by a unit of `shape`: the GPU exists, the node's
    /// mode and SKU match the shape, and a MIG instance has the shape's profile at an allowed
    /// start.
    fn slot_fits_node(&self, shape: &SkuShape, slot: &GpuSlot) -> bool {
        let Some(node) = self.inventory.nodes.get(slot.node as usize) else {
            return false;
        };
        if usize::from(slot.gpu) >= GPUS_PER_NODE || node.sku != shape.node_sku() {
            return false;
        }
        match (slot.mig, shape.profile()) {
            (None, None) => !node.mig,
            (Some((start, profile)), Some(wanted)) => {
                node.mig && profile == wanted && profile.allows_start(start)
            }
            _ => false,
        }
    }

    /// Recomputes the free counts of the given nodes from their GPUs' occupancy.
    fn recount(&mut self, nodes: impl Iterator<Item = u32>) {
        for node in nodes {
            let node = node as usize;
            let (free_gpus, free_slices) = node_free(&self.occupancy[node]);
            self.free_gpus[node] = free_gpus;
            self.free_slices[node] = free_slices;
        }
    }

    // Reads for placement and preemption.

    /// Nodes hosting `shape` (SKU and MIG mode match), ascending, whatever their state.
    pub(super) fn nodes_for(&self, shape: &SkuShape) -> &[u32] {
        let kind = if shape.is_mig() {
            &self.inventory.mig_nodes
        } else {
            &self.inventory.whole_nodes
        };
        kind.get(shape.node_sku()).map_or(&[], Vec::as_slice)
    }

    /// Nodes reserved to `tenant`, ascending.
    pub(super) fn reserved_nodes_of(&self, tenant: &str) -> &[u32] {
        self.inventory
            .reserved_nodes
            .get(tenant)
            .map_or(&[], Vec::as_slice)
    }

    /// The node's InfiniBand pod, numbered by first appearance in the inventory.
    pub(super) fn pod_of(&self, node: u32) -> u32 {
        self.inventory.pod_of[node as usize]
    }

    pub(super) fn pod_count(&self) -> usize {
        self.inventory.pods
    }

    /// GPUs of the node with nothing on them.
    pub(super) fn free_gpu_count(&self, node: u32) -> u8 {
        self.free_gpus[node as usize]
    }

    /// Slices of the node not taken.
    pub(super) fn free_slice_count(&self, node: u32) -> u8 {
        self.free_slices[node as usize]
    }

    /// What is taken on each GPU of the node (bit `i` = slice `i`; all bits for a whole GPU).
    pub(super) fn gpu_masks(&self, node: u32) -> &[u8; GPUS_PER_NODE] {
        &self.occupancy[node as usize]
    }
}

/// A uniform inventory of `nodes` H100-SXM5 nodes for benchmarks and tests: ids `node-00001`…,
/// `nodes_per_pod` consecutive nodes per pod `pod-001`… (0 is taken as 1), GPU UUIDs
/// `GPU-node-00001-0`…, and every `mig_every`-th node (the 10th, 20th… for 10) in MIG mode
/// (0: none).
pub fn synthetic_inventory(nodes: usize, nodes_per_pod: usize, mig_every: usize) -> Vec<NodeSpec> {
    let per_pod = nodes_per_pod.max(1);
    (1..=nodes)
        .map(|number| {
            let id = format!("node-{number:05}");
            NodeSpec {
                gpu_uuids: (0..GPUS_PER_NODE)
                    .map(|gpu| format!("GPU-{id}-{gpu}"))
                    .collect(),
                sku: MIG_PARENT_SKU.to_owned(),
                pod: format!("pod-{:03}", (number - 1) / per_pod + 1),
                mig: mig_every != 0 && number % mig_every == 0,
                id,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::placement::PlacementRequest;
    use crate::scheduler::testkit::*;
    use MigProfile::*;
    use PriceClass::*;

    fn mixed() -> ClusterState {
        cluster(vec![
            node("n0", H100, "p0", false),
            node("n1", H100, "p0", true),
            node("n2", L40S, "p1", false),
        ])
    }

    #[test]
    fn an_inventory_with_a_node_of_seven_gpus_is_refused() {
        let mut nodes = h100_nodes(2);
        nodes[1].gpu_uuids.pop();
        assert_eq!(
            ClusterState::new(nodes, vec![]).unwrap_err(),
            InventoryError::GpuCount {
                node: "n1".into(),
                gpus: 7
            }
        );
    }

    #[test]
    fn an_inventory_listing_a_node_twice_is_refused() {
        let mut nodes = h100_nodes(2);
        nodes[1].id = "n0".into();
        nodes[1].gpu_uuids = (0..8).map(|i| format!("other-{i}")).collect();
        assert_eq!(
            ClusterState::new(nodes, vec![]).unwrap_err(),
            InventoryError::DuplicateNode("n0".into())
        );
    }

    #[test]
    fn an_inventory_listing_a_gpu_twice_is_refused() {
        let mut nodes = h100_nodes(2);
        nodes[1].gpu_uuids[3] = "GPU-n0-5".into();
        assert_eq!(
            ClusterState::new(nodes, vec![]).unwrap_err(),
            InventoryError::DuplicateGpu("GPU-n0-5".into())
        );
    }

    #[test]
    fn a_reservation_of_an_unknown_node_is_refused() {
        assert_eq!(
            ClusterState::new(h100_nodes(2), vec![reservation("acme", &["n0", "n9"])]).unwrap_err(),
            InventoryError::UnknownReservedNode {
                tenant: "acme".into(),
                node: "n9".into()
            }
        );
    }

    #[test]
    fn a_node_reserved_twice_is_refused_even_to_the_same_tenant() {
        for reservations in [
            vec![reservation("acme", &["n0"]), reservation("beta", &["n0"])],
            vec![reservation("acme", &["n1", "n1"])],
        ] {
            assert!(matches!(
                ClusterState::new(h100_nodes(2), reservations),
                Err(InventoryError::NodeReservedTwice(_))
            ));
        }
    }

    #[test]
    fn nodes_are_indexed_by_position_and_know_their_reservation() {
        let state = ClusterState::new(
            h100_nodes(3),
            vec![reservation("acme", &["n2"]), reservation("acme", &["n0"])],
        )
        .unwrap();
        assert_eq!(state.nodes().len(), 3);
        assert_eq!(state.node_index("n1"), Some(1));
        assert_eq!(state.node_index("n7"), None);
        assert_eq!(state.reserved_to(0), Some("acme"));
        assert_eq!(state.reserved_to(1), None);
        assert_eq!(state.reserved_to(2), Some("acme"));
        assert_eq!(state.reserved_nodes_of("acme"), &[0, 2]);
    }

    #[test]
    fn node_states_start_ready_and_can_be_changed_by_id() {
        let mut state = cluster(h100_nodes(2));
        assert_eq!(state.node_state(1), NodeState::Ready);
        state.set_node_state("n1", NodeState::Drained).unwrap();
        assert_eq!(state.node_state(1), NodeState::Drained);
        assert_eq!(
            state.set_node_state("n9", NodeState::Down),
            Err(StateError::UnknownNode("n9".into()))
        );
    }

    #[test]
    fn committing_holds_the_slots_and_releasing_frees_them() {
        let mut state = mixed();
        assert_eq!(state.free_gpus(), 24);
        state
            .commit(allocation(
                "a",
                H100,
                OnDemand,
                vec![whole(0, 1), whole(0, 2)],
            ))
            .unwrap();
        state
            .commit(allocation("m", MIG_3G, OnDemand, vec![mig(1, 0, 4, G3)]))
            .unwrap();
        assert_eq!(state.free_gpus(), 21);
        assert_eq!(state.free_mig_slices(), 53);
        assert_eq!(state.allocation("a").unwrap().slots.len(), 2);
        state.check_invariants().unwrap();

        let released = state.release("a").unwrap();
        assert_eq!(released.id, "a");
        assert_eq!(state.free_gpus(), 23);
        assert!(state.allocation("a").is_none());
        assert!(state.release("a").is_none());
        state.check_invariants().unwrap();
    }

    #[test]
    fn an_allocation_id_is_committed_only_once() {
        let mut state = mixed();
        state
            .commit(allocation("a", H100, OnDemand, vec![whole(0, 0)]))
            .unwrap();
        assert_eq!(
            state.commit(allocation("a", H100, OnDemand, vec![whole(0, 1)])),
            Err(StateError::AllocationExists("a".into()))
        );
    }

    #[test]
    fn slots_that_do_not_exist_or_do_not_match_the_node_are_invalid() {
        let cases = [
            (H100, whole(3, 0)),
            (H100, whole(0, 8)),
            (H100, whole(1, 0)),
            (MIG_1G, mig(0, 0, 0, G1)),
            (MIG_2G, mig(1, 0, 1, G2)),
            (MIG_3G, mig(1, 0, 0, G2)),
            (L40S, whole(0, 0)),
            (H100, whole(2, 0)),
            ("H100-PCIe-80GB", whole(0, 0)),
        ];
        for (sku, slot) in cases {
            let mut state = mixed();
            assert_eq!(
                state.commit(allocation("a", sku, OnDemand, vec![slot])),
                Err(StateError::InvalidSlot("a".into(), slot)),
                "{sku} {slot:?}"
            );
        }
    }

    #[test]
    fn a_slot_already_held_is_refused_and_nothing_changes() {
        let mut state = mixed();
        state
            .commit(allocation("a", H100, OnDemand, vec![whole(0, 3)]))
            .unwrap();
        state
            .commit(allocation("m", MIG_4G, OnDemand, vec![mig(1, 2, 0, G4)]))
            .unwrap();
        let before = state.free_gpus();

        let taken = whole(0, 3);
        assert_eq!(
            state.commit(allocation("b", H100, OnDemand, vec![whole(0, 2), taken])),
            Err(StateError::SlotTaken("b".into(), taken))
        );
        let overlapping = mig(1, 2, 2, G2);
        assert_eq!(
            state.commit(allocation("c", MIG_2G, OnDemand, vec![overlapping])),
            Err(StateError::SlotTaken("c".into(), overlapping))
        );
        assert_eq!(state.free_gpus(), before);
        assert!(state.allocation("b").is_none());
        // The valid first slot of the refused allocation was not taken.
        state
            .commit(allocation("d", H100, OnDemand, vec![whole(0, 2)]))
            .unwrap();
        state.check_invariants().unwrap();
    }

    #[test]
    fn an_allocation_cannot_hold_the_same_slot_twice() {
        let mut state = mixed();
        assert_eq!(
            state.commit(allocation(
                "a",
                H100,
                OnDemand,
                vec![whole(0, 1), whole(0, 1)]
            )),
            Err(StateError::SlotTaken("a".into(), whole(0, 1)))
        );
        assert_eq!(
            state.commit(allocation(
                "m",
                MIG_1G,
                OnDemand,
                vec![mig(1, 0, 3, G1), mig(1, 0, 3, G1)]
            )),
            Err(StateError::SlotTaken("m".into(), mig(1, 0, 3, G1)))
        );
    }

    #[test]
    fn mig_instances_that_do_not_overlap_share_a_gpu() {
        let mut state = mixed();
        state
            .commit(allocation("a", MIG_4G, OnDemand, vec![mig(1, 0, 0, G4)]))
            .unwrap();
        state
            .commit(allocation("b", MIG_3G, OnDemand, vec![mig(1, 0, 4, G3)]))
            .unwrap();
        state.check_invariants().unwrap();
        assert_eq!(state.free_mig_slices(), 49);
    }

    #[test]
    fn commit_ignores_node_states_and_reservations() {
        let mut state =
            ClusterState::new(h100_nodes(2), vec![reservation("acme", &["n1"])]).unwrap();
        state.set_node_state("n0", NodeState::Down).unwrap();
        state
            .commit(allocation("a", H100, Spot, vec![whole(0, 0), whole(1, 0)]))
            .unwrap();
        state.check_invariants().unwrap();
    }

    #[test]
    fn allocations_are_listed_by_id() {
        let mut state = mixed();
        for (id, gpu) in [("c", 0), ("a", 1), ("b", 2)] {
            state
                .commit(allocation(id, H100, OnDemand, vec![whole(0, gpu)]))
                .unwrap();
        }
        let ids: Vec<&str> = state.allocations().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["a", "b", "c"]);
    }

    #[test]
    fn concurrent_units_count_slots_per_tenant_and_sku() {
        let mut state = mixed();
        let held = [
            ("a", "acme", H100, vec![whole(0, 0), whole(0, 1)]),
            ("b", "acme", H100, vec![whole(0, 2)]),
            (
                "c",
                "acme",
                MIG_1G,
                vec![mig(1, 0, 0, G1), mig(1, 0, 1, G1)],
            ),
            ("d", "beta", H100, vec![whole(0, 3)]),
        ];
        for (id, tenant, sku, slots) in held {
            let mut allocation = allocation(id, sku, OnDemand, slots);
            allocation.tenant = tenant.into();
            state.commit(allocation).unwrap();
        }
        let units = state.concurrent_units();
        let get = |tenant: &str, sku: &str| units.get(&(tenant.into(), sku.into())).copied();
        assert_eq!(get("acme", H100), Some(3));
        assert_eq!(get("acme", MIG_1G), Some(2));
        assert_eq!(get("beta", H100), Some(1));
        assert_eq!(units.len(), 3);
    }

    #[test]
    fn free_gpus_count_untouched_gpus_on_nodes_in_any_state() {
        let mut state = mixed();
        state.set_node_state("n2", NodeState::Down).unwrap();
        state
            .commit(allocation("m", MIG_1G, OnDemand, vec![mig(1, 5, 6, G1)]))
            .unwrap();
        assert_eq!(state.free_gpus(), 23);
    }

    #[test]
    fn synthetic_inventory_numbers_nodes_pods_and_gpus() {
        let nodes = synthetic_inventory(35, 16, 10);
        assert_eq!(nodes.len(), 35);
        assert_eq!(nodes[0].id, "node-00001");
        assert_eq!(nodes[0].pod, "pod-001");
        assert_eq!(nodes[15].pod, "pod-001");
        assert_eq!(nodes[16].pod, "pod-002");
        assert_eq!(nodes[34].pod, "pod-003");
        assert_eq!(nodes[0].gpu_uuids[7], "GPU-node-00001-7");
        let mig: Vec<&str> = nodes
            .iter()
            .filter(|n| n.mig)
            .map(|n| n.id.as_str())
            .collect();
        assert_eq!(mig, ["node-00010", "node-00020", "node-00030"]);
        assert!(synthetic_inventory(20, 4, 0).iter().all(|n| !n.mig));
        assert!(ClusterState::new(synthetic_inventory(1000, 16, 3), vec![]).is_ok());
    }

    /// A deterministic pseudo-random sequence (xorshift), so the large test needs no generator.
    struct Sequence(u64);

    impl Sequence {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    #[test]
    fn a_thousand_requests_on_ten_thousand_nodes_keep_every_invariant() {
        let mut state = ClusterState::new(synthetic_inventory(10_000, 16, 10), vec![]).unwrap();
        let mut random = Sequence(0x9e37_79b9_7f4a_7c15);
        let skus = [H100, H100, H100, MIG_1G, MIG_3G, MIG_7G];
        let mut live: Vec<String> = Vec::new();
        let mut placed = 0;
        for i in 0..1000 {
            if !live.is_empty() && random.below(3) == 0 {
                let id = live.swap_remove(random.below(live.len() as u64) as usize);
                assert!(state.release(&id).is_some());
                continue;
            }
            let sku = skus[random.below(skus.len() as u64) as usize];
            let count = match random.below(10) {
                0 if sku == H100 => 8 * (1 + random.below(8) as u32),
                _ => 1 + random.below(8) as u32,
            };
            let class = if random.below(4) == 0 { Spot } else { OnDemand };
            let request = PlacementRequest {
                tenant: format!("t{}", random.below(20)),
                sku: sku.into(),
                count,
                class,
            };
            let placement = state.place_or_preempt(&request).unwrap();
            for victim in &placement.preempt {
                state.release(victim).unwrap();
            }
            let id = format!("a{i:04}");
            state
                .commit(LiveAllocation {
                    id: id.clone(),
                    tenant: request.tenant,
                    sku: sku.into(),
                    class,
                    priority: random.below(3) as i32,
                    started_at: at(i),
                    slots: placement.slots,
                })
                .unwrap();
            live.push(id);
            placed += 1;
        }
        assert!(placed > 600);
        state.check_invariants().unwrap();
        for id in live {
            state.release(&id).unwrap();
        }
        assert_eq!(state.free_gpus(), 80_000);
        state.check_invariants().unwrap();
    }
}
