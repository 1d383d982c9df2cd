//! One scheduler decides at a time. Its decision state lives in the memory of one process, so a
//! second `gpubill api` on the same database would decide on a state that never sees the first
//! one's decisions (and the database would refuse its placements). The first instance takes a
//! session-level advisory lock in Postgres on a connection of its own, held for its lifetime;
//! an instance that finds the lock taken runs as a follower: it serves what it reads from
//! Postgres, and refuses the scheduler's decisions (allocate, release, node states, quota checks)
//! with 503 `scheduler_unavailable` until it is restarted after the leader stops.

use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool};
use gpubill_platform::DbError;
use std::sync::Mutex;

/// The advisory lock's key: "gpbl" and 1, the scheduler.
pub const SCHEDULER_LOCK: i64 = 0x6770_626c_0000_0001;

#[derive(QueryableByName)]
struct Answer {
    #[diesel(sql_type = Bool)]
    held: bool,
}

/// The lock, held on its own connection; dropping it releases the lock.
pub struct Leadership {
    conn: Mutex<PgConnection>,
}

impl Leadership {
    /// Takes the lock if no other session holds it: `None` when another instance leads.
    pub fn acquire(database_url: &str) -> Result<Option<Leadership>, DbError> {
        let mut conn = PgConnection::establish(database_url)
            .map_err(|error| DbError::Connect(error.to_string()))?;
        let taken: Answer = diesel::sql_query("SELECT pg_try_advisory_lock($1) AS held")
            .bind::<BigInt, _>(SCHEDULER_LOCK)
            .get_result(&mut conn)?;
        Ok(taken.held.then(|| Leadership {
            conn: Mutex::new(conn),
        }))
    }

    /// Whether this session still holds the lock: false once its connection broke (Postgres
    /// restarted, the network cut it), since the lock went with the session.
    pub fn still_held(&self) -> bool {
        let mut conn = match self.conn.lock() {
            Ok(conn) => conn,
            Err(poisoned) => poisoned.into_inner(),
        };
        diesel::sql_query(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' \
             AND pid = pg_backend_pid() AND granted \
             AND ((classid::bigint << 32) | objid::bigint) = $1) AS held",
        )
        .bind::<BigInt, _>(SCHEDULER_LOCK)
        .get_result::<Answer>(&mut *conn)
        .map(|answer| answer.held)
        .unwrap_or(false)
    }
}
