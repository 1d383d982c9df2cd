//! `idempotency_keys`: what an `Idempotency-Key` was first used for, and the answer given. The
//! first request with a key claims it (a row without an answer yet), then stores its answer; a
//! retry of the same request is answered from the row; another request under the same key, or
//! one while the first is still being answered, is refused. A claim older than
//! [`KEY_LIFETIME`] no longer counts.

use chrono::{DateTime, SubsecRound, Utc};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use gpubill_schema::schema::idempotency_keys;
use uuid::Uuid;

/// How long a key keeps its answer.
pub const KEY_LIFETIME: chrono::Duration = chrono::Duration::hours(24);

/// A stored answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAnswer {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// What claiming a key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is this request's: answer it, then [`store`] the answer.
    Claimed,
    /// The same request was answered before: answer this again.
    Replay(StoredAnswer),
    /// The key was used for another request.
    OtherRequest,
    /// The same request is being answered right now.
    InProgress,
}

/// Claims `key` of `api_key_id` for the request whose digest is `digest`, at `now`.
pub fn claim(
    conn: &mut PgConnection,
    api_key_id: Uuid,
    key: &str,
    digest: &[u8; 32],
    now: DateTime<Utc>,
) -> QueryResult<Claim> {
    let now = now.trunc_subsecs(6);
    conn.transaction(|conn| {
        // A claim past its lifetime is taken over as if absent.
        let taken = diesel::sql_query(
            "INSERT INTO idempotency_keys (api_key_id, idempotency_key, request_digest, created_at) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (api_key_id, idempotency_key) DO UPDATE \
             SET request_digest = EXCLUDED.request_digest, created_at = EXCLUDED.created_at, \
                 status = NULL, content_type = NULL, response_body = NULL \
             WHERE idempotency_keys.created_at < $5",
        )
        .bind::<diesel::sql_types::Uuid, _>(api_key_id)
        .bind::<diesel::sql_types::Text, _>(key)
        .bind::<diesel::sql_types::Bytea, _>(digest.as_slice())
        .bind::<diesel::sql_types::Timestamptz, _>(now)
        .bind::<diesel::sql_types::Timestamptz, _>(now - KEY_LIFETIME)
        .execute(conn)?;
        if taken == 1 {
            return Ok(Claim::Claimed);
        }
        let (stored_digest, status, content_type, body): (
            Vec<u8>,
            Option<i16>,
            Option<String>,
            Option<Vec<u8>>,
        ) = idempotency_keys::table
            .find((api_key_id, key))
            .select((
                idempotency_keys::request_digest,
                idempotency_keys::status,
                idempotency_keys::content_type,
                idempotency_keys::response_body,
            ))
            .first(conn)?;
        Ok(match (stored_digest == digest.as_slice(), status, body) {
            (false, _, _) => Claim::OtherRequest,
            (true, Some(status), Some(body)) => Claim::Replay(StoredAnswer {
                // The table's CHECK keeps it within 100..=599: the cast is exact.
                status: status as u16,
                content_type,
                body,
            }),
            (true, _, _) => Claim::InProgress,
        })
    })
}

/// Stores the answer of the request that claimed `key`.
pub fn store(
    conn: &mut PgConnection,
    api_key_id: Uuid,
    key: &str,
    answer: &StoredAnswer,
) -> QueryResult<()> {
    diesel::update(idempotency_keys::table.find((api_key_id, key)))
        .set((
            idempotency_keys::status.eq(Some(answer.status as i16)),
            idempotency_keys::content_type.eq(&answer.content_type),
            idempotency_keys::response_body.eq(Some(&answer.body)),
        ))
        .execute(conn)
        .map(drop)
}

/// Deletes the keys whose lifetime ended before `now`; they no longer count, and their
/// answers need not be kept. Returns how many went.
pub fn purge(conn: &mut PgConnection, now: DateTime<Utc>) -> QueryResult<usize> {
    diesel::delete(
        idempotency_keys::table.filter(idempotency_keys::created_at.lt(now - KEY_LIFETIME)),
    )
    .execute(conn)
}

/// Gives a claimed key back, so a retry runs the request again (after a failure of the
/// server's own, whose answer is not worth replaying).
pub fn release(conn: &mut PgConnection, api_key_id: Uuid, key: &str) -> QueryResult<()> {
    diesel::delete(
        idempotency_keys::table
            .find((api_key_id, key))
            .filter(idempotency_keys::status.is_null()),
    )
    .execute(conn)
    .map(drop)
}
