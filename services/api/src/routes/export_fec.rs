//! `GET /v1/exports/fec?year=` (the FEC of a fiscal year, streamed as it is read) and
//! `GET /v1/exports/fec/description?year=` (its descriptive note, which counts what the file
//! holds). Finance and admin.

use crate::AppState;
use crate::error::ApiError;
use crate::streaming::{FileSpec, stream_file};
use actix_web::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION};
use actix_web::{HttpResponse, web};
use gpubill_exports::fec::{self, FecOptions, FiscalYear, Separator};
use gpubill_exports::text::Charset;
use gpubill_ledger::books::write_fec;
use gpubill_platform::db::with_conn;
use gpubill_schema::api::ErrorCode;
use serde::Deserialize;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct FecQuery {
    /// The fiscal year, by the year it closes in.
    #[param(example = 2026)]
    year: String,
    /// `pipe` or `tab` [default: books.fec_separator].
    separator: Option<String>,
    /// `iso-8859-15` or `ascii` [default: books.fec_charset].
    charset: Option<String>,
}

impl FecQuery {
    fn parse(&self, state: &AppState) -> Result<(FiscalYear, FecOptions), ApiError> {
        let books = &state.books;
        let year = self
            .year
            .parse::<i32>()
            .ok()
            .filter(|year| (1000..=9998).contains(year))
            .and_then(|year| FiscalYear::closing_in(year, books.fiscal_year_start_month))
            .ok_or_else(|| {
                ApiError::bad_request(
                    ErrorCode::InvalidYear,
                    format!("year `{}`: a year of four digits, e.g. 2026", self.year),
                )
            })?;
        let option = |name: &str, value: &str, allowed: &str| {
            ApiError::bad_request(
                ErrorCode::InvalidExportOption,
                format!("{name} `{value}`: {allowed}"),
            )
        };
        let separator = match &self.separator {
            Some(code) => Separator::from_code(code)
                .ok_or_else(|| option("separator", code, "`pipe` or `tab`"))?,
            None => books.fec_separator,
        };
        let charset = match &self.charset {
            Some(code) => Charset::from_code(code)
                .ok_or_else(|| option("charset", code, "`iso-8859-15` or `ascii`"))?,
            None => books.fec_charset,
        };
        Ok((
            year,
            FecOptions {
                separator,
                charset,
                time_zone: books.time_zone,
            },
        ))
    }
}

fn content_type(charset: Charset) -> &'static str {
    match charset {
        Charset::Latin9 => "text/plain; charset=iso-8859-15",
        Charset::Ascii => "text/plain; charset=us-ascii",
    }
}

#[utoipa::path(
    get,
    path = "/v1/exports/fec",
    tag = "exports",
    summary = "The FEC of a fiscal year",
    description = "The Fichier des Écritures Comptables (article A47 A-1 LPF): every journal entry line of the fiscal year, 18 columns, named `<SIREN>FEC<closing date>.txt`. Streamed as it is read; a failure after the first 64 KiB cuts the transfer short (never a short file that looks whole). docs/billing.md documents the columns and journals.",
    operation_id = "export_fec",
    params(FecQuery),
    responses((status = 200, description = "The FEC", content_type = "text/plain", body = String))
)]
pub async fn export_fec(
    state: web::Data<AppState>,
    query: web::Query<FecQuery>,
) -> Result<HttpResponse, ApiError> {
    let (year, options) = query.parse(&state)?;
    let spec = FileSpec {
        content_type: content_type(options.charset),
        file_name: fec::file_name(&state.seller.siren, year.closing_day),
    };
    stream_file(&state.pool, spec, move |conn, out| {
        write_fec(conn, year, options, out, |_| {}).map(|_| ())
    })
    .await
}

#[utoipa::path(
    get,
    path = "/v1/exports/fec/description",
    tag = "exports",
    summary = "The FEC's descriptive note",
    description = "The note that goes with the FEC: what each field holds, the journal codes, the charset and separator, and what the file holds (lines, entries, totals).",
    operation_id = "export_fec_description",
    params(FecQuery),
    responses((status = 200, description = "The descriptive note", content_type = "text/plain", body = String))
)]
pub async fn export_fec_description(
    state: web::Data<AppState>,
    query: web::Query<FecQuery>,
) -> Result<HttpResponse, ApiError> {
    let (year, options) = query.parse(&state)?;
    let summary = with_conn(&state.pool, move |conn| {
        write_fec(conn, year, options, std::io::sink(), |_| {})
            .map(|(summary, _)| summary)
            .map_err(ApiError::from)
    })
    .await?;
    let (siren, legal_name) = (&state.seller.siren, &state.seller.legal_name);
    Ok(HttpResponse::Ok()
        .content_type(content_type(options.charset))
        .insert_header((
            CONTENT_DISPOSITION,
            format!(
                "attachment; filename=\"{}\"",
                fec::description_file_name(siren, year.closing_day)
            ),
        ))
        .insert_header((CACHE_CONTROL, "private, no-store"))
        .body(fec::description(
            &options, siren, legal_name, year, &summary,
        )))
}
