//! `GET /v1/tenants/{tenant}/credit`: the tenant's prepaid credit balance, read from the journal
//! at the time of the call, and every movement of it (grants, draws by invoices, returns by
//! credit notes) with the running balance. Amounts have two places (`0.00` without history).

use crate::AppState;
use crate::error::ApiError;
use crate::routes::require_tenant;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use gpubill_ledger::credits::{credit_balance, credit_history};
use gpubill_platform::db::with_conn;
use rust_decimal::Decimal;
use serde::Serialize;
use uuid::Uuid;

#[derive(Debug, Serialize)]
pub struct CreditResponse {
    tenant_id: String,
    currency: String,
    #[serde(with = "gpubill_schema::decimal::cents")]
    balance: Decimal,
    history: Vec<CreditMovementResponse>,
}

#[derive(Debug, Serialize)]
pub struct CreditMovementResponse {
    transaction_id: Uuid,
    kind: String,
    description: String,
    booked_at: DateTime<Utc>,
    #[serde(with = "gpubill_schema::decimal::cents")]
    amount: Decimal,
    #[serde(with = "gpubill_schema::decimal::cents")]
    balance: Decimal,
}

pub async fn credit(
    state: web::Data<AppState>,
    tenant: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let tenant_id = tenant.into_inner();
    let currency = state.currency.clone();
    let body = with_conn(&state.pool, move |conn| {
        require_tenant(conn, &tenant_id)?;
        let balance = credit_balance(conn, &tenant_id)?;
        let history = credit_history(conn, &tenant_id)?
            .into_iter()
            .map(|movement| CreditMovementResponse {
                transaction_id: movement.transaction_id,
                kind: movement.kind,
                description: movement.description,
                booked_at: movement.booked_at,
                amount: movement.amount,
                balance: movement.balance,
            })
            .collect();
        Ok::<_, ApiError>(CreditResponse {
            tenant_id,
            currency,
            balance,
            history,
        })
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}
