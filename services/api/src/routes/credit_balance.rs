//! `GET /v1/tenants/{tenant}/credit`: the tenant's prepaid credit balance, read from the journal
//! at the time of the call, and every movement of it (grants, draws by invoices, returns by
//! credit notes) with the running balance.

use crate::AppState;
use crate::error::ApiError;
use crate::routes::require_tenant;
use actix_web::{HttpResponse, web};
use gpubill_ledger::credits::{credit_balance, credit_history};
use gpubill_platform::db::with_conn;
use serde_json::json;

pub async fn credit(
    state: web::Data<AppState>,
    tenant: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tenant_id = tenant.into_inner();
    let currency = state.currency.clone();
    let body = with_conn(&state.pool, move |conn| {
        require_tenant(conn, &tenant_id)?;
        let balance = credit_balance(conn, &tenant_id)?;
        let history: Vec<_> = credit_history(conn, &tenant_id)?
            .into_iter()
            .map(|movement| {
                json!({
                    "transaction_id": movement.transaction_id,
                    "kind": movement.kind,
                    "description": movement.description,
                    "booked_at": movement.booked_at,
                    "amount": movement.amount,
                    "balance": movement.balance,
                })
            })
            .collect();
        Ok::<_, ApiError>(json!({
            "tenant_id": tenant_id,
            "currency": currency,
            "balance": balance,
            "history": history,
        }))
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}
