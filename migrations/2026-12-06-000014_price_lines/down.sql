ALTER TABLE usage_bookings DROP CONSTRAINT usage_bookings_lines_add_up;
ALTER TABLE usage_bookings DROP COLUMN lines;
DROP FUNCTION price_lines_amount(JSONB);
