//! UN/CEFACT Cross Industry Invoice (D16B), at the EN 16931 profile of Factur-X 1.0
//! (`urn:cen.eu:en16931:2017`): the XML a Factur-X PDF carries as `factur-x.xml`, and what
//! `?syntax=cii` serves. Elements are written in the order the schema requires; the mapping of
//! each business term is in `docs/billing.md`.

use crate::document::{BUSINESS_PROCESS, EInvoice, GUIDELINE, Line, TaxPoint, VatLine};
use crate::xml::Xml;
use chrono::NaiveDate;
use gpubill_domain::VatCategory;
use gpubill_schema::api::party::{ElectronicAddress, PostalAddress};
use rust_decimal::Decimal;

const RSM: &str = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100";
const RAM: &str =
    "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100";
const QDT: &str = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100";
const UDT: &str = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100";

/// Scheme of a SIREN (ISO 6523 ICD 0002) and of a SIRET (0009).
pub(crate) const SIREN_SCHEME: &str = "0002";
pub(crate) const SIRET_SCHEME: &str = "0009";

/// The CII XML of `invoice`.
pub fn render(invoice: &EInvoice) -> String {
    let mut xml = Xml::new();
    xml.open(
        "rsm:CrossIndustryInvoice",
        &[
            ("xmlns:rsm", RSM),
            ("xmlns:ram", RAM),
            ("xmlns:qdt", QDT),
            ("xmlns:udt", UDT),
        ],
    );
    xml.open("rsm:ExchangedDocumentContext", &[])
        .open("ram:BusinessProcessSpecifiedDocumentContextParameter", &[])
        .text("ram:ID", BUSINESS_PROCESS)
        .close()
        .open("ram:GuidelineSpecifiedDocumentContextParameter", &[])
        .text("ram:ID", GUIDELINE)
        .close()
        .close();
    exchanged_document(&mut xml, invoice);
    xml.open("rsm:SupplyChainTradeTransaction", &[]);
    for line in &invoice.lines {
        line_item(&mut xml, line);
    }
    agreement(&mut xml, invoice);
    // The services' delivery is their period's end (BT-72): an empty delivery group is an
    // empty element, which PEPPOL-EN16931-R008 warns about.
    xml.open("ram:ApplicableHeaderTradeDelivery", &[])
        .open("ram:ActualDeliverySupplyChainEvent", &[]);
    date(&mut xml, "ram:OccurrenceDateTime", invoice.period.1);
    xml.close().close();
    settlement(&mut xml, invoice);
    xml.close().close();
    xml.finish()
}

fn exchanged_document(xml: &mut Xml, invoice: &EInvoice) {
    xml.open("rsm:ExchangedDocument", &[])
        .text("ram:ID", &invoice.number)
        .text("ram:TypeCode", invoice.type_code.code());
    date(xml, "ram:IssueDateTime", invoice.issue_date);
    for note in &invoice.notes {
        xml.open("ram:IncludedNote", &[])
            .text("ram:Content", &note.text)
            .text("ram:SubjectCode", note.subject)
            .close();
    }
    xml.close();
}

/// `<name><udt:DateTimeString format="102">YYYYMMDD</…></name>`.
fn date(xml: &mut Xml, name: &'static str, day: NaiveDate) {
    xml.open(name, &[])
        .text_with(
            "udt:DateTimeString",
            &[("format", "102")],
            &day.format("%Y%m%d").to_string(),
        )
        .close();
}

fn line_item(xml: &mut Xml, line: &Line) {
    xml.open("ram:IncludedSupplyChainTradeLineItem", &[])
        .open("ram:AssociatedDocumentLineDocument", &[])
        .text("ram:LineID", &line.id.to_string())
        .close()
        .open("ram:SpecifiedTradeProduct", &[])
        .text("ram:Name", &line.name)
        .close()
        .open("ram:SpecifiedLineTradeAgreement", &[])
        .open("ram:NetPriceProductTradePrice", &[])
        .text("ram:ChargeAmount", &line.net_price.to_string())
        .close()
        .close()
        .open("ram:SpecifiedLineTradeDelivery", &[])
        .text_with(
            "ram:BilledQuantity",
            &[("unitCode", line.unit.code())],
            &line.quantity.to_string(),
        )
        .close()
        .open("ram:SpecifiedLineTradeSettlement", &[]);
    tax(xml, line.category, line.rate_percent);
    xml.open("ram:BillingSpecifiedPeriod", &[]);
    date(xml, "ram:StartDateTime", line.period.0);
    date(xml, "ram:EndDateTime", line.period.1);
    xml.close()
        .open("ram:SpecifiedTradeSettlementLineMonetarySummation", &[])
        .text("ram:LineTotalAmount", &amount(line.net_amount))
        .close()
        .close()
        .close();
}

/// A line's VAT: category and, but for "not subject to VAT", its rate.
fn tax(xml: &mut Xml, category: VatCategory, rate_percent: Option<Decimal>) {
    xml.open("ram:ApplicableTradeTax", &[])
        .text("ram:TypeCode", "VAT")
        .text("ram:CategoryCode", category_code(category));
    if let Some(rate) = rate_percent {
        xml.text("ram:RateApplicablePercent", &rate.to_string());
    }
    xml.close();
}

/// EN 16931 VAT category code (UNCL 5305 subset).
pub(crate) fn category_code(category: VatCategory) -> &'static str {
    match category {
        VatCategory::Standard => "S",
        VatCategory::ReverseCharge => "AE",
        VatCategory::OutOfScope => "O",
    }
}

/// An amount with its two places.
pub(crate) fn amount(value: Decimal) -> String {
    let mut value = value;
    value.rescale(2);
    value.to_string()
}

fn agreement(xml: &mut Xml, invoice: &EInvoice) {
    let seller = &invoice.seller;
    let buyer = &invoice.buyer;
    xml.open("ram:ApplicableHeaderTradeAgreement", &[])
        .text("ram:BuyerReference", &invoice.buyer_reference)
        .open("ram:SellerTradeParty", &[])
        .text_with("ram:GlobalID", &[("schemeID", SIRET_SCHEME)], &seller.siret)
        .text("ram:Name", &seller.legal_name)
        .open("ram:SpecifiedLegalOrganization", &[])
        .text_with("ram:ID", &[("schemeID", SIREN_SCHEME)], &seller.siren)
        .close()
        .open("ram:DefinedTradeContact", &[])
        .text("ram:PersonName", &seller.contact.name);
    if let Some(phone) = &seller.contact.phone {
        xml.open("ram:TelephoneUniversalCommunication", &[])
            .text("ram:CompleteNumber", phone)
            .close();
    }
    xml.open("ram:EmailURIUniversalCommunication", &[])
        .text("ram:URIID", &seller.contact.email)
        .close()
        .close();
    address(xml, &seller.address);
    electronic_address(xml, &seller.electronic_address);
    if invoice.seller_vat_identifier {
        vat_registration(xml, &seller.vat_number);
    }
    xml.close();

    xml.open("ram:BuyerTradeParty", &[])
        .text("ram:Name", &buyer.legal_name);
    if let Some(siren) = &buyer.siren {
        xml.open("ram:SpecifiedLegalOrganization", &[])
            .text_with("ram:ID", &[("schemeID", SIREN_SCHEME)], siren)
            .close();
    }
    xml.open("ram:DefinedTradeContact", &[])
        .open("ram:EmailURIUniversalCommunication", &[])
        .text("ram:URIID", &buyer.billing_email)
        .close()
        .close();
    address(xml, &buyer.address);
    electronic_address(xml, &buyer.electronic_address);
    if let Some(vat_number) = buyer
        .vat_number
        .as_deref()
        .filter(|_| invoice.buyer_vat_identifier)
    {
        vat_registration(xml, vat_number);
    }
    xml.close();
    if let Some(order) = &buyer.purchase_order {
        xml.open("ram:BuyerOrderReferencedDocument", &[])
            .text("ram:IssuerAssignedID", order)
            .close();
    }
    xml.close();
}

fn address(xml: &mut Xml, address: &PostalAddress) {
    xml.open("ram:PostalTradeAddress", &[])
        .text("ram:PostcodeCode", &address.postcode)
        .text("ram:LineOne", &address.line1)
        .optional("ram:LineTwo", address.line2.as_deref())
        .text("ram:CityName", &address.city)
        .text("ram:CountryID", &address.country)
        .close();
}

fn electronic_address(xml: &mut Xml, address: &ElectronicAddress) {
    xml.open("ram:URIUniversalCommunication", &[])
        .text_with("ram:URIID", &[("schemeID", &address.scheme)], &address.id)
        .close();
}

fn vat_registration(xml: &mut Xml, vat_number: &str) {
    xml.open("ram:SpecifiedTaxRegistration", &[])
        .text_with("ram:ID", &[("schemeID", "VA")], vat_number)
        .close();
}

fn settlement(xml: &mut Xml, invoice: &EInvoice) {
    let bank = &invoice.seller.bank;
    xml.open("ram:ApplicableHeaderTradeSettlement", &[])
        .text("ram:PaymentReference", &invoice.number)
        .text("ram:InvoiceCurrencyCode", &invoice.currency)
        .open("ram:SpecifiedTradeSettlementPaymentMeans", &[])
        // 58: SEPA credit transfer.
        .text("ram:TypeCode", "58")
        .open("ram:PayeePartyCreditorFinancialAccount", &[])
        .text("ram:IBANID", &bank.iban)
        .text("ram:AccountName", &bank.holder)
        .close()
        .open("ram:PayeeSpecifiedCreditorFinancialInstitution", &[])
        .text("ram:BICID", &bank.bic)
        .close()
        .close();
    for line in &invoice.breakdown {
        breakdown(xml, line, invoice.tax_point);
    }
    xml.open("ram:BillingSpecifiedPeriod", &[]);
    date(xml, "ram:StartDateTime", invoice.period.0);
    date(xml, "ram:EndDateTime", invoice.period.1);
    xml.close();
    xml.open("ram:SpecifiedTradePaymentTerms", &[])
        .text("ram:Description", &invoice.payment_terms);
    if let Some(due) = invoice.due_date {
        date(xml, "ram:DueDateDateTime", due);
    }
    xml.close();
    let currency = [("currencyID", invoice.currency.as_str())];
    xml.open("ram:SpecifiedTradeSettlementHeaderMonetarySummation", &[])
        .text("ram:LineTotalAmount", &amount(invoice.line_total))
        .text("ram:TaxBasisTotalAmount", &amount(invoice.line_total))
        .text_with("ram:TaxTotalAmount", &currency, &amount(invoice.vat_total))
        .text("ram:GrandTotalAmount", &amount(invoice.grand_total))
        .text("ram:TotalPrepaidAmount", &amount(invoice.prepaid))
        .text("ram:DuePayableAmount", &amount(invoice.due_payable))
        .close();
    if let Some((number, issued)) = &invoice.preceding {
        xml.open("ram:InvoiceReferencedDocument", &[])
            .text("ram:IssuerAssignedID", number)
            .open("ram:FormattedIssueDateTime", &[])
            .text_with(
                "qdt:DateTimeString",
                &[("format", "102")],
                &issued.format("%Y%m%d").to_string(),
            )
            .close()
            .close();
    }
    xml.close();
}

fn breakdown(xml: &mut Xml, line: &VatLine, tax_point: TaxPoint) {
    xml.open("ram:ApplicableTradeTax", &[])
        .text("ram:CalculatedAmount", &amount(line.vat))
        .text("ram:TypeCode", "VAT");
    if let Some((_, reason)) = line.exemption {
        xml.text("ram:ExemptionReason", reason);
    }
    xml.text("ram:BasisAmount", &amount(line.base))
        .text("ram:CategoryCode", category_code(line.category));
    if let Some((code, _)) = line.exemption {
        xml.text("ram:ExemptionReasonCode", code);
    }
    // BT-8 in CII's codes (UNTDID 2475): 5, the invoice date; 72, the date paid.
    xml.text(
        "ram:DueDateTypeCode",
        match tax_point {
            TaxPoint::InvoiceDate => "5",
            TaxPoint::PaymentDate => "72",
        },
    );
    if let Some(rate) = line.rate_percent {
        xml.text("ram:RateApplicablePercent", &rate.to_string());
    }
    xml.close();
}
