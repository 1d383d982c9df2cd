//! Turning a batch of raw Kafka records into what the ledger needs: accepted events, dead
//! letters with their reasons, the next offset per partition, and, for the events that turn out to
//! be new, the runs they form with their rated segments and the ledger postings. Pure.

use crate::allocation::AllocationCheck;
use crate::interval::{Digest, MeteredInterval};
use crate::validate::{Rejection, Validator};
use chrono::{DateTime, NaiveDate, Utc};
use gpubill_domain::{
    Grant, PriceBook, PriceClass, RatedSegment, RatingError, StreamState, Tz, check_priced,
    gpu_seconds, rate_interval,
};
use gpubill_schema::event::{content_digest, decode_usage_event};
use gpubill_schema::models::{NewLedgerEntry, NewRatedUsage, NewUsageRun};
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

/// A stream: one allocation's usage of one GPU (allocation id, GPU UUID).
pub type StreamKey = (String, String);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcceptedEvent {
    pub usage: MeteredInterval,
    /// Index of the record it came from in the batch's records.
    pub record_index: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub record: Record,
    pub rejection: Rejection,
}

/// Consecutive new events of one stream in a batch, billed as one: the evidence row and its rated
/// segments (split where a month of the tenant's time zone ends or the price version changes), at
/// the run's class's price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub row: NewUsageRun,
    pub segments: Vec<RatedSegment>,
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
    /// After [`resolve_against_ledger`]: the accepted events as runs, rated.
    pub runs: Vec<Run>,
}

/// Below this many records a batch is classified on the calling thread alone.
const RECORDS_PER_THREAD: usize = 1000;

/// Decodes and validates every record. Decoding is most of the aggregator's work per event, so a
/// large batch is cut into consecutive chunks classified on one thread per core, then joined in
/// record order: the result does not depend on the number of threads.
pub fn classify(
    records: &[Record],
    validator: &Validator,
    price_book: &PriceBook,
    now: DateTime<Utc>,
) -> Batch {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(records.len() / RECORDS_PER_THREAD)
        .max(1);
    if threads == 1 {
        return classify_chunk(records, 0, validator, price_book, now);
    }
    let chunk_len = records.len().div_ceil(threads);
    let parts: Vec<Batch> = std::thread::scope(|scope| {
        let handles: Vec<_> = records
            .chunks(chunk_len)
            .enumerate()
            .map(|(index, chunk)| {
                scope.spawn(move || {
                    classify_chunk(chunk, index * chunk_len, validator, price_book, now)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                // classify_chunk does not panic; if it did, the panic belongs to the caller.
                handle
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    let mut batch = Batch::default();
    for part in parts {
        batch.accepted.extend(part.accepted);
        batch.dead_letters.extend(part.dead_letters);
        for (partition, next) in part.next_offsets {
            let merged = batch.next_offsets.entry(partition).or_insert(next);
            *merged = (*merged).max(next);
        }
    }
    batch
}

/// Classifies `records`, the first of which is record `first_index` of the batch.
fn classify_chunk(
    records: &[Record],
    first_index: usize,
    validator: &Validator,
    price_book: &PriceBook,
    now: DateTime<Utc>,
) -> Batch {
    let mut batch = Batch::default();
    for (offset_in_chunk, record) in records.iter().enumerate() {
        let next = batch
            .next_offsets
            .entry(record.partition)
            .or_insert(record.offset + 1);
        *next = (*next).max(record.offset + 1);
        match accept(
            record,
            first_index + offset_in_chunk,
            validator,
            price_book,
            now,
        ) {
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
/// streams, the spans of every stream on the batch's GPUs, the digests of the stored events at
/// positions the batch repeats, and the scheduler's allocations the batch names.
#[derive(Debug, Clone, Default)]
pub struct LedgerView {
    /// The scheduler's allocations named by the batch, by id.
    pub grants: HashMap<String, Grant>,
    pub streams: HashMap<StreamKey, StreamState>,
    /// Per GPU, the time each stream on it holds the GPU: (allocation, first start, last end).
    pub gpu_spans: HashMap<String, Vec<GpuSpan>>,
    /// Digests of stored events, by stream and seq.
    pub digests: Vec<(StreamKey, i64, Digest)>,
}

/// The time an allocation's stream holds a GPU: `[start, end)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuSpan {
    pub allocation_id: String,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// Small integer ids for the streams of a batch, so the per-event bookkeeping of
/// [`resolve_against_ledger`] does not copy their names.
#[derive(Default)]
struct StreamIds {
    by_name: HashMap<String, HashMap<String, usize>>,
    keys: Vec<StreamKey>,
}

impl StreamIds {
    fn id(&mut self, allocation_id: &str, gpu_uuid: &str) -> usize {
        if let Some(id) = self
            .by_name
            .get(allocation_id)
            .and_then(|gpus| gpus.get(gpu_uuid))
        {
            return *id;
        }
        let id = self.keys.len();
        self.keys
            .push((allocation_id.to_owned(), gpu_uuid.to_owned()));
        self.by_name
            .entry(allocation_id.to_owned())
            .or_default()
            .insert(gpu_uuid.to_owned(), id);
        id
    }
}

/// Leaves in `accepted` only events new to the ledger and to the batch, one per stream position,
/// records in `streams` the state of every stream they move, and groups them into rated `runs`.
///
/// An event is already applied when its stream's watermark state holds its seq: then it is a
/// duplicate (dropped, counted), or a `conflict` dead letter if the stored digest differs. A new
/// event its allocation does not grant is a dead letter with the reason (`allocations`); one that
/// overlaps its stream's neighbouring events, or the span of another allocation on the same GPU,
/// is an `overlapping_interval` dead letter; none of these is written. The ledger comes first,
/// then the batch in order.
pub fn resolve_against_ledger(
    batch: &mut Batch,
    records: &[Record],
    ledger: LedgerView,
    allocations: &AllocationCheck,
    price_book: &PriceBook,
    now: DateTime<Utc>,
) -> Result<(), RatingError> {
    let mut ids = StreamIds::default();
    let mut states: HashMap<usize, StreamState> = HashMap::new();
    for ((allocation_id, gpu_uuid), state) in ledger.streams {
        states.insert(ids.id(&allocation_id, &gpu_uuid), state);
    }
    let mut gpu_spans = ledger.gpu_spans;
    // Digests of the events applied so far, by stream and seq.
    let mut seen: HashMap<(usize, i64), Digest> = HashMap::new();
    for ((allocation_id, gpu_uuid), seq, digest) in ledger.digests {
        seen.insert((ids.id(&allocation_id, &gpu_uuid), seq), digest);
    }
    // The tenant of every stream an accepted event moves; their final states are copied into
    // the batch once, at the end.
    let mut moved: BTreeMap<usize, String> = BTreeMap::new();
    let accepted = std::mem::take(&mut batch.accepted);
    for event in accepted {
        let usage = &event.usage;
        let id = ids.id(&usage.allocation_id, &usage.gpu_uuid);
        let (seq, start, end) = (usage.seq, usage.interval_start, usage.interval_end);
        let state = states.get(&id);
        let verdict = match seen.get(&(id, seq)) {
            Some(earlier) if *earlier == usage.digest => Verdict::Duplicate,
            Some(_) => Verdict::Conflict(format!(
                "event {} at {}/{}/{seq} differs from the event already applied at that \
                 position (same id, other content)",
                usage.event_id, usage.allocation_id, usage.gpu_uuid
            )),
            // Applied before, and its digest was not read: the watermark decides.
            None if state.is_some_and(|state| state.holds(seq)) => Verdict::Duplicate,
            None => match allocations.check(&ledger.grants, usage) {
                Err(rejection) => Verdict::NotGranted(rejection),
                Ok(()) => match overlap(state, gpu_spans.get(&usage.gpu_uuid), usage) {
                    Some(detail) => Verdict::Overlap(detail),
                    None => Verdict::New,
                },
            },
        };
        match verdict {
            Verdict::New => {
                let state = states
                    .entry(id)
                    .and_modify(|state| state.apply(seq, start, end, now))
                    .or_insert_with(|| StreamState::first(seq, start, end, now));
                let span = (state.first_start, state.last_end);
                hold_gpu(&mut gpu_spans, usage, span);
                seen.insert((id, seq), usage.digest);
                moved.entry(id).or_insert_with(|| usage.tenant_id.clone());
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
            Verdict::NotGranted(rejection) => batch.dead_letters.push(DeadLetter {
                record: source(records, &event),
                rejection,
            }),
        }
    }
    for (id, tenant_id) in moved {
        if let (Some(state), Some(key)) = (states.remove(&id), ids.keys.get(id)) {
            batch.streams.insert(key.clone(), (tenant_id, state));
        }
    }
    batch.runs = runs(&batch.accepted, price_book)?;
    Ok(())
}

/// Records that the stream of `usage` now holds its GPU over `span`.
fn hold_gpu(
    gpu_spans: &mut HashMap<String, Vec<GpuSpan>>,
    usage: &MeteredInterval,
    (start, end): (DateTime<Utc>, DateTime<Utc>),
) {
    let spans = match gpu_spans.get_mut(&usage.gpu_uuid) {
        Some(spans) => spans,
        None => gpu_spans.entry(usage.gpu_uuid.clone()).or_default(),
    };
    match spans
        .iter_mut()
        .find(|span| span.allocation_id == usage.allocation_id)
    {
        Some(span) => (span.start, span.end) = (start, end),
        None => spans.push(GpuSpan {
            allocation_id: usage.allocation_id.clone(),
            start,
            end,
        }),
    }
}

/// Why a new event cannot be billed in time, if it cannot: it overlaps its stream's neighbouring
/// events, or the span another allocation holds its GPU for.
fn overlap(
    state: Option<&StreamState>,
    spans: Option<&Vec<GpuSpan>>,
    usage: &MeteredInterval,
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

/// Groups new events, in batch order, into runs: an event extends the last run of its stream
/// when it is the next seq, starts where that run ends, and has the same tenant, node, SKU, price
/// class and partition; otherwise it starts a run. Each run is rated as one interval of its class,
/// in its tenant's months.
pub fn runs(accepted: &[AcceptedEvent], price_book: &PriceBook) -> Result<Vec<Run>, RatingError> {
    // Each row with its class, kept typed for rating (the row holds its code), and its tenant's
    // time zone (one tenant per run, so one zone).
    let mut rows: Vec<(NewUsageRun, PriceClass, Tz)> = Vec::new();
    let mut last_run: HashMap<(&str, &str), usize> = HashMap::new();
    for event in accepted {
        let usage = &event.usage;
        let stream = (usage.allocation_id.as_str(), usage.gpu_uuid.as_str());
        let open = last_run.get(&stream).and_then(|index| rows.get_mut(*index));
        match open {
            Some((run, class, _))
                if run.last_seq + 1 == usage.seq
                    && run.run_end == usage.interval_start
                    && run.tenant_id == usage.tenant_id
                    && run.node_id == usage.node_id
                    && run.sku == usage.sku
                    && *class == usage.price_class
                    && run.source_partition == usage.source_partition =>
            {
                run.last_seq = usage.seq;
                run.run_end = usage.interval_end;
                run.gpu_seconds += usage.gpu_seconds;
                run.event_digests.extend_from_slice(&usage.digest);
                run.last_offset = usage.source_offset;
            }
            _ => {
                last_run.insert(stream, rows.len());
                let row = NewUsageRun {
                    allocation_id: usage.allocation_id.clone(),
                    gpu_uuid: usage.gpu_uuid.clone(),
                    first_seq: usage.seq,
                    last_seq: usage.seq,
                    tenant_id: usage.tenant_id.clone(),
                    node_id: usage.node_id.clone(),
                    sku: usage.sku.clone(),
                    price_class: usage.price_class.code().to_owned(),
                    run_start: usage.interval_start,
                    run_end: usage.interval_end,
                    gpu_seconds: usage.gpu_seconds,
                    event_digests: usage.digest.to_vec(),
                    source_partition: usage.source_partition,
                    first_offset: usage.source_offset,
                    last_offset: usage.source_offset,
                };
                rows.push((row, usage.price_class, usage.time_zone));
            }
        }
    }
    rows.into_iter()
        .map(|(row, class, time_zone)| {
            let segments = rate_interval(
                price_book,
                &row.sku,
                class,
                time_zone,
                row.run_start,
                row.run_end,
            )?;
            Ok(Run { row, segments })
        })
        .collect()
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
    NotGranted(Rejection),
    Overlap(String),
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
    let time_zone = validator.check(&event, price_book, now)?;
    let data = event.data;
    check_priced(price_book, &data.sku, data.interval_start).map_err(|error| Rejection {
        reason: "sku_unpriced",
        detail: error.to_string(),
    })?;
    let quantity = gpu_seconds(data.interval_start, data.interval_end);
    let digest = content_digest(
        event.id,
        &data.tenant_id,
        &data.node_id,
        &data.sku,
        data.price_class,
        (data.interval_start, data.interval_end),
        quantity,
    );
    Ok(AcceptedEvent {
        usage: MeteredInterval {
            seq: i64::try_from(data.seq).unwrap_or(i64::MAX),
            event_id: event.id,
            gpu_seconds: quantity,
            tenant_id: data.tenant_id,
            allocation_id: data.allocation_id,
            node_id: data.node_id,
            gpu_uuid: data.gpu_uuid,
            sku: data.sku,
            price_class: data.price_class,
            time_zone,
            interval_start: data.interval_start,
            interval_end: data.interval_end,
            source_partition: record.partition,
            source_offset: record.offset,
            digest,
        },
        record_index,
    })
}

/// The rated-usage rows of a run, one per segment.
pub fn rated_rows(run: &Run) -> impl Iterator<Item = NewRatedUsage> + '_ {
    run.segments
        .iter()
        .enumerate()
        .map(|(index, segment)| NewRatedUsage {
            allocation_id: run.row.allocation_id.clone(),
            gpu_uuid: run.row.gpu_uuid.clone(),
            first_seq: run.row.first_seq,
            segment: i16::try_from(index).unwrap_or(i16::MAX),
            tenant_id: run.row.tenant_id.clone(),
            sku: run.row.sku.clone(),
            price_class: run.row.price_class.clone(),
            period: segment.period.first_day(),
            segment_start: segment.start,
            segment_end: segment.end,
            gpu_seconds: segment.gpu_seconds,
            price_per_gpu_hour: segment.price_per_gpu_hour,
            amount: segment.amount,
        })
}

/// What a ledger posting sums over: tenant, SKU, price class (code), period (first day) and price.
type PostingKey = (String, String, String, NaiveDate, Decimal);

/// Ledger postings for newly applied runs: one per tenant, SKU, price class, period and price.
/// Two classes of a SKU may share a price; they are still two postings, so the ledger tells how
/// the usage was sold.
pub fn postings<'a>(
    batch_id: Uuid,
    runs: impl IntoIterator<Item = &'a Run>,
) -> Vec<NewLedgerEntry> {
    let mut sums: BTreeMap<PostingKey, NewLedgerEntry> = BTreeMap::new();
    for run in runs {
        for segment in &run.segments {
            let (tenant_id, sku, class, period, price) = (
                &run.row.tenant_id,
                &run.row.sku,
                &run.row.price_class,
                segment.period.first_day(),
                segment.price_per_gpu_hour,
            );
            let entry = sums
                .entry((tenant_id.clone(), sku.clone(), class.clone(), period, price))
                .or_insert_with(|| NewLedgerEntry {
                    batch_id,
                    tenant_id: tenant_id.clone(),
                    sku: sku.clone(),
                    price_class: class.clone(),
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
    use gpubill_platform::config::UnknownAllocations;
    use gpubill_schema::event::CONTENT_DIGEST_LEN;
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

    /// Bills usage of any allocation: these tests are about the ledger, not the grants.
    fn any_allocation() -> AllocationCheck {
        AllocationCheck::new(Vec::new(), UnknownAllocations::Bill)
    }

    /// A ledger holding the digest of `event` and nothing else.
    fn stored_copy(event: &AcceptedEvent) -> LedgerView {
        let usage = &event.usage;
        LedgerView {
            digests: vec![(
                (usage.allocation_id.clone(), usage.gpu_uuid.clone()),
                usage.seq,
                usage.digest,
            )],
            ..LedgerView::default()
        }
    }

    fn resolve(batch: &mut Batch, records: &[Record], ledger: LedgerView) {
        resolve_against_ledger(
            batch,
            records,
            ledger,
            &any_allocation(),
            &price_book(),
            now(),
        )
        .unwrap();
    }

    /// Classifies and resolves against an empty ledger, as the aggregator does for a first batch.
    fn classify_all(records: &[Record]) -> Batch {
        let validator = Validator::new(3600, 300, [("t1".to_owned(), Tz::UTC)]);
        let mut batch = classify(
            records,
            &validator,
            &price_book(),
            at("2026-11-23T12:00:00Z"),
        );
        resolve(&mut batch, records, LedgerView::default());
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
        let mut conflicts: Vec<(i64, &str)> = batch
            .dead_letters
            .iter()
            .map(|l| (l.record.offset, l.rejection.reason))
            .collect();
        conflicts.sort();
        assert_eq!(conflicts, [(1, "conflict"), (2, "conflict")]);
    }

    #[test]
    fn usage_its_allocation_does_not_grant_is_dead_lettered_and_a_duplicate_stays_a_duplicate() {
        // a1 held GPU-1 of n1 for t1 from 10:00:00 until its release at 10:00:20.
        let grant = Grant {
            allocation_id: "a1".into(),
            tenant: "t1".into(),
            sku: "H100-SXM5-80GB".into(),
            price_class: PriceClass::OnDemand,
            devices: vec![("n1".into(), "GPU-1".into())],
            started_at: at("2026-11-23T10:00:00Z"),
            ended_at: Some(at("2026-11-23T10:00:20Z")),
            max_end_at: Some(at("2026-11-23T11:00:00Z")),
        };
        let stored = event(1, "2026-11-23T10:00:00Z", "2026-11-23T10:00:10Z");
        let within = event(2, "2026-11-23T10:00:10Z", "2026-11-23T10:00:20Z");
        let after_release = event(3, "2026-11-23T10:00:20Z", "2026-11-23T10:00:30Z");
        let mut unknown = event(1, "2026-11-23T10:00:00Z", "2026-11-23T10:00:10Z").data;
        unknown.allocation_id = "a9".into();
        let unknown = gpubill_schema::event::UsageEventV1::new(unknown, at("2026-11-23T10:00:10Z"));
        let records = [
            record(0, &stored.encode()),
            record(1, &within.encode()),
            record(2, &after_release.encode()),
            record(3, &unknown.encode()),
        ];
        let validator = Validator::new(3600, 300, [("t1".to_owned(), Tz::UTC)]);
        let mut batch = classify(&records, &validator, &price_book(), now());
        // First against a grant that does not hold the GPU: the stored event is still a
        // duplicate (the ledger decides first), the new ones are refused.
        let mut ledger = stored_copy(&batch.accepted[0]);
        let mut elsewhere = grant.clone();
        elsewhere.devices = vec![("n2".into(), "GPU-7".into())];
        ledger.grants = HashMap::from([("a1".to_owned(), elsewhere)]);
        let reject = AllocationCheck::new(Vec::new(), UnknownAllocations::Reject);
        resolve_against_ledger(&mut batch, &records, ledger, &reject, &price_book(), now())
            .unwrap();
        assert_eq!(batch.duplicates, 1);
        let reasons: Vec<(i64, &str)> = batch
            .dead_letters
            .iter()
            .map(|l| (l.record.offset, l.rejection.reason))
            .collect();
        assert_eq!(
            reasons,
            [
                (1, "gpu_not_allocated"),
                (2, "gpu_not_allocated"),
                (3, "unknown_allocation")
            ]
        );

        // With the grant as it is: the event within the allocation is billed, the one after
        // its release is not, and nothing of them moves a stream.
        let mut batch = classify(&records, &validator, &price_book(), now());
        let mut ledger = stored_copy(&batch.accepted[0]);
        ledger.grants = HashMap::from([("a1".to_owned(), grant)]);
        resolve_against_ledger(&mut batch, &records, ledger, &reject, &price_book(), now())
            .unwrap();
        let kept: Vec<i64> = batch.accepted.iter().map(|e| e.usage.seq).collect();
        assert_eq!(kept, [2]);
        assert_eq!(batch.runs.len(), 1);
        assert_eq!(batch.runs[0].row.run_end, at("2026-11-23T10:00:20Z"));
        let reasons: Vec<(i64, &str)> = batch
            .dead_letters
            .iter()
            .map(|l| (l.record.offset, l.rejection.reason))
            .collect();
        assert_eq!(
            reasons,
            [(2, "outside_allocation"), (3, "unknown_allocation")]
        );
        assert_eq!(
            batch.streams.keys().collect::<Vec<_>>(),
            [&("a1".to_owned(), "GPU-1".to_owned())]
        );
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
            &Validator::new(3600, 300, [("t1".to_owned(), Tz::UTC)]),
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
        resolve(&mut batch, &records, ledger);
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
        let in_ledger = stored_copy(&batch.accepted[0]);
        resolve(&mut batch, &records, in_ledger.clone());
        assert_eq!((batch.accepted.len(), batch.duplicates), (1, 1));
        assert_eq!(batch.accepted[0].usage.seq, 2);

        let records = [record(5, &changed.encode())];
        let mut batch = classify_all(&records);
        resolve(&mut batch, &records, in_ledger);
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
            &Validator::new(3600, 300, [("t1".to_owned(), Tz::UTC)]),
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
        resolve(&mut batch, &records, ledger);
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
    fn new_events_form_runs_broken_by_holes_in_seq_or_time() {
        let records: Vec<Record> = [
            (1, "2026-11-23T10:00:00Z", "2026-11-23T10:00:10Z"),
            (2, "2026-11-23T10:00:10Z", "2026-11-23T10:00:20Z"),
            // seq 3 missing: a new run, which seq 3 arriving later does not join.
            (4, "2026-11-23T10:00:30Z", "2026-11-23T10:00:40Z"),
            (5, "2026-11-23T10:00:40Z", "2026-11-23T10:00:50Z"),
            (3, "2026-11-23T10:00:20Z", "2026-11-23T10:00:30Z"),
            // Next seq, but starting a second late: a hole in time.
            (6, "2026-11-23T10:00:51Z", "2026-11-23T10:01:00Z"),
        ]
        .iter()
        .enumerate()
        .map(|(offset, (seq, start, end))| record(offset as i64, &event(*seq, start, end).encode()))
        .collect();
        let batch = classify_all(&records);
        let shape: Vec<(i64, i64, i64, i64, Decimal)> = batch
            .runs
            .iter()
            .map(|run| {
                let row = &run.row;
                (
                    row.first_seq,
                    row.last_seq,
                    row.first_offset,
                    row.last_offset,
                    row.gpu_seconds,
                )
            })
            .collect();
        assert_eq!(
            shape,
            [
                (1, 2, 0, 1, dec!(20)),
                (4, 5, 2, 3, dec!(20)),
                (3, 3, 4, 4, dec!(10)),
                (6, 6, 5, 5, dec!(9)),
            ]
        );
        // The digests are the events', in seq order.
        let first = &batch.runs[0].row.event_digests;
        assert_eq!(first.len(), 2 * CONTENT_DIGEST_LEN);
        assert_eq!(first[..CONTENT_DIGEST_LEN], batch.accepted[0].usage.digest);
        assert_eq!(first[CONTENT_DIGEST_LEN..], batch.accepted[1].usage.digest);
    }

    /// `event` sold as `class`: same stream position and id, another class.
    fn sold_as(
        class: PriceClass,
        seq: u64,
        start: &str,
        end: &str,
    ) -> gpubill_schema::event::UsageEventV1 {
        let mut sold = event(seq, start, end);
        sold.data.price_class = class;
        sold
    }

    #[test]
    fn a_run_never_mixes_price_classes() {
        let records: Vec<Record> = [
            (
                PriceClass::OnDemand,
                1,
                "2026-11-23T10:00:00Z",
                "2026-11-23T10:00:10Z",
            ),
            (
                PriceClass::OnDemand,
                2,
                "2026-11-23T10:00:10Z",
                "2026-11-23T10:00:20Z",
            ),
            (
                PriceClass::Spot,
                3,
                "2026-11-23T10:00:20Z",
                "2026-11-23T10:00:30Z",
            ),
            (
                PriceClass::Spot,
                4,
                "2026-11-23T10:00:30Z",
                "2026-11-23T10:00:40Z",
            ),
            (
                PriceClass::Reserved,
                5,
                "2026-11-23T10:00:40Z",
                "2026-11-23T10:00:50Z",
            ),
            (
                PriceClass::OnDemand,
                6,
                "2026-11-23T10:00:50Z",
                "2026-11-23T10:01:00Z",
            ),
        ]
        .iter()
        .enumerate()
        .map(|(offset, (class, seq, start, end))| {
            record(offset as i64, &sold_as(*class, *seq, start, end).encode())
        })
        .collect();
        let batch = classify_all(&records);
        assert!(batch.dead_letters.is_empty(), "{:?}", batch.dead_letters);
        let shape: Vec<(i64, i64, &str, Decimal)> = batch
            .runs
            .iter()
            .map(|run| {
                let row = &run.row;
                (
                    row.first_seq,
                    row.last_seq,
                    row.price_class.as_str(),
                    run.segments[0].price_per_gpu_hour,
                )
            })
            .collect();
        assert_eq!(
            shape,
            [
                (1, 2, "on_demand", dec!(2.49)),
                (3, 4, "spot", dec!(1.25)),
                (5, 5, "reserved", dec!(1.89)),
                (6, 6, "on_demand", dec!(2.49)),
            ]
        );
        let rated: Vec<(String, Decimal)> = batch
            .runs
            .iter()
            .flat_map(rated_rows)
            .map(|row| (row.price_class, row.price_per_gpu_hour))
            .collect();
        assert_eq!(
            rated,
            [
                ("on_demand".to_owned(), dec!(2.49)),
                ("spot".to_owned(), dec!(1.25)),
                ("reserved".to_owned(), dec!(1.89)),
                ("on_demand".to_owned(), dec!(2.49)),
            ]
        );

        // One posting per class: the two on-demand runs sum together.
        let entries: Vec<(String, Decimal, Decimal, i32)> = postings(Uuid::nil(), &batch.runs)
            .into_iter()
            .map(|e| {
                (
                    e.price_class,
                    e.price_per_gpu_hour,
                    e.gpu_seconds,
                    e.segment_count,
                )
            })
            .collect();
        assert_eq!(
            entries,
            [
                ("on_demand".to_owned(), dec!(2.49), dec!(30), 2),
                ("reserved".to_owned(), dec!(1.89), dec!(10), 1),
                ("spot".to_owned(), dec!(1.25), dec!(20), 1),
            ]
        );
    }

    #[test]
    fn postings_keep_classes_apart_even_at_the_same_price() {
        // A book where spot happens to cost what on-demand does.
        let same_price = PriceBook::new(
            "EUR",
            vec![gpubill_domain::SkuPrices {
                sku: "H100-SXM5-80GB".into(),
                description: "H100".into(),
                versions: vec![
                    gpubill_domain::PriceVersion::new(
                        at("2026-01-01T00:00:00Z"),
                        [
                            (PriceClass::OnDemand, dec!(2.49)),
                            (PriceClass::Spot, dec!(2.49)),
                            (PriceClass::Reserved, dec!(1.89)),
                        ],
                    )
                    .unwrap(),
                ],
            }],
        )
        .unwrap();
        let records = [
            record(
                0,
                &event(1, "2026-11-23T10:00:00Z", "2026-11-23T10:00:10Z").encode(),
            ),
            record(
                1,
                &sold_as(
                    PriceClass::Spot,
                    2,
                    "2026-11-23T10:00:10Z",
                    "2026-11-23T10:00:20Z",
                )
                .encode(),
            ),
        ];
        let validator = Validator::new(3600, 300, [("t1".to_owned(), Tz::UTC)]);
        let mut batch = classify(&records, &validator, &same_price, now());
        resolve_against_ledger(
            &mut batch,
            &records,
            LedgerView::default(),
            &any_allocation(),
            &same_price,
            now(),
        )
        .unwrap();
        let entries: Vec<(String, Decimal)> = postings(Uuid::nil(), &batch.runs)
            .into_iter()
            .map(|e| (e.price_class, e.gpu_seconds))
            .collect();
        assert_eq!(
            entries,
            [
                ("on_demand".to_owned(), dec!(10)),
                ("spot".to_owned(), dec!(10))
            ]
        );
    }

    #[test]
    fn the_same_usage_in_another_class_is_a_conflict() {
        let on_demand = event(1, "2026-11-23T10:00:00Z", "2026-11-23T10:00:10Z");
        let spot = sold_as(
            PriceClass::Spot,
            1,
            "2026-11-23T10:00:00Z",
            "2026-11-23T10:00:10Z",
        );
        assert_eq!(
            on_demand.id, spot.id,
            "the class is not part of the position"
        );
        let batch = classify_all(&[record(0, &on_demand.encode()), record(1, &spot.encode())]);
        assert_eq!(batch.accepted.len(), 1);
        assert_eq!(batch.dead_letters[0].rejection.reason, "conflict");
        assert_eq!(batch.dead_letters[0].record.offset, 1);
    }

    #[test]
    fn an_unknown_price_class_is_dead_lettered_with_its_reason() {
        let mut value: serde_json::Value = serde_json::from_slice(
            &event(1, "2026-11-23T10:00:00Z", "2026-11-23T10:00:10Z").encode(),
        )
        .unwrap();
        value["data"]["price_class"] = "preemptible".into();
        let batch = classify_all(&[record(0, &serde_json::to_vec(&value).unwrap())]);
        assert!(batch.accepted.is_empty());
        let rejection = &batch.dead_letters[0].rejection;
        assert_eq!(rejection.reason, "invalid_field");
        assert!(
            rejection.detail.contains("data.price_class")
                && rejection.detail.contains("preemptible"),
            "{}",
            rejection.detail
        );
    }

    #[test]
    fn a_large_batch_classifies_the_same_on_several_threads() {
        let records: Vec<Record> = (0..2500u64)
            .map(|seq| {
                let start = at("2026-11-23T00:00:00Z") + chrono::Duration::seconds(seq as i64 * 10);
                let mut event = event(seq + 1, "2026-11-23T00:00:00Z", "2026-11-23T00:00:10Z");
                (event.data.interval_start, event.data.interval_end) =
                    (start, start + chrono::Duration::seconds(10));
                let event = gpubill_schema::event::UsageEventV1::new(event.data, event.time);
                let payload = if seq % 7 == 3 {
                    b"{oops".to_vec()
                } else {
                    event.encode()
                };
                record(seq as i64, &payload)
            })
            .collect();
        let validator = Validator::new(3600, 300, [("t1".to_owned(), Tz::UTC)]);
        let parallel = classify(&records, &validator, &price_book(), now());
        let sequential = classify_chunk(&records, 0, &validator, &price_book(), now());
        assert_eq!(parallel, sequential);
        assert_eq!(parallel.dead_letters.len(), 357);
        assert_eq!(parallel.next_offsets, BTreeMap::from([(2, 2500)]));
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
    fn a_tenants_months_are_those_of_its_time_zone() {
        // 23:00 UTC on 31 October is midnight, 1 November, in Paris.
        let events = [
            event(1, "2026-10-31T22:59:55Z", "2026-10-31T23:00:05Z").encode(),
            event(2, "2026-10-31T23:59:55Z", "2026-11-01T00:00:05Z").encode(),
        ];
        let records = [record(0, &events[0]), record(1, &events[1])];
        let posted = |time_zone: Tz| {
            let validator = Validator::new(3600, 300, [("t1".to_owned(), time_zone)]);
            let mut batch = classify(&records, &validator, &price_book(), now());
            resolve(&mut batch, &records, LedgerView::default());
            assert!(batch.dead_letters.is_empty(), "{:?}", batch.dead_letters);
            let rated: Vec<(String, Decimal)> = batch
                .runs
                .iter()
                .flat_map(rated_rows)
                .map(|row| (row.period.to_string(), row.gpu_seconds))
                .collect();
            let entries: Vec<(String, Decimal)> = postings(Uuid::nil(), &batch.runs)
                .into_iter()
                .map(|entry| (entry.period.to_string(), entry.gpu_seconds))
                .collect();
            (rated, entries)
        };
        let (rated, entries) = posted(Tz::Europe__Paris);
        assert_eq!(
            rated,
            [
                ("2026-10-01".to_owned(), dec!(5)),
                ("2026-11-01".to_owned(), dec!(5)),
                ("2026-11-01".to_owned(), dec!(10)),
            ]
        );
        assert_eq!(
            entries,
            [
                ("2026-10-01".to_owned(), dec!(5)),
                ("2026-11-01".to_owned(), dec!(15)),
            ]
        );
        // In UTC the first event is all October and the second is cut at midnight.
        let (_, entries) = posted(Tz::UTC);
        assert_eq!(
            entries,
            [
                ("2026-10-01".to_owned(), dec!(15)),
                ("2026-11-01".to_owned(), dec!(5)),
            ]
        );
    }

    #[test]
    fn postings_sum_per_tenant_sku_period_and_price() {
        let events = [
            event(1, "2026-10-31T23:59:55Z", "2026-11-01T00:00:05Z").encode(),
            event(2, "2026-11-01T00:00:05Z", "2026-11-01T00:00:15Z").encode(),
        ];
        let batch = classify_all(&[record(0, &events[0]), record(1, &events[1])]);
        // One run, cut where October ends.
        assert_eq!(batch.runs.len(), 1);
        let rows: Vec<NewRatedUsage> = batch.runs.iter().flat_map(rated_rows).collect();
        assert_eq!(rows.len(), 2);
        let entries = postings(Uuid::nil(), &batch.runs);
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
            ("2026-11-01", dec!(15), 1)
        );
    }
}
