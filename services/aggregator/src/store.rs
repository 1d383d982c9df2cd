//! The aggregator's Postgres side: reading consumed offsets, tenants, and what the ledger and the
//! scheduler's allocations hold about a batch; and applying a batch — usage runs, rated
//! segments, ledger postings and the next offsets — in one transaction.

use crate::batch::{AcceptedEvent, Batch, GpuSpan, LedgerView, StreamKey, postings, rated_rows};
use crate::error::AggregatorError;
use crate::interval::Digest;
use crate::lease::{Member, Owned, fence};
use chrono::{DateTime, Duration, Utc};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::result::DatabaseErrorKind;
use diesel::sql_types::{Array, BigInt, Bool, Integer, Nullable, SmallInt, Text, Timestamptz};
use diesel::upsert::excluded;
use gpubill_domain::{Gap, Grant, PriceClass, StreamState, Tz, parse_time_zone};
use gpubill_ledger::bookings::{RatedAddition, book_usage};
use gpubill_platform::{DbError, failpoint};
use gpubill_schema::event::{CONTENT_DIGEST_LEN, device_id};
use gpubill_schema::models::{NewRatedUsage, NewUsageRun, NewUsageStream, UsageGap};
use gpubill_schema::schema::{
    consumer_offsets, ledger_entries, rated_usage, tenants, usage_gaps, usage_runs, usage_streams,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use uuid::Uuid;

/// Rows per INSERT statement: keeps every statement under Postgres' 65,535 bind parameters
/// (12 columns × 4,000 rows = 48,000).
const ROWS_PER_STATEMENT: usize = 4000;

/// What applying a batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    /// Events written and billed.
    pub new_events: usize,
    pub ledger_entries: usize,
    /// Journal transactions booked by delta rating (one per tenant whose charges moved).
    pub journal_transactions: usize,
}

/// The next offset to consume per partition of `topic`, as committed by `consumer`.
pub fn load_offsets(
    conn: &mut PgConnection,
    consumer: &str,
    topic: &str,
) -> Result<BTreeMap<i32, i64>, AggregatorError> {
    let rows: Vec<(i32, i64)> = consumer_offsets::table
        .filter(consumer_offsets::consumer.eq(consumer))
        .filter(consumer_offsets::topic.eq(topic))
        .select((consumer_offsets::partition, consumer_offsets::next_offset))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

/// Every tenant with the time zone its usage is rated in.
pub fn load_tenants(conn: &mut PgConnection) -> Result<Vec<(String, Tz)>, AggregatorError> {
    let rows: Vec<(String, String)> = tenants::table
        .select((tenants::tenant_id, tenants::time_zone))
        .load(conn)?;
    rows.into_iter()
        .map(|(tenant_id, name)| {
            let time_zone = parse_time_zone(&name).map_err(|error| {
                AggregatorError::Invariant(format!("tenant `{tenant_id}`: {error}"))
            })?;
            Ok((tenant_id, time_zone))
        })
        .collect()
}

/// The keys a batch's accepted events are looked up by in the ledger, as owned arrays ready to
/// bind (so the look-up can run on the blocking pool and be retried without the batch).
#[derive(Debug, Clone, Default)]
pub struct LookupKeys {
    /// The distinct streams, as two parallel arrays.
    stream_allocation_ids: Vec<String>,
    stream_gpu_uuids: Vec<String>,
    /// Per accepted event: its stream (an index into the arrays above) and seq.
    positions: Vec<(usize, i64)>,
    /// The distinct GPUs.
    gpus: Vec<String>,
    /// The distinct allocations.
    allocation_ids: Vec<String>,
}

impl LookupKeys {
    pub fn of(accepted: &[AcceptedEvent]) -> Self {
        let mut keys = Self::default();
        let mut streams: HashMap<(&str, &str), usize> = HashMap::new();
        let mut gpus: BTreeSet<&str> = BTreeSet::new();
        let mut allocation_ids: BTreeSet<&str> = BTreeSet::new();
        for event in accepted {
            let usage = &event.usage;
            allocation_ids.insert(&usage.allocation_id);
            let stream = (usage.allocation_id.as_str(), usage.gpu_uuid.as_str());
            let index = *streams.entry(stream).or_insert_with(|| {
                keys.stream_allocation_ids.push(usage.allocation_id.clone());
                keys.stream_gpu_uuids.push(usage.gpu_uuid.clone());
                gpus.insert(&usage.gpu_uuid);
                keys.stream_allocation_ids.len() - 1
            });
            keys.positions.push((index, usage.seq));
        }
        keys.gpus = gpus.into_iter().map(str::to_owned).collect();
        keys.allocation_ids = allocation_ids.into_iter().map(str::to_owned).collect();
        keys
    }
}

/// What the ledger holds about a batch's events: their streams' dedup state, the spans of the
/// streams on their GPUs, the digests of the events their streams already hold, and the
/// scheduler's allocations they name. Every query probes an index per key; for events that extend
/// their streams, the usual case, no digest is read at all.
pub fn ledger_view(
    conn: &mut PgConnection,
    keys: &LookupKeys,
) -> Result<LedgerView, AggregatorError> {
    // The arrays make the planner see thousands of literal keys; JIT compiling for them costs
    // more than the index probes it would speed up.
    diesel::sql_query("SET jit = off").execute(conn)?;
    let streams = stream_states(conn, keys)?;
    let states: Vec<Option<&StreamState>> = keys
        .stream_allocation_ids
        .iter()
        .zip(&keys.stream_gpu_uuids)
        .map(|(allocation_id, gpu_uuid)| streams.get(&(allocation_id.clone(), gpu_uuid.clone())))
        .collect();
    let mut held = (Vec::new(), Vec::new(), Vec::new());
    for (index, seq) in &keys.positions {
        if states
            .get(*index)
            .copied()
            .flatten()
            .is_some_and(|state| state.holds(*seq))
        {
            held.0.push(keys.stream_allocation_ids[*index].clone());
            held.1.push(keys.stream_gpu_uuids[*index].clone());
            held.2.push(*seq);
        }
    }
    Ok(LedgerView {
        grants: scheduled_grants(conn, &keys.allocation_ids)?,
        digests: stored_digests(conn, &held)?,
        gpu_spans: gpu_spans(conn, &keys.gpus)?,
        streams,
    })
}

/// One GPU (or MIG instance) of a scheduled allocation, with the allocation's terms.
#[derive(QueryableByName)]
struct GrantedGpu {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    tenant_id: String,
    #[diesel(sql_type = Text)]
    sku: String,
    #[diesel(sql_type = Text)]
    price_class: String,
    #[diesel(sql_type = Timestamptz)]
    started_at: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    ended_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = BigInt)]
    max_duration_seconds: i64,
    #[diesel(sql_type = Text)]
    node_id: String,
    #[diesel(sql_type = Text)]
    gpu_uuid: String,
    #[diesel(sql_type = Bool)]
    mig: bool,
    #[diesel(sql_type = SmallInt)]
    first_slice: i16,
}

/// What the scheduler's allocations among `ids` grant, by id; ids it does not know are absent.
/// A MIG instance is granted under its device id (`mig_device_uuid`), as its agent meters it.
fn scheduled_grants(
    conn: &mut PgConnection,
    ids: &[String],
) -> Result<HashMap<String, Grant>, AggregatorError> {
    let rows: Vec<GrantedGpu> = diesel::sql_query(
        "SELECT a.id, a.tenant_id, a.sku, a.price_class, a.started_at, a.ended_at, \
                a.max_duration_seconds, g.node_id, g.gpu_uuid, g.mig, g.first_slice \
         FROM allocations a JOIN allocation_gpus g ON g.allocation_id = a.id \
         WHERE a.id = ANY($1)",
    )
    .bind::<Array<Text>, _>(ids)
    .load(conn)?;
    let mut grants: HashMap<String, Grant> = HashMap::new();
    for row in rows {
        let mig_first_slice = if row.mig {
            Some(u8::try_from(row.first_slice).map_err(|_| {
                AggregatorError::Invariant(format!(
                    "allocation {}: MIG slice {} out of range",
                    row.id, row.first_slice
                ))
            })?)
        } else {
            None
        };
        let device = device_id(&row.gpu_uuid, mig_first_slice);
        if let Some(grant) = grants.get_mut(&row.id) {
            grant.devices.push((row.node_id, device));
            continue;
        }
        let price_class: PriceClass = row.price_class.parse().map_err(|error| {
            AggregatorError::Invariant(format!("allocation {}: {error}", row.id))
        })?;
        let grant = Grant {
            allocation_id: row.id.clone(),
            tenant: row.tenant_id,
            sku: row.sku,
            price_class,
            devices: vec![(row.node_id, device)],
            started_at: row.started_at,
            ended_at: row.ended_at,
            max_end_at: Some(row.started_at + Duration::seconds(row.max_duration_seconds)),
        };
        grants.insert(row.id, grant);
    }
    Ok(grants)
}

/// Every stream's span on `gpus`.
fn gpu_spans(
    conn: &mut PgConnection,
    gpus: &[String],
) -> Result<HashMap<String, Vec<GpuSpan>>, AggregatorError> {
    let rows: Vec<(String, String, DateTime<Utc>, DateTime<Utc>)> = usage_streams::table
        .filter(usage_streams::gpu_uuid.eq_any(gpus))
        .select((
            usage_streams::gpu_uuid,
            usage_streams::allocation_id,
            usage_streams::first_start,
            usage_streams::last_end,
        ))
        .load(conn)?;
    let mut spans: HashMap<String, Vec<GpuSpan>> = HashMap::new();
    for (gpu_uuid, allocation_id, start, end) in rows {
        spans.entry(gpu_uuid).or_default().push(GpuSpan {
            allocation_id,
            start,
            end,
        });
    }
    Ok(spans)
}

fn stream_states(
    conn: &mut PgConnection,
    keys: &LookupKeys,
) -> Result<HashMap<StreamKey, StreamState>, AggregatorError> {
    if keys.stream_allocation_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<StoredStream> = diesel::sql_query(
        "SELECT s.allocation_id, s.gpu_uuid, s.first_start, s.max_seq, s.last_end FROM usage_streams s \
         JOIN unnest($1::text[], $2::text[]) AS k(allocation_id, gpu_uuid) \
           ON (s.allocation_id, s.gpu_uuid) = (k.allocation_id, k.gpu_uuid)",
    )
    .bind::<Array<Text>, _>(&keys.stream_allocation_ids)
    .bind::<Array<Text>, _>(&keys.stream_gpu_uuids)
    .load(conn)?;
    let mut streams: HashMap<StreamKey, StreamState> = rows
        .into_iter()
        .map(|row| {
            let state = StreamState {
                first_start: row.first_start,
                max_seq: row.max_seq,
                last_end: row.last_end,
                gaps: Vec::new(),
            };
            ((row.allocation_id, row.gpu_uuid), state)
        })
        .collect();
    let gaps: Vec<UsageGap> = diesel::sql_query(
        "SELECT g.* FROM usage_gaps g \
         JOIN unnest($1::text[], $2::text[]) AS k(allocation_id, gpu_uuid) \
           ON (g.allocation_id, g.gpu_uuid) = (k.allocation_id, k.gpu_uuid) \
         ORDER BY g.allocation_id, g.gpu_uuid, g.first_seq",
    )
    .bind::<Array<Text>, _>(&keys.stream_allocation_ids)
    .bind::<Array<Text>, _>(&keys.stream_gpu_uuids)
    .load(conn)?;
    for gap in gaps {
        let Some(state) = streams.get_mut(&(gap.allocation_id, gap.gpu_uuid)) else {
            continue; // cannot happen: the foreign key ties every gap to a stream
        };
        state.gaps.push(Gap {
            first_seq: gap.first_seq,
            last_seq: gap.last_seq,
            missing_from: gap.missing_from,
            missing_until: gap.missing_until,
            opened_at: gap.opened_at,
        });
    }
    Ok(streams)
}

#[derive(QueryableByName)]
struct StoredStream {
    #[diesel(sql_type = Text)]
    allocation_id: String,
    #[diesel(sql_type = Text)]
    gpu_uuid: String,
    #[diesel(sql_type = Timestamptz)]
    first_start: DateTime<Utc>,
    #[diesel(sql_type = BigInt)]
    max_seq: i64,
    #[diesel(sql_type = Timestamptz)]
    last_end: DateTime<Utc>,
}

/// Writes the new state of the streams a batch moved: the stream rows, and their gaps replaced.
fn write_streams(
    conn: &mut PgConnection,
    streams: &BTreeMap<StreamKey, (String, StreamState)>,
) -> Result<(), AggregatorError> {
    let mut rows = Vec::with_capacity(streams.len());
    let mut gaps = Vec::new();
    for ((allocation_id, gpu_uuid), (tenant_id, state)) in streams {
        state.check().map_err(|broken| {
            AggregatorError::Invariant(format!("stream {allocation_id}/{gpu_uuid}: {broken}"))
        })?;
        rows.push(NewUsageStream {
            allocation_id: allocation_id.clone(),
            gpu_uuid: gpu_uuid.clone(),
            tenant_id: tenant_id.clone(),
            watermark_seq: state.watermark(),
            max_seq: state.max_seq,
            first_start: state.first_start,
            last_end: state.last_end,
        });
        gaps.extend(state.gaps.iter().map(|gap| UsageGap {
            allocation_id: allocation_id.clone(),
            gpu_uuid: gpu_uuid.clone(),
            first_seq: gap.first_seq,
            last_seq: gap.last_seq,
            missing_from: gap.missing_from,
            missing_until: gap.missing_until,
            opened_at: gap.opened_at,
        }));
    }
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        diesel::insert_into(usage_streams::table)
            .values(chunk)
            .on_conflict((usage_streams::allocation_id, usage_streams::gpu_uuid))
            .do_update()
            .set((
                usage_streams::watermark_seq.eq(excluded(usage_streams::watermark_seq)),
                usage_streams::max_seq.eq(excluded(usage_streams::max_seq)),
                usage_streams::first_start.eq(excluded(usage_streams::first_start)),
                usage_streams::last_end.eq(excluded(usage_streams::last_end)),
                usage_streams::updated_at.eq(diesel::dsl::now),
            ))
            .execute(conn)?;
    }
    let (allocation_ids, gpu_uuids): (Vec<&String>, Vec<&String>) = streams
        .keys()
        .map(|(allocation, gpu)| (allocation, gpu))
        .unzip();
    diesel::sql_query(
        "DELETE FROM usage_gaps g USING unnest($1::text[], $2::text[]) AS k(allocation_id, gpu_uuid) \
         WHERE (g.allocation_id, g.gpu_uuid) = (k.allocation_id, k.gpu_uuid)",
    )
    .bind::<Array<Text>, _>(&allocation_ids)
    .bind::<Array<Text>, _>(&gpu_uuids)
    .execute(conn)?;
    for chunk in gaps.chunks(ROWS_PER_STATEMENT) {
        diesel::insert_into(usage_gaps::table)
            .values(chunk)
            .execute(conn)?;
    }
    Ok(())
}

/// The digests of the stored events at `positions` (parallel arrays of allocation, GPU and seq),
/// each read from the run that holds it.
fn stored_digests(
    conn: &mut PgConnection,
    positions: &(Vec<String>, Vec<String>, Vec<i64>),
) -> Result<Vec<(StreamKey, i64, Digest)>, AggregatorError> {
    if positions.2.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<StoredDigest> = diesel::sql_query(
        "SELECT k.allocation_id, k.gpu_uuid, k.seq, \
                substring(r.event_digests FROM ((k.seq - r.first_seq) * $4 + 1)::int FOR $4) AS digest \
         FROM unnest($1::text[], $2::text[], $3::int8[]) AS k(allocation_id, gpu_uuid, seq) \
         CROSS JOIN LATERAL ( \
             SELECT u.first_seq, u.last_seq, u.event_digests FROM usage_runs u \
             WHERE u.allocation_id = k.allocation_id AND u.gpu_uuid = k.gpu_uuid \
               AND u.first_seq <= k.seq \
             ORDER BY u.first_seq DESC LIMIT 1) r \
         WHERE r.last_seq >= k.seq",
    )
    .bind::<Array<Text>, _>(&positions.0)
    .bind::<Array<Text>, _>(&positions.1)
    .bind::<Array<BigInt>, _>(&positions.2)
    .bind::<Integer, _>(CONTENT_DIGEST_LEN as i32)
    .load(conn)?;
    rows.into_iter()
        .map(|row| {
            let digest = Digest::try_from(row.digest.as_slice()).map_err(|_| {
                AggregatorError::Invariant(format!(
                    "stored digest of {}/{}/{} has {} bytes",
                    row.allocation_id,
                    row.gpu_uuid,
                    row.seq,
                    row.digest.len()
                ))
            })?;
            Ok(((row.allocation_id, row.gpu_uuid), row.seq, digest))
        })
        .collect()
}

#[derive(QueryableByName)]
struct StoredDigest {
    #[diesel(sql_type = Text)]
    allocation_id: String,
    #[diesel(sql_type = Text)]
    gpu_uuid: String,
    #[diesel(sql_type = BigInt)]
    seq: i64,
    #[diesel(sql_type = diesel::sql_types::Bytea)]
    digest: Vec<u8>,
}

/// Writes a batch atomically, fenced by the leases of its partitions (see [`fence`]). Offsets
/// only move forward: an attempt to move one back (a second writer on the same partition) fails
/// the whole transaction.
pub fn apply_batch(
    conn: &mut PgConnection,
    member: &Member,
    owned: &Owned,
    batch: &Batch,
) -> Result<Applied, AggregatorError> {
    let (consumer, topic) = (member.consumer.as_str(), member.topic.as_str());
    let outcome = conn.transaction(|conn| {
        // First, so a batch of partitions this instance no longer owns writes nothing.
        fence(conn, member, owned, batch.next_offsets.keys().copied())?;
        check_time_zones(conn, &batch.accepted)?;
        // Streams first: every run names its stream.
        write_streams(conn, &batch.streams)?;
        // COPY (binary) rather than multi-row INSERTs: a third of the cost for the same rows. It
        // has no ON CONFLICT: a run overlapping one already in the ledger fails the transaction
        // with a unique or exclusion violation, which means the batch was resolved against a
        // stale read (another writer, or this very batch committed by an attempt whose
        // acknowledgement was lost). That becomes `Raced` below: nothing written, the batch
        // re-read.
        let runs: Vec<&NewUsageRun> = batch.runs.iter().map(|run| &run.row).collect();
        let inserted = diesel::copy_from(usage_runs::table).from_insertable(runs).execute(conn)?;
        failpoint::hit("aggregator.mid_batch");
        let events: i64 = batch.runs.iter().map(|run| run.row.last_seq - run.row.first_seq + 1).sum();
        if inserted != batch.runs.len() || usize::try_from(events).ok() != Some(batch.accepted.len()) {
            return Err(AggregatorError::Invariant(format!(
                "{inserted} runs of {events} events copied for {} runs of {} accepted events",
                batch.runs.len(),
                batch.accepted.len()
            )));
        }
        let rated: Vec<NewRatedUsage> = batch.runs.iter().flat_map(rated_rows).collect();
        diesel::copy_from(rated_usage::table).from_insertable(rated).execute(conn)?;
        let batch_id = Uuid::new_v4();
        let entries = postings(batch_id, &batch.runs);
        for chunk in entries.chunks(ROWS_PER_STATEMENT) {
            diesel::insert_into(ledger_entries::table).values(chunk).execute(conn)?;
        }
        // Delta rating: the batch's usage moves the running totals, and the journal gets the
        // difference in their priced amount, in this same transaction.
        let additions = entries
            .iter()
            .map(|entry| {
                Ok(RatedAddition {
                    tenant_id: entry.tenant_id.clone(),
                    period: entry.period,
                    sku: entry.sku.clone(),
                    price_class: entry.price_class.parse().map_err(
                        |error: gpubill_domain::UnknownPriceClass| {
                            AggregatorError::Invariant(error.to_string())
                        },
                    )?,
                    price_per_gpu_hour: entry.price_per_gpu_hour,
                    gpu_seconds: entry.gpu_seconds,
                })
            })
            .collect::<Result<Vec<_>, AggregatorError>>()?;
        let booked = book_usage(conn, batch_id, &additions)?;

        for (partition, next_offset) in &batch.next_offsets {
            // Diesel's upsert cannot express a WHERE on the DO UPDATE arm, hence SQL.
            let moved = diesel::sql_query(
                "INSERT INTO consumer_offsets (consumer, topic, partition, next_offset) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (consumer, topic, partition) DO UPDATE \
                 SET next_offset = EXCLUDED.next_offset, updated_at = now() \
                 WHERE consumer_offsets.next_offset <= EXCLUDED.next_offset",
            )
            .bind::<Text, _>(consumer)
            .bind::<Text, _>(topic)
            .bind::<Integer, _>(partition)
            .bind::<BigInt, _>(next_offset)
            .execute(conn)?;
            if moved != 1 {
                return Err(AggregatorError::Invariant(format!(
                    "offset of {topic}[{partition}] would move back to {next_offset}: another consumer wrote past it"
                )));
            }
        }
        failpoint::hit("aggregator.before_commit");
        Ok(Applied {
            new_events: batch.accepted.len(),
            ledger_entries: entries.len(),
            journal_transactions: booked.transactions,
        })
    });
    // A constraint refusing the batch's own rows means another writer changed the ledger after
    // the batch read it (the pre-checks rule these out otherwise): stale, not bad data.
    outcome.map_err(|error| match error {
        AggregatorError::Db(DbError::Query(diesel::result::Error::DatabaseError(
            kind @ (DatabaseErrorKind::UniqueViolation | DatabaseErrorKind::ExclusionViolation),
            info,
        ))) => AggregatorError::Raced(format!("{kind:?}: {}", info.message())),
        other => other,
    })
}

/// Refuses a batch rated in a time zone that is no longer its tenant's. A tenant with nothing
/// billed may move to another zone after this instance read the tenants; its first usage must be
/// cut at the new zone's midnights. The batch is then abandoned as `Raced`, the tenants are read
/// again and the batch is re-read. (Once usage is booked, the database fixes the tenant's zone.)
fn check_time_zones(
    conn: &mut PgConnection,
    accepted: &[AcceptedEvent],
) -> Result<(), AggregatorError> {
    let rated_in: BTreeMap<&str, Tz> = accepted
        .iter()
        .map(|event| (event.usage.tenant_id.as_str(), event.usage.time_zone))
        .collect();
    if rated_in.is_empty() {
        return Ok(());
    }
    let stored: Vec<(String, String)> = tenants::table
        .filter(tenants::tenant_id.eq_any(rated_in.keys()))
        .select((tenants::tenant_id, tenants::time_zone))
        .load(conn)?;
    for (tenant_id, time_zone) in stored {
        if let Some(rated) = rated_in.get(tenant_id.as_str())
            && rated.name() != time_zone
        {
            return Err(AggregatorError::Raced(format!(
                "tenant `{tenant_id}` is billed in {time_zone} months now, the batch was rated in {}",
                rated.name()
            )));
        }
    }
    Ok(())
}

/// Why offsets cannot be reset now.
#[derive(Debug, thiserror::Error)]
pub enum ResetRefused {
    #[error("aggregator instances still hold leases on {0:?}: stop every aggregator first")]
    InstancesRunning(Vec<String>),
    #[error(transparent)]
    Failed(#[from] AggregatorError),
}

/// Moves `consumer`'s offsets on `topic` back to the start of the log, so the next run re-reads
/// everything: events already applied are dropped as duplicates, so the ledger does not change.
/// This is the one sanctioned way offsets move backwards, and only while no instance holds a
/// live lease (a running one would otherwise commit over the reset). Returns the partitions reset.
pub fn reset_offsets(
    conn: &mut PgConnection,
    consumer: &str,
    topic: &str,
) -> Result<usize, ResetRefused> {
    conn.transaction(|conn| {
        #[derive(QueryableByName)]
        struct Owner {
            #[diesel(sql_type = Text)]
            owner: String,
        }
        // Locks the leases so no instance can claim one while the offsets move.
        let owners: Vec<Owner> = diesel::sql_query(
            "SELECT DISTINCT owner FROM (SELECT owner FROM partition_leases \
             WHERE consumer = $1 AND topic = $2 AND expires_at > now() FOR UPDATE) AS live",
        )
        .bind::<Text, _>(consumer)
        .bind::<Text, _>(topic)
        .load(conn)
        .map_err(AggregatorError::from)?;
        if !owners.is_empty() {
            return Err(ResetRefused::InstancesRunning(
                owners.into_iter().map(|row| row.owner).collect(),
            ));
        }
        let reset = diesel::update(
            consumer_offsets::table
                .filter(consumer_offsets::consumer.eq(consumer))
                .filter(consumer_offsets::topic.eq(topic)),
        )
        .set((
            consumer_offsets::next_offset.eq(0),
            consumer_offsets::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)
        .map_err(AggregatorError::from)?;
        Ok(reset)
    })
}

impl From<diesel::result::Error> for ResetRefused {
    fn from(error: diesel::result::Error) -> Self {
        Self::Failed(error.into())
    }
}
