//! `GET /v1/tenants/{tenant}/contract`: the contract in force, with its version; a tenant without
//! one gets version 0 and empty terms (list prices).

use crate::AppState;
use crate::error::ApiError;
use crate::routes::require_tenant;
use actix_web::{HttpResponse, web};
use gpubill_ledger::contracts::{ContractView, current_contract};
use gpubill_platform::db::with_conn;

#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant}/contract",
    tag = "contracts",
    summary = "The contract in force",
    operation_id = "contract_get",
    params(("tenant" = String, Path, description = "Tenant id", example = "mistral-lab")),
    responses(
        (status = 200, description = "The contract in force", body = gpubill_ledger::contracts::ContractView),
    )
)]
pub async fn contract_get(
    state: web::Data<AppState>,
    tenant: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tenant_id = tenant.into_inner();
    let view = with_conn(&state.pool, move |conn| {
        require_tenant(conn, &tenant_id)?;
        let stored = current_contract(conn, &tenant_id)?;
        Ok::<_, ApiError>(ContractView::of(&tenant_id, stored))
    })
    .await?;
    Ok(HttpResponse::Ok().json(view))
}
