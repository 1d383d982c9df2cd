//! `GET /v1/allocations/{id}`: one allocation with its GPUs, status, hold, capture and, when
//! preempted, the notice and credit.

use crate::AppState;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};

pub async fn allocation_get(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    match state.scheduler.get(&id).await? {
        Some(allocation) => Ok(HttpResponse::Ok().json(allocation)),
        None => Err(ApiError::not_found(
            "allocation_not_found",
            format!("allocation `{id}` does not exist"),
        )),
    }
}
