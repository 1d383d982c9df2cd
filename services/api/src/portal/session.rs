//! The portal's session routes. `GET /portal/session?token=` exchanges a minted one-time link
//! for a session cookie; `POST /portal/sign-in` exchanges a pasted tenant key for one (the key
//! itself never reaches the browser's storage); `POST /portal/sign-out` revokes the session.
//! Both forms carry a CSRF token (sign-in: double submit against its cookie; sign-out: derived
//! from the session) and are refused from another origin. Each answers 303 to `/portal/`, or the
//! sign-in page saying what went wrong, with its code.

use super::audit_session;
use super::pages::sign_in_page;
use crate::AppState;
use crate::session_cookie::{
    cookie, cookie_value, session_cookie_name, session_key, sign_in_cookie_name,
};
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use gpubill_access::portal_links::LinkError;
use gpubill_access::{IssuedKey, SessionError};
use gpubill_domain::access::Role;
use gpubill_domain::portal::{csrf_token, tokens_match};
use gpubill_schema::api::ErrorCode;
use serde::Deserialize;
use std::collections::BTreeMap;

/// A form body is small: a key and a token.
const MAX_FORM_BYTES: usize = 4096;

pub(super) fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/portal/session", web::get().to(redeem_link))
        .route("/portal/sign-in", web::post().to(sign_in))
        .route("/portal/sign-out", web::post().to(sign_out));
}

#[derive(Debug, Deserialize)]
struct LinkQuery {
    token: Option<String>,
}

async fn redeem_link(
    state: web::Data<AppState>,
    request: HttpRequest,
    query: web::Query<LinkQuery>,
) -> HttpResponse {
    let Some(token) = query.into_inner().token else {
        return refused(
            &state,
            ErrorCode::PortalLinkInvalid,
            "the link has no token",
        );
    };
    let now = Utc::now();
    let redeemed = state
        .authenticator
        .redeem_link(state.cluster.clone(), token, now, state.portal_key_seconds)
        .await;
    match redeemed {
        Ok(session) => opened(&state, &request, session, "GET /portal/session").await,
        Err(LinkError::Access(error)) => {
            tracing::error!(%error, "cannot redeem a portal link");
            unavailable(&state)
        }
        Err(error) => refused(&state, ErrorCode::PortalLinkInvalid, &error.to_string()),
    }
}

#[derive(Debug, Deserialize)]
struct SignInForm {
    key: String,
    csrf: String,
}

async fn sign_in(
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let Some(form) = read_form::<SignInForm>(&request, &body) else {
        return refused(&state, ErrorCode::InvalidBody, "the form could not be read");
    };
    let expected = cookie_value(&request, sign_in_cookie_name(&state.portal));
    let token_matches =
        expected.is_some_and(|value| !value.is_empty() && tokens_match(&value, &form.csrf));
    if !token_matches || !same_origin(&state, &request) {
        return csrf_refused(&state);
    }
    let now = Utc::now();
    let signed_in = state
        .authenticator
        .sign_in(
            state.cluster.clone(),
            form.key.trim(),
            now,
            state.portal_key_seconds,
        )
        .await;
    match signed_in {
        Ok(session) => opened(&state, &request, session, "POST /portal/sign-in").await,
        Err(SessionError::Access(error)) => {
            tracing::error!(%error, "cannot open a portal session");
            unavailable(&state)
        }
        Err(error) => refused(&state, ErrorCode::PortalSignInRefused, &error.to_string()),
    }
}

#[derive(Debug, Deserialize)]
struct SignOutForm {
    csrf: String,
}

async fn sign_out(
    state: web::Data<AppState>,
    request: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let Some(key) = session_key(&state.portal, &request) else {
        return to_portal(&state, None);
    };
    let Some(form) = read_form::<SignOutForm>(&request, &body) else {
        return refused(&state, ErrorCode::InvalidBody, "the form could not be read");
    };
    if !tokens_match(&csrf_token(&key), &form.csrf) || !same_origin(&state, &request) {
        return csrf_refused(&state);
    }
    let now = Utc::now();
    // A session that already ended (expired, revoked) has nothing left to revoke.
    if let Ok(principal) = state.authenticator.authenticate_key(&key, now)
        && principal.role == Role::Portal
    {
        let status = match state.authenticator.revoke(principal.key_id, now).await {
            Ok(_) => StatusCode::SEE_OTHER,
            Err(error) => {
                tracing::error!(%error, "cannot revoke a portal session");
                return unavailable(&state);
            }
        };
        let targets = BTreeMap::from([
            ("session".to_owned(), principal.key_id.to_string()),
            (
                "tenant".to_owned(),
                principal.binding.tenant().unwrap_or_default().to_owned(),
            ),
        ]);
        audit_session(
            &state,
            &request,
            &principal,
            "POST /portal/sign-out",
            targets,
            status.as_u16(),
        )
        .await;
    }
    let ended = cookie(&state.portal, session_cookie_name(&state.portal), "", 0);
    to_portal(&state, Some(ended))
}

/// A session opened: its cookie set, the opening audited, on to the portal.
async fn opened(
    state: &AppState,
    request: &HttpRequest,
    session: IssuedKey,
    action: &'static str,
) -> HttpResponse {
    let now = Utc::now();
    let principal = session.key.grant().principal(now);
    let seconds = session
        .key
        .expires_at
        .map_or(state.portal_key_seconds, |at| (at - now).num_seconds());
    if let Ok(principal) = &principal {
        let mut targets = BTreeMap::from([
            ("session".to_owned(), session.key.id.to_string()),
            (
                "tenant".to_owned(),
                session.key.tenant.clone().unwrap_or_default(),
            ),
        ]);
        if let Some(parent) = session.key.parent_key_id {
            targets.insert("opened_with".to_owned(), parent.to_string());
        }
        audit_session(
            state,
            request,
            principal,
            action,
            targets,
            StatusCode::SEE_OTHER.as_u16(),
        )
        .await;
    }
    let cookie = cookie(
        &state.portal,
        session_cookie_name(&state.portal),
        session.secret.expose(),
        seconds,
    );
    to_portal(state, Some(cookie))
}

fn to_portal(state: &AppState, cookie: Option<String>) -> HttpResponse {
    let mut response = HttpResponse::SeeOther();
    super::secured(&mut response, &state.portal, "no-store, private");
    response.insert_header((header::LOCATION, "/portal/"));
    if let Some(cookie) = cookie {
        response.insert_header((header::SET_COOKIE, cookie));
    }
    response.finish()
}

fn refused(state: &AppState, code: ErrorCode, message: &str) -> HttpResponse {
    sign_in_page(state, StatusCode::UNAUTHORIZED, Some(code), message)
}

fn csrf_refused(state: &AppState) -> HttpResponse {
    sign_in_page(
        state,
        StatusCode::FORBIDDEN,
        Some(ErrorCode::CsrfRejected),
        "the form was not sent from this page: please try again",
    )
}

fn unavailable(state: &AppState) -> HttpResponse {
    sign_in_page(
        state,
        StatusCode::SERVICE_UNAVAILABLE,
        Some(ErrorCode::LedgerUnavailable),
        "the portal cannot open sessions right now: please try again in a moment",
    )
}

/// The form of a `application/x-www-form-urlencoded` body, if it is one.
fn read_form<T: serde::de::DeserializeOwned>(request: &HttpRequest, body: &[u8]) -> Option<T> {
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
    (is_form && body.len() <= MAX_FORM_BYTES)
        .then(|| serde_urlencoded::from_bytes(body).ok())
        .flatten()
}

/// False when the browser says the form came from another origin (`Origin`, or `Sec-Fetch-Site`
/// when it sends no `Origin`): a form posted from another site.
fn same_origin(state: &AppState, request: &HttpRequest) -> bool {
    let own = super::public_base(&state.portal, request);
    let header_text = |name| {
        request
            .headers()
            .get(name)
            .and_then(|value: &header::HeaderValue| value.to_str().ok())
    };
    match header_text(header::ORIGIN) {
        Some(origin) => origin == own || origin == state.portal.public_url,
        None => !matches!(
            header_text(header::HeaderName::from_static("sec-fetch-site")),
            Some("cross-site" | "same-site")
        ),
    }
}
