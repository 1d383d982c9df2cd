//! The API's allocation types: requests, allocations with their GPUs and status, quota checks and
//! verdicts, and the lists of a node's and a tenant's allocations. The scheduler takes and returns
//! them, the API serves them, and the agent that follows the scheduler reads them. Money is
//! serialized as decimal strings.

use crate::event::device_id;
use chrono::{DateTime, Utc};
use gpubill_domain::scheduler::Refusal;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// A request for GPUs (or MIG instances) of one SKU, all or nothing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AllocationRequest {
    pub tenant: String,
    pub sku: String,
    /// Whole GPUs, or MIG instances for a MIG SKU.
    pub gpus: u32,
    /// `on_demand` (default), `spot` or `reserved`.
    #[serde(default)]
    pub class: Option<String>,
    pub max_duration_seconds: i64,
    /// Spot only: lower is preempted first.
    #[serde(default)]
    pub priority: i32,
    /// Chosen by the client: the same key returns the same allocation.
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AllocationStatus {
    Running,
    /// Released by its tenant.
    Released,
    /// Reached its maximum duration.
    Expired,
    /// Taken back for an on-demand allocation; credited per the preemption policy.
    Preempted,
}

impl AllocationStatus {
    pub fn code(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Released => "released",
            Self::Expired => "expired",
            Self::Preempted => "preempted",
        }
    }

    pub fn from_code(code: &str) -> Option<Self> {
        [
            Self::Running,
            Self::Released,
            Self::Expired,
            Self::Preempted,
        ]
        .into_iter()
        .find(|status| status.code() == code)
    }
}

/// One GPU, or one MIG instance on it, given to an allocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AllocatedGpu {
    pub node: String,
    pub gpu_index: u8,
    pub gpu_uuid: String,
    /// MIG instances only: first compute slice and slice count.
    pub mig_first_slice: Option<u8>,
    pub mig_slices: Option<u8>,
}

impl AllocatedGpu {
    /// The device its usage is metered under: the GPU, or the MIG instance
    /// (`crate::event::device_id`).
    pub fn device(&self) -> String {
        device_id(&self.gpu_uuid, self.mig_first_slice)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Allocation {
    pub id: String,
    pub tenant: String,
    pub idempotency_key: Option<String>,
    pub sku: String,
    pub class: String,
    pub priority: i32,
    pub gpus: u32,
    pub max_duration_seconds: i64,
    pub started_at: DateTime<Utc>,
    pub max_end_at: DateTime<Utc>,
    pub status: AllocationStatus,
    pub ended_at: Option<DateTime<Utc>>,
    /// Authorized at admission: GPUs × maximum hours × unit price, rounded up to the cent.
    pub hold_amount: Decimal,
    /// What the allocation's metered usage cost at its end, at most the hold.
    pub captured_amount: Option<Decimal>,
    pub preempted_by: Option<String>,
    /// Prepaid credit granted for a preemption.
    pub credit_amount: Option<Decimal>,
    /// Why a preempted allocation ended, for its tenant.
    pub notice: Option<String>,
    pub placement: Vec<AllocatedGpu>,
}

/// The answer to a quota check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QuotaCheck {
    pub admitted: bool,
    /// Admitted: the GPU-hours and the hold the request would take.
    pub gpu_hours: Option<Decimal>,
    pub hold: Option<Decimal>,
    /// Admitted: whether it could be placed now (counting spot preemption for on demand).
    pub placeable: Option<bool>,
    /// Refused: the limit it would exceed, with its figures.
    pub refusal: Option<QuotaVerdict>,
    /// When the ledger figures used were read.
    pub ledger_as_of: Option<DateTime<Utc>>,
}

/// A refused admission with its figures, in the limit's unit (GPUs, GPU-hours or EUR).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct QuotaVerdict {
    /// `concurrent_gpus`, `gpu_hours` or `budget` (`gpubill_domain::scheduler::RefusalReason`).
    pub reason: String,
    pub cap: Decimal,
    pub used: Decimal,
    pub requested: Decimal,
    pub remaining: Decimal,
}

impl From<&Refusal> for QuotaVerdict {
    fn from(refusal: &Refusal) -> Self {
        Self {
            reason: refusal.reason.code().to_owned(),
            cap: refusal.cap,
            used: refusal.used,
            requested: refusal.requested,
            remaining: refusal.remaining,
        }
    }
}

/// `GET /v1/nodes/{node}/allocations`: what the node's agent meters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NodeAllocations {
    pub node: String,
    /// Running at or after `since`, each with only this node's GPUs.
    pub allocations: Vec<Allocation>,
}
