//! What the ledger hands the exports: one journal entry line with its transaction, its document
//! (the piece behind it) and, for a customer's account, its tenant.

use chrono::{DateTime, NaiveDate, Utc};
use gpubill_domain::{AccountId, TransactionKind};
use rust_decimal::Decimal;
use uuid::Uuid;

/// A tenant as the books name it: its id is the auxiliary account number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantRef {
    pub id: String,
    pub name: String,
}

/// The document behind a transaction: an invoice or credit note number, a credit grant, or for
/// usage booked as it is rated, the booking itself (its transaction id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    pub reference: String,
    pub date: NaiveDate,
}

impl Piece {
    /// The piece of a transaction no document names (usage booked as rated): the transaction id,
    /// dated the day it was booked.
    pub fn booking(transaction_id: Uuid, booked_on: NaiveDate) -> Self {
        Self {
            reference: transaction_id.to_string(),
            date: booked_on,
        }
    }
}

/// One entry line of the journal, in the order the ledger booked it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalLine {
    pub transaction_id: Uuid,
    pub kind: TransactionKind,
    pub description: String,
    pub booked_at: DateTime<Utc>,
    pub line: i16,
    pub account: AccountId,
    /// Whole cents: a debit positive, a credit negative (never zero).
    pub amount: Decimal,
    pub piece: Piece,
    /// The tenant the transaction concerns (every transaction concerns one, named by its
    /// per-tenant accounts: 411, 4181, 4191).
    pub tenant: Option<TenantRef>,
}

impl JournalLine {
    /// The auxiliary account of the line: its tenant, on a per-tenant account only.
    pub fn auxiliary(&self) -> Option<&TenantRef> {
        self.tenant
            .as_ref()
            .filter(|_| self.account.pcg().is_some_and(|pcg| pcg.per_tenant()))
    }

    pub fn debit(&self) -> Decimal {
        self.amount.max(Decimal::ZERO)
    }

    pub fn credit(&self) -> Decimal {
        (-self.amount).max(Decimal::ZERO)
    }
}

/// An account's totals up to an instant: what the trial balance is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountLine {
    pub account: AccountId,
    /// The tenant of a per-tenant account: its auxiliary account.
    pub tenant: Option<TenantRef>,
    /// Sum of the debits (positive entries).
    pub debit: Decimal,
    /// Sum of the credits, as a positive number.
    pub credit: Decimal,
}
