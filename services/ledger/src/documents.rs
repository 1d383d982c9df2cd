//! Issued invoices and credit notes as files: the EN 16931 e-invoice in CII or UBL, and the
//! Factur-X PDF that carries the CII. Gathered from what was issued (`invoicing`), composed and
//! rendered by `gpubill_einvoice`; never recomputed.

use crate::LedgerError;
use crate::invoicing::{issued_credit_note, issued_invoice};
use diesel::pg::PgConnection;
use gpubill_domain::{DocumentKind, DocumentNumber};
use gpubill_einvoice::{cii, document, pdf, ubl};

/// Which file of a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Cii,
    Ubl,
    Pdf,
}

impl Format {
    /// The format of a `syntax` or `--format` value: `cii`, `ubl` or `pdf`.
    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "cii" => Some(Format::Cii),
            "ubl" => Some(Format::Ubl),
            "pdf" => Some(Format::Pdf),
            _ => None,
        }
    }

    /// What a file of this format is named after its document's number.
    pub fn suffix(self) -> &'static str {
        match self {
            Format::Cii => "cii.xml",
            Format::Ubl => "ubl.xml",
            Format::Pdf => "pdf",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Cii | Format::Ubl => "application/xml",
            Format::Pdf => "application/pdf",
        }
    }
}

/// A document's file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// Whose document it is: the caller decides whether it may be shown.
    pub tenant_id: String,
    pub file_name: String,
    pub content_type: &'static str,
    pub bytes: Vec<u8>,
}

/// The `format` file of the invoice or credit note `number` (`INV-…` or `CN-…`).
pub fn render(
    conn: &mut PgConnection,
    number: &str,
    format: Format,
) -> Result<Rendered, LedgerError> {
    let parsed: DocumentNumber = number
        .parse()
        .map_err(|_| LedgerError::NotFound(format!("document {number}")))?;
    let issued = match parsed.kind() {
        DocumentKind::Invoice => issued_invoice(conn, number)?,
        DocumentKind::CreditNote => issued_credit_note(conn, number)?,
    };
    let invoice =
        document::compose(&issued).map_err(|error| LedgerError::Corrupt(error.to_string()))?;
    let bytes = match format {
        Format::Cii => cii::render(&invoice).into_bytes(),
        Format::Ubl => ubl::render(&invoice).into_bytes(),
        Format::Pdf => pdf::render(&invoice, &cii::render(&invoice))
            .map_err(|error| LedgerError::Corrupt(error.to_string()))?,
    };
    Ok(Rendered {
        tenant_id: issued.buyer.tenant_id,
        file_name: format!("{number}.{}", format.suffix()),
        content_type: format.content_type(),
        bytes,
    })
}
