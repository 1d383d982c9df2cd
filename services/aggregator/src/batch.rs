//! Turning a batch of raw Kafka records into what the ledger needs: accepted events with their
//! rated segments, dead letters with their reasons, the next offset per partition, and the ledger
//! postings for the events that turn out to be new. Pure.

use crate::validate::{Rejection, Validator};
use chrono::{DateTime, NaiveDate, Utc};
use gpubill_domain::{PriceBook, RatedSegment, gpu_seconds, rate_interval};
use gpubill_schema::event::decode_usage_event;
use gpubill_schema::models::{NewLedgerEntry, NewRatedUsage, NewUsageEvent};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashSet};
use uuid::Uuid;

/// A consumed record, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
}

/// The position of an event in its stream: at most one event per position is ever billed.
pub type StreamPosition = (String, String, i64);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedEvent {
    pub usage: NewUsageEvent,
    pub segments: Vec<RatedSegment>,
}

impl AcceptedEvent {
    pub fn position(&self) -> StreamPosition {
        (
            self.usage.allocation_id.clone(),
            self.usage.gpu_uuid.clone(),
            self.usage.seq,
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub record: Record,
    pub rejection: Rejection,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    /// Valid events, at most one per stream position.
    pub accepted: Vec<AcceptedEvent>,
    pub dead_letters: Vec<DeadLetter>,
    /// Valid events dropped because an earlier record of the same batch had their position.
    pub duplicates_in_batch: usize,
    /// Per partition, the offset after the last record of the batch.
    pub next_offsets: BTreeMap<i32, i64>,
}

/// Decodes, validates and rates every record.
pub fn classify(
    records: &[Record],
    validator: &Validator,
    price_book: &PriceBook,
    now: DateTime<Utc>,
) -> Batch {
    let mut batch = Batch::default();
    let mut seen: HashSet<StreamPosition> = HashSet::with_capacity(records.len());
    for record in records {
        let next = batch
            .next_offsets
            .entry(record.partition)
            .or_insert(record.offset + 1);
        *next = (*next).max(record.offset + 1);
        match accept(record, validator, price_book, now) {
            Ok(event) => {
                if seen.insert(event.position()) {
                    batch.accepted.push(event);
                } else {
                    batch.duplicates_in_batch += 1;
                }
            }
            Err(rejection) => batch.dead_letters.push(DeadLetter {
                record: record.clone(),
                rejection,
            }),
        }
    }
    batch
}

fn accept(
    record: &Record,
    validator: &Validator,
    price_book: &PriceBook,
    now: DateTime<Utc>,
) -> Result<AcceptedEvent, Rejection> {
    let payload = record.payload.as_deref().ok_or_else(|| Rejection {
        reason: "invalid_json",
        detail: "record has no value".into(),
    })?;
    let event = decode_usage_event(payload)?;
    validator.check(&event, price_book, now)?;
    let data = event.data;
    let segments = rate_interval(
        price_book,
        &data.sku,
        data.interval_start,
        data.interval_end,
    )
    .map_err(|error| Rejection {
        reason: "sku_unpriced",
        detail: error.to_string(),
    })?;
    Ok(AcceptedEvent {
        usage: NewUsageEvent {
            seq: i64::try_from(data.seq).unwrap_or(i64::MAX),
            event_id: event.id,
            gpu_seconds: gpu_seconds(data.interval_start, data.interval_end),
            tenant_id: data.tenant_id,
            allocation_id: data.allocation_id,
            node_id: data.node_id,
            gpu_uuid: data.gpu_uuid,
            sku: data.sku,
            interval_start: data.interval_start,
            interval_end: data.interval_end,
            source_partition: record.partition,
            source_offset: record.offset,
        },
        segments,
    })
}

/// The rated-usage rows of an accepted event, one per segment.
pub fn rated_rows(event: &AcceptedEvent) -> impl Iterator<Item = NewRatedUsage> + '_ {
    event
        .segments
        .iter()
        .enumerate()
        .map(|(index, segment)| NewRatedUsage {
            allocation_id: event.usage.allocation_id.clone(),
            gpu_uuid: event.usage.gpu_uuid.clone(),
            seq: event.usage.seq,
            segment: i16::try_from(index).unwrap_or(i16::MAX),
            tenant_id: event.usage.tenant_id.clone(),
            sku: event.usage.sku.clone(),
            period: segment.period.first_day(),
            segment_start: segment.start,
            segment_end: segment.end,
            gpu_seconds: segment.gpu_seconds,
            price_per_gpu_hour: segment.price_per_gpu_hour,
            amount: segment.amount,
        })
}

/// What a ledger posting sums over: tenant, SKU, period (first day) and price.
type PostingKey = (String, String, NaiveDate, Decimal);

/// Ledger postings for newly applied events: one per tenant, SKU, period and price.
pub fn postings<'a>(
    batch_id: Uuid,
    applied: impl IntoIterator<Item = &'a AcceptedEvent>,
) -> Vec<NewLedgerEntry> {
    let mut sums: BTreeMap<PostingKey, NewLedgerEntry> = BTreeMap::new();
    for event in applied {
        for segment in &event.segments {
            let (tenant_id, sku, period, price) = (
                &event.usage.tenant_id,
                &event.usage.sku,
                segment.period.first_day(),
                segment.price_per_gpu_hour,
            );
            let entry = sums
                .entry((tenant_id.clone(), sku.clone(), period, price))
                .or_insert_with(|| NewLedgerEntry {
                    batch_id,
                    tenant_id: tenant_id.clone(),
                    sku: sku.clone(),
                    period,
                    price_per_gpu_hour: price,
                    gpu_seconds: Decimal::ZERO,
                    amount: Decimal::ZERO,
                    segment_count: 0,
                });
            entry.gpu_seconds += segment.gpu_seconds;
            entry.amount += segment.amount;
            entry.segment_count += 1;
        }
    }
    sums.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::tests::{at, event, price_book};
    use rust_decimal::dec;

    fn record(offset: i64, payload: &[u8]) -> Record {
        Record {
            partition: 2,
            offset,
            key: Some(b"a1".to_vec()),
            payload: Some(payload.to_vec()),
        }
    }

    fn classify_all(records: &[Record]) -> Batch {
        let validator = Validator::new(3600, 300, ["t1".to_owned()]);
        classify(
            records,
            &validator,
            &price_book(),
            at("2026-11-23T12:00:00Z"),
        )
    }

    #[test]
    fn separates_good_bad_and_repeated_records() {
        let first = event(1, "2026-11-23T10:00:00Z", "2026-11-23T10:00:10Z").encode();
        let second = event(2, "2026-11-23T10:00:10Z", "2026-11-23T10:00:20Z").encode();
        let batch = classify_all(&[
            record(10, &first),
            record(11, b"{oops"),
            record(12, &first),
            record(13, &second),
        ]);
        assert_eq!(batch.accepted.len(), 2);
        assert_eq!(batch.duplicates_in_batch, 1);
        assert_eq!(batch.dead_letters.len(), 1);
        assert_eq!(batch.dead_letters[0].rejection.reason, "invalid_json");
        assert_eq!(batch.dead_letters[0].record.offset, 11);
        assert_eq!(batch.next_offsets, BTreeMap::from([(2, 14)]));
    }

    #[test]
    fn a_record_without_value_is_dead_lettered() {
        let mut empty = record(5, b"");
        empty.payload = None;
        let batch = classify_all(&[empty]);
        assert_eq!(batch.dead_letters[0].rejection.reason, "invalid_json");
        assert_eq!(batch.next_offsets, BTreeMap::from([(2, 6)]));
    }

    #[test]
    fn postings_sum_per_tenant_sku_period_and_price() {
        let events = [
            event(1, "2026-10-31T23:59:55Z", "2026-11-01T00:00:05Z").encode(),
            event(2, "2026-11-01T00:00:05Z", "2026-11-01T00:00:15Z").encode(),
        ];
        let batch = classify_all(&[record(0, &events[0]), record(1, &events[1])]);
        let rows: Vec<NewRatedUsage> = batch.accepted.iter().flat_map(rated_rows).collect();
        assert_eq!(rows.len(), 3);
        let entries = postings(Uuid::nil(), &batch.accepted);
        assert_eq!(entries.len(), 2);
        assert_eq!(
            (
                entries[0].period.to_string().as_str(),
                entries[0].gpu_seconds,
                entries[0].segment_count
            ),
            ("2026-10-01", dec!(5), 1)
        );
        assert_eq!(
            (
                entries[1].period.to_string().as_str(),
                entries[1].gpu_seconds,
                entries[1].segment_count
            ),
            ("2026-11-01", dec!(15), 2)
        );
    }
}
