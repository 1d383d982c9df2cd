//! `POST /v1/allocations` with `{"tenant", "sku", "gpus", "class"?, "max_duration_seconds",
//! "priority"?, "idempotency_key"?}`: admits, places and records an allocation. 201 when created,
//! 200 when an earlier request with the same idempotency key created it, 409 `quota_exceeded`
//! (with the figures in `details`), `insufficient_capacity` or `idempotency_key_reused`. A tenant
//! key allocates for its own tenant only (another tenant is answered as one that does not exist).

use crate::AppState;
use crate::access::Caller;
use crate::body::Json;
use crate::error::ApiError;
use crate::input;
use actix_web::{HttpResponse, web};
use gpubill_scheduler::AllocationRequest;

#[utoipa::path(
    post,
    path = "/v1/allocations",
    tag = "allocations",
    summary = "Allocate GPUs",
    operation_id = "allocation_create",
    request_body = gpubill_schema::api::allocation::AllocationRequest,
    responses(
        (status = 201, description = "Admitted, placed and recorded", body = gpubill_schema::api::allocation::Allocation),
        (status = 200, description = "Made before under this idempotency key", body = gpubill_schema::api::allocation::Allocation),
    )
)]
pub async fn allocation_create(
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<AllocationRequest>,
) -> Result<HttpResponse, ApiError> {
    let request = body.into_inner();
    caller.require_tenant(&request.tenant)?;
    if let Some(key) = &request.idempotency_key {
        input::client_key("idempotency_key", key)?;
    }
    let created = state.scheduler.allocate(request).await?;
    caller.note("allocation", &created.allocation.id);
    Ok(if created.replayed {
        HttpResponse::Ok().json(created.allocation)
    } else {
        HttpResponse::Created().json(created.allocation)
    })
}
