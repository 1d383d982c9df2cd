//! `api_keys`: issuing a key (256 bits from the OS RNG, stored as its SHA-256 only), listing and
//! revoking keys, loading them for the authenticator, and recording when they were last used.

use chrono::{DateTime, SubsecRound, Utc};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::{Array, Timestamptz};
use gpubill_domain::access::{
    Binding, KEY_SECRET_BYTES, KeyGrant, KeyHash, KeySecret, KeySpec, KeySpecError, Role,
};
use gpubill_platform::DbError;
use gpubill_platform::config::Cluster;
use gpubill_schema::schema::api_keys;
use serde::Serialize;
use uuid::Uuid;

/// How long revoked and expired keys stay in the authenticator's copy, so that their holders
/// are told `revoked` or `expired` rather than `unknown`.
const REFUSED_KEPT_FOR: chrono::Duration = chrono::Duration::days(1);

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error(transparent)]
    Spec(#[from] KeySpecError),
    #[error("tenant `{0}` is not a tenant of cluster.toml")]
    UnknownTenant(String),
    #[error("node `{0}` is not a node of cluster.toml")]
    UnknownNode(String),
    #[error("API key {0} does not exist")]
    UnknownKey(Uuid),
    #[error("the operating system's random number generator failed: {0}")]
    Random(String),
    #[error("a stored API key is inconsistent: {0}")]
    Invariant(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<diesel::result::Error> for AccessError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Db(DbError::Query(error))
    }
}

/// A key as listed: everything but its secret and hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct StoredKey {
    pub id: Uuid,
    #[serde(serialize_with = "role_code")]
    #[schema(value_type = String, example = "tenant")]
    pub role: Role,
    pub tenant: Option<String>,
    pub node: Option<String>,
    /// `gpb_<role>_` and the first 8 hex digits of the secret.
    pub prefix: String,
    pub label: String,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// Recorded in memory and written within a refresh of the authenticator.
    pub last_used_at: Option<DateTime<Utc>>,
    /// A portal session's: the key it was opened with; revoking that key revokes it.
    pub parent_key_id: Option<Uuid>,
}

fn role_code<S: serde::Serializer>(role: &Role, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(role.code())
}

impl StoredKey {
    pub fn binding(&self) -> Binding {
        match (&self.tenant, &self.node) {
            (Some(tenant), _) => Binding::Tenant(tenant.clone()),
            (None, Some(node)) => Binding::Node(node.clone()),
            (None, None) => Binding::None,
        }
    }

    pub fn grant(&self) -> KeyGrant {
        KeyGrant {
            key_id: self.id,
            role: self.role,
            binding: self.binding(),
            expires_at: self.expires_at,
            revoked_at: self.revoked_at,
        }
    }
}

/// A new key: shown once, never stored in the clear.
#[derive(Debug, Clone)]
pub struct IssuedKey {
    pub key: StoredKey,
    pub secret: KeySecret,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = api_keys, check_for_backend(diesel::pg::Pg))]
struct KeyRow {
    id: Uuid,
    role: String,
    tenant_id: Option<String>,
    node_id: Option<String>,
    display_prefix: String,
    label: String,
    created_by: String,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
    parent_key_id: Option<Uuid>,
}

impl TryFrom<KeyRow> for StoredKey {
    type Error = AccessError;

    fn try_from(row: KeyRow) -> Result<Self, AccessError> {
        // The table's CHECK admits only the five codes.
        let role = Role::from_code(&row.role)
            .ok_or_else(|| AccessError::Invariant(format!("role `{}`", row.role)))?;
        Ok(StoredKey {
            id: row.id,
            role,
            tenant: row.tenant_id,
            node: row.node_id,
            prefix: row.display_prefix,
            label: row.label,
            created_by: row.created_by,
            created_at: row.created_at,
            expires_at: row.expires_at,
            revoked_at: row.revoked_at,
            last_used_at: row.last_used_at,
            parent_key_id: row.parent_key_id,
        })
    }
}

/// Checks `spec` (its role's binding to a tenant or node of `cluster`, a portal key's expiry, the
/// label), draws the secret from the OS RNG and stores the key's hash. `created_by` names the
/// issuer: `key:<uuid>` or `cli:<user>`.
pub fn issue(
    conn: &mut PgConnection,
    cluster: &Cluster,
    spec: &KeySpec,
    created_by: &str,
    now: DateTime<Utc>,
) -> Result<IssuedKey, AccessError> {
    spec.check(now)?;
    match &spec.binding {
        Binding::Tenant(tenant) if !cluster.tenants.iter().any(|t| &t.id == tenant) => {
            return Err(AccessError::UnknownTenant(tenant.clone()));
        }
        Binding::Node(node) if !cluster.nodes.iter().any(|n| &n.id == node) => {
            return Err(AccessError::UnknownNode(node.clone()));
        }
        _ => {}
    }
    let mut random = [0u8; KEY_SECRET_BYTES];
    getrandom::fill(&mut random).map_err(|error| AccessError::Random(error.to_string()))?;
    let secret = KeySecret::new(spec.role, random);
    // Postgres keeps microseconds: the answer is what a later read returns.
    let now = now.trunc_subsecs(6);
    let key = StoredKey {
        id: Uuid::new_v4(),
        role: spec.role,
        tenant: spec.binding.tenant().map(str::to_owned),
        node: spec.binding.node().map(str::to_owned),
        prefix: secret.display_prefix(),
        label: spec.label.clone(),
        created_by: created_by.to_owned(),
        created_at: now,
        expires_at: spec.expires_at.map(|at| at.trunc_subsecs(6)),
        revoked_at: None,
        last_used_at: None,
        parent_key_id: spec.parent,
    };
    diesel::insert_into(api_keys::table)
        .values((
            api_keys::id.eq(key.id),
            api_keys::role.eq(key.role.code()),
            api_keys::tenant_id.eq(&key.tenant),
            api_keys::node_id.eq(&key.node),
            api_keys::display_prefix.eq(&key.prefix),
            api_keys::key_hash.eq(secret.hash().0.as_slice()),
            api_keys::label.eq(&key.label),
            api_keys::created_by.eq(&key.created_by),
            api_keys::created_at.eq(key.created_at),
            api_keys::expires_at.eq(key.expires_at),
            api_keys::parent_key_id.eq(key.parent_key_id),
        ))
        .execute(conn)?;
    Ok(IssuedKey { key, secret })
}

/// Keys newest first, after `after` (the creation and id of the last key of the previous
/// page), at most `limit`.
pub fn list(
    conn: &mut PgConnection,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> Result<Vec<StoredKey>, AccessError> {
    let mut query = api_keys::table
        .select(KeyRow::as_select())
        .order((api_keys::created_at.desc(), api_keys::id.desc()))
        .limit(limit)
        .into_boxed();
    if let Some((created_at, id)) = after {
        query = query.filter(
            api_keys::created_at
                .lt(created_at)
                .or(api_keys::created_at.eq(created_at).and(api_keys::id.lt(id))),
        );
    }
    query
        .load::<KeyRow>(conn)?
        .into_iter()
        .map(StoredKey::try_from)
        .collect()
}

pub fn get(conn: &mut PgConnection, id: Uuid) -> Result<StoredKey, AccessError> {
    api_keys::table
        .find(id)
        .select(KeyRow::as_select())
        .first::<KeyRow>(conn)
        .optional()?
        .ok_or(AccessError::UnknownKey(id))?
        .try_into()
}

/// What revoking did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revoked {
    pub key: StoredKey,
    /// False when the key had been revoked before (revoking is idempotent).
    pub newly: bool,
    /// The portal sessions opened with it that this revocation ended.
    pub sessions_ended: Vec<Uuid>,
}

/// Revokes a key at `now`, and in the same transaction the portal sessions opened with it; a key
/// revoked before keeps its first revocation time.
pub fn revoke(
    conn: &mut PgConnection,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Revoked, AccessError> {
    let now = now.trunc_subsecs(6);
    conn.transaction(|conn| {
        let updated = diesel::update(
            api_keys::table
                .filter(api_keys::id.eq(id))
                .filter(api_keys::revoked_at.is_null()),
        )
        .set(api_keys::revoked_at.eq(now))
        .execute(conn)?;
        let key = get(conn, id)?;
        // A session created after the parent's first revocation cannot exist (the insert
        // trigger refuses it), so the sessions' revocation is never before their creation.
        let sessions_ended = diesel::update(
            api_keys::table
                .filter(api_keys::parent_key_id.eq(id))
                .filter(api_keys::revoked_at.is_null()),
        )
        .set(api_keys::revoked_at.eq(now))
        .returning(api_keys::id)
        .get_results(conn)?;
        Ok(Revoked {
            key,
            newly: updated == 1,
            sessions_ended,
        })
    })
}

/// The keys the authenticator holds at `now`: every usable key, and those revoked or expired
/// within the last day, by hash.
pub fn load_grants(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
) -> Result<Vec<(KeyHash, KeyGrant)>, AccessError> {
    let horizon = now - REFUSED_KEPT_FOR;
    let rows: Vec<(Vec<u8>, KeyRow)> = api_keys::table
        .filter(
            api_keys::revoked_at
                .is_null()
                .or(api_keys::revoked_at.gt(horizon)),
        )
        .filter(
            api_keys::expires_at
                .is_null()
                .or(api_keys::expires_at.gt(horizon)),
        )
        .select((api_keys::key_hash, KeyRow::as_select()))
        .load(conn)?;
    rows.into_iter()
        .map(|(hash, row)| {
            let hash: [u8; 32] = hash
                .try_into()
                .map_err(|_| AccessError::Invariant("a key hash is not 32 bytes".into()))?;
            Ok((KeyHash(hash), StoredKey::try_from(row)?.grant()))
        })
        .collect()
}

/// Moves each key's `last_used_at` forward to the instant given (never back).
pub fn record_last_used(
    conn: &mut PgConnection,
    uses: &[(Uuid, DateTime<Utc>)],
) -> Result<usize, AccessError> {
    if uses.is_empty() {
        return Ok(0);
    }
    let (ids, instants): (Vec<Uuid>, Vec<DateTime<Utc>>) = uses.iter().copied().unzip();
    Ok(diesel::sql_query(
        "UPDATE api_keys k SET last_used_at = u.at \
         FROM unnest($1::uuid[], $2::timestamptz[]) AS u(id, at) \
         WHERE k.id = u.id AND (k.last_used_at IS NULL OR k.last_used_at < u.at)",
    )
    .bind::<Array<diesel::sql_types::Uuid>, _>(ids)
    .bind::<Array<Timestamptz>, _>(instants)
    .execute(conn)?)
}
