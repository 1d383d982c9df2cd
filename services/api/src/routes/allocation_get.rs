//! `GET /v1/allocations/{id}`: one allocation with its GPUs, status, hold, capture and, when
//! preempted, the notice and credit. A tenant or portal key sees its own tenant's only.

use crate::AppState;
use crate::access::Caller;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use gpubill_schema::api::ErrorCode;

#[utoipa::path(
    get,
    path = "/v1/allocations/{id}",
    tag = "allocations",
    summary = "One allocation",
    operation_id = "allocation_get",
    params(("id" = String, Path, description = "Allocation id")),
    responses(
        (status = 200, description = "The allocation", body = gpubill_schema::api::allocation::Allocation),
    )
)]
pub async fn allocation_get(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    match state.scheduler.get(&id).await? {
        Some(allocation) if caller.sees_tenant(&allocation.tenant) => {
            Ok(HttpResponse::Ok().json(allocation))
        }
        _ => Err(ApiError::not_found(
            ErrorCode::AllocationNotFound,
            format!("allocation `{id}` does not exist"),
        )),
    }
}
