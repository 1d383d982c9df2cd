//! Gang placement: every unit of a request is placed or none is. Up to 8 whole GPUs go on one
//! node, best fit (the fullest node that still fits, so whole nodes stay free); more than 8 must
//! be a multiple of 8 and take whole nodes, inside one InfiniBand pod when possible, else the
//! fewest pods. MIG instances are packed on one node's MIG GPUs at valid offsets, fullest GPU
//! first. Reserved-class requests land only on the tenant's reserved nodes; no other request
//! lands on a reserved node. Drained and down nodes take nothing new.
//!
//! MIG packing heuristic: the node is the one with the fewest free slices that can take every
//! instance; on it each instance goes, in turn, on the GPU with the fewest free slices where the
//! profile fits (lowest GPU index on ties), at the lowest free allowed start. A request asks for
//! one profile only, and the allowed positions of one profile never overlap each other (1g: each
//! slice; 2g: 0-1, 2-3, 4-5; 3g: 0-2, 4-6; 4g and 7g: one position), so a node can take `count`
//! instances exactly when its GPUs have `count` free positions in all: this greedy finds a packing
//! on a node whenever one exists, and never produces an invalid geometry since it only uses free
//! allowed positions. What it does not do is move live instances to defragment.

use crate::pricebook::PriceClass;

use super::mig::{MigProfile, SkuShape};
use super::state::{ClusterState, GPUS_PER_NODE, GpuSlot, NodeState};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacementRequest {
    pub tenant: String,
    pub sku: String,
    /// Whole GPUs or MIG instances.
    pub count: u32,
    pub class: PriceClass,
}

/// Where a request goes, and the spot allocations to preempt first (empty unless preempting).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub slots: Vec<GpuSlot>,
    pub preempt: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlacementError {
    #[error("count must be at least 1")]
    ZeroCount,
    #[error("{count} GPUs: more than 8 must be a multiple of 8 (whole nodes)")]
    NotWholeNodes { count: u32 },
    #[error("{count} instances of {sku} do not fit on one node")]
    TooManyInstances { sku: String, count: u32 },
    #[error("no node of SKU `{0}` in the inventory")]
    UnknownSku(String),
    #[error("tenant `{0}` has no reserved capacity")]
    NoReservation(String),
    #[error(
        "not enough free capacity of `{sku}` for {count} (preempting spot allocations where allowed)"
    )]
    NoCapacity { sku: String, count: u32 },
}

impl ClusterState {
    /// Places the request without preempting anything.
    ///
    /// Errors, checked in this order: [`PlacementError::ZeroCount`];
    /// [`PlacementError::NotWholeNodes`] (more than 8 whole GPUs, not a multiple of 8) or
    /// [`PlacementError::TooManyInstances`] (more MIG instances than one empty node holds);
    /// [`PlacementError::UnknownSku`] (no node of the SKU in the mode it needs: a MIG SKU needs
    /// MIG-mode nodes of its parent, a whole-GPU SKU non-MIG nodes of itself);
    /// [`PlacementError::NoReservation`] (a reserved-class request from a tenant with no reserved
    /// node of that kind); [`PlacementError::NoCapacity`] (none of the above, but it does not fit
    /// now on the nodes it may use).
    pub fn place(&self, request: &PlacementRequest) -> Result<Placement, PlacementError> {
        let shape = self.check_request(request)?;
        let count = request.count;
        let slots = match shape.profile() {
            Some(profile) => self.place_mig(request, &shape, profile),
            None if count as usize <= GPUS_PER_NODE => self.place_on_one_node(request, &shape),
            None => self.place_whole_nodes(request, &shape),
        };
        match slots {
            Some(mut slots) => {
                slots.sort_unstable();
                Ok(Placement {
                    slots,
                    preempt: Vec::new(),
                })
            }
            None => Err(PlacementError::NoCapacity {
                sku: request.sku.clone(),
                count,
            }),
        }
    }

    /// Whether `node` may take new units of `shape` for `request`: right SKU and MIG mode, ready,
    /// and reserved to the requesting tenant for a reserved-class request, unreserved otherwise.
    pub(super) fn node_eligible(
        &self,
        node: u32,
        shape: &SkuShape,
        request: &PlacementRequest,
    ) -> bool {
        (node as usize) < self.nodes().len()
            && self.node_hosts(node, shape)
            && self.node_state(node) == NodeState::Ready
            && match request.class {
                PriceClass::Reserved => self.reserved_to(node) == Some(request.tenant.as_str()),
                PriceClass::OnDemand | PriceClass::Spot => self.reserved_to(node).is_none(),
            }
    }

    /// Whether the node's SKU and mode are those `shape` needs.
    fn node_hosts(&self, node: u32, shape: &SkuShape) -> bool {
        let spec = &self.nodes()[node as usize];
        spec.mig == shape.is_mig() && spec.sku == shape.node_sku()
    }

    /// Validates the request against the shape of its SKU and the inventory (not the load).
    fn check_request(&self, request: &PlacementRequest) -> Result<SkuShape, PlacementError> {
        let count = request.count;
        if count == 0 {
            return Err(PlacementError::ZeroCount);
        }
        let shape = SkuShape::of(&request.sku);
        match shape.profile() {
            None => {
                if count as usize > GPUS_PER_NODE && !(count as usize).is_multiple_of(GPUS_PER_NODE)
                {
                    return Err(PlacementError::NotWholeNodes { count });
                }
            }
            Some(profile) => {
                if u64::from(count) > u64::from(profile.per_gpu()) * GPUS_PER_NODE as u64 {
                    return Err(PlacementError::TooManyInstances {
                        sku: request.sku.clone(),
                        count,
                    });
                }
            }
        }
        if self.nodes_for(&shape).is_empty() {
            return Err(PlacementError::UnknownSku(request.sku.clone()));
        }
        if request.class == PriceClass::Reserved
            && !self
                .reserved_nodes_of(&request.tenant)
                .iter()
                .any(|&node| self.node_hosts(node, &shape))
        {
            return Err(PlacementError::NoReservation(request.tenant.clone()));
        }
        Ok(shape)
    }

    /// Nodes that may take the request now, ascending.
    ///
    /// The cheap per-node test matters: on a large inventory this is the scan every decision
    /// makes. Nodes of the SKU's pool already have the right SKU and mode, so only state and
    /// reservation are read for them; a tenant's reserved nodes are also checked for kind.
    fn eligible_nodes<'a>(
        &'a self,
        request: &'a PlacementRequest,
        shape: &'a SkuShape,
    ) -> impl Iterator<Item = u32> + 'a {
        let reserved = request.class == PriceClass::Reserved;
        let pool = if reserved {
            self.reserved_nodes_of(&request.tenant)
        } else {
            self.nodes_for(shape)
        };
        pool.iter().copied().filter(move |&node| {
            self.node_state(node) == NodeState::Ready
                && if reserved {
                    self.node_hosts(node, shape)
                } else {
                    self.reserved_to(node).is_none()
                }
        })
    }

    /// Up to 8 whole GPUs on the fullest eligible node that still has them free (lowest index on
    /// ties), on its lowest free GPUs.
    fn place_on_one_node(
        &self,
        request: &PlacementRequest,
        shape: &SkuShape,
    ) -> Option<Vec<GpuSlot>> {
        let count = request.count as u8;
        let mut best: Option<(u8, u32)> = None;
        for node in self.eligible_nodes(request, shape) {
            let free = self.free_gpu_count(node);
            if free < count || best.is_some_and(|(fewest, _)| free >= fewest) {
                continue;
            }
            best = Some((free, node));
            if free == count {
                break;
            }
        }
        let (_, node) = best?;
        Some(
            self.gpu_masks(node)
                .iter()
                .enumerate()
                .filter(|(_, mask)| **mask == 0)
                .take(usize::from(count))
                .map(|(gpu, _)| GpuSlot {
                    node,
                    gpu: gpu as u8,
                    mig: None,
                })
                .collect(),
        )
    }

    /// `count / 8` entirely free eligible nodes: inside the single pod that fits with the fewest
    /// free nodes (first pod on ties) if one does, else from the pods with the most free nodes
    /// first (first pod on ties), so as few pods as possible. Nodes in index order within a pod.
    fn place_whole_nodes(
        &self,
        request: &PlacementRequest,
        shape: &SkuShape,
    ) -> Option<Vec<GpuSlot>> {
        let wanted = request.count as usize / GPUS_PER_NODE;
        let free_nodes: Vec<u32> = self
            .eligible_nodes(request, shape)
            .filter(|&node| usize::from(self.free_gpu_count(node)) == GPUS_PER_NODE)
            .collect();
        if free_nodes.len() < wanted {
            return None;
        }
        let mut per_pod = vec![0usize; self.pod_count()];
        for &node in &free_nodes {
            per_pod[self.pod_of(node) as usize] += 1;
        }
        let single = (0..per_pod.len())
            .filter(|&pod| per_pod[pod] >= wanted)
            .min_by_key(|&pod| (per_pod[pod], pod));
        let chosen: Vec<u32> = match single {
            Some(pod) => free_nodes
                .iter()
                .copied()
                .filter(|&node| self.pod_of(node) as usize == pod)
                .take(wanted)
                .collect(),
            None => {
                let mut pods: Vec<usize> = (0..per_pod.len()).filter(|&p| per_pod[p] > 0).collect();
                pods.sort_by_key(|&pod| (std::cmp::Reverse(per_pod[pod]), pod));
                let mut chosen = Vec::with_capacity(wanted);
                for pod in pods {
                    let missing = wanted - chosen.len();
                    if missing == 0 {
                        break;
                    }
                    chosen.extend(
                        free_nodes
                            .iter()
                            .copied()
                            .filter(|&node| self.pod_of(node) as usize == pod)
                            .take(missing),
                    );
                }
                chosen
            }
        };
        Some(
            chosen
                .into_iter()
                .flat_map(|node| {
                    (0..GPUS_PER_NODE as u8).map(move |gpu| GpuSlot {
                        node,
                        gpu,
                        mig: None,
                    })
                })
                .collect(),
        )
    }

    /// Every instance on one MIG node: see the module's documentation for the heuristic.
    fn place_mig(
        &self,
        request: &PlacementRequest,
        shape: &SkuShape,
        profile: MigProfile,
    ) -> Option<Vec<GpuSlot>> {
        let count = request.count;
        let needed_slices = count * u32::from(profile.slices());
        let mut best: Option<(u8, u32)> = None;
        for node in self.eligible_nodes(request, shape) {
            let free = self.free_slice_count(node);
            if u32::from(free) < needed_slices || best.is_some_and(|(fewest, _)| free >= fewest) {
                continue;
            }
            let positions: u32 = self
                .gpu_masks(node)
                .iter()
                .map(|&taken| profile.free_positions(taken))
                .sum();
            if positions >= count {
                best = Some((free, node));
            }
        }
        let (_, node) = best?;
        let mut masks = *self.gpu_masks(node);
        let mut slots = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let (gpu, start) = masks
                .iter()
                .enumerate()
                .filter_map(|(gpu, &taken)| {
                    let start = profile.lowest_free_start(taken)?;
                    Some((taken.count_ones(), gpu, start))
                })
                // Most slices taken = fewest free; then the lowest GPU index.
                .min_by_key(|&(taken, gpu, _)| (std::cmp::Reverse(taken), gpu))
                .map(|(_, gpu, start)| (gpu, start))?;
            masks[gpu] |= profile.mask_at(start);
            slots.push(GpuSlot {
                node,
                gpu: gpu as u8,
                mig: Some((start, profile)),
            });
        }
        Some(slots)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::state::{LiveAllocation, NodeSpec};
    use crate::scheduler::testkit::*;
    use MigProfile::*;
    use PriceClass::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn nodes_of(placement: &Placement) -> BTreeSet<u32> {
        placement.slots.iter().map(|slot| slot.node).collect()
    }

    fn no_capacity(sku: &str, count: u32) -> PlacementError {
        PlacementError::NoCapacity {
            sku: sku.into(),
            count,
        }
    }

    /// Nodes `{pod}-{i}` of whole H100s for the given pods and sizes.
    fn pods(sizes: &[(&str, usize)]) -> Vec<NodeSpec> {
        sizes
            .iter()
            .flat_map(|&(pod, size)| {
                (0..size).map(move |i| node(&format!("{pod}-{i}"), H100, pod, false))
            })
            .collect()
    }

    fn mig_cluster(nodes: usize) -> ClusterState {
        cluster(
            (0..nodes)
                .map(|i| node(&format!("m{i}"), H100, "p0", true))
                .collect(),
        )
    }

    fn commit_placement(
        state: &mut ClusterState,
        id: &str,
        request: &PlacementRequest,
        placement: Placement,
    ) {
        state
            .commit(LiveAllocation {
                id: id.into(),
                tenant: request.tenant.clone(),
                sku: request.sku.clone(),
                class: request.class,
                priority: 0,
                started_at: at(0),
                slots: placement.slots,
            })
            .unwrap();
    }

    /// Places and commits the request, returning its slots.
    fn take(state: &mut ClusterState, id: &str, request: &PlacementRequest) -> Vec<GpuSlot> {
        let placement = state.place(request).unwrap();
        let slots = placement.slots.clone();
        commit_placement(state, id, request, placement);
        slots
    }

    #[test]
    fn best_fit_picks_the_fullest_node_that_still_fits() {
        let mut state = cluster(h100_nodes(4));
        fill(&mut state, "a", 0, 2); // 6 free
        fill(&mut state, "b", 1, 5); // 3 free: the fullest that fits 3
        fill(&mut state, "c", 2, 6); // 2 free: too few
        let placement = state.place(&on_demand(H100, 3)).unwrap();
        assert_eq!(placement.slots, vec![whole(1, 5), whole(1, 6), whole(1, 7)]);
        assert!(placement.preempt.is_empty());
    }

    #[test]
    fn best_fit_ties_go_to_the_lowest_node_index() {
        let mut state = cluster(h100_nodes(3));
        fill(&mut state, "a", 1, 4);
        fill(&mut state, "b", 2, 4);
        assert_eq!(
            nodes_of(&state.place(&on_demand(H100, 4)).unwrap()),
            [1].into()
        );
        assert_eq!(
            nodes_of(&state.place(&on_demand(H100, 8)).unwrap()),
            [0].into()
        );
    }

    #[test]
    fn the_lowest_free_gpus_of_the_node_are_chosen() {
        let mut state = cluster(h100_nodes(1));
        state
            .commit(allocation(
                "a",
                H100,
                OnDemand,
                vec![whole(0, 0), whole(0, 2), whole(0, 5)],
            ))
            .unwrap();
        let placement = state.place(&on_demand(H100, 3)).unwrap();
        assert_eq!(placement.slots, vec![whole(0, 1), whole(0, 3), whole(0, 4)]);
    }

    #[test]
    fn zero_gpus_are_refused() {
        let state = cluster(h100_nodes(1));
        assert_eq!(
            state.place(&on_demand(H100, 0)),
            Err(PlacementError::ZeroCount)
        );
        assert_eq!(
            state.place(&on_demand(MIG_1G, 0)),
            Err(PlacementError::ZeroCount)
        );
    }

    #[test]
    fn more_than_eight_gpus_not_a_multiple_of_eight_are_refused() {
        let state = cluster(h100_nodes(4));
        for count in [9, 12, 23] {
            assert_eq!(
                state.place(&on_demand(H100, count)),
                Err(PlacementError::NotWholeNodes { count })
            );
        }
    }

    #[test]
    fn whole_nodes_stay_inside_the_pod_that_fits_most_tightly() {
        // Pod a has 4 free nodes, b has 2, c has 3: two nodes fit b best, three fit c best.
        let state = cluster(pods(&[("a", 4), ("b", 2), ("c", 3)]));
        assert_eq!(
            nodes_of(&state.place(&on_demand(H100, 16)).unwrap()),
            [4, 5].into()
        );
        assert_eq!(
            nodes_of(&state.place(&on_demand(H100, 24)).unwrap()),
            [6, 7, 8].into()
        );
        assert_eq!(
            nodes_of(&state.place(&on_demand(H100, 32)).unwrap()),
            [0, 1, 2, 3].into()
        );
        let placement = state.place(&on_demand(H100, 16)).unwrap();
        assert_eq!(placement.slots.len(), 16);
        assert!(placement.slots.iter().all(|slot| slot.mig.is_none()));
    }

    #[test]
    fn pods_with_equally_few_free_nodes_go_to_the_first_listed() {
        let state = cluster(pods(&[("a", 3), ("b", 2), ("c", 2)]));
        assert_eq!(
            nodes_of(&state.place(&on_demand(H100, 16)).unwrap()),
            [3, 4].into()
        );
    }

    #[test]
    fn whole_nodes_only_count_entirely_free_nodes_and_keep_index_order() {
        let mut state = cluster(pods(&[("a", 4), ("b", 3)]));
        fill(&mut state, "a", 1, 1);
        // Pod a has 3 entirely free nodes (0, 2, 3), b has 3 too: a is first.
        assert_eq!(
            nodes_of(&state.place(&on_demand(H100, 24)).unwrap()),
            [0, 2, 3].into()
        );
    }

    #[test]
    fn whole_nodes_spill_over_the_fewest_pods_largest_first() {
        // Free nodes per pod: a 2, b 3, c 1, d 3. Six nodes: no pod fits; b (3) then d (3).
        let mut state = cluster(pods(&[("a", 2), ("b", 3), ("c", 1), ("d", 3)]));
        assert_eq!(
            nodes_of(&state.place(&on_demand(H100, 48)).unwrap()),
            [2, 3, 4, 6, 7, 8].into()
        );
        // Seven: b and d, then one node of a, the next largest.
        assert_eq!(
            nodes_of(&state.place(&on_demand(H100, 56)).unwrap()),
            [0, 2, 3, 4, 6, 7, 8].into()
        );
        fill(&mut state, "x", 3, 1);
        // Five with b down to 2 free: d (3), then a and b tie at 2 and a is first.
        assert_eq!(
            nodes_of(&state.place(&on_demand(H100, 40)).unwrap()),
            [0, 1, 6, 7, 8].into()
        );
    }

    #[test]
    fn whole_nodes_beyond_the_free_ones_are_no_capacity() {
        let mut state = cluster(pods(&[("a", 2), ("b", 2)]));
        fill(&mut state, "x", 0, 1);
        assert_eq!(
            state.place(&on_demand(H100, 32)),
            Err(no_capacity(H100, 32))
        );
        assert!(state.place(&on_demand(H100, 24)).is_ok());
    }

    #[test]
    fn drained_and_down_nodes_take_nothing_new_but_keep_their_allocations() {
        let mut state = cluster(h100_nodes(3));
        fill(&mut state, "a", 0, 4);
        state.set_node_state("n0", NodeState::Drained).unwrap();
        state.set_node_state("n1", NodeState::Down).unwrap();
        assert_eq!(
            nodes_of(&state.place(&on_demand(H100, 2)).unwrap()),
            [2].into()
        );
        assert_eq!(
            state.place(&on_demand(H100, 16)),
            Err(no_capacity(H100, 16))
        );
        assert!(state.allocation("a").is_some());
        fill(&mut state, "b", 2, 8);
        assert_eq!(state.place(&on_demand(H100, 1)), Err(no_capacity(H100, 1)));
    }

    #[test]
    fn reserved_nodes_take_only_their_tenants_reserved_requests() {
        let mut state =
            ClusterState::new(h100_nodes(3), vec![reservation("acme", &["n1", "n2"])]).unwrap();
        fill(&mut state, "x", 2, 2);
        for class in [OnDemand, Spot] {
            for tenant in ["acme", "beta"] {
                let placement = state.place(&request(tenant, H100, 8, class)).unwrap();
                assert_eq!(nodes_of(&placement), [0].into(), "{tenant} {class}");
            }
        }
        let reserved = state.place(&request("acme", H100, 4, Reserved)).unwrap();
        assert_eq!(nodes_of(&reserved), [2].into());
        let both = state.place(&request("acme", H100, 8, Reserved)).unwrap();
        assert_eq!(nodes_of(&both), [1].into());
        fill(&mut state, "y", 0, 1);
        assert_eq!(
            state.place(&request("beta", H100, 8, OnDemand)),
            Err(no_capacity(H100, 8))
        );
    }

    #[test]
    fn reserved_requests_never_spill_onto_unreserved_nodes() {
        let mut state =
            ClusterState::new(h100_nodes(2), vec![reservation("acme", &["n1"])]).unwrap();
        fill(&mut state, "x", 1, 6);
        assert_eq!(
            state.place(&request("acme", H100, 4, Reserved)),
            Err(no_capacity(H100, 4))
        );
        assert_eq!(
            state.place_or_preempt(&request("acme", H100, 4, Reserved)),
            Err(no_capacity(H100, 4))
        );
    }

    #[test]
    fn a_reserved_request_from_a_tenant_without_reservation_is_refused() {
        let state = ClusterState::new(
            vec![node("n0", H100, "p0", false), node("n1", L40S, "p0", false)],
            vec![reservation("acme", &["n0"])],
        )
        .unwrap();
        assert_eq!(
            state.place(&request("beta", H100, 1, Reserved)),
            Err(PlacementError::NoReservation("beta".into()))
        );
        // acme's reservation is of H100s: it has no reserved L40S.
        assert_eq!(
            state.place(&request("acme", L40S, 1, Reserved)),
            Err(PlacementError::NoReservation("acme".into()))
        );
    }

    #[test]
    fn a_sku_no_node_hosts_is_unknown() {
        let state = cluster(vec![
            node("n0", H100, "p0", false),
            node("n1", L40S, "p0", true),
        ]);
        assert_eq!(
            state.place(&on_demand("B200-192GB", 1)),
            Err(PlacementError::UnknownSku("B200-192GB".into()))
        );
        // No H100 is in MIG mode, so no MIG instance can ever be placed.
        assert_eq!(
            state.place(&on_demand(MIG_1G, 1)),
            Err(PlacementError::UnknownSku(MIG_1G.into()))
        );
        // The only L40S is in MIG mode: it hosts no whole L40S.
        assert_eq!(
            state.place(&on_demand(L40S, 1)),
            Err(PlacementError::UnknownSku(L40S.into()))
        );
    }

    #[test]
    fn whole_gpus_and_mig_instances_never_share_a_node() {
        let state = cluster(vec![
            node("m0", H100, "p0", true),
            node("n1", H100, "p0", false),
        ]);
        assert_eq!(
            nodes_of(&state.place(&on_demand(H100, 1)).unwrap()),
            [1].into()
        );
        assert_eq!(
            nodes_of(&state.place(&on_demand(MIG_1G, 1)).unwrap()),
            [0].into()
        );
        assert_eq!(
            state.place(&on_demand(H100, 16)),
            Err(no_capacity(H100, 16))
        );
    }

    #[test]
    fn a_3g_goes_beside_a_4g_on_the_same_gpu() {
        let mut state = mig_cluster(1);
        assert_eq!(
            take(&mut state, "a", &on_demand(MIG_4G, 1)),
            [mig(0, 0, 0, G4)]
        );
        assert_eq!(
            take(&mut state, "b", &on_demand(MIG_3G, 1)),
            [mig(0, 0, 4, G3)]
        );
        state.check_invariants().unwrap();
    }

    #[test]
    fn two_3g_and_a_1g_fill_one_gpu() {
        let mut state = mig_cluster(1);
        assert_eq!(
            take(&mut state, "a", &on_demand(MIG_3G, 2)),
            [mig(0, 0, 0, G3), mig(0, 0, 4, G3)]
        );
        assert_eq!(
            take(&mut state, "b", &on_demand(MIG_1G, 1)),
            [mig(0, 0, 3, G1)]
        );
        state.check_invariants().unwrap();
    }

    #[test]
    fn a_second_4g_goes_to_another_gpu() {
        let mut state = mig_cluster(1);
        assert_eq!(
            take(&mut state, "a", &on_demand(MIG_4G, 2)),
            [mig(0, 0, 0, G4), mig(0, 1, 0, G4)]
        );
        assert_eq!(
            take(&mut state, "b", &on_demand(MIG_4G, 1)),
            [mig(0, 2, 0, G4)]
        );
    }

    #[test]
    fn mig_instances_go_to_the_fullest_gpu_where_they_fit() {
        let mut state = mig_cluster(1);
        state
            .commit(allocation(
                "a",
                MIG_1G,
                OnDemand,
                vec![mig(0, 2, 0, G1), mig(0, 5, 0, G1), mig(0, 5, 1, G1)],
            ))
            .unwrap();
        // GPU 5 has 5 free slices, GPU 2 six: the 2g goes to GPU 5 at the lowest free start.
        assert_eq!(
            take(&mut state, "b", &on_demand(MIG_2G, 1)),
            [mig(0, 5, 2, G2)]
        );
        assert_eq!(
            take(&mut state, "c", &on_demand(MIG_1G, 1)),
            [mig(0, 5, 4, G1)]
        );
        state.check_invariants().unwrap();
    }

    #[test]
    fn mig_requests_pack_the_node_with_fewest_free_slices_that_fits() {
        let mut state = mig_cluster(3);
        // m0: one 1g taken (55 free); m1: a 7g on each of 7 GPUs (7 free); m2 empty (56).
        state
            .commit(allocation("a", MIG_1G, OnDemand, vec![mig(0, 0, 0, G1)]))
            .unwrap();
        let sevens = (0..7).map(|gpu| mig(1, gpu, 0, G7)).collect();
        state
            .commit(allocation("b", MIG_7G, OnDemand, sevens))
            .unwrap();
        assert_eq!(
            nodes_of(&state.place(&on_demand(MIG_1G, 7)).unwrap()),
            [1].into()
        );
        assert_eq!(
            nodes_of(&state.place(&on_demand(MIG_3G, 2)).unwrap()),
            [1].into()
        );
        // Eight 1g do not fit m1's 7 free slices: m0 is the next fullest.
        assert_eq!(
            nodes_of(&state.place(&on_demand(MIG_1G, 8)).unwrap()),
            [0].into()
        );
        // m0 has 55 free slices but only 15 free 3g positions; sixteen need the empty m2.
        assert_eq!(
            nodes_of(&state.place(&on_demand(MIG_3G, 16)).unwrap()),
            [2].into()
        );
    }

    #[test]
    fn all_mig_instances_of_a_request_go_on_one_node() {
        let state = mig_cluster(2);
        let placement = state.place(&on_demand(MIG_7G, 8)).unwrap();
        assert_eq!(nodes_of(&placement), [0].into());
        assert_eq!(placement.slots.len(), 8);
        let placement = state.place(&on_demand(MIG_1G, 56)).unwrap();
        assert_eq!(nodes_of(&placement), [0].into());
        assert_eq!(state.place(&on_demand(MIG_2G, 24)).unwrap().slots.len(), 24);
    }

    #[test]
    fn more_mig_instances_than_one_node_can_hold_are_refused() {
        let state = mig_cluster(4);
        for (sku, count) in [
            (MIG_7G, 9),
            (MIG_4G, 9),
            (MIG_3G, 17),
            (MIG_2G, 25),
            (MIG_1G, 57),
        ] {
            assert_eq!(
                state.place(&on_demand(sku, count)),
                Err(PlacementError::TooManyInstances {
                    sku: sku.into(),
                    count
                }),
                "{sku}"
            );
        }
    }

    #[test]
    fn mig_instances_that_would_fit_an_empty_node_are_no_capacity() {
        let mut state = mig_cluster(2);
        take(&mut state, "a", &on_demand(MIG_7G, 5));
        take(&mut state, "b", &on_demand(MIG_7G, 5));
        assert_eq!(
            state.place(&on_demand(MIG_7G, 4)),
            Err(no_capacity(MIG_7G, 4))
        );
        assert!(state.place(&on_demand(MIG_7G, 3)).is_ok());
    }

    #[test]
    fn place_or_preempt_preempts_only_for_on_demand_requests() {
        let mut state = cluster(h100_nodes(1));
        state
            .commit(spot("s", 0, 0, (0..8).map(|g| whole(0, g)).collect()))
            .unwrap();
        assert_eq!(state.place(&on_demand(H100, 2)), Err(no_capacity(H100, 2)));
        for class in [Spot, Reserved] {
            let error = if class == Reserved {
                PlacementError::NoReservation("acme".into())
            } else {
                no_capacity(H100, 2)
            };
            assert_eq!(
                state.place_or_preempt(&request("acme", H100, 2, class)),
                Err(error)
            );
        }
        let placement = state.place_or_preempt(&on_demand(H100, 2)).unwrap();
        assert_eq!(placement.preempt, ["s"]);
        assert_eq!(placement.slots, [whole(0, 0), whole(0, 1)]);
    }

    /// What the random workload does next.
    #[derive(Debug, Clone)]
    enum Step {
        Ask(PlacementRequest, i32),
        Release(usize),
        SetState(usize, NodeState),
    }

    fn any_step() -> impl Strategy<Value = Step> {
        let state =
            prop::sample::select(vec![NodeState::Ready, NodeState::Drained, NodeState::Down]);
        prop_oneof![
            6 => (any_request(), 0i32..3).prop_map(|(request, priority)| Step::Ask(request, priority)),
            2 => any::<usize>().prop_map(Step::Release),
            1 => (any::<usize>(), state).prop_map(|(node, state)| Step::SetState(node, state)),
        ]
    }

    /// Checks a placement against the rules it must follow, on the state it was made on after
    /// releasing its victims.
    fn follows_the_rules(
        state: &ClusterState,
        request: &PlacementRequest,
        placement: &Placement,
    ) -> Result<(), TestCaseError> {
        let shape = SkuShape::of(&request.sku);
        prop_assert_eq!(placement.slots.len(), request.count as usize);
        for slot in &placement.slots {
            prop_assert!(
                state.node_eligible(slot.node, &shape, request),
                "{:?} for {:?}",
                slot,
                request
            );
        }
        let nodes = nodes_of(placement);
        if shape.is_mig() || request.count <= 8 {
            prop_assert_eq!(nodes.len(), 1);
        } else {
            prop_assert_eq!(nodes.len() as u32, request.count / 8);
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// Whatever is asked, released and drained, committing what placement (with preemption)
        /// decides never holds a slot twice nor breaks MIG geometry, and every placement follows
        /// the node, reservation and gang rules.
        #[test]
        fn random_workloads_never_break_an_invariant(
            mut state in any_cluster(),
            steps in prop::collection::vec(any_step(), 1..60),
        ) {
            let mut live: Vec<String> = Vec::new();
            for (i, step) in steps.into_iter().enumerate() {
                match step {
                    Step::Ask(request, priority) => {
                        let Ok(placement) = state.place_or_preempt(&request) else { continue };
                        for victim in &placement.preempt {
                            let released = state.release(victim).unwrap();
                            prop_assert_eq!(released.class, Spot);
                            live.retain(|id| id != victim);
                        }
                        follows_the_rules(&state, &request, &placement)?;
                        let id = format!("a{i}");
                        state.commit(LiveAllocation {
                            id: id.clone(),
                            tenant: request.tenant.clone(),
                            sku: request.sku.clone(),
                            class: request.class,
                            priority,
                            started_at: at(i as i64),
                            slots: placement.slots,
                        }).unwrap();
                        live.push(id);
                    }
                    Step::Release(pick) if !live.is_empty() => {
                        let id = live.swap_remove(pick % live.len());
                        prop_assert!(state.release(&id).is_some());
                    }
                    Step::Release(_) => {}
                    Step::SetState(pick, node_state) => {
                        let id = state.nodes()[pick % state.nodes().len()].id.clone();
                        state.set_node_state(&id, node_state).unwrap();
                    }
                }
                if let Err(broken) = state.check_invariants() {
                    return Err(TestCaseError::fail(broken));
                }
            }
        }

        /// Placement without preemption fits exactly when a node (or enough nodes) has room: a
        /// refusal for lack of capacity never hides a fit that one node could take.
        #[test]
        fn place_never_refuses_a_one_node_request_some_eligible_node_can_take(
            mut state in any_cluster(),
            fills in prop::collection::vec((any::<usize>(), 0u8..=8), 0..8),
            request in any_request(),
        ) {
            for (i, (pick, gpus)) in fills.into_iter().enumerate() {
                let node = (pick % state.nodes().len()) as u32;
                if !state.nodes()[node as usize].mig && state.free_gpu_count(node) == 8 {
                    fill(&mut state, &format!("f{i}"), node, gpus);
                }
            }
            let shape = SkuShape::of(&request.sku);
            if shape.is_mig() || request.count == 0 || request.count > 8 {
                return Ok(());
            }
            let room = (0..state.nodes().len() as u32).any(|node| {
                state.node_eligible(node, &shape, &request)
                    && u32::from(state.free_gpu_count(node)) >= request.count
            });
            match state.place(&request) {
                Ok(placement) => {
                    prop_assert!(room);
                    let node = placement.slots[0].node;
                    // Best fit: no eligible node with room has fewer free GPUs.
                    for other in 0..state.nodes().len() as u32 {
                        if state.node_eligible(other, &shape, &request)
                            && u32::from(state.free_gpu_count(other)) >= request.count
                        {
                            prop_assert!(state.free_gpu_count(other) >= state.free_gpu_count(node));
                        }
                    }
                }
                Err(PlacementError::NoCapacity { .. }) => prop_assert!(!room),
                Err(_) => {}
            }
        }
    }
}
