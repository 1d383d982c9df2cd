//! `billing_profiles`: each tenant's billing identity, the buyer its invoices name. Read when an
//! invoice is finalized (and frozen into it), written by finance through the API, and seeded
//! from `cluster.toml` for a tenant that has none yet. Whether an identity is acceptable is
//! decided by `gpubill_einvoice::identity` before it gets here; the table's checks hold the same
//! rules again.

use crate::LedgerError;
use chrono::{DateTime, Utc};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use gpubill_einvoice::identity::buyer_from_update;
use gpubill_schema::api::party::{BillingProfileUpdate, Buyer, ElectronicAddress, PostalAddress};
use gpubill_schema::schema::{billing_profiles, tenants};

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = billing_profiles)]
#[diesel(check_for_backend(diesel::pg::Pg))]
struct Row {
    tenant_id: String,
    country: String,
    legal_name: String,
    address_line1: String,
    address_line2: Option<String>,
    postcode: String,
    city: String,
    siren: Option<String>,
    electronic_address_scheme: String,
    electronic_address: String,
    billing_email: String,
    purchase_order: Option<String>,
}

/// The tenant's billing identity, `None` when it has no profile. Its VAT number is the tenant's.
pub fn billing_profile(
    conn: &mut PgConnection,
    tenant_id: &str,
) -> Result<Option<Buyer>, LedgerError> {
    let found: Option<(Row, Option<String>)> = billing_profiles::table
        .inner_join(
            tenants::table.on(tenants::tenant_id
                .eq(billing_profiles::tenant_id)
                .and(tenants::country.eq(billing_profiles::country))),
        )
        .filter(billing_profiles::tenant_id.eq(tenant_id))
        .select((Row::as_select(), tenants::vat_number))
        .first(conn)
        .optional()?;
    Ok(found.map(|(row, vat_number)| buyer_of(row, vat_number)))
}

fn buyer_of(row: Row, vat_number: Option<String>) -> Buyer {
    Buyer {
        tenant_id: row.tenant_id,
        legal_name: row.legal_name,
        address: PostalAddress {
            line1: row.address_line1,
            line2: row.address_line2,
            postcode: row.postcode,
            city: row.city,
            country: row.country,
        },
        vat_number,
        siren: row.siren,
        electronic_address: ElectronicAddress {
            scheme: row.electronic_address_scheme,
            id: row.electronic_address,
        },
        billing_email: row.billing_email,
        purchase_order: row.purchase_order,
    }
}

/// Replaces the tenant's billing profile with `update`, checked against the tenant's country and
/// VAT number (which `cluster.toml` sets): [`LedgerError::InvalidIdentity`] names the field
/// refused. Returns the profile stored.
pub fn update_billing_profile(
    conn: &mut PgConnection,
    tenant_id: &str,
    update: BillingProfileUpdate,
    now: DateTime<Utc>,
) -> Result<Buyer, LedgerError> {
    let (country, vat_number): (String, Option<String>) = tenants::table
        .filter(tenants::tenant_id.eq(tenant_id))
        .select((tenants::country, tenants::vat_number))
        .first(conn)
        .optional()?
        .ok_or_else(|| LedgerError::UnknownTenant(tenant_id.to_owned()))?;
    let buyer = buyer_from_update(tenant_id, &country, vat_number.as_deref(), update)?;
    put_billing_profile(conn, &buyer, now)?;
    Ok(buyer)
}

/// Stores `buyer` as its tenant's profile, replacing any.
pub fn put_billing_profile(
    conn: &mut PgConnection,
    buyer: &Buyer,
    now: DateTime<Utc>,
) -> Result<(), LedgerError> {
    let values = values_of(buyer, now);
    diesel::insert_into(billing_profiles::table)
        .values(&values)
        .on_conflict(billing_profiles::tenant_id)
        .do_update()
        .set(&values)
        .execute(conn)?;
    Ok(())
}

/// Profiles per insert: 13 parameters each, under Postgres' 65,535 per statement.
const PROFILES_PER_INSERT: usize = 2_000;

/// Stores each of `buyers` whose tenant has no profile yet; returns how many were stored.
pub fn seed_billing_profiles(
    conn: &mut PgConnection,
    buyers: &[Buyer],
    now: DateTime<Utc>,
) -> Result<usize, LedgerError> {
    let mut stored = 0;
    for chunk in buyers.chunks(PROFILES_PER_INSERT) {
        let values: Vec<_> = chunk.iter().map(|buyer| values_of(buyer, now)).collect();
        stored += diesel::insert_into(billing_profiles::table)
            .values(&values)
            .on_conflict(billing_profiles::tenant_id)
            .do_nothing()
            .execute(conn)?;
    }
    Ok(stored)
}

#[derive(Debug, Insertable, AsChangeset)]
#[diesel(table_name = billing_profiles)]
#[diesel(treat_none_as_null = true)]
struct Values<'a> {
    tenant_id: &'a str,
    country: &'a str,
    legal_name: &'a str,
    address_line1: &'a str,
    address_line2: Option<&'a str>,
    postcode: &'a str,
    city: &'a str,
    siren: Option<&'a str>,
    electronic_address_scheme: &'a str,
    electronic_address: &'a str,
    billing_email: &'a str,
    purchase_order: Option<&'a str>,
    updated_at: DateTime<Utc>,
}

fn values_of(buyer: &Buyer, now: DateTime<Utc>) -> Values<'_> {
    Values {
        tenant_id: &buyer.tenant_id,
        country: &buyer.address.country,
        legal_name: &buyer.legal_name,
        address_line1: &buyer.address.line1,
        address_line2: buyer.address.line2.as_deref(),
        postcode: &buyer.address.postcode,
        city: &buyer.address.city,
        siren: buyer.siren.as_deref(),
        electronic_address_scheme: &buyer.electronic_address.scheme,
        electronic_address: &buyer.electronic_address.id,
        billing_email: &buyer.billing_email,
        purchase_order: buyer.purchase_order.as_deref(),
        updated_at: now,
    }
}
