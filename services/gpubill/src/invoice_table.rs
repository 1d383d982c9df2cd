//! Renders a draft invoice, as returned by the API, as a text table for the terminal.

use serde::Deserialize;
use std::fmt::Write;

#[derive(Debug, Deserialize)]
pub struct Invoice {
    pub tenant_id: String,
    pub period: String,
    pub time_zone: String,
    pub currency: String,
    pub lines: Vec<Line>,
    pub net_total: String,
    pub vat_rate: String,
    pub vat_total: String,
    pub vat_mention: Option<String>,
    pub total: String,
}

#[derive(Debug, Deserialize)]
pub struct Line {
    pub description: String,
    pub amount: String,
}

pub fn render(invoice: &Invoice, tenant_name: &str) -> String {
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
        format!("VAT {}", percent(&invoice.vat_rate)),
        invoice.vat_total
    );
    let _ = writeln!(out, "{:>58} {:>15}", "total", invoice.total);
    if let Some(mention) = &invoice.vat_mention {
        let _ = writeln!(out, "{mention}");
    }
    out
}

/// `0.20` as `20 %`; anything unparsable is shown as it came.
fn percent(rate: &str) -> String {
    match rate.parse::<rust_decimal::Decimal>() {
        Ok(rate) => format!(
            "{} %",
            (rate * rust_decimal::Decimal::ONE_HUNDRED).normalize()
        ),
        Err(_) => rate.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn vat_rate_as_percent() {
        assert_eq!(super::percent("0.20"), "20 %");
        assert_eq!(super::percent("0.055"), "5.5 %");
        assert_eq!(super::percent("x"), "x");
    }
}
