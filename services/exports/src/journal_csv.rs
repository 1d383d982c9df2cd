//! The journal as CSV (RFC 4180, UTF-8, a header): every entry line with its transaction,
//! posting time, journal, account and auxiliary account, debit and credit (decimal point, two
//! places), document, tenant and description.

use crate::ExportError;
use crate::csv::record;
use crate::fec::account_label;
use crate::journals::Journal;
use crate::line::JournalLine;
use crate::text::amount_with_point;
use chrono::SecondsFormat;
use rust_decimal::Decimal;
use std::io::Write;

pub const COLUMNS: [&str; 15] = [
    "transaction_id",
    "posted_at",
    "journal",
    "kind",
    "line",
    "account",
    "pcg_code",
    "account_title",
    "auxiliary_account",
    "debit",
    "credit",
    "document",
    "document_date",
    "tenant",
    "description",
];

/// Writes the CSV journal line by line.
pub struct JournalCsvWriter<W: Write> {
    out: W,
    lines: u64,
    debit: Decimal,
    credit: Decimal,
}

impl<W: Write> JournalCsvWriter<W> {
    pub fn new(mut out: W) -> Result<Self, ExportError> {
        record(&mut out, &COLUMNS)?;
        Ok(Self {
            out,
            lines: 0,
            debit: Decimal::ZERO,
            credit: Decimal::ZERO,
        })
    }

    pub fn write(&mut self, line: &JournalLine) -> Result<(), ExportError> {
        let tenant = line.tenant.as_ref().map(|tenant| tenant.id.as_str());
        let auxiliary = line.auxiliary().map(|tenant| tenant.id.as_str());
        record(
            &mut self.out,
            &[
                line.transaction_id.to_string().as_str(),
                &line.booked_at.to_rfc3339_opts(SecondsFormat::Micros, true),
                Journal::of(line.kind).code(),
                line.kind.code(),
                &line.line.to_string(),
                line.account.as_str(),
                line.account.pcg().map_or("", |pcg| pcg.code()),
                &account_label(&line.account),
                auxiliary.unwrap_or(""),
                &amount_with_point(line.debit()),
                &amount_with_point(line.credit()),
                &line.piece.reference,
                &line.piece.date.to_string(),
                tenant.unwrap_or(""),
                &line.description,
            ],
        )?;
        self.lines += 1;
        self.debit += line.debit();
        self.credit += line.credit();
        Ok(())
    }

    /// Lines written, and their debit and credit totals (equal, the journal balancing).
    pub fn finish(mut self) -> Result<(u64, Decimal, Decimal), ExportError> {
        self.out.flush()?;
        if self.debit != self.credit {
            return Err(ExportError::Inconsistent(format!(
                "the journal's debits ({}) and credits ({}) differ",
                self.debit, self.credit
            )));
        }
        Ok((self.lines, self.debit, self.credit))
    }
}
