//! Scheduler decisions, free of I/O: the GPU inventory and who holds what (`state`), MIG geometry
//! (`mig`), gang placement with best fit and InfiniBand pods (`placement`), spot preemption
//! (`preemption`) and quota, GPU-hour and budget admission (`admission`). The scheduler service
//! owns one [`ClusterState`], asks it for decisions, persists them, then applies them.

pub mod admission;
pub mod mig;
pub mod placement;
pub mod preemption;
pub mod state;

#[cfg(test)]
mod testkit;

pub use admission::{
    Admission, AdmissionAsk, QuotaLimits, Refusal, RefusalReason, TenantLoad, admit,
};
pub use mig::{MIG_PARENT_SKU, MigProfile, SkuShape, valid_geometry};
pub use placement::{Placement, PlacementError, PlacementRequest};
pub use state::{
    ClusterState, GpuSlot, InventoryError, LiveAllocation, NodeSpec, NodeState, Reservation,
    StateError, synthetic_inventory,
};
