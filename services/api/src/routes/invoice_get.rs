//! `GET /v1/invoices/{number}`: one finalized invoice (e.g. `INV-2026-000042`) with its frozen
//! lines, its status (`finalized` or `voided`) and the credit note voiding it, if any.

use crate::AppState;
use crate::access::Caller;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use gpubill_ledger::LedgerError;
use gpubill_ledger::invoicing::invoice;
use gpubill_platform::db::with_conn;

#[utoipa::path(
    get,
    path = "/v1/invoices/{number}",
    tag = "invoices",
    summary = "One invoice",
    operation_id = "invoice_get",
    params(("number" = String, Path, description = "Invoice number, INV-YYYY-NNNNNN")),
    responses(
        (status = 200, description = "The invoice", body = gpubill_schema::api::invoice::InvoiceView),
    )
)]
pub async fn invoice_get(
    state: web::Data<AppState>,
    caller: Caller,
    number: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let number = number.into_inner();
    let shown = number.clone();
    let found = with_conn(&state.pool, move |conn| {
        invoice(conn, &number).map_err(ApiError::from)
    })
    .await?;
    // Another tenant's invoice is answered as one that does not exist.
    if !caller.sees_tenant(&found.tenant_id) {
        return Err(ApiError::from(LedgerError::NotFound(format!(
            "invoice {shown}"
        ))));
    }
    Ok(HttpResponse::Ok().json(found))
}
