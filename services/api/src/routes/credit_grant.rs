//! `POST /v1/tenants/{tenant}/credit/grants` with
//! `{"grant_id": uuid, "amount": "500.00", "source": "bought" | "granted", "note": "..."}`:
//! adds prepaid credit. The client chooses `grant_id`, so a retry books nothing: 201 when booked,
//! 200 when the same grant was booked before, 409 `id_reused` when the id names another grant.

use crate::AppState;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use gpubill_domain::CreditSource;
use gpubill_ledger::Posted;
use gpubill_ledger::credits::grant_credit;
use gpubill_platform::db::with_conn;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantRequest {
    grant_id: Uuid,
    #[serde(with = "rust_decimal::serde::str")]
    amount: Decimal,
    source: String,
    #[serde(default)]
    note: String,
}

pub async fn credit_grant(
    state: web::Data<AppState>,
    tenant: web::Path<String>,
    body: web::Json<GrantRequest>,
) -> Result<HttpResponse, ApiError> {
    let tenant_id = tenant.into_inner();
    let request = body.into_inner();
    if request.amount <= Decimal::ZERO || request.amount.normalize().scale() > 2 {
        return Err(ApiError::bad_request(
            "invalid_amount",
            format!("amount {} must be positive, in whole cents", request.amount),
        ));
    }
    let source = match request.source.as_str() {
        "bought" => CreditSource::Bought,
        "granted" => CreditSource::Granted,
        other => {
            return Err(ApiError::bad_request(
                "invalid_source",
                format!("source `{other}`: expected `bought` or `granted`"),
            ));
        }
    };
    let granted = with_conn(&state.pool, move |conn| {
        grant_credit(
            conn,
            request.grant_id,
            &tenant_id,
            request.amount,
            source,
            &request.note,
        )
        .map_err(ApiError::from)
    })
    .await?;
    let body = json!({
        "grant_id": request.grant_id,
        "amount": request.amount,
        "balance": granted.balance,
    });
    Ok(match granted.posted {
        Posted::Booked => HttpResponse::Created().json(body),
        Posted::AlreadyBooked => HttpResponse::Ok().json(body),
    })
}
