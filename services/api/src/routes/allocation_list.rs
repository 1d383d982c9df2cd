//! `GET /v1/tenants/{tenant}/allocations?status=running&limit=100&cursor=`: a tenant's
//! allocations, newest first (by start, then id), a page at a time.

use crate::AppState;
use crate::error::ApiError;
use crate::routes::{cursor_instant, instant_of, parse_cursor, parse_limit};
use actix_web::{HttpResponse, web};
use gpubill_scheduler::AllocationStatus;
use gpubill_schema::api::ErrorCode;
use gpubill_schema::api::Page;
use gpubill_schema::api::page::fetch_limit;
use serde::Deserialize;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    status: Option<String>,
    /// Rows per page: 1 to 1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// `next_cursor` of the page before.
    cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant}/allocations",
    tag = "allocations",
    summary = "A tenant's allocations",
    operation_id = "allocation_list",
    params(("tenant" = String, Path, description = "Tenant id", example = "mistral-lab"), ListQuery),
    responses(
        (status = 200, description = "A page of the tenant's allocations, newest first", body = gpubill_schema::api::Page<gpubill_schema::api::allocation::Allocation>),
    )
)]
pub async fn allocation_list(
    state: web::Data<AppState>,
    tenant: web::Path<String>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let tenant = tenant.into_inner();
    let status = match query.status.as_deref() {
        None => None,
        Some(code) => Some(AllocationStatus::from_code(code).ok_or_else(|| {
            ApiError::bad_request(
                ErrorCode::InvalidStatus,
                format!("status `{code}`: expected running, released, expired or preempted"),
            )
        })?),
    };
    let limit = parse_limit(query.limit)?;
    let after = match parse_cursor(query.cursor.as_deref(), 2)? {
        Some(parts) => Some((instant_of(&parts[0])?, parts[1].clone())),
        None => None,
    };
    let rows = state
        .scheduler
        .list(&tenant, status, after, fetch_limit(limit))
        .await?;
    Ok(HttpResponse::Ok().json(Page::of(rows, limit, |allocation| {
        vec![
            cursor_instant(&allocation.started_at),
            allocation.id.clone(),
        ]
    })))
}
