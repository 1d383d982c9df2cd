-- Usage is booked as price lines: per (tenant, month, SKU, class), one line per unit price in
-- force (list price after the contract, per tier band), each with its GPU-seconds and its amount
-- rounded to the cent; the booked amount is their sum. Invoices print these lines, so a unit
-- price on an invoice is a price the tenant was charged, never an average.
CREATE FUNCTION price_lines_amount(lines JSONB) RETURNS NUMERIC
LANGUAGE SQL IMMUTABLE STRICT AS $$
    SELECT coalesce(sum((line ->> 'amount')::numeric), 0) FROM jsonb_array_elements(lines) AS line
$$;

ALTER TABLE usage_bookings ADD COLUMN lines JSONB NOT NULL DEFAULT '[]'
    CHECK (jsonb_typeof(lines) = 'array');
-- What was booked before lines existed stands as one line at its average price, until the month
-- is next priced (a batch of the key, or finalizing the month), which writes its real lines.
UPDATE usage_bookings SET lines = jsonb_build_array(jsonb_build_object(
    'gpu_seconds', gpu_seconds::text,
    'unit_price', round(booked_amount * 3600 / gpu_seconds, 6)::text,
    'amount', booked_amount::text));
ALTER TABLE usage_bookings ADD CONSTRAINT usage_bookings_lines_add_up
    CHECK (price_lines_amount(lines) = booked_amount);
