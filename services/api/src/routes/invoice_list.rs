//! `GET /v1/tenants/{tenant}/invoices?limit=&cursor=`: the tenant's finalized and voided
//! invoices, each with its lines, in the order they were issued (by number), a page at a time.

use crate::AppState;
use crate::error::ApiError;
use crate::routes::{parse_cursor, parse_limit, require_tenant};
use actix_web::{HttpResponse, web};
use gpubill_ledger::invoicing::list_invoices;
use gpubill_platform::db::with_conn;
use gpubill_schema::api::Page;
use gpubill_schema::api::page::fetch_limit;
use serde::Deserialize;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InvoiceListQuery {
    /// Rows per page: 1 to 1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// `next_cursor` of the page before.
    cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant}/invoices",
    tag = "invoices",
    summary = "A tenant's invoices",
    operation_id = "invoice_list",
    params(("tenant" = String, Path, description = "Tenant id", example = "mistral-lab"), InvoiceListQuery),
    responses(
        (status = 200, description = "A page of the tenant's invoices, in issue order", body = gpubill_schema::api::Page<gpubill_schema::api::invoice::InvoiceView>),
    )
)]
pub async fn invoice_list(
    state: web::Data<AppState>,
    tenant: web::Path<String>,
    query: web::Query<InvoiceListQuery>,
) -> Result<HttpResponse, ApiError> {
    let tenant_id = tenant.into_inner();
    let limit = parse_limit(query.limit)?;
    let after = parse_cursor(query.cursor.as_deref(), 1)?.map(|mut parts| parts.remove(0));
    let rows = with_conn(&state.pool, move |conn| {
        require_tenant(conn, &tenant_id)?;
        list_invoices(conn, &tenant_id, after.as_deref(), fetch_limit(limit))
            .map_err(ApiError::from)
    })
    .await?;
    Ok(HttpResponse::Ok().json(Page::of(rows, limit, |invoice| {
        invoice.number.iter().cloned().collect()
    })))
}
