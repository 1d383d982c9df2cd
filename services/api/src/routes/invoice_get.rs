//! `GET /v1/invoices/{number}`: one finalized invoice (e.g. `INV-2026-000042`) with its frozen
//! lines, its status (`finalized` or `voided`) and the credit note voiding it, if any.

use crate::AppState;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use gpubill_ledger::invoicing::invoice;
use gpubill_platform::db::with_conn;

pub async fn invoice_get(
    state: web::Data<AppState>,
    number: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let number = number.into_inner();
    let found = with_conn(&state.pool, move |conn| {
        invoice(conn, &number).map_err(ApiError::from)
    })
    .await?;
    Ok(HttpResponse::Ok().json(found))
}
