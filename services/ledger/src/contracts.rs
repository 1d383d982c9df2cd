//! Tenant contracts in Postgres: the JSON document the API and operators exchange, its
//! translation to the domain's validated `Contract`, and versioned storage (the highest version
//! is in force; older versions are kept, never edited).

use crate::LedgerError;
use chrono::{DateTime, Utc};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use gpubill_domain::{Contract, ContractTerms, Reservation, TierKind, TierSchedule};
use gpubill_schema::schema::contracts;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// A contract as exchanged in JSON. Amounts and percentages are plain decimal strings (no sign,
/// no exponent), never JSON numbers, so no value passes through a float.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContractDocument {
    /// Percentage off every SKU without a discount of its own.
    #[serde(default, with = "gpubill_schema::decimal::plain_option")]
    pub discount_percent: Option<Decimal>,
    /// Per-SKU percentages; each replaces `discount_percent` for its SKU.
    #[serde(default)]
    pub discount_percent_by_sku: BTreeMap<String, DecimalString>,
    /// GPU-hour tiers per SKU, on the month's on-demand usage.
    #[serde(default)]
    pub tiers: BTreeMap<String, TierDocument>,
    #[serde(default)]
    pub reservations: Vec<ReservationDocument>,
    /// Least a month's charges come to, in whole cents.
    #[serde(default, with = "gpubill_schema::decimal::cents_option")]
    pub minimum_monthly_commitment: Option<Decimal>,
}

/// A plain decimal carried as a JSON string (`gpubill_schema::decimal::plain`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct DecimalString(#[serde(with = "gpubill_schema::decimal::plain")] pub Decimal);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TierKindDocument {
    Graduated,
    Volume,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TierDocument {
    pub kind: TierKindDocument,
    pub bands: Vec<TierBandDocument>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TierBandDocument {
    #[serde(with = "gpubill_schema::decimal::plain")]
    pub from_hours: Decimal,
    #[serde(with = "gpubill_schema::decimal::plain")]
    pub discount_percent: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReservationDocument {
    pub sku: String,
    pub gpus: u32,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    #[serde(with = "gpubill_schema::decimal::plain")]
    pub price_per_gpu_hour: Decimal,
}

/// Why a contract document is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContractDocumentError {
    #[error("tiers of SKU `{sku}`: {error}")]
    Tiers {
        sku: String,
        error: gpubill_domain::TierError,
    },
    #[error(transparent)]
    Contract(#[from] gpubill_domain::ContractError),
}

impl ContractDocument {
    /// The validated contract this document describes.
    pub fn to_contract(&self) -> Result<Contract, ContractDocumentError> {
        let mut tiers_by_sku = BTreeMap::new();
        for (sku, tiers) in &self.tiers {
            let kind = match tiers.kind {
                TierKindDocument::Graduated => TierKind::Graduated,
                TierKindDocument::Volume => TierKind::Volume,
            };
            let schedule = TierSchedule::new(
                kind,
                tiers
                    .bands
                    .iter()
                    .map(|band| (band.from_hours, band.discount_percent)),
            )
            .map_err(|error| ContractDocumentError::Tiers {
                sku: sku.clone(),
                error,
            })?;
            tiers_by_sku.insert(sku.clone(), schedule);
        }
        Ok(Contract::new(ContractTerms {
            discount_percent_all_skus: self.discount_percent,
            discount_percent_by_sku: self
                .discount_percent_by_sku
                .iter()
                .map(|(sku, percent)| (sku.clone(), percent.0))
                .collect(),
            tiers_by_sku,
            reservations: self
                .reservations
                .iter()
                .map(|reservation| Reservation {
                    sku: reservation.sku.clone(),
                    start: reservation.start,
                    end: reservation.end,
                    gpus: reservation.gpus,
                    price_per_gpu_hour: reservation.price_per_gpu_hour,
                })
                .collect(),
            minimum_monthly_commitment: self.minimum_monthly_commitment,
        })?)
    }

    /// Every SKU the document names, to be checked against the price book by the caller.
    pub fn skus(&self) -> impl Iterator<Item = &str> {
        self.discount_percent_by_sku
            .keys()
            .chain(self.tiers.keys())
            .map(String::as_str)
            .chain(self.reservations.iter().map(|r| r.sku.as_str()))
    }
}

/// A stored contract version.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredContract {
    pub version: i32,
    pub document: ContractDocument,
    pub created_at: DateTime<Utc>,
}

/// `GET`/`PUT /v1/tenants/{tenant}/contract`: the contract in force and its version; a tenant
/// without one has version 0, no creation time and empty terms (list prices).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ContractView {
    pub tenant_id: String,
    pub version: i32,
    pub created_at: Option<DateTime<Utc>>,
    pub terms: ContractDocument,
}

impl ContractView {
    pub fn of(tenant_id: &str, stored: Option<StoredContract>) -> Self {
        match stored {
            Some(stored) => ContractView {
                tenant_id: tenant_id.to_owned(),
                version: stored.version,
                created_at: Some(stored.created_at),
                terms: stored.document,
            },
            None => ContractView {
                tenant_id: tenant_id.to_owned(),
                version: 0,
                created_at: None,
                terms: ContractDocument::default(),
            },
        }
    }
}

/// Stores `document` as the tenant's next contract version, in force from now on, and returns
/// that version. Validate it first with [`ContractDocument::to_contract`].
pub fn set_contract(
    conn: &mut PgConnection,
    tenant_id: &str,
    document: &ContractDocument,
) -> Result<StoredContract, LedgerError> {
    let terms = serde_json::to_value(document).map_err(LedgerError::ContractJson)?;
    conn.transaction(|conn| {
        // Concurrent writers of one tenant's contract queue here, so versions stay consecutive.
        crate::lock_tenant(conn, tenant_id)?;
        let latest: Option<i32> = contracts::table
            .filter(contracts::tenant_id.eq(tenant_id))
            .select(diesel::dsl::max(contracts::version))
            .first(conn)?;
        let (version, created_at) = diesel::insert_into(contracts::table)
            .values((
                contracts::tenant_id.eq(tenant_id),
                contracts::version.eq(latest.unwrap_or(0) + 1),
                contracts::terms.eq(&terms),
            ))
            .returning((contracts::version, contracts::created_at))
            .get_result(conn)?;
        Ok(StoredContract {
            version,
            document: document.clone(),
            created_at,
        })
    })
}

/// The tenant's contract in force, if one was ever set.
pub fn current_contract(
    conn: &mut PgConnection,
    tenant_id: &str,
) -> Result<Option<StoredContract>, LedgerError> {
    let row: Option<(i32, serde_json::Value, DateTime<Utc>)> = contracts::table
        .filter(contracts::tenant_id.eq(tenant_id))
        .order(contracts::version.desc())
        .select((contracts::version, contracts::terms, contracts::created_at))
        .first(conn)
        .optional()?;
    row.map(|(version, terms, created_at)| {
        Ok(StoredContract {
            version,
            document: serde_json::from_value(terms).map_err(LedgerError::ContractJson)?,
            created_at,
        })
    })
    .transpose()
}

/// The validated contracts in force for `tenant_ids`; a tenant without one is absent (it pays
/// list prices: `Contract::default()`).
pub fn contracts_in_force(
    conn: &mut PgConnection,
    tenant_ids: &[&str],
) -> Result<HashMap<String, Contract>, LedgerError> {
    let rows: Vec<(String, serde_json::Value)> = contracts::table
        .filter(contracts::tenant_id.eq_any(tenant_ids))
        .order((contracts::tenant_id, contracts::version.desc()))
        .distinct_on(contracts::tenant_id)
        .select((contracts::tenant_id, contracts::terms))
        .load(conn)?;
    rows.into_iter()
        .map(|(tenant_id, terms)| {
            let document: ContractDocument =
                serde_json::from_value(terms).map_err(LedgerError::ContractJson)?;
            let contract =
                document
                    .to_contract()
                    .map_err(|error| LedgerError::StoredContractInvalid {
                        tenant_id: tenant_id.clone(),
                        error,
                    })?;
            Ok((tenant_id, contract))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::dec;

    #[test]
    fn a_document_round_trips_through_json_and_builds_its_contract() {
        let json = r#"{
            "discount_percent": "5",
            "discount_percent_by_sku": {"L40S-48GB": "10"},
            "tiers": {"H100-SXM5-80GB": {"kind": "graduated", "bands": [
                {"from_hours": "0", "discount_percent": "0"},
                {"from_hours": "1000", "discount_percent": "10"},
                {"from_hours": "10000", "discount_percent": "20"}]}},
            "reservations": [{"sku": "H100-SXM5-80GB", "gpus": 8,
                "start": "2026-11-01T00:00:00Z", "end": "2027-11-01T00:00:00Z",
                "price_per_gpu_hour": "1.89"}],
            "minimum_monthly_commitment": "5000.00"
        }"#;
        let document: ContractDocument = serde_json::from_str(json).unwrap();
        let contract = document.to_contract().unwrap();
        assert_eq!(contract.discount_percent("L40S-48GB"), dec!(10));
        assert_eq!(contract.discount_percent("H100-PCIe-80GB"), dec!(5));
        assert!(contract.reserves("H100-SXM5-80GB"));
        assert_eq!(contract.minimum_monthly_commitment(), dec!(5000.00));
        let again: ContractDocument =
            serde_json::from_value(serde_json::to_value(&document).unwrap()).unwrap();
        assert_eq!(again, document);
        assert_eq!(
            document.skus().collect::<Vec<_>>(),
            ["L40S-48GB", "H100-SXM5-80GB", "H100-SXM5-80GB"]
        );
    }

    #[test]
    fn numbers_unknown_fields_and_invalid_terms_are_refused() {
        assert!(serde_json::from_str::<ContractDocument>(r#"{"discount_percent": 5}"#).is_err());
        assert!(serde_json::from_str::<ContractDocument>(r#"{"discount": "5"}"#).is_err());
        let document: ContractDocument =
            serde_json::from_str(r#"{"discount_percent": "120"}"#).unwrap();
        assert!(matches!(
            document.to_contract(),
            Err(ContractDocumentError::Contract(_))
        ));
        let document: ContractDocument = serde_json::from_str(
            r#"{"tiers": {"L40S-48GB": {"kind": "volume", "bands": [{"from_hours": "10", "discount_percent": "5"}]}}}"#,
        )
        .unwrap();
        assert!(matches!(
            document.to_contract(),
            Err(ContractDocumentError::Tiers { .. })
        ));
        assert_eq!(
            ContractDocument::default().to_contract().unwrap(),
            Contract::default()
        );
    }
}
