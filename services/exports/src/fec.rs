//! The FEC, Fichier des Écritures Comptables (article A47 A-1 of the Livre des procédures
//! fiscales): every entry line of a fiscal year, 18 columns in the legal order, one header line.
//!
//! - `JournalCode`/`JournalLib`: the [`Journal`] of the transaction's kind.
//! - `EcritureNum`: numbered from 1 in each journal, without gaps, in the order the entries
//!   were booked (`booked_at`, then transaction id); one number per transaction.
//! - `EcritureDate` and `ValidDate`: the day the transaction was booked, in the books' time
//!   zone. Journal rows are append-only from the moment they are written, so that is also the
//!   day the entry became final.
//! - `CompteNum`/`CompteLib`: the PCG account. Per-tenant accounts (411, 4181, 4191) are the
//!   general account with the tenant as auxiliary account (`CompAuxNum`/`CompAuxLib`); revenue
//!   per SKU is `706` followed by the SKU's letters and digits (`706H100SXM580GB`).
//! - `PieceRef`/`PieceDate`: the invoice or credit note number, the credit grant, or the usage
//!   booking, and its date.
//! - `Debit`/`Credit`: decimal comma, no thousands separator, the other side `0,00`.
//! - `EcritureLet`/`DateLet`: empty (payments are not kept in gpubill's books).
//! - `Montantdevise`/`Idevise`: empty: every amount is in the books' currency (EUR).
//!
//! Every transaction is checked to balance before its next one is written, and the whole file
//! at the end: a ledger that broke its own rules stops the export.

use crate::ExportError;
use crate::journals::Journal;
use crate::line::JournalLine;
use crate::text::{Charset, amount_with_comma, fec_date};
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use gpubill_domain::{AccountId, PcgAccount, day_start_in};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::io::Write;
use uuid::Uuid;

/// The 18 columns, in the legal order, with their legal names.
pub const COLUMNS: [&str; 18] = [
    "JournalCode",
    "JournalLib",
    "EcritureNum",
    "EcritureDate",
    "CompteNum",
    "CompteLib",
    "CompAuxNum",
    "CompAuxLib",
    "PieceRef",
    "PieceDate",
    "EcritureLib",
    "Debit",
    "Credit",
    "EcritureLet",
    "DateLet",
    "ValidDate",
    "Montantdevise",
    "Idevise",
];

/// The field separator: `|` or a tab, as the law allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Separator {
    Pipe,
    Tab,
}

impl Separator {
    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "pipe" => Some(Self::Pipe),
            "tab" => Some(Self::Tab),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::Pipe => "pipe",
            Self::Tab => "tab",
        }
    }

    pub fn byte(self) -> u8 {
        match self {
            Self::Pipe => b'|',
            Self::Tab => b'\t',
        }
    }
}

/// How the file is written.
#[derive(Debug, Clone, Copy)]
pub struct FecOptions {
    pub separator: Separator,
    pub charset: Charset,
    /// The books' time zone: entry dates are days there.
    pub time_zone: Tz,
}

/// `<SIREN>FEC<closing date AAAAMMJJ>.txt`, the name the law gives the file.
pub fn file_name(siren: &str, closing: NaiveDate) -> String {
    format!("{siren}FEC{}.txt", fec_date(closing))
}

/// What was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FecSummary {
    pub lines: u64,
    pub transactions: u64,
    /// Transactions per journal code.
    pub per_journal: BTreeMap<&'static str, u64>,
    pub debit: Decimal,
    pub credit: Decimal,
}

/// The transaction being written: its lines must sum to zero before the next one starts.
struct Open {
    transaction_id: Uuid,
    balance: Decimal,
}

/// Writes a FEC line by line.
pub struct FecWriter<W: Write> {
    out: W,
    options: FecOptions,
    numbers: BTreeMap<Journal, u64>,
    open: Option<Open>,
    summary: FecSummary,
    record: Vec<u8>,
}

impl<W: Write> FecWriter<W> {
    /// Starts the file with its header line.
    pub fn new(out: W, options: FecOptions) -> Result<Self, ExportError> {
        let mut writer = Self {
            out,
            options,
            numbers: BTreeMap::new(),
            open: None,
            summary: FecSummary::default(),
            record: Vec::with_capacity(512),
        };
        let header: Vec<String> = COLUMNS.iter().map(|name| (*name).to_owned()).collect();
        writer.put(&header)?;
        Ok(writer)
    }

    /// Writes one entry line; lines come in booking order, a transaction's lines together.
    pub fn write(&mut self, line: &JournalLine) -> Result<(), ExportError> {
        let journal = Journal::of(line.kind);
        if self.open.as_ref().map(|open| open.transaction_id) != Some(line.transaction_id) {
            self.close_transaction()?;
            *self.numbers.entry(journal).or_default() += 1;
            *self.summary.per_journal.entry(journal.code()).or_default() += 1;
            self.summary.transactions += 1;
        }
        let number = self.numbers.get(&journal).copied().unwrap_or_default();
        let open = self.open.get_or_insert(Open {
            transaction_id: line.transaction_id,
            balance: Decimal::ZERO,
        });
        open.balance += line.amount;
        self.summary.lines += 1;
        self.summary.debit += line.debit();
        self.summary.credit += line.credit();
        let fields = fields(line, journal, number, self.options.time_zone);
        self.put(&fields)
    }

    /// Checks the last transaction and the file's balance, flushes, and says what was written.
    pub fn finish(mut self) -> Result<(FecSummary, W), ExportError> {
        self.close_transaction()?;
        if self.summary.debit != self.summary.credit {
            return Err(ExportError::Inconsistent(format!(
                "the file's debits ({}) and credits ({}) differ",
                self.summary.debit, self.summary.credit
            )));
        }
        self.out.flush()?;
        Ok((self.summary, self.out))
    }

    fn close_transaction(&mut self) -> Result<(), ExportError> {
        match self.open.take() {
            Some(open) if !open.balance.is_zero() => Err(ExportError::Inconsistent(format!(
                "transaction {} does not balance ({})",
                open.transaction_id, open.balance
            ))),
            _ => Ok(()),
        }
    }

    /// One record: fields cleaned of separators and line breaks, in the file's charset.
    fn put(&mut self, fields: &[String]) -> Result<(), ExportError> {
        self.record.clear();
        for (index, field) in fields.iter().enumerate() {
            if index > 0 {
                self.record.push(self.options.separator.byte());
            }
            let cleaned: String = field
                .chars()
                .map(|character| match character {
                    '|' | '\t' | '\r' | '\n' => ' ',
                    other => other,
                })
                .collect();
            self.options.charset.encode(&cleaned, &mut self.record);
        }
        self.record.extend_from_slice(b"\r\n");
        self.out.write_all(&self.record)?;
        Ok(())
    }
}

/// The 18 fields of `line`.
fn fields(line: &JournalLine, journal: Journal, number: u64, time_zone: Tz) -> Vec<String> {
    let booked_on = fec_date(line.booked_at.with_timezone(&time_zone).date_naive());
    let (auxiliary_number, auxiliary_label) = match line.auxiliary() {
        Some(tenant) => (tenant.id.clone(), tenant.name.clone()),
        None => (String::new(), String::new()),
    };
    vec![
        journal.code().to_owned(),
        journal.label().to_owned(),
        number.to_string(),
        booked_on.clone(),
        account_number(&line.account),
        account_label(&line.account),
        auxiliary_number,
        auxiliary_label,
        line.piece.reference.clone(),
        fec_date(line.piece.date),
        line.description.clone(),
        amount_with_comma(line.debit()),
        amount_with_comma(line.credit()),
        String::new(),
        String::new(),
        booked_on,
        String::new(),
        String::new(),
    ]
}

/// `CompteNum`: the PCG code; revenue per SKU adds the SKU's letters and digits.
pub fn account_number(account: &AccountId) -> String {
    match (account.pcg(), account.detail()) {
        (Some(PcgAccount::Revenue), Some(detail)) => {
            let suffix: String = detail
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .map(|character| character.to_ascii_uppercase())
                .collect();
            format!("{}{suffix}", PcgAccount::Revenue.code())
        }
        (Some(pcg), _) => pcg.code().to_owned(),
        (None, _) => account.as_str().to_owned(),
    }
}

/// `CompteLib`: the PCG title; revenue per SKU names the SKU.
pub fn account_label(account: &AccountId) -> String {
    match (account.pcg(), account.detail()) {
        (Some(PcgAccount::Revenue), Some(detail)) => {
            format!("{} - {detail}", PcgAccount::Revenue.title())
        }
        (Some(pcg), _) => pcg.title().to_owned(),
        (None, _) => account.as_str().to_owned(),
    }
}

/// The fiscal year a FEC covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FiscalYear {
    pub first_day: NaiveDate,
    pub closing_day: NaiveDate,
}

impl FiscalYear {
    /// The fiscal year that closes in `year`, when fiscal years start on the first of
    /// `start_month` (1 = January: the calendar year). `None` for a month outside 1..=12 or a
    /// year chrono cannot hold.
    pub fn closing_in(year: i32, start_month: u32) -> Option<Self> {
        let first_day = if start_month == 1 {
            NaiveDate::from_ymd_opt(year, 1, 1)?
        } else {
            NaiveDate::from_ymd_opt(year - 1, start_month, 1)?
        };
        let next_first_day = first_day.checked_add_months(chrono::Months::new(12))?;
        Some(Self {
            first_day,
            closing_day: next_first_day.pred_opt()?,
        })
    }

    /// The first instant of the year in `time_zone`.
    pub fn start_in(self, time_zone: Tz) -> DateTime<Utc> {
        day_start_in(self.first_day, time_zone)
    }

    /// The first instant after the year in `time_zone`.
    pub fn end_in(self, time_zone: Tz) -> DateTime<Utc> {
        // Fiscal years close far inside chrono's range: the next day exists.
        day_start_in(self.closing_day + chrono::Days::new(1), time_zone)
    }
}

/// The descriptive note that goes with the file (« notice descriptive »): what each field
/// holds, the codes, the charset and the separator. Written in French, as the administration
/// reads it, in the file's charset.
pub fn description(
    options: &FecOptions,
    siren: &str,
    legal_name: &str,
    year: FiscalYear,
    summary: &FecSummary,
) -> Vec<u8> {
    let separator = match options.separator {
        Separator::Pipe => "barre verticale « | »",
        Separator::Tab => "tabulation",
    };
    let charset = match options.charset {
        Charset::Latin9 => "ISO 8859-15",
        Charset::Ascii => "ASCII (accents retirés)",
    };
    let journals: String = Journal::ALL
        .iter()
        .map(|journal| {
            format!(
                "  {:<4} {} ({} écritures)\r\n",
                journal.code(),
                journal.label(),
                summary
                    .per_journal
                    .get(journal.code())
                    .copied()
                    .unwrap_or(0)
            )
        })
        .collect();
    let text = format!(
        "Fichier des écritures comptables de {legal_name} (SIREN {siren})\r\n\
         Fichier : {file}\r\n\
         Exercice : du {first} au {closing}\r\n\
         Produit par gpubill, logiciel de facturation à l'usage de GPU.\r\n\
         \r\n\
         Format : texte, une ligne d'en-tête puis une ligne par ligne d'écriture ; séparateur : {separator} ;\r\n\
         jeu de caractères : {charset} ; fin de ligne CR LF ; dates AAAAMMJJ ; montants avec une virgule\r\n\
         décimale, deux décimales, sans séparateur de milliers ; un montant au débit ou au crédit, l'autre à 0,00.\r\n\
         Monnaie de tenue des comptes : EUR (Montantdevise et Idevise vides).\r\n\
         \r\n\
         Journaux :\r\n{journals}\
         \r\n\
         Champs :\r\n\
           JournalCode, JournalLib : le journal ci-dessus.\r\n\
           EcritureNum : numéro de l'écriture, continu et sans trou dans chaque journal, dans l'ordre\r\n\
             chronologique de comptabilisation.\r\n\
           EcritureDate : jour de comptabilisation (fuseau {time_zone}).\r\n\
           CompteNum, CompteLib : compte du plan comptable général ; 706 suivi du code du produit\r\n\
             (type de GPU) pour le chiffre d'affaires par produit.\r\n\
           CompAuxNum, CompAuxLib : compte auxiliaire du client (identifiant et nom du locataire) sur\r\n\
             les comptes 411, 4181 et 4191.\r\n\
           PieceRef, PieceDate : facture (INV-AAAA-NNNNNN), avoir (CN-AAAA-NNNNNN), attribution de crédit\r\n\
             prépayé (identifiant) ou relevé de consommation (identifiant de la transaction), et sa date.\r\n\
           EcritureLib : libellé de l'écriture.\r\n\
           Debit, Credit : montants.\r\n\
           EcritureLet, DateLet : vides (les règlements ne sont pas tenus dans ce logiciel).\r\n\
           ValidDate : date de validation ; une écriture est définitive dès sa comptabilisation (journal\r\n\
             en ajout seul, sans modification ni suppression possible).\r\n\
           Montantdevise, Idevise : vides.\r\n\
         \r\n\
         Contenu : {lines} lignes, {transactions} écritures ; total des débits {debit}, total des crédits {credit}.\r\n",
        file = file_name(siren, year.closing_day),
        first = year.first_day.format("%d/%m/%Y"),
        closing = year.closing_day.format("%d/%m/%Y"),
        time_zone = options.time_zone.name(),
        lines = summary.lines,
        transactions = summary.transactions,
        debit = amount_with_comma(summary.debit),
        credit = amount_with_comma(summary.credit),
    );
    let mut out = Vec::with_capacity(text.len());
    options.charset.encode(&text, &mut out);
    out
}

/// The description's file name, beside the FEC's.
pub fn description_file_name(siren: &str, closing: NaiveDate) -> String {
    format!("{siren}FEC{}_description.txt", fec_date(closing))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fiscal_year_closes_in_its_year_and_can_start_in_any_month() {
        let day = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).unwrap();
        let calendar = FiscalYear::closing_in(2026, 1).unwrap();
        assert_eq!(
            (calendar.first_day, calendar.closing_day),
            (day(2026, 1, 1), day(2026, 12, 31))
        );
        let july = FiscalYear::closing_in(2026, 7).unwrap();
        assert_eq!(
            (july.first_day, july.closing_day),
            (day(2025, 7, 1), day(2026, 6, 30))
        );
        assert_eq!(
            calendar.start_in(chrono_tz::Europe::Paris).to_rfc3339(),
            "2025-12-31T23:00:00+00:00"
        );
        assert_eq!(
            file_name("912345675", calendar.closing_day),
            "912345675FEC20261231.txt"
        );
    }

    #[test]
    fn revenue_per_sku_gets_an_alphanumeric_account_number() {
        let account = AccountId::revenue("H100-SXM5-80GB");
        assert_eq!(account_number(&account), "706H100SXM580GB");
        assert_eq!(
            account_label(&account),
            "Prestations de services - H100-SXM5-80GB"
        );
        assert_eq!(
            account_number(&AccountId::customer_receivables("acme")),
            "411"
        );
    }
}
