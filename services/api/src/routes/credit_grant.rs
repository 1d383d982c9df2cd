//! `POST /v1/tenants/{tenant}/credit/grants` with
//! `{"grant_id": uuid, "amount": "500.00", "source": "bought" | "granted", "note": "..."}`:
//! adds prepaid credit. The client chooses `grant_id`, so a retry books nothing: 201 when booked,
//! 200 when the same grant was booked before, 409 `id_reused` when the id names another grant.
//! The amount is a plain decimal string of whole cents, positive, and at most
//! `billing.max_credit_grant` (422 `amount_above_maximum`).

use crate::AppState;
use crate::body::Json;
use crate::error::ApiError;
use crate::input;
use actix_web::{HttpResponse, web};
use gpubill_domain::CreditSource;
use gpubill_domain::money::{CENT_PLACES, amount_text, parse_plain_decimal};
use gpubill_ledger::Posted;
use gpubill_ledger::credits::grant_credit;
use gpubill_platform::db::with_conn;
use gpubill_schema::api::ErrorCode;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantRequest {
    grant_id: Uuid,
    /// Checked here rather than by the decoder, so its refusal has its own code.
    amount: String,
    source: String,
    #[serde(default)]
    note: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GrantResponse {
    grant_id: Uuid,
    #[serde(with = "gpubill_schema::decimal::cents")]
    amount: Decimal,
    #[serde(with = "gpubill_schema::decimal::cents")]
    balance: Decimal,
}

#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant}/credit/grants",
    tag = "credit",
    summary = "Grant prepaid credit",
    operation_id = "credit_grant",
    params(("tenant" = String, Path, description = "Tenant id", example = "mistral-lab")),
    request_body = GrantRequest,
    responses(
        (status = 201, description = "Booked", body = GrantResponse),
        (status = 200, description = "Booked before under this grant id", body = GrantResponse),
    )
)]
pub async fn credit_grant(
    state: web::Data<AppState>,
    tenant: web::Path<String>,
    body: Json<GrantRequest>,
) -> Result<HttpResponse, ApiError> {
    let tenant_id = tenant.into_inner();
    let request = body.into_inner();
    let grant_id = input::client_id("grant_id", request.grant_id)?;
    input::free_text("note", &request.note, input::MAX_TEXT_CHARS)?;
    let amount = parse_plain_decimal(&request.amount, CENT_PLACES).map_err(|error| {
        ApiError::bad_request(ErrorCode::InvalidAmount, format!("amount: {error}"))
    })?;
    if amount <= Decimal::ZERO {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidAmount,
            format!("amount {} must be positive", amount_text(amount)),
        ));
    }
    if amount > state.max_credit_grant {
        return Err(ApiError::unprocessable(
            ErrorCode::AmountAboveMaximum,
            format!(
                "amount {} is above the most one grant may add, {} (billing.max_credit_grant)",
                amount_text(amount),
                amount_text(state.max_credit_grant)
            ),
        ));
    }
    let source = match request.source.as_str() {
        "bought" => CreditSource::Bought,
        "granted" => CreditSource::Granted,
        other => {
            return Err(ApiError::bad_request(
                ErrorCode::InvalidSource,
                format!(
                    "source `{}`: expected `bought` or `granted`",
                    other.chars().take(40).collect::<String>()
                ),
            ));
        }
    };
    let granted = with_conn(&state.pool, move |conn| {
        grant_credit(conn, grant_id, &tenant_id, amount, source, &request.note)
            .map_err(ApiError::from)
    })
    .await?;
    let body = GrantResponse {
        grant_id,
        amount,
        balance: granted.balance,
    };
    Ok(match granted.posted {
        Posted::Booked => HttpResponse::Created().json(body),
        Posted::AlreadyBooked => HttpResponse::Ok().json(body),
    })
}
