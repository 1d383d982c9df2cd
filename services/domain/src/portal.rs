//! The customer portal's sessions, decided: who may open one for which tenant, how long a session
//! and a minted sign-in link live, the one-time link token and the CSRF token bound to a session.
//! A session is a portal key (read-only, one tenant, always expiring) whose parent is the key it
//! was opened with.

use crate::access::{Binding, KeyGrant, KeySpec, Role, lower_hex};
use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};

/// Prefix of a sign-in link's one-time token; 64 lower-case hex digits follow.
pub const LINK_TOKEN_PREFIX: &str = "gpl_";
/// Random bytes of a link token.
pub const LINK_TOKEN_BYTES: usize = 32;

/// Why a portal session cannot be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionRefused {
    /// Only a tenant key opens its tenant's portal by sign-in; admin and finance mint links.
    #[error("a {0} key cannot sign in to the portal: use a tenant API key")]
    NotATenantKey(Role),
    /// A portal key (a session) cannot open another session.
    #[error("a {0} key cannot open a portal session")]
    RoleCannot(Role),
    /// The key may not see the tenant.
    #[error("the key is not bound to tenant `{0}`")]
    OtherTenant(String),
    /// The parent expires too soon for a session to be worth opening.
    #[error("the key expires at {0}: too soon to open a session under it")]
    ParentExpiring(DateTime<Utc>),
}

/// Shortest session worth opening: a key about to expire opens none.
const SHORTEST_SESSION: Duration = Duration::seconds(60);

/// The portal key of a session for `tenant` opened at `now` under `parent` (already
/// authenticated): it expires after `session_seconds`, or with its parent if that is sooner.
/// `via_link` is true when a link minted by `parent` is being redeemed (admin and finance may
/// mint one for any tenant); a sign-in by pasting a key needs the tenant's own key.
pub fn session_spec(
    parent: &KeyGrant,
    tenant: &str,
    via_link: bool,
    now: DateTime<Utc>,
    session_seconds: i64,
) -> Result<KeySpec, SessionRefused> {
    check_mint(parent.role, &parent.binding, tenant)?;
    if !via_link && parent.role != Role::Tenant {
        return Err(SessionRefused::NotATenantKey(parent.role));
    }
    let mut expires_at = now + Duration::seconds(session_seconds);
    if let Some(parent_expiry) = parent.expires_at {
        if parent_expiry - now < SHORTEST_SESSION {
            return Err(SessionRefused::ParentExpiring(parent_expiry));
        }
        expires_at = expires_at.min(parent_expiry);
    }
    Ok(KeySpec {
        role: Role::Portal,
        binding: Binding::Tenant(tenant.to_owned()),
        expires_at: Some(expires_at),
        label: if via_link {
            "portal session (link)".to_owned()
        } else {
            "portal session (sign-in)".to_owned()
        },
        parent: Some(parent.key_id),
    })
}

/// Who may mint a link for `tenant`: the same keys as may redeem one, checked before minting so
/// that a link that could never be used is not made.
pub fn check_mint(role: Role, binding: &Binding, tenant: &str) -> Result<(), SessionRefused> {
    match (role, binding) {
        (Role::Tenant, Binding::Tenant(own)) if own != tenant => {
            Err(SessionRefused::OtherTenant(tenant.to_owned()))
        }
        (Role::Tenant | Role::Admin | Role::Finance, _) => Ok(()),
        (role, _) => Err(SessionRefused::RoleCannot(role)),
    }
}

/// A new link token made of `random`: its text (the prefix and 64 hex digits) and the hash
/// that is stored.
pub fn new_link_token(random: &[u8; LINK_TOKEN_BYTES]) -> (String, [u8; 32]) {
    let text = format!("{LINK_TOKEN_PREFIX}{}", lower_hex(random));
    let hash = Sha256::digest(text.as_bytes()).into();
    (text, hash)
}

/// The stored form of a link token (its SHA-256), if `text` has a token's shape.
pub fn link_token_hash(text: &str) -> Option<[u8; 32]> {
    let hex = text.strip_prefix(LINK_TOKEN_PREFIX)?;
    let shaped = hex.len() == 2 * LINK_TOKEN_BYTES
        && hex
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c));
    shaped.then(|| Sha256::digest(text.as_bytes()).into())
}

/// The CSRF token of the session whose cookie holds `session_key`: derived from the secret, so
/// the server keeps no state for it and a page of another session cannot forge it.
pub fn csrf_token(session_key: &str) -> String {
    let digest = Sha256::digest(format!("gpubill-portal-csrf\0{session_key}").as_bytes());
    lower_hex(&digest)
}

/// Whether two tokens are equal, in time independent of where they differ.
pub fn tokens_match(expected: &str, given: &str) -> bool {
    expected.len() == given.len()
        && expected
            .bytes()
            .zip(given.bytes())
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("a test instant")
    }

    fn grant(role: Role, binding: Binding, expires_at: Option<DateTime<Utc>>) -> KeyGrant {
        KeyGrant {
            key_id: Uuid::from_u128(7),
            role,
            binding,
            expires_at,
            revoked_at: None,
        }
    }

    #[test]
    fn a_session_is_a_portal_key_of_the_tenant_that_never_outlives_its_parent() {
        let now = at("2026-12-07T10:00:00Z");
        let tenant = grant(Role::Tenant, Binding::Tenant("helix-bio".into()), None);
        let spec = session_spec(&tenant, "helix-bio", false, now, 3600).expect("own tenant");
        assert_eq!(spec.role, Role::Portal);
        assert_eq!(spec.binding, Binding::Tenant("helix-bio".into()));
        assert_eq!(spec.expires_at, Some(at("2026-12-07T11:00:00Z")));
        assert_eq!(spec.parent, Some(Uuid::from_u128(7)));
        assert!(spec.check(now).is_ok());

        let short = grant(
            Role::Tenant,
            Binding::Tenant("helix-bio".into()),
            Some(at("2026-12-07T10:20:00Z")),
        );
        let spec = session_spec(&short, "helix-bio", true, now, 3600).expect("20 minutes left");
        assert_eq!(spec.expires_at, Some(at("2026-12-07T10:20:00Z")));
        let expiring = grant(
            Role::Tenant,
            Binding::Tenant("helix-bio".into()),
            Some(at("2026-12-07T10:00:30Z")),
        );
        assert!(matches!(
            session_spec(&expiring, "helix-bio", false, now, 3600),
            Err(SessionRefused::ParentExpiring(_))
        ));
    }

    #[test]
    fn only_the_tenants_own_key_signs_in_and_finance_or_admin_only_through_a_link() {
        let now = at("2026-12-07T10:00:00Z");
        let tenant = grant(Role::Tenant, Binding::Tenant("helix-bio".into()), None);
        assert_eq!(
            session_spec(&tenant, "nordic-nlp", true, now, 3600),
            Err(SessionRefused::OtherTenant("nordic-nlp".into()))
        );
        assert!(check_mint(tenant.role, &tenant.binding, "nordic-nlp").is_err());
        for role in [Role::Admin, Role::Finance] {
            let key = grant(role, Binding::None, None);
            assert!(check_mint(key.role, &key.binding, "nordic-nlp").is_ok());
            assert!(session_spec(&key, "nordic-nlp", true, now, 3600).is_ok());
            assert_eq!(
                session_spec(&key, "nordic-nlp", false, now, 3600),
                Err(SessionRefused::NotATenantKey(role))
            );
        }
        let portal = grant(
            Role::Portal,
            Binding::Tenant("helix-bio".into()),
            Some(at("2026-12-07T11:00:00Z")),
        );
        assert_eq!(
            session_spec(&portal, "helix-bio", false, now, 3600),
            Err(SessionRefused::RoleCannot(Role::Portal))
        );
        assert!(check_mint(portal.role, &portal.binding, "helix-bio").is_err());
        let node = grant(Role::Node, Binding::Node("node-001".into()), None);
        assert!(check_mint(node.role, &node.binding, "helix-bio").is_err());
    }

    #[test]
    fn link_tokens_have_a_shape_and_csrf_tokens_differ_per_session() {
        let (token, hash) = new_link_token(&[0xab; LINK_TOKEN_BYTES]);
        assert_eq!(token.len(), 4 + 64);
        assert_eq!(link_token_hash(&token), Some(hash));
        assert!(link_token_hash(&token.to_uppercase()).is_none());
        assert!(link_token_hash(&token[..token.len() - 1]).is_none());
        assert!(link_token_hash("gpb_tenant_00").is_none());
        let (a, b) = (csrf_token("gpb_portal_aa"), csrf_token("gpb_portal_ab"));
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert!(tokens_match(&a, &csrf_token("gpb_portal_aa")));
        assert!(!tokens_match(&a, &b));
        assert!(!tokens_match(&a, ""));
    }
}
