//! `GET`/`PUT /v1/tenants/{tenant}/billing-profile`: the buyer a tenant's invoices name (legal
//! name, address, SIREN for a French buyer, electronic invoicing address, billing e-mail,
//! purchase order). Country and VAT number are the tenant's (`cluster.toml`). A finalized invoice
//! keeps the profile it was issued with; a change applies to invoices finalized afterwards.

use crate::AppState;
use crate::access::Caller;
use crate::body::Json;
use crate::error::ApiError;
use crate::routes::require_tenant;
use actix_web::{HttpResponse, web};
use chrono::Utc;
use gpubill_ledger::profiles::{billing_profile, update_billing_profile};
use gpubill_platform::db::with_conn;
use gpubill_schema::api::ErrorCode;
use gpubill_schema::api::party::BillingProfileUpdate;

#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant}/billing-profile",
    tag = "billing profiles",
    summary = "The tenant's billing profile",
    operation_id = "billing_profile_get",
    params(("tenant" = String, Path, description = "Tenant id", example = "mistral-lab")),
    responses(
        (status = 200, description = "The billing profile", body = gpubill_schema::api::party::Buyer),
    )
)]
pub async fn billing_profile_get(
    state: web::Data<AppState>,
    tenant: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tenant_id = tenant.into_inner();
    let profile = with_conn(&state.pool, move |conn| {
        require_tenant(conn, &tenant_id)?;
        billing_profile(conn, &tenant_id)?.ok_or_else(|| {
            ApiError::not_found(
                ErrorCode::NotFound,
                format!("tenant `{tenant_id}` has no billing profile"),
            )
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(profile))
}

#[utoipa::path(
    put,
    path = "/v1/tenants/{tenant}/billing-profile",
    tag = "billing profiles",
    summary = "Set the tenant's billing profile",
    operation_id = "billing_profile_put",
    params(("tenant" = String, Path, description = "Tenant id", example = "mistral-lab")),
    request_body = gpubill_schema::api::party::BillingProfileUpdate,
    responses(
        (status = 200, description = "Stored; the profile as invoices will name it", body = gpubill_schema::api::party::Buyer),
    )
)]
pub async fn billing_profile_put(
    state: web::Data<AppState>,
    caller: Caller,
    tenant: web::Path<String>,
    body: Json<BillingProfileUpdate>,
) -> Result<HttpResponse, ApiError> {
    let tenant_id = tenant.into_inner();
    let update = body.into_inner();
    let stored = with_conn(&state.pool, move |conn| {
        update_billing_profile(conn, &tenant_id, update, Utc::now()).map_err(ApiError::from)
    })
    .await?;
    caller.note("tenant", &stored.tenant_id);
    Ok(HttpResponse::Ok().json(stored))
}
