//! Checks of request fields that several routes share: free text has a length limit, and an
//! id a client chooses (a grant id, an idempotency key) is never the nil UUID or empty.

use crate::error::ApiError;
use gpubill_schema::api::ErrorCode;
use uuid::Uuid;

/// Longest free text (a grant's note, a void's reason).
pub const MAX_TEXT_CHARS: usize = 500;
/// Longest client-chosen key (`idempotency_key`).
pub const MAX_CLIENT_KEY_CHARS: usize = 200;

/// `text`, refused with 400 `invalid_body` when longer than `max` characters.
pub fn free_text<'a>(field: &str, text: &'a str, max: usize) -> Result<&'a str, ApiError> {
    let chars = text.chars().count();
    if chars > max {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidBody,
            format!("`{field}` has {chars} characters; at most {max}"),
        ));
    }
    Ok(text)
}

/// A client-chosen UUID: any but the nil one, which a client sends by mistake (an unset field).
pub fn client_id(field: &str, id: Uuid) -> Result<Uuid, ApiError> {
    if id.is_nil() {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidBody,
            format!("`{field}` must not be the nil UUID"),
        ));
    }
    Ok(id)
}

/// A client-chosen key: 1 to [`MAX_CLIENT_KEY_CHARS`] characters, not only spaces.
pub fn client_key<'a>(field: &str, key: &'a str) -> Result<&'a str, ApiError> {
    if key.trim().is_empty() {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidBody,
            format!("`{field}` must not be empty"),
        ));
    }
    free_text(field, key, MAX_CLIENT_KEY_CHARS)
}
