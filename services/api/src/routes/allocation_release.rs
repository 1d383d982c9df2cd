//! `POST /v1/allocations/{id}/release`: ends a running allocation now; its hold is captured at
//! what it metered and the rest is freed. 409 `not_running` if it already ended.

use crate::AppState;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};

pub async fn allocation_release(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let released = state.scheduler.release(&id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(released))
}
