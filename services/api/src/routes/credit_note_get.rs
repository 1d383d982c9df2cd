//! `GET /v1/credit-notes/{number}`: one credit note (e.g. `CN-2026-000003`) with its lines and
//! the invoice it voids.

use crate::AppState;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use gpubill_ledger::invoicing::credit_note;
use gpubill_platform::db::with_conn;

pub async fn credit_note_get(
    state: web::Data<AppState>,
    number: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let number = number.into_inner();
    let found = with_conn(&state.pool, move |conn| {
        credit_note(conn, &number).map_err(ApiError::from)
    })
    .await?;
    Ok(HttpResponse::Ok().json(found))
}
