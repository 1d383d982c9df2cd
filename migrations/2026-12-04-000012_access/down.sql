DROP TABLE audit_log;
DROP TABLE api_keys;
DROP FUNCTION api_key_change_allowed();
