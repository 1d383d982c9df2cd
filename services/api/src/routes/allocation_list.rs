//! `GET /v1/tenants/{tenant}/allocations?status=running&limit=100`: a tenant's allocations,
//! newest first.

use crate::AppState;
use crate::error::ApiError;
use crate::routes::parse_limit;
use actix_web::{HttpResponse, web};
use gpubill_scheduler::AllocationStatus;
use gpubill_schema::api::ErrorCode;
use gpubill_schema::api::allocation::TenantAllocations;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    status: Option<String>,
    limit: Option<i64>,
}

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
    let allocations = state.scheduler.list(&tenant, status, limit).await?;
    Ok(HttpResponse::Ok().json(TenantAllocations {
        tenant,
        allocations,
    }))
}
