//! The customer portal's cookies: the session cookie (the portal key of a session, which the API
//! takes in place of a key on reads) and the sign-in form's CSRF cookie, their names and flags,
//! and reading them back from a request. Shared by the access guard and the portal's routes.

use actix_web::HttpRequest;
use actix_web::http::header;
use gpubill_platform::config::PortalSettings;

/// The session cookie over plain HTTP (development, or TLS ended by a proxy that does not say so).
const SESSION_COOKIE: &str = "gpubill_session";
/// The session cookie behind TLS: `__Host-` makes browsers demand `Secure`, `Path=/` and no
/// `Domain`, so no other host of the domain can set or read it.
const SECURE_SESSION_COOKIE: &str = "__Host-gpubill_session";
/// The sign-in form's CSRF token (double submit: cookie and field must match).
const SIGN_IN_COOKIE: &str = "gpubill_sign_in";
const SECURE_SIGN_IN_COOKIE: &str = "__Host-gpubill_sign_in";

/// Whether cookies are `Secure`: the portal's public address is https.
fn secure(settings: &PortalSettings) -> bool {
    settings.public_url.starts_with("https://")
}

pub(crate) fn session_cookie_name(settings: &PortalSettings) -> &'static str {
    if secure(settings) {
        SECURE_SESSION_COOKIE
    } else {
        SESSION_COOKIE
    }
}

pub(crate) fn sign_in_cookie_name(settings: &PortalSettings) -> &'static str {
    if secure(settings) {
        SECURE_SIGN_IN_COOKIE
    } else {
        SIGN_IN_COOKIE
    }
}

/// A `Set-Cookie` value of the portal: `HttpOnly`, `SameSite=Strict`, `Path=/`, `Secure` behind
/// TLS, gone after `seconds` (at once when 0). Values are hex or key text: nothing to encode.
pub(crate) fn cookie(
    settings: &PortalSettings,
    name: &'static str,
    value: &str,
    seconds: i64,
) -> String {
    debug_assert!(value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    let secure = if secure(settings) { "; Secure" } else { "" };
    format!(
        "{name}={value}; Path=/; Max-Age={}; HttpOnly; SameSite=Strict{secure}",
        seconds.max(0)
    )
}

/// The value of the request's cookie `name`, if it sent one.
pub(crate) fn cookie_value(request: &HttpRequest, name: &str) -> Option<String> {
    request
        .headers()
        .get_all(header::COOKIE)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|line| line.split(';'))
        .find_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key == name).then(|| value.trim_matches('"').to_owned())
        })
}

/// The session key a request's cookie holds, if any.
pub(crate) fn session_key(settings: &PortalSettings, request: &HttpRequest) -> Option<String> {
    cookie_value(request, session_cookie_name(settings)).filter(|value| !value.is_empty())
}
