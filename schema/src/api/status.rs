//! Small answers of the API: health, and a node's administrative state.

use serde::{Deserialize, Serialize};

/// `GET /healthz`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// `ok`.
    pub status: String,
    /// `ok`: the ledger answered.
    pub database: String,
}

/// The body of `PUT /v1/nodes/{node}/state`, and its answer with the node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeStateChange {
    /// `ready`, `drained` or `down`.
    pub state: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeStateView {
    pub node: String,
    pub state: String,
}
