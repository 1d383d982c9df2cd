//! `GET /v1/tenants/{tenant}/invoices`: the tenant's finalized and voided invoices, oldest first,
//! each with its lines.

use crate::AppState;
use crate::error::ApiError;
use crate::routes::require_tenant;
use actix_web::{HttpResponse, web};
use gpubill_ledger::invoicing::{InvoiceList, list_invoices};
use gpubill_platform::db::with_conn;

pub async fn invoice_list(
    state: web::Data<AppState>,
    tenant: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tenant_id = tenant.into_inner();
    let invoices = with_conn(&state.pool, move |conn| {
        require_tenant(conn, &tenant_id)?;
        list_invoices(conn, &tenant_id).map_err(ApiError::from)
    })
    .await?;
    Ok(HttpResponse::Ok().json(InvoiceList { invoices }))
}
