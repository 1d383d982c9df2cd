//! `GET /v1/reconciliation?since=RFC3339`: allocations against metered usage over `[since, now]`
//! (default: the last 24 hours): GPUs allocated but silent, and usage metered but unallocated
//! (`gpubill_scheduler::reconcile`). 400 `invalid_since` when `since` is in the future.

use crate::AppState;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use gpubill_platform::db::with_conn;
use serde::Deserialize;

/// Window when `since` is left out.
const DEFAULT_WINDOW: chrono::Duration = chrono::Duration::hours(24);

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReconciliationQuery {
    since: Option<DateTime<Utc>>,
}

#[utoipa::path(
    get,
    path = "/v1/reconciliation",
    tag = "usage",
    summary = "Reconciliation",
    operation_id = "reconciliation",
    params(ReconciliationQuery),
    responses(
        (status = 200, description = "Allocations against metered usage", body = gpubill_scheduler::reconcile::Reconciliation),
    )
)]
pub async fn reconciliation(
    state: web::Data<AppState>,
    query: web::Query<ReconciliationQuery>,
) -> Result<HttpResponse, ApiError> {
    let now = Utc::now();
    let since = query.since.unwrap_or(now - DEFAULT_WINDOW);
    let reconciler = state.reconciler.clone();
    let report = with_conn(&state.pool, move |conn| reconciler.run(conn, since, now)).await?;
    Ok(HttpResponse::Ok().json(report))
}
