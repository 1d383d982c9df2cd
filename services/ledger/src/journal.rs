//! Posting journal transactions, reading account balances, and reading the journal back in
//! booking order for the exports.

use crate::LedgerError;
use chrono::{DateTime, Utc};
use diesel::pg::{PgConnection, PgRowByRowLoadingMode};
use diesel::prelude::*;
use gpubill_domain::{AccountId, JournalTransaction, TransactionKind};
use gpubill_schema::schema::{accounts, journal_entries, journal_transactions};
use rust_decimal::Decimal;
use uuid::Uuid;

/// What posting did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Posted {
    Booked,
    /// The same transaction was booked before under this id; nothing was written.
    AlreadyBooked,
}

/// Books `transaction` under `transaction_id`, creating the accounts it names. Posting the same
/// transaction again under the same id books nothing; other entries under a used id are a
/// [`LedgerError::Conflict`]. Runs in its own database transaction, or in the caller's.
pub fn post(
    conn: &mut PgConnection,
    transaction_id: Uuid,
    transaction: &JournalTransaction,
) -> Result<Posted, LedgerError> {
    conn.transaction(|conn| {
        let wanted: Vec<(String, Decimal)> = transaction
            .entries()
            .iter()
            .map(|entry| (entry.account.as_str().to_owned(), entry.amount))
            .collect();
        let stored: Vec<(String, Decimal)> = journal_entries::table
            .filter(journal_entries::transaction_id.eq(transaction_id))
            .order(journal_entries::line)
            .select((journal_entries::account_id, journal_entries::amount))
            .load(conn)?;
        if !stored.is_empty() {
            let same = stored.len() == wanted.len()
                && stored
                    .iter()
                    .zip(&wanted)
                    .all(|(stored, wanted)| stored.0 == wanted.0 && stored.1 == wanted.1);
            return if same {
                Ok(Posted::AlreadyBooked)
            } else {
                Err(LedgerError::Conflict(transaction_id))
            };
        }
        let new_accounts: Vec<_> = transaction
            .entries()
            .iter()
            .filter_map(|entry| {
                let pcg = entry.account.pcg()?;
                Some((
                    accounts::account_id.eq(entry.account.as_str()),
                    accounts::pcg_code.eq(pcg.code()),
                    accounts::title.eq(pcg.title()),
                ))
            })
            .collect();
        diesel::insert_into(accounts::table)
            .values(&new_accounts)
            .on_conflict_do_nothing()
            .execute(conn)?;
        diesel::insert_into(journal_transactions::table)
            .values((
                journal_transactions::transaction_id.eq(transaction_id),
                journal_transactions::kind.eq(transaction.kind().code()),
                journal_transactions::description.eq(transaction.description()),
            ))
            .execute(conn)?;
        let lines: Vec<_> = wanted
            .iter()
            .enumerate()
            .map(|(line, (account_id, amount))| {
                (
                    journal_entries::transaction_id.eq(transaction_id),
                    journal_entries::line.eq(i16::try_from(line).unwrap_or(i16::MAX)),
                    journal_entries::account_id.eq(account_id),
                    journal_entries::amount.eq(amount),
                )
            })
            .collect();
        diesel::insert_into(journal_entries::table)
            .values(&lines)
            .execute(conn)?;
        Ok(Posted::Booked)
    })
}

/// The balance of `account`: the sum of its entries (debits positive), zero if it has none.
pub fn account_balance(
    conn: &mut PgConnection,
    account: &AccountId,
) -> Result<Decimal, LedgerError> {
    let balance: Option<Decimal> = journal_entries::table
        .filter(journal_entries::account_id.eq(account.as_str()))
        .select(diesel::dsl::sum(journal_entries::amount))
        .first(conn)?;
    Ok(balance.unwrap_or(Decimal::ZERO))
}

/// Books transactions under fresh ids in three statements, whatever their number: accounts,
/// transactions, entries. For writers whose ids cannot have been used before (derived from a
/// batch id); a reused id fails the caller's transaction on the primary key.
pub fn post_new(
    conn: &mut PgConnection,
    transactions: &[(Uuid, JournalTransaction)],
) -> Result<(), LedgerError> {
    if transactions.is_empty() {
        return Ok(());
    }
    let mut new_accounts: Vec<_> = transactions
        .iter()
        .flat_map(|(_, transaction)| transaction.entries())
        .filter_map(|entry| Some((entry.account.as_str(), entry.account.pcg()?)))
        .collect();
    new_accounts.sort_unstable_by_key(|(account, _)| *account);
    new_accounts.dedup_by_key(|(account, _)| *account);
    let new_accounts: Vec<_> = new_accounts
        .into_iter()
        .map(|(account, pcg)| {
            (
                accounts::account_id.eq(account),
                accounts::pcg_code.eq(pcg.code()),
                accounts::title.eq(pcg.title()),
            )
        })
        .collect();
    diesel::insert_into(accounts::table)
        .values(&new_accounts)
        .on_conflict_do_nothing()
        .execute(conn)?;
    let headers: Vec<_> = transactions
        .iter()
        .map(|(id, transaction)| {
            (
                journal_transactions::transaction_id.eq(*id),
                journal_transactions::kind.eq(transaction.kind().code()),
                journal_transactions::description.eq(transaction.description()),
            )
        })
        .collect();
    diesel::insert_into(journal_transactions::table)
        .values(&headers)
        .execute(conn)?;
    let lines: Vec<_> = transactions
        .iter()
        .flat_map(|(id, transaction)| {
            transaction
                .entries()
                .iter()
                .enumerate()
                .map(move |(line, entry)| {
                    (
                        journal_entries::transaction_id.eq(*id),
                        journal_entries::line.eq(i16::try_from(line).unwrap_or(i16::MAX)),
                        journal_entries::account_id.eq(entry.account.as_str()),
                        journal_entries::amount.eq(entry.amount),
                    )
                })
        })
        .collect();
    diesel::insert_into(journal_entries::table)
        .values(&lines)
        .execute(conn)?;
    Ok(())
}

/// One entry line as stored, with its transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    pub transaction_id: Uuid,
    pub kind: TransactionKind,
    pub description: String,
    pub booked_at: DateTime<Utc>,
    pub line: i16,
    pub account: AccountId,
    pub amount: Decimal,
}

type EntryRow = (Uuid, String, String, DateTime<Utc>, i16, String, Decimal);

/// Calls `visit` with every entry line booked in `[from, to)`, in booking order (booked at,
/// transaction, line), reading the rows one at a time from Postgres (libpq's single-row mode):
/// millions of lines never sit in memory together. The caller's transaction decides what
/// snapshot the lines come from.
pub fn for_each_entry<E: From<LedgerError>>(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    mut visit: impl FnMut(StoredEntry) -> Result<(), E>,
) -> Result<(), E> {
    let rows = journal_entries::table
        .inner_join(journal_transactions::table)
        .filter(journal_transactions::booked_at.ge(from))
        .filter(journal_transactions::booked_at.lt(to))
        .order((
            journal_transactions::booked_at,
            journal_transactions::transaction_id,
            journal_entries::line,
        ))
        .select((
            journal_transactions::transaction_id,
            journal_transactions::kind,
            journal_transactions::description,
            journal_transactions::booked_at,
            journal_entries::line,
            journal_entries::account_id,
            journal_entries::amount,
        ))
        .load_iter::<EntryRow, PgRowByRowLoadingMode>(conn)
        .map_err(LedgerError::from)?;
    for row in rows {
        let (transaction_id, kind, description, booked_at, line, account, amount) =
            row.map_err(LedgerError::from)?;
        let kind = TransactionKind::from_code(&kind).ok_or_else(|| {
            LedgerError::Corrupt(format!("transaction {transaction_id} has kind `{kind}`"))
        })?;
        let account = account.parse::<AccountId>().map_err(LedgerError::from)?;
        visit(StoredEntry {
            transaction_id,
            kind,
            description,
            booked_at,
            line,
            account,
            amount,
        })?;
    }
    Ok(())
}

/// How many entry lines were booked in `[from, to)`.
pub fn count_entries(
    conn: &mut PgConnection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<u64, LedgerError> {
    let count: i64 = journal_entries::table
        .inner_join(journal_transactions::table)
        .filter(journal_transactions::booked_at.ge(from))
        .filter(journal_transactions::booked_at.lt(to))
        .count()
        .get_result(conn)?;
    Ok(count.unsigned_abs())
}

/// Every account's debits and credits (as positive sums) of the entries booked at or before
/// `at`, one row per account that has any.
pub fn account_totals(
    conn: &mut PgConnection,
    at: DateTime<Utc>,
) -> Result<Vec<(AccountId, Decimal, Decimal)>, LedgerError> {
    use diesel::dsl::sql;
    use diesel::sql_types::Numeric;
    let rows: Vec<(String, Decimal, Decimal)> = journal_entries::table
        .inner_join(journal_transactions::table)
        .filter(journal_transactions::booked_at.le(at))
        .group_by(journal_entries::account_id)
        .select((
            journal_entries::account_id,
            sql::<Numeric>("coalesce(sum(journal_entries.amount) FILTER (WHERE journal_entries.amount > 0), 0)"),
            sql::<Numeric>("coalesce(-sum(journal_entries.amount) FILTER (WHERE journal_entries.amount < 0), 0)"),
        ))
        .order(journal_entries::account_id)
        .load(conn)?;
    rows.into_iter()
        .map(|(account, debit, credit)| Ok((account.parse::<AccountId>()?, debit, credit)))
        .collect()
}
