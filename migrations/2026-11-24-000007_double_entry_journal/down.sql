DROP TABLE document_counters;
DROP TABLE journal_entries;
DROP TABLE journal_transactions;
DROP FUNCTION journal_transaction_balanced();
DROP FUNCTION journal_entry_of_this_transaction();
DROP TABLE accounts;

CREATE OR REPLACE FUNCTION reject_ledger_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ledger_entries is append-only: % rejected', TG_OP;
END;
$$;
