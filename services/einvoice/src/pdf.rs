//! The invoice a person reads: an A4 PDF/A-3b laid out from the e-invoice model (seller and
//! buyer, lines, VAT breakdown, totals, payment details, legal mentions), carrying the CII XML as
//! the associated file `factur-x.xml` (relationship `Alternative`) and the Factur-X XMP
//! properties at the EN 16931 profile: a Factur-X invoice. Text is set in DejaVu Sans, embedded
//! (subset) as PDF/A requires.
//!
//! krilla writes the PDF/A document but not the Factur-X XMP extension, so the document's
//! metadata is completed in an incremental update (`facturx_metadata`): the XMP krilla wrote,
//! with the Factur-X schema and properties added, as a new metadata stream the catalog names.

use crate::document::{EInvoice, Line, TypeCode, Unit, VatLine};
use chrono::{Datelike, NaiveDate};
use gpubill_domain::unit_price_shown;
use krilla::configure::{Archival, ConfigurationBuilder, Validator};
use krilla::embed::{AssociationKind, EmbeddedFile, MimeType};
use krilla::geom::{PathBuilder, Point};
use krilla::metadata::{DateTime, Metadata};
use krilla::page::PageSettings;
use krilla::paint::Stroke;
use krilla::surface::Surface;
use krilla::text::{Font, TextDirection};
use krilla::{Data, Document, SerializeSettings};
use rust_decimal::Decimal;
use skrifa::instance::{LocationRef, Size};
use skrifa::{FontRef, MetadataProvider};
use std::sync::Arc;

const REGULAR: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");
const BOLD: &[u8] = include_bytes!("../fonts/DejaVuSans-Bold.ttf");

/// The embedded XML's name, as Factur-X requires.
pub const FACTURX_FILE: &str = "factur-x.xml";

const PAGE_WIDTH: f32 = 595.0;
const PAGE_HEIGHT: f32 = 842.0;
const MARGIN: f32 = 42.0;
const BODY: f32 = 8.5;
/// Where a page's content must stop, above the footer.
const BOTTOM: f32 = PAGE_HEIGHT - 60.0;

/// Why a PDF could not be made: a bug of this module (the fonts are built in, the layout fixed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot make the invoice PDF: {0}")]
pub struct PdfError(pub String);

/// The Factur-X PDF of `invoice`, carrying `cii` (its CII rendering) as `factur-x.xml`.
pub fn render(invoice: &EInvoice, cii: &str) -> Result<Vec<u8>, PdfError> {
    let fonts = Fonts::load()?;
    let configuration = ConfigurationBuilder::new()
        .set_validator(Validator::A(Archival::A3_B))
        .finish()
        .map_err(|error| PdfError(format!("{error:?}")))?;
    let mut document = Document::new_with(SerializeSettings {
        configuration,
        ..SerializeSettings::default()
    });
    let issued = pdf_date(invoice.issue_date);
    document.set_metadata(
        Metadata::new()
            .title(format!("{} {}", title(invoice.type_code), invoice.number))
            .authors(vec![invoice.seller.legal_name.clone()])
            .creator("gpubill".to_owned())
            .producer("gpubill".to_owned())
            .language("fr".to_owned())
            .creation_date(issued),
    );
    document
        .embed_file(EmbeddedFile {
            path: FACTURX_FILE.to_owned(),
            mime_type: MimeType::new("text/xml"),
            description: Some("Factur-X EN 16931 invoice data".to_owned()),
            association_kind: AssociationKind::Alternative,
            data: Data::from(cii.as_bytes().to_vec()),
            modification_date: Some(issued),
            compress: Some(true),
            location: None,
        })
        .ok_or_else(|| PdfError("factur-x.xml embedded twice".into()))?;
    let pages = paginate(invoice);
    let count = pages.len();
    for (index, blocks) in pages.into_iter().enumerate() {
        let settings = PageSettings::from_wh(PAGE_WIDTH, PAGE_HEIGHT)
            .ok_or_else(|| PdfError("page size".into()))?;
        let mut page = document.start_page_with(settings);
        let mut surface = page.surface();
        let mut pen = Pen {
            surface: &mut surface,
            fonts: &fonts,
        };
        for block in blocks {
            block.draw(&mut pen, invoice);
        }
        pen.footer(invoice, index + 1, count);
        surface.finish();
        page.finish();
    }
    let pdf = document
        .finish()
        .map_err(|error| PdfError(format!("{error:?}")))?;
    facturx_metadata(pdf, invoice)
}

fn title(type_code: TypeCode) -> &'static str {
    match type_code {
        TypeCode::Invoice => "Facture",
        TypeCode::CreditNote => "Avoir",
    }
}

fn pdf_date(date: NaiveDate) -> DateTime {
    DateTime::new(u16::try_from(date.year()).unwrap_or(2000))
        .month(u8::try_from(date.month()).unwrap_or(1))
        .day(u8::try_from(date.day()).unwrap_or(1))
        .hour(0)
        .minute(0)
        .second(0)
        .utc_offset_hour(0)
        .utc_offset_minute(0)
}

/// The two faces, for drawing (krilla) and measuring (skrifa).
struct Fonts {
    regular: Font,
    bold: Font,
}

impl Fonts {
    fn load() -> Result<Self, PdfError> {
        let font = |bytes: &'static [u8]| {
            Font::new(Data::from(Arc::new(bytes.to_vec())), 0)
                .ok_or_else(|| PdfError("a built-in font does not load".into()))
        };
        Ok(Self {
            regular: font(REGULAR)?,
            bold: font(BOLD)?,
        })
    }
}

/// Width of `text` at `size` points in the face `bytes`.
fn text_width(bytes: &[u8], text: &str, size: f32) -> f32 {
    let Ok(font) = FontRef::new(bytes) else {
        return 0.0;
    };
    let charmap = font.charmap();
    let metrics = font.glyph_metrics(Size::new(size), LocationRef::default());
    text.chars()
        .filter_map(|c| charmap.map(c))
        .filter_map(|glyph| metrics.advance_width(glyph))
        .sum()
}

/// Drawing on one page.
struct Pen<'a, 'b> {
    surface: &'a mut Surface<'b>,
    fonts: &'a Fonts,
}

impl Pen<'_, '_> {
    fn text(&mut self, x: f32, y: f32, size: f32, bold: bool, text: &str) {
        let font = if bold {
            &self.fonts.bold
        } else {
            &self.fonts.regular
        };
        self.surface.draw_text(
            Point::from_xy(x, y),
            font.clone(),
            size,
            text,
            false,
            TextDirection::Auto,
        );
    }

    /// `text` ending at `right`.
    fn right(&mut self, right: f32, y: f32, size: f32, bold: bool, text: &str) {
        let bytes = if bold { BOLD } else { REGULAR };
        let x = right - text_width(bytes, text, size);
        self.text(x, y, size, bold, text);
    }

    fn rule(&mut self, y: f32) {
        let mut path = PathBuilder::new();
        path.move_to(MARGIN, y);
        path.line_to(PAGE_WIDTH - MARGIN, y);
        if let Some(path) = path.finish() {
            self.surface.set_stroke(Some(Stroke {
                width: 0.5,
                ..Stroke::default()
            }));
            self.surface.draw_path(&path);
            self.surface.set_stroke(None);
        }
    }

    fn footer(&mut self, invoice: &EInvoice, page: usize, pages: usize) {
        let y = PAGE_HEIGHT - 30.0;
        self.rule(y - 12.0);
        self.text(
            MARGIN,
            y,
            7.0,
            false,
            &format!(
                "{} {} — {}. Factur-X EN 16931 : données de référence dans factur-x.xml.",
                title(invoice.type_code),
                invoice.number,
                invoice.seller.legal_name,
            ),
        );
        self.right(
            PAGE_WIDTH - MARGIN,
            y,
            7.0,
            false,
            &format!("{page}/{pages}"),
        );
    }
}

/// A part of the document, laid out from the top of its page at `y`.
enum Block {
    Header,
    LinesHeader(f32),
    Line(f32, usize),
    Totals(f32),
    Mentions(f32),
}

/// Lines below the header on the first page, and on each page after.
const LINE_HEIGHT: f32 = 13.0;
const FIRST_LINES_TOP: f32 = 300.0;
const NEXT_LINES_TOP: f32 = 60.0;
/// Room the totals, VAT breakdown, payment details and mentions take.
const TOTALS_HEIGHT: f32 = 190.0;
const MENTIONS_HEIGHT: f32 = 150.0;

/// The blocks of each page.
fn paginate(invoice: &EInvoice) -> Vec<Vec<Block>> {
    let mut pages = vec![vec![Block::Header, Block::LinesHeader(FIRST_LINES_TOP)]];
    let mut y = FIRST_LINES_TOP + LINE_HEIGHT;
    for index in 0..invoice.lines.len() {
        if y + LINE_HEIGHT > BOTTOM {
            pages.push(vec![Block::LinesHeader(NEXT_LINES_TOP)]);
            y = NEXT_LINES_TOP + LINE_HEIGHT;
        }
        if let Some(page) = pages.last_mut() {
            page.push(Block::Line(y, index));
        }
        y += LINE_HEIGHT;
    }
    y += 10.0;
    for (block, height) in [
        (Block::Totals as fn(f32) -> Block, TOTALS_HEIGHT),
        (Block::Mentions as fn(f32) -> Block, MENTIONS_HEIGHT),
    ] {
        if y + height > BOTTOM {
            pages.push(Vec::new());
            y = NEXT_LINES_TOP;
        }
        if let Some(page) = pages.last_mut() {
            page.push(block(y));
        }
        y += height;
    }
    pages
}

impl Block {
    fn draw(&self, pen: &mut Pen, invoice: &EInvoice) {
        match self {
            Block::Header => header(pen, invoice),
            Block::LinesHeader(y) => lines_header(pen, *y),
            Block::Line(y, index) => line(pen, *y, &invoice.lines[*index]),
            Block::Totals(y) => totals(pen, *y, invoice),
            Block::Mentions(y) => mentions(pen, *y, invoice),
        }
    }
}

fn header(pen: &mut Pen, invoice: &EInvoice) {
    let seller = &invoice.seller;
    let mut y = 60.0;
    pen.text(MARGIN, y, 15.0, true, &seller.legal_name);
    y += 16.0;
    let mut lines = vec![
        format!(
            "{} au capital de {} {}",
            seller.legal_form,
            money(seller.share_capital),
            invoice.currency
        ),
        seller.address.line1.clone(),
    ];
    lines.extend(seller.address.line2.clone());
    lines.extend([
        format!(
            "{} {} {}",
            seller.address.postcode, seller.address.city, seller.address.country
        ),
        format!("SIREN {} — SIRET {}", seller.siren, seller.siret),
        format!(
            "{} {} — TVA {}",
            seller.registration, seller.siren, seller.vat_number
        ),
        match &seller.contact.phone {
            Some(phone) => format!("{} — {phone}", seller.contact.email),
            None => seller.contact.email.clone(),
        },
    ]);
    for text in lines {
        pen.text(MARGIN, y, BODY, false, &text);
        y += 11.0;
    }

    let right = PAGE_WIDTH - MARGIN;
    pen.right(
        right,
        60.0,
        18.0,
        true,
        &title(invoice.type_code).to_uppercase(),
    );
    let mut y = 80.0;
    let mut facts = vec![
        format!("N° {}", invoice.number),
        format!("Date : {}", french_date(invoice.issue_date)),
    ];
    if let Some(due) = invoice.due_date {
        facts.push(format!("Échéance : {}", french_date(due)));
    }
    facts.push(format!(
        "Période : du {} au {}",
        french_date(invoice.period.0),
        french_date(invoice.period.1)
    ));
    if let Some((number, date)) = &invoice.preceding {
        facts.push(format!(
            "Annule la facture {number} du {}",
            french_date(*date)
        ));
    }
    for text in facts {
        pen.right(right, y, BODY + 0.5, false, &text);
        y += 12.0;
    }

    let buyer = &invoice.buyer;
    let x = 320.0;
    let mut y = 170.0;
    pen.text(x, y, BODY, true, "Facturé à");
    y += 13.0;
    pen.text(x, y, 10.0, true, &buyer.legal_name);
    y += 12.0;
    let mut lines = vec![buyer.address.line1.clone()];
    lines.extend(buyer.address.line2.clone());
    lines.push(format!(
        "{} {} {}",
        buyer.address.postcode, buyer.address.city, buyer.address.country
    ));
    lines.extend(buyer.siren.as_ref().map(|siren| format!("SIREN {siren}")));
    lines.extend(buyer.vat_number.as_ref().map(|vat| format!("TVA {vat}")));
    lines.extend(
        buyer
            .purchase_order
            .as_ref()
            .map(|order| format!("Commande {order}")),
    );
    lines.push(format!("Client {}", buyer.tenant_id));
    for text in lines {
        pen.text(x, y, BODY, false, &text);
        y += 11.0;
    }
}

/// Right edges of the line table's numeric columns.
const QUANTITY_RIGHT: f32 = 365.0;
const PRICE_RIGHT: f32 = 440.0;
const VAT_RIGHT: f32 = 480.0;
const AMOUNT_RIGHT: f32 = PAGE_WIDTH - MARGIN;
/// Widest description before it is cut.
const DESCRIPTION_WIDTH: f32 = 270.0;

fn lines_header(pen: &mut Pen, y: f32) {
    pen.text(MARGIN, y, BODY, true, "Désignation");
    pen.right(QUANTITY_RIGHT, y, BODY, true, "Quantité");
    pen.right(PRICE_RIGHT, y, BODY, true, "Prix unit. HT");
    pen.right(VAT_RIGHT, y, BODY, true, "TVA");
    pen.right(AMOUNT_RIGHT, y, BODY, true, "Montant HT");
    pen.rule(y + 4.0);
}

fn line(pen: &mut Pen, y: f32, line: &Line) {
    pen.text(
        MARGIN,
        y,
        BODY,
        false,
        &fitted(&line.name, DESCRIPTION_WIDTH),
    );
    let unit = match line.unit {
        Unit::Hour => "h",
        Unit::One => "",
    };
    pen.right(
        QUANTITY_RIGHT,
        y,
        BODY,
        false,
        format!("{} {unit}", decimal(line.quantity)).trim_end(),
    );
    pen.right(
        PRICE_RIGHT,
        y,
        BODY,
        false,
        &decimal(unit_price_shown(line.net_price)),
    );
    let vat = line
        .rate_percent
        .map_or_else(|| "—".to_owned(), |rate| format!("{} %", decimal(rate)));
    pen.right(VAT_RIGHT, y, BODY, false, &vat);
    pen.right(AMOUNT_RIGHT, y, BODY, false, &money(line.net_amount));
}

/// `text` cut with an ellipsis to fit `width` at the body size.
fn fitted(text: &str, width: f32) -> String {
    if text_width(REGULAR, text, BODY) <= width {
        return text.to_owned();
    }
    let mut cut: String = text.to_owned();
    while !cut.is_empty() && text_width(REGULAR, &format!("{cut}…"), BODY) > width {
        cut.pop();
    }
    format!("{cut}…")
}

fn totals(pen: &mut Pen, y: f32, invoice: &EInvoice) {
    pen.rule(y - 8.0);
    let mut left = y + 6.0;
    pen.text(MARGIN, left, BODY, true, "TVA");
    left += 12.0;
    for vat in &invoice.breakdown {
        left = vat_line(pen, left, vat);
    }
    let label_right = 470.0;
    let mut right = y + 6.0;
    let rows = [
        ("Total HT", invoice.line_total, false),
        ("TVA", invoice.vat_total, false),
        ("Total TTC", invoice.grand_total, true),
        ("Crédit prépayé déduit", -invoice.prepaid, false),
        ("Net à payer", invoice.due_payable, true),
    ];
    for (label, amount, bold) in rows {
        pen.right(label_right, right, BODY + 0.5, bold, label);
        pen.right(
            AMOUNT_RIGHT,
            right,
            BODY + 0.5,
            bold,
            &format!("{} {}", money(amount), invoice.currency),
        );
        right += 13.0;
    }
    let bank = &invoice.seller.bank;
    let mut y = left.max(right) + 10.0;
    pen.text(MARGIN, y, BODY, true, "Paiement");
    y += 12.0;
    for text in [
        invoice.payment_terms.clone(),
        format!("IBAN {} — BIC {} — {}", bank.iban, bank.bic, bank.holder),
        format!("Référence à rappeler : {}", invoice.number),
    ] {
        pen.text(MARGIN, y, BODY, false, &text);
        y += 11.0;
    }
}

/// One VAT breakdown line, returning where the next one goes.
fn vat_line(pen: &mut Pen, y: f32, vat: &VatLine) -> f32 {
    let rate = vat.rate_percent.map_or_else(
        || "non soumis".to_owned(),
        |rate| format!("{} %", decimal(rate)),
    );
    pen.text(
        MARGIN,
        y,
        BODY,
        false,
        &format!(
            "{} {} : base {}, TVA {}",
            crate::cii::category_code(vat.category),
            rate,
            money(vat.base),
            money(vat.vat)
        ),
    );
    let mut y = y + 11.0;
    if let Some((_, reason)) = vat.exemption {
        pen.text(MARGIN, y, 7.0, false, &fitted(reason, 330.0));
        y += 10.0;
    }
    y
}

fn mentions(pen: &mut Pen, y: f32, invoice: &EInvoice) {
    let mut y = y;
    pen.text(MARGIN, y, BODY, true, "Mentions");
    y += 12.0;
    for note in invoice.notes.iter().filter(|note| note.subject != "BAR") {
        for text in wrapped(&note.text, PAGE_WIDTH - 2.0 * MARGIN, 7.5) {
            pen.text(MARGIN, y, 7.5, false, &text);
            y += 10.0;
        }
    }
}

/// `text` in lines that fit `width` at `size`, broken at spaces.
fn wrapped(text: &str, width: f32, size: f32) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for word in text.split(' ') {
        let candidate = if current.is_empty() {
            word.to_owned()
        } else {
            format!("{current} {word}")
        };
        if text_width(REGULAR, &candidate, size) > width && !current.is_empty() {
            lines.push(std::mem::replace(&mut current, word.to_owned()));
        } else {
            current = candidate;
        }
    }
    if !current.is_empty() {
        lines.push(current);
    }
    lines
}

fn french_date(date: NaiveDate) -> String {
    date.format("%d/%m/%Y").to_string()
}

/// A decimal as French text: a decimal comma.
fn decimal(value: Decimal) -> String {
    value.to_string().replace('.', ",")
}

/// An amount as French text: two places, a decimal comma, thin spaces between thousands.
fn money(amount: Decimal) -> String {
    let mut amount = amount;
    amount.rescale(2);
    let text = amount.abs().to_string();
    let (units, cents) = text.split_once('.').unwrap_or((&text, "00"));
    let mut grouped = String::new();
    for (index, digit) in units.chars().enumerate() {
        if index > 0 && (units.len() - index) % 3 == 0 {
            grouped.push('\u{202f}');
        }
        grouped.push(digit);
    }
    let sign = if amount.is_sign_negative() && !amount.is_zero() {
        "-"
    } else {
        ""
    };
    format!("{sign}{grouped},{cents}")
}

/// The Factur-X XMP schema's namespace and its properties' values.
const FX_NAMESPACE: &str = "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#";

/// The Factur-X extension schema description and properties, to add to the XMP's `rdf:RDF`.
fn facturx_xmp(type_code: TypeCode) -> String {
    let document_type = match type_code {
        TypeCode::Invoice | TypeCode::CreditNote => "INVOICE",
    };
    let property = |name: &str, description: &str| {
        format!(
            "<rdf:li rdf:parseType=\"Resource\"><pdfaProperty:name>{name}</pdfaProperty:name><pdfaProperty:valueType>Text</pdfaProperty:valueType><pdfaProperty:category>external</pdfaProperty:category><pdfaProperty:description>{description}</pdfaProperty:description></rdf:li>"
        )
    };
    format!(
        "<rdf:Description rdf:about=\"\" xmlns:pdfaExtension=\"http://www.aiim.org/pdfa/ns/extension/\" xmlns:pdfaSchema=\"http://www.aiim.org/pdfa/ns/schema#\" xmlns:pdfaProperty=\"http://www.aiim.org/pdfa/ns/property#\"><pdfaExtension:schemas><rdf:Bag><rdf:li rdf:parseType=\"Resource\"><pdfaSchema:schema>Factur-X PDFA Extension Schema</pdfaSchema:schema><pdfaSchema:namespaceURI>{FX_NAMESPACE}</pdfaSchema:namespaceURI><pdfaSchema:prefix>fx</pdfaSchema:prefix><pdfaSchema:property><rdf:Seq>{}{}{}{}</rdf:Seq></pdfaSchema:property></rdf:li></rdf:Bag></pdfaExtension:schemas></rdf:Description><rdf:Description rdf:about=\"\" xmlns:fx=\"{FX_NAMESPACE}\"><fx:DocumentType>{document_type}</fx:DocumentType><fx:DocumentFileName>{FACTURX_FILE}</fx:DocumentFileName><fx:Version>1.0</fx:Version><fx:ConformanceLevel>EN 16931</fx:ConformanceLevel></rdf:Description>",
        property("DocumentFileName", "The name of the embedded XML document"),
        property(
            "DocumentType",
            "The type of the hybrid document in capital letters, e.g. INVOICE or ORDER"
        ),
        property(
            "Version",
            "The actual version of the standard applying to the embedded XML document"
        ),
        property(
            "ConformanceLevel",
            "The conformance level of the embedded XML document"
        ),
    )
}

/// Adds the Factur-X XMP to `pdf` in an incremental update: a new metadata stream (the XMP
/// krilla wrote, with the Factur-X schema and properties) and the catalog again, naming it.
fn facturx_metadata(pdf: Vec<u8>, invoice: &EInvoice) -> Result<Vec<u8>, PdfError> {
    let fail = |what: &str| PdfError(format!("the PDF's {what} was not found"));
    let text = String::from_utf8_lossy(&pdf).into_owned();
    let startxref = text.rfind("startxref").ok_or_else(|| fail("startxref"))?;
    let previous: usize = text[startxref + "startxref".len()..]
        .split_whitespace()
        .next()
        .and_then(|offset| offset.parse().ok())
        .ok_or_else(|| fail("xref offset"))?;
    let trailer_at = text.rfind("trailer").ok_or_else(|| fail("trailer"))?;
    let trailer = &text[trailer_at..startxref];
    let size = dictionary_integer(trailer, "/Size").ok_or_else(|| fail("trailer /Size"))?;
    let root = dictionary_integer(trailer, "/Root").ok_or_else(|| fail("trailer /Root"))?;
    let id = trailer
        .find("/ID")
        .and_then(|at| trailer[at..].find(']').map(|end| &trailer[at..=at + end]))
        .ok_or_else(|| fail("trailer /ID"))?;
    let info = dictionary_integer(trailer, "/Info")
        .map(|info| format!("/Info {info} 0 R "))
        .unwrap_or_default();
    let catalog = object_body(&text, root).ok_or_else(|| fail("catalog"))?;
    let metadata = dictionary_integer(catalog, "/Metadata").ok_or_else(|| fail("/Metadata"))?;
    let old_xmp = stream_content(&text, metadata).ok_or_else(|| fail("XMP"))?;
    let insert_at = old_xmp
        .rfind("</rdf:RDF>")
        .ok_or_else(|| fail("XMP's rdf:RDF"))?;
    let xmp = format!(
        "{}{}{}",
        &old_xmp[..insert_at],
        facturx_xmp(invoice.type_code),
        &old_xmp[insert_at..]
    );
    let new_catalog = catalog.replacen(
        &format!("/Metadata {metadata} 0 R"),
        &format!("/Metadata {size} 0 R"),
        1,
    );
    let mut out = pdf;
    if !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    let metadata_at = out.len();
    out.extend_from_slice(
        format!(
            "{size} 0 obj\n<< /Type /Metadata /Subtype /XML /Length {} >>\nstream\n",
            xmp.len()
        )
        .as_bytes(),
    );
    out.extend_from_slice(xmp.as_bytes());
    out.extend_from_slice(b"\nendstream\nendobj\n");
    let catalog_at = out.len();
    out.extend_from_slice(format!("{root} 0 obj\n{new_catalog}\nendobj\n").as_bytes());
    let xref_at = out.len();
    out.extend_from_slice(
        format!(
            "xref\n{root} 1\n{catalog_at:010} 00000 n \n{size} 1\n{metadata_at:010} 00000 n \ntrailer\n<< /Size {} /Root {root} 0 R {info}{id} /Prev {previous} >>\nstartxref\n{xref_at}\n%%EOF\n",
            size + 1
        )
        .as_bytes(),
    );
    Ok(out)
}

/// The integer after `key` in a dictionary's text (`/Size 12`, `/Root 3 0 R`; pdf-writer
/// writes dictionaries without spaces between entries).
fn dictionary_integer(dictionary: &str, key: &str) -> Option<usize> {
    let at = dictionary.find(key)? + key.len();
    let digits: String = dictionary[at..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The text between `N 0 obj` and `endobj`.
fn object_body(text: &str, number: usize) -> Option<&str> {
    let start = find_object(text, number)?;
    let end = text[start..].find("endobj")?;
    Some(text[start..start + end].trim())
}

fn find_object(text: &str, number: usize) -> Option<usize> {
    let marker = format!("{number} 0 obj");
    let mut from = 0;
    while let Some(found) = text[from..].find(&marker) {
        let at = from + found;
        let at_line_start = at == 0 || matches!(text.as_bytes()[at - 1], b'\n' | b'\r');
        if at_line_start {
            return Some(at + marker.len());
        }
        from = at + marker.len();
    }
    None
}

/// The content of the (unfiltered) stream object `number`.
fn stream_content(text: &str, number: usize) -> Option<&str> {
    let body = object_body(text, number)?;
    let start = body.find("stream")? + "stream".len();
    let end = body.rfind("endstream")?;
    Some(body[start..end].trim_matches(['\r', '\n']))
}
