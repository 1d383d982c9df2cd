//! OASIS UBL 2.1 `Invoice` and `CreditNote` under the EN 16931 syntax binding: what
//! `?syntax=ubl` serves. The same model as the CII rendering; where UBL differs (a credit note has
//! no due date, a note's subject is `#CODE#` in its text), the binding is followed.

use crate::cii::{SIREN_SCHEME, SIRET_SCHEME, amount, category_code};
use crate::document::{BUSINESS_PROCESS, EInvoice, GUIDELINE, Line, TaxPoint, TypeCode, VatLine};
use crate::xml::Xml;
use chrono::NaiveDate;
use gpubill_schema::api::party::{ElectronicAddress, PostalAddress};

const INVOICE: &str = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2";
const CREDIT_NOTE: &str = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2";
const CAC: &str = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2";
const CBC: &str = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2";

/// The UBL XML of `invoice`: an `Invoice`, or a `CreditNote` for type 381.
pub fn render(invoice: &EInvoice) -> String {
    let credit_note = invoice.type_code == TypeCode::CreditNote;
    let (root, namespace) = if credit_note {
        ("CreditNote", CREDIT_NOTE)
    } else {
        ("Invoice", INVOICE)
    };
    let mut xml = Xml::new();
    xml.open(
        root,
        &[("xmlns", namespace), ("xmlns:cac", CAC), ("xmlns:cbc", CBC)],
    )
    .text("cbc:CustomizationID", GUIDELINE)
    .text("cbc:ProfileID", BUSINESS_PROCESS)
    .text("cbc:ID", &invoice.number)
    .text("cbc:IssueDate", &day(invoice.issue_date));
    if credit_note {
        xml.text("cbc:CreditNoteTypeCode", invoice.type_code.code());
    } else {
        if let Some(due) = invoice.due_date {
            xml.text("cbc:DueDate", &day(due));
        }
        xml.text("cbc:InvoiceTypeCode", invoice.type_code.code());
    }
    for note in &invoice.notes {
        xml.text("cbc:Note", &format!("#{}#{}", note.subject, note.text));
    }
    xml.text("cbc:DocumentCurrencyCode", &invoice.currency)
        .text("cbc:BuyerReference", &invoice.buyer_reference)
        .open("cac:InvoicePeriod", &[])
        .text("cbc:StartDate", &day(invoice.period.0))
        .text("cbc:EndDate", &day(invoice.period.1))
        // BT-8 in UBL's codes (UNTDID 2005): 3, the invoice date; 432, the date paid.
        .text(
            "cbc:DescriptionCode",
            match invoice.tax_point {
                TaxPoint::InvoiceDate => "3",
                TaxPoint::PaymentDate => "432",
            },
        )
        .close();
    if let Some(order) = &invoice.buyer.purchase_order {
        xml.open("cac:OrderReference", &[])
            .text("cbc:ID", order)
            .close();
    }
    if let Some((number, issued)) = &invoice.preceding {
        xml.open("cac:BillingReference", &[])
            .open("cac:InvoiceDocumentReference", &[])
            .text("cbc:ID", number)
            .text("cbc:IssueDate", &day(*issued))
            .close()
            .close();
    }
    supplier(&mut xml, invoice);
    customer(&mut xml, invoice);
    xml.open("cac:Delivery", &[])
        .text("cbc:ActualDeliveryDate", &day(invoice.period.1))
        .close();
    payment(&mut xml, invoice);
    totals(&mut xml, invoice);
    for line in &invoice.lines {
        invoice_line(&mut xml, line, &invoice.currency, credit_note);
    }
    xml.close();
    xml.finish()
}

fn day(date: NaiveDate) -> String {
    date.format("%Y-%m-%d").to_string()
}

fn endpoint(xml: &mut Xml, address: &ElectronicAddress) {
    xml.text_with(
        "cbc:EndpointID",
        &[("schemeID", &address.scheme)],
        &address.id,
    );
}

fn postal(xml: &mut Xml, address: &PostalAddress) {
    xml.open("cac:PostalAddress", &[])
        .text("cbc:StreetName", &address.line1)
        .optional("cbc:AdditionalStreetName", address.line2.as_deref())
        .text("cbc:CityName", &address.city)
        .text("cbc:PostalZone", &address.postcode)
        .open("cac:Country", &[])
        .text("cbc:IdentificationCode", &address.country)
        .close()
        .close();
}

fn tax_scheme(xml: &mut Xml, vat_number: &str) {
    xml.open("cac:PartyTaxScheme", &[])
        .text("cbc:CompanyID", vat_number)
        .open("cac:TaxScheme", &[])
        .text("cbc:ID", "VAT")
        .close()
        .close();
}

fn supplier(xml: &mut Xml, invoice: &EInvoice) {
    let seller = &invoice.seller;
    xml.open("cac:AccountingSupplierParty", &[])
        .open("cac:Party", &[]);
    endpoint(xml, &seller.electronic_address);
    xml.open("cac:PartyIdentification", &[])
        .text_with("cbc:ID", &[("schemeID", SIRET_SCHEME)], &seller.siret)
        .close();
    postal(xml, &seller.address);
    if invoice.seller_vat_identifier {
        tax_scheme(xml, &seller.vat_number);
    }
    xml.open("cac:PartyLegalEntity", &[])
        .text("cbc:RegistrationName", &seller.legal_name)
        .text_with(
            "cbc:CompanyID",
            &[("schemeID", SIREN_SCHEME)],
            &seller.siren,
        )
        .close()
        .open("cac:Contact", &[])
        .text("cbc:Name", &seller.contact.name)
        .optional("cbc:Telephone", seller.contact.phone.as_deref())
        .text("cbc:ElectronicMail", &seller.contact.email)
        .close()
        .close()
        .close();
}

fn customer(xml: &mut Xml, invoice: &EInvoice) {
    let buyer = &invoice.buyer;
    xml.open("cac:AccountingCustomerParty", &[])
        .open("cac:Party", &[]);
    endpoint(xml, &buyer.electronic_address);
    postal(xml, &buyer.address);
    if let Some(vat_number) = buyer
        .vat_number
        .as_deref()
        .filter(|_| invoice.buyer_vat_identifier)
    {
        tax_scheme(xml, vat_number);
    }
    xml.open("cac:PartyLegalEntity", &[])
        .text("cbc:RegistrationName", &buyer.legal_name);
    if let Some(siren) = &buyer.siren {
        xml.text_with("cbc:CompanyID", &[("schemeID", SIREN_SCHEME)], siren);
    }
    xml.close()
        .open("cac:Contact", &[])
        .text("cbc:ElectronicMail", &buyer.billing_email)
        .close()
        .close()
        .close();
}

fn payment(xml: &mut Xml, invoice: &EInvoice) {
    let bank = &invoice.seller.bank;
    // 58: SEPA credit transfer.
    xml.open("cac:PaymentMeans", &[])
        .text("cbc:PaymentMeansCode", "58")
        .text("cbc:PaymentID", &invoice.number)
        .open("cac:PayeeFinancialAccount", &[])
        .text("cbc:ID", &bank.iban)
        .text("cbc:Name", &bank.holder)
        .open("cac:FinancialInstitutionBranch", &[])
        .text("cbc:ID", &bank.bic)
        .close()
        .close()
        .close()
        .open("cac:PaymentTerms", &[])
        .text("cbc:Note", &invoice.payment_terms)
        .close();
}

fn totals(xml: &mut Xml, invoice: &EInvoice) {
    let currency = [("currencyID", invoice.currency.as_str())];
    xml.open("cac:TaxTotal", &[])
        .text_with("cbc:TaxAmount", &currency, &amount(invoice.vat_total));
    for line in &invoice.breakdown {
        subtotal(xml, line, &invoice.currency);
    }
    xml.close()
        .open("cac:LegalMonetaryTotal", &[])
        .text_with(
            "cbc:LineExtensionAmount",
            &currency,
            &amount(invoice.line_total),
        )
        .text_with(
            "cbc:TaxExclusiveAmount",
            &currency,
            &amount(invoice.line_total),
        )
        .text_with(
            "cbc:TaxInclusiveAmount",
            &currency,
            &amount(invoice.grand_total),
        )
        .text_with("cbc:PrepaidAmount", &currency, &amount(invoice.prepaid))
        .text_with("cbc:PayableAmount", &currency, &amount(invoice.due_payable))
        .close();
}

fn subtotal(xml: &mut Xml, line: &VatLine, currency: &str) {
    let currency = [("currencyID", currency)];
    xml.open("cac:TaxSubtotal", &[])
        .text_with("cbc:TaxableAmount", &currency, &amount(line.base))
        .text_with("cbc:TaxAmount", &currency, &amount(line.vat))
        .open("cac:TaxCategory", &[])
        .text("cbc:ID", category_code(line.category));
    if let Some(rate) = line.rate_percent {
        xml.text("cbc:Percent", &rate.to_string());
    }
    if let Some((code, reason)) = line.exemption {
        xml.text("cbc:TaxExemptionReasonCode", code)
            .text("cbc:TaxExemptionReason", reason);
    }
    xml.open("cac:TaxScheme", &[])
        .text("cbc:ID", "VAT")
        .close()
        .close()
        .close();
}

fn invoice_line(xml: &mut Xml, line: &Line, currency: &str, credit_note: bool) {
    let (element, quantity) = if credit_note {
        ("cac:CreditNoteLine", "cbc:CreditedQuantity")
    } else {
        ("cac:InvoiceLine", "cbc:InvoicedQuantity")
    };
    let currency = [("currencyID", currency)];
    xml.open(element, &[])
        .text("cbc:ID", &line.id.to_string())
        .text_with(
            quantity,
            &[("unitCode", line.unit.code())],
            &line.quantity.to_string(),
        )
        .text_with(
            "cbc:LineExtensionAmount",
            &currency,
            &amount(line.net_amount),
        )
        .open("cac:InvoicePeriod", &[])
        .text("cbc:StartDate", &day(line.period.0))
        .text("cbc:EndDate", &day(line.period.1))
        .close()
        .open("cac:Item", &[])
        .text("cbc:Name", &line.name)
        .open("cac:ClassifiedTaxCategory", &[])
        .text("cbc:ID", category_code(line.category));
    if let Some(rate) = line.rate_percent {
        xml.text("cbc:Percent", &rate.to_string());
    }
    xml.open("cac:TaxScheme", &[])
        .text("cbc:ID", "VAT")
        .close()
        .close()
        .close()
        .open("cac:Price", &[])
        .text_with("cbc:PriceAmount", &currency, &line.net_price.to_string())
        .close()
        .close();
}
