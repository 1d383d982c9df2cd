//! Renders a draft invoice, as the API answers it (`gpubill_schema::api::invoice::InvoiceView`),
//! as a text table for the terminal.

use gpubill_schema::api::invoice::InvoiceView;
use rust_decimal::Decimal;
use std::fmt::Write;

pub fn render(invoice: &InvoiceView, tenant_name: &str) -> String {
    let mut out = String::new();
    let rule = "-".repeat(74);
    let _ = writeln!(
        out,
        "Draft invoice  {} ({})  period {} {}  {}",
        tenant_name, invoice.tenant_id, invoice.period, invoice.time_zone, invoice.currency
    );
    let _ = writeln!(out, "{rule}");
    let _ = writeln!(out, "{:<58} {:>15}", "line", "amount");
    let _ = writeln!(out, "{rule}");
    if invoice.lines.is_empty() {
        let _ = writeln!(out, "(no usage)");
    }
    for line in &invoice.lines {
        let _ = writeln!(out, "{:<58} {:>15}", line.description, line.amount);
    }
    let _ = writeln!(out, "{rule}");
    let _ = writeln!(out, "{:>58} {:>15}", "net total", invoice.net_total);
    let _ = writeln!(
        out,
        "{:>58} {:>15}",
        format!("VAT {}", percent(invoice.vat_rate)),
        invoice.vat_total
    );
    let _ = writeln!(out, "{:>58} {:>15}", "total", invoice.total);
    if let Some(mention) = &invoice.vat_mention {
        let _ = writeln!(out, "{mention}");
    }
    out
}

/// `0.20` as `20 %`.
fn percent(rate: Decimal) -> String {
    format!("{} %", (rate * Decimal::ONE_HUNDRED).normalize())
}

#[cfg(test)]
mod tests {
    use rust_decimal::dec;

    #[test]
    fn vat_rate_as_percent() {
        assert_eq!(super::percent(dec!(0.20)), "20 %");
        assert_eq!(super::percent(dec!(0.055)), "5.5 %");
        assert_eq!(super::percent(dec!(0)), "0 %");
    }
}
