//! `GET /readyz`: 200 when this instance can serve: the ledger answers, every migration of this
//! binary is applied, and the scheduler's state is loaded (it is before the API listens); the
//! answer says whether this instance runs the scheduler's decisions (`leader`) or serves reads
//! (`follower`). 503 `not_ready` otherwise. `/healthz` stays the liveness check. Both answer
//! without a key: load balancers call them.

use crate::AppState;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use gpubill_platform::db::{has_pending_migrations, with_conn};
use gpubill_schema::api::ErrorCode;
use gpubill_schema::api::status::Readiness;

#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    summary = "Readiness",
    operation_id = "readyz",
    responses(
        (status = 200, description = "Ready to serve", body = gpubill_schema::api::status::Readiness),
    )
)]
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let pending = with_conn(&state.pool, |conn| {
        has_pending_migrations(conn).map_err(ApiError::from)
    })
    .await
    .map_err(|error| ApiError::unavailable(ErrorCode::NotReady, format!("not ready: {error}")))?;
    if pending {
        return Err(ApiError::unavailable(
            ErrorCode::NotReady,
            "not ready: the database has migrations of this binary pending (run gpubill migrate)",
        ));
    }
    Ok(HttpResponse::Ok().json(Readiness {
        status: "ready".into(),
        database: "ok".into(),
        migrations: "applied".into(),
        scheduler: if state.scheduler.is_leader() {
            "leader"
        } else {
            "follower"
        }
        .into(),
    }))
}
