DROP TABLE consumer_offsets;
DROP TRIGGER ledger_entries_no_truncate ON ledger_entries;
DROP TRIGGER ledger_entries_append_only ON ledger_entries;
DROP FUNCTION reject_ledger_change();
DROP TABLE ledger_entries;
DROP TABLE rated_usage;
DROP TABLE usage_events;
DROP TABLE tenants;
