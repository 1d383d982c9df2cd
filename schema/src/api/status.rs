//! Small answers of the API: liveness, readiness, and a node's administrative state.

use serde::{Deserialize, Serialize};

/// `GET /healthz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: String,
    /// `ok`: the ledger answered.
    pub database: String,
}

/// `GET /readyz`: ready to serve (200), or why not (503, as a problem).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready`.
    pub status: String,
    /// `ok`: the ledger answered.
    pub database: String,
    /// `applied`: no migration of this binary is pending.
    pub migrations: String,
    /// `leader` (this instance runs the scheduler's decisions) or `follower` (another does; this
    /// one serves reads).
    pub scheduler: String,
}

/// The body of `PUT /v1/nodes/{node}/state`, and its answer with the node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeStateChange {
    /// `ready`, `drained` or `down`.
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NodeStateView {
    pub node: String,
    pub state: String,
}
