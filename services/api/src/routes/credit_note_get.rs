//! `GET /v1/credit-notes/{number}`: one credit note (e.g. `CN-2026-000003`) with its lines and
//! the invoice it voids.

use crate::AppState;
use crate::access::Caller;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use gpubill_ledger::LedgerError;
use gpubill_ledger::invoicing::credit_note;
use gpubill_platform::db::with_conn;

#[utoipa::path(
    get,
    path = "/v1/credit-notes/{number}",
    tag = "invoices",
    summary = "One credit note",
    operation_id = "credit_note_get",
    params(("number" = String, Path, description = "Credit note number, CN-YYYY-NNNNNN")),
    responses(
        (status = 200, description = "The credit note", body = gpubill_schema::api::invoice::CreditNoteView),
    )
)]
pub async fn credit_note_get(
    state: web::Data<AppState>,
    caller: Caller,
    number: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let number = number.into_inner();
    let shown = number.clone();
    let found = with_conn(&state.pool, move |conn| {
        credit_note(conn, &number).map_err(ApiError::from)
    })
    .await?;
    // Another tenant's credit note is answered as one that does not exist.
    if !caller.sees_tenant(&found.tenant_id) {
        return Err(ApiError::from(LedgerError::NotFound(format!(
            "credit note {shown}"
        ))));
    }
    Ok(HttpResponse::Ok().json(found))
}
