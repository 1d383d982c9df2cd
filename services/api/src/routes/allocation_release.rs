//! `POST /v1/allocations/{id}/release`: ends a running allocation now; its hold is captured at
//! what it metered and the rest is freed. 409 `not_running` if it already ended. A tenant key
//! releases its own tenant's only (another's is answered as one that does not exist).

use crate::AppState;
use crate::access::Caller;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};

#[utoipa::path(
    post,
    path = "/v1/allocations/{id}/release",
    tag = "allocations",
    summary = "Release an allocation",
    operation_id = "allocation_release",
    params(("id" = String, Path, description = "Allocation id")),
    responses(
        (status = 200, description = "Released", body = gpubill_schema::api::allocation::Allocation),
    )
)]
pub async fn allocation_release(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let released = state
        .scheduler
        .release(&id.into_inner(), caller.tenant_scope())
        .await?;
    caller.note("tenant", &released.tenant);
    Ok(HttpResponse::Ok().json(released))
}
