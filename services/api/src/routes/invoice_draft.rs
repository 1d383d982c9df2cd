//! `GET /v1/tenants/{tenant}/invoices/draft?period=YYYY-MM`: the live draft invoice of a period,
//! recomputed from the ledger on every call. Rounding rules are those of
//! `gpubill_domain::invoice`: lines half-even to the cent on their exact quantity, VAT half-even on
//! the subtotal.

use crate::AppState;
use crate::error::ApiError;
use crate::routes::require_tenant;
use actix_web::{HttpResponse, web};
use diesel::dsl::sum;
use diesel::prelude::*;
use gpubill_domain::{BillingPeriod, DraftInvoice, LineInput};
use gpubill_platform::db::with_conn;
use gpubill_schema::schema::ledger_entries;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DraftQuery {
    period: String,
}

/// The JSON shape of a draft invoice; amounts are decimal strings with two places.
#[derive(Debug, Serialize)]
pub struct InvoiceResponse {
    pub tenant_id: String,
    pub period: String,
    pub status: &'static str,
    pub currency: String,
    pub lines: Vec<LineResponse>,
    pub subtotal: Decimal,
    pub vat_rate: Decimal,
    pub vat: Decimal,
    pub total: Decimal,
}

#[derive(Debug, Serialize)]
pub struct LineResponse {
    pub sku: String,
    pub gpu_seconds: Decimal,
    pub quantity_gpu_hours: Decimal,
    pub unit_price: Decimal,
    pub amount: Decimal,
}

impl InvoiceResponse {
    fn new(tenant_id: String, invoice: DraftInvoice) -> Self {
        Self {
            tenant_id,
            period: invoice.period.to_string(),
            status: "draft",
            currency: invoice.currency,
            lines: invoice
                .lines
                .into_iter()
                .map(|line| LineResponse {
                    sku: line.sku,
                    gpu_seconds: line.gpu_seconds.normalize(),
                    quantity_gpu_hours: line.quantity_gpu_hours,
                    unit_price: line.price_per_gpu_hour,
                    amount: line.amount,
                })
                .collect(),
            subtotal: invoice.subtotal,
            vat_rate: invoice.vat_rate,
            vat: invoice.vat,
            total: invoice.total,
        }
    }
}

pub async fn invoice_draft(
    state: web::Data<AppState>,
    tenant: web::Path<String>,
    query: web::Query<DraftQuery>,
) -> Result<HttpResponse, ApiError> {
    let period: BillingPeriod =
        query
            .period
            .parse()
            .map_err(|e: gpubill_domain::PeriodError| {
                ApiError::bad_request("invalid_period", e.to_string())
            })?;
    let tenant_id = tenant.into_inner();
    let sums = {
        let tenant_id = tenant_id.clone();
        with_conn(&state.pool, move |conn| {
            require_tenant(conn, &tenant_id)?;
            ledger_entries::table
                .filter(ledger_entries::tenant_id.eq(&tenant_id))
                .filter(ledger_entries::period.eq(period.first_day()))
                .group_by((ledger_entries::sku, ledger_entries::price_per_gpu_hour))
                .select((
                    ledger_entries::sku,
                    ledger_entries::price_per_gpu_hour,
                    sum(ledger_entries::gpu_seconds),
                ))
                .load::<(String, Decimal, Option<Decimal>)>(conn)
                .map_err(ApiError::from)
        })
        .await?
    };
    let inputs = sums
        .into_iter()
        .map(|(sku, price_per_gpu_hour, gpu_seconds)| LineInput {
            sku,
            price_per_gpu_hour,
            gpu_seconds: gpu_seconds.unwrap_or_default(),
        });
    let invoice = DraftInvoice::compute(period, &state.currency, inputs, state.vat_rate);
    Ok(HttpResponse::Ok().json(InvoiceResponse::new(tenant_id, invoice)))
}
