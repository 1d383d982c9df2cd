//! `PUT /v1/tenants/{tenant}/contract` with a contract document: validates it (terms and SKUs
//! against the price book) and stores it as the next version, in force for usage rated from now
//! on and for every month finalized from now on. Earlier versions are kept.

use crate::AppState;
use crate::access::Caller;
use crate::body::Json;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use gpubill_ledger::contracts::{ContractDocument, ContractView, set_contract};
use gpubill_platform::db::with_conn;
use gpubill_schema::api::ErrorCode;

#[utoipa::path(
    put,
    path = "/v1/tenants/{tenant}/contract",
    tag = "contracts",
    summary = "Set the contract",
    operation_id = "contract_put",
    params(("tenant" = String, Path, description = "Tenant id", example = "mistral-lab")),
    request_body = gpubill_ledger::contracts::ContractDocument,
    responses(
        (status = 200, description = "Stored as the next version", body = gpubill_ledger::contracts::ContractView),
    )
)]
pub async fn contract_put(
    state: web::Data<AppState>,
    caller: Caller,
    tenant: web::Path<String>,
    body: Json<ContractDocument>,
) -> Result<HttpResponse, ApiError> {
    let tenant_id = tenant.into_inner();
    let document = body.into_inner();
    document
        .to_contract()
        .map_err(|error| ApiError::unprocessable(ErrorCode::InvalidContract, error.to_string()))?;
    if let Some(sku) = document
        .skus()
        .find(|sku| !state.price_book.contains_sku(sku))
    {
        return Err(ApiError::unprocessable(
            ErrorCode::UnknownSku,
            format!("SKU `{sku}` is not in the price book"),
        ));
    }
    let stored = with_conn(&state.pool, move |conn| {
        set_contract(conn, &tenant_id, &document)
            .map(|stored| (tenant_id, stored))
            .map_err(ApiError::from)
    })
    .await?;
    let (tenant_id, stored) = stored;
    caller.note("version", stored.version);
    Ok(HttpResponse::Ok().json(ContractView::of(&tenant_id, Some(stored))))
}
