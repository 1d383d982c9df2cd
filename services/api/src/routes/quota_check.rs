//! `POST /v1/quota/check` with the body of an allocation request: would it be admitted now? 200
//! with `admitted` and either the hold it would take or the refused limit with its figures.
//! Answered from memory, the caller's key included; never reads Postgres. A tenant or portal key
//! checks its own tenant only.

use crate::AppState;
use crate::access::Caller;
use crate::body::Json;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use gpubill_scheduler::AllocationRequest;

#[utoipa::path(
    post,
    path = "/v1/quota/check",
    tag = "allocations",
    summary = "Check a request against quotas",
    operation_id = "quota_check",
    request_body = gpubill_schema::api::allocation::AllocationRequest,
    responses(
        (status = 200, description = "Whether it would be admitted now", body = gpubill_schema::api::allocation::QuotaCheck),
    )
)]
pub async fn quota_check(
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<AllocationRequest>,
) -> Result<HttpResponse, ApiError> {
    caller.require_tenant(&body.tenant)?;
    let verdict = state.scheduler.check(&body)?;
    Ok(HttpResponse::Ok().json(verdict))
}
