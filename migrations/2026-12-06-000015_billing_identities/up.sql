-- The buyer's legal identity for invoices: one billing profile per tenant, edited by finance
-- (PUT /v1/tenants/{tenant}/billing-profile). Its country is the tenant's: the tenant's country and
-- VAT number decide VAT and are set in cluster.toml, so a tenant's country cannot change under a
-- profile that names another.
ALTER TABLE tenants ADD CONSTRAINT tenants_id_country UNIQUE (tenant_id, country);

CREATE TABLE billing_profiles (
    tenant_id     TEXT PRIMARY KEY,
    country       TEXT NOT NULL CHECK (country ~ '^[A-Z]{2}$'),
    legal_name    TEXT NOT NULL CHECK (btrim(legal_name) <> '' AND char_length(legal_name) <= 200),
    address_line1 TEXT NOT NULL CHECK (btrim(address_line1) <> '' AND char_length(address_line1) <= 200),
    address_line2 TEXT CHECK (btrim(address_line2) <> '' AND char_length(address_line2) <= 200),
    postcode      TEXT NOT NULL CHECK (btrim(postcode) <> '' AND char_length(postcode) <= 200),
    city          TEXT NOT NULL CHECK (btrim(city) <> '' AND char_length(city) <= 200),
    -- Mandatory for a buyer established in France (French CTC rule BR-FR-11).
    siren         TEXT CHECK (siren ~ '^[0-9]{9}$'),
    electronic_address_scheme TEXT NOT NULL CHECK (electronic_address_scheme ~ '^[A-Za-z0-9]{1,4}$'),
    electronic_address TEXT NOT NULL
        CHECK (electronic_address ~ '^[A-Za-z0-9+_.@-]{1,125}$'),
    billing_email TEXT NOT NULL CHECK (billing_email ~ '^[^@[:space:]]+@[^@[:space:]]+\.[^@[:space:]]+$'),
    purchase_order TEXT CHECK (btrim(purchase_order) <> '' AND char_length(purchase_order) <= 200),
    updated_at    TIMESTAMPTZ NOT NULL,
    CHECK (country <> 'FR' OR siren IS NOT NULL),
    -- A French electronic invoicing address starts with the SIREN (BR-FR-21).
    CHECK (electronic_address_scheme <> '0225' OR (siren IS NOT NULL AND starts_with(electronic_address, siren))),
    FOREIGN KEY (tenant_id, country) REFERENCES tenants (tenant_id, country)
);

-- Invoices and credit notes keep the seller and the buyer as they were when issued, and the due
-- date their payment terms gave. Documents issued before these existed have none (NULL) and
-- have no e-invoice.
ALTER TABLE invoices ADD COLUMN seller JSONB CHECK (jsonb_typeof(seller) = 'object');
ALTER TABLE invoices ADD COLUMN buyer JSONB CHECK (jsonb_typeof(buyer) = 'object');
ALTER TABLE invoices ADD COLUMN due_on DATE;
ALTER TABLE invoices ADD CONSTRAINT invoices_identities_together
    CHECK ((seller IS NULL) = (buyer IS NULL) AND (seller IS NULL) = (due_on IS NULL));
ALTER TABLE credit_notes ADD COLUMN seller JSONB CHECK (jsonb_typeof(seller) = 'object');
ALTER TABLE credit_notes ADD COLUMN buyer JSONB CHECK (jsonb_typeof(buyer) = 'object');
ALTER TABLE credit_notes ADD CONSTRAINT credit_notes_identities_together
    CHECK ((seller IS NULL) = (buyer IS NULL));
