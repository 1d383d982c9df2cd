//! Double-entry bookkeeping: the ledger's accounts, named after the French chart of accounts (plan
//! comptable général, PCG) so finance can export them as they are, and journal transactions whose
//! entries always sum to zero. Amounts are in cents of the book's currency: a debit is positive, a
//! credit negative. The database enforces the same rules (balance, append-only); this type refuses
//! an unbalanced transaction before it is sent.

use rust_decimal::Decimal;
use std::fmt;

/// The PCG accounts the ledger uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PcgAccount {
    /// 4181 « Clients – factures à établir »: usage delivered, not invoiced yet. Per tenant.
    UnbilledReceivables,
    /// 411 « Clients »: invoiced, not paid yet. Per tenant (auxiliary account).
    CustomerReceivables,
    /// 706 « Prestations de services »: revenue. Per SKU.
    Revenue,
    /// 44571 « TVA collectée »: VAT invoiced, owed to the State.
    VatCollected,
    /// 4191 « Clients – avances et acomptes reçus »: prepaid credits not consumed yet. Per tenant.
    CustomerPrepayments,
}

impl PcgAccount {
    pub const ALL: [Self; 5] = [
        Self::UnbilledReceivables,
        Self::CustomerReceivables,
        Self::Revenue,
        Self::VatCollected,
        Self::CustomerPrepayments,
    ];

    /// The PCG number.
    pub fn code(self) -> &'static str {
        match self {
            Self::UnbilledReceivables => "4181",
            Self::CustomerReceivables => "411",
            Self::Revenue => "706",
            Self::VatCollected => "44571",
            Self::CustomerPrepayments => "4191",
        }
    }

    /// The PCG title.
    pub fn title(self) -> &'static str {
        match self {
            Self::UnbilledReceivables => "Clients - factures à établir",
            Self::CustomerReceivables => "Clients",
            Self::Revenue => "Prestations de services",
            Self::VatCollected => "TVA collectée",
            Self::CustomerPrepayments => "Clients - avances et acomptes reçus",
        }
    }

    fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|account| account.code() == code)
    }
}

/// One account of the ledger: a PCG account, split per tenant or per SKU where the mapping says
/// so. Written `code` or `code.detail`, e.g. `411.mistral-lab`, `706.H100-SXM5-80GB`, `44571`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccountId(String);

impl AccountId {
    pub fn unbilled_receivables(tenant_id: &str) -> Self {
        Self::detailed(PcgAccount::UnbilledReceivables, tenant_id)
    }

    pub fn customer_receivables(tenant_id: &str) -> Self {
        Self::detailed(PcgAccount::CustomerReceivables, tenant_id)
    }

    pub fn revenue(sku: &str) -> Self {
        Self::detailed(PcgAccount::Revenue, sku)
    }

    pub fn vat_collected() -> Self {
        Self(PcgAccount::VatCollected.code().to_owned())
    }

    pub fn customer_prepayments(tenant_id: &str) -> Self {
        Self::detailed(PcgAccount::CustomerPrepayments, tenant_id)
    }

    fn detailed(account: PcgAccount, detail: &str) -> Self {
        Self(format!("{}.{detail}", account.code()))
    }

    /// The PCG account this one belongs to.
    pub fn pcg(&self) -> Option<PcgAccount> {
        let code = self
            .0
            .split_once('.')
            .map_or(self.0.as_str(), |(code, _)| code);
        PcgAccount::from_code(code)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a journal transaction records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TransactionKind {
    /// Usage rated: revenue earned, receivable not invoiced yet.
    Usage,
    /// An invoice finalized: the unbilled receivable becomes a receivable, with its VAT.
    Invoice,
    /// A credit note: an invoice reversed.
    CreditNote,
    /// Prepaid credits granted or bought.
    CreditGrant,
    /// Prepaid credits consumed against an invoice.
    CreditUse,
}

impl TransactionKind {
    /// Stable code, as stored.
    pub fn code(self) -> &'static str {
        match self {
            Self::Usage => "usage",
            Self::Invoice => "invoice",
            Self::CreditNote => "credit_note",
            Self::CreditGrant => "credit_grant",
            Self::CreditUse => "credit_use",
        }
    }
}

/// One line of a transaction: a debit (positive) or a credit (negative), in cents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub account: AccountId,
    pub amount: Decimal,
}

impl Entry {
    pub fn debit(account: AccountId, amount: Decimal) -> Self {
        Self { account, amount }
    }

    pub fn credit(account: AccountId, amount: Decimal) -> Self {
        Self {
            account,
            amount: -amount,
        }
    }
}

/// Why a transaction cannot be booked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JournalError {
    #[error("a transaction needs at least two entries, got {0}")]
    TooFewEntries(usize),
    #[error("entry on {account} is zero")]
    ZeroAmount { account: AccountId },
    #[error("entry on {account} of {amount} is not a whole number of cents")]
    NotCents { account: AccountId, amount: Decimal },
    #[error("account {0} is not in the chart of accounts")]
    UnknownAccount(AccountId),
    #[error("entries sum to {0}, not zero")]
    Unbalanced(Decimal),
}

/// A balanced set of entries, booked at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalTransaction {
    kind: TransactionKind,
    description: String,
    entries: Vec<Entry>,
}

impl JournalTransaction {
    /// Checks the entries: at least two, each a non-zero whole number of cents on a known
    /// account, summing to exactly zero.
    pub fn new(
        kind: TransactionKind,
        description: impl Into<String>,
        entries: Vec<Entry>,
    ) -> Result<Self, JournalError> {
        if entries.len() < 2 {
            return Err(JournalError::TooFewEntries(entries.len()));
        }
        for entry in &entries {
            if entry.account.pcg().is_none() {
                return Err(JournalError::UnknownAccount(entry.account.clone()));
            }
            if entry.amount.is_zero() {
                return Err(JournalError::ZeroAmount {
                    account: entry.account.clone(),
                });
            }
            if entry.amount.normalize().scale() > crate::money::CENT_PLACES {
                return Err(JournalError::NotCents {
                    account: entry.account.clone(),
                    amount: entry.amount,
                });
            }
        }
        let sum: Decimal = entries.iter().map(|entry| entry.amount).sum();
        if !sum.is_zero() {
            return Err(JournalError::Unbalanced(sum));
        }
        Ok(Self {
            kind,
            description: description.into(),
            entries,
        })
    }

    /// Usage rated for a tenant, per SKU amount in cents: debit the tenant's unbilled
    /// receivables with the total, credit each SKU's revenue. SKUs with a zero amount are left
    /// out; a negative amount (a correction) reverses the sides.
    pub fn usage(
        tenant_id: &str,
        amounts_per_sku: &[(String, Decimal)],
    ) -> Result<Self, JournalError> {
        let mut entries: Vec<Entry> = amounts_per_sku
            .iter()
            .filter(|(_, amount)| !amount.is_zero())
            .map(|(sku, amount)| Entry::credit(AccountId::revenue(sku), *amount))
            .collect();
        let total: Decimal = amounts_per_sku.iter().map(|(_, amount)| *amount).sum();
        if !total.is_zero() {
            entries.push(Entry::debit(
                AccountId::unbilled_receivables(tenant_id),
                total,
            ));
        }
        Self::new(
            TransactionKind::Usage,
            format!("usage of {tenant_id}"),
            entries,
        )
    }

    pub fn kind(&self) -> TransactionKind {
        self.kind
    }

    pub fn description(&self) -> &str {
        &self.description
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal::dec;

    #[test]
    fn accounts_follow_the_chart() {
        assert_eq!(
            AccountId::unbilled_receivables("mistral-lab").as_str(),
            "4181.mistral-lab"
        );
        assert_eq!(
            AccountId::revenue("H100-SXM5-80GB").pcg(),
            Some(PcgAccount::Revenue)
        );
        assert_eq!(
            AccountId::vat_collected().pcg(),
            Some(PcgAccount::VatCollected)
        );
        assert_eq!(AccountId("999.x".into()).pcg(), None);
    }

    #[test]
    fn usage_debits_unbilled_receivables_and_credits_revenue_per_sku() {
        let booked = JournalTransaction::usage(
            "mistral-lab",
            &[
                ("H100-SXM5-80GB".into(), dec!(24.90)),
                ("L40S-48GB".into(), dec!(0.99)),
                ("H100-PCIe-80GB".into(), dec!(0)),
            ],
        )
        .unwrap();
        let lines: Vec<(&str, Decimal)> = booked
            .entries()
            .iter()
            .map(|entry| (entry.account.as_str(), entry.amount))
            .collect();
        assert_eq!(
            lines,
            [
                ("706.H100-SXM5-80GB", dec!(-24.90)),
                ("706.L40S-48GB", dec!(-0.99)),
                ("4181.mistral-lab", dec!(25.89)),
            ]
        );
        // A correction that lowers the amount books the other way round.
        let correction =
            JournalTransaction::usage("mistral-lab", &[("L40S-48GB".into(), dec!(-0.01))]).unwrap();
        assert_eq!(correction.entries()[1].amount, dec!(-0.01));
    }

    #[test]
    fn refuses_what_is_not_a_balanced_transaction_in_cents() {
        let revenue = || AccountId::revenue("L40S-48GB");
        let receivable = || AccountId::unbilled_receivables("t");
        let book = |entries| JournalTransaction::new(TransactionKind::Usage, "test", entries);
        assert_eq!(
            book(vec![Entry::debit(receivable(), dec!(1))]),
            Err(JournalError::TooFewEntries(1))
        );
        assert_eq!(
            book(vec![
                Entry::debit(receivable(), dec!(1)),
                Entry::credit(revenue(), dec!(0.99)),
            ]),
            Err(JournalError::Unbalanced(dec!(0.01)))
        );
        assert!(matches!(
            book(vec![
                Entry::debit(receivable(), dec!(1.001)),
                Entry::credit(revenue(), dec!(1.001)),
            ]),
            Err(JournalError::NotCents { .. })
        ));
        assert!(matches!(
            book(vec![
                Entry::debit(receivable(), dec!(0)),
                Entry::credit(revenue(), dec!(0)),
            ]),
            Err(JournalError::ZeroAmount { .. })
        ));
        assert!(matches!(
            book(vec![
                Entry::debit(AccountId("512".into()), dec!(1)),
                Entry::credit(revenue(), dec!(1)),
            ]),
            Err(JournalError::UnknownAccount(_))
        ));
        // Trailing zeros are still whole cents.
        assert!(
            book(vec![
                Entry::debit(receivable(), dec!(1.000)),
                Entry::credit(revenue(), dec!(1.000)),
            ])
            .is_ok()
        );
    }

    proptest! {
        /// Usage of any SKU amounts books a balanced transaction whose receivable is their sum,
        /// and changing any one entry by a cent unbalances it.
        #[test]
        fn usage_transactions_balance_and_a_cent_off_does_not(
            cents in proptest::collection::vec(-1_000_000i64..1_000_000, 1..6),
            tweak in 0usize..6,
        ) {
            let amounts: Vec<(String, Decimal)> = cents
                .iter()
                .enumerate()
                .map(|(index, cents)| (format!("SKU-{index}"), Decimal::new(*cents, 2)))
                .collect();
            let total: Decimal = amounts.iter().map(|(_, amount)| *amount).sum();
            match JournalTransaction::usage("t", &amounts) {
                Ok(booked) => {
                    let sum: Decimal = booked.entries().iter().map(|entry| entry.amount).sum();
                    prop_assert!(sum.is_zero());
                    let receivable = booked
                        .entries()
                        .iter()
                        .find(|entry| entry.account == AccountId::unbilled_receivables("t"))
                        .map(|entry| entry.amount);
                    prop_assert_eq!(receivable, Some(total));
                    let mut entries = booked.entries().to_vec();
                    let index = tweak % entries.len();
                    entries[index].amount += dec!(0.01);
                    let tweaked = JournalTransaction::new(TransactionKind::Usage, "t", entries);
                    prop_assert!(tweaked.is_err());
                }
                // Only when every amount is zero, or the total is zero with a single SKU left.
                Err(error) => prop_assert!(
                    matches!(error, JournalError::TooFewEntries(_)),
                    "{error}"
                ),
            }
        }
    }
}
