ALTER TABLE credit_notes DROP CONSTRAINT credit_notes_identities_together;
ALTER TABLE credit_notes DROP COLUMN buyer;
ALTER TABLE credit_notes DROP COLUMN seller;
ALTER TABLE invoices DROP CONSTRAINT invoices_identities_together;
ALTER TABLE invoices DROP COLUMN due_on;
ALTER TABLE invoices DROP COLUMN buyer;
ALTER TABLE invoices DROP COLUMN seller;
DROP TABLE billing_profiles;
ALTER TABLE tenants DROP CONSTRAINT tenants_id_country;
