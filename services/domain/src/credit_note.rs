//! Credit notes: a credit note voids a finalized invoice exactly, line by line, VAT rate by VAT
//! rate and in total, so that the invoice plus its credit note is zero everywhere.
//!
//! The credit note mirrors the invoice as it was issued (its stored lines and VAT subtotals),
//! never a recomputation: if a rule changed since, the invoice is still voided to the cent.

use crate::numbering::{DocumentKind, DocumentNumber};
use crate::vat::{
    TaxableAmount, VatBreakdown, VatBreakdownError, VatCategory, VatSubtotal, vat_per_rate,
};
use rust_decimal::Decimal;

/// One line of a finalized invoice or credit note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentLine {
    pub description: String,
    pub category: VatCategory,
    pub rate: Decimal,
    /// Quantity billed; negative on a credit note.
    pub quantity: Decimal,
    /// Price per unit; a credit note keeps the invoice's price and negates the quantity.
    pub unit_price: Decimal,
    /// Net amount, rounded to the cent; negative on a credit note.
    pub net: Decimal,
}

/// An invoice as issued: its number, lines and VAT per rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinalizedInvoice {
    pub number: DocumentNumber,
    pub lines: Vec<DocumentLine>,
    pub vat: VatBreakdown,
}

/// A credit note voiding one invoice. Its own number is issued by the caller in the credit-note
/// series when the credit note is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditNote {
    /// Number of the invoice this credit note voids.
    pub credited_invoice: DocumentNumber,
    pub lines: Vec<DocumentLine>,
    pub vat: VatBreakdown,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreditNoteError {
    #[error("{0} is not an invoice number; only invoices can be credited")]
    NotAnInvoice(DocumentNumber),
    #[error(transparent)]
    Vat(#[from] VatBreakdownError),
}

impl DocumentLine {
    pub fn taxable_amount(&self) -> TaxableAmount {
        TaxableAmount {
            category: self.category,
            rate: self.rate,
            net: self.net,
        }
    }
}

impl FinalizedInvoice {
    /// An invoice numbered `number` whose VAT is computed per rate from `lines`.
    pub fn from_lines(
        number: DocumentNumber,
        lines: Vec<DocumentLine>,
    ) -> Result<Self, CreditNoteError> {
        if number.kind() != DocumentKind::Invoice {
            return Err(CreditNoteError::NotAnInvoice(number));
        }
        let vat = vat_per_rate(lines.iter().map(DocumentLine::taxable_amount))?;
        Ok(Self { number, lines, vat })
    }
}

/// The credit note voiding `invoice`: the same lines with quantity and net amount negated, and
/// every VAT subtotal and total negated.
pub fn credit_note_for(invoice: &FinalizedInvoice) -> Result<CreditNote, CreditNoteError> {
    if invoice.number.kind() != DocumentKind::Invoice {
        return Err(CreditNoteError::NotAnInvoice(invoice.number));
    }
    let lines = invoice
        .lines
        .iter()
        .map(|line| DocumentLine {
            description: line.description.clone(),
            category: line.category,
            rate: line.rate,
            quantity: negated(line.quantity),
            unit_price: line.unit_price,
            net: negated(line.net),
        })
        .collect();
    let subtotals = invoice
        .vat
        .subtotals
        .iter()
        .map(|subtotal| VatSubtotal {
            category: subtotal.category,
            rate: subtotal.rate,
            base: negated(subtotal.base),
            vat: negated(subtotal.vat),
        })
        .collect();
    Ok(CreditNote {
        credited_invoice: invoice.number,
        lines,
        vat: VatBreakdown {
            subtotals,
            net_total: negated(invoice.vat.net_total),
            vat_total: negated(invoice.vat.vat_total),
            total: negated(invoice.vat.total),
        },
    })
}

/// `-amount`, keeping its scale; zero stays `0.00` rather than printing as `-0.00`.
fn negated(amount: Decimal) -> Decimal {
    let mut negated = -amount;
    if negated.is_zero() {
        negated.set_sign_positive(true);
    }
    negated
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::round_to_cents;
    use crate::vat::vat_treatment;
    use proptest::prelude::*;
    use rust_decimal::dec;

    fn invoice_number() -> DocumentNumber {
        "INV-2026-000042".parse().unwrap()
    }

    fn line(
        description: &str,
        rate: Decimal,
        quantity: Decimal,
        unit_price: Decimal,
    ) -> DocumentLine {
        let category = if rate.is_zero() {
            VatCategory::ReverseCharge
        } else {
            VatCategory::Standard
        };
        DocumentLine {
            description: description.into(),
            category,
            rate,
            quantity,
            unit_price,
            net: round_to_cents(quantity * unit_price),
        }
    }

    fn invoice(lines: Vec<DocumentLine>) -> FinalizedInvoice {
        FinalizedInvoice::from_lines(invoice_number(), lines).unwrap()
    }

    #[test]
    fn worked_example() {
        let invoice = invoice(vec![
            line("H100-SXM5-80GB", dec!(0.20), dec!(192.000000), dec!(2.49)),
            line("L40S-48GB", dec!(0.20), dec!(0.005556), dec!(0.99)),
        ]);
        assert_eq!(invoice.vat.net_total.to_string(), "478.09");
        assert_eq!(invoice.vat.vat_total.to_string(), "95.62");
        assert_eq!(invoice.vat.total.to_string(), "573.71");

        let credit = credit_note_for(&invoice).unwrap();
        assert_eq!(credit.credited_invoice.to_string(), "INV-2026-000042");
        assert_eq!(credit.lines[0].description, "H100-SXM5-80GB");
        assert_eq!(credit.lines[0].quantity.to_string(), "-192.000000");
        assert_eq!(credit.lines[0].unit_price.to_string(), "2.49");
        assert_eq!(credit.lines[0].net.to_string(), "-478.08");
        assert_eq!(credit.lines[1].net.to_string(), "-0.01");
        assert_eq!(credit.vat.subtotals.len(), 1);
        assert_eq!(credit.vat.subtotals[0].base.to_string(), "-478.09");
        assert_eq!(credit.vat.subtotals[0].vat.to_string(), "-95.62");
        assert_eq!(credit.vat.net_total.to_string(), "-478.09");
        assert_eq!(credit.vat.vat_total.to_string(), "-95.62");
        assert_eq!(credit.vat.total.to_string(), "-573.71");
    }

    #[test]
    fn voids_each_rate_separately() {
        let invoice = invoice(vec![
            line("A", dec!(0.20), dec!(1), dec!(0.03)),
            line("B", dec!(0.10), dec!(1), dec!(0.25)),
            line("C", dec!(0.20), dec!(2), dec!(0.03)),
            line("D", dec!(0.10), dec!(1), dec!(0.25)),
        ]);
        let credit = credit_note_for(&invoice).unwrap();
        let vat: Vec<(String, String, String)> = credit
            .vat
            .subtotals
            .iter()
            .map(|s| (s.rate.to_string(), s.base.to_string(), s.vat.to_string()))
            .collect();
        assert_eq!(
            vat,
            [
                ("0.10".into(), "-0.50".into(), "-0.05".into()),
                ("0.20".into(), "-0.09".into(), "-0.02".into()),
            ]
        );
        assert_eq!(credit.vat.vat_total, dec!(-0.07));
    }

    #[test]
    fn reverse_charged_invoice_is_voided_under_the_same_category() {
        let treatment = vat_treatment("DE", Some("DE123456789")).unwrap();
        let invoice = invoice(vec![line(
            "H100-SXM5-80GB",
            treatment.rate,
            dec!(10),
            dec!(2.49),
        )]);
        let credit = credit_note_for(&invoice).unwrap();
        assert_eq!(credit.lines[0].category, VatCategory::ReverseCharge);
        assert_eq!(credit.vat.subtotals[0].category, VatCategory::ReverseCharge);
        assert_eq!(credit.vat.subtotals[0].base, dec!(-24.90));
        assert_eq!(credit.vat.vat_total.to_string(), "0.00");
        assert_eq!(credit.lines[0].category.mention(), treatment.mention);
    }

    #[test]
    fn zero_amounts_stay_zero_not_minus_zero() {
        let invoice = invoice(vec![line("idle", dec!(0.20), dec!(0.000000), dec!(2.49))]);
        let credit = credit_note_for(&invoice).unwrap();
        assert_eq!(credit.lines[0].quantity.to_string(), "0.000000");
        assert_eq!(credit.lines[0].net.to_string(), "0.00");
        assert_eq!(credit.vat.subtotals[0].vat.to_string(), "0.00");
        assert_eq!(credit.vat.total.to_string(), "0.00");
    }

    #[test]
    fn mirrors_the_invoice_as_issued_not_a_recomputation() {
        // An invoice stored with a VAT amount the current rules would not compute is still voided
        // to the cent of what the customer was billed.
        let mut invoice = invoice(vec![line("A", dec!(0.20), dec!(1), dec!(0.03))]);
        invoice.vat.subtotals[0].vat = dec!(0.01);
        invoice.vat.vat_total = dec!(0.01);
        invoice.vat.total = dec!(0.04);
        let credit = credit_note_for(&invoice).unwrap();
        assert_eq!(credit.vat.subtotals[0].vat, dec!(-0.01));
        assert_eq!(credit.vat.total, dec!(-0.04));
    }

    #[test]
    fn only_invoices_can_be_credited() {
        let credit_number: DocumentNumber = "CN-2026-000001".parse().unwrap();
        assert_eq!(
            FinalizedInvoice::from_lines(credit_number, vec![]),
            Err(CreditNoteError::NotAnInvoice(credit_number))
        );
        let mut invoice = invoice(vec![]);
        invoice.number = credit_number;
        assert_eq!(
            credit_note_for(&invoice),
            Err(CreditNoteError::NotAnInvoice(credit_number))
        );
    }

    #[test]
    fn an_invoice_with_an_unrounded_line_is_refused() {
        let mut unrounded = line("A", dec!(0.20), dec!(1), dec!(0.03));
        unrounded.net = dec!(0.025);
        assert_eq!(
            FinalizedInvoice::from_lines(invoice_number(), vec![unrounded]),
            Err(CreditNoteError::Vat(VatBreakdownError::UnroundedNet(dec!(
                0.025
            ))))
        );
    }

    fn any_line() -> impl Strategy<Value = DocumentLine> {
        let vat = prop_oneof![
            Just((VatCategory::Standard, dec!(0.20))),
            Just((VatCategory::Standard, dec!(0.10))),
            Just((VatCategory::Standard, dec!(0.055))),
            Just((VatCategory::ReverseCharge, Decimal::ZERO)),
            Just((VatCategory::OutOfScope, Decimal::ZERO)),
        ];
        (
            vat,
            "[A-Z0-9-]{1,20}",
            0i64..10_000_000_000_000,
            1i64..100_000_000,
        )
            .prop_map(
                |((category, rate), description, micro_hours, micro_price)| {
                    let quantity = Decimal::new(micro_hours, 6);
                    let unit_price = Decimal::new(micro_price, 6);
                    DocumentLine {
                        description,
                        category,
                        rate,
                        quantity,
                        unit_price,
                        net: round_to_cents(quantity * unit_price),
                    }
                },
            )
    }

    proptest! {
        /// Invoice plus credit note is exactly zero per line, per rate and in total, and the
        /// credit note's VAT is what the VAT rules give for its own lines.
        #[test]
        fn invoice_plus_credit_note_is_zero(lines in proptest::collection::vec(any_line(), 0..30)) {
            let invoice = FinalizedInvoice::from_lines(invoice_number(), lines).unwrap();
            let credit = credit_note_for(&invoice).unwrap();
            prop_assert_eq!(credit.credited_invoice, invoice.number);

            prop_assert_eq!(credit.lines.len(), invoice.lines.len());
            for (billed, credited) in invoice.lines.iter().zip(&credit.lines) {
                prop_assert_eq!(&credited.description, &billed.description);
                prop_assert_eq!((credited.category, credited.rate), (billed.category, billed.rate));
                prop_assert_eq!(credited.unit_price, billed.unit_price);
                prop_assert!((billed.quantity + credited.quantity).is_zero());
                prop_assert!((billed.net + credited.net).is_zero());
                prop_assert_eq!(credited.net.scale(), billed.net.scale());
                prop_assert!(!credited.net.is_zero() || credited.net.is_sign_positive());
            }

            prop_assert_eq!(credit.vat.subtotals.len(), invoice.vat.subtotals.len());
            for (billed, credited) in invoice.vat.subtotals.iter().zip(&credit.vat.subtotals) {
                prop_assert_eq!((credited.category, credited.rate), (billed.category, billed.rate));
                prop_assert!((billed.base + credited.base).is_zero());
                prop_assert!((billed.vat + credited.vat).is_zero());
            }
            prop_assert!((invoice.vat.net_total + credit.vat.net_total).is_zero());
            prop_assert!((invoice.vat.vat_total + credit.vat.vat_total).is_zero());
            prop_assert!((invoice.vat.total + credit.vat.total).is_zero());

            let recomputed = vat_per_rate(credit.lines.iter().map(DocumentLine::taxable_amount)).unwrap();
            prop_assert_eq!(recomputed, credit.vat);
        }
    }
}
