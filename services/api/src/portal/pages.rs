//! The portal's pages: `GET /portal/` answers the app (with a live session) or the sign-in page
//! (without), both templates compiled into the binary with their few values HTML-escaped; `GET
//! /portal/assets/{name}` answers the script, the style sheet and the icon, revalidated by ETag.

use super::secured;
use crate::AppState;
use crate::session_cookie::{cookie, session_key, sign_in_cookie_name};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentType};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::{SecondsFormat, Utc};
use gpubill_domain::access::{Role, lower_hex};
use gpubill_domain::portal::csrf_token;
use gpubill_schema::api::ErrorCode;
use sha2::{Digest, Sha256};

const APP_HTML: &str = include_str!("../../portal/app.html");
const SIGN_IN_HTML: &str = include_str!("../../portal/sign-in.html");

/// The assets by name: content type and bytes.
const ASSETS: [(&str, &str, &[u8]); 3] = [
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../portal/assets/app.js"),
    ),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../../portal/assets/app.css"),
    ),
    (
        "favicon.svg",
        "image/svg+xml",
        include_bytes!("../../portal/assets/favicon.svg"),
    ),
];

/// How long the sign-in form's CSRF cookie lives: time enough to paste a key.
const SIGN_IN_FORM_SECONDS: i64 = 1800;

/// Pages change with the session: never cached anywhere.
const NO_STORE: &str = "no-store, private";

pub(super) fn configure(config: &mut web::ServiceConfig) {
    config
        .route("/portal", web::get().to(to_portal))
        .route("/portal/", web::get().to(index))
        .route("/portal/assets/{name}", web::get().to(asset));
}

async fn to_portal() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/portal/"))
        .finish()
}

/// The app with a live portal session, the sign-in page without.
async fn index(state: web::Data<AppState>, request: HttpRequest) -> HttpResponse {
    let now = Utc::now();
    let session = session_key(&state.portal, &request).and_then(|key| {
        let grant = state.authenticator.grant(&key, now).ok()?;
        (grant.role == Role::Portal).then_some((key, grant))
    });
    let Some((key, grant)) = session else {
        return sign_in_page(&state, StatusCode::OK, None, "");
    };
    let tenant = grant.binding.tenant().unwrap_or_default();
    let expires_at = grant
        .expires_at
        .map(|at| at.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_default();
    let html = render(
        &template("app.html", APP_HTML),
        &[
            ("tenant", tenant),
            ("csrf", &csrf_token(&key)),
            ("session_expires_at", &expires_at),
        ],
    );
    let mut response = HttpResponse::Ok();
    secured(&mut response, &state.portal, NO_STORE);
    response
        .insert_header((header::VARY, "Cookie"))
        .content_type(ContentType::html())
        .body(html)
}

/// The sign-in page answered with `status`, saying `message` (and its `code`) when there is one;
/// it carries a fresh CSRF token in its form and in a cookie.
pub(super) fn sign_in_page(
    state: &AppState,
    status: StatusCode,
    code: Option<ErrorCode>,
    message: &str,
) -> HttpResponse {
    let mut random = [0u8; 32];
    let token = match getrandom::fill(&mut random) {
        Ok(()) => lower_hex(&random),
        // Without a token the form cannot be posted; the page still says what happened.
        Err(error) => {
            tracing::error!(%error, "no randomness for the portal's sign-in form");
            String::new()
        }
    };
    let html = render(
        &template("sign-in.html", SIGN_IN_HTML),
        &[
            ("csrf", &token),
            ("message", message),
            ("message_code", code.map_or("", |code| code.as_str())),
        ],
    );
    let mut response = HttpResponse::build(status);
    secured(&mut response, &state.portal, NO_STORE);
    response
        .insert_header((
            header::SET_COOKIE,
            cookie(
                &state.portal,
                sign_in_cookie_name(&state.portal),
                &token,
                SIGN_IN_FORM_SECONDS,
            ),
        ))
        .content_type(ContentType::html())
        .body(html)
}

async fn asset(
    state: web::Data<AppState>,
    name: web::Path<String>,
    request: HttpRequest,
) -> HttpResponse {
    let Some((_, content_type, compiled)) = ASSETS.iter().find(|(file, ..)| *file == name.as_str())
    else {
        let mut response = HttpResponse::NotFound();
        secured(&mut response, &state.portal, NO_STORE);
        return response
            .content_type(ContentType::plaintext())
            .body("no such asset");
    };
    let bytes = file(&format!("assets/{name}"), compiled);
    let etag = format!("\"{}\"", &lower_hex(&Sha256::digest(&bytes))[..32]);
    let unchanged = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .is_some_and(|given| given.as_bytes() == etag.as_bytes());
    let mut response = if unchanged {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    // The same for every tenant: shared caches may keep them, revalidating each use.
    secured(&mut response, &state.portal, "public, no-cache");
    response.insert_header((header::ETAG, etag));
    if unchanged {
        return response.finish();
    }
    response
        .insert_header((header::CONTENT_TYPE, *content_type))
        .body(bytes.into_owned())
}

/// A portal file as compiled in; a debug build reads it from the source tree instead when it is
/// there, so that editing the page needs no rebuild while developing it.
fn file(name: &str, compiled: &'static [u8]) -> std::borrow::Cow<'static, [u8]> {
    if cfg!(debug_assertions) {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("portal")
            .join(name);
        if let Ok(bytes) = std::fs::read(path) {
            return bytes.into();
        }
    }
    compiled.into()
}

fn template(name: &str, compiled: &'static str) -> String {
    String::from_utf8_lossy(&file(name, compiled.as_bytes())).into_owned()
}

/// `template` with each `{{name}}` replaced by its value, HTML-escaped.
fn render(template: &str, values: &[(&str, &str)]) -> String {
    let mut html = template.to_owned();
    for (name, value) in values {
        html = html.replace(&format!("{{{{{name}}}}}"), &escape(value));
    }
    html
}

/// Text made safe in HTML content and in quoted attribute values.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_and_every_placeholder_is_filled() {
        let html = render(
            "<p title=\"{{a}}\">{{a}}</p>{{b}}",
            &[("a", "<img src=x onerror=alert(1)>\"'&"), ("b", "ok")],
        );
        assert_eq!(
            html,
            "<p title=\"&lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;\">\
             &lt;img src=x onerror=alert(1)&gt;&quot;&#39;&amp;</p>ok"
        );
        for (template, names) in [
            (APP_HTML, &["tenant", "csrf", "session_expires_at"][..]),
            (SIGN_IN_HTML, &["csrf", "message", "message_code"][..]),
        ] {
            let values: Vec<(&str, &str)> = names.iter().map(|name| (*name, "x")).collect();
            assert!(!render(template, &values).contains("{{"), "{names:?}");
        }
    }
}
