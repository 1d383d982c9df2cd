//! The journals the books are kept in, and which one a transaction belongs to. The codes are
//! those of the FEC's `JournalCode` and the CSV journal's `journal` column (docs/billing.md).

use gpubill_domain::TransactionKind;

/// A journal of the books.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Journal {
    /// `VE`: invoices and the credit notes voiding them (411 against 4181, 706, 44571).
    Sales,
    /// `FAE`: usage delivered and not invoiced yet, booked as it is rated (4181 against 706).
    Accrual,
    /// `AC`: prepaid credit granted or bought, and used against invoices (4191 against 411, 709).
    Prepaid,
}

impl Journal {
    pub const ALL: [Self; 3] = [Self::Sales, Self::Accrual, Self::Prepaid];

    /// The journal `kind` is booked in.
    pub fn of(kind: TransactionKind) -> Self {
        match kind {
            TransactionKind::Invoice | TransactionKind::CreditNote => Self::Sales,
            TransactionKind::Usage => Self::Accrual,
            TransactionKind::CreditGrant | TransactionKind::CreditUse => Self::Prepaid,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::Sales => "VE",
            Self::Accrual => "FAE",
            Self::Prepaid => "AC",
        }
    }

    /// The journal's name, as the FEC's `JournalLib` gives it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Sales => "Ventes",
            Self::Accrual => "Factures à établir - consommation GPU",
            Self::Prepaid => "Avances clients - crédit prépayé",
        }
    }
}
