//! `GET /v1/tenants/{tenant}/credit?limit=&cursor=`: the tenant's prepaid credit balance, read
//! from the journal at the time of the call, and its movements (grants, draws by invoices,
//! returns by credit notes), oldest first, a page at a time, each with the balance after it.
//! Amounts have two places (`0.00` without history).

use crate::AppState;
use crate::error::ApiError;
use crate::routes::{
    cursor_instant, instant_of, invalid_cursor, parse_cursor, parse_limit, require_tenant,
};
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use gpubill_ledger::credits::{credit_balance, credit_history};
use gpubill_platform::db::with_conn;
use gpubill_schema::api::Page;
use gpubill_schema::api::page::fetch_limit;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CreditQuery {
    /// Rows per page: 1 to 1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// `next_cursor` of the page before.
    cursor: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreditResponse {
    tenant_id: String,
    currency: String,
    #[serde(with = "gpubill_schema::decimal::cents")]
    balance: Decimal,
    /// A page of the history.
    #[serde(flatten)]
    history: Page<CreditMovementResponse>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CreditMovementResponse {
    transaction_id: Uuid,
    #[serde(skip)]
    line: i16,
    kind: String,
    description: String,
    booked_at: DateTime<Utc>,
    #[serde(with = "gpubill_schema::decimal::cents")]
    amount: Decimal,
    #[serde(with = "gpubill_schema::decimal::cents")]
    balance: Decimal,
}

#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant}/credit",
    tag = "credit",
    summary = "Prepaid credit",
    operation_id = "credit",
    params(("tenant" = String, Path, description = "Tenant id", example = "mistral-lab"), CreditQuery),
    responses(
        (status = 200, description = "Balance and a page of its history", body = CreditResponse),
    )
)]
pub async fn credit(
    state: web::Data<AppState>,
    tenant: web::Path<String>,
    query: web::Query<CreditQuery>,
) -> Result<HttpResponse, ApiError> {
    let tenant_id = tenant.into_inner();
    let currency = state.currency.clone();
    let limit = parse_limit(query.limit)?;
    let after = match parse_cursor(query.cursor.as_deref(), 3)? {
        Some(parts) => Some((
            instant_of(&parts[0])?,
            parts[1].parse::<Uuid>().map_err(|_| invalid_cursor())?,
            parts[2].parse::<i16>().map_err(|_| invalid_cursor())?,
        )),
        None => None,
    };
    let body = with_conn(&state.pool, move |conn| {
        require_tenant(conn, &tenant_id)?;
        let balance = credit_balance(conn, &tenant_id)?;
        let rows = credit_history(conn, &tenant_id, after, fetch_limit(limit))?
            .into_iter()
            .map(|movement| CreditMovementResponse {
                transaction_id: movement.transaction_id,
                line: movement.line,
                kind: movement.kind,
                description: movement.description,
                booked_at: movement.booked_at,
                amount: movement.amount,
                balance: movement.balance,
            })
            .collect();
        let history = Page::of(rows, limit, |movement: &CreditMovementResponse| {
            vec![
                cursor_instant(&movement.booked_at),
                movement.transaction_id.to_string(),
                movement.line.to_string(),
            ]
        });
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
