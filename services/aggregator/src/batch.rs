//! Turning a batch of raw Kafka records into what the ledger needs: accepted events with their
//! rated segments, dead letters with their reasons, the next offset per partition, and the ledger
//! postings for the events that turn out to be new. Pure.

use crate::validate::{Rejection, Validator};
use chrono::{DateTime, NaiveDate, Utc};
use gpubill_domain::{PriceBook, RatedSegment, StreamState, gpu_seconds, rate_interval};
use gpubill_schema::event::decode_usage_event;
use gpubill_schema::models::{NewLedgerEntry, NewRatedUsage, NewUsageEvent};
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap};
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

/// A stream: one allocation's usage of one GPU (allocation id, GPU UUID).
pub type StreamKey = (String, String);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedEvent {
    pub usage: NewUsageEvent,
    pub segments: Vec<RatedSegment>,
    /// Index of the record it came from in the batch's records.
    pub record_index: usize,
}

impl AcceptedEvent {
    pub fn position(&self) -> StreamPosition {
        (
            self.usage.allocation_id.clone(),
            self.usage.gpu_uuid.clone(),
            self.usage.seq,
        )
    }

    pub fn content(&self) -> EventContent {
        EventContent::of(&self.usage)
    }
}

/// What must be identical for two events at one stream position (or with one id) to be the same
/// event. Timestamps are compared to the microsecond, the ledger's resolution; the quantity is
/// exact, so no nanosecond of difference goes unnoticed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventContent {
    pub event_id: Uuid,
    pub position: StreamPosition,
    pub tenant_id: String,
    pub node_id: String,
    pub sku: String,
    pub interval_start_micros: i64,
    pub interval_end_micros: i64,
    pub gpu_seconds: Decimal,
}

impl EventContent {
    pub fn of(usage: &NewUsageEvent) -> Self {
        Self {
            event_id: usage.event_id,
            position: (
                usage.allocation_id.clone(),
                usage.gpu_uuid.clone(),
                usage.seq,
            ),
            tenant_id: usage.tenant_id.clone(),
            node_id: usage.node_id.clone(),
            sku: usage.sku.clone(),
            interval_start_micros: usage.interval_start.timestamp_micros(),
            interval_end_micros: usage.interval_end.timestamp_micros(),
            gpu_seconds: usage.gpu_seconds.normalize(),
        }
    }

    /// Why `self` conflicts with `earlier`, if it does; `None` means it is the same event again.
    fn conflict_with(&self, earlier: &EventContent) -> Option<String> {
        if self == earlier {
            return None;
        }
        let (allocation, gpu, seq) = &earlier.position;
        Some(format!(
            "event {} at {}/{}/{} differs from event {} already at {allocation}/{gpu}/{seq} \
             (same id or same stream position, different content)",
            self.event_id, self.position.0, self.position.1, self.position.2, earlier.event_id
        ))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub record: Record,
    pub rejection: Rejection,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    /// Valid events; after [`resolve_against_ledger`], only those new to the ledger, at most one
    /// per stream position.
    pub accepted: Vec<AcceptedEvent>,
    pub dead_letters: Vec<DeadLetter>,
    /// Valid events dropped because an earlier record of the batch, or the ledger, already had
    /// them, identical.
    pub duplicates: usize,
    /// Per partition, the offset after the last record of the batch.
    pub next_offsets: BTreeMap<i32, i64>,
    /// After [`resolve_against_ledger`]: the tenant and new state of every stream an accepted
    /// event moves.
    pub streams: BTreeMap<StreamKey, (String, StreamState)>,
}

/// Decodes, validates and rates every record.
pub fn classify(
    records: &[Record],
    validator: &Validator,
    price_book: &PriceBook,
    now: DateTime<Utc>,
) -> Batch {
    let mut batch = Batch::default();
    for (record_index, record) in records.iter().enumerate() {
        let next = batch
            .next_offsets
            .entry(record.partition)
            .or_insert(record.offset + 1);
        *next = (*next).max(record.offset + 1);
        match accept(record, record_index, validator, price_book, now) {
            Ok(event) => batch.accepted.push(event),
            Err(rejection) => batch.dead_letters.push(DeadLetter {
                record: record.clone(),
                rejection,
            }),
        }
    }
    batch
}

/// What the ledger holds that a batch is resolved against: the dedup state of the batch's
/// streams, the spans of every stream on the batch's GPUs, and the stored copies of events the
/// batch may repeat.
#[derive(Debug, Clone, Default)]
pub struct LedgerView {
    pub streams: HashMap<StreamKey, StreamState>,
    /// Per GPU, the time each stream on it holds the GPU: (allocation, first start, last end).
    pub gpu_spans: HashMap<String, Vec<GpuSpan>>,
    /// Stored events at the batch's stream positions or with its ids.
    pub contents: Vec<EventContent>,
}

/// The time an allocation's stream holds a GPU: `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuSpan {
    pub allocation_id: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// Leaves in `accepted` only events new to the ledger and to the batch, one per stream position,
/// and records in `streams` the state of every stream they move.
///
/// An event is already applied when its stream's watermark state holds its seq: then it is a
/// duplicate (dropped, counted), or a `conflict` dead letter if the stored copy differs. A new
/// event with a used id is a `conflict`; one that overlaps its stream's neighbouring events, or
/// the span of another allocation on the same GPU, is an `overlapping_interval` dead letter; none
/// of these is written. The ledger comes first, then the batch in order.
pub fn resolve_against_ledger(
    batch: &mut Batch,
    records: &[Record],
    ledger: LedgerView,
    now: DateTime<Utc>,
) {
    let mut streams = ledger.streams;
    let mut gpu_spans = ledger.gpu_spans;
    let mut seen = Seen::default();
    for content in ledger.contents {
        seen.remember(content);
    }
    // The tenant of every stream an accepted event moves; their final states are copied into
    // the batch once, at the end.
    let mut moved: BTreeMap<StreamKey, String> = BTreeMap::new();
    let accepted = std::mem::take(&mut batch.accepted);
    for event in accepted {
        let usage = &event.usage;
        let key = (usage.allocation_id.clone(), usage.gpu_uuid.clone());
        let (seq, start, end) = (usage.seq, usage.interval_start, usage.interval_end);
        let state = streams.get(&key);
        let content = event.content();
        let verdict = match seen.check(&content, state.is_some_and(|state| state.holds(seq))) {
            Verdict::New => match overlap(state, gpu_spans.get(&usage.gpu_uuid), usage) {
                Some(detail) => Verdict::Overlap(detail),
                None => Verdict::New,
            },
            other => other,
        };
        match verdict {
            Verdict::New => {
                let state = streams
                    .entry(key.clone())
                    .and_modify(|state| state.apply(seq, start, end, now))
                    .or_insert_with(|| StreamState::first(seq, start, end, now));
                let spans = gpu_spans.entry(usage.gpu_uuid.clone()).or_default();
                spans.retain(|span| span.allocation_id != usage.allocation_id);
                spans.push(GpuSpan {
                    allocation_id: usage.allocation_id.clone(),
                    start: state.first_start,
                    end: state.last_end,
                });
                seen.remember(content);
                moved.insert(key, usage.tenant_id.clone());
                batch.accepted.push(event);
            }
            Verdict::Duplicate => batch.duplicates += 1,
            Verdict::Conflict(detail) => {
                batch
                    .dead_letters
                    .push(dead_letter(source(records, &event), "conflict", detail))
            }
            Verdict::Overlap(detail) => batch.dead_letters.push(dead_letter(
                source(records, &event),
                "overlapping_interval",
                detail,
            )),
        }
    }
    for (key, tenant_id) in moved {
        if let Some(state) = streams.remove(&key) {
            batch.streams.insert(key, (tenant_id, state));
        }
    }
}

/// Why a new event cannot be billed in time, if it cannot: it overlaps its stream's neighbouring
/// events, or the span another allocation holds its GPU for.
fn overlap(
    state: Option<&StreamState>,
    spans: Option<&Vec<GpuSpan>>,
    usage: &NewUsageEvent,
) -> Option<String> {
    let (start, end) = (usage.interval_start, usage.interval_end);
    if let Some(Err(detail)) = state.map(|state| state.fits(usage.seq, start, end)) {
        return Some(detail);
    }
    let span = spans?.iter().find(|span| {
        span.allocation_id != usage.allocation_id && span.start < end && start < span.end
    })?;
    Some(format!(
        "GPU {} is held by allocation {} over [{}, {})",
        usage.gpu_uuid, span.allocation_id, span.start, span.end
    ))
}

/// The record an accepted event came from (always present; the fallback keeps its coordinates).
fn source(records: &[Record], event: &AcceptedEvent) -> Record {
    records.get(event.record_index).cloned().unwrap_or(Record {
        partition: event.usage.source_partition,
        offset: event.usage.source_offset,
        key: None,
        payload: None,
    })
}

fn dead_letter(record: Record, reason: &'static str, detail: String) -> DeadLetter {
    DeadLetter {
        record,
        rejection: Rejection { reason, detail },
    }
}

enum Verdict {
    New,
    Duplicate,
    Conflict(String),
    Overlap(String),
}

/// Events seen so far, by stream position and by id.
#[derive(Default)]
struct Seen {
    by_position: HashMap<StreamPosition, EventContent>,
    by_id: HashMap<Uuid, StreamPosition>,
}

impl Seen {
    /// Classifies `content`, whose stream already `held` its seq or not, by position and id
    /// only: `New` here still has to fit in time.
    fn check(&self, content: &EventContent, held: bool) -> Verdict {
        if let Some(earlier) = self.by_position.get(&content.position) {
            return match content.conflict_with(earlier) {
                None => Verdict::Duplicate,
                Some(detail) => Verdict::Conflict(detail),
            };
        }
        if held {
            // Applied before, and its stored copy is no longer kept: the watermark decides.
            return Verdict::Duplicate;
        }
        if let Some(earlier) = self
            .by_id
            .get(&content.event_id)
            .and_then(|position| self.by_position.get(position))
        {
            // Same id at another position: always a conflict.
            return Verdict::Conflict(content.conflict_with(earlier).unwrap_or_default());
        }
        Verdict::New
    }

    fn remember(&mut self, content: EventContent) {
        self.by_id
            .insert(content.event_id, content.position.clone());
        self.by_position.insert(content.position.clone(), content);
    }
}

fn accept(
    record: &Record,
    record_index: usize,
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
        record_index,
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

    fn now() -> DateTime<Utc> {
        at("2026-11-23T12:00:00Z")
    }

    /// A ledger holding `contents` and nothing else.
    fn stored_copies(contents: Vec<EventContent>) -> LedgerView {
        LedgerView {
            contents,
            ..LedgerView::default()
        }
    }

    /// Classifies and resolves against an empty ledger, as the aggregator does for a first batch.
    fn classify_all(records: &[Record]) -> Batch {
        let validator = Validator::new(3600, 300, ["t1".to_owned()]);
        let mut batch = classify(
            records,
            &validator,
            &price_book(),
            at("2026-11-23T12:00:00Z"),
        );
        resolve_against_ledger(&mut batch, records, LedgerView::default(), now());
        batch
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
        assert_eq!(batch.duplicates, 1);
        assert_eq!(batch.dead_letters.len(), 1);
        assert_eq!(batch.dead_letters[0].rejection.reason, "invalid_json");
        assert_eq!(batch.dead_letters[0].record.offset, 11);
        assert_eq!(batch.next_offsets, BTreeMap::from([(2, 14)]));
    }

    #[test]
    fn same_position_or_same_id_with_other_content_is_a_conflict() {
        let original = event(1, "2026-11-23T10:00:00Z", "2026-11-23T10:00:10Z");
        let mut longer = original.clone();
        longer.data.interval_end = at("2026-11-23T10:00:11Z");
        let mut moved = original.clone();
        moved.data.seq = 7; // same id, another position
        let batch = classify_all(&[
            record(0, &original.encode()),
            record(1, &longer.encode()),
            record(2, &moved.encode()),
            record(3, &original.encode()),
        ]);
        assert_eq!(batch.accepted.len(), 1);
        assert_eq!(batch.duplicates, 1);
        let conflicts: Vec<(i64, &str)> = batch
            .dead_letters
            .iter()
            .map(|l| (l.record.offset, l.rejection.reason))
            .collect();
        assert_eq!(conflicts, [(1, "conflict"), (2, "conflict")]);
    }

    #[test]
    fn overlapping_intervals_on_one_gpu_are_rejected() {
        let first = event(1, "2026-11-23T10:00:00Z", "2026-11-23T10:00:10Z");
        let adjacent = event(2, "2026-11-23T10:00:10Z", "2026-11-23T10:00:20Z");
        // Fresh events with their own ids: a2 on the same GPU overlapping `first`, and a2 on another GPU.
        let rebuilt = |edit: &dyn Fn(&mut gpubill_schema::event::UsageDataV1)| {
            let mut data = event(1, "2026-11-23T10:00:05Z", "2026-11-23T10:00:15Z").data;
            edit(&mut data);
            gpubill_schema::event::UsageEventV1::new(data, at("2026-11-23T10:00:15Z"))
        };
        let other_allocation = rebuilt(&|d| d.allocation_id = "a2".into());
        let other_gpu = rebuilt(&|d| {
            d.allocation_id = "a2".into();
            d.gpu_uuid = "GPU-2".into();
        });
        let records = [
            record(0, &first.encode()),
            record(1, &adjacent.encode()),
            record(2, &other_allocation.encode()),
            record(3, &other_gpu.encode()),
        ];
        let batch = classify_all(&records);
        let kept: Vec<i64> = batch
            .accepted
            .iter()
            .map(|e| e.usage.source_offset)
            .collect();
        assert_eq!(
            kept,
            [0, 1, 3],
            "back-to-back intervals and other GPUs are fine: {:?}",
            batch
                .dead_letters
                .iter()
                .map(|l| &l.rejection)
                .collect::<Vec<_>>()
        );
        assert_eq!(
            batch.dead_letters[0].rejection.reason,
            "overlapping_interval"
        );
        assert_eq!(batch.dead_letters[0].record.offset, 2);

        // Against the ledger: an interval inside the span a1 holds GPU-1 for.
        let records = [record(9, &other_allocation.encode())];
        let mut batch = classify(
            &records,
            &Validator::new(3600, 300, ["t1".to_owned()]),
            &price_book(),
            at("2026-11-23T12:00:00Z"),
        );
        let ledger = LedgerView {
            gpu_spans: HashMap::from([(
                "GPU-1".to_owned(),
                vec![GpuSpan {
                    allocation_id: "a1".into(),
                    start: at("2026-11-23T10:00:00Z"),
                    end: at("2026-11-23T10:00:10Z"),
                }],
            )]),
            ..LedgerView::default()
        };
        resolve_against_ledger(&mut batch, &records, ledger, now());
        assert_eq!(
            batch.dead_letters[0].rejection.reason,
            "overlapping_interval"
        );
    }

    #[test]
    fn the_ledger_decides_duplicates_and_conflicts() {
        let stored = event(1, "2026-11-23T10:00:00Z", "2026-11-23T10:00:10Z");
        let mut changed = stored.clone();
        changed.data.tenant_id = "t1".into();
        changed.data.node_id = "n2".into();
        let fresh = event(2, "2026-11-23T10:00:10Z", "2026-11-23T10:00:20Z");
        let records = [record(0, &stored.encode()), record(1, &fresh.encode())];
        let mut batch = classify_all(&records);
        let in_ledger = batch.accepted[0].content();
        resolve_against_ledger(
            &mut batch,
            &records,
            stored_copies(vec![in_ledger.clone()]),
            now(),
        );
        assert_eq!((batch.accepted.len(), batch.duplicates), (1, 1));
        assert_eq!(batch.accepted[0].usage.seq, 2);

        let records = [record(5, &changed.encode())];
        let mut batch = classify_all(&records);
        resolve_against_ledger(&mut batch, &records, stored_copies(vec![in_ledger]), now());
        assert!(batch.accepted.is_empty());
        assert_eq!(batch.dead_letters[0].rejection.reason, "conflict");
        assert_eq!(batch.dead_letters[0].record.offset, 5);
    }

    #[test]
    fn the_stream_watermark_decides_duplicates_and_gaps_are_recorded() {
        let encoded = |seq: u64, start: &str, end: &str| event(seq, start, end).encode();
        let records = [
            record(
                0,
                &encoded(1, "2026-11-23T10:00:00Z", "2026-11-23T10:00:10Z"),
            ),
            record(
                1,
                &encoded(2, "2026-11-23T10:00:10Z", "2026-11-23T10:00:20Z"),
            ),
            record(
                2,
                &encoded(5, "2026-11-23T10:00:40Z", "2026-11-23T10:00:50Z"),
            ),
            record(
                3,
                &encoded(3, "2026-11-23T10:00:20Z", "2026-11-23T10:00:30Z"),
            ),
        ];
        let mut batch = classify(
            &records,
            &Validator::new(3600, 300, ["t1".to_owned()]),
            &price_book(),
            now(),
        );
        // The ledger applied seq 1 and 2 earlier and no longer keeps their copies.
        let key = ("a1".to_owned(), "GPU-1".to_owned());
        let earlier = StreamState::first(
            1,
            at("2026-11-23T10:00:00Z"),
            at("2026-11-23T10:00:10Z"),
            now(),
        );
        let mut state = earlier.clone();
        state.apply(
            2,
            at("2026-11-23T10:00:10Z"),
            at("2026-11-23T10:00:20Z"),
            now(),
        );
        let ledger = LedgerView {
            streams: HashMap::from([(key.clone(), state)]),
            ..LedgerView::default()
        };
        resolve_against_ledger(&mut batch, &records, ledger, now());
        let applied: Vec<i64> = batch.accepted.iter().map(|e| e.usage.seq).collect();
        assert_eq!((applied, batch.duplicates), (vec![5, 3], 2));
        let (tenant, state) = &batch.streams[&key];
        assert_eq!(tenant, "t1");
        assert_eq!((state.watermark(), state.max_seq), (3, 5));
        assert_eq!(
            state
                .gaps
                .iter()
                .map(|g| (g.first_seq, g.last_seq))
                .collect::<Vec<_>>(),
            [(4, 4)]
        );
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
