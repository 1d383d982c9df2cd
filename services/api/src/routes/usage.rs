//! `GET /v1/tenants/{tenant}/usage?from=&to=`: GPU-seconds and amount per SKU over a window.
//!
//! Rated segments are clipped to `[from, to)`, so a window boundary inside an interval counts only
//! the part inside. Amounts are at list price, `Σ GPU-seconds × price / 3600` per SKU at full
//! precision, then rounded half-even to the cent once per SKU; the invoice is the authority.

use crate::AppState;
use crate::error::ApiError;
use crate::routes::require_tenant;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Numeric, Text, Timestamptz};
use gpubill_domain::money::usage_amount;
use gpubill_domain::round_to_cents;
use gpubill_ledger::usage_buckets::usage_series;
use gpubill_platform::db::with_conn;
use gpubill_schema::api::ErrorCode;
use gpubill_schema::api::usage::{Granularity, UsageDimension, UsageSeries};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    from: String,
    to: String,
    /// `hour`, `day` or `month` (of the tenant's time zone): answer a series of buckets
    /// (`UsageSeries`) instead of the totals per SKU.
    granularity: Option<String>,
    /// Comma-separated `sku`, `price_class`, `allocation`: split the series' buckets by these
    /// (implies `granularity=day` when it is not given).
    group_by: Option<String>,
    /// Only this allocation's usage, in the series (implies `granularity=day` when it is not
    /// given); an allocation the tenant does not have gives an empty series.
    allocation: Option<String>,
}

impl UsageQuery {
    /// The series asked for, if any: its granularity and dimensions.
    fn series(&self) -> Result<Option<(Granularity, Vec<UsageDimension>)>, ApiError> {
        if self.granularity.is_none() && self.group_by.is_none() && self.allocation.is_none() {
            return Ok(None);
        }
        let granularity = match self.granularity.as_deref() {
            None => Granularity::Day,
            Some(code) => Granularity::from_code(code).ok_or_else(|| {
                ApiError::bad_request(
                    ErrorCode::InvalidQuery,
                    format!("granularity `{code}`: `hour`, `day` or `month`"),
                )
            })?,
        };
        let mut dimensions = Vec::new();
        for code in self
            .group_by
            .iter()
            .flat_map(|list| list.split(','))
            .filter(|code| !code.is_empty())
        {
            let dimension = UsageDimension::from_code(code).ok_or_else(|| {
                ApiError::bad_request(
                    ErrorCode::InvalidQuery,
                    format!("group_by `{code}`: any of `sku`, `price_class`, `allocation`"),
                )
            })?;
            if !dimensions.contains(&dimension) {
                dimensions.push(dimension);
            }
        }
        dimensions.sort();
        Ok(Some((granularity, dimensions)))
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct UsageResponse {
    tenant_id: String,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    currency: String,
    skus: Vec<SkuUsage>,
    total_amount: Decimal,
    /// With `granularity` or `group_by`: the same usage in buckets of time, split as asked.
    series: Option<UsageSeries>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct SkuUsage {
    sku: String,
    gpu_seconds: Decimal,
    amount: Decimal,
}

#[derive(Debug, QueryableByName)]
struct ClippedUsage {
    #[diesel(sql_type = Text)]
    sku: String,
    #[diesel(sql_type = Numeric)]
    price_per_gpu_hour: Decimal,
    #[diesel(sql_type = Numeric)]
    gpu_seconds: Decimal,
}

fn parse_instant(name: &str, value: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(value)
        .map(|instant| instant.with_timezone(&Utc))
        .map_err(|e| {
            ApiError::bad_request(
                ErrorCode::InvalidQuery,
                format!("`{name}` must be an RFC 3339 timestamp such as 2026-11-01T00:00:00Z: {e}"),
            )
        })
}

#[utoipa::path(
    get,
    path = "/v1/tenants/{tenant}/usage",
    tag = "usage",
    summary = "A tenant's usage over a window",
    operation_id = "usage",
    params(("tenant" = String, Path, description = "Tenant id", example = "mistral-lab"), UsageQuery),
    responses(
        (status = 200, description = "GPU-seconds and amount per SKU over the window; with `granularity` or `group_by`, a `UsageSeries` of buckets", body = UsageResponse),
    )
)]
pub async fn usage(
    state: web::Data<AppState>,
    tenant: web::Path<String>,
    query: web::Query<UsageQuery>,
) -> Result<HttpResponse, ApiError> {
    let from = parse_instant("from", &query.from)?;
    let to = parse_instant("to", &query.to)?;
    if to <= from {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidQuery,
            "`to` must be after `from`",
        ));
    }
    let tenant_id = tenant.into_inner();
    let series = match query.series()? {
        Some((granularity, group_by)) => {
            let (tenant_id, currency) = (tenant_id.clone(), state.currency.clone());
            let allocation = query.allocation.clone();
            Some(
                with_conn(&state.pool, move |conn| {
                    require_tenant(conn, &tenant_id)?;
                    usage_series(
                        conn,
                        &tenant_id,
                        (from, to),
                        granularity,
                        &group_by,
                        allocation.as_deref(),
                        &currency,
                    )
                    .map_err(ApiError::from)
                })
                .await?,
            )
        }
        None => None,
    };
    let rows = {
        let tenant_id = tenant_id.clone();
        with_conn(&state.pool, move |conn| {
            require_tenant(conn, &tenant_id)?;
            // Segments wholly inside the window keep their exact (nanosecond) quantity; only the
            // ones cut by a window edge are measured from their (microsecond) timestamps.
            diesel::sql_query(
                "SELECT sku, price_per_gpu_hour, sum(CASE \
                     WHEN segment_start >= $2 AND segment_end <= $3 THEN gpu_seconds \
                     ELSE extract(epoch FROM least(segment_end, $3) - greatest(segment_start, $2)) END) AS gpu_seconds \
                 FROM rated_usage \
                 WHERE tenant_id = $1 AND segment_start < $3 AND segment_end > $2 \
                 GROUP BY sku, price_per_gpu_hour",
            )
            .bind::<Text, _>(&tenant_id)
            .bind::<Timestamptz, _>(from)
            .bind::<Timestamptz, _>(to)
            .load::<ClippedUsage>(conn)
            .map_err(ApiError::from)
        })
        .await?
    };

    let mut per_sku: BTreeMap<String, (Decimal, Decimal)> = BTreeMap::new();
    for row in rows {
        let entry = per_sku.entry(row.sku).or_default();
        entry.0 += row.gpu_seconds;
        entry.1 += usage_amount(row.gpu_seconds, row.price_per_gpu_hour);
    }
    let skus: Vec<SkuUsage> = per_sku
        .into_iter()
        .map(|(sku, (gpu_seconds, amount))| SkuUsage {
            sku,
            gpu_seconds: gpu_seconds.normalize(),
            amount: round_to_cents(amount),
        })
        .collect();
    let total_amount = round_to_cents(skus.iter().map(|s| s.amount).sum());
    Ok(HttpResponse::Ok().json(UsageResponse {
        tenant_id,
        from,
        to,
        currency: state.currency.clone(),
        skus,
        total_amount,
        series,
    }))
}
