//! An issued invoice or credit note as a file: `GET /v1/invoices/{number}/e-invoice?syntax=cii|ubl`
//! and `GET /v1/invoices/{number}/pdf`, the same under `/v1/credit-notes/{number}/`. The XML is
//! EN 16931 (CII at the Factur-X EN 16931 profile, or UBL 2.1); the PDF is Factur-X (PDF/A-3 with
//! the CII embedded as `factur-x.xml`). Served as an attachment named after the number, private
//! to the caller; another tenant's document is answered as one that does not exist.

use crate::AppState;
use crate::access::Caller;
use crate::error::ApiError;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION};
use actix_web::{HttpResponse, web};
use gpubill_domain::{DocumentKind, DocumentNumber};
use gpubill_ledger::LedgerError;
use gpubill_ledger::documents::{Format, Rendered, render};
use gpubill_platform::db::with_conn;
use gpubill_schema::api::ErrorCode;
use serde::Deserialize;

/// `?syntax=` of an e-invoice: `cii` (default) or `ubl`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SyntaxQuery {
    /// `cii` (UN/CEFACT CII, Factur-X EN 16931 profile; the default) or `ubl` (UBL 2.1).
    syntax: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/invoices/{number}/e-invoice",
    tag = "invoices",
    summary = "An invoice's EN 16931 e-invoice",
    operation_id = "invoice_e_invoice",
    params(("number" = String, Path, description = "Invoice number, INV-YYYY-NNNNNN"), SyntaxQuery),
    responses((status = 200, description = "The e-invoice (type 380)", content_type = "application/xml", body = String))
)]
pub async fn invoice_e_invoice(
    state: web::Data<AppState>,
    caller: Caller,
    number: web::Path<String>,
    query: web::Query<SyntaxQuery>,
) -> Result<HttpResponse, ApiError> {
    let format = syntax(query.into_inner())?;
    file(
        state,
        caller,
        DocumentKind::Invoice,
        number.into_inner(),
        format,
    )
    .await
}

#[utoipa::path(
    get,
    path = "/v1/invoices/{number}/pdf",
    tag = "invoices",
    summary = "An invoice as a Factur-X PDF",
    operation_id = "invoice_pdf",
    params(("number" = String, Path, description = "Invoice number, INV-YYYY-NNNNNN")),
    responses((status = 200, description = "PDF/A-3 with factur-x.xml", content_type = "application/pdf", body = Vec<u8>))
)]
pub async fn invoice_pdf(
    state: web::Data<AppState>,
    caller: Caller,
    number: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    file(
        state,
        caller,
        DocumentKind::Invoice,
        number.into_inner(),
        Format::Pdf,
    )
    .await
}

#[utoipa::path(
    get,
    path = "/v1/credit-notes/{number}/e-invoice",
    tag = "credit notes",
    summary = "A credit note's EN 16931 e-invoice",
    operation_id = "credit_note_e_invoice",
    params(("number" = String, Path, description = "Credit note number, CN-YYYY-NNNNNN"), SyntaxQuery),
    responses((status = 200, description = "The e-invoice (type 381, naming the invoice it voids)", content_type = "application/xml", body = String))
)]
pub async fn credit_note_e_invoice(
    state: web::Data<AppState>,
    caller: Caller,
    number: web::Path<String>,
    query: web::Query<SyntaxQuery>,
) -> Result<HttpResponse, ApiError> {
    let format = syntax(query.into_inner())?;
    file(
        state,
        caller,
        DocumentKind::CreditNote,
        number.into_inner(),
        format,
    )
    .await
}

#[utoipa::path(
    get,
    path = "/v1/credit-notes/{number}/pdf",
    tag = "credit notes",
    summary = "A credit note as a Factur-X PDF",
    operation_id = "credit_note_pdf",
    params(("number" = String, Path, description = "Credit note number, CN-YYYY-NNNNNN")),
    responses((status = 200, description = "PDF/A-3 with factur-x.xml", content_type = "application/pdf", body = Vec<u8>))
)]
pub async fn credit_note_pdf(
    state: web::Data<AppState>,
    caller: Caller,
    number: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    file(
        state,
        caller,
        DocumentKind::CreditNote,
        number.into_inner(),
        Format::Pdf,
    )
    .await
}

fn syntax(query: SyntaxQuery) -> Result<Format, ApiError> {
    let code = query.syntax.as_deref().unwrap_or("cii");
    // The XML formats only: the PDF has a route of its own.
    Format::from_code(code)
        .filter(|format| *format != Format::Pdf)
        .ok_or_else(|| {
            ApiError::bad_request(
                ErrorCode::InvalidSyntax,
                format!("syntax `{code}`: `cii` or `ubl`"),
            )
        })
}

/// The `format` file of document `number`, of the route's `kind`.
async fn file(
    state: web::Data<AppState>,
    caller: Caller,
    kind: DocumentKind,
    number: String,
    format: Format,
) -> Result<HttpResponse, ApiError> {
    let not_found = || {
        ApiError::from(LedgerError::NotFound(format!(
            "{} {number}",
            match kind {
                DocumentKind::Invoice => "invoice",
                DocumentKind::CreditNote => "credit note",
            }
        )))
    };
    if number.parse::<DocumentNumber>().map(|parsed| parsed.kind()) != Ok(kind) {
        return Err(not_found());
    }
    let shown = number.clone();
    let rendered: Rendered = with_conn(&state.pool, move |conn| {
        render(conn, &shown, format).map_err(ApiError::from)
    })
    .await?;
    if !caller.sees_tenant(&rendered.tenant_id) {
        return Err(not_found());
    }
    Ok(HttpResponse::Ok()
        .content_type(rendered.content_type)
        .insert_header((
            CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}\"", rendered.file_name),
        ))
        .insert_header((CACHE_CONTROL, "private, no-store"))
        .body(rendered.bytes))
}
