//! The trial balance (balance générale): every account's debits, credits and balance up to an
//! instant, per tenant on per-tenant accounts, ordered by account; the balances sum to zero.

use crate::ExportError;
use crate::csv::record;
use crate::fec::account_label;
use crate::line::AccountLine;
use crate::text::amount_with_point;
use chrono::{DateTime, Utc};
use gpubill_schema::api::export::{TrialBalance, TrialBalanceRow};
use rust_decimal::Decimal;
use std::io::Write;

/// Composes the trial balance of `accounts` (any order) at `at`; refuses one that does not
/// balance, which only a broken ledger could give.
pub fn compose(
    at: DateTime<Utc>,
    currency: &str,
    accounts: Vec<AccountLine>,
) -> Result<TrialBalance, ExportError> {
    let mut rows: Vec<TrialBalanceRow> = accounts
        .into_iter()
        .map(|line| TrialBalanceRow {
            pcg_code: line
                .account
                .pcg()
                .map_or_else(String::new, |pcg| pcg.code().to_owned()),
            title: account_label(&line.account),
            auxiliary_account: line.tenant.as_ref().map(|tenant| tenant.id.clone()),
            auxiliary_name: line.tenant.map(|tenant| tenant.name),
            account: line.account.as_str().to_owned(),
            balance: line.debit - line.credit,
            debit: line.debit,
            credit: line.credit,
        })
        .collect();
    rows.sort_by(|a, b| a.account.cmp(&b.account));
    let total_debit: Decimal = rows.iter().map(|row| row.debit).sum();
    let total_credit: Decimal = rows.iter().map(|row| row.credit).sum();
    let total_balance = total_debit - total_credit;
    if !total_balance.is_zero() {
        return Err(ExportError::Inconsistent(format!(
            "the accounts' balances sum to {total_balance}, not zero"
        )));
    }
    Ok(TrialBalance {
        at,
        currency: currency.to_owned(),
        accounts: rows,
        total_debit,
        total_credit,
        total_balance,
    })
}

pub const COLUMNS: [&str; 8] = [
    "account",
    "pcg_code",
    "title",
    "auxiliary_account",
    "auxiliary_name",
    "debit",
    "credit",
    "balance",
];

/// The trial balance as CSV: a row per account, then a `total` row.
pub fn write_csv<W: Write>(balance: &TrialBalance, out: &mut W) -> Result<(), ExportError> {
    record(out, &COLUMNS)?;
    for row in &balance.accounts {
        record(
            out,
            &[
                row.account.as_str(),
                &row.pcg_code,
                &row.title,
                row.auxiliary_account.as_deref().unwrap_or(""),
                row.auxiliary_name.as_deref().unwrap_or(""),
                &amount_with_point(row.debit),
                &amount_with_point(row.credit),
                &amount_with_point(row.balance),
            ],
        )?;
    }
    record(
        out,
        &[
            "total",
            "",
            "",
            "",
            "",
            &amount_with_point(balance.total_debit),
            &amount_with_point(balance.total_credit),
            &amount_with_point(balance.total_balance),
        ],
    )?;
    out.flush()?;
    Ok(())
}
