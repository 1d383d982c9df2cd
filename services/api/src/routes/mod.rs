//! The route table (`OPERATIONS`: every route with the access it demands) and the request
//! plumbing shared by the actions: JSON errors for malformed paths and queries, and the tenant
//! check.

mod allocation_create;
mod allocation_get;
mod allocation_list;
mod allocation_release;
mod audit_list;
mod billing_profile;
mod contract_get;
mod contract_put;
mod credit_balance;
mod credit_grant;
mod credit_note_get;
mod document_file;
mod export_fec;
mod export_focus;
mod export_journal;
mod export_trial_balance;
mod healthz;
mod invoice_draft;
mod invoice_finalize;
mod invoice_get;
mod invoice_list;
mod invoice_void;
mod key_create;
mod key_list;
mod key_revoke;
mod metrics_text;
pub mod missing_usage;
mod node_allocations;
mod node_state;
pub mod openapi;
mod overview;
mod portal_session_create;
mod price_book;
mod quota_check;
mod readyz;
mod reconciliation;
mod usage;

use crate::access;
use crate::body::MAX_BODY_BYTES;
use crate::error::ApiError;
use crate::operation::{Operation, Target};
use actix_web::http::Method;
use actix_web::{guard, middleware, web};
use chrono::{DateTime, SecondsFormat, Utc};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use gpubill_domain::BillingPeriod;
use gpubill_domain::access::Access;
use gpubill_schema::api::ErrorCode;
use gpubill_schema::api::page::{DEFAULT_LIMIT, MAX_LIMIT, decode_cursor};
use gpubill_schema::schema::tenants;
use std::rc::Rc;

macro_rules! op {
    ($method:ident $path:literal, $access:ident, $target:ident, $audited:literal, $handler:path) => {
        Operation {
            method: Method::$method,
            path: $path,
            access: Access::$access,
            target: Target::$target,
            audited: $audited,
            handler: || web::route().to($handler),
        }
    };
}

/// Every route of the API, with who may call it.
pub static OPERATIONS: &[Operation] = &[
    op!(GET "/healthz", Public, None, false, healthz::healthz),
    op!(GET "/readyz", Public, None, false, readyz::readyz),
    op!(GET "/v1/tenants/{tenant}/usage", TenantRead, Tenant, false, usage::usage),
    op!(GET "/v1/tenants/{tenant}/overview", TenantRead, Tenant, false, overview::tenant_overview),
    op!(POST "/v1/tenants/{tenant}/portal-sessions", PortalMint, Tenant, true, portal_session_create::portal_session_create),
    op!(GET "/v1/missing-usage", Finance, None, false, missing_usage::missing_usage),
    op!(GET "/v1/tenants/{tenant}/invoices", TenantRead, Tenant, false, invoice_list::invoice_list),
    op!(GET "/v1/tenants/{tenant}/invoices/draft", TenantRead, Tenant, false, invoice_draft::invoice_draft),
    op!(POST "/v1/tenants/{tenant}/invoices/{period}/finalize", Finance, Tenant, true, invoice_finalize::invoice_finalize),
    op!(GET "/v1/invoices/{number}", TenantRead, Handler, false, invoice_get::invoice_get),
    op!(POST "/v1/invoices/{number}/void", Finance, None, true, invoice_void::invoice_void),
    op!(GET "/v1/credit-notes/{number}", TenantRead, Handler, false, credit_note_get::credit_note_get),
    op!(GET "/v1/invoices/{number}/e-invoice", TenantRead, Handler, false, document_file::invoice_e_invoice),
    op!(GET "/v1/invoices/{number}/pdf", TenantRead, Handler, false, document_file::invoice_pdf),
    op!(GET "/v1/credit-notes/{number}/e-invoice", TenantRead, Handler, false, document_file::credit_note_e_invoice),
    op!(GET "/v1/exports/fec", Finance, None, false, export_fec::export_fec),
    op!(GET "/v1/exports/fec/description", Finance, None, false, export_fec::export_fec_description),
    op!(GET "/v1/exports/journal", Finance, None, false, export_journal::export_journal),
    op!(GET "/v1/exports/focus", Finance, None, false, export_focus::export_focus),
    op!(GET "/v1/tenants/{tenant}/exports/focus", TenantRead, Tenant, false, export_focus::export_focus_tenant),
    op!(GET "/v1/exports/trial-balance", Finance, None, false, export_trial_balance::export_trial_balance),
    op!(GET "/v1/credit-notes/{number}/pdf", TenantRead, Handler, false, document_file::credit_note_pdf),
    op!(GET "/v1/tenants/{tenant}/credit", TenantRead, Tenant, false, credit_balance::credit),
    op!(POST "/v1/tenants/{tenant}/credit/grants", Finance, Tenant, true, credit_grant::credit_grant),
    op!(GET "/v1/tenants/{tenant}/contract", TenantRead, Tenant, false, contract_get::contract_get),
    op!(PUT "/v1/tenants/{tenant}/contract", Finance, Tenant, true, contract_put::contract_put),
    op!(GET "/v1/tenants/{tenant}/billing-profile", TenantRead, Tenant, false, billing_profile::billing_profile_get),
    op!(PUT "/v1/tenants/{tenant}/billing-profile", Finance, Tenant, true, billing_profile::billing_profile_put),
    op!(GET "/v1/price-book", TenantRead, None, false, price_book::price_book),
    op!(POST "/v1/allocations", TenantAct, Handler, true, allocation_create::allocation_create),
    op!(GET "/v1/allocations/{id}", TenantRead, Handler, false, allocation_get::allocation_get),
    op!(POST "/v1/allocations/{id}/release", TenantAct, Handler, true, allocation_release::allocation_release),
    op!(GET "/v1/tenants/{tenant}/allocations", TenantRead, Tenant, false, allocation_list::allocation_list),
    op!(POST "/v1/quota/check", TenantRead, Handler, false, quota_check::quota_check),
    op!(PUT "/v1/nodes/{node}/state", Admin, Node, true, node_state::node_state),
    op!(GET "/v1/nodes/{node}/allocations", NodeRead, Node, false, node_allocations::node_allocations),
    op!(GET "/v1/reconciliation", Finance, None, false, reconciliation::reconciliation),
    op!(POST "/v1/api-keys", Admin, None, true, key_create::key_create),
    op!(GET "/v1/api-keys", Admin, None, false, key_list::key_list),
    op!(POST "/v1/api-keys/{id}/revoke", Admin, None, true, key_revoke::key_revoke),
    op!(GET "/v1/audit", Finance, None, false, audit_list::audit_list),
    op!(GET "/metrics", Admin, None, false, metrics_text::metrics),
    op!(GET "/openapi.json", Public, None, false, openapi::document),
    op!(GET "/docs", Public, None, false, openapi::reference),
];

pub fn configure(config: &mut web::ServiceConfig) {
    config
        .app_data(web::QueryConfig::default().error_handler(|error, _| {
            ApiError::bad_request(ErrorCode::InvalidQuery, error.to_string()).into()
        }))
        .app_data(web::PathConfig::default().error_handler(|error, _| {
            ApiError::bad_request(ErrorCode::InvalidPath, error.to_string()).into()
        }))
        .app_data(web::PayloadConfig::new(MAX_BODY_BYTES));
    // One resource per path, its operations behind the access guard of that path, which also
    // answers 405 for a method the path has no operation for.
    // Paths without parameters first: actix tries resources in order, and matching a path with
    // parameters runs a regular expression, which for the quota check (static, and the most
    // called route) cost more than the rest of routing. No path with parameters matches a
    // static one, so the order changes nothing else.
    let mut seen = std::collections::BTreeSet::new();
    let mut paths: Vec<&'static str> = OPERATIONS
        .iter()
        .map(|op| op.path)
        .filter(|path| seen.insert(*path))
        .collect();
    paths.sort_by_key(|path| path.contains('{'));
    for path in paths {
        let operations: Vec<&'static Operation> =
            OPERATIONS.iter().filter(|op| op.path == path).collect();
        let mut resource = web::resource(path);
        for op in &operations {
            let route = (op.handler)();
            resource = resource.route(if op.method == Method::GET {
                route.guard(guard::Any(guard::Get()).or(guard::Head()))
            } else {
                route.method(op.method.clone())
            });
        }
        let operations = Rc::new(operations);
        config.service(resource.wrap(middleware::from_fn(move |request, next| {
            access::guard(operations.clone(), request, next)
        })));
    }
    crate::portal::configure(config);
    config.default_service(web::to(not_found));
}

async fn not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::not_found(
        ErrorCode::RouteNotFound,
        "no such route",
    ))
}

/// Fails with 404 `tenant_not_found` unless the tenant exists.
pub(crate) fn require_tenant(conn: &mut PgConnection, tenant_id: &str) -> Result<(), ApiError> {
    let found: i64 = tenants::table
        .filter(tenants::tenant_id.eq(tenant_id))
        .count()
        .get_result(conn)?;
    if found == 0 {
        return Err(ApiError::tenant_not_found(tenant_id));
    }
    Ok(())
}

/// A `YYYY-MM` month from a path or query, or 400 `invalid_period`.
pub(crate) fn parse_period(text: &str) -> Result<BillingPeriod, ApiError> {
    text.parse().map_err(|e: gpubill_domain::PeriodError| {
        ApiError::bad_request(ErrorCode::InvalidPeriod, e.to_string())
    })
}

/// A list's `limit`, or 400 `invalid_limit`.
pub(crate) fn parse_limit(limit: Option<i64>) -> Result<i64, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidLimit,
            format!("limit must be within 1..={MAX_LIMIT}"),
        ));
    }
    Ok(limit)
}

/// A list's `cursor` (one this API gave, of `parts` parts), or 400 `invalid_cursor`.
pub(crate) fn parse_cursor(
    cursor: Option<&str>,
    parts: usize,
) -> Result<Option<Vec<String>>, ApiError> {
    cursor
        .map(|text| decode_cursor(text, parts).ok_or_else(invalid_cursor))
        .transpose()
}

/// An instant in a cursor: RFC 3339 to the microsecond Postgres keeps.
pub(crate) fn cursor_instant(instant: &DateTime<Utc>) -> String {
    instant.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// An instant read back from a cursor part.
pub(crate) fn instant_of(part: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(part)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|_| invalid_cursor())
}

/// 400 `invalid_cursor`: a cursor whose parts do not read back.
pub(crate) fn invalid_cursor() -> ApiError {
    ApiError::bad_request(
        ErrorCode::InvalidCursor,
        "cursor: not a cursor of this list (pass `next_cursor` as it came)",
    )
}
