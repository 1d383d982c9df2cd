//! Request bodies: the one JSON extractor every route uses. A body must be declared JSON, fit
//! in [`MAX_BODY_BYTES`] (413 otherwise), be a JSON object (an array would fill a struct's
//! fields by position), and hold no NUL character anywhere (Postgres refuses the byte, so it
//! would surface as a 500); then it is decoded into the route's type, unknown fields refused.

use crate::error::ApiError;
use actix_web::dev::Payload;
use actix_web::http::header::CONTENT_TYPE;
use actix_web::{FromRequest, HttpRequest, web};
use gpubill_schema::api::ErrorCode;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::pin::Pin;

/// Largest request body: far above any request of this API (a contract with every tier and
/// reservation is a few kilobytes).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// A decoded JSON object body.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T> Json<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Json<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .map(|mime| {
                let mime = mime.trim().to_ascii_lowercase();
                mime == "application/json" || mime.ends_with("+json")
            })
            .unwrap_or(false);
        let bytes = web::Bytes::from_request(request, payload);
        Box::pin(async move {
            if !is_json {
                return Err(ApiError::UnsupportedMediaType);
            }
            let bytes = bytes.await.map_err(|error| {
                if error.as_response_error().status_code() == 413 {
                    ApiError::PayloadTooLarge {
                        limit_bytes: MAX_BODY_BYTES,
                    }
                } else {
                    ApiError::bad_request(ErrorCode::InvalidBody, error.to_string())
                }
            })?;
            decode(&bytes).map(Json)
        })
    }
}

/// The checks of a body's JSON, then its decoding into `T`. A body with no `\u0000` escape
/// cannot hold a NUL character (JSON forbids a raw one), so it is decoded straight into `T`;
/// only one that has such an escape goes through a `Value` to find whether, and where, a string
/// holds the NUL (`\\u0000` is a backslash and `u0000`, which is allowed).
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let starts_an_object = bytes
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{');
    let may_hold_nul = bytes.windows(6).any(|w| w == b"\\u0000");
    if starts_an_object && !may_hold_nul {
        return serde_json::from_slice(bytes).map_err(invalid);
    }
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|error| {
        ApiError::bad_request(ErrorCode::InvalidBody, format!("not JSON: {error}"))
    })?;
    if !value.is_object() {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidBody,
            "the body must be a JSON object",
        ));
    }
    if let Some(path) = nul_at(&value, "") {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidBody,
            format!("`{path}` contains a NUL character"),
        ));
    }
    serde_json::from_value(value).map_err(invalid)
}

fn invalid(error: serde_json::Error) -> ApiError {
    let message = if error.is_syntax() || error.is_eof() {
        format!("not JSON: {error}")
    } else {
        error.to_string()
    };
    ApiError::bad_request(ErrorCode::InvalidBody, message)
}

/// Where the first NUL character is, in a key or a string value, as a JSON path (`/note`).
fn nul_at(value: &serde_json::Value, at: &str) -> Option<String> {
    match value {
        serde_json::Value::String(text) => text.contains('\0').then(|| at.to_owned()),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(index, item)| nul_at(item, &format!("{at}/{index}"))),
        serde_json::Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            let here = format!("{at}/{}", key.replace('\0', "\\u0000"));
            if key.contains('\0') {
                Some(here)
            } else {
                nul_at(item, &here)
            }
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Check {
        tenant: String,
        gpus: u32,
    }

    fn code(result: Result<Check, ApiError>) -> (&'static str, String) {
        let error = result.expect_err("refused");
        (error.code().as_str(), error.to_string())
    }

    #[test]
    fn only_objects_are_bodies() {
        let (code, message) = code(decode(br#"["nordic-nlp", 1]"#));
        assert_eq!(code, "invalid_body");
        assert!(message.contains("JSON object"), "{message}");
        assert!(decode::<Check>(br#"{"tenant": "nordic-nlp", "gpus": 1}"#).is_ok());
    }

    #[test]
    fn a_nul_anywhere_is_refused_with_where_it_is() {
        let (_, message) = code(decode(br#"{"tenant": "a\u0000b", "gpus": 1}"#));
        assert!(message.contains("`/tenant`"), "{message}");
        let (_, message) = code(decode(
            br#"{"tenant": "a", "gpus": 1, "x": [{"y\u0000": 1}]}"#,
        ));
        assert!(message.contains("NUL"), "{message}");
    }

    #[test]
    fn an_escaped_backslash_before_u0000_is_no_nul() {
        let decoded: Check = decode(br#"{"tenant": "a\\u0000b", "gpus": 1}"#).expect("decoded");
        assert_eq!((decoded.tenant.as_str(), decoded.gpus), ("a\\u0000b", 1));
    }

    #[test]
    fn not_json_and_unknown_fields_are_bad_requests() {
        assert_eq!(code(decode(b"tenant=x")).0, "invalid_body");
        assert_eq!(
            code(decode(br#"{"tenant": "a", "gpus": 1, "extra": 2}"#)).0,
            "invalid_body"
        );
    }
}
