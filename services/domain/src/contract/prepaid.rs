//! Prepaid credit: a balance the tenant paid in advance, drawn on to settle an amount due.
//! Credit pays at most what is due and at most what the balance holds, so the balance never goes
//! negative and credit never turns into a refund.

use rust_decimal::Decimal;

/// The outcome of settling an amount due from a credit balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreditApplication {
    /// Drawn from the balance: `min(balance, amount due)`, zero when nothing is due.
    pub credit_used: Decimal,
    /// Left to pay by other means: `amount due − credit used`.
    pub amount_still_due: Decimal,
    /// `balance − credit used`, never negative.
    pub new_balance: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreditError {
    #[error("a credit balance cannot be negative ({0})")]
    NegativeBalance(Decimal),
}

/// Applies a credit `balance` to `amount_due`. An amount due of zero or less (the tenant is owed
/// money) draws nothing: credit settles charges, it is not paid out.
pub fn apply_prepaid_credit(
    balance: Decimal,
    amount_due: Decimal,
) -> Result<CreditApplication, CreditError> {
    if balance < Decimal::ZERO {
        return Err(CreditError::NegativeBalance(balance));
    }
    let credit_used = balance.min(amount_due).max(Decimal::ZERO);
    Ok(CreditApplication {
        credit_used,
        amount_still_due: amount_due - credit_used,
        new_balance: balance - credit_used,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal::dec;

    fn applied(balance: Decimal, due: Decimal) -> (Decimal, Decimal, Decimal) {
        let application = apply_prepaid_credit(balance, due).unwrap();
        (
            application.credit_used,
            application.amount_still_due,
            application.new_balance,
        )
    }

    #[test]
    fn a_balance_larger_than_the_amount_due_pays_all_of_it() {
        assert_eq!(
            applied(dec!(10000.00), dec!(6000.00)),
            (dec!(6000.00), dec!(0.00), dec!(4000.00))
        );
    }

    #[test]
    fn a_smaller_balance_is_used_up_and_the_rest_stays_due() {
        assert_eq!(
            applied(dec!(2500.00), dec!(6000.00)),
            (dec!(2500.00), dec!(3500.00), dec!(0.00))
        );
    }

    #[test]
    fn a_balance_equal_to_the_amount_due_is_used_up_exactly() {
        assert_eq!(
            applied(dec!(6000.00), dec!(6000.00)),
            (dec!(6000.00), dec!(0.00), dec!(0.00))
        );
    }

    #[test]
    fn nothing_due_or_no_balance_draws_nothing() {
        assert_eq!(applied(dec!(100), dec!(0)), (dec!(0), dec!(0), dec!(100)));
        assert_eq!(
            applied(dec!(100), dec!(-25.00)),
            (dec!(0), dec!(-25.00), dec!(100))
        );
        assert_eq!(
            applied(dec!(0), dec!(42.10)),
            (dec!(0), dec!(42.10), dec!(0))
        );
    }

    #[test]
    fn a_negative_balance_is_refused() {
        assert_eq!(
            apply_prepaid_credit(dec!(-0.01), dec!(10)),
            Err(CreditError::NegativeBalance(dec!(-0.01)))
        );
        // −0 is zero.
        assert!(apply_prepaid_credit(-Decimal::ZERO, dec!(10)).is_ok());
    }

    proptest! {
        /// Credit never exceeds the balance or the amount due, the balance never goes negative,
        /// and nothing is lost: used + still due = due, used + new balance = balance.
        #[test]
        fn credit_is_bounded_by_balance_and_amount_due(
            balance_cents in 0i64..1_000_000_000,
            due_cents in -1_000_000i64..1_000_000_000,
        ) {
            let balance = Decimal::new(balance_cents, 2);
            let due = Decimal::new(due_cents, 2);
            let application = apply_prepaid_credit(balance, due).unwrap();
            prop_assert!(application.credit_used >= Decimal::ZERO);
            prop_assert!(application.credit_used <= balance);
            prop_assert!(application.credit_used <= due.max(Decimal::ZERO));
            prop_assert!(application.new_balance >= Decimal::ZERO);
            prop_assert_eq!(application.credit_used + application.amount_still_due, due);
            prop_assert_eq!(application.credit_used + application.new_balance, balance);
            // Either the balance is used up or nothing more is due.
            prop_assert!(application.new_balance.is_zero() || application.amount_still_due <= Decimal::ZERO);
        }
    }
}
