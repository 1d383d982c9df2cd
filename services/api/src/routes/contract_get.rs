//! `GET /v1/tenants/{tenant}/contract`: the contract in force, with its version; a tenant without
//! one gets version 0 and empty terms (list prices).

use crate::AppState;
use crate::error::ApiError;
use crate::routes::require_tenant;
use actix_web::{HttpResponse, web};
use gpubill_ledger::contracts::{ContractDocument, StoredContract, current_contract};
use gpubill_platform::db::with_conn;
use serde_json::json;

pub async fn contract_get(
    state: web::Data<AppState>,
    tenant: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tenant_id = tenant.into_inner();
    let body = with_conn(&state.pool, move |conn| {
        require_tenant(conn, &tenant_id)?;
        let stored = current_contract(conn, &tenant_id)?;
        Ok::<_, ApiError>(match stored {
            Some(stored) => contract_body(&tenant_id, &stored),
            None => json!({
                "tenant_id": tenant_id,
                "version": 0,
                "created_at": null,
                "terms": ContractDocument::default(),
            }),
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// The JSON of a stored contract version, as both contract actions return it.
pub(crate) fn contract_body(tenant_id: &str, stored: &StoredContract) -> serde_json::Value {
    json!({
        "tenant_id": tenant_id,
        "version": stored.version,
        "created_at": stored.created_at,
        "terms": stored.document,
    })
}
