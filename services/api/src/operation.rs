//! What the route table is made of: an operation of the API (method, path, the access it
//! demands, the id of the path the key must be bound to, whether it changes state). The route
//! table (`routes::OPERATIONS`) lists them; access control and the audit trail read them.

use actix_web::Route;
use actix_web::http::Method;
use gpubill_domain::access::Access;

/// Which id of the path the caller's key must be bound to, beyond its role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Nothing beyond the role.
    None,
    /// `{tenant}`: tenant and portal keys only their own.
    Tenant,
    /// `{node}`: node keys only their own.
    Node,
    /// The resource's tenant, known once the handler has read it (an invoice by number, an
    /// allocation by id, the tenant of a body); the handler checks it with the `Caller`.
    Handler,
}

/// One operation of the API.
#[derive(Debug)]
pub struct Operation {
    pub method: Method,
    pub path: &'static str,
    pub access: Access,
    pub target: Target,
    /// Changes state: written to the audit trail.
    pub audited: bool,
    pub handler: fn() -> Route,
}

impl Operation {
    /// Whether the operation takes an `Idempotency-Key`: the POSTs that change state.
    pub fn takes_idempotency_key(&self) -> bool {
        self.audited && self.method == Method::POST && !ANSWERS_A_SECRET.contains(&self.path)
    }
}

/// Routes whose answer holds a secret shown once (an API key, a sign-in link): their answers are
/// never stored for `Idempotency-Key` replays, which would keep the secret in clear; a retry
/// makes a new one.
const ANSWERS_A_SECRET: [&str; 2] = ["/v1/api-keys", "/v1/tenants/{tenant}/portal-sessions"];
