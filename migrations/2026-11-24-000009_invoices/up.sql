-- Billing on top of the journal: each tenant's VAT profile and contract, the running usage totals
-- that delta rating prices, prepaid credit grants, and finalized invoices and credit notes with
-- their frozen lines. Documents are append-only: an invoice is voided by a credit note, never
-- edited, and a voided period is billed again by a new invoice with a new number.

-- Who is invoiced, for VAT: ISO 3166-1 alpha-2 country and intra-community VAT number, if any.
ALTER TABLE tenants
    ADD COLUMN country    TEXT NOT NULL DEFAULT 'FR' CHECK (country ~ '^[A-Z]{2}$'),
    ADD COLUMN vat_number TEXT CHECK (vat_number ~ '^[A-Z]{2}[A-Z0-9]{2,12}$');

-- Entries may only join a journal transaction written by the current database transaction. The
-- first version compared the header's xmin with the top-level transaction id, which refuses a
-- header written inside a savepoint (a nested `transaction` in the code: its xmin is the
-- subtransaction's id). A row visible to us whose writer is still in progress can only be our
-- own, from the top level or any savepoint, so that is the test. xmin is a 32-bit xid; the
-- current epoch makes it the 64-bit id pg_xact_status takes.
CREATE OR REPLACE FUNCTION journal_entry_of_this_transaction() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM journal_transactions t
        WHERE t.transaction_id = NEW.transaction_id
          AND pg_xact_status((((pg_current_xact_id()::text::bigint >> 32) << 32)
                              | t.xmin::text::bigint)::text::xid8) = 'in progress') THEN
        RAISE EXCEPTION 'journal transaction % was booked earlier: entries cannot be added to it',
            NEW.transaction_id USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;

-- 709 holds prepaid credit given away (not bought): a rebate granted.
ALTER TABLE accounts DROP CONSTRAINT accounts_pcg_code_check;
ALTER TABLE accounts ADD CONSTRAINT accounts_pcg_code_check
    CHECK (pcg_code IN ('4181', '411', '706', '709', '44571', '4191'));

-- Contract versions per tenant; the highest version is in force. Terms are the JSON document
-- of the contract API (gpubill_ledger::contracts), validated before it is stored.
CREATE TABLE contracts (
    tenant_id  TEXT NOT NULL REFERENCES tenants,
    version    INTEGER NOT NULL CHECK (version >= 1),
    terms      JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, version)
);

-- Delta rating state. usage_totals: exact GPU-seconds per (tenant, month, SKU, class, list
-- price), so a key's list amount is a function of its totals whatever the batches were.
-- usage_bookings: per (tenant, month, SKU, class) the amount booked to the journal so far, in
-- cents; a batch books the difference between the priced totals and this amount.
CREATE TABLE usage_totals (
    tenant_id          TEXT NOT NULL REFERENCES tenants,
    period             DATE NOT NULL CHECK (extract(day FROM period) = 1),
    sku                TEXT NOT NULL,
    price_class        TEXT NOT NULL CHECK (price_class IN ('on_demand', 'spot', 'reserved')),
    price_per_gpu_hour NUMERIC NOT NULL CHECK (price_per_gpu_hour > 0),
    gpu_seconds        NUMERIC NOT NULL CHECK (gpu_seconds > 0),
    PRIMARY KEY (tenant_id, period, sku, price_class, price_per_gpu_hour)
);

CREATE TABLE usage_bookings (
    tenant_id     TEXT NOT NULL REFERENCES tenants,
    period        DATE NOT NULL CHECK (extract(day FROM period) = 1),
    sku           TEXT NOT NULL,
    price_class   TEXT NOT NULL CHECK (price_class IN ('on_demand', 'spot', 'reserved')),
    gpu_seconds   NUMERIC NOT NULL CHECK (gpu_seconds > 0),
    booked_amount NUMERIC NOT NULL CHECK (booked_amount = round(booked_amount, 2)),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, period, sku, price_class)
);

-- Existing postings become running totals. Nothing is booked for them yet: the next batch of a
-- key, or the finalization of its month, books its priced amount.
INSERT INTO usage_totals (tenant_id, period, sku, price_class, price_per_gpu_hour, gpu_seconds)
SELECT tenant_id, period, sku, price_class, price_per_gpu_hour, sum(gpu_seconds)
FROM ledger_entries GROUP BY tenant_id, period, sku, price_class, price_per_gpu_hour;
INSERT INTO usage_bookings (tenant_id, period, sku, price_class, gpu_seconds, booked_amount)
SELECT tenant_id, period, sku, price_class, sum(gpu_seconds), 0
FROM usage_totals GROUP BY tenant_id, period, sku, price_class;

-- Prepaid credit granted or bought; the id is the client's, so a retried grant books nothing.
CREATE TABLE credit_grants (
    grant_id       UUID PRIMARY KEY,
    tenant_id      TEXT NOT NULL REFERENCES tenants,
    amount         NUMERIC NOT NULL CHECK (amount > 0 AND amount = round(amount, 2)),
    source         TEXT NOT NULL CHECK (source IN ('bought', 'granted')),
    note           TEXT NOT NULL,
    transaction_id UUID NOT NULL UNIQUE REFERENCES journal_transactions,
    granted_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- A prepaid credit account (4191.<tenant>) holds what the tenant paid in advance: its balance is
-- a credit or zero, never a debit, so credit is never spent twice.
CREATE FUNCTION prepaid_credit_not_overdrawn() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    balance NUMERIC;
BEGIN
    SELECT coalesce(sum(amount), 0) INTO balance FROM journal_entries
    WHERE account_id = NEW.account_id;
    IF balance > 0 THEN
        RAISE EXCEPTION 'prepaid credit account % would be overdrawn by %', NEW.account_id, balance
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END;
$$;
CREATE CONSTRAINT TRIGGER journal_entries_prepaid_credit_not_overdrawn
    AFTER INSERT ON journal_entries DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.account_id LIKE '4191.%')
    EXECUTE FUNCTION prepaid_credit_not_overdrawn();

-- A finalized invoice. `issue` counts the invoices of the (tenant, period): a second one exists
-- only after the first was voided. Figures are frozen as issued.
CREATE TABLE invoices (
    invoice_id     UUID PRIMARY KEY,
    number         TEXT NOT NULL UNIQUE CHECK (number ~ '^INV-[0-9]{4}-[0-9]{6}$'),
    tenant_id      TEXT NOT NULL REFERENCES tenants,
    period         DATE NOT NULL CHECK (extract(day FROM period) = 1),
    issue          INTEGER NOT NULL CHECK (issue >= 1),
    currency       TEXT NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    country        TEXT NOT NULL,
    vat_number     TEXT,
    -- The rate is on each line; the category's mandatory mention follows from the category.
    vat_category   TEXT NOT NULL CHECK (vat_category IN ('standard', 'reverse_charge', 'out_of_scope')),
    commitment     NUMERIC NOT NULL CHECK (commitment >= 0),
    net_total      NUMERIC NOT NULL CHECK (net_total = round(net_total, 2)),
    vat_total      NUMERIC NOT NULL CHECK (vat_total = round(vat_total, 2)),
    total          NUMERIC NOT NULL CHECK (total = net_total + vat_total),
    -- Prepaid credit drawn; the amount due is `total - credit_applied`.
    credit_applied NUMERIC NOT NULL CHECK (credit_applied >= 0 AND credit_applied <= greatest(total, 0)
                                           AND credit_applied = round(credit_applied, 2)),
    transaction_id UUID NOT NULL UNIQUE REFERENCES journal_transactions,
    issued_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    UNIQUE (tenant_id, period, issue)
);
CREATE INDEX invoices_by_tenant ON invoices (tenant_id, period);

-- A line as issued. `service_period` is the month the charge belongs to; it differs from the
-- invoice's period on an adjustment line (usage that arrived after its month was invoiced).
CREATE TABLE invoice_lines (
    invoice_id         UUID NOT NULL REFERENCES invoices,
    line               SMALLINT NOT NULL CHECK (line >= 0),
    charge             TEXT NOT NULL CHECK (charge IN ('usage', 'reservation', 'commitment_true_up')),
    service_period     DATE NOT NULL CHECK (extract(day FROM service_period) = 1),
    adjustment         BOOLEAN NOT NULL,
    sku                TEXT,
    price_class        TEXT CHECK (price_class IN ('on_demand', 'spot', 'reserved')),
    description        TEXT NOT NULL,
    gpu_seconds        NUMERIC NOT NULL,
    quantity_gpu_hours NUMERIC NOT NULL,
    unit_price         NUMERIC NOT NULL,
    amount             NUMERIC NOT NULL CHECK (amount = round(amount, 2)),
    vat_category       TEXT NOT NULL CHECK (vat_category IN ('standard', 'reverse_charge', 'out_of_scope')),
    vat_rate           NUMERIC NOT NULL,
    PRIMARY KEY (invoice_id, line)
);

-- The credit note voiding an invoice: at most one per invoice, lines and totals negated.
CREATE TABLE credit_notes (
    credit_note_id UUID PRIMARY KEY,
    number         TEXT NOT NULL UNIQUE CHECK (number ~ '^CN-[0-9]{4}-[0-9]{6}$'),
    invoice_id     UUID NOT NULL UNIQUE REFERENCES invoices,
    reason         TEXT NOT NULL CHECK (reason <> ''),
    net_total      NUMERIC NOT NULL,
    vat_total      NUMERIC NOT NULL,
    total          NUMERIC NOT NULL CHECK (total = net_total + vat_total),
    credit_returned NUMERIC NOT NULL CHECK (credit_returned >= 0),
    transaction_id UUID NOT NULL UNIQUE REFERENCES journal_transactions,
    issued_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE credit_note_lines (
    credit_note_id UUID NOT NULL REFERENCES credit_notes,
    line           SMALLINT NOT NULL CHECK (line >= 0),
    description    TEXT NOT NULL,
    quantity       NUMERIC NOT NULL,
    unit_price     NUMERIC NOT NULL,
    amount         NUMERIC NOT NULL CHECK (amount = round(amount, 2)),
    vat_category   TEXT NOT NULL,
    vat_rate       NUMERIC NOT NULL,
    PRIMARY KEY (credit_note_id, line)
);

-- One live (not voided) invoice per tenant and period: a new issue needs every earlier one voided.
CREATE FUNCTION invoice_issue_after_void() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.issue <> 1 + (SELECT count(*) FROM invoices
                         WHERE tenant_id = NEW.tenant_id AND period = NEW.period) THEN
        RAISE EXCEPTION 'invoice issue % of % for % is out of order', NEW.issue, NEW.tenant_id, NEW.period
            USING ERRCODE = 'check_violation';
    END IF;
    IF EXISTS (SELECT 1 FROM invoices i
               WHERE i.tenant_id = NEW.tenant_id AND i.period = NEW.period
                 AND NOT EXISTS (SELECT 1 FROM credit_notes c WHERE c.invoice_id = i.invoice_id)) THEN
        RAISE EXCEPTION 'tenant % already has a live invoice for %; void it first', NEW.tenant_id, NEW.period
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER invoices_one_live_per_period
    BEFORE INSERT ON invoices
    FOR EACH ROW EXECUTE FUNCTION invoice_issue_after_void();

-- Append-only, like the journal.
CREATE TRIGGER contracts_append_only BEFORE UPDATE OR DELETE ON contracts
    FOR EACH ROW EXECUTE FUNCTION reject_ledger_change();
CREATE TRIGGER contracts_no_truncate BEFORE TRUNCATE ON contracts
    FOR EACH STATEMENT EXECUTE FUNCTION reject_ledger_change();
CREATE TRIGGER credit_grants_append_only BEFORE UPDATE OR DELETE ON credit_grants
    FOR EACH ROW EXECUTE FUNCTION reject_ledger_change();
CREATE TRIGGER credit_grants_no_truncate BEFORE TRUNCATE ON credit_grants
    FOR EACH STATEMENT EXECUTE FUNCTION reject_ledger_change();
CREATE TRIGGER invoices_append_only BEFORE UPDATE OR DELETE ON invoices
    FOR EACH ROW EXECUTE FUNCTION reject_ledger_change();
CREATE TRIGGER invoices_no_truncate BEFORE TRUNCATE ON invoices
    FOR EACH STATEMENT EXECUTE FUNCTION reject_ledger_change();
CREATE TRIGGER invoice_lines_append_only BEFORE UPDATE OR DELETE ON invoice_lines
    FOR EACH ROW EXECUTE FUNCTION reject_ledger_change();
CREATE TRIGGER invoice_lines_no_truncate BEFORE TRUNCATE ON invoice_lines
    FOR EACH STATEMENT EXECUTE FUNCTION reject_ledger_change();
CREATE TRIGGER credit_notes_append_only BEFORE UPDATE OR DELETE ON credit_notes
    FOR EACH ROW EXECUTE FUNCTION reject_ledger_change();
CREATE TRIGGER credit_notes_no_truncate BEFORE TRUNCATE ON credit_notes
    FOR EACH STATEMENT EXECUTE FUNCTION reject_ledger_change();
CREATE TRIGGER credit_note_lines_append_only BEFORE UPDATE OR DELETE ON credit_note_lines
    FOR EACH ROW EXECUTE FUNCTION reject_ledger_change();
CREATE TRIGGER credit_note_lines_no_truncate BEFORE TRUNCATE ON credit_note_lines
    FOR EACH STATEMENT EXECUTE FUNCTION reject_ledger_change();
