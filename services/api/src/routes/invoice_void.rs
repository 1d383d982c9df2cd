//! `POST /v1/invoices/{number}/void` with `{"reason": "..."}`: voids a finalized invoice with a
//! credit note that mirrors it exactly and gives back the prepaid credit it drew. 201 with the
//! credit note; 200 with the same credit note when the invoice was already voided.

use crate::AppState;
use crate::access::Caller;
use crate::body::Json;
use crate::error::ApiError;
use crate::input;
use actix_web::{HttpResponse, web};
use chrono::Utc;
use gpubill_ledger::invoicing::{InvoiceStatus, invoice, void_invoice};
use gpubill_platform::db::with_conn;
use gpubill_schema::api::ErrorCode;
use serde::Deserialize;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VoidRequest {
    reason: String,
}

#[utoipa::path(
    post,
    path = "/v1/invoices/{number}/void",
    tag = "invoices",
    summary = "Void an invoice with a credit note",
    operation_id = "invoice_void",
    params(("number" = String, Path, description = "Invoice number")),
    request_body = VoidRequest,
    responses(
        (status = 201, description = "Voided by this credit note", body = gpubill_schema::api::invoice::CreditNoteView),
        (status = 200, description = "Voided before: the same credit note", body = gpubill_schema::api::invoice::CreditNoteView),
    )
)]
pub async fn invoice_void(
    state: web::Data<AppState>,
    caller: Caller,
    number: web::Path<String>,
    body: Json<VoidRequest>,
) -> Result<HttpResponse, ApiError> {
    let number = number.into_inner();
    let reason = body.into_inner().reason;
    input::free_text("reason", &reason, input::MAX_TEXT_CHARS)?;
    if reason.trim().is_empty() {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidBody,
            "`reason` must say why the invoice is voided",
        ));
    }
    let seller = state.seller.clone();
    let (was_voided, credit_note) = with_conn(&state.pool, move |conn| {
        let was_voided = invoice(conn, &number)?.status == InvoiceStatus::Voided;
        let credit_note = void_invoice(conn, &number, reason.trim(), &seller, Utc::now())?;
        Ok::<_, ApiError>((was_voided, credit_note))
    })
    .await?;
    caller.note("tenant", &credit_note.tenant_id);
    caller.note("credit_note", &credit_note.number);
    Ok(if was_voided {
        HttpResponse::Ok().json(credit_note)
    } else {
        HttpResponse::Created().json(credit_note)
    })
}
