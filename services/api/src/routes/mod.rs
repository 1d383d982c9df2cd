//! Route table and the request plumbing shared by the actions: JSON errors for malformed paths
//! and queries, and the tenant check.

mod allocation_create;
mod allocation_get;
mod allocation_list;
mod allocation_release;
mod contract_get;
mod contract_put;
mod credit_balance;
mod credit_grant;
mod credit_note_get;
mod healthz;
mod invoice_draft;
mod invoice_finalize;
mod invoice_get;
mod invoice_list;
mod invoice_void;
pub mod missing_usage;
mod node_allocations;
mod node_state;
mod price_book;
mod quota_check;
mod reconciliation;
mod usage;

use crate::error::ApiError;
use actix_web::web;
use diesel::pg::PgConnection;
use diesel::prelude::*;
use gpubill_domain::BillingPeriod;
use gpubill_schema::schema::tenants;

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .app_data(web::QueryConfig::default().error_handler(|error, _| {
            ApiError::bad_request("invalid_query", error.to_string()).into()
        }))
        .app_data(web::PathConfig::default().error_handler(|error, _| {
            ApiError::bad_request("invalid_path", error.to_string()).into()
        }))
        .app_data(web::JsonConfig::default().error_handler(|error, _| {
            ApiError::bad_request("invalid_body", error.to_string()).into()
        }))
        .route("/healthz", web::get().to(healthz::healthz))
        .route("/v1/tenants/{tenant}/usage", web::get().to(usage::usage))
        .route(
            "/v1/missing-usage",
            web::get().to(missing_usage::missing_usage),
        )
        .route(
            "/v1/tenants/{tenant}/invoices",
            web::get().to(invoice_list::invoice_list),
        )
        .route(
            "/v1/tenants/{tenant}/invoices/draft",
            web::get().to(invoice_draft::invoice_draft),
        )
        .route(
            "/v1/tenants/{tenant}/invoices/{period}/finalize",
            web::post().to(invoice_finalize::invoice_finalize),
        )
        .route(
            "/v1/invoices/{number}",
            web::get().to(invoice_get::invoice_get),
        )
        .route(
            "/v1/invoices/{number}/void",
            web::post().to(invoice_void::invoice_void),
        )
        .route(
            "/v1/credit-notes/{number}",
            web::get().to(credit_note_get::credit_note_get),
        )
        .route(
            "/v1/tenants/{tenant}/credit",
            web::get().to(credit_balance::credit),
        )
        .route(
            "/v1/tenants/{tenant}/credit/grants",
            web::post().to(credit_grant::credit_grant),
        )
        .route(
            "/v1/tenants/{tenant}/contract",
            web::get().to(contract_get::contract_get),
        )
        .route(
            "/v1/tenants/{tenant}/contract",
            web::put().to(contract_put::contract_put),
        )
        .route("/v1/price-book", web::get().to(price_book::price_book))
        .route(
            "/v1/allocations",
            web::post().to(allocation_create::allocation_create),
        )
        .route(
            "/v1/allocations/{id}",
            web::get().to(allocation_get::allocation_get),
        )
        .route(
            "/v1/allocations/{id}/release",
            web::post().to(allocation_release::allocation_release),
        )
        .route(
            "/v1/tenants/{tenant}/allocations",
            web::get().to(allocation_list::allocation_list),
        )
        .route("/v1/quota/check", web::post().to(quota_check::quota_check))
        .route(
            "/v1/nodes/{node}/state",
            web::put().to(node_state::node_state),
        )
        .route(
            "/v1/nodes/{node}/allocations",
            web::get().to(node_allocations::node_allocations),
        )
        .route(
            "/v1/reconciliation",
            web::get().to(reconciliation::reconciliation),
        )
        .default_service(web::to(not_found));
}

async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::not_found("route_not_found", "no such route"))
}

/// Fails with 404 `tenant_not_found` unless the tenant exists.
pub(crate) fn require_tenant(conn: &mut PgConnection, tenant_id: &str) -> Result<(), ApiError> {
    let found: i64 = tenants::table
        .filter(tenants::tenant_id.eq(tenant_id))
        .count()
        .get_result(conn)?;
    if found == 0 {
        return Err(ApiError::not_found(
            "tenant_not_found",
            format!("tenant `{tenant_id}` does not exist"),
        ));
    }
    Ok(())
}

/// A `YYYY-MM` month from a path or query, or 400 `invalid_period`.
pub(crate) fn parse_period(text: &str) -> Result<BillingPeriod, ApiError> {
    text.parse().map_err(|e: gpubill_domain::PeriodError| {
        ApiError::bad_request("invalid_period", e.to_string())
    })
}
