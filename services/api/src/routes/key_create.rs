//! `POST /v1/api-keys` (admin) with `{"role", "tenant"?, "node"?, "expires_in_seconds"?,
//! "label"?}`: issues a key and answers it once, in `key`, with what is stored of it (201). Only
//! its hash is kept; it works on this instance at once and on the others within
//! `auth.key_refresh_ms`. A tenant or portal key needs `tenant`, a node key `node`; a portal key
//! expires after `auth.portal_key_seconds` unless told otherwise.

use crate::AppState;
use crate::access::Caller;
use crate::body::Json;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use chrono::Utc;
use gpubill_access::StoredKey;
use gpubill_access::audit::Actor;
use gpubill_domain::access::{Binding, KeySpec, Role, key_expiry};
use gpubill_schema::api::ErrorCode;
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KeyRequest {
    role: String,
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    node: Option<String>,
    #[serde(default)]
    expires_in_seconds: Option<i64>,
    #[serde(default)]
    label: String,
}

/// The new key, shown this once, and what is stored of it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IssuedKeyResponse {
    key: String,
    #[serde(flatten)]
    stored: StoredKey,
}

#[utoipa::path(
    post,
    path = "/v1/api-keys",
    tag = "keys",
    summary = "Issue an API key",
    operation_id = "key_create",
    request_body = KeyRequest,
    responses(
        (status = 201, description = "The key, shown this once", body = IssuedKeyResponse),
    )
)]
pub async fn key_create(
    state: web::Data<AppState>,
    caller: Caller,
    body: Json<KeyRequest>,
) -> Result<HttpResponse, ApiError> {
    let request = body.into_inner();
    let now = Utc::now();
    let role = Role::from_code(&request.role).ok_or_else(|| {
        ApiError::bad_request(
            ErrorCode::InvalidRole,
            "role: expected admin, finance, tenant, node or portal",
        )
    })?;
    let binding = match (request.tenant, request.node) {
        (Some(tenant), None) => Binding::Tenant(tenant),
        (None, Some(node)) => Binding::Node(node),
        (None, None) => Binding::None,
        (Some(_), Some(_)) => {
            return Err(ApiError::unprocessable(
                ErrorCode::InvalidKeySpec,
                "a key is bound to a tenant or to a node, not both",
            ));
        }
    };
    let expires_at = key_expiry(
        role,
        now,
        request.expires_in_seconds,
        state.portal_key_seconds,
    )?;
    let spec = KeySpec {
        role,
        binding,
        expires_at,
        label: request.label,
        parent: None,
    };
    let created_by = Actor::of(&caller.principal).name();
    let issued = state
        .authenticator
        .issue(state.cluster.clone(), spec, created_by, now)
        .await?;
    caller.note("key", issued.key.id);
    if let Some(tenant) = &issued.key.tenant {
        caller.note("tenant", tenant);
    }
    Ok(HttpResponse::Created().json(IssuedKeyResponse {
        key: issued.secret.expose().to_owned(),
        stored: issued.key,
    }))
}
