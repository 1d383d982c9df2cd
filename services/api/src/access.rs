//! Access control on every route: each path's operations come from the route table
//! (`routes::OPERATIONS`) with the access each demands. Before the handler runs, the caller's key
//! is authenticated from memory (401 without a usable key), its role checked against the
//! operation (403), and the `{tenant}` or `{node}` of the path against what the key is bound to
//! (404, in the words used for one that does not exist). The handler gets the [`Caller`]. After
//! it has answered, a state-changing operation is written to the audit trail with the status.

use crate::AppState;
use crate::envelope::{RequestId, from_extensions};
use crate::error::ApiError;
use crate::idempotency;
use crate::operation::{Operation, Target};
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{AUTHORIZATION, CACHE_CONTROL, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use chrono::Utc;
use gpubill_access::audit::{self, Actor, AuditRecord};
use gpubill_domain::access::{Access, Principal};
use gpubill_platform::db::with_conn;
use gpubill_schema::api::ErrorCode;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::{Ready, ready};
use std::rc::Rc;
use tracing::Instrument;

/// The authenticated caller of a route, as its handler sees it.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    /// Ids the handler names for the audit trail, besides the path's; `None` on a route that
    /// is not audited.
    notes: Option<Rc<RefCell<BTreeMap<String, String>>>>,
}

impl Caller {
    /// Fails, as for a tenant that does not exist, unless the caller may see `tenant`.
    pub fn require_tenant(&self, tenant: &str) -> Result<(), ApiError> {
        if self.principal.sees_tenant(tenant) {
            self.note("tenant", tenant);
            Ok(())
        } else {
            Err(ApiError::tenant_not_found(tenant))
        }
    }

    /// Whether the caller may see what belongs to `tenant`.
    pub fn sees_tenant(&self, tenant: &str) -> bool {
        self.principal.sees_tenant(tenant)
    }

    /// The only tenant whose resources the caller may touch; `None` for every tenant.
    pub fn tenant_scope(&self) -> Option<&str> {
        self.principal.tenant()
    }

    /// Names an id the request concerns or created, for the audit trail.
    pub fn note(&self, name: &str, id: impl std::fmt::Display) {
        if let Some(notes) = &self.notes {
            notes.borrow_mut().insert(name.to_owned(), id.to_string());
        }
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        ready(from_extensions(request))
    }
}

/// The operation of `operations` (those of one path) that `method` names; HEAD is GET's.
fn operation_for(operations: &[&'static Operation], method: &Method) -> Option<&'static Operation> {
    let method = if method == Method::HEAD {
        &Method::GET
    } else {
        method
    };
    operations.iter().copied().find(|op| op.method == method)
}

/// The middleware of one path: see the module's documentation.
pub async fn guard(
    operations: Rc<Vec<&'static Operation>>,
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if let Some(first) = operations.first() {
        request
            .extensions_mut()
            .insert(crate::metrics::MatchedRoute(first.path));
    }
    let Some(operation) = operation_for(&operations, request.method()) else {
        let allow: Vec<&str> = operations.iter().map(|op| op.method.as_str()).collect();
        let error = ApiError::MethodNotAllowed {
            method: request.method().to_string(),
            allow: allow.join(", "),
        };
        return Ok(request.error_response(error));
    };
    if operation.access == Access::Public {
        return Ok(next.call(request).await?.map_into_boxed_body());
    }
    let (Some(state), Some(request_id)) = (
        request.app_data::<web::Data<AppState>>().cloned(),
        request.extensions().get::<RequestId>().copied(),
    ) else {
        return Ok(request.error_response(ApiError::Internal(
            "a route outside the application's envelope".into(),
        )));
    };
    let audit = |principal: Principal| Audit {
        state: state.clone(),
        operation,
        principal,
        request_id,
    };
    let principal = match authorize(&state, operation, &request).map_err(|refusal| *refusal) {
        Ok(principal) => principal,
        Err((error, None)) => return Ok(request.error_response(error)),
        Err((error, Some(principal))) => {
            let response = request.error_response(error);
            audit(principal).record(&response, &BTreeMap::new()).await;
            return Ok(response);
        }
    };
    let notes = operation
        .audited
        .then(|| Rc::new(RefCell::new(BTreeMap::new())));
    request.extensions_mut().insert(Caller {
        principal: principal.clone(),
        notes: notes.clone(),
    });
    let span = tracing::info_span!(
        "change",
        request_id = %request_id.0,
        key_id = %principal.key_id,
        role = %principal.role,
        action = %operation.path,
    );
    let call = |request: ServiceRequest| async move {
        let answered = if operation.audited {
            next.call(request).instrument(span).await
        } else {
            next.call(request).await
        };
        answered.map(ServiceResponse::map_into_boxed_body)
    };
    let idempotent = operation.takes_idempotency_key();
    let response = match idempotent.then(|| idempotency::key_of(&request)) {
        Some(Err(error)) => request.error_response(error),
        Some(Ok(Some(key))) => {
            idempotency::answer(&state, principal.key_id, key, request, call).await?
        }
        _ => call(request).await?,
    };
    let mut response = response;
    // A caller's answer is its own (a tenant's figures): never kept by a shared cache, nor by
    // the browser's (the portal's pages read these with a session that may end).
    if !response.headers().contains_key(CACHE_CONTROL) {
        response
            .headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    }
    if let Some(notes) = notes {
        let notes = notes.borrow().clone();
        audit(principal).record(&response, &notes).await;
    }
    Ok(response)
}

/// The caller, if it may call `operation` on this path; else the refusal, with the caller when
/// it was authenticated (a refused attempt at a change is audited too).
fn authorize(
    state: &AppState,
    operation: &Operation,
    request: &ServiceRequest,
) -> Result<Principal, Box<(ApiError, Option<Principal>)>> {
    let header = request
        .headers()
        .get(AUTHORIZATION)
        .map(|value| value.to_str().unwrap_or("(not text)"));
    // The portal's session cookie stands for a key on reads only: a cookie is sent by the
    // browser whoever made the page, so it never authorizes a change (no cross-site request
    // forgery through the API), and a portal key may change nothing anyway.
    let cookie = (header.is_none() && matches!(*request.method(), Method::GET | Method::HEAD))
        .then(|| crate::session_cookie::session_key(&state.portal, request.request()))
        .flatten();
    let now = Utc::now();
    let authenticated = match &cookie {
        Some(key) => state.authenticator.authenticate_key(key, now),
        None => state.authenticator.authenticate(header, now),
    };
    let principal =
        authenticated.map_err(|error| Box::new((ApiError::Unauthenticated(error), None)))?;
    if !operation.access.allows(principal.role) {
        let error = ApiError::forbidden(format!(
            "a {} key may not call {} {}",
            principal.role, operation.method, operation.path
        ));
        return Err(Box::new((error, operation.audited.then_some(principal))));
    }
    let param = |name: &str| request.match_info().get(name).unwrap_or("").to_owned();
    let refused = match operation.target {
        Target::Tenant => {
            let tenant = param("tenant");
            (!principal.sees_tenant(&tenant)).then(|| ApiError::tenant_not_found(&tenant))
        }
        Target::Node => {
            let node = param("node");
            (!principal.sees_node(&node)).then(|| {
                ApiError::not_found(
                    ErrorCode::NodeNotFound,
                    format!("node `{node}` does not exist"),
                )
            })
        }
        Target::Handler | Target::None => None,
    };
    match refused {
        Some(error) => Err(Box::new((error, operation.audited.then_some(principal)))),
        None => Ok(principal),
    }
}

/// What the audit row of a request needs besides its answer.
struct Audit {
    state: web::Data<AppState>,
    operation: &'static Operation,
    principal: Principal,
    request_id: RequestId,
}

impl Audit {
    /// Writes the audit row of an answered state-changing request (`write_audit`).
    async fn record(self, response: &ServiceResponse<BoxBody>, notes: &BTreeMap<String, String>) {
        let mut targets: BTreeMap<String, String> = response
            .request()
            .match_info()
            .iter()
            .map(|(name, value)| (name.to_owned(), value.to_owned()))
            .collect();
        targets.extend(notes.iter().map(|(k, v)| (k.clone(), v.clone())));
        let record = AuditRecord {
            at: Utc::now(),
            request_id: self.request_id.0,
            actor: Actor::of(&self.principal),
            action: format!("{} {}", self.operation.method, self.operation.path),
            target_tenant: targets.get("tenant").cloned(),
            targets,
            status: response.status().as_u16(),
        };
        write_audit(&self.state, record, &self.principal).await;
    }
}

/// Writes the audit row of a change made by `principal`. The change is already made, so a
/// failure to write is logged at `ERROR` with every field (the logs are then the record) and
/// the answer still goes out.
pub(crate) async fn write_audit(state: &AppState, record: AuditRecord, principal: &Principal) {
    let stored = record.clone();
    let written = with_conn(&state.pool, move |conn| {
        audit::append(conn, &stored).map_err(gpubill_platform::DbError::Query)
    })
    .await;
    if let Err(error) = written {
        tracing::error!(
            alarm = "audit_write_failed",
            %error,
            request_id = %record.request_id,
            key_id = %principal.key_id,
            role = %principal.role,
            action = %record.action,
            targets = ?record.targets,
            status = record.status,
            "cannot write the audit trail of a request"
        );
    }
}
