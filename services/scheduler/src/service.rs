//! The scheduler: one decision state in memory, one writer at a time. A decision is taken on the
//! state, written to Postgres, and only then applied and acknowledged, so a failed write changes
//! nothing and a restart rebuilds the same state from Postgres. Quota checks read the state and
//! the ledger figures kept fresh in the background; they never touch Postgres.

use crate::error::SchedulerError;
use crate::inventory::{self, STATIC_PREFIX};
use crate::leadership::Leadership;
use crate::metrics::{self, Call};
use crate::model::{
    AllocatedGpu, Allocation, AllocationRequest, AllocationStatus, QuotaCheck, QuotaVerdict,
};
use crate::store::{self, Ending, MonthFigures, SCHEDULER_NAMESPACE};
use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use gpubill_domain::scheduler::{
    AdmissionAsk, ClusterState, GpuSlot, LiveAllocation, MigProfile, NodeState, PlacementError,
    PlacementRequest, QuotaLimits, TenantLoad, admit,
};
use gpubill_domain::standing::RunningRate;
use gpubill_domain::{
    BillingPeriod, DEFAULT_TIME_ZONE, PriceBook, PriceClass, SECONDS_PER_HOUR, Tz, round_to_cents,
    usage_amount,
};
use gpubill_platform::config::{Config, SchedulerSettings};
use gpubill_platform::db::with_conn;
use gpubill_platform::{PgPool, Shutdown};
use gpubill_schema::api::ErrorCode;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;
use uuid::Uuid;

/// Handle on the scheduler; clones share one state.
#[derive(Clone)]
pub struct Scheduler {
    shared: Arc<Shared>,
}

struct Shared {
    pool: PgPool,
    price_book: Arc<PriceBook>,
    settings: SchedulerSettings,
    quotas: HashMap<String, QuotaLimits>,
    /// Each tenant's time zone: budgets and GPU-hours are per calendar month in it.
    time_zones: HashMap<String, Tz>,
    /// The single writer: held from the decision until it is applied.
    writer: tokio::sync::Mutex<()>,
    /// The scheduler's lock in Postgres, while this instance holds it; `None` on a follower, or
    /// once the lock was lost.
    leadership: std::sync::Mutex<Option<Leadership>>,
    state: RwLock<Decisions>,
}

struct Decisions {
    cluster: ClusterState,
    running: BTreeMap<String, Running>,
    by_tenant: HashMap<String, BTreeSet<String>>,
    /// Units static allocations hold per (tenant, SKU): they count towards concurrency caps.
    static_units: HashMap<(String, String), u32>,
    ledger: LedgerView,
    /// The `(sku, class)` series of the units gauge published so far.
    published_units: BTreeSet<(String, String)>,
}

struct Running {
    allocation: Allocation,
    /// EUR per unit-hour the hold was computed at.
    unit_price: Decimal,
}

/// Ledger figures as last read.
#[derive(Default)]
struct LedgerView {
    months: HashMap<(String, NaiveDate), MonthFigures>,
    /// Metered GPU-seconds of running allocations.
    metered: HashMap<String, Decimal>,
    read_at: Option<DateTime<Utc>>,
}

/// What `allocate` did: a new allocation, or the one an earlier request with the same
/// idempotency key created.
#[derive(Debug, Clone)]
pub struct Created {
    pub allocation: Allocation,
    pub replayed: bool,
}

/// A tenant's quota standing as the scheduler holds it: its limits, what counts against them
/// now, and its running allocations' rates, for the portal's overview.
#[derive(Debug, Clone)]
pub struct Standing {
    pub limits: QuotaLimits,
    pub load: TenantLoad,
    /// Running allocations, static ones included, at the price they run at.
    pub running: Vec<RunningRate>,
    /// Allocations made through the scheduler that run now.
    pub running_allocations: u32,
    pub ledger_as_of: Option<DateTime<Utc>>,
}

/// The decision state, comparable across restarts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateSnapshot {
    pub running: Vec<Allocation>,
    pub node_states: Vec<(String, &'static str)>,
    pub free_gpus: usize,
}

/// A request checked against configuration and the price book.
struct Parsed {
    class: PriceClass,
    unit_price: Decimal,
}

/// Cost of `seconds` of one unit at `unit_price` per hour, to the cent.
fn cost(seconds: Decimal, unit_price: Decimal) -> Decimal {
    round_to_cents(usage_amount(seconds, unit_price))
}

impl Decisions {
    fn apply_created(
        &mut self,
        allocation: Allocation,
        unit_price: Decimal,
    ) -> Result<(), SchedulerError> {
        let live = live_allocation(&self.cluster, &allocation)?;
        self.cluster.commit(live)?;
        self.by_tenant
            .entry(allocation.tenant.clone())
            .or_default()
            .insert(allocation.id.clone());
        self.running.insert(
            allocation.id.clone(),
            Running {
                allocation,
                unit_price,
            },
        );
        self.publish();
        Ok(())
    }

    /// Sets the metrics' gauges from what runs now.
    fn publish(&mut self) {
        let running = self.running.values().map(|running| {
            let allocation = &running.allocation;
            (
                allocation.sku.as_str(),
                allocation.class.as_str(),
                allocation.gpus,
            )
        });
        self.published_units = metrics::publish_running(running, &self.published_units);
    }

    fn apply_ended(&mut self, id: &str) {
        self.cluster.release(id);
        if let Some(running) = self.running.remove(id)
            && let Some(ids) = self.by_tenant.get_mut(&running.allocation.tenant)
        {
            ids.remove(id);
        }
        self.ledger.metered.remove(id);
        self.publish();
    }

    fn tenant_load(&self, tenant: &str, period: NaiveDate) -> TenantLoad {
        let mut load = TenantLoad::default();
        for ((owner, sku), units) in &self.static_units {
            if owner == tenant {
                *load.concurrent.entry(sku.clone()).or_default() += units;
            }
        }
        for id in self.by_tenant.get(tenant).into_iter().flatten() {
            let Some(running) = self.running.get(id) else {
                continue;
            };
            let allocation = &running.allocation;
            *load.concurrent.entry(allocation.sku.clone()).or_default() += allocation.gpus;
            let metered = self.ledger.metered.get(id).copied().unwrap_or_default();
            // Allocated time not metered yet, up to the maximum duration: what the allocation
            // may still use.
            let allowed =
                Decimal::from(allocation.gpus) * Decimal::from(allocation.max_duration_seconds);
            load.gpu_hours_running += (allowed - metered).max(Decimal::ZERO) / SECONDS_PER_HOUR;
            load.open_holds +=
                (allocation.hold_amount - cost(metered, running.unit_price)).max(Decimal::ZERO);
        }
        if let Some(month) = self.ledger.months.get(&(tenant.to_owned(), period)) {
            load.spend = month.spend;
            load.gpu_hours_used = month.gpu_seconds / SECONDS_PER_HOUR;
        }
        load
    }
}

/// The decision core's view of an allocation: its GPUs as slots of the inventory.
fn live_allocation(
    cluster: &ClusterState,
    allocation: &Allocation,
) -> Result<LiveAllocation, SchedulerError> {
    let slots = allocation
        .placement
        .iter()
        .map(|gpu| {
            let node = cluster.node_index(&gpu.node).ok_or_else(|| {
                SchedulerError::Invariant(format!(
                    "allocation {} holds GPUs of node `{}`, which is no longer in cluster.toml",
                    allocation.id, gpu.node
                ))
            })?;
            let mig = match (gpu.mig_first_slice, gpu.mig_slices) {
                (Some(first), Some(slices)) => Some((
                    first,
                    MigProfile::from_slices(slices).ok_or_else(|| {
                        SchedulerError::Invariant(format!("no MIG profile of {slices} slices"))
                    })?,
                )),
                _ => None,
            };
            Ok(GpuSlot {
                node,
                gpu: gpu.gpu_index,
                mig,
            })
        })
        .collect::<Result<_, SchedulerError>>()?;
    Ok(LiveAllocation {
        id: allocation.id.clone(),
        tenant: allocation.tenant.clone(),
        sku: allocation.sku.clone(),
        class: allocation
            .class
            .parse()
            .map_err(|error| SchedulerError::Invariant(format!("{error}")))?,
        priority: allocation.priority,
        started_at: allocation.started_at,
        slots,
    })
}

impl Scheduler {
    /// Builds the state from configuration and Postgres: node states, running allocations and
    /// the ledger figures.
    pub async fn start(config: &Config, pool: PgPool) -> Result<Self, SchedulerError> {
        gpubill_platform::metrics::registry();
        metrics::describe();
        let mut cluster = inventory::cluster_state(&config.cluster)
            .map_err(|error| SchedulerError::Invariant(format!("cluster.toml: {error}")))?;
        let mut static_units: HashMap<(String, String), u32> = HashMap::new();
        for allocation in cluster.allocations() {
            if allocation.id.starts_with(STATIC_PREFIX) {
                *static_units
                    .entry((allocation.tenant.clone(), allocation.sku.clone()))
                    .or_default() += u32::try_from(allocation.slots.len()).unwrap_or(u32::MAX);
            }
        }
        let url = config.settings.database.url.clone();
        let leadership = tokio::task::spawn_blocking(move || Leadership::acquire(&url))
            .await
            .map_err(|error| SchedulerError::Invariant(format!("lock task: {error}")))??;
        if leadership.is_none() {
            tracing::warn!(
                "another gpubill api runs the scheduler on this database: serving reads only; allocations, releases, node states and quota checks answer 503 scheduler_unavailable"
            );
        }
        let (node_states, running) = with_conn(&pool, |conn| {
            Ok::<_, SchedulerError>((store::load_node_states(conn)?, store::load_running(conn)?))
        })
        .await?;
        for (node, code) in node_states {
            let state = NodeState::from_code(&code).ok_or_else(|| {
                SchedulerError::Invariant(format!("node {node} has state {code}"))
            })?;
            if cluster.node_index(&node).is_some() {
                cluster.set_node_state(&node, state)?;
            }
        }
        let quotas = config
            .cluster
            .tenants
            .iter()
            .map(|tenant| {
                (
                    tenant.id.clone(),
                    QuotaLimits {
                        concurrent: tenant.quota.concurrent.clone(),
                        gpu_hours_per_month: tenant.quota.gpu_hours_per_month,
                        budget_per_month: tenant.quota.budget_per_month,
                    },
                )
            })
            .collect();
        let scheduler = Self {
            shared: Arc::new(Shared {
                pool,
                price_book: Arc::new(config.price_book.clone()),
                settings: config.settings.scheduler.clone(),
                quotas,
                time_zones: config
                    .cluster
                    .tenants
                    .iter()
                    .map(|tenant| (tenant.id.clone(), tenant.time_zone))
                    .collect(),
                writer: tokio::sync::Mutex::new(()),
                leadership: std::sync::Mutex::new(leadership),
                state: RwLock::new(Decisions {
                    cluster,
                    running: BTreeMap::new(),
                    by_tenant: HashMap::new(),
                    static_units,
                    ledger: LedgerView::default(),
                    published_units: BTreeSet::new(),
                }),
            }),
        };
        {
            let mut state = scheduler.write();
            for allocation in running {
                let unit_price = scheduler.unit_price_at(&allocation)?;
                state.apply_created(allocation, unit_price)?;
            }
            state
                .cluster
                .check_invariants()
                .map_err(SchedulerError::Invariant)?;
            tracing::info!(
                running = state.running.len(),
                free_gpus = state.cluster.free_gpus(),
                "scheduler state rebuilt from Postgres"
            );
        }
        scheduler.refresh_ledger().await?;
        Ok(scheduler)
    }

    /// Whether this instance runs the scheduler's decisions.
    pub fn is_leader(&self) -> bool {
        self.leadership_slot().is_some()
    }

    fn leadership_slot(&self) -> std::sync::MutexGuard<'_, Option<Leadership>> {
        // The slot only ever holds the lock or nothing; a panic cannot leave it half-changed.
        self.shared
            .leadership
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Refuses a decision on an instance that does not hold the scheduler's lock.
    fn require_leader(&self) -> Result<(), SchedulerError> {
        if self.is_leader() {
            Ok(())
        } else {
            Err(SchedulerError::NotLeader)
        }
    }

    /// Checks that the lock is still held; if its connection broke, the lock went with it, so
    /// this instance stops deciding (another may have taken over) and says so.
    fn check_leadership(&self) {
        let mut slot = self.leadership_slot();
        if slot.as_ref().is_some_and(|lock| !lock.still_held()) {
            *slot = None;
            tracing::error!(
                alarm = "scheduler_lock_lost",
                "the scheduler's lock in Postgres was lost: this instance no longer allocates; restart it"
            );
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Decisions> {
        // A poisoned lock means a panic while applying a decision that Postgres already holds:
        // the state is still the last consistent one, as every apply checks before it changes.
        self.shared
            .state
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Decisions> {
        self.shared
            .state
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Runs the ledger refresh and the expiry of allocations past their maximum duration until
    /// `shutdown`.
    pub fn spawn_background(&self, shutdown: Shutdown) {
        let refresh = Duration::from_millis(self.shared.settings.ledger_refresh_ms);
        let scheduler = self.clone();
        let mut stop = shutdown.clone();
        tokio::spawn(async move {
            while !stop.is_triggered() {
                if let Err(error) = scheduler.refresh_ledger().await {
                    tracing::warn!(%error, "ledger figures not refreshed");
                }
                tokio::select! {
                    _ = tokio::time::sleep(refresh) => {}
                    _ = stop.triggered() => {}
                }
            }
        });
        let expiry = Duration::from_millis(self.shared.settings.expiry_check_ms);
        let scheduler = self.clone();
        let mut stop = shutdown;
        tokio::spawn(async move {
            while !stop.is_triggered() {
                match scheduler.expire_due(Utc::now()).await {
                    Ok(0) => {}
                    Ok(expired) => {
                        tracing::info!(expired, "allocations reached their maximum duration")
                    }
                    Err(error) => tracing::warn!(%error, "expiry failed; retried"),
                }
                tokio::select! {
                    _ = tokio::time::sleep(expiry) => {}
                    _ = stop.triggered() => {}
                }
            }
        });
    }

    /// The tenant's current month in its time zone, as the ledger keys it.
    fn period_of(&self, tenant: &str, now: DateTime<Utc>) -> NaiveDate {
        let zone = self
            .shared
            .time_zones
            .get(tenant)
            .copied()
            .unwrap_or(DEFAULT_TIME_ZONE);
        BillingPeriod::containing_in(now, zone).first_day()
    }

    fn unit_price(
        &self,
        sku: &str,
        class: PriceClass,
        at: DateTime<Utc>,
    ) -> Result<Decimal, SchedulerError> {
        let version = self
            .shared
            .price_book
            .sku(sku)
            .and_then(|prices| prices.version_at(at))
            .ok_or_else(|| {
                SchedulerError::invalid(
                    ErrorCode::NoPrice,
                    format!("SKU `{sku}` has no price in force at {at}"),
                )
            })?;
        Ok(version.price(class))
    }

    fn unit_price_at(&self, allocation: &Allocation) -> Result<Decimal, SchedulerError> {
        let class = allocation
            .class
            .parse()
            .map_err(|error| SchedulerError::Invariant(format!("{error}")))?;
        self.unit_price(&allocation.sku, class, allocation.started_at)
    }

    fn parse(
        &self,
        request: &AllocationRequest,
        now: DateTime<Utc>,
    ) -> Result<Parsed, SchedulerError> {
        if !self.shared.quotas.contains_key(&request.tenant) {
            return Err(SchedulerError::UnknownTenant(request.tenant.clone()));
        }
        if !self.shared.price_book.contains_sku(&request.sku) {
            return Err(SchedulerError::invalid(
                ErrorCode::UnknownSku,
                format!("SKU `{}` is not in the price book", request.sku),
            ));
        }
        let class: PriceClass = match &request.class {
            None => PriceClass::OnDemand,
            Some(code) => code.parse().map_err(|error| {
                SchedulerError::invalid(ErrorCode::InvalidClass, format!("{error}"))
            })?,
        };
        if request.gpus == 0 {
            return Err(SchedulerError::invalid(
                ErrorCode::InvalidGpus,
                "gpus must be at least 1",
            ));
        }
        let longest = self.shared.settings.max_duration_hours * 3600;
        if !(1..=longest).contains(&request.max_duration_seconds) {
            return Err(SchedulerError::invalid(
                ErrorCode::InvalidMaxDuration,
                format!("max_duration_seconds must be within 1..={longest}"),
            ));
        }
        if request.priority != 0 && class != PriceClass::Spot {
            return Err(SchedulerError::invalid(
                ErrorCode::InvalidPriority,
                "only spot allocations have a priority",
            ));
        }
        if let Some(key) = &request.idempotency_key
            && (key.is_empty() || key.len() > 128)
        {
            return Err(SchedulerError::invalid(
                ErrorCode::InvalidIdempotencyKey,
                "idempotency_key must be 1..=128 characters",
            ));
        }
        Ok(Parsed {
            class,
            unit_price: self.unit_price(&request.sku, class, now)?,
        })
    }

    fn ask(request: &AllocationRequest, parsed: &Parsed) -> AdmissionAsk {
        AdmissionAsk {
            sku: request.sku.clone(),
            units: request.gpus,
            max_duration_seconds: request.max_duration_seconds,
            unit_price: parsed.unit_price,
        }
    }

    fn placement_request(request: &AllocationRequest, class: PriceClass) -> PlacementRequest {
        PlacementRequest {
            tenant: request.tenant.clone(),
            sku: request.sku.clone(),
            count: request.gpus,
            class,
        }
    }

    /// Answers whether the request would be admitted now, without allocating and without
    /// reading Postgres: the state in memory and the ledger figures as last refreshed.
    pub fn check(&self, request: &AllocationRequest) -> Result<QuotaCheck, SchedulerError> {
        self.require_leader()?;
        let now = Utc::now();
        let parsed = self.parse(request, now)?;
        let limits = &self.shared.quotas[&request.tenant];
        let state = self.read();
        let load = state.tenant_load(&request.tenant, self.period_of(&request.tenant, now));
        let ledger_as_of = state.ledger.read_at;
        Ok(match admit(limits, &load, &Self::ask(request, &parsed)) {
            Ok(admission) => QuotaCheck {
                admitted: true,
                gpu_hours: Some(admission.gpu_hours),
                hold: Some(admission.hold),
                placeable: Some(
                    state
                        .cluster
                        .place_or_preempt(&Self::placement_request(request, parsed.class))
                        .is_ok(),
                ),
                refusal: None,
                ledger_as_of,
            },
            Err(refusal) => {
                metrics::quota_refused(refusal.reason.code(), Call::Check);
                QuotaCheck {
                    admitted: false,
                    gpu_hours: None,
                    hold: None,
                    placeable: None,
                    refusal: Some(QuotaVerdict::from(&refusal)),
                    ledger_as_of,
                }
            }
        })
    }

    /// Admits, places (preempting spot allocations for an on-demand request if needed) and
    /// records a new allocation; acknowledged only once Postgres holds it.
    pub async fn allocate(&self, request: AllocationRequest) -> Result<Created, SchedulerError> {
        self.require_leader()?;
        let _writer = self.shared.writer.lock().await;
        // Postgres keeps microseconds: the acknowledged allocation is what a restart reads back.
        let now = Utc::now().trunc_subsecs(6);
        let parsed = self.parse(&request, now)?;
        let id = match &request.idempotency_key {
            Some(key) => Uuid::new_v5(
                &SCHEDULER_NAMESPACE,
                format!("allocation/{}/{key}", request.tenant).as_bytes(),
            ),
            None => Uuid::new_v4(),
        }
        .to_string();
        if request.idempotency_key.is_some() {
            let lookup = id.clone();
            let existing = with_conn(&self.shared.pool, move |conn| {
                store::load_allocation(conn, &lookup)
            })
            .await?;
            if let Some(existing) = existing {
                let same = existing.tenant == request.tenant
                    && existing.sku == request.sku
                    && existing.class == parsed.class.code()
                    && existing.gpus == request.gpus
                    && existing.max_duration_seconds == request.max_duration_seconds
                    && existing.priority == request.priority;
                if !same {
                    return Err(SchedulerError::IdempotencyKeyReused {
                        key: request.idempotency_key.clone().unwrap_or_default(),
                        allocation: existing.id,
                    });
                }
                return Ok(Created {
                    allocation: existing,
                    replayed: true,
                });
            }
        }
        // Admission reads the ledger fresh: the figures quota checks use may be a moment old.
        self.refresh_ledger().await?;

        let limits = &self.shared.quotas[&request.tenant];
        let (allocation, victims) = {
            let state = self.read();
            let load = state.tenant_load(&request.tenant, self.period_of(&request.tenant, now));
            let placing = std::time::Instant::now();
            let placement = state
                .cluster
                .place_or_preempt(&Self::placement_request(&request, parsed.class));
            metrics::placement_took(placing.elapsed());
            // A request no cluster state could place is refused as such before any quota.
            if let Err(error) = &placement
                && !matches!(error, PlacementError::NoCapacity { .. })
            {
                return Err(SchedulerError::Placement(error.clone()));
            }
            let admission =
                admit(limits, &load, &Self::ask(&request, &parsed)).map_err(|refusal| {
                    metrics::quota_refused(refusal.reason.code(), Call::Allocation);
                    SchedulerError::Quota(refusal)
                })?;
            let placement = placement.map_err(SchedulerError::Placement)?;
            let nodes = state.cluster.nodes();
            let gpus = placement
                .slots
                .iter()
                .map(|slot| {
                    let node = &nodes[slot.node as usize];
                    AllocatedGpu {
                        node: node.id.clone(),
                        gpu_index: slot.gpu,
                        gpu_uuid: node.gpu_uuids[usize::from(slot.gpu)].clone(),
                        mig_first_slice: slot.mig.map(|(first, _)| first),
                        mig_slices: slot.mig.map(|(_, profile)| profile.slices()),
                    }
                })
                .collect();
            let victims: Vec<(Allocation, Decimal)> = placement
                .preempt
                .iter()
                .map(|victim| {
                    state
                        .running
                        .get(victim)
                        .map(|running| (running.allocation.clone(), running.unit_price))
                        .ok_or_else(|| {
                            SchedulerError::Invariant(format!(
                                "preemption chose {victim}, which the scheduler does not run"
                            ))
                        })
                })
                .collect::<Result<_, _>>()?;
            let allocation = Allocation {
                id: id.clone(),
                tenant: request.tenant.clone(),
                idempotency_key: request.idempotency_key.clone(),
                sku: request.sku.clone(),
                class: parsed.class.code().to_owned(),
                priority: request.priority,
                gpus: request.gpus,
                max_duration_seconds: request.max_duration_seconds,
                started_at: now,
                max_end_at: now + chrono::Duration::seconds(request.max_duration_seconds),
                status: AllocationStatus::Running,
                ended_at: None,
                hold_amount: admission.hold,
                captured_amount: None,
                preempted_by: None,
                credit_amount: None,
                notice: None,
                placement: gpus,
            };
            (allocation, victims)
        };

        let credit_seconds =
            Decimal::from(self.shared.settings.preemption_credit_hours) * SECONDS_PER_HOUR;
        let endings = self
            .end_in_store(
                victims,
                AllocationStatus::Preempted,
                move |_| now,
                Some((id.clone(), credit_seconds)),
                Some(allocation.clone()),
            )
            .await?;
        let mut state = self.write();
        for ending in &endings {
            state.apply_ended(&ending.id);
            tracing::info!(
                allocation = %ending.id,
                tenant = %ending.tenant,
                by = %id,
                credit = ?ending.credit_amount,
                "spot allocation preempted"
            );
        }
        state.apply_created(allocation.clone(), parsed.unit_price)?;
        metrics::allocations_entered(AllocationStatus::Preempted, endings.len());
        metrics::allocations_entered(AllocationStatus::Running, 1);
        debug_assert!(state.cluster.check_invariants().is_ok());
        tracing::info!(
            allocation = %allocation.id,
            tenant = %allocation.tenant,
            sku = %allocation.sku,
            gpus = allocation.gpus,
            class = %allocation.class,
            hold = %allocation.hold_amount,
            "allocated"
        );
        Ok(Created {
            allocation,
            replayed: false,
        })
    }

    /// Ends `victims` in Postgres (capturing their metered cost, crediting preemptions) and,
    /// with them, inserts `created` if given, all in one transaction.
    async fn end_in_store(
        &self,
        victims: Vec<(Allocation, Decimal)>,
        status: AllocationStatus,
        ended_at: impl Fn(&Allocation) -> DateTime<Utc> + Send + 'static,
        preempted_by: Option<(String, Decimal)>,
        created: Option<Allocation>,
    ) -> Result<Vec<Ending>, SchedulerError> {
        with_conn(&self.shared.pool, move |conn| {
            use diesel::Connection;
            conn.transaction(|conn| {
                let ids: Vec<String> = victims
                    .iter()
                    .map(|(victim, _)| victim.id.clone())
                    .collect();
                let metered = store::metered_seconds(conn, &ids)?;
                let endings: Vec<Ending> = victims
                    .iter()
                    .map(|(victim, unit_price)| {
                        let end = ended_at(victim);
                        let seconds = metered.get(&victim.id).copied().unwrap_or_default();
                        let captured = cost(seconds, *unit_price).min(victim.hold_amount);
                        // The preemption policy: a fixed number of hours of the preempted
                        // GPUs at the price the allocation paid (docs/scheduler.md).
                        let credit = preempted_by.as_ref().map(|(_, credit_seconds)| {
                            cost(Decimal::from(victim.gpus) * *credit_seconds, *unit_price)
                        });
                        Ending {
                            id: victim.id.clone(),
                            tenant: victim.tenant.clone(),
                            status,
                            ended_at: end,
                            captured_amount: captured,
                            preempted_by: preempted_by.as_ref().map(|(by, _)| by.clone()),
                            credit_amount: credit,
                        }
                    })
                    .collect();
                match &created {
                    Some(allocation) => store::insert_allocation(conn, allocation, &endings)?,
                    None => {
                        for ending in &endings {
                            store::end(conn, ending)?;
                        }
                    }
                }
                Ok(endings)
            })
        })
        .await
    }

    /// Releases a running allocation now, capturing what it metered. With `tenant`, only an
    /// allocation of that tenant: another's is answered as unknown.
    pub async fn release(
        &self,
        id: &str,
        tenant: Option<&str>,
    ) -> Result<Allocation, SchedulerError> {
        self.require_leader()?;
        let _writer = self.shared.writer.lock().await;
        let visible = |allocation: &Allocation| tenant.is_none_or(|t| allocation.tenant == t);
        let running = self
            .read()
            .running
            .get(id)
            .filter(|running| visible(&running.allocation))
            .map(|running| (running.allocation.clone(), running.unit_price));
        let Some((allocation, unit_price)) = running else {
            return match self.get(id).await? {
                Some(stored) if visible(&stored) => Err(SchedulerError::NotRunning {
                    id: id.to_owned(),
                    status: stored.status.code().to_owned(),
                }),
                _ => Err(SchedulerError::UnknownAllocation(id.to_owned())),
            };
        };
        let now = Utc::now().trunc_subsecs(6);
        self.end_in_store(
            vec![(allocation, unit_price)],
            AllocationStatus::Released,
            move |_| now,
            None,
            None,
        )
        .await?;
        self.write().apply_ended(id);
        metrics::allocations_entered(AllocationStatus::Released, 1);
        tracing::info!(allocation = %id, "released");
        self.get(id)
            .await?
            .ok_or_else(|| SchedulerError::UnknownAllocation(id.to_owned()))
    }

    /// Ends every allocation whose maximum duration has passed at `now`, at its maximum end.
    pub async fn expire_due(&self, now: DateTime<Utc>) -> Result<usize, SchedulerError> {
        let scheduler = self.clone();
        // A query on the lock's own connection: blocking, so off the async threads.
        tokio::task::spawn_blocking(move || scheduler.check_leadership())
            .await
            .map_err(|error| SchedulerError::Invariant(format!("lock check task: {error}")))?;
        if !self.is_leader() {
            return Ok(0);
        }
        let _writer = self.shared.writer.lock().await;
        let due: Vec<(Allocation, Decimal)> = self
            .read()
            .running
            .values()
            .filter(|running| running.allocation.max_end_at <= now)
            .map(|running| (running.allocation.clone(), running.unit_price))
            .collect();
        if due.is_empty() {
            return Ok(0);
        }
        let endings = self
            .end_in_store(
                due,
                AllocationStatus::Expired,
                |allocation| allocation.max_end_at,
                None,
                None,
            )
            .await?;
        let mut state = self.write();
        for ending in &endings {
            state.apply_ended(&ending.id);
        }
        metrics::allocations_entered(AllocationStatus::Expired, endings.len());
        Ok(endings.len())
    }

    /// Drains, marks down or readies a node.
    pub async fn set_node_state(&self, node: &str, state: NodeState) -> Result<(), SchedulerError> {
        self.require_leader()?;
        let _writer = self.shared.writer.lock().await;
        if self.read().cluster.node_index(node).is_none() {
            return Err(SchedulerError::UnknownNode(node.to_owned()));
        }
        let (id, code) = (node.to_owned(), state.code());
        with_conn(&self.shared.pool, move |conn| {
            store::set_node_state(conn, &id, code)
        })
        .await?;
        self.write().cluster.set_node_state(node, state)?;
        tracing::info!(node, state = code, "node state changed");
        Ok(())
    }

    pub async fn get(&self, id: &str) -> Result<Option<Allocation>, SchedulerError> {
        if let Some(running) = self.read().running.get(id) {
            return Ok(Some(running.allocation.clone()));
        }
        let id = id.to_owned();
        with_conn(&self.shared.pool, move |conn| {
            store::load_allocation(conn, &id)
        })
        .await
    }

    /// A tenant's allocations, newest first, after `after` (the start and id of the last one
    /// of the previous page), at most `limit`.
    pub async fn list(
        &self,
        tenant: &str,
        status: Option<AllocationStatus>,
        after: Option<(DateTime<Utc>, String)>,
        limit: i64,
    ) -> Result<Vec<Allocation>, SchedulerError> {
        if !self.shared.quotas.contains_key(tenant) {
            return Err(SchedulerError::UnknownTenant(tenant.to_owned()));
        }
        let tenant = tenant.to_owned();
        with_conn(&self.shared.pool, move |conn| {
            store::list_allocations(conn, &tenant, status, after, limit)
        })
        .await
    }

    /// What a node's agent meters: allocations on the node running at or after `since`.
    pub async fn node_allocations(
        &self,
        node: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<Allocation>, SchedulerError> {
        if self.read().cluster.node_index(node).is_none() {
            return Err(SchedulerError::UnknownNode(node.to_owned()));
        }
        // An agent takes the answer as proof that what it lists as running was running when
        // the request was sent, and meters up to then. A decision already under way may have
        // ended an allocation at an earlier instant without having committed yet: wait for it
        // (the writer lock is fair, so this waits for the decisions queued before this request,
        // not for later ones), so the read below sees every end dated before the request.
        drop(self.shared.writer.lock().await);
        let node = node.to_owned();
        with_conn(&self.shared.pool, move |conn| {
            store::node_allocations(conn, &node, since)
        })
        .await
    }

    /// Re-reads spend, metered GPU-hours and the running allocations' metered seconds.
    pub async fn refresh_ledger(&self) -> Result<(), SchedulerError> {
        let now = Utc::now();
        // Every tenant's current month starts on or after this day, whatever its zone (zones are
        // within a day of UTC); each tenant's own month is picked when the figures are used.
        let since = BillingPeriod::containing(now - chrono::Duration::days(1)).first_day();
        let ids: Vec<String> = self.read().running.keys().cloned().collect();
        let (months, metered) = with_conn(&self.shared.pool, move |conn| {
            Ok::<_, SchedulerError>((
                store::month_figures(conn, since)?,
                store::metered_seconds(conn, &ids)?,
            ))
        })
        .await?;
        let mut state = self.write();
        // A slower read started earlier must not replace a fresher one.
        if state.ledger.read_at.is_none_or(|read_at| read_at <= now) {
            state.ledger = LedgerView {
                months,
                metered,
                read_at: Some(now),
            };
        }
        Ok(())
    }

    /// The tenant's standing at `now` from memory (no Postgres): 503 on an instance that does not
    /// run the scheduler, whose memory would be stale.
    pub fn standing(&self, tenant: &str, now: DateTime<Utc>) -> Result<Standing, SchedulerError> {
        self.require_leader()?;
        let limits = self
            .shared
            .quotas
            .get(tenant)
            .ok_or_else(|| SchedulerError::UnknownTenant(tenant.to_owned()))?
            .clone();
        let state = self.read();
        let load = state.tenant_load(tenant, self.period_of(tenant, now));
        let mut running = Vec::new();
        for id in state.by_tenant.get(tenant).into_iter().flatten() {
            if let Some(live) = state.running.get(id) {
                running.push(RunningRate {
                    units: live.allocation.gpus,
                    unit_price: live.unit_price,
                    until: Some(live.allocation.max_end_at),
                });
            }
        }
        let running_allocations = u32::try_from(running.len())
            .map_err(|_| SchedulerError::Invariant("more running allocations than u32".into()))?;
        for allocation in state.cluster.allocations() {
            if allocation.tenant == tenant && allocation.id.starts_with(STATIC_PREFIX) {
                running.push(RunningRate {
                    units: u32::try_from(allocation.slots.len()).map_err(|_| {
                        SchedulerError::Invariant("a static allocation of 2^32 GPUs".into())
                    })?,
                    unit_price: self.unit_price(&allocation.sku, allocation.class, now)?,
                    until: None,
                });
            }
        }
        Ok(Standing {
            limits,
            load,
            running,
            running_allocations,
            ledger_as_of: state.ledger.read_at,
        })
    }

    /// The decision state: running allocations by id, node states, free GPUs.
    pub fn snapshot(&self) -> StateSnapshot {
        let state = self.read();
        StateSnapshot {
            running: state
                .running
                .values()
                .map(|running| running.allocation.clone())
                .collect(),
            node_states: state
                .cluster
                .nodes()
                .iter()
                .enumerate()
                .map(|(index, node)| {
                    (
                        node.id.clone(),
                        state.cluster.node_state(index as u32).code(),
                    )
                })
                .collect(),
            free_gpus: state.cluster.free_gpus(),
        }
    }
}
