//! A composed invoice as a fixed-width text table: one row per line with its VAT rate and
//! amount, then the net total, VAT per rate, total, prepaid credit and amount due, then the VAT
//! mentions. Used for previews, logs and the worked example. Amounts are printed as computed, in
//! cents; formatting only gives them their two places.

use super::ComposedInvoice;
use rust_decimal::Decimal;
use std::fmt::Write;

/// Blank columns between two columns of the table.
const GUTTER: &str = "  ";

impl ComposedInvoice {
    /// The invoice as a text table. Columns are as wide as their widest cell, so the same
    /// invoice always renders to the same text; no line ends in a space.
    pub fn render_text(&self) -> String {
        let rows: Vec<(&str, String, String)> = self
            .lines
            .iter()
            .map(|line| {
                (
                    line.description.as_str(),
                    percent(line.vat_rate),
                    money(line.amount),
                )
            })
            .collect();
        let mut summary: Vec<(String, String)> =
            vec![("Net total".to_owned(), money(self.vat.net_total))];
        for subtotal in &self.vat.subtotals {
            summary.push((
                format!(
                    "VAT {} ({}) on {}",
                    percent(subtotal.rate),
                    subtotal.category.code(),
                    money(subtotal.base)
                ),
                money(subtotal.vat),
            ));
        }
        summary.extend([
            ("Total".to_owned(), money(self.vat.total)),
            (
                "Prepaid credit applied".to_owned(),
                money(-self.credit.credit_used),
            ),
            ("Amount due".to_owned(), money(self.credit.amount_still_due)),
            (
                "Prepaid credit balance after this invoice".to_owned(),
                money(self.credit.new_balance),
            ),
        ]);

        let vat_width = rows
            .iter()
            .map(|(_, rate, _)| width(rate))
            .chain([width("VAT")])
            .max()
            .unwrap_or_default();
        let amount_width = rows
            .iter()
            .map(|(_, _, amount)| width(amount))
            .chain(summary.iter().map(|(_, amount)| width(amount)))
            .chain([width("Amount")])
            .max()
            .unwrap_or_default();
        // A summary label spans the description and VAT columns.
        let description_width = rows
            .iter()
            .map(|(description, _, _)| width(description))
            .chain([width("Description")])
            .chain(
                summary
                    .iter()
                    .map(|(label, _)| width(label).saturating_sub(vat_width + GUTTER.len())),
            )
            .max()
            .unwrap_or_default();
        let label_width = description_width + GUTTER.len() + vat_width;
        let rule = format!(
            "{}{GUTTER}{}{GUTTER}{}",
            "-".repeat(description_width),
            "-".repeat(vat_width),
            "-".repeat(amount_width)
        );

        let mut text = String::new();
        // Writing to a String cannot fail; the results are ignored for that reason.
        let _ = writeln!(text, "Invoice for {}, amounts in EUR", self.period);
        let _ = writeln!(text);
        let _ = writeln!(
            text,
            "{:<description_width$}{GUTTER}{:>vat_width$}{GUTTER}{:>amount_width$}",
            "Description", "VAT", "Amount"
        );
        let _ = writeln!(text, "{rule}");
        for (description, rate, amount) in &rows {
            let _ = writeln!(
                text,
                "{description:<description_width$}{GUTTER}{rate:>vat_width$}{GUTTER}{amount:>amount_width$}"
            );
        }
        let _ = writeln!(text, "{rule}");
        for (label, amount) in &summary {
            let _ = writeln!(text, "{label:<label_width$}{GUTTER}{amount:>amount_width$}");
        }
        for mention in self.vat_mentions() {
            let _ = writeln!(text);
            let _ = writeln!(text, "{mention}");
        }
        text
    }
}

/// A rate as a percentage: `0.20` → `20 %`, `0.055` → `5.5 %`, `0` → `0 %`.
fn percent(rate: Decimal) -> String {
    format!("{} %", (rate * Decimal::ONE_HUNDRED).normalize())
}

/// An amount in cents with its two places (already whole cents: nothing is rounded off); zero
/// never prints as `-0.00`.
fn money(amount: Decimal) -> String {
    let mut amount = crate::money::round_to_cents(amount);
    if amount.is_zero() {
        amount.set_sign_positive(true);
    }
    amount.to_string()
}

/// Printed width in characters (descriptions may hold non-ASCII SKU names).
fn width(text: &str) -> usize {
    text.chars().count()
}
