//! `gpubill invoice render NUMBER --format pdf|cii|ubl`: an issued invoice or credit note as the
//! file the API serves (`GET /v1/invoices/{number}/pdf`, `…/e-invoice?syntax=`), written to disk
//! for finance and for the e-invoice validators.

use crate::setup;
use anyhow::{Context, Result};
use gpubill_ledger::documents::{Format, render};
use gpubill_platform::config::Config;
use gpubill_platform::db::with_conn;
use std::path::PathBuf;

#[derive(Debug, clap::Subcommand)]
pub enum InvoiceCommand {
    /// Write an invoice (INV-…) or credit note (CN-…) as a Factur-X PDF, or its EN 16931 XML.
    Render(RenderArgs),
}

#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// The document's number, e.g. INV-2026-000042 or CN-2026-000003.
    number: String,
    /// pdf (Factur-X PDF/A-3 carrying the CII), cii (UN/CEFACT CII, Factur-X EN 16931 profile)
    /// or ubl (UBL 2.1).
    #[arg(long, default_value = "pdf")]
    format: String,
    /// Where to write it [default: NUMBER.pdf, NUMBER.cii.xml or NUMBER.ubl.xml here]; `-` for
    /// standard output.
    #[arg(long)]
    out: Option<PathBuf>,
}

pub async fn run(config: &Config, command: InvoiceCommand) -> Result<()> {
    let InvoiceCommand::Render(args) = command;
    let format = Format::from_code(&args.format)
        .with_context(|| format!("--format `{}`: pdf, cii or ubl", args.format))?;
    let pool = setup::prepare_ledger(config).await?.pool;
    let number = args.number.clone();
    let rendered = with_conn(&pool, move |conn| {
        render(conn, &number, format).map_err(|error| anyhow::anyhow!(error))
    })
    .await?;
    let out = args
        .out
        .unwrap_or_else(|| PathBuf::from(&rendered.file_name));
    if out.as_os_str() == "-" {
        use std::io::Write;
        std::io::stdout().write_all(&rendered.bytes)?;
        return Ok(());
    }
    // Written beside its final name and renamed, so an interrupted write leaves no half file.
    let partial = out.with_extension("partial");
    std::fs::write(&partial, &rendered.bytes)
        .with_context(|| format!("cannot write {}", partial.display()))?;
    std::fs::rename(&partial, &out)
        .with_context(|| format!("cannot move {} to {}", partial.display(), out.display()))?;
    eprintln!(
        "{} written: {} ({} bytes, tenant {})",
        args.number,
        out.display(),
        rendered.bytes.len(),
        rendered.tenant_id
    );
    Ok(())
}
