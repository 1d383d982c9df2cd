//! The scheduler's decisions in Postgres: allocations with their GPUs, the live slots whose
//! exclusion constraint refuses any double allocation, node states, and the ledger figures
//! admission needs (spend, metered GPU-hours, metered seconds per allocation).

use crate::error::SchedulerError;
use crate::model::{AllocatedGpu, Allocation, AllocationStatus};
use chrono::{DateTime, NaiveDate, Utc};
use diesel::pg::PgConnection;
use diesel::prelude::*;
use gpubill_domain::CreditSource;
use gpubill_schema::schema::{
    allocation_gpus, allocations, live_gpu_slots, scheduler_nodes, usage_bookings, usage_runs,
    usage_totals,
};
use rust_decimal::Decimal;
use std::collections::HashMap;
use uuid::Uuid;

/// Namespace of the ids derived here: allocation ids from idempotency keys, credit grant ids
/// from preempted allocations.
pub const SCHEDULER_NAMESPACE: Uuid = Uuid::from_u128(0x0b7e_2a51_93c4_4d6f_8e21_5a9c_3f70_d18b);

/// The end of an allocation, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ending {
    pub id: String,
    pub tenant: String,
    pub status: AllocationStatus,
    pub ended_at: DateTime<Utc>,
    pub captured_amount: Decimal,
    pub preempted_by: Option<String>,
    /// Prepaid credit granted with the ending (preemptions), if any.
    pub credit_amount: Option<Decimal>,
}

#[derive(Queryable)]
struct AllocationRow {
    id: String,
    tenant_id: String,
    idempotency_key: Option<String>,
    sku: String,
    price_class: String,
    priority: i32,
    units: i32,
    max_duration_seconds: i64,
    started_at: DateTime<Utc>,
    hold_amount: Decimal,
    status: String,
    ended_at: Option<DateTime<Utc>>,
    captured_amount: Option<Decimal>,
    preempted_by: Option<String>,
    credit_amount: Option<Decimal>,
}

type GpuRow = (String, String, i16, String, bool, i16, i16);

fn gpu_columns() -> (
    allocation_gpus::allocation_id,
    allocation_gpus::node_id,
    allocation_gpus::gpu_index,
    allocation_gpus::gpu_uuid,
    allocation_gpus::mig,
    allocation_gpus::first_slice,
    allocation_gpus::slices,
) {
    (
        allocation_gpus::allocation_id,
        allocation_gpus::node_id,
        allocation_gpus::gpu_index,
        allocation_gpus::gpu_uuid,
        allocation_gpus::mig,
        allocation_gpus::first_slice,
        allocation_gpus::slices,
    )
}

/// The notice a preempted allocation's tenant reads.
pub fn preemption_notice(by: &str) -> String {
    format!(
        "preempted for on-demand allocation {by}; credited per the preemption policy \
         (docs/scheduler.md)"
    )
}

fn assemble(
    rows: Vec<AllocationRow>,
    gpus: Vec<GpuRow>,
) -> Result<Vec<Allocation>, SchedulerError> {
    let mut placements: HashMap<String, Vec<AllocatedGpu>> = HashMap::new();
    for (allocation_id, node, index, uuid, mig, first_slice, slices) in gpus {
        let small = |value: i16| {
            u8::try_from(value)
                .map_err(|_| SchedulerError::Invariant(format!("GPU field {value} out of range")))
        };
        placements
            .entry(allocation_id)
            .or_default()
            .push(AllocatedGpu {
                node,
                gpu_index: small(index)?,
                gpu_uuid: uuid,
                mig_first_slice: if mig { Some(small(first_slice)?) } else { None },
                mig_slices: if mig { Some(small(slices)?) } else { None },
            });
    }
    rows.into_iter()
        .map(|row| {
            let status = AllocationStatus::from_code(&row.status).ok_or_else(|| {
                SchedulerError::Invariant(format!(
                    "allocation {} has status {}",
                    row.id, row.status
                ))
            })?;
            let mut placement = placements.remove(&row.id).unwrap_or_default();
            placement.sort_by(|a, b| {
                (&a.node, a.gpu_index, a.mig_first_slice).cmp(&(
                    &b.node,
                    b.gpu_index,
                    b.mig_first_slice,
                ))
            });
            Ok(Allocation {
                notice: row.preempted_by.as_deref().map(preemption_notice),
                max_end_at: row.started_at + chrono::Duration::seconds(row.max_duration_seconds),
                id: row.id,
                tenant: row.tenant_id,
                idempotency_key: row.idempotency_key,
                sku: row.sku,
                class: row.price_class,
                priority: row.priority,
                gpus: u32::try_from(row.units).unwrap_or(0),
                max_duration_seconds: row.max_duration_seconds,
                started_at: row.started_at,
                status,
                ended_at: row.ended_at,
                hold_amount: row.hold_amount,
                captured_amount: row.captured_amount,
                preempted_by: row.preempted_by,
                credit_amount: row.credit_amount,
                placement,
            })
        })
        .collect()
}

fn with_gpus(
    conn: &mut PgConnection,
    rows: Vec<AllocationRow>,
) -> Result<Vec<Allocation>, SchedulerError> {
    let ids: Vec<&str> = rows.iter().map(|row| row.id.as_str()).collect();
    let gpus: Vec<GpuRow> = allocation_gpus::table
        .filter(allocation_gpus::allocation_id.eq_any(&ids))
        .select(gpu_columns())
        .load(conn)?;
    assemble(rows, gpus)
}

/// Every running allocation, oldest first: the state a restart rebuilds.
pub fn load_running(conn: &mut PgConnection) -> Result<Vec<Allocation>, SchedulerError> {
    let rows: Vec<AllocationRow> = allocations::table
        .filter(allocations::status.eq(AllocationStatus::Running.code()))
        .order((allocations::started_at, allocations::id))
        .load(conn)?;
    with_gpus(conn, rows)
}

pub fn load_allocation(
    conn: &mut PgConnection,
    id: &str,
) -> Result<Option<Allocation>, SchedulerError> {
    let rows: Vec<AllocationRow> = allocations::table.find(id).load(conn)?;
    Ok(with_gpus(conn, rows)?.pop())
}

/// A tenant's allocations, newest first, optionally of one status.
pub fn list_allocations(
    conn: &mut PgConnection,
    tenant: &str,
    status: Option<AllocationStatus>,
    after: Option<(DateTime<Utc>, String)>,
    limit: i64,
) -> Result<Vec<Allocation>, SchedulerError> {
    let mut query = allocations::table
        .filter(allocations::tenant_id.eq(tenant))
        .order((allocations::started_at.desc(), allocations::id.desc()))
        .limit(limit)
        .into_boxed();
    if let Some(status) = status {
        query = query.filter(allocations::status.eq(status.code()));
    }
    if let Some((started_at, id)) = after {
        query = query.filter(
            allocations::started_at
                .lt(started_at)
                .or(allocations::started_at
                    .eq(started_at)
                    .and(allocations::id.lt(id))),
        );
    }
    let rows: Vec<AllocationRow> = query.load(conn)?;
    with_gpus(conn, rows)
}

/// Allocations holding GPUs of `node` that were running at or after `since`: what the node's
/// agent meters.
pub fn node_allocations(
    conn: &mut PgConnection,
    node: &str,
    since: DateTime<Utc>,
) -> Result<Vec<Allocation>, SchedulerError> {
    let on_node = allocation_gpus::table
        .filter(allocation_gpus::node_id.eq(node))
        .select(allocation_gpus::allocation_id);
    let rows: Vec<AllocationRow> = allocations::table
        .filter(allocations::id.eq_any(on_node))
        .filter(
            allocations::ended_at
                .is_null()
                .or(allocations::ended_at.ge(since)),
        )
        .order((allocations::started_at, allocations::id))
        .load(conn)?;
    let mut found = with_gpus(conn, rows)?;
    for allocation in &mut found {
        allocation.placement.retain(|gpu| gpu.node == node);
    }
    Ok(found)
}

/// What reconciliation compares with metered usage: every allocation running at some instant of
/// `[since, now]`, plus the allocations named by `ids` (usage was metered for them) whatever
/// their dates, with all their GPUs.
pub fn reconciled_allocations(
    conn: &mut PgConnection,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
    ids: &[String],
) -> Result<Vec<Allocation>, SchedulerError> {
    let rows: Vec<AllocationRow> = allocations::table
        .filter(
            allocations::started_at
                .le(now)
                .and(
                    allocations::ended_at
                        .is_null()
                        .or(allocations::ended_at.ge(since)),
                )
                .or(allocations::id.eq_any(ids)),
        )
        .order((allocations::started_at, allocations::id))
        .load(conn)?;
    with_gpus(conn, rows)
}

/// Writes a new allocation, and the preemptions it needs, in one transaction: the victims end
/// (and are credited) before the new allocation's slots are taken, which the exclusion
/// constraint on live slots checks.
pub fn insert_allocation(
    conn: &mut PgConnection,
    allocation: &Allocation,
    preempted: &[Ending],
) -> Result<(), SchedulerError> {
    conn.transaction(|conn| {
        diesel::insert_into(allocations::table)
            .values((
                allocations::id.eq(&allocation.id),
                allocations::tenant_id.eq(&allocation.tenant),
                allocations::idempotency_key.eq(&allocation.idempotency_key),
                allocations::sku.eq(&allocation.sku),
                allocations::price_class.eq(&allocation.class),
                allocations::priority.eq(allocation.priority),
                allocations::units.eq(i32::try_from(allocation.gpus).unwrap_or(i32::MAX)),
                allocations::max_duration_seconds.eq(allocation.max_duration_seconds),
                allocations::started_at.eq(allocation.started_at),
                allocations::hold_amount.eq(allocation.hold_amount),
                allocations::status.eq(AllocationStatus::Running.code()),
            ))
            .execute(conn)?;
        for ending in preempted {
            end(conn, ending)?;
        }
        let gpus: Vec<_> = allocation
            .placement
            .iter()
            .map(|gpu| {
                let (first, slices) = slice_range(gpu);
                (
                    allocation_gpus::allocation_id.eq(&allocation.id),
                    allocation_gpus::node_id.eq(&gpu.node),
                    allocation_gpus::gpu_index.eq(i16::from(gpu.gpu_index)),
                    allocation_gpus::gpu_uuid.eq(&gpu.gpu_uuid),
                    allocation_gpus::mig.eq(gpu.mig_first_slice.is_some()),
                    allocation_gpus::first_slice.eq(first),
                    allocation_gpus::slices.eq(slices),
                )
            })
            .collect();
        diesel::insert_into(allocation_gpus::table)
            .values(&gpus)
            .execute(conn)?;
        let slots: Vec<_> = allocation
            .placement
            .iter()
            .map(|gpu| {
                let (first, slices) = slice_range(gpu);
                (
                    live_gpu_slots::allocation_id.eq(&allocation.id),
                    live_gpu_slots::gpu_uuid.eq(&gpu.gpu_uuid),
                    live_gpu_slots::first_slice.eq(first),
                    live_gpu_slots::slices.eq(slices),
                )
            })
            .collect();
        diesel::insert_into(live_gpu_slots::table)
            .values(&slots)
            .execute(conn)?;
        Ok(())
    })
}

/// Compute slices a placement holds on its GPU: all seven for a whole GPU.
fn slice_range(gpu: &AllocatedGpu) -> (i16, i16) {
    match (gpu.mig_first_slice, gpu.mig_slices) {
        (Some(first), Some(slices)) => (i16::from(first), i16::from(slices)),
        _ => (0, 7),
    }
}

/// Ends a running allocation: status, end, capture; frees its slots; grants its credit.
pub fn end(conn: &mut PgConnection, ending: &Ending) -> Result<(), SchedulerError> {
    conn.transaction(|conn| {
        let updated = diesel::update(
            allocations::table
                .find(&ending.id)
                .filter(allocations::status.eq(AllocationStatus::Running.code())),
        )
        .set((
            allocations::status.eq(ending.status.code()),
            allocations::ended_at.eq(ending.ended_at),
            allocations::captured_amount.eq(ending.captured_amount),
            allocations::preempted_by.eq(&ending.preempted_by),
            allocations::credit_amount.eq(ending.credit_amount),
        ))
        .execute(conn)?;
        if updated != 1 {
            return Err(SchedulerError::Invariant(format!(
                "allocation {} was not running in the database",
                ending.id
            )));
        }
        diesel::delete(live_gpu_slots::table.filter(live_gpu_slots::allocation_id.eq(&ending.id)))
            .execute(conn)?;
        if let Some(credit) = ending.credit_amount.filter(|credit| !credit.is_zero()) {
            let grant_id = Uuid::new_v5(
                &SCHEDULER_NAMESPACE,
                format!("preemption/{}", ending.id).as_bytes(),
            );
            gpubill_ledger::credits::grant_credit(
                conn,
                grant_id,
                &ending.tenant,
                credit,
                CreditSource::Granted,
                &format!(
                    "spot allocation {} preempted by {}",
                    ending.id,
                    ending.preempted_by.as_deref().unwrap_or("-")
                ),
            )?;
        }
        Ok(())
    })
}

pub fn load_node_states(conn: &mut PgConnection) -> Result<Vec<(String, String)>, SchedulerError> {
    Ok(scheduler_nodes::table
        .select((scheduler_nodes::node_id, scheduler_nodes::state))
        .load(conn)?)
}

pub fn set_node_state(
    conn: &mut PgConnection,
    node: &str,
    state: &str,
) -> Result<(), SchedulerError> {
    diesel::insert_into(scheduler_nodes::table)
        .values((
            scheduler_nodes::node_id.eq(node),
            scheduler_nodes::state.eq(state),
        ))
        .on_conflict(scheduler_nodes::node_id)
        .do_update()
        .set((
            scheduler_nodes::state.eq(state),
            scheduler_nodes::changed_at.eq(diesel::dsl::now),
        ))
        .execute(conn)?;
    Ok(())
}

/// A tenant's month as the ledger has it so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MonthFigures {
    /// Usage booked to the journal (contract prices), net of VAT.
    pub spend: Decimal,
    pub gpu_seconds: Decimal,
}

/// Per tenant and month from `since` on: booked spend and metered GPU-seconds.
pub fn month_figures(
    conn: &mut PgConnection,
    since: NaiveDate,
) -> Result<HashMap<(String, NaiveDate), MonthFigures>, SchedulerError> {
    use diesel::dsl::sum;
    let mut figures: HashMap<(String, NaiveDate), MonthFigures> = HashMap::new();
    let spend: Vec<(String, NaiveDate, Option<Decimal>)> = usage_bookings::table
        .filter(usage_bookings::period.ge(since))
        .group_by((usage_bookings::tenant_id, usage_bookings::period))
        .select((
            usage_bookings::tenant_id,
            usage_bookings::period,
            sum(usage_bookings::booked_amount),
        ))
        .load(conn)?;
    for (tenant, period, amount) in spend {
        figures.entry((tenant, period)).or_default().spend = amount.unwrap_or_default();
    }
    let seconds: Vec<(String, NaiveDate, Option<Decimal>)> = usage_totals::table
        .filter(usage_totals::period.ge(since))
        .group_by((usage_totals::tenant_id, usage_totals::period))
        .select((
            usage_totals::tenant_id,
            usage_totals::period,
            sum(usage_totals::gpu_seconds),
        ))
        .load(conn)?;
    for (tenant, period, total) in seconds {
        figures.entry((tenant, period)).or_default().gpu_seconds = total.unwrap_or_default();
    }
    Ok(figures)
}

/// Metered GPU-seconds per allocation, for the given ones.
pub fn metered_seconds(
    conn: &mut PgConnection,
    ids: &[String],
) -> Result<HashMap<String, Decimal>, SchedulerError> {
    use diesel::dsl::sum;
    let rows: Vec<(String, Option<Decimal>)> = usage_runs::table
        .filter(usage_runs::allocation_id.eq_any(ids))
        .group_by(usage_runs::allocation_id)
        .select((usage_runs::allocation_id, sum(usage_runs::gpu_seconds)))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, seconds)| (id, seconds.unwrap_or_default()))
        .collect())
}
