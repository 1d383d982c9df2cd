//! `GET /v1/tenants/{tenant}/overview`: the tenant's current month at a glance, as the portal's
//! overview shows it: the live draft's amounts, the projected month-end, prepaid credit, and the
//! budget, GPU-hours and concurrency caps with what counts against them (`crate::overview`).

use crate::AppState;
use crate::error::ApiError;
use crate::overview::overview;
use actix_web::{HttpResponse, web};
use chrono::Utc;

#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant}/overview",
    tag = "usage",
    summary = "The current month at a glance",
    operation_id = "overview",
    params(("tenant" = String, Path, description = "Tenant id", example = "mistral-lab")),
    responses(
        (status = 200, description = "Month to date, projection, credit and quota standing", body = gpubill_schema::api::portal::Overview),
    )
)]
pub async fn tenant_overview(
    state: web::Data<AppState>,
    tenant: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let body = overview(&state, tenant.into_inner(), Utc::now()).await?;
    Ok(HttpResponse::Ok().json(body))
}
