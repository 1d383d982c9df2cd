//! `POST /v1/tenants/{tenant}/portal-sessions` (admin, finance, or the tenant's own key): mints a
//! one-time sign-in link to the tenant's portal, `{"url", "expires_at",
//! "session_expires_in_seconds"}`. Opened once before it expires, the link signs the browser in
//! with a read-only portal session of that tenant, under the key that minted it.

use crate::AppState;
use crate::access::Caller;
use crate::error::ApiError;
use crate::portal;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;

#[utoipa::path(
    post,
    path = "/v1/tenants/{tenant}/portal-sessions",
    tag = "portal",
    summary = "Mint a portal sign-in link",
    operation_id = "portal_session_create",
    params(("tenant" = String, Path, description = "Tenant id", example = "mistral-lab")),
    responses(
        (status = 201, description = "A one-time link, valid until `expires_at`", body = gpubill_schema::api::portal::PortalLink),
    )
)]
pub async fn portal_session_create(
    state: web::Data<AppState>,
    caller: Caller,
    tenant: web::Path<String>,
    request: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let base = portal::public_base(&state.portal, &request);
    let link = portal::mint_link(&state, &caller, tenant.into_inner(), &base, Utc::now()).await?;
    Ok(HttpResponse::Created().json(link))
}
