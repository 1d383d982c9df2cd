//! `GET /v1/exports/trial-balance?at=`: every account's debits, credits and balance at an
//! instant, as JSON or CSV. Finance and admin.

use crate::AppState;
use crate::error::ApiError;
use crate::routes::export_journal::{check_format, invalid_time};
use actix_web::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION};
use actix_web::{HttpResponse, web};
use gpubill_exports::trial_balance::write_csv;
use gpubill_exports::window::TimeArg;
use gpubill_ledger::books::trial_balance_at;
use gpubill_platform::db::with_conn;
use gpubill_schema::api::export::TrialBalance;
use serde::Deserialize;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TrialBalanceQuery {
    /// Entries booked at or before this instant (RFC 3339), or by the end of this day
    /// (`YYYY-MM-DD`, in the books' time zone).
    #[param(example = "2026-12-31")]
    at: String,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

#[utoipa::path(
    get,
    path = "/v1/exports/trial-balance",
    tag = "exports",
    summary = "The trial balance at an instant",
    description = "Per account (per tenant on 411, 4181 and 4191): debits, credits and balance of the entries booked up to `at`. The balances sum to zero. `format=csv` gives the same rows and a total row.",
    operation_id = "export_trial_balance",
    params(TrialBalanceQuery),
    responses((status = 200, description = "The trial balance", body = TrialBalance))
)]
pub async fn export_trial_balance(
    state: web::Data<AppState>,
    query: web::Query<TrialBalanceQuery>,
) -> Result<HttpResponse, ApiError> {
    check_format(query.format.as_deref(), &["json", "csv"])?;
    let at = query
        .at
        .parse::<TimeArg>()
        .map_err(invalid_time)?
        .at(state.books.time_zone);
    let currency = state.currency.clone();
    let balance = with_conn(&state.pool, move |conn| {
        trial_balance_at(conn, at, &currency).map_err(ApiError::from)
    })
    .await?;
    if query.format.as_deref() != Some("csv") {
        return Ok(HttpResponse::Ok()
            .insert_header((CACHE_CONTROL, "private, no-store"))
            .json(balance));
    }
    let mut csv = Vec::new();
    write_csv(&balance, &mut csv).map_err(gpubill_ledger::LedgerError::from)?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            CONTENT_DISPOSITION,
            format!(
                "attachment; filename=\"trial_balance_{}.csv\"",
                at.format("%Y%m%dT%H%M%SZ")
            ),
        ))
        .insert_header((CACHE_CONTROL, "private, no-store"))
        .body(csv))
}
