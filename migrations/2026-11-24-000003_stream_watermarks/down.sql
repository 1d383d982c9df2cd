DROP TABLE usage_gaps;
DROP TABLE usage_streams;
