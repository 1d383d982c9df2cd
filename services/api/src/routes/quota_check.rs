//! `POST /v1/quota/check` with the body of an allocation request: would it be admitted now? 200
//! with `admitted` and either the hold it would take or the refused limit with its figures.
//! Answered from memory; never reads Postgres.

use crate::AppState;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use gpubill_scheduler::AllocationRequest;

pub async fn quota_check(
    state: web::Data<AppState>,
    body: web::Json<AllocationRequest>,
) -> Result<HttpResponse, ApiError> {
    let verdict = state.scheduler.check(&body)?;
    Ok(HttpResponse::Ok().json(verdict))
}
