//! The e-invoice of a finalized invoice or of the credit note voiding one, in EN 16931's terms
//! (business terms BT-n, groups BG-n), composed from what the ledger froze when it was issued:
//! the lines, amounts and VAT exactly as issued (never recomputed), the seller and the buyer as
//! they were, and the legal mentions French law requires. The syntaxes (`cii`, `ubl`) only
//! write this model out.
//!
//! A credit note (type 381) states the voided invoice's lines and amounts as they were, with the
//! signs of the invoice, and names it (BG-3): the document type says they are credited.

use chrono::{DateTime, Days, NaiveDate, Utc};
use chrono_tz::Tz;
use gpubill_domain::{
    BillingPeriod, ChargeKind, OUT_OF_SCOPE_MENTION, REVERSE_CHARGE_MENTION, SECONDS_PER_HOUR,
    SELLER_COUNTRY, TaxableAmount, VatBreakdownError, VatCategory, vat_per_rate,
};
use gpubill_schema::api::party::{Buyer, Seller};
use rust_decimal::{Decimal, RoundingStrategy};

/// EN 16931 guideline (BT-24) of both syntaxes; CII's is also Factur-X's EN 16931 profile.
pub const GUIDELINE: &str = "urn:cen.eu:en16931:2017";
/// Business process (BT-23): French CTC "S1", an invoice for services.
pub const BUSINESS_PROCESS: &str = "S1";
/// Places of a quantity (French CTC rule BR-FR-DEC-02).
pub const QUANTITY_PLACES: u32 = 4;
/// Most places of a price (BR-FR-DEC-03).
pub const PRICE_PLACES: u32 = 6;
/// The seller's time zone: issue and due dates are its calendar's.
pub const SELLER_TIME_ZONE: Tz = chrono_tz::Europe::Paris;

/// An invoice or a credit note as the ledger froze it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub number: String,
    pub issued_at: DateTime<Utc>,
    /// `Some` on a credit note: the invoice it voids.
    pub voids: Option<Voided>,
    /// Why a credit note was issued.
    pub reason: Option<String>,
    pub currency: String,
    /// The invoiced month, a calendar month of `time_zone`.
    pub period: BillingPeriod,
    pub time_zone: gpubill_domain::Tz,
    pub seller: Seller,
    pub buyer: Buyer,
    /// The invoice's lines, as issued (a credit note's are its invoice's).
    pub lines: Vec<IssuedLine>,
    pub net_total: Decimal,
    pub vat_total: Decimal,
    pub total: Decimal,
    /// Prepaid credit the invoice drew (or the credit note gave back).
    pub prepaid: Decimal,
}

/// The invoice a credit note voids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voided {
    pub number: String,
    pub issued_at: DateTime<Utc>,
}

/// A line as issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedLine {
    pub charge: ChargeKind,
    pub description: String,
    pub service_period: BillingPeriod,
    pub gpu_seconds: Decimal,
    pub unit_price: Decimal,
    pub amount: Decimal,
    pub category: VatCategory,
    pub rate: Decimal,
}

/// What the document is (BT-3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeCode {
    Invoice,
    CreditNote,
}

impl TypeCode {
    pub fn code(self) -> &'static str {
        match self {
            TypeCode::Invoice => "380",
            TypeCode::CreditNote => "381",
        }
    }
}

/// When VAT becomes due (BT-8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaxPoint {
    /// The seller opted to pay VAT on debits: at the invoice date.
    InvoiceDate,
    /// Services without the option: when paid.
    PaymentDate,
}

/// A note (BG-1): a subject code of UNTDID 4451 and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub subject: &'static str,
    pub text: String,
}

/// The unit of a line's quantity (UN/ECE recommendation 20).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// GPU-hours: `HUR`.
    Hour,
    /// One of a kind (a commitment true-up): `C62`.
    One,
}

impl Unit {
    pub fn code(self) -> &'static str {
        match self {
            Unit::Hour => "HUR",
            Unit::One => "C62",
        }
    }
}

/// An invoice line (BG-25).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// BT-126, from 1.
    pub id: usize,
    /// BT-153.
    pub name: String,
    /// BT-129: GPU-hours to [`QUANTITY_PLACES`], or ±1 of a true-up; carries the line's sign.
    pub quantity: Decimal,
    /// BT-130.
    pub unit: Unit,
    /// BT-146: the price in force, never negative.
    pub net_price: Decimal,
    /// BT-131, as issued.
    pub net_amount: Decimal,
    pub category: VatCategory,
    /// BT-152; `None` for "not subject to VAT" (BR-O-05).
    pub rate_percent: Option<Decimal>,
    /// BG-26: the month the line's charge is for.
    pub period: (NaiveDate, NaiveDate),
}

/// A VAT breakdown (BG-23).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VatLine {
    pub category: VatCategory,
    /// BT-119; zero for reverse charge, `None` for "not subject to VAT".
    pub rate_percent: Option<Decimal>,
    /// BT-116.
    pub base: Decimal,
    /// BT-117.
    pub vat: Decimal,
    /// BT-121 and BT-120 for the categories that charge none.
    pub exemption: Option<(&'static str, &'static str)>,
}

/// The e-invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EInvoice {
    pub type_code: TypeCode,
    pub number: String,
    pub issue_date: NaiveDate,
    /// BT-9; an invoice's only.
    pub due_date: Option<NaiveDate>,
    pub currency: String,
    pub notes: Vec<Note>,
    pub seller: Seller,
    /// Whether the seller's VAT identifier may stand (BR-O-02 forbids it beside lines not
    /// subject to VAT).
    pub seller_vat_identifier: bool,
    pub buyer: Buyer,
    pub buyer_vat_identifier: bool,
    /// BT-10: the purchase order when the buyer gave one, else the tenant id.
    pub buyer_reference: String,
    /// BG-14.
    pub period: (NaiveDate, NaiveDate),
    /// BG-3: the voided invoice and its issue date.
    pub preceding: Option<(String, NaiveDate)>,
    pub lines: Vec<Line>,
    pub breakdown: Vec<VatLine>,
    pub tax_point: TaxPoint,
    /// BT-20.
    pub payment_terms: String,
    /// BT-106 = BT-109 (no document-level allowances or charges).
    pub line_total: Decimal,
    /// BT-110.
    pub vat_total: Decimal,
    /// BT-112.
    pub grand_total: Decimal,
    /// BT-113.
    pub prepaid: Decimal,
    /// BT-115.
    pub due_payable: Decimal,
}

/// Why an issued document cannot be rendered: what was frozen does not add up, which only a
/// corrupted ledger could produce.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    #[error("document {number}: {what}")]
    Inconsistent { number: String, what: String },
    #[error(transparent)]
    Vat(#[from] VatBreakdownError),
}

/// The e-invoice of `issued`.
pub fn compose(issued: &Issued) -> Result<EInvoice, DocumentError> {
    let inconsistent = |what: String| DocumentError::Inconsistent {
        number: issued.number.clone(),
        what,
    };
    let breakdown = vat_per_rate(issued.lines.iter().map(|line| TaxableAmount {
        category: line.category,
        rate: line.rate,
        net: line.amount,
    }))?;
    if (breakdown.net_total, breakdown.vat_total, breakdown.total)
        != (issued.net_total, issued.vat_total, issued.total)
    {
        return Err(inconsistent(format!(
            "its lines make {} net and {} VAT, but it was issued with {} and {}",
            breakdown.net_total, breakdown.vat_total, issued.net_total, issued.vat_total
        )));
    }
    let type_code = match issued.voids {
        Some(_) => TypeCode::CreditNote,
        None => TypeCode::Invoice,
    };
    let issue_date = seller_date(issued.issued_at);
    let not_subject = issued
        .lines
        .iter()
        .any(|line| line.category == VatCategory::OutOfScope);
    let lines = issued
        .lines
        .iter()
        .enumerate()
        .map(|(index, line)| compose_line(index + 1, line))
        .collect();
    let breakdown = breakdown
        .subtotals
        .iter()
        .map(|subtotal| VatLine {
            category: subtotal.category,
            rate_percent: rate_percent(subtotal.category, subtotal.rate),
            base: subtotal.base,
            vat: subtotal.vat,
            exemption: exemption(subtotal.category),
        })
        .collect();
    let seller = &issued.seller;
    let payment_terms = format!(
        "Paiement à {} jours date de facture par virement SEPA",
        seller.payment_terms_days
    );
    Ok(EInvoice {
        type_code,
        number: issued.number.clone(),
        issue_date,
        due_date: (type_code == TypeCode::Invoice).then(|| due_date(seller, issued.issued_at)),
        currency: issued.currency.clone(),
        notes: notes(issued, type_code),
        seller: seller.clone(),
        seller_vat_identifier: !not_subject,
        buyer: issued.buyer.clone(),
        buyer_vat_identifier: !not_subject && issued.buyer.vat_number.is_some(),
        buyer_reference: issued
            .buyer
            .purchase_order
            .clone()
            .unwrap_or_else(|| issued.buyer.tenant_id.clone()),
        period: month_dates(issued.period),
        preceding: issued
            .voids
            .as_ref()
            .map(|voided| (voided.number.clone(), seller_date(voided.issued_at))),
        lines,
        breakdown,
        tax_point: if seller.vat_on_debits {
            TaxPoint::InvoiceDate
        } else {
            TaxPoint::PaymentDate
        },
        payment_terms,
        line_total: issued.net_total,
        vat_total: issued.vat_total,
        grand_total: issued.total,
        prepaid: issued.prepaid,
        due_payable: issued.total - issued.prepaid,
    })
}

/// A line in EN 16931's terms: the quantity carries the sign, the price never does.
fn compose_line(id: usize, line: &IssuedLine) -> Line {
    let negative =
        line.amount < Decimal::ZERO || (line.amount.is_zero() && line.gpu_seconds < Decimal::ZERO);
    let (quantity, unit) = match line.charge {
        ChargeKind::CommitmentTrueUp => (Decimal::ONE, Unit::One),
        ChargeKind::Usage | ChargeKind::Reservation => (
            (line.gpu_seconds.abs() / SECONDS_PER_HOUR)
                .round_dp_with_strategy(QUANTITY_PLACES, RoundingStrategy::MidpointNearestEven),
            Unit::Hour,
        ),
    };
    let quantity = if negative { -quantity } else { quantity };
    Line {
        id,
        name: line.description.clone(),
        quantity,
        unit,
        net_price: line
            .unit_price
            .abs()
            .round_dp_with_strategy(PRICE_PLACES, RoundingStrategy::MidpointNearestEven)
            .normalize(),
        net_amount: line.amount,
        category: line.category,
        rate_percent: rate_percent(line.category, line.rate),
        period: month_dates(line.service_period),
    }
}

fn with_places(mut value: Decimal, places: u32) -> Decimal {
    value.rescale(places);
    value
}

/// A rate (0.20) as the percentage an e-invoice states (20), none where BR-O-05 forbids it.
fn rate_percent(category: VatCategory, rate: Decimal) -> Option<Decimal> {
    (category != VatCategory::OutOfScope).then(|| (rate * Decimal::ONE_HUNDRED).normalize())
}

fn exemption(category: VatCategory) -> Option<(&'static str, &'static str)> {
    match category {
        VatCategory::Standard => None,
        VatCategory::ReverseCharge => Some(("VATEX-EU-AE", REVERSE_CHARGE_MENTION)),
        VatCategory::OutOfScope => Some(("VATEX-EU-O", OUT_OF_SCOPE_MENTION)),
    }
}

/// The due date of a document issued at `issued_at` under `seller`'s payment terms (BT-9).
pub fn due_date(seller: &Seller, issued_at: DateTime<Utc>) -> NaiveDate {
    seller_date(issued_at) + Days::new(u64::from(seller.payment_terms_days))
}

/// The date of `instant` in the seller's calendar.
fn seller_date(instant: DateTime<Utc>) -> NaiveDate {
    instant.with_timezone(&SELLER_TIME_ZONE).date_naive()
}

/// First and last day of `period` (a month of the tenant's calendar).
fn month_dates(period: BillingPeriod) -> (NaiveDate, NaiveDate) {
    let first = period.first_day();
    let next = first
        .checked_add_months(chrono::Months::new(1))
        .unwrap_or(first);
    (first, next.pred_opt().unwrap_or(first))
}

/// The notes French law and the CTC rules require (BR-FR-05): recovery indemnity (PMT),
/// late-payment penalties (PMD), early-payment discount (AAB), the processing type (BAR), the
/// seller's legal form and capital (ABL), the VAT-on-debits option (TXD) and a credit note's
/// reason (AAI).
fn notes(issued: &Issued, type_code: TypeCode) -> Vec<Note> {
    let seller = &issued.seller;
    let note = |subject, text: String| Note { subject, text };
    let mut notes = vec![
        note(
            "PMT",
            format!(
                "Indemnité forfaitaire pour frais de recouvrement en cas de retard de paiement : {} {} (articles L441-10 et D441-5 du Code de commerce).",
                french_amount(seller.recovery_indemnity),
                issued.currency
            ),
        ),
        note(
            "PMD",
            format!(
                "Pénalités de retard : taux annuel de {} %, exigibles dès le lendemain de la date d'échéance (article L441-10 du Code de commerce).",
                french_amount(seller.late_penalty_rate_percent)
            ),
        ),
        note("AAB", seller.discount_terms.clone()),
        note(
            "BAR",
            if issued.buyer.address.country == SELLER_COUNTRY {
                "B2B".to_owned()
            } else {
                "B2BINT".to_owned()
            },
        ),
        note(
            "ABL",
            format!(
                "{} {} au capital de {} {}, {} {}, TVA {}.",
                seller.legal_name,
                seller.legal_form,
                french_amount(seller.share_capital),
                issued.currency,
                seller.registration,
                seller.siren,
                seller.vat_number
            ),
        ),
    ];
    if seller.vat_on_debits {
        notes.push(note(
            "TXD",
            "Option pour le paiement de la taxe d'après les débits.".to_owned(),
        ));
    }
    if type_code == TypeCode::CreditNote {
        let reason = issued.reason.as_deref().unwrap_or("annulation");
        notes.push(note("AAI", format!("Avoir : {reason}")));
    }
    notes
}

/// An amount as French text: a decimal comma, two places.
fn french_amount(amount: Decimal) -> String {
    with_places(amount, 2).to_string().replace('.', ",")
}
