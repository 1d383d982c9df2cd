//! `portal_links`: the one-time sign-in links to the customer portal. Minting stores only the
//! token's SHA-256; redeeming marks the link used and opens its session (a portal key under the
//! key that minted it) in one transaction, so a link opens at most one session.

use crate::keys::{self, AccessError, IssuedKey};
use chrono::{DateTime, SubsecRound, Utc};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use gpubill_domain::portal::{
    LINK_TOKEN_BYTES, SessionRefused, link_token_hash, new_link_token, session_spec,
};
use gpubill_platform::config::Cluster;
use gpubill_schema::schema::portal_links;
use uuid::Uuid;

/// Why a link does not open a session. The holder of a link is told whether it was never valid,
/// used or expired, but nothing about the tenant it was for.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("this sign-in link is not valid")]
    Unknown,
    #[error("this sign-in link was already used: ask for a new one")]
    Used,
    #[error("this sign-in link has expired: ask for a new one")]
    Expired,
    #[error("the key that made this link was revoked or has expired")]
    ParentGone,
    #[error(transparent)]
    Refused(#[from] SessionRefused),
    #[error(transparent)]
    Access(#[from] AccessError),
}

impl From<gpubill_platform::DbError> for LinkError {
    fn from(error: gpubill_platform::DbError) -> Self {
        Self::Access(error.into())
    }
}

impl From<diesel::result::Error> for LinkError {
    fn from(error: diesel::result::Error) -> Self {
        Self::Access(error.into())
    }
}

/// A minted link's token, shown once; its `Debug` hides it.
pub struct LinkToken(String);

impl LinkToken {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for LinkToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkToken(…)")
    }
}

/// Stores a new link for `tenant`, minted by the key `minted_by`, valid until `expires_at`.
pub fn mint(
    conn: &mut PgConnection,
    tenant: &str,
    minted_by: Uuid,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<LinkToken, AccessError> {
    let mut random = [0u8; LINK_TOKEN_BYTES];
    getrandom::fill(&mut random).map_err(|error| AccessError::Random(error.to_string()))?;
    let (token, hash) = new_link_token(&random);
    diesel::insert_into(portal_links::table)
        .values((
            portal_links::id.eq(Uuid::new_v4()),
            portal_links::token_hash.eq(hash.as_slice()),
            portal_links::tenant_id.eq(tenant),
            portal_links::minted_by.eq(minted_by),
            portal_links::created_at.eq(now.trunc_subsecs(6)),
            portal_links::expires_at.eq(expires_at.trunc_subsecs(6)),
        ))
        .execute(conn)?;
    Ok(LinkToken(token))
}

/// A stored link: id, tenant, the key that minted it, expiry, first use.
type LinkRow = (Uuid, String, Uuid, DateTime<Utc>, Option<DateTime<Utc>>);

/// Exchanges the link whose token is `token` for its session at `now`: the link is marked used
/// and the session's portal key issued in one transaction.
pub fn redeem(
    conn: &mut PgConnection,
    cluster: &Cluster,
    token: &str,
    now: DateTime<Utc>,
    session_seconds: i64,
) -> Result<IssuedKey, LinkError> {
    let hash = link_token_hash(token).ok_or(LinkError::Unknown)?;
    conn.transaction(|conn| {
        let link: Option<LinkRow> = portal_links::table
            .filter(portal_links::token_hash.eq(hash.as_slice()))
            .select((
                portal_links::id,
                portal_links::tenant_id,
                portal_links::minted_by,
                portal_links::expires_at,
                portal_links::used_at,
            ))
            .for_update()
            .first(conn)
            .optional()?;
        let (id, tenant, minted_by, expires_at, used_at) = link.ok_or(LinkError::Unknown)?;
        if used_at.is_some() {
            return Err(LinkError::Used);
        }
        if expires_at <= now {
            return Err(LinkError::Expired);
        }
        let parent = keys::get(conn, minted_by)?.grant();
        if parent.principal(now).is_err() {
            return Err(LinkError::ParentGone);
        }
        let spec = session_spec(&parent, &tenant, true, now, session_seconds)?;
        let issued = keys::issue(conn, cluster, &spec, &format!("key:{minted_by}"), now)?;
        diesel::update(portal_links::table.find(id))
            .set((
                portal_links::used_at.eq(now.trunc_subsecs(6)),
                portal_links::session_key_id.eq(issued.key.id),
            ))
            .execute(conn)?;
        Ok(issued)
    })
}
