-- Idempotency-Key on the API's state-changing POSTs: per API key and idempotency key, the request
-- it was first used with (its digest) and the answer given (status, body), replayed for a retry of
-- the same request. A row older than a day no longer counts (the key may then be used again).
CREATE TABLE idempotency_keys (
    api_key_id      UUID NOT NULL REFERENCES api_keys (id),
    idempotency_key TEXT NOT NULL CHECK (idempotency_key <> '' AND char_length(idempotency_key) <= 200),
    -- SHA-256 of the method, the path and the body.
    request_digest  BYTEA NOT NULL CHECK (octet_length(request_digest) = 32),
    created_at      TIMESTAMPTZ NOT NULL,
    -- Null while the first request is being answered.
    status          SMALLINT CHECK (status BETWEEN 100 AND 599),
    content_type    TEXT,
    response_body   BYTEA,
    PRIMARY KEY (api_key_id, idempotency_key),
    CHECK ((status IS NULL) = (response_body IS NULL))
);
