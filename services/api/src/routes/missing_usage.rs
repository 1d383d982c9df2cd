//! `GET /v1/missing-usage?tenant=&older_than_seconds=&limit=&cursor=`: usage streams with seqs never received,
//! open longer than a grace time (default `billing.missing_usage_after_seconds`). Each gap is
//! revenue that is not billed until the agent's events arrive, so finance sees the leak.

use crate::AppState;
use crate::error::ApiError;
use crate::routes::{
    cursor_instant, instant_of, invalid_cursor, parse_cursor, parse_limit, require_tenant,
};
use actix_web::{HttpResponse, web};
use chrono::{DateTime, Utc};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamptz};
use gpubill_platform::db::with_conn;
use gpubill_schema::api::ErrorCode;
use gpubill_schema::api::Page;
use gpubill_schema::api::page::fetch_limit;
use serde::{Deserialize, Serialize};

/// Longest age asked for: ten years, far beyond any gap, well inside Postgres' timestamps.
const MAX_OLDER_THAN_SECONDS: i64 = 10 * 366 * 86_400;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct MissingUsageQuery {
    tenant: Option<String>,
    /// Only gaps open at least this long: 0 to ten years, default `billing.missing_usage_after_seconds`.
    #[param(minimum = 0, maximum = 316_224_000)]
    older_than_seconds: Option<i64>,
    /// Rows per page: 1 to 1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// `next_cursor` of the page before.
    cursor: Option<String>,
}

/// One open gap: seqs `first_seq..=last_seq` of a stream, expected to cover
/// `[missing_from, missing_until)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, QueryableByName, utoipa::ToSchema)]
pub struct MissingUsage {
    #[diesel(sql_type = Text)]
    pub tenant_id: String,
    #[diesel(sql_type = Text)]
    pub allocation_id: String,
    #[diesel(sql_type = Text)]
    pub gpu_uuid: String,
    #[diesel(sql_type = BigInt)]
    pub first_seq: i64,
    #[diesel(sql_type = BigInt)]
    pub last_seq: i64,
    #[diesel(sql_type = BigInt)]
    pub missing_events: i64,
    /// End of the last event before the gap; absent when the stream's first events are missing.
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub missing_from: Option<DateTime<Utc>>,
    #[diesel(sql_type = Timestamptz)]
    pub missing_until: DateTime<Utc>,
    #[diesel(sql_type = Timestamptz)]
    pub open_since: DateTime<Utc>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
struct MissingUsageResponse {
    older_than_seconds: i64,
    #[serde(flatten)]
    gaps: Page<MissingUsage>,
}

/// Where a gap stands in the list: (open since, allocation, GPU, first seq).
pub type GapKey = (DateTime<Utc>, String, String, i64);

/// Gaps open for at least `older_than_seconds`, oldest first, of one tenant or all, after
/// `after`, at most `limit`.
pub fn load(
    conn: &mut PgConnection,
    tenant: Option<&str>,
    older_than_seconds: i64,
    after: Option<&GapKey>,
    limit: i64,
) -> QueryResult<Vec<MissingUsage>> {
    diesel::sql_query(
        "SELECT s.tenant_id, g.allocation_id, g.gpu_uuid, g.first_seq, g.last_seq, \
                g.last_seq - g.first_seq + 1 AS missing_events, g.missing_from, g.missing_until, \
                g.opened_at AS open_since \
         FROM usage_gaps g JOIN usage_streams s USING (allocation_id, gpu_uuid) \
         WHERE g.opened_at <= now() - make_interval(secs => $1) \
           AND ($2::text IS NULL OR s.tenant_id = $2) \
           AND ($3::timestamptz IS NULL \
                OR (g.opened_at, g.allocation_id, g.gpu_uuid, g.first_seq) > ($3, $4, $5, $6)) \
         ORDER BY g.opened_at, g.allocation_id, g.gpu_uuid, g.first_seq \
         LIMIT $7",
    )
    .bind::<BigInt, _>(older_than_seconds)
    .bind::<Nullable<Text>, _>(tenant)
    .bind::<Nullable<Timestamptz>, _>(after.map(|key| key.0))
    .bind::<Nullable<Text>, _>(after.map(|key| key.1.as_str()))
    .bind::<Nullable<Text>, _>(after.map(|key| key.2.as_str()))
    .bind::<Nullable<BigInt>, _>(after.map(|key| key.3))
    .bind::<BigInt, _>(limit)
    .load(conn)
}

#[utoipa::path(
    get,
    path = "/v1/missing-usage",
    tag = "usage",
    summary = "Usage never received",
    operation_id = "missing_usage",
    params(MissingUsageQuery),
    responses(
        (status = 200, description = "A page of the gaps in usage streams", body = MissingUsageResponse),
    )
)]
pub async fn missing_usage(
    state: web::Data<AppState>,
    query: web::Query<MissingUsageQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let older_than_seconds = query
        .older_than_seconds
        .unwrap_or(state.missing_usage_after_seconds);
    if !(0..=MAX_OLDER_THAN_SECONDS).contains(&older_than_seconds) {
        return Err(ApiError::bad_request(
            ErrorCode::InvalidQuery,
            format!("`older_than_seconds` must be within 0..={MAX_OLDER_THAN_SECONDS} (ten years)"),
        ));
    }
    let limit = parse_limit(query.limit)?;
    let after: Option<GapKey> = match parse_cursor(query.cursor.as_deref(), 4)? {
        Some(parts) => Some((
            instant_of(&parts[0])?,
            parts[1].clone(),
            parts[2].clone(),
            parts[3].parse().map_err(|_| invalid_cursor())?,
        )),
        None => None,
    };
    let rows = with_conn(&state.pool, move |conn| {
        if let Some(tenant) = &query.tenant {
            require_tenant(conn, tenant)?;
        }
        let tenant = query.tenant.as_deref();
        load(
            conn,
            tenant,
            older_than_seconds,
            after.as_ref(),
            fetch_limit(limit),
        )
        .map_err(ApiError::from)
    })
    .await?;
    let gaps = Page::of(rows, limit, |gap| {
        vec![
            cursor_instant(&gap.open_since),
            gap.allocation_id.clone(),
            gap.gpu_uuid.clone(),
            gap.first_seq.to_string(),
        ]
    });
    Ok(HttpResponse::Ok().json(MissingUsageResponse {
        older_than_seconds,
        gaps,
    }))
}
