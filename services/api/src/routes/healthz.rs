//! `GET /healthz`: 200 when the ledger answers, 503 otherwise.

use crate::AppState;
use crate::error::ApiError;
use actix_web::{HttpResponse, web};
use diesel::RunQueryDsl;
use gpubill_platform::DbError;
use gpubill_platform::db::with_conn;
use gpubill_schema::api::status::Health;

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    summary = "Liveness",
    operation_id = "healthz",
    responses(
        (status = 200, description = "Alive: the ledger answers", body = gpubill_schema::api::status::Health),
    )
)]
pub async fn healthz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    with_conn(&state.pool, |conn| {
        diesel::sql_query("SELECT 1")
            .execute(conn)
            .map_err(|e| ApiError::Unavailable(DbError::Query(e)))
    })
    .await?;
    Ok(HttpResponse::Ok().json(Health {
        status: "ok".into(),
        database: "ok".into(),
    }))
}
