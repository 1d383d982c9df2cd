//! `gpubill export fec|journal|trial-balance|focus`: the finance exports written to files, with
//! a progress bar. A file is written under a `.partial` name beside its final one and renamed
//! only once complete and synced, so an interrupted export (Ctrl-C, an error) leaves no file
//! under the final name, and removes its partial one.

use crate::progress::Progress;
use crate::setup;
use anyhow::{Context, Result};
use gpubill_domain::BillingPeriod;
use gpubill_exports::fec::{self, FecOptions, FiscalYear};
use gpubill_exports::focus::{FocusFormat, Grain};
use gpubill_exports::trial_balance;
use gpubill_exports::window::{TimeArg, window};
use gpubill_ledger::books::{trial_balance_at, write_fec, write_focus, write_journal_csv};
use gpubill_ledger::journal::count_entries;
use gpubill_ledger::usage_buckets::bucket_count;
use gpubill_platform::config::Config;
use gpubill_platform::db::with_conn;
use gpubill_platform::shutdown::Shutdown;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Subcommand)]
pub enum ExportCommand {
    /// The FEC (fichier des écritures comptables) of a fiscal year, and its description file,
    /// named `<SIREN>FEC<closing date>.txt` in --dir.
    Fec(FecArgs),
    /// Every journal entry line of a window, as CSV.
    Journal(JournalArgs),
    /// Every account's debits, credits and balance at an instant.
    TrialBalance(TrialBalanceArgs),
    /// The FOCUS 1.2 cost and usage rows of a billing period, for one tenant or all.
    Focus(FocusArgs),
}

#[derive(Debug, clap::Args)]
pub struct FocusArgs {
    /// The tenant (or --all).
    #[arg(long, required_unless_present = "all", conflicts_with = "all")]
    tenant: Option<String>,
    /// Every tenant.
    #[arg(long)]
    all: bool,
    /// The billing period, YYYY-MM (each tenant's month in its time zone).
    #[arg(long)]
    period: String,
    /// `hour` or `day` [default: books.focus_grain].
    #[arg(long)]
    grain: Option<String>,
    /// `csv` or `parquet`.
    #[arg(long, default_value = "csv")]
    format: String,
    /// File to write [default: focus_TENANT|all_PERIOD.csv (or .parquet) here].
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct FecArgs {
    /// The fiscal year, by the year it closes in (books.fiscal_year_start_month).
    #[arg(long)]
    year: i32,
    /// Directory to write the files to.
    #[arg(long, default_value = ".")]
    dir: PathBuf,
    /// `pipe` or `tab` [default: books.fec_separator].
    #[arg(long)]
    separator: Option<String>,
    /// `iso-8859-15` or `ascii` [default: books.fec_charset].
    #[arg(long)]
    charset: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct JournalArgs {
    /// First day (YYYY-MM-DD, in books.time_zone) or instant (RFC 3339).
    #[arg(long)]
    from: String,
    /// Last day, included whole, or instant, excluded.
    #[arg(long)]
    to: String,
    /// `csv` (the only format).
    #[arg(long, default_value = "csv")]
    format: String,
    /// File to write [default: journal_FROM_TO.csv here].
    #[arg(long)]
    out: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct TrialBalanceArgs {
    /// Entries booked at or before this instant (RFC 3339), or by the end of this day.
    #[arg(long)]
    at: String,
    /// `csv` or `json`.
    #[arg(long, default_value = "csv")]
    format: String,
    /// File to write [default: standard output].
    #[arg(long)]
    out: Option<PathBuf>,
}

pub async fn run(config: &Config, command: ExportCommand, stop: Shutdown) -> Result<()> {
    match command {
        ExportCommand::Fec(args) => fec_file(config, args, stop).await,
        ExportCommand::Journal(args) => journal_file(config, args, stop).await,
        ExportCommand::TrialBalance(args) => trial_balance_file(config, args).await,
        ExportCommand::Focus(args) => focus_file(config, args, stop).await,
    }
}

async fn focus_file(config: &Config, args: FocusArgs, stop: Shutdown) -> Result<()> {
    let format = FocusFormat::from_code(&args.format)
        .with_context(|| format!("--format `{}`: csv or parquet", args.format))?;
    let period: BillingPeriod = args
        .period
        .parse()
        .with_context(|| format!("--period `{}`", args.period))?;
    let grain = match &args.grain {
        Some(code) => {
            Grain::from_code(code).with_context(|| format!("--grain `{code}`: hour or day"))?
        }
        None => config.settings.books.focus_grain,
    };
    let scope = args.tenant.clone().unwrap_or_else(|| "all".to_owned());
    let target = args
        .out
        .unwrap_or_else(|| PathBuf::from(format!("focus_{scope}_{period}.{}", format.extension())));
    let pool = setup::prepare_ledger(config).await?.pool;
    let tenant = args.tenant.clone();
    let total = {
        let tenant = tenant.clone();
        with_conn(&pool, move |conn| {
            bucket_count(conn, period.first_day(), tenant.as_deref(), grain.code())
                .map_err(anyhow::Error::from)
        })
        .await?
    };
    let progress = Progress::new(format!("FOCUS {scope} {period}"), total, "usage rows");
    let staged = Staged::new(&target, stop)?;
    let (provider, currency) = (
        config.seller.legal_name.clone(),
        config.settings.billing.currency.clone(),
    );
    let rows = with_conn(&pool, move |conn| {
        staged.write(|out| {
            let mut out = out;
            let rows = write_focus(
                conn,
                period,
                tenant.as_deref(),
                grain,
                format,
                &provider,
                &currency,
                &mut out,
                |done| progress.show(done),
            )?;
            progress.finish();
            Ok((rows, out))
        })
    })
    .await?;
    eprintln!("{}: {rows} rows", target.display());
    Ok(())
}

async fn fec_file(config: &Config, args: FecArgs, stop: Shutdown) -> Result<()> {
    let books = &config.settings.books;
    let year = FiscalYear::closing_in(args.year, books.fiscal_year_start_month)
        .with_context(|| format!("--year {}: not a fiscal year", args.year))?;
    let options = FecOptions {
        separator: match &args.separator {
            Some(code) => fec::Separator::from_code(code)
                .with_context(|| format!("--separator `{code}`: pipe or tab"))?,
            None => books.fec_separator,
        },
        charset: match &args.charset {
            Some(code) => gpubill_exports::text::Charset::from_code(code)
                .with_context(|| format!("--charset `{code}`: iso-8859-15 or ascii"))?,
            None => books.fec_charset,
        },
        time_zone: books.time_zone,
    };
    let siren = config.seller.siren.clone();
    let target = args.dir.join(fec::file_name(&siren, year.closing_day));
    let pool = setup::prepare_ledger(config).await?.pool;
    let (from, to) = (year.start_in(books.time_zone), year.end_in(books.time_zone));
    let total = with_conn(&pool, move |conn| {
        count_entries(conn, from, to).map_err(anyhow::Error::from)
    })
    .await?;
    let progress = Progress::new(format!("FEC {}", args.year), total, "lines");
    let staged = Staged::new(&target, stop)?;
    let summary = with_conn(&pool, move |conn| {
        staged.write(|out| {
            let (summary, out) = write_fec(conn, year, options, out, |done| progress.show(done))?;
            progress.finish();
            Ok((summary, out))
        })
    })
    .await?;
    let description = fec::description(&options, &siren, &config.seller.legal_name, year, &summary);
    let description_path = args
        .dir
        .join(fec::description_file_name(&siren, year.closing_day));
    std::fs::write(&description_path, description)
        .with_context(|| format!("cannot write {}", description_path.display()))?;
    eprintln!(
        "{}: {} lines, {} entries (VE {}, FAE {}, AC {}), debit = credit = {}; description in {}",
        target.display(),
        summary.lines,
        summary.transactions,
        summary.per_journal.get("VE").copied().unwrap_or(0),
        summary.per_journal.get("FAE").copied().unwrap_or(0),
        summary.per_journal.get("AC").copied().unwrap_or(0),
        summary.debit,
        description_path.display()
    );
    Ok(())
}

async fn journal_file(config: &Config, args: JournalArgs, stop: Shutdown) -> Result<()> {
    anyhow::ensure!(args.format == "csv", "--format `{}`: csv", args.format);
    let time_zone = config.settings.books.time_zone;
    let from: TimeArg = args.from.parse().context("--from")?;
    let to: TimeArg = args.to.parse().context("--to")?;
    let (start, end) = window(from, to, time_zone)?;
    let target = args
        .out
        .unwrap_or_else(|| PathBuf::from(format!("journal_{}_{}.csv", args.from, args.to)));
    let pool = setup::prepare_ledger(config).await?.pool;
    let total = with_conn(&pool, move |conn| {
        count_entries(conn, start, end).map_err(anyhow::Error::from)
    })
    .await?;
    let progress = Progress::new("journal".to_owned(), total, "lines");
    let staged = Staged::new(&target, stop)?;
    let lines = with_conn(&pool, move |conn| {
        staged.write(|out| {
            let mut out = out;
            let lines = write_journal_csv(conn, time_zone, start, end, &mut out, |done| {
                progress.show(done)
            })?;
            progress.finish();
            Ok((lines, out))
        })
    })
    .await?;
    eprintln!("{}: {lines} lines", target.display());
    Ok(())
}

async fn trial_balance_file(config: &Config, args: TrialBalanceArgs) -> Result<()> {
    let at = args
        .at
        .parse::<TimeArg>()
        .context("--at")?
        .at(config.settings.books.time_zone);
    let currency = config.settings.billing.currency.clone();
    let pool = setup::prepare_ledger(config).await?.pool;
    let balance = with_conn(&pool, move |conn| {
        trial_balance_at(conn, at, &currency).map_err(anyhow::Error::from)
    })
    .await?;
    let mut bytes = Vec::new();
    match args.format.as_str() {
        "csv" => trial_balance::write_csv(&balance, &mut bytes)?,
        "json" => serde_json::to_writer_pretty(&mut bytes, &balance)?,
        other => anyhow::bail!("--format `{other}`: csv or json"),
    }
    match args.out {
        Some(path) => std::fs::write(&path, bytes)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => std::io::stdout().write_all(&bytes)?,
    }
    Ok(())
}

/// A file written under `<name>.partial` and renamed to its name once complete.
struct Staged {
    target: PathBuf,
    partial: PathBuf,
    stop: Shutdown,
}

impl Staged {
    fn new(target: &Path, stop: Shutdown) -> Result<Self> {
        let mut partial = target.as_os_str().to_owned();
        partial.push(".partial");
        Ok(Self {
            target: target.to_owned(),
            partial: partial.into(),
            stop,
        })
    }

    /// Runs `write` on the partial file, then syncs and renames it; on any failure, or when a
    /// signal stopped the writing, removes it.
    fn write<T>(
        self,
        write: impl FnOnce(
            Interruptible<BufWriter<File>>,
        ) -> Result<(T, Interruptible<BufWriter<File>>)>,
    ) -> Result<T> {
        let file = File::create(&self.partial)
            .with_context(|| format!("cannot create {}", self.partial.display()))?;
        let out = Interruptible {
            inner: BufWriter::with_capacity(1 << 20, file),
            stop: self.stop.clone(),
        };
        let outcome = write(out).and_then(|(value, out)| {
            let file = out
                .inner
                .into_inner()
                .map_err(|error| error.into_error())
                .context("flushing the export")?;
            file.sync_all().context("syncing the export")?;
            std::fs::rename(&self.partial, &self.target).with_context(|| {
                format!(
                    "cannot move {} to {}",
                    self.partial.display(),
                    self.target.display()
                )
            })?;
            Ok(value)
        });
        if outcome.is_err() {
            let _ = std::fs::remove_file(&self.partial);
        }
        outcome
    }
}

/// A writer that fails once shutdown is triggered, so a long export stops at the next write.
struct Interruptible<W> {
    inner: W,
    stop: Shutdown,
}

impl<W: Write> Write for Interruptible<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.stop.is_triggered() {
            // Not ErrorKind::Interrupted: write_all retries those, forever.
            return Err(std::io::Error::other("export interrupted by a signal"));
        }
        self.inner.write(bytes)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_interrupted_export_leaves_no_file_and_a_finished_one_is_renamed() {
        let dir = std::env::temp_dir().join(format!("export-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let target = dir.join("912345675FEC20261231.txt");
        let (trigger, stop) = gpubill_platform::shutdown::channel();
        let written = Staged::new(&target, stop.clone())
            .unwrap()
            .write(|mut out| {
                out.write_all(b"JournalCode|")?;
                Ok(((), out))
            });
        assert!(written.is_ok());
        assert_eq!(std::fs::read(&target).unwrap(), b"JournalCode|");
        std::fs::remove_file(&target).unwrap();

        let interrupted = Staged::new(&target, stop).unwrap().write(|mut out| {
            out.write_all(&[b'x'; 2 << 20])?;
            trigger.trigger();
            // The next write after the signal fails: the export stops there.
            out.write_all(&[b'y'; 2 << 20])?;
            Ok(((), out))
        });
        assert!(interrupted.is_err());
        assert!(!target.exists());
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            0,
            "no .partial left"
        );
        std::fs::remove_dir(&dir).unwrap();
    }
}
