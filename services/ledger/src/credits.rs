//! Prepaid credit: grants (bought or given), the balance, and its history. The balance is the
//! tenant's prepayment account (4191) in the journal, so it moves only with journal transactions:
//! grants credit it, finalized invoices draw on it, credit notes give back what they drew. The
//! database refuses any transaction that would overdraw it.

use crate::journal::{account_balance, post};
use crate::{JOURNAL_NAMESPACE, LedgerError, Posted, lock_tenant};
use chrono::{DateTime, Utc};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use gpubill_domain::{AccountId, CreditSource, JournalTransaction};
use gpubill_schema::schema::{credit_grants, journal_entries, journal_transactions};
use rust_decimal::Decimal;
use uuid::Uuid;

/// What granting did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Granted {
    pub posted: Posted,
    pub balance: Decimal,
}

/// Grants `amount` (whole cents, positive) of prepaid credit under the caller's `grant_id`.
/// Granting again under the same id with the same terms books nothing; other terms are a
/// [`LedgerError::Conflict`].
pub fn grant_credit(
    conn: &mut PgConnection,
    grant_id: Uuid,
    tenant_id: &str,
    amount: Decimal,
    source: CreditSource,
    note: &str,
) -> Result<Granted, LedgerError> {
    conn.transaction(|conn| {
        lock_tenant(conn, tenant_id)?;
        let stored: Option<(String, Decimal, String)> = credit_grants::table
            .find(grant_id)
            .select((
                credit_grants::tenant_id,
                credit_grants::amount,
                credit_grants::source,
            ))
            .first(conn)
            .optional()?;
        let posted = match stored {
            Some((stored_tenant, stored_amount, stored_source)) => {
                if stored_tenant != tenant_id
                    || stored_amount != amount
                    || stored_source != source_code(source)
                {
                    return Err(LedgerError::Conflict(grant_id));
                }
                Posted::AlreadyBooked
            }
            None => {
                let transaction = JournalTransaction::credit_grant(tenant_id, amount, source)?;
                let transaction_id =
                    Uuid::new_v5(&JOURNAL_NAMESPACE, format!("grant/{grant_id}").as_bytes());
                post(conn, transaction_id, &transaction)?;
                diesel::insert_into(credit_grants::table)
                    .values((
                        credit_grants::grant_id.eq(grant_id),
                        credit_grants::tenant_id.eq(tenant_id),
                        credit_grants::amount.eq(amount),
                        credit_grants::source.eq(source_code(source)),
                        credit_grants::note.eq(note),
                        credit_grants::transaction_id.eq(transaction_id),
                    ))
                    .execute(conn)?;
                Posted::Booked
            }
        };
        Ok(Granted {
            posted,
            balance: credit_balance(conn, tenant_id)?,
        })
    })
}

/// The tenant's prepaid credit available now: the credit balance of its prepayment account.
pub fn credit_balance(conn: &mut PgConnection, tenant_id: &str) -> Result<Decimal, LedgerError> {
    // A credit is negative in the journal; the tenant's balance is its opposite.
    Ok(-account_balance(
        conn,
        &AccountId::customer_prepayments(tenant_id),
    )?)
}

/// One movement of a tenant's prepaid credit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditMovement {
    pub transaction_id: Uuid,
    /// The entry's line in its transaction: with the time and the transaction, where the
    /// movement stands in the history.
    pub line: i16,
    /// `credit_grant`, `credit_use` or `credit_note`.
    pub kind: String,
    pub description: String,
    pub booked_at: DateTime<Utc>,
    /// Positive when credit was added, negative when drawn.
    pub amount: Decimal,
    /// Balance after this movement.
    pub balance: Decimal,
}

/// Where a movement stands in the history: (booked at, transaction, line).
pub type HistoryKey = (DateTime<Utc>, Uuid, i16);

/// The movements of the tenant's prepaid credit after `after`, oldest first, at most `limit`,
/// each with the balance after it (counting every movement before the page too).
pub fn credit_history(
    conn: &mut PgConnection,
    tenant_id: &str,
    after: Option<HistoryKey>,
    limit: i64,
) -> Result<Vec<CreditMovement>, LedgerError> {
    let account = AccountId::customer_prepayments(tenant_id);
    let entries = || {
        journal_entries::table
            .inner_join(journal_transactions::table)
            .filter(journal_entries::account_id.eq(account.as_str()))
            .into_boxed()
    };
    let mut page = entries();
    let mut opening = Decimal::ZERO;
    if let Some((booked_at, transaction_id, line)) = after {
        let after_key =
            journal_transactions::booked_at
                .gt(booked_at)
                .or(journal_transactions::booked_at.eq(booked_at).and(
                    journal_entries::transaction_id.gt(transaction_id).or(
                        journal_entries::transaction_id
                            .eq(transaction_id)
                            .and(journal_entries::line.gt(line)),
                    ),
                ));
        let before: Option<Decimal> = entries()
            .filter(diesel::dsl::not(after_key))
            .select(diesel::dsl::sum(journal_entries::amount))
            .first(conn)?;
        opening = -before.unwrap_or_default();
        page = page.filter(after_key);
    }
    let rows: Vec<(Uuid, i16, String, String, DateTime<Utc>, Decimal)> = page
        .order((
            journal_transactions::booked_at,
            journal_transactions::transaction_id,
            journal_entries::line,
        ))
        .select((
            journal_transactions::transaction_id,
            journal_entries::line,
            journal_transactions::kind,
            journal_transactions::description,
            journal_transactions::booked_at,
            journal_entries::amount,
        ))
        .limit(limit)
        .load(conn)?;
    let mut balance = opening;
    Ok(rows
        .into_iter()
        .map(
            |(transaction_id, line, kind, description, booked_at, entry)| {
                balance -= entry;
                CreditMovement {
                    transaction_id,
                    line,
                    kind,
                    description,
                    booked_at,
                    amount: -entry,
                    balance,
                }
            },
        )
        .collect())
}

/// Every credit grant's transaction, with the grant's id and when it was granted: the document
/// behind the prepaid journal's grants.
pub fn grant_documents(
    conn: &mut PgConnection,
) -> Result<Vec<(Uuid, Uuid, DateTime<Utc>)>, LedgerError> {
    Ok(credit_grants::table
        .select((
            credit_grants::transaction_id,
            credit_grants::grant_id,
            credit_grants::granted_at,
        ))
        .load(conn)?)
}

pub(crate) fn source_code(source: CreditSource) -> &'static str {
    match source {
        CreditSource::Bought => "bought",
        CreditSource::Granted => "granted",
    }
}
