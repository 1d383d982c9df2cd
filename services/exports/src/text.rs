//! Text as the files write it: amounts with a decimal comma or point, dates, and the FEC's
//! character sets (ISO 8859-15, or plain ASCII with French accents dropped).

use chrono::NaiveDate;
use rust_decimal::Decimal;

/// `1234.5` as `1234,50`: two places, a decimal comma, no thousands separator (FEC).
pub fn amount_with_comma(amount: Decimal) -> String {
    amount_with_point(amount).replace('.', ",")
}

/// `1234.5` as `1234.50` (CSV, FOCUS).
pub fn amount_with_point(amount: Decimal) -> String {
    format!("{:.2}", gpubill_domain::round_to_cents(amount))
}

/// `AAAAMMJJ`, as the FEC writes dates.
pub fn fec_date(date: NaiveDate) -> String {
    date.format("%Y%m%d").to_string()
}

/// The character set a FEC is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// ISO 8859-15 (Latin-9): French text as it is, with the euro sign.
    Latin9,
    /// Plain ASCII: accented letters lose their accents (`é` → `e`, `œ` → `oe`).
    Ascii,
}

impl Charset {
    pub fn from_code(code: &str) -> Option<Self> {
        match code {
            "iso-8859-15" => Some(Self::Latin9),
            "ascii" => Some(Self::Ascii),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Self::Latin9 => "iso-8859-15",
            Self::Ascii => "ascii",
        }
    }

    /// `text` in this character set. A character it cannot write becomes `?`: tenant names
    /// and descriptions are free text, and the file must still be written.
    pub fn encode(self, text: &str, out: &mut Vec<u8>) {
        for character in text.chars() {
            match self {
                Self::Latin9 => out.push(latin9(character).unwrap_or(b'?')),
                Self::Ascii if character.is_ascii() => out.push(character as u8),
                Self::Ascii => out.extend_from_slice(unaccented(character).as_bytes()),
            }
        }
    }
}

/// The ISO 8859-15 byte of `character`: Latin-1 except for the eight places Latin-9 changed.
fn latin9(character: char) -> Option<u8> {
    let byte = match character {
        '€' => 0xA4,
        'Š' => 0xA6,
        'š' => 0xA8,
        'Ž' => 0xB4,
        'ž' => 0xB8,
        'Œ' => 0xBC,
        'œ' => 0xBD,
        'Ÿ' => 0xBE,
        // Latin-1's characters at those places are not in Latin-9.
        '\u{A4}' | '\u{A6}' | '\u{A8}' | '\u{B4}' | '\u{B8}' | '\u{BC}' | '\u{BD}' | '\u{BE}' => {
            return None;
        }
        other => u8::try_from(u32::from(other)).ok()?,
    };
    Some(byte)
}

/// A French letter without its accent, for an ASCII file.
fn unaccented(character: char) -> &'static str {
    match character {
        'à' | 'â' | 'ä' | 'á' | 'ã' | 'å' => "a",
        'À' | 'Â' | 'Ä' | 'Á' | 'Ã' | 'Å' => "A",
        'ç' => "c",
        'Ç' => "C",
        'é' | 'è' | 'ê' | 'ë' => "e",
        'É' | 'È' | 'Ê' | 'Ë' => "E",
        'î' | 'ï' | 'í' | 'ì' => "i",
        'Î' | 'Ï' | 'Í' | 'Ì' => "I",
        'ô' | 'ö' | 'ó' | 'ò' | 'õ' => "o",
        'Ô' | 'Ö' | 'Ó' | 'Ò' | 'Õ' => "O",
        'ù' | 'û' | 'ü' | 'ú' => "u",
        'Ù' | 'Û' | 'Ü' | 'Ú' => "U",
        'ÿ' => "y",
        'Ÿ' => "Y",
        'ñ' => "n",
        'Ñ' => "N",
        'œ' => "oe",
        'Œ' => "OE",
        'æ' => "ae",
        'Æ' => "AE",
        '€' => "EUR",
        _ => "?",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::dec;

    #[test]
    fn amounts_have_two_places_and_no_thousands_separator() {
        assert_eq!(amount_with_comma(dec!(1234567.5)), "1234567,50");
        assert_eq!(amount_with_comma(dec!(0.005)), "0,00");
        assert_eq!(amount_with_point(dec!(7)), "7.00");
    }

    #[test]
    fn latin9_writes_french_and_the_euro_and_marks_the_rest() {
        let mut out = Vec::new();
        Charset::Latin9.encode("TVA collectée œ € 日", &mut out);
        assert_eq!(out, b"TVA collect\xE9e \xBD \xA4 ?");
        let mut out = Vec::new();
        Charset::Ascii.encode("Clients - avances et acomptes reçus, Œuvre", &mut out);
        assert_eq!(out, b"Clients - avances et acomptes recus, OEuvre");
    }
}
