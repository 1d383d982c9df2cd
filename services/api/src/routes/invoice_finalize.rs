//! `POST /v1/tenants/{tenant}/invoices/{period}/finalize`: finalizes a month's invoice now,
//! without waiting for `gpubill close`. 201 with the invoice when issued; 200 with the same
//! invoice when the month already had one (idempotent); 409 `period_open` before the month ends
//! in the tenant's time zone; 422 `nothing_to_bill` when the month has no charge.

use crate::AppState;
use crate::access::Caller;
use crate::error::ApiError;
use crate::routes::parse_period;
use actix_web::{HttpResponse, web};
use chrono::Utc;
use gpubill_ledger::invoicing::{Finalized, finalize_invoice};
use gpubill_platform::db::with_conn;
use gpubill_schema::api::ErrorCode;

#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant}/invoices/{period}/finalize",
    tag = "invoices",
    summary = "Finalize a month's invoice",
    operation_id = "invoice_finalize",
    params(("tenant" = String, Path, description = "Tenant id", example = "mistral-lab"), ("period" = String, Path, description = "Month, YYYY-MM", example = "2026-11")),
    responses(
        (status = 201, description = "Issued", body = gpubill_schema::api::invoice::InvoiceView),
        (status = 200, description = "Issued before: the same invoice", body = gpubill_schema::api::invoice::InvoiceView),
    )
)]
pub async fn invoice_finalize(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (tenant_id, period) = path.into_inner();
    let period = parse_period(&period)?;
    // The ledger refuses a month that has not ended in the tenant's time zone (`period_open`).
    let now = Utc::now();
    let (currency, seller) = (state.currency.clone(), state.seller.clone());
    let outcome = with_conn(&state.pool, move |conn| {
        finalize_invoice(conn, &tenant_id, period, &currency, &seller, now).map_err(ApiError::from)
    })
    .await?;
    let note = |number: &Option<String>| {
        if let Some(number) = number {
            caller.note("invoice", number);
        }
    };
    match outcome {
        Finalized::Issued(invoice) => {
            note(&invoice.number);
            Ok(HttpResponse::Created().json(invoice))
        }
        Finalized::AlreadyFinalized(invoice) => {
            note(&invoice.number);
            Ok(HttpResponse::Ok().json(invoice))
        }
        Finalized::NothingToBill => Err(ApiError::unprocessable(
            ErrorCode::NothingToBill,
            format!("nothing to bill for {period}: no invoice was issued"),
        )),
    }
}
