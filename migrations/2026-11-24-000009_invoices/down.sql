DROP TABLE credit_note_lines;
DROP TABLE credit_notes;
DROP TABLE invoice_lines;
DROP TABLE invoices;
DROP FUNCTION invoice_issue_after_void();
DROP TRIGGER journal_entries_prepaid_credit_not_overdrawn ON journal_entries;
DROP FUNCTION prepaid_credit_not_overdrawn();
DROP TABLE credit_grants;
DROP TABLE usage_bookings;
DROP TABLE usage_totals;
DROP TABLE contracts;
ALTER TABLE accounts DROP CONSTRAINT accounts_pcg_code_check;
ALTER TABLE accounts ADD CONSTRAINT accounts_pcg_code_check
    CHECK (pcg_code IN ('4181', '411', '706', '44571', '4191'));
ALTER TABLE tenants DROP COLUMN vat_number, DROP COLUMN country;
CREATE OR REPLACE FUNCTION journal_entry_of_this_transaction() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM journal_transactions t
                   WHERE t.transaction_id = NEW.transaction_id
                     AND t.xmin = pg_current_xact_id()::xid) THEN
        RAISE EXCEPTION 'journal transaction % was booked earlier: entries cannot be added to it',
            NEW.transaction_id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;
