//! EN 16931 e-invoices, as French companies must issue them: the legal identities an invoice
//! names (`identity`), the e-invoice model of a finalized invoice or credit note with its legal
//! mentions (`document`), and its renderings: UN/CEFACT CII at the EN 16931 profile of Factur-X
//! (`cii`), UBL 2.1 (`ubl`), and the Factur-X PDF that carries the CII (`pdf`). Pure: the ledger gathers what was frozen, this crate renders it.

pub mod cii;
pub mod document;
pub mod identity;
pub mod pdf;
pub mod ubl;
mod xml;

#[cfg(test)]
mod samples;
