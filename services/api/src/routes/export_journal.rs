//! `GET /v1/exports/journal?from=&to=`: every journal entry line of a window as CSV, streamed as
//! it is read. Finance and admin.

use crate::AppState;
use crate::error::ApiError;
use crate::streaming::{FileSpec, stream_file};
use actix_web::{HttpResponse, web};
use gpubill_exports::window::{TimeArg, WindowError, window};
use gpubill_ledger::books::write_journal_csv;
use gpubill_schema::api::ErrorCode;
use serde::Deserialize;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct JournalQuery {
    /// First day (`YYYY-MM-DD`, in the books' time zone) or instant (RFC 3339).
    #[param(example = "2026-10-01")]
    from: String,
    /// Last day, included whole, or instant, excluded.
    #[param(example = "2026-10-31")]
    to: String,
    /// `csv` (the default and only format).
    format: Option<String>,
}

/// A bad time or window, as the exports answer it.
pub fn invalid_time(error: WindowError) -> ApiError {
    ApiError::bad_request(ErrorCode::InvalidTime, error.to_string())
}

/// Refuses a `format` the export does not write.
pub fn check_format(format: Option<&str>, allowed: &[&str]) -> Result<(), ApiError> {
    match format {
        Some(format) if !allowed.contains(&format) => Err(ApiError::bad_request(
            ErrorCode::InvalidFormat,
            format!("format `{format}`: {}", allowed.join(" or ")),
        )),
        _ => Ok(()),
    }
}

#[utoipa::path(
    get,
    path = "/v1/exports/journal",
    tag = "exports",
    summary = "The journal of a window, as CSV",
    description = "Every journal entry line booked in the window: transaction, posting time, journal, kind, account (PCG code and title), auxiliary account, debit, credit, document and its date, tenant, description. RFC 4180, UTF-8, a header line, decimal point. Streamed as it is read.",
    operation_id = "export_journal",
    params(JournalQuery),
    responses((status = 200, description = "The journal", content_type = "text/csv", body = String))
)]
pub async fn export_journal(
    state: web::Data<AppState>,
    query: web::Query<JournalQuery>,
) -> Result<HttpResponse, ApiError> {
    check_format(query.format.as_deref(), &["csv"])?;
    let time_zone = state.books.time_zone;
    let from: TimeArg = query.from.parse().map_err(invalid_time)?;
    let to: TimeArg = query.to.parse().map_err(invalid_time)?;
    let (start, end) = window(from, to, time_zone).map_err(invalid_time)?;
    let spec = FileSpec {
        content_type: "text/csv; charset=utf-8",
        file_name: format!("journal_{}_{}.csv", query.from, query.to).replace(':', ""),
    };
    stream_file(&state.pool, spec, move |conn, out| {
        write_journal_csv(conn, time_zone, start, end, out, |_| {}).map(|_| ())
    })
    .await
}
