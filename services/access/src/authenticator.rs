//! The authenticator: every request's key is checked against a copy of `api_keys` in memory, so
//! no request waits on Postgres (the quota check's hot path among them). The copy is re-read every
//! `auth.key_refresh_ms`; a key revoked on another instance is refused here within that time, and
//! at once on the instance that revoked it. An instance that could not re-read the keys for
//! `auth.key_max_staleness_ms` refuses every key (503) rather than trust a copy that may miss a
//! revocation. When each key was last used is kept in memory and written at each re-read.

use crate::keys::{self, AccessError, IssuedKey, Revoked};
use crate::portal_links::{self, LinkError, LinkToken};
use chrono::{DateTime, TimeZone, Utc};
use gpubill_domain::access::{
    KeyFormatError, KeyGrant, KeyHash, KeyRefused, KeySpec, Principal, parse_key,
};
use gpubill_domain::portal::{SessionRefused, check_mint, session_spec};
use gpubill_platform::DbError;
use gpubill_platform::config::{AuthSettings, Cluster};
use gpubill_platform::db::with_conn;
use gpubill_platform::{PgPool, Shutdown};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Why a request is not authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("an API key is required: send `Authorization: Bearer <key>`")]
    Missing,
    #[error("the Authorization header is not `Bearer <key>`")]
    NotBearer,
    #[error(transparent)]
    Malformed(#[from] KeyFormatError),
    #[error(transparent)]
    Refused(#[from] KeyRefused),
    /// The copy of the keys is too old to be trusted.
    #[error("API keys cannot be checked right now: the key store has not answered for {0} ms")]
    Unavailable(u128),
}

/// Why a portal session was not opened or a link not minted.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Refused(#[from] SessionRefused),
    #[error(transparent)]
    Access(#[from] AccessError),
}

impl From<DbError> for SessionError {
    fn from(error: DbError) -> Self {
        Self::Access(error.into())
    }
}

/// Handle on the authenticator; clones share one copy of the keys.
#[derive(Clone)]
pub struct Authenticator {
    shared: Arc<Shared>,
}

struct Shared {
    pool: PgPool,
    refresh: Duration,
    max_staleness: Duration,
    keys: RwLock<Arc<KeyCopy>>,
}

/// The keys as last read, by hash.
struct KeyCopy {
    by_hash: HashMap<KeyHash, Arc<CachedKey>>,
    /// When the read that produced this copy started.
    read_at: Instant,
}

struct CachedKey {
    grant: KeyGrant,
    /// Milliseconds since the epoch of the latest use not yet written; 0 when none.
    used_at_ms: AtomicI64,
}

impl CachedKey {
    fn new(grant: KeyGrant) -> Arc<Self> {
        Arc::new(CachedKey {
            grant,
            used_at_ms: AtomicI64::new(0),
        })
    }
}

impl Authenticator {
    /// Reads the keys once; fails when Postgres does not answer.
    pub async fn start(pool: PgPool, settings: &AuthSettings) -> Result<Self, AccessError> {
        let authenticator = Authenticator {
            shared: Arc::new(Shared {
                pool,
                refresh: Duration::from_millis(settings.key_refresh_ms),
                max_staleness: Duration::from_millis(settings.key_max_staleness_ms),
                keys: RwLock::new(Arc::new(KeyCopy {
                    by_hash: HashMap::new(),
                    read_at: Instant::now(),
                })),
            }),
        };
        authenticator.refresh().await?;
        Ok(authenticator)
    }

    /// The caller a request's `Authorization` header names at `now`.
    pub fn authenticate(
        &self,
        authorization: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Principal, AuthError> {
        let header = authorization.ok_or(AuthError::Missing)?;
        let (scheme, token) = header.split_once(' ').ok_or(AuthError::NotBearer)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::NotBearer);
        }
        self.authenticate_key(token.trim(), now)
    }

    /// The caller a key names at `now` (from a header, or the portal's session cookie).
    pub fn authenticate_key(&self, key: &str, now: DateTime<Utc>) -> Result<Principal, AuthError> {
        Ok(self.grant(key, now)?.principal(now)?)
    }

    /// The grant of a usable key at `now` (with its expiry), its use recorded.
    pub fn grant(&self, key: &str, now: DateTime<Utc>) -> Result<KeyGrant, AuthError> {
        let (_, hash) = parse_key(key)?;
        let keys = self.copy();
        let age = keys.read_at.elapsed();
        if age > self.shared.max_staleness {
            return Err(AuthError::Unavailable(age.as_millis()));
        }
        let cached = keys
            .by_hash
            .get(&hash)
            .ok_or(AuthError::Refused(KeyRefused::Unknown))?;
        cached.grant.principal(now)?;
        cached
            .used_at_ms
            .store(now.timestamp_millis(), Ordering::Relaxed);
        Ok(cached.grant.clone())
    }

    /// Opens a portal session of its tenant with a tenant key pasted into the portal's sign-in
    /// form: a portal key under it, usable here at once.
    pub async fn sign_in(
        &self,
        cluster: Arc<Cluster>,
        key: &str,
        now: DateTime<Utc>,
        session_seconds: i64,
    ) -> Result<IssuedKey, SessionError> {
        let parent = self.grant(key, now)?;
        let tenant = parent
            .binding
            .tenant()
            .ok_or(SessionError::Refused(SessionRefused::NotATenantKey(
                parent.role,
            )))?
            .to_owned();
        let spec = session_spec(&parent, &tenant, false, now, session_seconds)?;
        let created_by = format!("key:{}", parent.key_id);
        Ok(self.issue(cluster, spec, created_by, now).await?)
    }

    /// Mints a one-time sign-in link to `tenant`'s portal for the key `minted_by`, valid until
    /// `expires_at`.
    pub async fn mint_link(
        &self,
        minted_by: &Principal,
        tenant: String,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<LinkToken, SessionError> {
        check_mint(minted_by.role, &minted_by.binding, &tenant)?;
        let key_id = minted_by.key_id;
        Ok(with_conn(&self.shared.pool, move |conn| {
            portal_links::mint(conn, &tenant, key_id, now, expires_at)
        })
        .await?)
    }

    /// Exchanges a minted link's token for its session, usable here at once.
    pub async fn redeem_link(
        &self,
        cluster: Arc<Cluster>,
        token: String,
        now: DateTime<Utc>,
        session_seconds: i64,
    ) -> Result<IssuedKey, LinkError> {
        let issued = with_conn(&self.shared.pool, move |conn| {
            portal_links::redeem(conn, &cluster, &token, now, session_seconds)
        })
        .await?;
        let (hash, grant) = (issued.secret.hash(), issued.key.grant());
        self.edit(|by_hash| {
            by_hash.insert(hash, CachedKey::new(grant));
        });
        Ok(issued)
    }

    /// Issues a key (`keys::issue`) and makes it usable on this instance at once.
    pub async fn issue(
        &self,
        cluster: Arc<Cluster>,
        spec: KeySpec,
        created_by: String,
        now: DateTime<Utc>,
    ) -> Result<IssuedKey, AccessError> {
        let issued = with_conn(&self.shared.pool, move |conn| {
            keys::issue(conn, &cluster, &spec, &created_by, now)
        })
        .await?;
        let (hash, grant) = (issued.secret.hash(), issued.key.grant());
        self.edit(|by_hash| {
            by_hash.insert(hash, CachedKey::new(grant));
        });
        Ok(issued)
    }

    /// Revokes a key (`keys::revoke`), at once on this instance.
    pub async fn revoke(&self, key_id: Uuid, now: DateTime<Utc>) -> Result<Revoked, AccessError> {
        let revoked = with_conn(&self.shared.pool, move |conn| {
            keys::revoke(conn, key_id, now)
        })
        .await?;
        if let Some(revoked_at) = revoked.key.revoked_at {
            self.revoke_here(key_id, revoked_at);
            for session in &revoked.sessions_ended {
                self.revoke_here(*session, revoked_at);
            }
        }
        Ok(revoked)
    }

    fn revoke_here(&self, key_id: Uuid, revoked_at: DateTime<Utc>) {
        self.edit(|by_hash| {
            for cached in by_hash.values_mut() {
                if cached.grant.key_id == key_id {
                    let mut grant = cached.grant.clone();
                    grant.revoked_at = Some(revoked_at);
                    *cached = CachedKey::new(grant);
                }
            }
        });
    }

    /// Writes the uses recorded since the last read, then re-reads every key.
    pub async fn refresh(&self) -> Result<(), AccessError> {
        let started = Instant::now();
        let uses = self.take_uses();
        let grants = with_conn(&self.shared.pool, move |conn| {
            if let Err(error) = keys::record_last_used(conn, &uses) {
                // Last use is informative; failing to record it must not stop authentication.
                tracing::warn!(%error, keys = uses.len(), "cannot record when API keys were last used");
            }
            keys::load_grants(conn, Utc::now())
        })
        .await?;
        let by_hash = grants
            .into_iter()
            .map(|(hash, grant)| (hash, CachedKey::new(grant)))
            .collect();
        let mut slot = self.write_slot();
        // A slower read started earlier must not replace a fresher one.
        if slot.read_at <= started {
            *slot = Arc::new(KeyCopy {
                by_hash,
                read_at: started,
            });
        }
        Ok(())
    }

    /// Re-reads the keys every `auth.key_refresh_ms` until shutdown, then writes the last uses.
    pub fn spawn_refresh(&self, mut shutdown: Shutdown) -> tokio::task::JoinHandle<()> {
        let authenticator = self.clone();
        tokio::spawn(async move {
            let mut failures = 0u64;
            let mut ticker = tokio::time::interval(authenticator.shared.refresh);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticker.tick() => {}
                    _ = shutdown.triggered() => break,
                }
                match authenticator.refresh().await {
                    Ok(()) => failures = 0,
                    Err(error) => {
                        failures += 1;
                        if failures == 1 || failures.is_multiple_of(30) {
                            tracing::error!(%error, failures, "cannot re-read the API keys");
                        }
                    }
                }
            }
            if let Err(error) = authenticator.refresh().await {
                tracing::warn!(%error, "cannot write the API keys' last uses at shutdown");
            }
        })
    }

    fn copy(&self) -> Arc<KeyCopy> {
        // The slot only ever holds a whole copy (it is replaced, never edited in place), so a
        // panic while it was held cannot have left it half-written.
        self.shared
            .keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn write_slot(&self) -> std::sync::RwLockWriteGuard<'_, Arc<KeyCopy>> {
        self.shared
            .keys
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn edit(&self, change: impl FnOnce(&mut HashMap<KeyHash, Arc<CachedKey>>)) {
        let mut slot = self.write_slot();
        let mut by_hash = slot.by_hash.clone();
        change(&mut by_hash);
        *slot = Arc::new(KeyCopy {
            by_hash,
            read_at: slot.read_at,
        });
    }

    fn take_uses(&self) -> Vec<(Uuid, DateTime<Utc>)> {
        self.copy()
            .by_hash
            .values()
            .filter_map(|cached| {
                let millis = cached.used_at_ms.swap(0, Ordering::Relaxed);
                let at = Utc.timestamp_millis_opt(millis).single()?;
                (millis != 0).then_some((cached.grant.key_id, at))
            })
            .collect()
    }
}
