//! Spot preemption for an on-demand request that does not fit: spot allocations on eligible
//! nodes are taken lowest priority first, then youngest, until the request fits; then any victim
//! whose release is not needed for the fit is spared, so no more is preempted than needed.
//!
//! Whether a request fits only grows as slots are freed (placement takes any node with room, so
//! freeing more never makes it fail), which is what makes one backward pass of sparing enough:
//! a victim kept by the pass was needed with a superset of the final victims released, so it is
//! needed with exactly the final set released too.

use std::cmp::Reverse;

use crate::pricebook::PriceClass;

use super::mig::SkuShape;
use super::placement::{Placement, PlacementError, PlacementRequest};
use super::state::{ClusterState, LiveAllocation};

impl ClusterState {
    /// Places the request, preempting spot allocations if it is on demand and does not fit
    /// otherwise (see [`plan`]).
    pub fn place_or_preempt(
        &self,
        request: &PlacementRequest,
    ) -> Result<Placement, PlacementError> {
        match self.place(request) {
            Err(PlacementError::NoCapacity { .. }) if request.class == PriceClass::OnDemand => {
                plan(self, request)
            }
            decided => decided,
        }
    }
}

/// The victims to preempt and where the request then goes, or why it cannot fit even so.
///
/// Candidates are the live spot allocations holding a slot on a node the request may use (its
/// SKU and MIG mode, ready, and unreserved, or the tenant's own reserved nodes for a reserved
/// request), ordered by priority ascending, then start descending (youngest first), then id.
/// They are released one at a time, on a copy of the state, until the request fits; then, from
/// the last added back to the first, a victim is spared if the request still fits without
/// releasing it. The placement returned is the one made after releasing the final victims,
/// which are listed in preemption order.
///
/// The caller decides which classes may preempt ([`ClusterState::place_or_preempt`] lets only
/// on-demand requests do so). A request that fits without preempting gets an empty victim list;
/// one that is invalid gets the same error as [`ClusterState::place`].
pub fn plan(state: &ClusterState, request: &PlacementRequest) -> Result<Placement, PlacementError> {
    match state.place(request) {
        Err(PlacementError::NoCapacity { .. }) => {}
        decided => return decided,
    }
    let no_capacity = || PlacementError::NoCapacity {
        sku: request.sku.clone(),
        count: request.count,
    };
    let shape = SkuShape::of(&request.sku);
    let mut candidates: Vec<&LiveAllocation> = state
        .allocations()
        .filter(|allocation| {
            allocation.class == PriceClass::Spot
                && allocation
                    .slots
                    .iter()
                    .any(|slot| state.node_eligible(slot.node, &shape, request))
        })
        .collect();
    candidates.sort_by(|a, b| {
        (a.priority, Reverse(a.started_at), &a.id).cmp(&(b.priority, Reverse(b.started_at), &b.id))
    });

    // Cheap refusal first: if releasing every candidate is not enough, nothing is.
    let mut everything_released = state.clone();
    for candidate in &candidates {
        everything_released.release(&candidate.id);
    }
    if everything_released.place(request).is_err() {
        return Err(no_capacity());
    }
    drop(everything_released);

    // Add victims one at a time until the request fits.
    let mut working = state.clone();
    let mut victims: Vec<LiveAllocation> = Vec::new();
    for candidate in candidates {
        if let Some(released) = working.release(&candidate.id) {
            victims.push(released);
        }
        if working.place(request).is_ok() {
            break;
        }
    }

    // Spare, from the last added back, every victim the fit does not need.
    let mut needed = vec![true; victims.len()];
    for (index, victim) in victims.iter().enumerate().rev() {
        // Its slots are free: only releases happened since it was released.
        if working.commit(victim.clone()).is_err() {
            continue;
        }
        if working.place(request).is_ok() {
            needed[index] = false;
        } else {
            working.release(&victim.id);
        }
    }

    let placement = working.place(request).map_err(|_| no_capacity())?;
    Ok(Placement {
        slots: placement.slots,
        preempt: victims
            .into_iter()
            .zip(needed)
            .filter_map(|(victim, needed)| needed.then_some(victim.id))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduler::state::{GpuSlot, NodeState};
    use crate::scheduler::testkit::*;
    use PriceClass::*;
    use proptest::prelude::*;

    fn gpus(node: u32, range: std::ops::Range<u8>) -> Vec<GpuSlot> {
        range.map(|gpu| whole(node, gpu)).collect()
    }

    #[test]
    fn a_request_that_fits_preempts_nothing() {
        let mut state = cluster(h100_nodes(1));
        state.commit(spot("s", 0, 0, gpus(0, 0..4))).unwrap();
        let placement = plan(&state, &on_demand(H100, 4)).unwrap();
        assert!(placement.preempt.is_empty());
        assert_eq!(placement.slots, gpus(0, 4..8));
    }

    #[test]
    fn the_lowest_priority_is_preempted_first() {
        let mut state = cluster(h100_nodes(1));
        state.commit(spot("high", 5, 0, gpus(0, 0..4))).unwrap();
        state.commit(spot("low", 1, 0, gpus(0, 4..8))).unwrap();
        let placement = plan(&state, &on_demand(H100, 4)).unwrap();
        assert_eq!(placement.preempt, ["low"]);
        assert_eq!(placement.slots, gpus(0, 4..8));
    }

    #[test]
    fn among_equal_priorities_the_youngest_is_preempted_first() {
        let mut state = cluster(h100_nodes(1));
        state.commit(spot("old", 1, 0, gpus(0, 0..2))).unwrap();
        state.commit(spot("young", 1, 30, gpus(0, 2..4))).unwrap();
        state.commit(spot("middle", 1, 10, gpus(0, 4..6))).unwrap();
        state
            .commit(allocation("busy", H100, OnDemand, gpus(0, 6..8)))
            .unwrap();
        assert_eq!(
            plan(&state, &on_demand(H100, 2)).unwrap().preempt,
            ["young"]
        );
        assert_eq!(
            plan(&state, &on_demand(H100, 4)).unwrap().preempt,
            ["young", "middle"]
        );
    }

    #[test]
    fn equal_priority_and_start_are_preempted_in_id_order() {
        let mut state = cluster(h100_nodes(1));
        state.commit(spot("b", 0, 0, gpus(0, 0..4))).unwrap();
        state.commit(spot("a", 0, 0, gpus(0, 4..8))).unwrap();
        assert_eq!(plan(&state, &on_demand(H100, 4)).unwrap().preempt, ["a"]);
    }

    #[test]
    fn a_victim_the_fit_does_not_need_is_spared() {
        // Preempting `first` (priority 0) frees only 2 GPUs on n0; `second` (priority 1) then
        // frees all of n1, which alone takes the request: `first` is spared.
        let mut state = cluster(h100_nodes(2));
        state.commit(spot("first", 0, 0, gpus(0, 0..2))).unwrap();
        state
            .commit(allocation("busy", H100, OnDemand, gpus(0, 2..8)))
            .unwrap();
        state.commit(spot("second", 1, 0, gpus(1, 0..8))).unwrap();
        let placement = plan(&state, &on_demand(H100, 8)).unwrap();
        assert_eq!(placement.preempt, ["second"]);
        assert_eq!(placement.slots, gpus(1, 0..8));
    }

    #[test]
    fn victims_are_listed_in_preemption_order_and_only_as_many_as_needed() {
        let mut state = cluster(h100_nodes(1));
        state.commit(spot("c", 2, 0, gpus(0, 0..2))).unwrap();
        state.commit(spot("a", 0, 0, gpus(0, 2..4))).unwrap();
        state.commit(spot("b", 1, 0, gpus(0, 4..6))).unwrap();
        state.commit(spot("d", 3, 0, gpus(0, 6..8))).unwrap();
        let placement = plan(&state, &on_demand(H100, 6)).unwrap();
        assert_eq!(placement.preempt, ["a", "b", "c"]);
        assert_eq!(placement.slots, gpus(0, 0..6));
    }

    #[test]
    fn on_demand_allocations_are_never_preempted() {
        let mut state = cluster(h100_nodes(1));
        state.commit(spot("s", 0, 0, gpus(0, 0..4))).unwrap();
        state
            .commit(allocation("od", H100, OnDemand, gpus(0, 4..8)))
            .unwrap();
        assert_eq!(
            plan(&state, &on_demand(H100, 6)),
            Err(PlacementError::NoCapacity {
                sku: H100.into(),
                count: 6
            })
        );
    }

    #[test]
    fn spot_on_drained_reserved_or_other_kind_nodes_is_not_preempted() {
        let mut state = ClusterState::new(
            vec![
                node("n0", H100, "p0", false),
                node("n1", H100, "p0", false),
                node("n2", H100, "p0", false),
                node("m3", H100, "p0", true),
            ],
            vec![reservation("acme", &["n1"])],
        )
        .unwrap();
        state.commit(spot("drained", 0, 0, gpus(0, 0..8))).unwrap();
        state.commit(spot("reserved", 0, 0, gpus(1, 0..8))).unwrap();
        let mut mig_spot = allocation(
            "mig",
            MIG_7G,
            Spot,
            vec![mig(3, 0, 0, crate::scheduler::MigProfile::G7)],
        );
        mig_spot.priority = -5;
        state.commit(mig_spot).unwrap();
        state.commit(spot("eligible", 9, 0, gpus(2, 0..8))).unwrap();
        state.set_node_state("n0", NodeState::Drained).unwrap();
        let placement = plan(&state, &on_demand(H100, 8)).unwrap();
        assert_eq!(placement.preempt, ["eligible"]);
        assert_eq!(placement.slots, gpus(2, 0..8));
    }

    #[test]
    fn a_whole_node_request_preempts_across_nodes() {
        let mut state = cluster(h100_nodes(3));
        state.commit(spot("a", 0, 0, gpus(0, 0..1))).unwrap();
        state.commit(spot("b", 0, 0, gpus(1, 0..1))).unwrap();
        state.commit(spot("c", 0, 0, gpus(2, 0..1))).unwrap();
        let placement = plan(&state, &on_demand(H100, 16)).unwrap();
        assert_eq!(placement.preempt.len(), 2);
        assert_eq!(placement.slots.len(), 16);
    }

    #[test]
    fn invalid_requests_get_the_placement_error() {
        let state = cluster(h100_nodes(1));
        assert_eq!(
            plan(&state, &on_demand(H100, 0)),
            Err(PlacementError::ZeroCount)
        );
        assert_eq!(
            plan(&state, &on_demand(H100, 12)),
            Err(PlacementError::NotWholeNodes { count: 12 })
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(192))]

        /// A preemption plan frees enough (after releasing its victims, its placement commits)
        /// and no more than needed (keeping any single victim makes the request not fit); a
        /// refusal means even releasing every spot allocation would not make room.
        #[test]
        fn preemption_frees_enough_and_no_more_than_needed(
            mut state in any_cluster(),
            load in prop::collection::vec((any_request(), prop::bool::weighted(0.7), -2i32..3, 0i64..100), 0..40),
            mut request in any_request(),
        ) {
            for (i, (asked, is_spot, priority, started)) in load.into_iter().enumerate() {
                let class = if is_spot { Spot } else { asked.class };
                let asked = PlacementRequest { class, ..asked };
                if let Ok(placement) = state.place(&asked) {
                    state.commit(LiveAllocation {
                        id: format!("a{i:02}"),
                        tenant: asked.tenant,
                        sku: asked.sku,
                        class,
                        priority,
                        started_at: at(started),
                        slots: placement.slots,
                    }).unwrap();
                }
            }
            request.class = OnDemand;
            match plan(&state, &request) {
                Ok(placement) => {
                    let mut after = state.clone();
                    for victim in &placement.preempt {
                        let released = after.release(victim);
                        prop_assert!(released.is_some_and(|v| v.class == Spot));
                    }
                    prop_assert_eq!(after.place(&request).map(|p| p.slots), Ok(placement.slots.clone()));
                    after.commit(LiveAllocation {
                        id: "new".into(),
                        tenant: request.tenant.clone(),
                        sku: request.sku.clone(),
                        class: OnDemand,
                        priority: 0,
                        started_at: at(200),
                        slots: placement.slots,
                    }).unwrap();
                    after.check_invariants().map_err(TestCaseError::fail)?;
                    for spared in &placement.preempt {
                        let mut without = state.clone();
                        for victim in placement.preempt.iter().filter(|v| *v != spared) {
                            without.release(victim);
                        }
                        prop_assert!(without.place(&request).is_err(), "{} was not needed", spared);
                    }
                }
                Err(PlacementError::NoCapacity { .. }) => {
                    let mut all_spot_released = state.clone();
                    let spot: Vec<String> = state.allocations().filter(|a| a.class == Spot).map(|a| a.id.clone()).collect();
                    for id in spot {
                        all_spot_released.release(&id);
                    }
                    prop_assert!(all_spot_released.place(&request).is_err());
                }
                Err(error) => prop_assert_eq!(state.place(&request), Err(error)),
            }
        }
    }
}
