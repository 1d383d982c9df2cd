-- The accounting journal, double entry. Accounts are named after the French chart of accounts
-- (PCG): 4181 unbilled receivables and 411 receivables per tenant, 706 revenue per SKU, 44571 VAT
-- collected, 4191 prepayments per tenant (gpubill_domain::journal). Every transaction's entries
-- sum to zero, checked at commit; entries are whole cents, a debit positive and a credit
-- negative; nothing is ever updated or deleted: a correction is a new transaction.

-- One function refuses every change to an append-only table, naming the table.
CREATE OR REPLACE FUNCTION reject_ledger_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % rejected; book a correcting transaction instead',
        TG_TABLE_NAME, TG_OP;
END;
$$;

CREATE TABLE accounts (
    account_id TEXT PRIMARY KEY,
    pcg_code   TEXT NOT NULL CHECK (pcg_code IN ('4181', '411', '706', '44571', '4191')),
    title      TEXT NOT NULL CHECK (title <> ''),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- `code` or `code.detail` (a tenant id or a SKU).
    CHECK (account_id = pcg_code OR account_id ~ ('^' || pcg_code || '\.[A-Za-z0-9][A-Za-z0-9.-]{0,63}$'))
);

CREATE TABLE journal_transactions (
    -- Chosen by the writer, so posting the same transaction twice is harmless.
    transaction_id UUID PRIMARY KEY,
    kind           TEXT NOT NULL CHECK (kind IN ('usage', 'invoice', 'credit_note', 'credit_grant', 'credit_use')),
    description    TEXT NOT NULL,
    booked_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE journal_entries (
    transaction_id UUID NOT NULL REFERENCES journal_transactions,
    line           SMALLINT NOT NULL CHECK (line >= 0),
    account_id     TEXT NOT NULL REFERENCES accounts,
    -- Whole cents, never rounded silently (a NUMERIC(p, 2) column would round 1.001 to 1.00).
    amount         NUMERIC NOT NULL CHECK (amount <> 0 AND amount = round(amount, 2)),
    PRIMARY KEY (transaction_id, line)
);
CREATE INDEX journal_entries_by_account ON journal_entries (account_id);

-- Entries belong to a transaction written in the same database transaction: an old, balanced
-- transaction cannot be extended later.
CREATE FUNCTION journal_entry_of_this_transaction() RETURNS trigger LANGUAGE plpgsql AS $$
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
CREATE TRIGGER journal_entries_same_transaction
    BEFORE INSERT ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION journal_entry_of_this_transaction();

-- At commit: at least two entries, summing to zero.
CREATE FUNCTION journal_transaction_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    entry_count INTEGER;
    total       NUMERIC;
BEGIN
    SELECT count(*), coalesce(sum(amount), 0) INTO entry_count, total
    FROM journal_entries WHERE transaction_id = NEW.transaction_id;
    IF entry_count < 2 THEN
        RAISE EXCEPTION 'journal transaction % has % entries; at least two are needed',
            NEW.transaction_id, entry_count USING ERRCODE = 'check_violation';
    END IF;
    IF total <> 0 THEN
        RAISE EXCEPTION 'journal transaction % is unbalanced: its entries sum to %',
            NEW.transaction_id, total USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$;
CREATE CONSTRAINT TRIGGER journal_transactions_balanced
    AFTER INSERT ON journal_transactions DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION journal_transaction_balanced();

CREATE TRIGGER journal_transactions_append_only
    BEFORE UPDATE OR DELETE ON journal_transactions
    FOR EACH ROW EXECUTE FUNCTION reject_ledger_change();
CREATE TRIGGER journal_transactions_no_truncate
    BEFORE TRUNCATE ON journal_transactions
    FOR EACH STATEMENT EXECUTE FUNCTION reject_ledger_change();
CREATE TRIGGER journal_entries_append_only
    BEFORE UPDATE OR DELETE ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION reject_ledger_change();
CREATE TRIGGER journal_entries_no_truncate
    BEFORE TRUNCATE ON journal_entries
    FOR EACH STATEMENT EXECUTE FUNCTION reject_ledger_change();

-- The last number issued per document series and year. The finalizing transaction takes the
-- next one with an upsert that locks the row until it commits, so concurrent finalizations
-- queue and a rolled-back one returns its number: numbers are gapless (a SEQUENCE is not).
CREATE TABLE document_counters (
    kind          TEXT NOT NULL CHECK (kind IN ('INV', 'CN')),
    year          INTEGER NOT NULL CHECK (year BETWEEN 2000 AND 9999),
    last_sequence INTEGER NOT NULL CHECK (last_sequence BETWEEN 1 AND 999999),
    PRIMARY KEY (kind, year)
);
