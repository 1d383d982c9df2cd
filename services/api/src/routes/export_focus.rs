//! `GET /v1/tenants/{tenant}/exports/focus?period=` (the tenant's own FOCUS 1.2 rows: its keys,
//! finance and admin) and `GET /v1/exports/focus?period=` (every tenant: finance and admin),
//! streamed as CSV as they are read.

use crate::AppState;
use crate::error::ApiError;
use crate::routes::export_journal::check_format;
use crate::streaming::{FileSpec, stream_file};
use actix_web::{HttpResponse, web};
use gpubill_domain::BillingPeriod;
use gpubill_exports::focus::{FocusFormat, Grain};
use gpubill_ledger::books::write_focus;
use gpubill_schema::api::ErrorCode;
use serde::Deserialize;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FocusQuery {
    /// The billing period, `YYYY-MM` (the tenant's month, in its time zone).
    #[param(example = "2026-10")]
    period: String,
    /// `hour` or `day` [default: books.focus_grain].
    grain: Option<String>,
    /// `csv` (the default) or `parquet`.
    format: Option<String>,
}

impl FocusQuery {
    fn parse(&self, state: &AppState) -> Result<(BillingPeriod, Grain, FocusFormat), ApiError> {
        check_format(self.format.as_deref(), &["csv", "parquet"])?;
        let format = self
            .format
            .as_deref()
            .and_then(FocusFormat::from_code)
            .unwrap_or(FocusFormat::Csv);
        let period: BillingPeriod = self.period.parse().map_err(|_| {
            ApiError::bad_request(
                ErrorCode::InvalidPeriod,
                format!("period `{}`: YYYY-MM", self.period),
            )
        })?;
        let grain = match &self.grain {
            Some(code) => Grain::from_code(code).ok_or_else(|| {
                ApiError::bad_request(
                    ErrorCode::InvalidExportOption,
                    format!("grain `{code}`: `hour` or `day`"),
                )
            })?,
            None => state.books.focus_grain,
        };
        Ok((period, grain, format))
    }
}

async fn focus(
    state: web::Data<AppState>,
    tenant: Option<String>,
    (period, grain, format): (BillingPeriod, Grain, FocusFormat),
) -> Result<HttpResponse, ApiError> {
    let scope = tenant.clone().unwrap_or_else(|| "all".to_owned());
    let spec = FileSpec {
        content_type: format.content_type(),
        file_name: format!("focus_{scope}_{period}.{}", format.extension()),
    };
    let (provider, currency) = (state.seller.legal_name.clone(), state.currency.clone());
    stream_file(&state.pool, spec, move |conn, out| {
        write_focus(
            conn,
            period,
            tenant.as_deref(),
            grain,
            format,
            &provider,
            &currency,
            out,
            |_| {},
        )
        .map(|_| ())
    })
    .await
}

#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant}/exports/focus",
    tag = "exports",
    summary = "A tenant's FOCUS 1.2 cost and usage rows",
    description = "FOCUS 1.2 (FinOps Open Cost and Usage Specification) rows of the tenant's billing period: usage per allocation, SKU, price class and hour (or day), reservations, late usage, true-up, tax and prepaid credit. `SUM(BilledCost)` is the invoice's amount due; a month not finalized yet comes from its draft (InvoiceId empty). Columns in docs/billing.md.",
    operation_id = "export_focus_tenant",
    params(("tenant" = String, Path, description = "Tenant id", example = "mistral-lab"), FocusQuery),
    responses((status = 200, description = "FOCUS 1.2 rows, CSV (or Parquet with `format=parquet`)", content_type = "text/csv", body = String))
)]
pub async fn export_focus_tenant(
    state: web::Data<AppState>,
    tenant: web::Path<String>,
    query: web::Query<FocusQuery>,
) -> Result<HttpResponse, ApiError> {
    let parsed = query.parse(&state)?;
    focus(state, Some(tenant.into_inner()), parsed).await
}

#[utoipa::path(
    get,
    path = "/v1/exports/focus",
    tag = "exports",
    summary = "Every tenant's FOCUS 1.2 cost and usage rows",
    description = "The rows of every tenant's billing period, as `GET /v1/tenants/{tenant}/exports/focus` gives them, one tenant after the other.",
    operation_id = "export_focus",
    params(FocusQuery),
    responses((status = 200, description = "FOCUS 1.2 rows, CSV (or Parquet with `format=parquet`)", content_type = "text/csv", body = String))
)]
pub async fn export_focus(
    state: web::Data<AppState>,
    query: web::Query<FocusQuery>,
) -> Result<HttpResponse, ApiError> {
    let parsed = query.parse(&state)?;
    focus(state, None, parsed).await
}
