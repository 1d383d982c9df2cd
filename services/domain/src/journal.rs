//! Double-entry bookkeeping: the ledger's accounts, named after the French chart of accounts (plan
//! comptable général, PCG) so finance can export them as they are, and journal transactions whose
//! entries always sum to zero. Amounts are in cents of the book's currency: a debit is positive, a
//! credit negative. The database enforces the same rules (balance, append-only); this type refuses
//! an unbalanced transaction before it is sent.
//!
//! # What each transaction books
//!
//! | transaction | debit | credit |
//! |---|---|---|
//! | [`usage`](JournalTransaction::usage) | `4181.<tenant>` usage priced | `706.<sku>` per SKU |
//! | [`invoice`](JournalTransaction::invoice) | `411.<tenant>` the total incl. VAT | `4181.<tenant>` usage lines (regular and adjustments: booked as unbilled when rated); `706.<sku>` reservation lines; `706.commitment` true-up lines; `44571` the VAT |
//! | [`credit_use`](JournalTransaction::credit_use) | `4191.<tenant>` | `411.<tenant>` |
//! | [`credit_grant`](JournalTransaction::credit_grant), bought | `411.<tenant>` (the tenant owes the purchase) | `4191.<tenant>` |
//! | [`credit_grant`](JournalTransaction::credit_grant), granted free | `709` (a rebate) | `4191.<tenant>` |
//! | [`reversal`](JournalTransaction::reversal) | the reversed transaction's credits | its debits |
//!
//! A negative amount (a correction, an adjustment that lowers a charge) books on the other side.
//! Zero entries are left out; a transaction left with no entry at all is refused with
//! [`JournalError::NothingToBook`], so a caller finalizing an invoice whose amounts are all zero
//! (e.g. only late reserved-class usage of an earlier month, priced at zero) books no transaction
//! for it.

use crate::billing::ComposedInvoice;
use crate::contract::ChargeKind;
use rust_decimal::Decimal;
use std::collections::BTreeMap;
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
    /// 709 « Rabais, remises et ristournes accordés par l'entreprise »: prepaid credit given
    /// free, a reduction of revenue. One account. The ledger's `accounts.pcg_code` check must
    /// list `709` before such a grant can be posted.
    RebatesGranted,
}

impl PcgAccount {
    pub const ALL: [Self; 6] = [
        Self::UnbilledReceivables,
        Self::CustomerReceivables,
        Self::Revenue,
        Self::VatCollected,
        Self::CustomerPrepayments,
        Self::RebatesGranted,
    ];

    /// The PCG number.
    pub fn code(self) -> &'static str {
        match self {
            Self::UnbilledReceivables => "4181",
            Self::CustomerReceivables => "411",
            Self::Revenue => "706",
            Self::VatCollected => "44571",
            Self::CustomerPrepayments => "4191",
            Self::RebatesGranted => "709",
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
            Self::RebatesGranted => "Rabais, remises et ristournes accordés par l'entreprise",
        }
    }

    /// Whether the ledger keeps this account per tenant (`411.<tenant>`, `4181.<tenant>`,
    /// `4191.<tenant>`): a customer's account, whose detail is the tenant id.
    pub fn per_tenant(self) -> bool {
        matches!(
            self,
            Self::UnbilledReceivables | Self::CustomerReceivables | Self::CustomerPrepayments
        )
    }

    fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|account| account.code() == code)
    }
}

/// Detail of the revenue account of minimum-commitment true-ups, `706.commitment`: revenue that
/// belongs to no SKU.
pub const COMMITMENT_REVENUE_DETAIL: &str = "commitment";

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

    /// `706.commitment`: revenue of minimum-commitment true-ups.
    pub fn commitment_revenue() -> Self {
        Self::detailed(PcgAccount::Revenue, COMMITMENT_REVENUE_DETAIL)
    }

    pub fn vat_collected() -> Self {
        Self(PcgAccount::VatCollected.code().to_owned())
    }

    pub fn customer_prepayments(tenant_id: &str) -> Self {
        Self::detailed(PcgAccount::CustomerPrepayments, tenant_id)
    }

    /// `709`, with no detail: prepaid credit given free.
    pub fn granted_credits() -> Self {
        Self(PcgAccount::RebatesGranted.code().to_owned())
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

    /// What follows the code: the tenant id or the SKU (`None` for `44571`, `709`).
    pub fn detail(&self) -> Option<&str> {
        self.0.split_once('.').map(|(_, detail)| detail)
    }

    /// The tenant of a per-tenant account ([`PcgAccount::per_tenant`]).
    pub fn tenant(&self) -> Option<&str> {
        self.pcg()
            .filter(|pcg| pcg.per_tenant())
            .and_then(|_| self.detail())
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

impl std::str::FromStr for AccountId {
    type Err = JournalError;

    /// An account id as stored (`411.mistral-lab`), refused unless its code is in the chart.
    fn from_str(stored: &str) -> Result<Self, Self::Err> {
        let account = Self(stored.to_owned());
        match account.pcg() {
            Some(_) => Ok(account),
            None => Err(JournalError::UnknownAccount(account)),
        }
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
    pub const ALL: [Self; 5] = [
        Self::Usage,
        Self::Invoice,
        Self::CreditNote,
        Self::CreditGrant,
        Self::CreditUse,
    ];

    /// The kind stored as `code`.
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.code() == code)
    }

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

/// Where a tenant's prepaid credit comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CreditSource {
    /// Paid for: the tenant owes the purchase, as it owes an invoice.
    Bought,
    /// Given free: a rebate, charged to `709`.
    Granted,
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
    /// Every amount is zero: there is nothing to book, which is not an error of the amounts
    /// but must not be booked as an empty transaction either.
    #[error("every amount is zero: nothing to book")]
    NothingToBook,
    #[error("a prepaid credit amount cannot be negative ({0}); book a reversal instead")]
    NegativeCreditAmount(Decimal),
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

    /// A finalized invoice of `tenant_id`: debit `411.<tenant>` with the total including VAT;
    /// credit `4181.<tenant>` with the usage lines, regular and adjustments (their amounts were
    /// booked as unbilled receivables when rated), `706.<sku>` with each SKU's reservation lines,
    /// `706.commitment` with the true-up lines, and `44571` with the VAT.
    ///
    /// Entries on one account are added up; negative sums book on the other side; zero ones are
    /// left out. An invoice whose amounts are all zero is [`JournalError::NothingToBook`].
    pub fn invoice(tenant_id: &str, invoice: &ComposedInvoice) -> Result<Self, JournalError> {
        let mut usage = Decimal::ZERO;
        let mut reservations: BTreeMap<&str, Decimal> = BTreeMap::new();
        let mut true_up = Decimal::ZERO;
        for line in &invoice.lines {
            match line.charge {
                ChargeKind::Usage => usage += line.amount,
                ChargeKind::Reservation => {
                    *reservations
                        .entry(line.sku.as_deref().unwrap_or_default())
                        .or_default() += line.amount;
                }
                ChargeKind::CommitmentTrueUp => true_up += line.amount,
            }
        }
        let mut entries = vec![
            Entry::debit(
                AccountId::customer_receivables(tenant_id),
                invoice.vat.total,
            ),
            Entry::credit(AccountId::unbilled_receivables(tenant_id), usage),
        ];
        entries.extend(
            reservations
                .into_iter()
                .map(|(sku, amount)| Entry::credit(AccountId::revenue(sku), amount)),
        );
        entries.push(Entry::credit(AccountId::commitment_revenue(), true_up));
        entries.push(Entry::credit(
            AccountId::vat_collected(),
            invoice.vat.vat_total,
        ));
        Self::non_zero(
            TransactionKind::Invoice,
            format!("invoice for {} of {tenant_id}", invoice.period),
            entries,
        )
    }

    /// Prepaid credit of `tenant_id` settling `amount` of its invoices: debit `4191.<tenant>`,
    /// credit `411.<tenant>`.
    pub fn credit_use(tenant_id: &str, amount: Decimal) -> Result<Self, JournalError> {
        if amount < Decimal::ZERO {
            return Err(JournalError::NegativeCreditAmount(amount));
        }
        Self::non_zero(
            TransactionKind::CreditUse,
            format!("prepaid credit used by {tenant_id}"),
            vec![
                Entry::debit(AccountId::customer_prepayments(tenant_id), amount),
                Entry::credit(AccountId::customer_receivables(tenant_id), amount),
            ],
        )
    }

    /// `amount` of prepaid credit for `tenant_id`, credited to `4191.<tenant>`. Bought credit is
    /// owed by the tenant (debit `411.<tenant>`, settled when it pays); granted credit is a
    /// rebate (debit `709`).
    pub fn credit_grant(
        tenant_id: &str,
        amount: Decimal,
        source: CreditSource,
    ) -> Result<Self, JournalError> {
        if amount < Decimal::ZERO {
            return Err(JournalError::NegativeCreditAmount(amount));
        }
        let (debited, description) = match source {
            CreditSource::Bought => (
                AccountId::customer_receivables(tenant_id),
                format!("prepaid credit bought by {tenant_id}"),
            ),
            CreditSource::Granted => (
                AccountId::granted_credits(),
                format!("prepaid credit granted to {tenant_id}"),
            ),
        };
        Self::non_zero(
            TransactionKind::CreditGrant,
            description,
            vec![
                Entry::debit(debited, amount),
                Entry::credit(AccountId::customer_prepayments(tenant_id), amount),
            ],
        )
    }

    /// The same entries with debits and credits swapped, under `kind`: a credit note reverses
    /// the invoice's transaction and the credit use that settled it. Cannot fail: the negation of
    /// a valid transaction is valid.
    pub fn reversal(&self, kind: TransactionKind, description: impl Into<String>) -> Self {
        Self {
            kind,
            description: description.into(),
            entries: self
                .entries
                .iter()
                .map(|entry| Entry {
                    account: entry.account.clone(),
                    amount: -entry.amount,
                })
                .collect(),
        }
    }

    /// [`JournalTransaction::new`] over the non-zero `entries`; none left is
    /// [`JournalError::NothingToBook`].
    fn non_zero(
        kind: TransactionKind,
        description: String,
        mut entries: Vec<Entry>,
    ) -> Result<Self, JournalError> {
        entries.retain(|entry| !entry.amount.is_zero());
        if entries.is_empty() {
            return Err(JournalError::NothingToBook);
        }
        Self::new(kind, description, entries)
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
    use crate::billing::ComposedLine;
    use crate::contract::{PriceClass, apply_prepaid_credit};
    use crate::period::BillingPeriod;
    use crate::vat::{VatCategory, vat_per_rate};
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
        assert_eq!(
            "411.helix-bio".parse::<AccountId>(),
            Ok(AccountId::customer_receivables("helix-bio"))
        );
        assert!(matches!(
            "999.x".parse::<AccountId>(),
            Err(JournalError::UnknownAccount(_))
        ));
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

    #[test]
    fn chart_codes_are_unique_and_709_is_the_rebate_account() {
        let codes: Vec<&str> = PcgAccount::ALL
            .iter()
            .map(|account| account.code())
            .collect();
        assert_eq!(codes, ["4181", "411", "706", "44571", "4191", "709"]);
        for account in PcgAccount::ALL {
            assert_eq!(PcgAccount::from_code(account.code()), Some(account));
        }
        assert_eq!(AccountId::granted_credits().as_str(), "709");
        assert_eq!(
            AccountId::granted_credits().pcg(),
            Some(PcgAccount::RebatesGranted)
        );
        assert_eq!(
            PcgAccount::RebatesGranted.title(),
            "Rabais, remises et ristournes accordés par l'entreprise"
        );
        assert_eq!(AccountId::commitment_revenue().as_str(), "706.commitment");
        assert_eq!(
            AccountId::customer_prepayments("mistral-lab").as_str(),
            "4191.mistral-lab"
        );
    }

    /// `(account, amount)` per entry.
    fn entries(transaction: &JournalTransaction) -> Vec<(&str, Decimal)> {
        transaction
            .entries()
            .iter()
            .map(|entry| (entry.account.as_str(), entry.amount))
            .collect()
    }

    fn balances(transaction: &JournalTransaction) -> bool {
        transaction
            .entries()
            .iter()
            .map(|entry| entry.amount)
            .sum::<Decimal>()
            .is_zero()
    }

    fn november() -> BillingPeriod {
        "2026-11".parse().unwrap()
    }

    fn line(
        charge: ChargeKind,
        sku: Option<&str>,
        class: Option<PriceClass>,
        adjustment_of: Option<BillingPeriod>,
        amount: Decimal,
    ) -> ComposedLine {
        ComposedLine {
            charge,
            service_period: adjustment_of.unwrap_or(november()),
            adjustment_of,
            sku: sku.map(str::to_owned),
            class,
            gpu_seconds: Decimal::ZERO,
            quantity_gpu_hours: Decimal::ZERO,
            unit_price: amount,
            amount,
            vat_category: VatCategory::Standard,
            vat_rate: dec!(0.20),
            description: String::new(),
        }
    }

    fn invoice_of(lines: Vec<ComposedLine>) -> ComposedInvoice {
        let vat = vat_per_rate(lines.iter().map(ComposedLine::taxable_amount)).unwrap();
        let credit = apply_prepaid_credit(Decimal::ZERO, vat.total).unwrap();
        ComposedInvoice {
            period: november(),
            lines,
            vat,
            commitment: Decimal::ZERO,
            credit,
        }
    }

    const H100: &str = "H100-SXM5-80GB";
    const L40S: &str = "L40S-48GB";

    #[test]
    fn an_invoice_moves_usage_to_receivables_and_books_reservations_true_up_and_vat() {
        let october = Some("2026-10".parse().unwrap());
        let invoice = invoice_of(vec![
            line(
                ChargeKind::Usage,
                Some(H100),
                Some(PriceClass::OnDemand),
                None,
                dec!(478.08),
            ),
            line(
                ChargeKind::Usage,
                Some(H100),
                Some(PriceClass::Reserved),
                None,
                dec!(0.00),
            ),
            line(
                ChargeKind::Reservation,
                Some(H100),
                Some(PriceClass::Reserved),
                None,
                dec!(2592.00),
            ),
            line(
                ChargeKind::Usage,
                Some(L40S),
                Some(PriceClass::Spot),
                None,
                dec!(12.50),
            ),
            line(
                ChargeKind::Reservation,
                Some(L40S),
                Some(PriceClass::Reserved),
                None,
                dec!(100.00),
            ),
            line(ChargeKind::CommitmentTrueUp, None, None, None, dec!(317.42)),
            line(
                ChargeKind::Usage,
                Some(L40S),
                Some(PriceClass::OnDemand),
                october,
                dec!(10.00),
            ),
            line(
                ChargeKind::CommitmentTrueUp,
                None,
                None,
                october,
                dec!(-10.00),
            ),
        ]);
        // Net 3,500.00, VAT 700.00.
        let booked = JournalTransaction::invoice("mistral-lab", &invoice).unwrap();
        assert_eq!(booked.kind(), TransactionKind::Invoice);
        assert_eq!(booked.description(), "invoice for 2026-11 of mistral-lab");
        assert_eq!(
            entries(&booked),
            [
                ("411.mistral-lab", dec!(4200.00)),
                // 478.08 + 0.00 + 12.50 + 10.00: regular and adjustment usage alike.
                ("4181.mistral-lab", dec!(-500.58)),
                ("706.H100-SXM5-80GB", dec!(-2592.00)),
                ("706.L40S-48GB", dec!(-100.00)),
                // 317.42 − 10.00
                ("706.commitment", dec!(-307.42)),
                ("44571", dec!(-700.00)),
            ]
        );
        assert!(balances(&booked));
    }

    #[test]
    fn a_negative_invoice_books_on_the_other_sides_and_zero_entries_are_left_out() {
        let october = Some("2026-10".parse().unwrap());
        // A late volume-tier crossing lowered October's usage; nothing else.
        let invoice = invoice_of(vec![line(
            ChargeKind::Usage,
            Some(H100),
            Some(PriceClass::OnDemand),
            october,
            dec!(-244.27),
        )]);
        let booked = JournalTransaction::invoice("t", &invoice).unwrap();
        assert_eq!(
            entries(&booked),
            [
                ("411.t", dec!(-293.12)),
                ("4181.t", dec!(244.27)),
                ("44571", dec!(48.85)),
            ]
        );
        assert!(balances(&booked));

        // Reverse charge: no VAT entry; no reservation or true-up either.
        let mut reverse_charged = invoice_of(vec![line(
            ChargeKind::Usage,
            Some(H100),
            Some(PriceClass::OnDemand),
            None,
            dec!(249.00),
        )]);
        reverse_charged.lines[0].vat_category = VatCategory::ReverseCharge;
        reverse_charged.lines[0].vat_rate = Decimal::ZERO;
        reverse_charged.vat = vat_per_rate(
            reverse_charged
                .lines
                .iter()
                .map(ComposedLine::taxable_amount),
        )
        .unwrap();
        assert_eq!(
            entries(&JournalTransaction::invoice("t", &reverse_charged).unwrap()),
            [("411.t", dec!(249.00)), ("4181.t", dec!(-249.00))]
        );
    }

    #[test]
    fn an_invoice_of_zero_amounts_books_nothing() {
        let only_reserved_usage = invoice_of(vec![line(
            ChargeKind::Usage,
            Some(H100),
            Some(PriceClass::Reserved),
            None,
            dec!(0.00),
        )]);
        assert_eq!(
            JournalTransaction::invoice("t", &only_reserved_usage),
            Err(JournalError::NothingToBook)
        );
        // Usage and a true-up cancelling out still move usage out of unbilled receivables.
        let cancelling = invoice_of(vec![
            line(
                ChargeKind::Usage,
                Some(H100),
                Some(PriceClass::OnDemand),
                None,
                dec!(5.00),
            ),
            line(ChargeKind::CommitmentTrueUp, None, None, None, dec!(-5.00)),
        ]);
        assert_eq!(
            entries(&JournalTransaction::invoice("t", &cancelling).unwrap()),
            [("4181.t", dec!(-5.00)), ("706.commitment", dec!(5.00))]
        );
    }

    #[test]
    fn credit_use_moves_prepayments_to_receivables() {
        let used = JournalTransaction::credit_use("mistral-lab", dec!(500.00)).unwrap();
        assert_eq!(used.kind(), TransactionKind::CreditUse);
        assert_eq!(
            entries(&used),
            [
                ("4191.mistral-lab", dec!(500.00)),
                ("411.mistral-lab", dec!(-500.00)),
            ]
        );
        assert_eq!(
            JournalTransaction::credit_use("t", dec!(0.00)),
            Err(JournalError::NothingToBook)
        );
        assert_eq!(
            JournalTransaction::credit_use("t", dec!(-1)),
            Err(JournalError::NegativeCreditAmount(dec!(-1)))
        );
        assert!(matches!(
            JournalTransaction::credit_use("t", dec!(0.001)),
            Err(JournalError::NotCents { .. })
        ));
    }

    #[test]
    fn bought_credit_is_owed_by_the_tenant_and_granted_credit_is_a_rebate() {
        let bought =
            JournalTransaction::credit_grant("t", dec!(1000.00), CreditSource::Bought).unwrap();
        assert_eq!(bought.kind(), TransactionKind::CreditGrant);
        assert_eq!(
            entries(&bought),
            [("411.t", dec!(1000.00)), ("4191.t", dec!(-1000.00))]
        );
        let granted =
            JournalTransaction::credit_grant("t", dec!(50.00), CreditSource::Granted).unwrap();
        assert_eq!(
            entries(&granted),
            [("709", dec!(50.00)), ("4191.t", dec!(-50.00))]
        );
        assert_ne!(bought.description(), granted.description());
        for source in [CreditSource::Bought, CreditSource::Granted] {
            assert_eq!(
                JournalTransaction::credit_grant("t", Decimal::ZERO, source),
                Err(JournalError::NothingToBook)
            );
            assert_eq!(
                JournalTransaction::credit_grant("t", dec!(-0.01), source),
                Err(JournalError::NegativeCreditAmount(dec!(-0.01)))
            );
        }
    }

    #[test]
    fn a_reversal_swaps_every_debit_and_credit() {
        let used = JournalTransaction::credit_use("t", dec!(42.10)).unwrap();
        let reversed = used.reversal(TransactionKind::CreditNote, "credit note CN-2026-000001");
        assert_eq!(reversed.kind(), TransactionKind::CreditNote);
        assert_eq!(reversed.description(), "credit note CN-2026-000001");
        assert_eq!(
            entries(&reversed),
            [("4191.t", dec!(-42.10)), ("411.t", dec!(42.10))]
        );
        assert!(balances(&reversed));
        // Valid by construction, and reversing twice gives the entries back.
        assert_eq!(
            JournalTransaction::new(
                reversed.kind(),
                reversed.description(),
                reversed.entries().to_vec()
            ),
            Ok(reversed.clone())
        );
        assert_eq!(
            reversed
                .reversal(TransactionKind::CreditUse, used.description())
                .entries(),
            used.entries()
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
