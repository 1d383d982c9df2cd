//! Spot preemption for an on-demand request that does not fit: spot allocations on eligible
//! nodes are taken lowest priority first, then youngest, until the request fits; then any victim
//! whose release is not needed for the fit is spared, so no more is preempted than needed.

use super::placement::{Placement, PlacementError, PlacementRequest};
use super::state::ClusterState;

/// The victims to preempt and where the request then goes, or why it cannot fit even so.
pub fn plan(state: &ClusterState, request: &PlacementRequest) -> Result<Placement, PlacementError> {
    let _ = (state, request);
    todo!()
}
