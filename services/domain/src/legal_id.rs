//! Checks of the identifiers an invoice names its parties and its payment by: French SIREN and
//! SIRET (Luhn), the French VAT number derived from a SIREN, EU VAT numbers' shape, IBAN (ISO
//! 13616, mod 97) and BIC (ISO 9362). A wrong digit on an invoice is a rejected e-invoice or a
//! payment to nowhere, so each is checked where it enters: configuration at start-up, billing
//! profiles when they are written.

use std::fmt;

/// Why an identifier is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} `{value}`: {reason}")]
pub struct LegalIdError {
    pub kind: LegalIdKind,
    pub value: String,
    pub reason: &'static str,
}

/// Which identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegalIdKind {
    Siren,
    Siret,
    VatNumber,
    Iban,
    Bic,
    CountryCode,
}

impl fmt::Display for LegalIdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LegalIdKind::Siren => "SIREN",
            LegalIdKind::Siret => "SIRET",
            LegalIdKind::VatNumber => "VAT number",
            LegalIdKind::Iban => "IBAN",
            LegalIdKind::Bic => "BIC",
            LegalIdKind::CountryCode => "country code",
        })
    }
}

fn refuse(kind: LegalIdKind, value: &str, reason: &'static str) -> LegalIdError {
    LegalIdError {
        kind,
        value: value.to_owned(),
        reason,
    }
}

/// The Luhn check over a string of ASCII digits.
fn luhn_valid(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(index, byte)| {
            let digit = u32::from(byte - b'0');
            if index % 2 == 1 {
                let doubled = digit * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                digit
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// The digit that completes `digits` (ASCII digits) into a number passing the Luhn check: how a
/// SIREN's ninth digit is made from its first eight.
pub fn luhn_check_digit(digits: &str) -> Option<char> {
    if !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    ('0'..='9').find(|digit| luhn_valid(&format!("{digits}{digit}")))
}

fn all_digits(text: &str, count: usize) -> bool {
    text.len() == count && text.bytes().all(|byte| byte.is_ascii_digit())
}

/// A SIREN: 9 digits passing the Luhn check.
pub fn check_siren(siren: &str) -> Result<(), LegalIdError> {
    if !all_digits(siren, 9) {
        return Err(refuse(LegalIdKind::Siren, siren, "must be 9 digits"));
    }
    if !luhn_valid(siren) {
        return Err(refuse(LegalIdKind::Siren, siren, "fails the Luhn check"));
    }
    Ok(())
}

/// A SIRET of `siren`: 14 digits starting with the SIREN, passing the Luhn check.
pub fn check_siret(siret: &str, siren: &str) -> Result<(), LegalIdError> {
    if !all_digits(siret, 14) {
        return Err(refuse(LegalIdKind::Siret, siret, "must be 14 digits"));
    }
    if !siret.starts_with(siren) {
        return Err(refuse(
            LegalIdKind::Siret,
            siret,
            "must start with the SIREN",
        ));
    }
    if !luhn_valid(siret) {
        return Err(refuse(LegalIdKind::Siret, siret, "fails the Luhn check"));
    }
    Ok(())
}

/// The French VAT number of `siren`: `FR`, a two-digit key `(12 + 3 × (SIREN mod 97)) mod 97`,
/// the SIREN.
pub fn french_vat_number(siren: &str) -> Result<String, LegalIdError> {
    check_siren(siren)?;
    let number: u64 = siren
        .parse()
        .map_err(|_| refuse(LegalIdKind::Siren, siren, "must be 9 digits"))?;
    let key = (12 + 3 * (number % 97)) % 97;
    Ok(format!("FR{key:02}{siren}"))
}

/// An intra-community VAT number of a party established in `country`: upper-case country prefix
/// (`EL` for Greece) and 2 to 13 letters or digits; a French one must be the number of `siren`
/// when a SIREN is given.
pub fn check_vat_number(
    vat_number: &str,
    country: &str,
    siren: Option<&str>,
) -> Result<(), LegalIdError> {
    let prefix = if country == "GR" { "EL" } else { country };
    let Some(rest) = vat_number.strip_prefix(prefix) else {
        return Err(refuse(
            LegalIdKind::VatNumber,
            vat_number,
            "must start with the country's prefix",
        ));
    };
    if !(2..=13).contains(&rest.len())
        || !rest
            .bytes()
            .all(|byte| byte.is_ascii_digit() || byte.is_ascii_uppercase())
    {
        return Err(refuse(
            LegalIdKind::VatNumber,
            vat_number,
            "must be the prefix and 2 to 13 upper-case letters or digits",
        ));
    }
    if country == "FR"
        && let Some(siren) = siren
        && french_vat_number(siren)? != vat_number
    {
        return Err(refuse(
            LegalIdKind::VatNumber,
            vat_number,
            "is not the French VAT number of the SIREN",
        ));
    }
    Ok(())
}

/// An ISO 3166-1 alpha-2 code's shape: two upper-case letters.
pub fn check_country_code(code: &str) -> Result<(), LegalIdError> {
    if code.len() == 2 && code.bytes().all(|byte| byte.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(refuse(
            LegalIdKind::CountryCode,
            code,
            "must be two upper-case letters (ISO 3166-1 alpha-2)",
        ))
    }
}

/// An IBAN without spaces: country code, two check digits and up to 30 letters or digits, whose
/// rearranged number is 1 modulo 97.
pub fn check_iban(iban: &str) -> Result<(), LegalIdError> {
    let bytes = iban.as_bytes();
    let shaped = (15..=34).contains(&bytes.len())
        && bytes[..2].iter().all(u8::is_ascii_uppercase)
        && bytes[2..4].iter().all(u8::is_ascii_digit)
        && bytes[4..]
            .iter()
            .all(|byte| byte.is_ascii_digit() || byte.is_ascii_uppercase());
    if !shaped {
        return Err(refuse(
            LegalIdKind::Iban,
            iban,
            "must be a country code, 2 check digits and up to 30 upper-case letters or digits, without spaces",
        ));
    }
    let remainder = bytes[4..]
        .iter()
        .chain(&bytes[..4])
        .fold(0u64, |remainder, byte| {
            let value = if byte.is_ascii_digit() {
                u64::from(byte - b'0')
            } else {
                u64::from(byte - b'A') + 10
            };
            let shift = if value >= 10 { 100 } else { 10 };
            (remainder * shift + value) % 97
        });
    if remainder != 1 {
        return Err(refuse(LegalIdKind::Iban, iban, "fails the mod-97 check"));
    }
    Ok(())
}

/// A BIC: 4 letters (bank), 2 letters (country), 2 letters or digits (location), and optionally 3
/// letters or digits (branch).
pub fn check_bic(bic: &str) -> Result<(), LegalIdError> {
    let bytes = bic.as_bytes();
    let alphanumeric = |byte: &u8| byte.is_ascii_uppercase() || byte.is_ascii_digit();
    let shaped = (bytes.len() == 8 || bytes.len() == 11)
        && bytes[..6].iter().all(u8::is_ascii_uppercase)
        && bytes[6..].iter().all(alphanumeric);
    if shaped {
        Ok(())
    } else {
        Err(refuse(
            LegalIdKind::Bic,
            bic,
            "must be 8 or 11 characters: bank (4 letters), country (2), location (2), branch (3)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sirens_and_sirets_pass_luhn() {
        // La Poste's SIREN and a SIRET of the INSEE's examples.
        assert!(check_siren("356000000").is_ok());
        assert!(check_siren("732829320").is_ok());
        assert_eq!(
            check_siren("732829321").unwrap_err().reason,
            "fails the Luhn check"
        );
        assert!(check_siren("12345678").is_err());
        assert!(check_siren("12345678a").is_err());
        assert!(check_siret("73282932000074", "732829320").is_ok());
        assert!(check_siret("73282932000075", "732829320").is_err());
        assert_eq!(
            check_siret("35600000000048", "732829320")
                .unwrap_err()
                .reason,
            "must start with the SIREN"
        );
    }

    #[test]
    fn the_check_digit_completes_a_siren() {
        assert_eq!(luhn_check_digit("73282932"), Some('0'));
        assert_eq!(luhn_check_digit("3560000"), luhn_check_digit("3560000"));
        assert_eq!(luhn_check_digit("12a"), None);
    }

    #[test]
    fn the_french_vat_number_derives_from_the_siren() {
        assert_eq!(french_vat_number("732829320").unwrap(), "FR44732829320");
        assert!(check_vat_number("FR44732829320", "FR", Some("732829320")).is_ok());
        assert!(check_vat_number("FR45732829320", "FR", Some("732829320")).is_err());
        assert!(check_vat_number("DE811907980", "DE", None).is_ok());
        assert!(check_vat_number("EL123456789", "GR", None).is_ok());
        assert!(check_vat_number("DE811907980", "FR", None).is_err());
        assert!(check_vat_number("de811907980", "DE", None).is_err());
    }

    #[test]
    fn ibans_and_bics() {
        assert!(check_iban("FR7630006000011234567890189").is_ok());
        assert!(check_iban("DE89370400440532013000").is_ok());
        assert_eq!(
            check_iban("FR7630006000011234567890188")
                .unwrap_err()
                .reason,
            "fails the mod-97 check"
        );
        assert!(check_iban("FR76 3000 6000").is_err());
        assert!(check_bic("AGRIFRPP").is_ok());
        assert!(check_bic("AGRIFRPP882").is_ok());
        assert!(check_bic("AGRIFRP").is_err());
        assert!(check_bic("agrifrpp").is_err());
        assert!(check_country_code("FR").is_ok());
        assert!(check_country_code("France").is_err());
    }
}
