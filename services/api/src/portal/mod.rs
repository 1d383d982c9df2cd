//! The customer portal under `/portal`: a page (HTML, CSS and JavaScript compiled into the
//! binary) that reads the tenant's figures from the public API with a session cookie
//! (`crate::session_cookie`). This module holds what the portal's routes share: the security
//! headers of every portal answer, minting sign-in links and the audit rows of sign-in and
//! sign-out. The pages are in `pages`, the session routes in `session`.

mod pages;
mod session;

use crate::AppState;
use crate::access::Caller;
use crate::envelope::RequestId;
use crate::error::ApiError;
use actix_web::HttpMessage as _;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponseBuilder, web};
use chrono::{DateTime, Duration, Utc};
use gpubill_access::audit::{Actor, AuditRecord};
use gpubill_domain::access::Principal;
use gpubill_platform::config::PortalSettings;
use gpubill_schema::api::portal::PortalLink;
use std::collections::BTreeMap;

pub fn configure(config: &mut web::ServiceConfig) {
    pages::configure(config);
    session::configure(config);
}

/// The headers of every portal answer: a strict Content-Security-Policy (nothing inline, nothing
/// from elsewhere), no sniffing, no referrer (a sign-in link's token must not leak), and pages
/// kept out of every cache but the browser's own memory.
fn secured(response: &mut HttpResponseBuilder, settings: &PortalSettings, cache: &'static str) {
    let policy = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; \
         frame-ancestors {}",
        settings.frame_ancestors
    );
    response
        // portal.frame_ancestors is checked visible ASCII when the settings are loaded.
        .insert_header((header::CONTENT_SECURITY_POLICY, policy))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header(("Cross-Origin-Opener-Policy", "same-origin"))
        .insert_header(("Cross-Origin-Resource-Policy", "same-origin"))
        .insert_header((header::CACHE_CONTROL, cache));
}

/// The portal's public address: `portal.public_url`, else the scheme and host of `request`.
pub fn public_base(settings: &PortalSettings, request: &HttpRequest) -> String {
    if !settings.public_url.is_empty() {
        return settings.public_url.clone();
    }
    let info = request.connection_info();
    format!("{}://{}", info.scheme(), info.host())
}

/// Mints a sign-in link to `tenant`'s portal for the caller, the base of its URL being `base`.
pub async fn mint_link(
    state: &AppState,
    caller: &Caller,
    tenant: String,
    base: &str,
    now: DateTime<Utc>,
) -> Result<PortalLink, ApiError> {
    if !state.cluster.tenants.iter().any(|spec| spec.id == tenant) {
        return Err(ApiError::tenant_not_found(&tenant));
    }
    caller.note("tenant", &tenant);
    let expires_at = now + Duration::seconds(state.portal.link_seconds);
    let token = state
        .authenticator
        .mint_link(&caller.principal, tenant, now, expires_at)
        .await?;
    Ok(PortalLink {
        url: format!("{base}/portal/session?token={}", token.expose()),
        expires_at,
        session_expires_in_seconds: state.portal_key_seconds,
    })
}

/// Writes the audit row of a portal sign-in or sign-out, as the API's changes are written.
async fn audit_session(
    state: &AppState,
    request: &HttpRequest,
    actor: &Principal,
    action: &'static str,
    targets: BTreeMap<String, String>,
    status: u16,
) {
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .copied()
        .map_or_else(uuid::Uuid::new_v4, |id| id.0);
    let record = AuditRecord {
        at: Utc::now(),
        request_id,
        actor: Actor::of(actor),
        action: action.to_owned(),
        target_tenant: targets.get("tenant").cloned(),
        targets,
        status,
    };
    crate::access::write_audit(state, record, actor).await;
}
