//! Whether a legal identity can stand on an invoice: the seller's at start-up, a buyer's when its
//! billing profile is written. What EN 16931 and the French rules need of a party is checked
//! here, so that an invoice can never be issued to an identity the e-invoice would reject.

use gpubill_domain::SELLER_COUNTRY;
use gpubill_domain::legal_id::{
    LegalIdError, check_bic, check_country_code, check_iban, check_siren, check_siret,
    check_vat_number,
};
use gpubill_schema::api::party::{
    BillingProfileUpdate, Buyer, ElectronicAddress, PostalAddress, Seller,
};
use rust_decimal::Decimal;

/// Longest free text of an identity (a name, an address line), in characters.
pub const MAX_TEXT_CHARS: usize = 200;
/// Longest electronic address (French CTC rule BR-FR-25).
pub const MAX_ELECTRONIC_ADDRESS_CHARS: usize = 125;
/// The French electronic invoicing address scheme (EAS 0225), whose addresses start with the
/// SIREN (BR-FR-21).
pub const FRENCH_ADDRESS_SCHEME: &str = "0225";

/// Why an identity cannot stand on an invoice; `field` names the offending field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("{field}: {source}")]
    LegalId {
        field: &'static str,
        source: LegalIdError,
    },
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
}

impl IdentityError {
    /// The field that was refused.
    pub fn field(&self) -> &'static str {
        match self {
            IdentityError::LegalId { field, .. } | IdentityError::Invalid { field, .. } => field,
        }
    }
}

fn invalid(field: &'static str, reason: impl Into<String>) -> IdentityError {
    IdentityError::Invalid {
        field,
        reason: reason.into(),
    }
}

fn legal(field: &'static str) -> impl Fn(LegalIdError) -> IdentityError {
    move |source| IdentityError::LegalId { field, source }
}

/// Text present, without control characters, at most [`MAX_TEXT_CHARS`].
fn check_text(field: &'static str, text: &str) -> Result<(), IdentityError> {
    if text.trim().is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(invalid(
            field,
            format!("at most {MAX_TEXT_CHARS} characters"),
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(())
}

fn check_address(field: &'static str, address: &PostalAddress) -> Result<(), IdentityError> {
    check_text(field, &address.line1)?;
    if let Some(line2) = &address.line2 {
        check_text(field, line2)?;
    }
    check_text(field, &address.postcode)?;
    check_text(field, &address.city)?;
    check_country_code(&address.country).map_err(legal(field))
}

fn check_email(field: &'static str, email: &str) -> Result<(), IdentityError> {
    check_text(field, email)?;
    let shaped = email
        .split_once('@')
        .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
        && !email.contains(char::is_whitespace);
    if !shaped {
        return Err(invalid(field, "must be an e-mail address"));
    }
    Ok(())
}

/// An electronic address: a scheme of letters and digits, an identifier of the characters the
/// French rules allow (BR-FR-23), and, in the French scheme, starting with `siren`.
fn check_electronic_address(
    field: &'static str,
    address: &ElectronicAddress,
    siren: Option<&str>,
) -> Result<(), IdentityError> {
    if address.scheme.is_empty()
        || address.scheme.len() > 4
        || !address.scheme.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(invalid(field, "scheme: an EAS code such as 0225 or EM"));
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "+-_.@".contains(c);
    if address.id.is_empty()
        || address.id.chars().count() > MAX_ELECTRONIC_ADDRESS_CHARS
        || !address.id.chars().all(allowed)
    {
        return Err(invalid(
            field,
            format!("id: 1 to {MAX_ELECTRONIC_ADDRESS_CHARS} letters, digits or + - _ . @"),
        ));
    }
    if address.scheme == FRENCH_ADDRESS_SCHEME {
        if address.id.contains('@') {
            return Err(invalid(field, "a 0225 address has no @"));
        }
        match siren {
            Some(siren) if address.id.starts_with(siren) => {}
            _ => return Err(invalid(field, "a 0225 address starts with the SIREN")),
        }
    }
    Ok(())
}

/// Checks the seller: established in France, with a valid SIREN, SIRET and the VAT number of
/// that SIREN, a French electronic address, a valid IBAN and BIC, and payment terms an
/// invoice can state.
pub fn check_seller(seller: &Seller) -> Result<(), IdentityError> {
    check_text("legal_name", &seller.legal_name)?;
    check_text("legal_form", &seller.legal_form)?;
    check_text("registration", &seller.registration)?;
    check_address("address", &seller.address)?;
    if seller.address.country != SELLER_COUNTRY {
        return Err(invalid(
            "address",
            format!("the seller is established in {SELLER_COUNTRY}"),
        ));
    }
    check_siren(&seller.siren).map_err(legal("siren"))?;
    check_siret(&seller.siret, &seller.siren).map_err(legal("siret"))?;
    check_vat_number(&seller.vat_number, SELLER_COUNTRY, Some(&seller.siren))
        .map_err(legal("vat_number"))?;
    check_electronic_address(
        "electronic_address",
        &seller.electronic_address,
        Some(&seller.siren),
    )?;
    check_text("contact", &seller.contact.name)?;
    check_email("contact", &seller.contact.email)?;
    check_text("bank", &seller.bank.holder)?;
    check_iban(&seller.bank.iban).map_err(legal("bank"))?;
    check_bic(&seller.bank.bic).map_err(legal("bank"))?;
    if !(1..=120).contains(&seller.payment_terms_days) {
        return Err(invalid("payment_terms_days", "within 1..=120"));
    }
    let positive = |field, amount: Decimal| {
        if amount > Decimal::ZERO && amount.scale() <= 2 {
            Ok(())
        } else {
            Err(invalid(field, "a positive amount with at most 2 decimals"))
        }
    };
    positive("share_capital", seller.share_capital)?;
    positive(
        "late_penalty_rate_percent",
        seller.late_penalty_rate_percent,
    )?;
    positive("recovery_indemnity", seller.recovery_indemnity)?;
    check_text("discount_terms", &seller.discount_terms)
}

/// The buyer a billing profile update makes for `tenant_id`, whose country and VAT number are
/// `treatment`'s source (`cluster.toml`): the address must be in that country, a French buyer
/// needs a SIREN (and a VAT number, if any, of that SIREN), and the electronic address must be
/// one the e-invoice accepts.
pub fn buyer_from_update(
    tenant_id: &str,
    country: &str,
    vat_number: Option<&str>,
    update: BillingProfileUpdate,
) -> Result<Buyer, IdentityError> {
    check_text("legal_name", &update.legal_name)?;
    check_address("address", &update.address)?;
    if update.address.country != country {
        return Err(invalid(
            "address",
            format!(
                "country {} is not the tenant's, {country}: the tenant's country decides its VAT and is set in cluster.toml",
                update.address.country
            ),
        ));
    }
    let french = country == SELLER_COUNTRY;
    match (&update.siren, french) {
        (Some(siren), _) => check_siren(siren).map_err(legal("siren"))?,
        (None, true) => {
            return Err(invalid(
                "siren",
                "mandatory for a buyer established in France",
            ));
        }
        (None, false) => {}
    }
    if let Some(vat_number) = vat_number {
        let siren = update.siren.as_deref().filter(|_| french);
        check_vat_number(vat_number, country, siren).map_err(legal("vat_number"))?;
    }
    check_electronic_address(
        "electronic_address",
        &update.electronic_address,
        update.siren.as_deref(),
    )?;
    check_email("billing_email", &update.billing_email)?;
    if let Some(order) = &update.purchase_order {
        check_text("purchase_order", order)?;
    }
    Ok(Buyer {
        tenant_id: tenant_id.to_owned(),
        legal_name: update.legal_name,
        address: update.address,
        vat_number: vat_number.map(str::to_owned),
        siren: update.siren,
        electronic_address: update.electronic_address,
        billing_email: update.billing_email,
        purchase_order: update.purchase_order,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use gpubill_schema::api::party::{BankAccount, Contact};
    use rust_decimal::dec;

    pub(crate) fn seller() -> Seller {
        Seller {
            legal_name: "GPU Cloud France".into(),
            legal_form: "SAS".into(),
            share_capital: dec!(1000000.00),
            siren: "732829320".into(),
            siret: "73282932000074".into(),
            vat_number: "FR44732829320".into(),
            registration: "RCS Paris".into(),
            address: PostalAddress {
                line1: "12 rue de la Paix".into(),
                line2: None,
                postcode: "75002".into(),
                city: "Paris".into(),
                country: "FR".into(),
            },
            electronic_address: ElectronicAddress {
                scheme: "0225".into(),
                id: "732829320".into(),
            },
            contact: Contact {
                name: "Billing".into(),
                email: "billing@example.fr".into(),
                phone: None,
            },
            bank: BankAccount {
                holder: "GPU Cloud France".into(),
                iban: "FR7630006000011234567890189".into(),
                bic: "AGRIFRPP".into(),
            },
            payment_terms_days: 30,
            late_penalty_rate_percent: dec!(12.15),
            recovery_indemnity: dec!(40.00),
            discount_terms: "Pas d'escompte pour paiement anticipé".into(),
            vat_on_debits: false,
        }
    }

    fn update(country: &str, siren: Option<&str>) -> BillingProfileUpdate {
        BillingProfileUpdate {
            legal_name: "Buyer".into(),
            address: PostalAddress {
                line1: "1 avenue".into(),
                line2: None,
                postcode: "75001".into(),
                city: "Paris".into(),
                country: country.into(),
            },
            siren: siren.map(str::to_owned),
            electronic_address: ElectronicAddress {
                scheme: "EM".into(),
                id: "ap@buyer.example".into(),
            },
            billing_email: "ap@buyer.example".into(),
            purchase_order: None,
        }
    }

    #[test]
    fn the_seller_is_checked_whole() {
        assert_eq!(check_seller(&seller()), Ok(()));
        let mut wrong = seller();
        wrong.vat_number = "FR45732829320".into();
        assert_eq!(check_seller(&wrong).unwrap_err().field(), "vat_number");
        let mut wrong = seller();
        wrong.electronic_address.id = "356000000".into();
        assert_eq!(
            check_seller(&wrong).unwrap_err().field(),
            "electronic_address"
        );
        let mut wrong = seller();
        wrong.bank.iban = "FR7630006000011234567890188".into();
        assert_eq!(check_seller(&wrong).unwrap_err().field(), "bank");
        let mut wrong = seller();
        wrong.address.country = "BE".into();
        assert_eq!(check_seller(&wrong).unwrap_err().field(), "address");
    }

    #[test]
    fn a_french_buyer_needs_a_siren_and_its_country() {
        assert_eq!(
            buyer_from_update("t", "FR", None, update("FR", None))
                .unwrap_err()
                .field(),
            "siren"
        );
        let buyer = buyer_from_update(
            "t",
            "FR",
            Some("FR44732829320"),
            update("FR", Some("732829320")),
        )
        .unwrap();
        assert_eq!(buyer.vat_number.as_deref(), Some("FR44732829320"));
        assert_eq!(
            buyer_from_update(
                "t",
                "FR",
                Some("FR44732829320"),
                update("FR", Some("356000000"))
            )
            .unwrap_err()
            .field(),
            "vat_number"
        );
        assert_eq!(
            buyer_from_update("t", "DE", None, update("FR", None))
                .unwrap_err()
                .field(),
            "address"
        );
        assert!(buyer_from_update("t", "NO", None, update("NO", None)).is_ok());
        let mut bad = update("NO", None);
        bad.electronic_address.scheme = "0225".into();
        bad.electronic_address.id = "123456789".into();
        assert_eq!(
            buyer_from_update("t", "NO", None, bad).unwrap_err().field(),
            "electronic_address"
        );
    }
}
