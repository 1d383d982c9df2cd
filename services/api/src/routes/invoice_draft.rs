//! `GET /v1/tenants/{tenant}/invoices/draft?period=YYYY-MM`: the live draft invoice of a month,
//! composed from the ledger on every call exactly as finalizing would compose it now (the
//! month's usage priced with the contract in force, adjustments for earlier months, VAT, credit).

use crate::AppState;
use crate::error::ApiError;
use crate::routes::parse_period;
use actix_web::{HttpResponse, web};
use gpubill_ledger::invoicing::draft_invoice;
use gpubill_platform::db::with_conn;
use serde::Deserialize;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DraftQuery {
    period: String,
}

#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant}/invoices/draft",
    tag = "invoices",
    summary = "Draft invoice of a month",
    operation_id = "invoice_draft",
    params(("tenant" = String, Path, description = "Tenant id", example = "mistral-lab"), DraftQuery),
    responses(
        (status = 200, description = "The month as finalizing would issue it now", body = gpubill_schema::api::invoice::InvoiceView),
    )
)]
pub async fn invoice_draft(
    state: web::Data<AppState>,
    tenant: web::Path<String>,
    query: web::Query<DraftQuery>,
) -> Result<HttpResponse, ApiError> {
    let period = parse_period(&query.period)?;
    let tenant_id = tenant.into_inner();
    let currency = state.currency.clone();
    let invoice = with_conn(&state.pool, move |conn| {
        draft_invoice(conn, &tenant_id, period, &currency).map_err(ApiError::from)
    })
    .await?;
    Ok(HttpResponse::Ok().json(invoice))
}
