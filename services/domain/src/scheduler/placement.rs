//! Gang placement: every unit of a request is placed or none is. Up to 8 whole GPUs go on one
//! node, best fit (the fullest node that still fits, so whole nodes stay free); more than 8 must
//! be a multiple of 8 and take whole nodes, inside one InfiniBand pod when possible, else the
//! fewest pods. MIG instances are packed on one node's MIG GPUs at valid offsets, fullest GPU
//! first. Reserved-class requests land only on the tenant's reserved nodes; no other request
//! lands on a reserved node. Drained and down nodes take nothing new.

use crate::pricebook::PriceClass;

use super::state::{ClusterState, GpuSlot};

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
    pub fn place(&self, request: &PlacementRequest) -> Result<Placement, PlacementError> {
        let _ = request;
        todo!()
    }

    /// Places the request, preempting spot allocations if it is on demand and does not fit
    /// otherwise (see [`super::preemption`]).
    pub fn place_or_preempt(
        &self,
        request: &PlacementRequest,
    ) -> Result<Placement, PlacementError> {
        let _ = request;
        todo!()
    }
}
