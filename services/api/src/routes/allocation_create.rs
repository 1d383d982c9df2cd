//! `POST /v1/allocations` with `{"tenant", "sku", "gpus", "class"?, "max_duration_seconds",
//! "priority"?, "idempotency_key"?}`: admits, places and records an allocation. 201 when created,
//! 200 when an earlier request with the same idempotency key created it, 409 `quota_exceeded`
//! (with the figures in `details`), `insufficient_capacity` or `idempotency_key_reused`.

use crate::AppState;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use gpubill_scheduler::AllocationRequest;

pub async fn allocation_create(
    state: web::Data<AppState>,
    body: web::Json<AllocationRequest>,
) -> Result<HttpResponse, ApiError> {
    let created = state.scheduler.allocate(body.into_inner()).await?;
    Ok(if created.replayed {
        HttpResponse::Ok().json(created.allocation)
    } else {
        HttpResponse::Created().json(created.allocation)
    })
}
