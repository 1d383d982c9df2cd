//! `GET /v1/nodes/{node}/allocations?since=RFC3339`: the allocations holding GPUs of a node that
//! were running at or after `since` (default: now), with only that node's GPUs. The node's agent
//! meters exactly these.

use crate::AppState;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use gpubill_schema::api::allocation::NodeAllocations;
use serde::Deserialize;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct NodeQuery {
    since: Option<DateTime<Utc>>,
}

#[utoipa::path(
    get,
    path = "/v1/nodes/{node}/allocations",
    tag = "nodes",
    summary = "A node's allocations",
    operation_id = "node_allocations",
    params(("node" = String, Path, description = "Node id of cluster.toml", example = "node-001"), NodeQuery),
    responses(
        (status = 200, description = "What the node's agent meters", body = gpubill_schema::api::allocation::NodeAllocations),
    )
)]
pub async fn node_allocations(
    state: web::Data<AppState>,
    node: web::Path<String>,
    query: web::Query<NodeQuery>,
) -> Result<HttpResponse, ApiError> {
    let node = node.into_inner();
    let since = query.since.unwrap_or_else(Utc::now);
    let allocations = state.scheduler.node_allocations(&node, since).await?;
    Ok(HttpResponse::Ok().json(NodeAllocations { node, allocations }))
}
