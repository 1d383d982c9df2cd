//! Who may call what: API key roles, the key format and its hash, a stored key's validity at an
//! instant, and the decision whether a caller may use a route and see its target. Pure: the
//! key's randomness comes from the caller, and so does `now`.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::fmt;
use uuid::Uuid;

/// Every key starts with this, then the role and `_`.
pub const KEY_PREFIX: &str = "gpb_";
/// Bytes of OS randomness in a key: 256 bits.
pub const KEY_SECRET_BYTES: usize = 32;
/// Hex characters of the secret kept in the clear for display (`gpb_tenant_3f9a1c2b…`): enough
/// to tell keys apart in a list, leaving 224 bits unknown.
pub const DISPLAY_SECRET_CHARS: usize = 8;

/// What a key may do; exactly one per key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Everything, including node states, keys and the audit log.
    Admin,
    /// Reads every tenant; finalizes, voids, grants credit, sets contracts.
    Finance,
    /// One tenant's own usage, invoices, credit, contract (read) and allocations.
    Tenant,
    /// One node's agent: the allocations placed on its node.
    Node,
    /// One tenant, read-only and short-lived: the customer portal.
    Portal,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Finance,
        Role::Tenant,
        Role::Node,
        Role::Portal,
    ];

    pub fn code(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Finance => "finance",
            Role::Tenant => "tenant",
            Role::Node => "node",
            Role::Portal => "portal",
        }
    }

    pub fn from_code(code: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.code() == code)
    }

    /// What the role is bound to: a tenant, a node, or nothing.
    pub fn binding_kind(self) -> BindingKind {
        match self {
            Role::Admin | Role::Finance => BindingKind::None,
            Role::Tenant | Role::Portal => BindingKind::Tenant,
            Role::Node => BindingKind::Node,
        }
    }

    /// `gpb_<role>_`.
    pub fn key_prefix(self) -> String {
        format!("{KEY_PREFIX}{}_", self.code())
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindingKind {
    None,
    Tenant,
    Node,
}

/// The one tenant or node a key is bound to, if its role is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Binding {
    None,
    Tenant(String),
    Node(String),
}

impl Binding {
    pub fn kind(&self) -> BindingKind {
        match self {
            Binding::None => BindingKind::None,
            Binding::Tenant(_) => BindingKind::Tenant,
            Binding::Node(_) => BindingKind::Node,
        }
    }

    pub fn tenant(&self) -> Option<&str> {
        match self {
            Binding::Tenant(tenant) => Some(tenant),
            _ => None,
        }
    }

    pub fn node(&self) -> Option<&str> {
        match self {
            Binding::Node(node) => Some(node),
            _ => None,
        }
    }
}

/// SHA-256 of the whole key text: all the database keeps of a key besides its display prefix.
/// A key carries 256 random bits, so a fast hash is enough; no salt or stretching is needed.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyHash(pub [u8; 32]);

impl KeyHash {
    pub fn of(key_text: &str) -> KeyHash {
        KeyHash(Sha256::digest(key_text.as_bytes()).into())
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyHash({:02x}{:02x}…)", self.0[0], self.0[1])
    }
}

/// A key in the clear, as shown once at creation. Its `Debug` hides the secret, so it cannot
/// reach a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct KeySecret {
    role: Role,
    text: String,
}

/// `bytes` as lower-case hex digits, two per byte: how keys, tokens and digests are written.
pub fn lower_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

impl KeySecret {
    /// The key of `role` made of `random` (from the OS RNG): `gpb_<role>_<64 hex digits>`.
    pub fn new(role: Role, random: [u8; KEY_SECRET_BYTES]) -> KeySecret {
        let text = role.key_prefix() + &lower_hex(&random);
        KeySecret { role, text }
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// The key itself: print it once, never store or log it.
    pub fn expose(&self) -> &str {
        &self.text
    }

    pub fn hash(&self) -> KeyHash {
        KeyHash::of(&self.text)
    }

    /// `gpb_<role>_` and the first secret characters, for lists and logs.
    pub fn display_prefix(&self) -> String {
        let prefix_len = self.role.key_prefix().len() + DISPLAY_SECRET_CHARS;
        self.text[..prefix_len].to_owned()
    }
}

impl fmt::Debug for KeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeySecret({}…)", self.display_prefix())
    }
}

/// Why a presented credential is not a key at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyFormatError {
    #[error("an API key starts with `gpb_<role>_`")]
    Prefix,
    #[error("an API key has 64 lower-case hex digits after `gpb_<role>_`")]
    Secret,
}

/// Checks that `text` has the shape of a key and returns its role and hash; whether such a key
/// exists is for the key store to say.
pub fn parse_key(text: &str) -> Result<(Role, KeyHash), KeyFormatError> {
    let rest = text
        .strip_prefix(KEY_PREFIX)
        .ok_or(KeyFormatError::Prefix)?;
    let (role, secret) = rest.split_once('_').ok_or(KeyFormatError::Prefix)?;
    let role = Role::from_code(role).ok_or(KeyFormatError::Prefix)?;
    let hex = |c: char| c.is_ascii_digit() || ('a'..='f').contains(&c);
    if secret.len() != 2 * KEY_SECRET_BYTES || !secret.chars().all(hex) {
        return Err(KeyFormatError::Secret);
    }
    Ok((role, KeyHash::of(text)))
}

/// A stored key as the authenticator needs it: no secret, no hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyGrant {
    pub key_id: Uuid,
    pub role: Role,
    pub binding: Binding,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Why a well-formed key is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyRefused {
    #[error("the API key is not known")]
    Unknown,
    #[error("the API key was revoked")]
    Revoked,
    #[error("the API key has expired")]
    Expired,
}

impl KeyGrant {
    /// The caller this key identifies at `now`, unless it was revoked or has expired.
    pub fn principal(&self, now: DateTime<Utc>) -> Result<Principal, KeyRefused> {
        if self.revoked_at.is_some_and(|revoked| revoked <= now) {
            return Err(KeyRefused::Revoked);
        }
        if self.expires_at.is_some_and(|expires| expires <= now) {
            return Err(KeyRefused::Expired);
        }
        Ok(Principal {
            key_id: self.key_id,
            role: self.role,
            binding: self.binding.clone(),
        })
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub key_id: Uuid,
    pub role: Role,
    pub binding: Binding,
}

/// What a route demands of its caller, by role. Which tenant or node it concerns is checked
/// separately ([`Principal::sees_tenant`], [`Principal::sees_node`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No key: reveals nothing (`/healthz`).
    Public,
    /// Reading a tenant's billing data: admin, finance, and the tenant's own tenant and portal keys.
    TenantRead,
    /// Acting for a tenant on its GPUs (allocations): admin and the tenant's own tenant key.
    TenantAct,
    /// Opening a tenant's portal session (minting a sign-in link): admin, finance and the
    /// tenant's own tenant key; not a portal key, so a session cannot extend itself.
    PortalMint,
    /// Finance's work across tenants: admin and finance.
    Finance,
    /// A node's agent reading what to meter: admin and that node's key.
    NodeRead,
    /// Operating the cluster and the keys: admin.
    Admin,
}

impl Access {
    /// Whether `role` may use a route of this kind at all. A role refused here gets 403.
    pub fn allows(self, role: Role) -> bool {
        use Role::*;
        match self {
            Access::Public => true,
            Access::TenantRead => matches!(role, Admin | Finance | Tenant | Portal),
            Access::TenantAct => matches!(role, Admin | Tenant),
            Access::PortalMint => matches!(role, Admin | Finance | Tenant),
            Access::Finance => matches!(role, Admin | Finance),
            Access::NodeRead => matches!(role, Admin | Node),
            Access::Admin => matches!(role, Admin),
        }
    }
}

impl Principal {
    /// Whether the caller may see `tenant`'s data: every tenant for admin and finance, its own
    /// for tenant and portal keys, none for a node. A tenant the caller may not see must be
    /// answered as if it did not exist, so other tenants' ids cannot be probed.
    pub fn sees_tenant(&self, tenant: &str) -> bool {
        match (&self.role, &self.binding) {
            (Role::Admin | Role::Finance, _) => true,
            (Role::Tenant | Role::Portal, Binding::Tenant(own)) => own == tenant,
            _ => false,
        }
    }

    /// Whether the caller may see `node`: every node for admin, its own for a node key.
    pub fn sees_node(&self, node: &str) -> bool {
        match (&self.role, &self.binding) {
            (Role::Admin, _) => true,
            (Role::Node, Binding::Node(own)) => own == node,
            _ => false,
        }
    }

    /// The one tenant the caller is confined to, if any.
    pub fn tenant(&self) -> Option<&str> {
        match self.role {
            Role::Tenant | Role::Portal => self.binding.tenant(),
            _ => None,
        }
    }
}

/// Why a key cannot be created as asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeySpecError {
    #[error("a {role} key must be bound to a {expected}")]
    MissingBinding { role: Role, expected: &'static str },
    #[error("a {role} key cannot be bound to a {given}")]
    UnexpectedBinding { role: Role, given: &'static str },
    #[error("a portal key must expire")]
    PortalWithoutExpiry,
    #[error("only a portal session is opened under another key, not a {0} key")]
    ParentOfNonPortal(Role),
    #[error("the expiry must be after the creation")]
    ExpiryNotAfterCreation,
    #[error("the label has {chars} characters; at most {max}")]
    LabelTooLong { chars: usize, max: usize },
    #[error("a key's lifetime is 1 to {MAX_KEY_LIFETIME_SECONDS} seconds (ten years); got {0}")]
    LifetimeOutOfRange(i64),
}

/// Longest lifetime a key may be given: ten years.
pub const MAX_KEY_LIFETIME_SECONDS: i64 = 10 * 366 * 86_400;

/// When a key of `role` created at `now` expires: after `lifetime_seconds` if given, never if
/// not, except a portal key, which always expires (after `portal_default_seconds` by default).
pub fn key_expiry(
    role: Role,
    now: DateTime<Utc>,
    lifetime_seconds: Option<i64>,
    portal_default_seconds: i64,
) -> Result<Option<DateTime<Utc>>, KeySpecError> {
    let lifetime = match (lifetime_seconds, role) {
        (Some(seconds), _) => seconds,
        (None, Role::Portal) => portal_default_seconds,
        (None, _) => return Ok(None),
    };
    if !(1..=MAX_KEY_LIFETIME_SECONDS).contains(&lifetime) {
        return Err(KeySpecError::LifetimeOutOfRange(lifetime));
    }
    Ok(Some(now + chrono::Duration::seconds(lifetime)))
}

/// Longest key label.
pub const MAX_LABEL_CHARS: usize = 100;

/// What a new key will be, checked before anything is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpec {
    pub role: Role,
    pub binding: Binding,
    pub expires_at: Option<DateTime<Utc>>,
    pub label: String,
    /// The key a portal session was opened with: revoking it ends the session.
    pub parent: Option<Uuid>,
}

impl KeySpec {
    /// Checks the spec for a key created at `now`: the role's binding, a portal key's expiry,
    /// the label's length.
    pub fn check(&self, now: DateTime<Utc>) -> Result<(), KeySpecError> {
        let kind_name = |kind: BindingKind| match kind {
            BindingKind::None => "nothing",
            BindingKind::Tenant => "tenant",
            BindingKind::Node => "node",
        };
        let expected = self.role.binding_kind();
        let given = self.binding.kind();
        if expected != given {
            return Err(if given == BindingKind::None {
                KeySpecError::MissingBinding {
                    role: self.role,
                    expected: kind_name(expected),
                }
            } else {
                KeySpecError::UnexpectedBinding {
                    role: self.role,
                    given: kind_name(given),
                }
            });
        }
        if self.role == Role::Portal && self.expires_at.is_none() {
            return Err(KeySpecError::PortalWithoutExpiry);
        }
        if self.parent.is_some() && self.role != Role::Portal {
            return Err(KeySpecError::ParentOfNonPortal(self.role));
        }
        if self.expires_at.is_some_and(|expires| expires <= now) {
            return Err(KeySpecError::ExpiryNotAfterCreation);
        }
        let chars = self.label.chars().count();
        if chars > MAX_LABEL_CHARS {
            return Err(KeySpecError::LabelTooLong {
                chars,
                max: MAX_LABEL_CHARS,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().expect("a test instant")
    }

    fn principal(role: Role, binding: Binding) -> Principal {
        Principal {
            key_id: Uuid::nil(),
            role,
            binding,
        }
    }

    #[test]
    fn a_key_is_its_role_prefix_and_64_hex_digits_and_parses_back_to_its_hash() {
        let key = KeySecret::new(Role::Tenant, [0xab; KEY_SECRET_BYTES]);
        assert!(key.expose().starts_with("gpb_tenant_abab"));
        assert_eq!(key.expose().len(), "gpb_tenant_".len() + 64);
        assert_eq!(key.display_prefix(), "gpb_tenant_abababab");
        assert_eq!(parse_key(key.expose()), Ok((Role::Tenant, key.hash())));
        assert!(!format!("{key:?}").contains(key.expose()));
    }

    #[test]
    fn malformed_keys_are_refused_before_any_lookup() {
        let good = KeySecret::new(Role::Node, [0xcd; KEY_SECRET_BYTES]);
        let text = good.expose();
        assert_eq!(parse_key("Bearer"), Err(KeyFormatError::Prefix));
        assert_eq!(
            parse_key(&text.replace("node", "root")),
            Err(KeyFormatError::Prefix)
        );
        assert_eq!(
            parse_key(&text[..text.len() - 1]),
            Err(KeyFormatError::Secret)
        );
        let upper = format!("gpb_node_{}", text["gpb_node_".len()..].to_uppercase());
        assert_eq!(parse_key(&upper), Err(KeyFormatError::Secret));
        assert_eq!(parse_key(&format!("{text}0")), Err(KeyFormatError::Secret));
    }

    #[test]
    fn revoked_and_expired_keys_identify_nobody() {
        let grant = KeyGrant {
            key_id: Uuid::nil(),
            role: Role::Finance,
            binding: Binding::None,
            expires_at: Some(at("2026-12-01T12:00:00Z")),
            revoked_at: None,
        };
        assert!(grant.principal(at("2026-12-01T11:59:59Z")).is_ok());
        assert_eq!(
            grant.principal(at("2026-12-01T12:00:00Z")),
            Err(KeyRefused::Expired)
        );
        let revoked = KeyGrant {
            revoked_at: Some(at("2026-12-01T10:00:00Z")),
            ..grant
        };
        assert_eq!(
            revoked.principal(at("2026-12-01T10:00:00Z")),
            Err(KeyRefused::Revoked)
        );
    }

    #[test]
    fn each_role_reaches_exactly_its_kinds_of_route() {
        // Columns: admin, finance, tenant, node, portal.
        let table = [
            (Access::Public, [true, true, true, true, true]),
            (Access::TenantRead, [true, true, true, false, true]),
            (Access::TenantAct, [true, false, true, false, false]),
            (Access::PortalMint, [true, true, true, false, false]),
            (Access::Finance, [true, true, false, false, false]),
            (Access::NodeRead, [true, false, false, true, false]),
            (Access::Admin, [true, false, false, false, false]),
        ];
        for (access, expected) in table {
            let actual = Role::ALL.map(|role| access.allows(role));
            assert_eq!(actual, expected, "{access:?}");
        }
    }

    #[test]
    fn tenant_and_portal_keys_see_their_own_tenant_only_and_node_keys_their_own_node() {
        let tenant = principal(Role::Tenant, Binding::Tenant("helix-bio".into()));
        let portal = principal(Role::Portal, Binding::Tenant("helix-bio".into()));
        let node = principal(Role::Node, Binding::Node("node-001".into()));
        let finance = principal(Role::Finance, Binding::None);
        let admin = principal(Role::Admin, Binding::None);
        for own in [&tenant, &portal] {
            assert!(own.sees_tenant("helix-bio"));
            assert!(!own.sees_tenant("nordic-nlp"));
            assert!(!own.sees_node("node-001"));
            assert_eq!(own.tenant(), Some("helix-bio"));
        }
        assert!(node.sees_node("node-001") && !node.sees_node("node-002"));
        assert!(!node.sees_tenant("helix-bio"));
        assert!(finance.sees_tenant("nordic-nlp") && !finance.sees_node("node-001"));
        assert!(admin.sees_tenant("nordic-nlp") && admin.sees_node("node-001"));
        assert_eq!(finance.tenant(), None);
    }

    #[test]
    fn a_portal_key_always_expires_and_lifetimes_are_bounded() {
        let now = at("2026-12-01T00:00:00Z");
        assert_eq!(key_expiry(Role::Tenant, now, None, 3600), Ok(None));
        assert_eq!(
            key_expiry(Role::Portal, now, None, 3600),
            Ok(Some(at("2026-12-01T01:00:00Z")))
        );
        assert_eq!(
            key_expiry(Role::Node, now, Some(86_400), 3600),
            Ok(Some(at("2026-12-02T00:00:00Z")))
        );
        for refused in [0, -5, MAX_KEY_LIFETIME_SECONDS + 1, i64::MAX] {
            assert_eq!(
                key_expiry(Role::Admin, now, Some(refused), 3600),
                Err(KeySpecError::LifetimeOutOfRange(refused))
            );
        }
    }

    #[test]
    fn a_key_spec_needs_its_roles_binding_and_a_portal_key_an_expiry() {
        let now = at("2026-12-01T00:00:00Z");
        let spec = |role, binding, expires_at| KeySpec {
            role,
            binding,
            expires_at,
            label: String::new(),
            parent: None,
        };
        let tenant = || Binding::Tenant("helix-bio".into());
        assert!(spec(Role::Tenant, tenant(), None).check(now).is_ok());
        assert!(matches!(
            spec(Role::Tenant, Binding::None, None).check(now),
            Err(KeySpecError::MissingBinding { .. })
        ));
        assert!(matches!(
            spec(Role::Admin, tenant(), None).check(now),
            Err(KeySpecError::UnexpectedBinding { .. })
        ));
        assert!(matches!(
            spec(Role::Node, tenant(), None).check(now),
            Err(KeySpecError::UnexpectedBinding { .. })
        ));
        assert_eq!(
            spec(Role::Portal, tenant(), None).check(now),
            Err(KeySpecError::PortalWithoutExpiry)
        );
        assert_eq!(
            spec(Role::Admin, Binding::None, Some(now)).check(now),
            Err(KeySpecError::ExpiryNotAfterCreation)
        );
        let long = KeySpec {
            label: "x".repeat(MAX_LABEL_CHARS + 1),
            ..spec(Role::Finance, Binding::None, None)
        };
        assert!(matches!(
            long.check(now),
            Err(KeySpecError::LabelTooLong { .. })
        ));
    }
}
