//! `PUT /v1/nodes/{node}/state` with `{"state": "ready" | "drained" | "down"}` (admin): a drained
//! or down node takes no new allocations; those it runs are left running.

use crate::AppState;
use crate::body::Json;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use gpubill_domain::scheduler::NodeState;
use gpubill_schema::api::ErrorCode;
use gpubill_schema::api::status::{NodeStateChange, NodeStateView};

#[utoipa::path(
    put,
    path = "/v1/nodes/{node}/state",
    tag = "nodes",
    summary = "Set a node's state",
    operation_id = "node_state",
    params(("node" = String, Path, description = "Node id of cluster.toml", example = "node-001")),
    request_body = gpubill_schema::api::status::NodeStateChange,
    responses(
        (status = 200, description = "The node and its state", body = gpubill_schema::api::status::NodeStateView),
    )
)]
pub async fn node_state(
    state: web::Data<AppState>,
    node: web::Path<String>,
    body: Json<NodeStateChange>,
) -> Result<HttpResponse, ApiError> {
    let node = node.into_inner();
    let wanted = NodeState::from_code(&body.state).ok_or_else(|| {
        ApiError::bad_request(
            ErrorCode::InvalidState,
            format!("state `{}`: expected ready, drained or down", body.state),
        )
    })?;
    state.scheduler.set_node_state(&node, wanted).await?;
    Ok(HttpResponse::Ok().json(NodeStateView {
        node,
        state: body.into_inner().state,
    }))
}
