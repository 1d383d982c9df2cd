//! `GET /v1/price-book`: the price book as the ledger holds it (`price_versions`, loaded from
//! `pricebook.toml` at every start and never changed since): per SKU, every version with its list
//! price per GPU-hour for each price class. SKUs the configuration no longer lists are still
//! shown, since their versions priced usage in the ledger.

use crate::AppState;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use gpubill_domain::{PriceClass, UnknownPriceClass};
use gpubill_platform::db::with_conn;
use gpubill_schema::schema::price_versions;
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct PriceBookResponse {
    currency: String,
    /// By SKU id.
    skus: Vec<SkuResponse>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct SkuResponse {
    sku: String,
    /// Oldest first.
    versions: Vec<VersionResponse>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct VersionResponse {
    effective_from: DateTime<Utc>,
    prices: ClassPrices,
}

/// Decimal strings, as stored. Every loaded version prices all three classes; a class missing
/// from the table would be left out rather than shown as a price.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
struct ClassPrices {
    #[serde(skip_serializing_if = "Option::is_none")]
    on_demand: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    spot: Option<Decimal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reserved: Option<Decimal>,
}

impl ClassPrices {
    fn set(&mut self, class: PriceClass, price: Decimal) {
        let slot = match class {
            PriceClass::OnDemand => &mut self.on_demand,
            PriceClass::Spot => &mut self.spot,
            PriceClass::Reserved => &mut self.reserved,
        };
        *slot = Some(price);
    }
}

#[utoipa::path(
    get,
    path = "/v1/price-book",
    tag = "prices",
    summary = "The price book",
    operation_id = "price_book",
    responses(
        (status = 200, description = "Every SKU with its versions", body = PriceBookResponse),
    )
)]
pub async fn price_book(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let rows = with_conn(&state.pool, |conn| {
        price_versions::table
            .select((
                price_versions::sku,
                price_versions::price_class,
                price_versions::effective_from,
                price_versions::price_per_gpu_hour,
            ))
            .load::<(String, String, DateTime<Utc>, Decimal)>(conn)
            .map_err(ApiError::from)
    })
    .await?;

    let mut by_sku: BTreeMap<String, BTreeMap<DateTime<Utc>, ClassPrices>> = BTreeMap::new();
    for (sku, class, effective_from, price) in rows {
        // The table's CHECK admits only the three codes.
        let class: PriceClass = class
            .parse()
            .map_err(|e: UnknownPriceClass| ApiError::Internal(e.to_string()))?;
        by_sku
            .entry(sku)
            .or_default()
            .entry(effective_from)
            .or_default()
            .set(class, price);
    }
    let skus = by_sku
        .into_iter()
        .map(|(sku, versions)| SkuResponse {
            sku,
            versions: versions
                .into_iter()
                .map(|(effective_from, prices)| VersionResponse {
                    effective_from,
                    prices,
                })
                .collect(),
        })
        .collect();
    Ok(HttpResponse::Ok().json(PriceBookResponse {
        currency: state.currency.clone(),
        skus,
    }))
}
