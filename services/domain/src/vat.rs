//! VAT on an invoice: which treatment a customer gets from a seller established in France, and
//! the VAT computed per rate on the invoice's total.
//!
//! Treatment of a customer, from its country (ISO 3166-1 alpha-2) and optional intra-community
//! VAT number:
//! - France (and Monaco, see below), with or without a VAT number: French VAT at 20 %;
//! - another EU member state with a VAT number: reverse charge at 0 %, with its mandatory mention;
//! - another EU member state without a VAT number: French VAT at 20 % (a non-taxable customer);
//! - outside the EU: out of scope at 0 %, with its mention.
//!
//! Inputs are taken in their canonical form only: country codes and VAT numbers must already be
//! upper case without spaces or punctuation (`"fr"` or `"FR 12 345678901"` are errors). Cleaning
//! what a customer typed belongs where it is typed, so that what is stored, validated and printed
//! on the invoice is the same text.
//!
//! Rounding: VAT is computed once per (category, rate) on the sum of the lines' net amounts,
//! `round_to_cents(base × rate)`, never per line.

use crate::money::{CENT_PLACES, round_to_cents};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::{fmt, str::FromStr};

/// Country where the seller is established.
pub const SELLER_COUNTRY: &str = "FR";

/// French standard VAT rate, 20 %.
pub const FRENCH_STANDARD_RATE: Decimal = Decimal::from_parts(20, 0, 0, false, 2);

/// Mandatory mention on an invoice to a taxable customer in another EU member state.
pub const REVERSE_CHARGE_MENTION: &str = "Autoliquidation : TVA due par le preneur (article 283-2 du CGI, article 196 de la directive 2006/112/CE)";

/// Mention on an invoice to a customer outside the EU.
pub const OUT_OF_SCOPE_MENTION: &str =
    "TVA non applicable, article 259-1 du CGI (prestation hors de l'Union européenne)";

/// The 27 EU member states, by ISO 3166-1 alpha-2 code (Greece is `GR`), sorted.
pub const EU_MEMBER_STATES: [&str; 27] = [
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT",
    "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
];

/// Fewest letters or digits after the prefix of an intra-community VAT number.
pub const VAT_NUMBER_MIN_BODY: usize = 2;
/// Most letters or digits after the prefix of an intra-community VAT number.
pub const VAT_NUMBER_MAX_BODY: usize = 12;

/// The 249 officially assigned ISO 3166-1 alpha-2 codes, sorted (for binary search).
const ISO_3166_ALPHA_2: [&str; 249] = [
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
];

/// Kosovo has no official ISO code; `XK` is the user-assigned code the European Commission, banks
/// and most registries use for it, so a customer there is outside the EU rather than unknown.
const KOSOVO: &str = "XK";

/// Monaco is outside the EU but inside the French VAT territory: article 7 of directive
/// 2006/112/CE treats supplies to Monaco as supplies to France, and Monegasque businesses hold
/// `FR` VAT numbers.
const MONACO: &str = "MC";

/// Territories with their own ISO code that belong to an EU member state but lie outside the EU
/// VAT area: the French outermost regions (Guadeloupe, French Guiana, Martinique, Réunion,
/// Mayotte, Saint-Martin) and Åland. Neither "French VAT" nor "outside the European Union" is
/// right for them as stated, so they are refused until their treatment is decided.
const SPECIAL_VAT_TERRITORIES: [&str; 7] = ["AX", "GF", "GP", "MF", "MQ", "RE", "YT"];

/// How VAT is charged on an invoice line. The code is stable: it is stored and exchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum VatCategory {
    /// French VAT is charged.
    Standard,
    /// No VAT is charged; the customer, taxable in another member state, accounts for it.
    ReverseCharge,
    /// No VAT is charged; the supply is made outside the EU.
    OutOfScope,
}

impl VatCategory {
    pub const ALL: [VatCategory; 3] = [Self::Standard, Self::ReverseCharge, Self::OutOfScope];

    /// Stable machine-readable code: `standard`, `reverse_charge` or `out_of_scope`.
    pub fn code(self) -> &'static str {
        match self {
            Self::Standard => "standard",
            Self::ReverseCharge => "reverse_charge",
            Self::OutOfScope => "out_of_scope",
        }
    }

    /// Text the invoice (and any credit note voiding it) must carry for this category.
    pub fn mention(self) -> Option<&'static str> {
        match self {
            Self::Standard => None,
            Self::ReverseCharge => Some(REVERSE_CHARGE_MENTION),
            Self::OutOfScope => Some(OUT_OF_SCOPE_MENTION),
        }
    }

    /// Whether `rate` can be charged under this category: a standard rate is strictly between 0
    /// and 1; reverse charge and out of scope charge nothing.
    pub fn allows_rate(self, rate: Decimal) -> bool {
        match self {
            Self::Standard => rate > Decimal::ZERO && rate < Decimal::ONE,
            Self::ReverseCharge | Self::OutOfScope => rate.is_zero(),
        }
    }
}

impl fmt::Display for VatCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for VatCategory {
    type Err = VatError;

    fn from_str(code: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|category| category.code() == code)
            .ok_or_else(|| VatError::UnknownCategory(code.to_owned()))
    }
}

/// The VAT an invoice to one customer is subject to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VatTreatment {
    pub category: VatCategory,
    /// Fraction of the net amount, e.g. `0.20`.
    pub rate: Decimal,
    /// Mandatory invoice mention, if the category has one.
    pub mention: Option<&'static str>,
}

impl VatTreatment {
    fn of(category: VatCategory, rate: Decimal) -> Self {
        Self {
            category,
            rate,
            mention: category.mention(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VatError {
    #[error("country `{0}` is not two upper-case ASCII letters (ISO 3166-1 alpha-2)")]
    MalformedCountry(String),
    #[error("country `{0}` is not an assigned ISO 3166-1 alpha-2 code")]
    UnknownCountry(String),
    #[error(
        "country `{0}` is a territory of an EU member state outside the EU VAT area; its VAT treatment is not decided"
    )]
    SpecialVatTerritory(String),
    #[error(
        "VAT number `{number}` does not fit country `{country}`: expected `{prefix}` followed by 2 to 12 upper-case letters or digits"
    )]
    MalformedVatNumber {
        country: String,
        number: String,
        prefix: &'static str,
    },
    #[error(
        "VAT number `{number}` given for `{country}`, outside the EU, where no intra-community VAT number exists"
    )]
    VatNumberOutsideEu { country: String, number: String },
    #[error("unknown VAT category code `{0}`")]
    UnknownCategory(String),
}

/// VAT treatment of an invoice to a customer established in `country` (ISO 3166-1 alpha-2, upper
/// case) holding `vat_number` (intra-community VAT number, upper case, no spaces), if any.
///
/// The number's format is checked (prefix of the country, then 2 to 12 letters or digits), not
/// its validity in VIES: that needs I/O and belongs to the caller.
pub fn vat_treatment(country: &str, vat_number: Option<&str>) -> Result<VatTreatment, VatError> {
    check_country(country)?;
    let in_french_vat_territory = country == SELLER_COUNTRY || country == MONACO;
    // Only countries of the EU VAT area issue intra-community VAT numbers.
    let number_prefix = vat_number_prefix(country);
    if let Some(number) = vat_number {
        let Some(prefix) = number_prefix else {
            return Err(VatError::VatNumberOutsideEu {
                country: country.to_owned(),
                number: number.to_owned(),
            });
        };
        check_vat_number(country, number, prefix)?;
    }
    let treatment = if in_french_vat_territory {
        VatTreatment::of(VatCategory::Standard, FRENCH_STANDARD_RATE)
    } else if number_prefix.is_none() {
        VatTreatment::of(VatCategory::OutOfScope, Decimal::ZERO)
    } else if vat_number.is_some() {
        VatTreatment::of(VatCategory::ReverseCharge, Decimal::ZERO)
    } else {
        VatTreatment::of(VatCategory::Standard, FRENCH_STANDARD_RATE)
    };
    Ok(treatment)
}

/// Whether `country` (upper-case ISO 3166-1 alpha-2) is one of the 27 EU member states.
pub fn is_eu_member_state(country: &str) -> bool {
    EU_MEMBER_STATES.binary_search(&country).is_ok()
}

/// Prefix of the intra-community VAT numbers of `country`: its ISO code, except Greece (`EL`)
/// and Monaco (`FR`, as part of the French VAT territory). `None` outside the EU VAT area.
pub fn vat_number_prefix(country: &str) -> Option<&'static str> {
    match country {
        "GR" => Some("EL"),
        MONACO => Some("FR"),
        _ => EU_MEMBER_STATES
            .iter()
            .find(|&&member| member == country)
            .copied(),
    }
}

fn check_country(country: &str) -> Result<(), VatError> {
    if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(VatError::MalformedCountry(country.to_owned()));
    }
    if SPECIAL_VAT_TERRITORIES.contains(&country) {
        return Err(VatError::SpecialVatTerritory(country.to_owned()));
    }
    if country != KOSOVO && ISO_3166_ALPHA_2.binary_search(&country).is_err() {
        return Err(VatError::UnknownCountry(country.to_owned()));
    }
    Ok(())
}

/// Checks the format of `number`: `prefix`, then 2 to 12 upper-case letters or digits.
fn check_vat_number(country: &str, number: &str, prefix: &'static str) -> Result<(), VatError> {
    let body_ok = number.strip_prefix(prefix).is_some_and(|body| {
        (VAT_NUMBER_MIN_BODY..=VAT_NUMBER_MAX_BODY).contains(&body.len())
            && body
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    });
    if !body_ok {
        return Err(VatError::MalformedVatNumber {
            country: country.to_owned(),
            number: number.to_owned(),
            prefix,
        });
    }
    Ok(())
}

/// A line's net amount, already rounded to the cent, with the VAT it is taxed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaxableAmount {
    pub category: VatCategory,
    pub rate: Decimal,
    pub net: Decimal,
}

/// VAT of all the lines of an invoice taxed at one category and rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VatSubtotal {
    pub category: VatCategory,
    pub rate: Decimal,
    /// Sum of the lines' net amounts (exact, in cents).
    pub base: Decimal,
    /// `round_to_cents(base × rate)`.
    pub vat: Decimal,
}

/// VAT of a whole invoice: one subtotal per (category, rate), ordered by category then rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VatBreakdown {
    pub subtotals: Vec<VatSubtotal>,
    /// Sum of the bases (exact).
    pub net_total: Decimal,
    /// Sum of the subtotals' VAT (exact).
    pub vat_total: Decimal,
    /// `net_total + vat_total` (exact).
    pub total: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VatBreakdownError {
    #[error("net amount {0} is not rounded to the cent")]
    UnroundedNet(Decimal),
    #[error("rate {rate} cannot be charged under VAT category `{category}`")]
    RateNotAllowed {
        category: VatCategory,
        rate: Decimal,
    },
}

/// VAT per rate on an invoice: the lines are grouped by (category, rate), each group's base is
/// the exact sum of its net amounts and its VAT is `round_to_cents(base × rate)`. The invoice's
/// VAT is the sum of the groups' VAT; VAT is never rounded per line.
pub fn vat_per_rate(
    lines: impl IntoIterator<Item = TaxableAmount>,
) -> Result<VatBreakdown, VatBreakdownError> {
    let mut bases: BTreeMap<(VatCategory, Decimal), Decimal> = BTreeMap::new();
    for line in lines {
        if line.net.normalize().scale() > CENT_PLACES {
            return Err(VatBreakdownError::UnroundedNet(line.net));
        }
        if !line.category.allows_rate(line.rate) {
            return Err(VatBreakdownError::RateNotAllowed {
                category: line.category,
                rate: line.rate,
            });
        }
        // `Decimal` compares by value, so 0.2 and 0.20 are the same rate and share a subtotal.
        *bases.entry((line.category, line.rate)).or_default() += line.net;
    }
    let subtotals: Vec<VatSubtotal> = bases
        .into_iter()
        .map(|((category, rate), base)| {
            // The base is a sum of cents: rounding only fixes its scale to two places.
            let base = round_to_cents(base);
            VatSubtotal {
                category,
                rate,
                base,
                vat: round_to_cents(base * rate),
            }
        })
        .collect();
    let net_total = round_to_cents(subtotals.iter().map(|subtotal| subtotal.base).sum());
    let vat_total = round_to_cents(subtotals.iter().map(|subtotal| subtotal.vat).sum());
    Ok(VatBreakdown {
        subtotals,
        net_total,
        vat_total,
        total: net_total + vat_total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal::dec;

    fn standard() -> VatTreatment {
        VatTreatment {
            category: VatCategory::Standard,
            rate: dec!(0.20),
            mention: None,
        }
    }

    fn reverse_charge() -> VatTreatment {
        VatTreatment {
            category: VatCategory::ReverseCharge,
            rate: Decimal::ZERO,
            mention: Some(REVERSE_CHARGE_MENTION),
        }
    }

    fn out_of_scope() -> VatTreatment {
        VatTreatment {
            category: VatCategory::OutOfScope,
            rate: Decimal::ZERO,
            mention: Some(OUT_OF_SCOPE_MENTION),
        }
    }

    fn taxable(category: VatCategory, rate: Decimal, net: Decimal) -> TaxableAmount {
        TaxableAmount {
            category,
            rate,
            net,
        }
    }

    fn at_rate(rate: Decimal, net: Decimal) -> TaxableAmount {
        taxable(VatCategory::Standard, rate, net)
    }

    #[test]
    fn french_customer_pays_french_vat_with_or_without_a_number() {
        assert_eq!(vat_treatment("FR", None), Ok(standard()));
        assert_eq!(vat_treatment("FR", Some("FR12345678901")), Ok(standard()));
        assert_eq!(
            vat_treatment("FR", Some("FR12345678901")).unwrap().rate,
            FRENCH_STANDARD_RATE
        );
    }

    #[test]
    fn french_customer_with_a_foreign_number_is_refused() {
        assert_eq!(
            vat_treatment("FR", Some("DE123456789")),
            Err(VatError::MalformedVatNumber {
                country: "FR".into(),
                number: "DE123456789".into(),
                prefix: "FR",
            })
        );
    }

    #[test]
    fn eu_business_customer_is_reverse_charged() {
        let treatment = vat_treatment("DE", Some("DE123456789")).unwrap();
        assert_eq!(treatment, reverse_charge());
        assert_eq!(treatment.category.code(), "reverse_charge");
        assert_eq!(
            treatment.mention,
            Some(
                "Autoliquidation : TVA due par le preneur (article 283-2 du CGI, article 196 de la directive 2006/112/CE)"
            )
        );
    }

    #[test]
    fn eu_customer_without_a_number_pays_french_vat() {
        assert_eq!(vat_treatment("DE", None), Ok(standard()));
        assert_eq!(vat_treatment("IT", None), Ok(standard()));
    }

    #[test]
    fn greek_numbers_use_the_el_prefix() {
        assert_eq!(
            vat_treatment("GR", Some("EL123456789")),
            Ok(reverse_charge())
        );
        assert_eq!(
            vat_treatment("GR", Some("GR123456789")),
            Err(VatError::MalformedVatNumber {
                country: "GR".into(),
                number: "GR123456789".into(),
                prefix: "EL",
            })
        );
        // `EL` is a VAT prefix, not a country code.
        assert_eq!(
            vat_treatment("EL", None),
            Err(VatError::UnknownCountry("EL".into()))
        );
        assert_eq!(vat_treatment("GR", None), Ok(standard()));
    }

    #[test]
    fn customers_outside_the_eu_are_out_of_scope() {
        for country in ["US", "CH", "GB", "NO", "JP", "XK"] {
            let treatment = vat_treatment(country, None).unwrap();
            assert_eq!(treatment, out_of_scope(), "{country}");
            assert_eq!(treatment.category.code(), "out_of_scope");
            assert_eq!(
                treatment.mention,
                Some(
                    "TVA non applicable, article 259-1 du CGI (prestation hors de l'Union européenne)"
                )
            );
        }
    }

    #[test]
    fn a_number_outside_the_eu_is_refused() {
        for (country, number) in [
            ("US", "US123456"),
            ("CH", "CHE123456789"),
            ("GB", "GB123456789"),
        ] {
            assert_eq!(
                vat_treatment(country, Some(number)),
                Err(VatError::VatNumberOutsideEu {
                    country: country.into(),
                    number: number.into(),
                }),
                "{country}"
            );
        }
    }

    #[test]
    fn monaco_is_taxed_as_france() {
        assert_eq!(vat_treatment("MC", None), Ok(standard()));
        assert_eq!(vat_treatment("MC", Some("FR12345678901")), Ok(standard()));
        assert!(matches!(
            vat_treatment("MC", Some("MC12345678901")),
            Err(VatError::MalformedVatNumber { prefix: "FR", .. })
        ));
    }

    #[test]
    fn territories_outside_the_eu_vat_area_are_refused() {
        for country in ["GP", "MQ", "RE", "GF", "YT", "MF", "AX"] {
            assert_eq!(
                vat_treatment(country, None),
                Err(VatError::SpecialVatTerritory(country.into())),
                "{country}"
            );
        }
    }

    #[test]
    fn lowercase_and_padded_input_is_refused_not_normalised() {
        for country in ["fr", "Fr", "de", " FR", "FR ", "F", "FRA", "", "F1", "ÉS"] {
            assert_eq!(
                vat_treatment(country, None),
                Err(VatError::MalformedCountry(country.into())),
                "{country:?}"
            );
        }
        for number in [
            "de123456789",
            "DE123456789a",
            "DE 123456789",
            "DE-123456789",
        ] {
            assert!(
                matches!(
                    vat_treatment("DE", Some(number)),
                    Err(VatError::MalformedVatNumber { .. })
                ),
                "{number}"
            );
        }
    }

    #[test]
    fn unassigned_codes_are_refused() {
        for country in ["ZZ", "UK", "EU", "XX", "AA"] {
            assert_eq!(
                vat_treatment(country, None),
                Err(VatError::UnknownCountry(country.into())),
                "{country}"
            );
        }
    }

    #[test]
    fn vat_number_body_is_two_to_twelve_letters_or_digits() {
        assert!(vat_treatment("DE", Some("DE12")).is_ok());
        assert!(vat_treatment("DE", Some("DE123456789012")).is_ok());
        assert!(vat_treatment("NL", Some("NL123456789B01")).is_ok());
        for number in ["DE", "DE1", "DE1234567890123", ""] {
            assert!(
                matches!(
                    vat_treatment("DE", Some(number)),
                    Err(VatError::MalformedVatNumber { prefix: "DE", .. })
                ),
                "{number}"
            );
        }
    }

    #[test]
    fn every_member_state_is_handled() {
        for country in EU_MEMBER_STATES {
            let prefix = vat_number_prefix(country).unwrap();
            let number = format!("{prefix}123456789");
            let expected = if country == "FR" {
                standard()
            } else {
                reverse_charge()
            };
            assert_eq!(
                vat_treatment(country, Some(&number)),
                Ok(expected),
                "{country}"
            );
            assert_eq!(vat_treatment(country, None), Ok(standard()), "{country}");
        }
    }

    #[test]
    fn country_tables_are_sorted_and_consistent() {
        assert!(ISO_3166_ALPHA_2.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(EU_MEMBER_STATES.windows(2).all(|pair| pair[0] < pair[1]));
        for country in EU_MEMBER_STATES
            .iter()
            .chain(&SPECIAL_VAT_TERRITORIES)
            .chain([&MONACO])
        {
            assert!(ISO_3166_ALPHA_2.binary_search(country).is_ok(), "{country}");
        }
        assert!(ISO_3166_ALPHA_2.binary_search(&KOSOVO).is_err());
    }

    #[test]
    fn category_codes_round_trip() {
        for category in VatCategory::ALL {
            assert_eq!(category.code().parse::<VatCategory>(), Ok(category));
            assert_eq!(category.to_string(), category.code());
        }
        assert_eq!(
            "Standard".parse::<VatCategory>(),
            Err(VatError::UnknownCategory("Standard".into()))
        );
    }

    #[test]
    fn vat_is_computed_on_the_total_per_rate_not_per_line() {
        // Per line: 0.03 × 20 % = 0.006 → 0.01, three times 0.03. On the total: 0.09 × 20 % = 0.018 → 0.02.
        let breakdown =
            vat_per_rate([dec!(0.03), dec!(0.03), dec!(0.03)].map(|net| at_rate(dec!(0.20), net)))
                .unwrap();
        assert_eq!(
            breakdown.subtotals,
            [VatSubtotal {
                category: VatCategory::Standard,
                rate: dec!(0.20),
                base: dec!(0.09),
                vat: dec!(0.02),
            }]
        );
        assert_eq!(breakdown.vat_total, dec!(0.02));
        assert_eq!(breakdown.total.to_string(), "0.11");
    }

    #[test]
    fn vat_rounds_midpoints_to_the_even_cent() {
        // At 20 % a base in cents gives a multiple of 0.002: never a midpoint. Other rates do.
        let vat = |rate, base| {
            vat_per_rate([at_rate(rate, base)])
                .unwrap()
                .vat_total
                .to_string()
        };
        assert_eq!(vat(dec!(0.10), dec!(0.25)), "0.02"); // 0.025
        assert_eq!(vat(dec!(0.10), dec!(0.35)), "0.04"); // 0.035
        assert_eq!(vat(dec!(0.055), dec!(1.00)), "0.06"); // 0.055
        assert_eq!(vat(dec!(0.055), dec!(3.00)), "0.16"); // 0.165
        assert_eq!(vat(dec!(0.10), dec!(-0.25)), "-0.02"); // a credit mirrors the invoice
        assert_eq!(vat(dec!(0.20), dec!(478.09)), "95.62"); // 95.618
        // Two lines of 0.25 at 10 %: 0.02 + 0.02 per line, but 0.05 on their total.
        let two = vat_per_rate([
            at_rate(dec!(0.10), dec!(0.25)),
            at_rate(dec!(0.10), dec!(0.25)),
        ])
        .unwrap();
        assert_eq!(two.vat_total, dec!(0.05));
    }

    #[test]
    fn one_subtotal_per_category_and_rate() {
        let breakdown = vat_per_rate([
            at_rate(dec!(0.20), dec!(10.00)),
            taxable(VatCategory::ReverseCharge, Decimal::ZERO, dec!(5.00)),
            at_rate(dec!(0.055), dec!(2.00)),
            at_rate(dec!(0.2), dec!(1.5)),
            taxable(VatCategory::OutOfScope, Decimal::ZERO, dec!(7)),
        ])
        .unwrap();
        let keys: Vec<(VatCategory, String, String, String)> = breakdown
            .subtotals
            .iter()
            .map(|s| {
                (
                    s.category,
                    s.rate.to_string(),
                    s.base.to_string(),
                    s.vat.to_string(),
                )
            })
            .collect();
        assert_eq!(
            keys,
            [
                (
                    VatCategory::Standard,
                    "0.055".into(),
                    "2.00".into(),
                    "0.11".into()
                ),
                (
                    VatCategory::Standard,
                    "0.20".into(),
                    "11.50".into(),
                    "2.30".into()
                ),
                (
                    VatCategory::ReverseCharge,
                    "0".into(),
                    "5.00".into(),
                    "0.00".into()
                ),
                (
                    VatCategory::OutOfScope,
                    "0".into(),
                    "7.00".into(),
                    "0.00".into()
                ),
            ]
        );
        assert_eq!(breakdown.net_total.to_string(), "25.50");
        assert_eq!(breakdown.vat_total.to_string(), "2.41");
        assert_eq!(breakdown.total.to_string(), "27.91");
    }

    #[test]
    fn no_lines_is_a_zero_breakdown() {
        let breakdown = vat_per_rate([]).unwrap();
        assert!(breakdown.subtotals.is_empty());
        assert_eq!(breakdown.total.to_string(), "0.00");
    }

    #[test]
    fn unrounded_nets_and_impossible_rates_are_refused() {
        assert_eq!(
            vat_per_rate([at_rate(dec!(0.20), dec!(1.005))]),
            Err(VatBreakdownError::UnroundedNet(dec!(1.005)))
        );
        // Trailing zeros are not extra precision.
        assert!(vat_per_rate([at_rate(dec!(0.20), dec!(1.0000))]).is_ok());
        for (category, rate) in [
            (VatCategory::Standard, Decimal::ZERO),
            (VatCategory::Standard, Decimal::ONE),
            (VatCategory::Standard, dec!(-0.20)),
            (VatCategory::ReverseCharge, dec!(0.20)),
            (VatCategory::OutOfScope, dec!(0.01)),
        ] {
            assert_eq!(
                vat_per_rate([taxable(category, rate, dec!(1.00))]),
                Err(VatBreakdownError::RateNotAllowed { category, rate }),
                "{category} {rate}"
            );
        }
    }

    fn any_line() -> impl Strategy<Value = TaxableAmount> {
        let rates = prop_oneof![
            Just((VatCategory::Standard, dec!(0.20))),
            Just((VatCategory::Standard, dec!(0.10))),
            Just((VatCategory::Standard, dec!(0.055))),
            Just((VatCategory::Standard, dec!(0.021))),
            Just((VatCategory::ReverseCharge, Decimal::ZERO)),
            Just((VatCategory::OutOfScope, Decimal::ZERO)),
        ];
        (rates, -1_000_000_000i64..1_000_000_000)
            .prop_map(|((category, rate), cents)| taxable(category, rate, Decimal::new(cents, 2)))
    }

    proptest! {
        /// Totals add up, are in cents, and stay within half a cent per subtotal of the exact VAT.
        #[test]
        fn breakdown_is_consistent(lines in proptest::collection::vec(any_line(), 0..40)) {
            let breakdown = vat_per_rate(lines.clone()).unwrap();
            let exact_vat: Decimal = lines.iter().map(|line| line.net * line.rate).sum();
            let net: Decimal = lines.iter().map(|line| line.net).sum();
            prop_assert_eq!(breakdown.net_total, net);
            prop_assert_eq!(breakdown.vat_total, breakdown.subtotals.iter().map(|s| s.vat).sum::<Decimal>());
            prop_assert_eq!(breakdown.total, breakdown.net_total + breakdown.vat_total);
            for subtotal in &breakdown.subtotals {
                prop_assert_eq!(subtotal.base.scale(), 2);
                prop_assert_eq!(subtotal.vat.scale(), 2);
                prop_assert_eq!(subtotal.vat, round_to_cents(subtotal.base * subtotal.rate));
            }
            let tolerance = dec!(0.005) * Decimal::from(breakdown.subtotals.len());
            prop_assert!((breakdown.vat_total - exact_vat).abs() <= tolerance);
        }

        /// Order and splitting of lines do not change the VAT: it depends only on each rate's total.
        #[test]
        fn breakdown_ignores_order_and_splits(
            lines in proptest::collection::vec(any_line(), 1..40),
            split_cents in -1_000_000i64..1_000_000,
        ) {
            let breakdown = vat_per_rate(lines.clone()).unwrap();
            let mut reordered = lines.clone();
            reordered.reverse();
            let first = reordered[0];
            let part = Decimal::new(split_cents, 2);
            reordered[0].net = first.net - part;
            reordered.push(TaxableAmount { net: part, ..first });
            prop_assert_eq!(vat_per_rate(reordered).unwrap(), breakdown);
        }

        /// Negated lines give exactly the negated breakdown (half-even rounding is symmetric).
        #[test]
        fn negated_lines_negate_the_breakdown(lines in proptest::collection::vec(any_line(), 0..40)) {
            let breakdown = vat_per_rate(lines.clone()).unwrap();
            let negated = vat_per_rate(lines.iter().map(|line| TaxableAmount { net: -line.net, ..*line })).unwrap();
            prop_assert_eq!(negated.subtotals.len(), breakdown.subtotals.len());
            for (minus, plus) in negated.subtotals.iter().zip(&breakdown.subtotals) {
                prop_assert_eq!(minus.base, -plus.base);
                prop_assert_eq!(minus.vat, -plus.vat);
            }
            prop_assert_eq!(negated.total, -breakdown.total);
        }

        /// Any text is either treated or refused with an error, never a panic; an accepted
        /// country is in the tables, and reverse charge only ever comes with a number.
        #[test]
        fn any_input_is_treated_or_refused(
            country in prop_oneof![
                "[A-Za-z]{0,3}",
                proptest::sample::select(ISO_3166_ALPHA_2.to_vec()).prop_map(String::from),
            ],
            number in proptest::option::of(prop_oneof![
                "[A-Z]{2}[A-Z0-9]{0,14}",
                proptest::sample::select(EU_MEMBER_STATES.to_vec())
                    .prop_flat_map(|country| (Just(country), "[A-Z0-9]{0,14}"))
                    .prop_map(|(country, body)| format!("{}{body}", vat_number_prefix(country).unwrap_or(country))),
            ]),
        ) {
            if let Ok(treatment) = vat_treatment(&country, number.as_deref()) {
                prop_assert!(ISO_3166_ALPHA_2.binary_search(&country.as_str()).is_ok() || country == KOSOVO);
                prop_assert_eq!(treatment.mention, treatment.category.mention());
                prop_assert!(treatment.category.allows_rate(treatment.rate));
                if treatment.category == VatCategory::ReverseCharge {
                    prop_assert!(number.is_some() && is_eu_member_state(&country) && country != SELLER_COUNTRY);
                }
            }
        }
    }
}
