//! Runs the simulation against a clock and delivers its events through the on-disk spool: paced
//! by a speed factor (a simulated hour can pass in a second) or as fast as the broker takes them.
//!
//! Every event is appended to the spool and fsync'd (a batch at a time) before it is produced, and
//! the spool's cursor advances only over events the broker acknowledged, in spool order. When a
//! delivery fails (the broker is unreachable for longer than `kafka.message_timeout_ms`), nothing
//! is dropped: the agent backs off and re-produces from the oldest unacknowledged event, one at a
//! time until the broker answers again, while metering goes on into the spool. A full spool
//! raises an alarm and pauses metering; the simulated clock is deterministic, so the paused
//! intervals are metered once there is room again.
//!
//! The allocations come from `cluster.toml`'s static list, on a simulated clock, or from the
//! scheduler (`follow`), on the wall clock.

use crate::follow::{Follower, PollError, PollOutcome};
use crate::metrics;
use crate::simulation::Simulation;
use crate::spool::{Spool, SpoolError};
use chrono::{DateTime, Utc};
use gpubill_platform::Shutdown;
use gpubill_platform::config::{AgentSettings, Cluster, KafkaSettings};
use gpubill_platform::kafka::{DeliveredOffsets, producer_config};
use rdkafka::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// Events metered and spooled together, with one fsync.
const SPOOL_BATCH: usize = 1000;
/// How long a shutdown waits for the broker to acknowledge the events in flight; whatever is
/// not acknowledged by then stays in the spool for the next start.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How often the spool's acknowledgement cursor is written while events flow (it is written
/// at once whenever a segment is deleted, and at exit).
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// Which simulated time to meter, and how fast.
#[derive(Debug, Clone, Copy)]
pub struct RunWindow {
    /// First instant metered; intervals starting before it are not emitted.
    pub from: DateTime<Utc>,
    /// Last instant metered, or run until shut down.
    pub until: Option<DateTime<Utc>>,
    /// Simulated seconds per wall second; 0 means as fast as possible. Not used when following
    /// the scheduler, whose allocations run on the wall clock.
    pub speed: f64,
}

/// Where the allocations the agent meters come from.
#[derive(Debug, Clone, Copy)]
pub enum AllocationSource<'a> {
    /// The static `[[allocation]]` list of `cluster.toml` (only `node`'s, if given), on a
    /// simulated clock: fixed workloads for tests and benchmarks.
    Static {
        cluster: &'a Cluster,
        node: Option<&'a str>,
    },
    /// The scheduler's allocations on `node`, asked from `agent.scheduler_url` every
    /// `agent.scheduler_poll_ms`, on the wall clock (see `follow`).
    Scheduler { node: &'a str },
}

#[derive(Debug, Clone, PartialEq)]
pub struct AgentReport {
    /// Events metered by this run, every one of them spooled before it was produced.
    pub events: u64,
    pub elapsed: Duration,
    /// Where the acknowledged events ended, per partition.
    pub delivered: DeliveredOffsets,
    pub spool: SpoolStats,
}

impl AgentReport {
    pub fn events_per_second(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// What the spool went through during a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpoolStats {
    /// Events appended to the spool by this run.
    pub spooled: u64,
    /// Unacknowledged events a previous run left in the spool; they are produced first.
    pub recovered: u64,
    /// Events produced again because a delivery failed at or before them.
    pub resent: u64,
    /// Delivery failures; each one rewinds to the oldest unacknowledged event.
    pub delivery_failures: u64,
    /// Times the spool was found full with events due: each one an alarm, metering paused.
    pub full_alarms: u64,
    /// Most events waiting in the spool for an acknowledgement at once.
    pub max_depth_events: u64,
    /// Most bytes the spool took on disk at once.
    pub max_depth_bytes: u64,
    /// Events left unacknowledged in the spool at exit (sent first by the next run).
    pub left_events: u64,
    pub left_bytes: u64,
}

impl SpoolStats {
    fn observe(&mut self, spool: &Spool) {
        metrics::observe(spool);
        self.max_depth_events = self.max_depth_events.max(spool.unacknowledged());
        self.max_depth_bytes = self.max_depth_bytes.max(spool.bytes());
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("Kafka client error: {0}")]
    Kafka(#[from] KafkaError),
    #[error("the producer refused an event: {0}")]
    Produce(KafkaError),
    #[error("agent spool: {0}")]
    Spool(#[from] SpoolError),
    #[error(
        "an agent that follows the scheduler needs a node key: set GPUBILL_AGENT_API_KEY (create one with `gpubill keys create --role node --node {node}`)"
    )]
    MissingApiKey { node: String },
    #[error("the API refused the agent's key (agent.api_key): {0}")]
    KeyRefused(PollError),
}

/// Produces the usage of `cluster`'s static allocations (only `node`'s, if given) for `window`:
/// [`run_source`] with [`AllocationSource::Static`].
pub async fn run(
    kafka: &KafkaSettings,
    agent: &AgentSettings,
    cluster: &Cluster,
    node: Option<&str>,
    window: RunWindow,
    shutdown: Shutdown,
) -> Result<AgentReport, AgentError> {
    run_source(
        kafka,
        agent,
        AllocationSource::Static { cluster, node },
        window,
        shutdown,
    )
    .await
}

/// Produces the usage of the allocations of `source` for `window`, through the spool in
/// `agent.spool_dir`. Events a previous run left unacknowledged are produced first. Returns after
/// `window.until` once every spooled event is acknowledged (following the scheduler: once a poll
/// sent after `window.until` has answered, too), or on shutdown once the events in flight are
/// acknowledged or `SHUTDOWN_GRACE` has passed; what is left stays in the spool.
pub async fn run_source(
    kafka: &KafkaSettings,
    agent: &AgentSettings,
    source: AllocationSource<'_>,
    window: RunWindow,
    shutdown: Shutdown,
) -> Result<AgentReport, AgentError> {
    gpubill_platform::metrics::registry();
    metrics::describe();
    if let AllocationSource::Scheduler { node } = &source
        && agent.api_key.is_empty()
    {
        return Err(AgentError::MissingApiKey {
            node: (*node).to_owned(),
        });
    }
    // The spool's file I/O is synchronous and runs on this task: appends are batched, fsync'd
    // once per batch, and nothing else waits on this task meanwhile.
    let (mut spool, recovery) = Spool::open(&agent.spool_dir, agent.spool_max_bytes)?;
    if recovery.unacknowledged > 0 || recovery.truncated_bytes > 0 {
        tracing::info!(
            spool_dir = %agent.spool_dir.display(),
            unacknowledged = recovery.unacknowledged,
            truncated_bytes = recovery.truncated_bytes,
            "agent spool recovered; producing its unacknowledged events first"
        );
    }
    let mut outbox = Outbox::new(kafka, agent, spool.acked());
    let (mut simulation, mut follower) = match source {
        AllocationSource::Static { cluster, node } => {
            let simulation = Simulation::new(cluster, agent.interval_seconds, node, window.from);
            tracing::info!(gpus = simulation.gpu_count(), from = %window.from, until = ?window.until, speed = window.speed, "agent metering");
            (simulation, None)
        }
        AllocationSource::Scheduler { node } => {
            tracing::info!(%node, scheduler = %agent.scheduler_url, poll_ms = agent.scheduler_poll_ms, from = %window.from, until = ?window.until, "agent metering the scheduler's allocations");
            (
                Simulation::empty(agent.interval_seconds, window.from),
                Some(Follower::new(agent, node, window.from)),
            )
        }
    };

    let started = Instant::now();
    let mut intake = Intake::default();
    let mut stats = SpoolStats {
        recovered: recovery.unacknowledged,
        ..SpoolStats::default()
    };
    let mut delivered = DeliveredOffsets::default();
    let mut metering_done = false;
    let mut stop_deadline: Option<Instant> = None;
    let mut shutdown_wait = shutdown.clone();
    let mut last_checkpoint = started;

    loop {
        let now = Instant::now();
        let mut wake = now + CHECKPOINT_EVERY;
        if stop_deadline.is_none() {
            if let Some(follower) = follower.as_mut().filter(|_| !metering_done)
                && let Some(next_poll) = follower.poll_if_due(now)
            {
                wake = wake.min(next_poll);
            }
            if intake.pending.is_empty() && !metering_done {
                let clock =
                    follower
                        .as_ref()
                        .map_or(Clock::Simulated, |follower| Clock::Following {
                            known_until: follower.known_until,
                        });
                match meter_due(
                    &mut simulation,
                    &window,
                    clock,
                    started,
                    now,
                    &spool,
                    outbox.next_send,
                    &mut intake,
                ) {
                    Metering::Done => metering_done = true,
                    Metering::At(target) => wake = wake.min(target),
                    Metering::WaitForProducer | Metering::WaitForScheduler => {}
                }
            }
            if !intake.pending.is_empty() {
                let spooled = intake.spool(&mut spool)?;
                metrics::spooled(spooled);
                stats.spooled += spooled;
                spool.sync()?;
            }
            stats.full_alarms = intake.alarms;
            stats.observe(&spool);
            outbox.check_brokers(&spool, &mut stats);
            outbox.send_ready(&mut spool, &mut stats)?;
            if let Some(retry_at) = outbox.retry_at {
                wake = wake.min(retry_at);
            }
            if metering_done && intake.pending.is_empty() && spool.unacknowledged() == 0 {
                break;
            }
        }
        if let Some(deadline) = stop_deadline {
            if outbox.in_flight.is_empty() || now >= deadline {
                break;
            }
            wake = wake.min(deadline);
        }
        if now >= last_checkpoint + CHECKPOINT_EVERY {
            spool.checkpoint()?;
            last_checkpoint = now;
        }

        let woken = tokio::select! {
            delivery = outbox.next_delivery() => Woken::Delivery(delivery),
            answer = follower_answer(&mut follower), if stop_deadline.is_none() => Woken::Answer(answer),
            _ = tokio::time::sleep_until(wake.into()) => Woken::Timer,
            _ = shutdown_wait.triggered(), if stop_deadline.is_none() => {
                stop_deadline = Some(Instant::now() + SHUTDOWN_GRACE);
                tracing::info!(in_flight = outbox.in_flight.len(), unacknowledged = spool.unacknowledged(), "agent stopping: metering stopped, waiting for the events in flight");
                Woken::Timer
            }
        };
        let delivery = match woken {
            Woken::Delivery(delivery) => Some(delivery),
            Woken::Answer((asked_at, outcome)) => {
                if let Some(follower) = follower.as_mut() {
                    follower
                        .apply(asked_at, outcome, &mut simulation)
                        .map_err(AgentError::KeyRefused)?;
                }
                None
            }
            Woken::Timer => None,
        };
        if let Some(delivery) = delivery {
            outbox.settle(delivery, &mut spool, &mut delivered, &mut stats)?;
            // Settle every report already in before going round the loop again.
            while let Some(delivery) = outbox.ready_delivery() {
                outbox.settle(delivery, &mut spool, &mut delivered, &mut stats)?;
            }
        }
    }

    spool.checkpoint()?;
    if !intake.pending.is_empty() {
        tracing::warn!(
            events = intake.pending.len(),
            "stopped while the spool was full: these intervals were metered but never spooled"
        );
    }
    stats.full_alarms = intake.alarms;
    stats.left_events = spool.unacknowledged();
    stats.left_bytes = spool.bytes();
    let report = AgentReport {
        events: stats.spooled,
        elapsed: started.elapsed(),
        delivered,
        spool: stats,
    };
    tracing::info!(
        events = report.events,
        elapsed_ms = report.elapsed.as_millis() as u64,
        spool_left_events = report.spool.left_events,
        spool_left_bytes = report.spool.left_bytes,
        resent = report.spool.resent,
        delivery_failures = report.spool.delivery_failures,
        spool_full_alarms = report.spool.full_alarms,
        "agent done"
    );
    Ok(report)
}

enum Metering {
    /// The window is metered.
    Done,
    /// The next interval ends at this wall-clock instant.
    At(Instant),
    /// Metering at full speed waits for the producer to catch up with the spool.
    WaitForProducer,
    /// Following the scheduler: what is due waits for a poll sent after it ended.
    WaitForScheduler,
}

/// What woke the agent's loop.
enum Woken {
    Delivery(DeliveryOutcome),
    Answer((DateTime<Utc>, PollOutcome)),
    Timer,
}

/// The answer of the follower's poll in flight; never resolves without one.
async fn follower_answer(follower: &mut Option<Follower>) -> (DateTime<Utc>, PollOutcome) {
    match follower.as_mut() {
        Some(follower) => follower.answer().await,
        None => std::future::pending().await,
    }
}

/// The clock metering follows.
#[derive(Debug, Clone, Copy)]
enum Clock {
    /// Simulated time: `window.from` when the run starts, `window.speed` times faster than wall
    /// time (0: as fast as possible).
    Simulated,
    /// The wall clock, and no further than the scheduler's last answer vouches for (`None`: no
    /// answer yet).
    Following { known_until: Option<DateTime<Utc>> },
}

/// Moves the intervals that are due into `intake`, at most a batch. At full speed (`speed == 0`)
/// a batch is metered only once the producer has taken everything spooled before (so batches,
/// and fsyncs, stay large) and only while the spool is at most half full, so that as fast as
/// possible never means filling the spool. Following the scheduler, an interval is due once it
/// has ended on the wall clock and a poll sent after its end has answered.
#[allow(clippy::too_many_arguments)] // the loop's state, passed apart for the borrow checker
fn meter_due(
    simulation: &mut Simulation,
    window: &RunWindow,
    clock: Clock,
    started: Instant,
    now: Instant,
    spool: &Spool,
    next_send: u64,
    intake: &mut Intake,
) -> Metering {
    let simulated = matches!(clock, Clock::Simulated);
    if simulated
        && window.speed == 0.0
        && (spool.end() > next_send || spool.bytes() > spool.max_bytes() / 2)
    {
        return Metering::WaitForProducer;
    }
    let mut events = Vec::new();
    while intake.pending.len() < SPOOL_BATCH {
        let due = simulation
            .next_due()
            .filter(|due| window.until.is_none_or(|until| *due <= until));
        match clock {
            Clock::Simulated => {
                let Some(due) = due else {
                    return Metering::Done;
                };
                if window.speed > 0.0 {
                    let simulated = (due - window.from).to_std().unwrap_or_default();
                    let target = started + simulated.div_f64(window.speed);
                    if target > now {
                        return Metering::At(target);
                    }
                }
                simulation.emit_until(due, &mut events);
            }
            Clock::Following { known_until } => {
                let Some(due) = due else {
                    // Nothing left before `until` once the scheduler has answered for all of it;
                    // until then, an allocation may still turn up.
                    let all_known = window
                        .until
                        .is_some_and(|until| known_until.is_some_and(|known| known >= until));
                    return if all_known {
                        Metering::Done
                    } else {
                        Metering::WaitForScheduler
                    };
                };
                let wall = Utc::now();
                if due > wall {
                    return Metering::At(now + (due - wall).to_std().unwrap_or_default());
                }
                if known_until.is_none_or(|known| due > known) {
                    return Metering::WaitForScheduler;
                }
                simulation.emit_until(due, &mut events);
            }
        }
        intake.pending.extend(
            events
                .drain(..)
                .map(|event| (event.partition_key().to_owned(), event.encode())),
        );
    }
    Metering::WaitForProducer
}

/// Metered events on their way into the spool, and the full-spool alarm.
#[derive(Debug, Default)]
struct Intake {
    /// Encoded events (partition key, payload) not yet spooled, oldest first.
    pending: VecDeque<(String, Vec<u8>)>,
    /// Metering is paused: the spool was full and the events waiting then are not all in yet.
    /// One alarm per pause, however often acknowledgements free a little room meanwhile.
    full: bool,
    /// Full-spool episodes so far.
    alarms: u64,
}

impl Intake {
    /// Appends as many pending events as fit and returns how many did. A full spool is an
    /// alarm, raised once per episode; the events stay pending (metering pauses meanwhile).
    fn spool(&mut self, spool: &mut Spool) -> Result<u64, SpoolError> {
        let mut appended = 0;
        while let Some((key, payload)) = self.pending.front() {
            if spool.try_append(key.as_bytes(), payload)?.is_none() {
                if !self.full {
                    self.full = true;
                    self.alarms += 1;
                    metrics::spool_full();
                    tracing::error!(
                        alarm = "agent_spool_full",
                        spool_dir = %spool.dir().display(),
                        spool_bytes = spool.bytes(),
                        spool_max_bytes = spool.max_bytes(),
                        unacknowledged = spool.unacknowledged(),
                        waiting = self.pending.len(),
                        "agent spool full: metering paused until the broker acknowledges events"
                    );
                }
                return Ok(appended);
            }
            self.pending.pop_front();
            appended += 1;
        }
        if self.full {
            self.full = false;
            tracing::warn!(
                spool_bytes = spool.bytes(),
                unacknowledged = spool.unacknowledged(),
                "agent spool has room again: metering resumed"
            );
        }
        Ok(appended)
    }
}

/// Tells the agent when its producer has lost every broker. What is in flight then can only time
/// out, or reach a restarted broker under a producer id it may no longer know; the agent gives up
/// on it at once instead and starts again from the spool with a new producer.
#[derive(Debug, Default)]
struct BrokerWatch {
    all_down: Arc<AtomicBool>,
}

impl ClientContext for BrokerWatch {
    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown) {
            self.all_down.store(true, Ordering::Relaxed);
        }
        // The agent's own warning follows when this costs it a delivery.
        tracing::debug!(%error, reason, "producer error");
    }
}

/// A delivery report, or `Err` if the producer dropped it.
type DeliveryOutcome = <DeliveryFuture as std::future::Future>::Output;

/// The delivery side: produces spooled events in spool order and settles their
/// acknowledgements in the same order.
struct Outbox<'a> {
    kafka: &'a KafkaSettings,
    /// Created right before it is first needed: a producer that produces at once has the
    /// topic's metadata in its first request; one that waits first gets it up to a second later.
    producer: Option<FutureProducer<BrokerWatch>>,
    /// The current producer's `BrokerWatch` flag.
    all_brokers_down: Arc<AtomicBool>,
    /// Spool positions in flight, oldest first, contiguous from the spool's cursor.
    in_flight: VecDeque<(u64, DeliveryFuture)>,
    max_in_flight: usize,
    /// Next spool position to produce.
    next_send: u64,
    /// One past the highest position produced by this run: below it, producing is re-sending.
    high_sent: u64,
    initial_backoff: Duration,
    max_backoff: Duration,
    backoff: Duration,
    /// No producing before this instant (after a failure).
    retry_at: Option<Instant>,
    /// After a failure, one event at a time until the broker acknowledges one again.
    probing: bool,
}

impl<'a> Outbox<'a> {
    fn new(kafka: &'a KafkaSettings, agent: &AgentSettings, first: u64) -> Self {
        let initial_backoff = Duration::from_millis(agent.retry_initial_ms);
        Self {
            kafka,
            producer: None,
            all_brokers_down: Arc::default(),
            in_flight: VecDeque::new(),
            max_in_flight: agent.max_in_flight,
            next_send: first,
            high_sent: first,
            initial_backoff,
            max_backoff: Duration::from_millis(agent.retry_max_ms),
            backoff: initial_backoff,
            retry_at: None,
            probing: false,
        }
    }

    /// Produces durable spooled events until the in-flight limit or the producer's queue is
    /// reached, unless backing off.
    fn send_ready(&mut self, spool: &mut Spool, stats: &mut SpoolStats) -> Result<(), AgentError> {
        if let Some(retry_at) = self.retry_at {
            if Instant::now() < retry_at {
                return Ok(());
            }
            self.retry_at = None;
        }
        let limit = if self.probing { 1 } else { self.max_in_flight };
        while self.in_flight.len() < limit && self.next_send < spool.durable_end() {
            let record = spool.read(self.next_send)?;
            let topic = &self.kafka.usage_topic;
            let sent = self.producer()?.send_result(
                FutureRecord::to(topic)
                    .key(&record.key)
                    .payload(&record.payload),
            );
            match sent {
                Ok(delivery) => {
                    if record.seq < self.high_sent {
                        stats.resent += 1;
                    }
                    self.in_flight.push_back((record.seq, delivery));
                    self.next_send += 1;
                    self.high_sent = self.high_sent.max(self.next_send);
                }
                // The queue drains as deliveries complete; they wake the agent.
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::Fatal), _)) => {
                    self.rewind(&"the producer hit a fatal error", spool, stats);
                    break;
                }
                Err((error, _)) => return Err(AgentError::Produce(error)),
            }
        }
        Ok(())
    }

    fn producer(&mut self) -> Result<&FutureProducer<BrokerWatch>, KafkaError> {
        let producer = match self.producer.take() {
            Some(producer) => producer,
            None => {
                let watch = BrokerWatch::default();
                self.all_brokers_down = watch.all_down.clone();
                producer_config(self.kafka, "gpubill-agent").create_with_context(watch)?
            }
        };
        Ok(self.producer.insert(producer))
    }

    /// Gives up on what is in flight if the producer has lost every broker (see `BrokerWatch`).
    fn check_brokers(&mut self, spool: &Spool, stats: &mut SpoolStats) {
        if self.all_brokers_down.load(Ordering::Relaxed) && !self.in_flight.is_empty() {
            self.rewind(&"the producer lost every broker", spool, stats);
        }
    }

    /// The oldest in-flight delivery's outcome; never resolves when nothing is in flight.
    async fn next_delivery(&mut self) -> DeliveryOutcome {
        match self.in_flight.front_mut() {
            Some((_, delivery)) => delivery.await,
            None => std::future::pending().await,
        }
    }

    /// The oldest in-flight delivery's outcome if it is already known, without waiting.
    fn ready_delivery(&mut self) -> Option<DeliveryOutcome> {
        let (_, delivery) = self.in_flight.front_mut()?;
        let mut context = Context::from_waker(Waker::noop());
        match Pin::new(delivery).poll(&mut context) {
            Poll::Ready(outcome) => Some(outcome),
            Poll::Pending => None,
        }
    }

    /// Applies the outcome of the oldest in-flight delivery.
    fn settle(
        &mut self,
        outcome: DeliveryOutcome,
        spool: &mut Spool,
        delivered: &mut DeliveredOffsets,
        stats: &mut SpoolStats,
    ) -> Result<(), AgentError> {
        let Some((seq, _)) = self.in_flight.pop_front() else {
            return Ok(());
        };
        match outcome {
            Ok(Ok(delivery)) => {
                spool.ack(seq)?;
                delivered.record(delivery.partition, delivery.offset);
                if self.probing {
                    self.probing = false;
                    tracing::info!(
                        unacknowledged = spool.unacknowledged(),
                        "the broker acknowledges again: draining the spool"
                    );
                }
                self.backoff = self.initial_backoff;
            }
            Ok(Err((error, _))) => self.rewind(&error, spool, stats),
            Err(_) => self.rewind(&"the delivery report was lost", spool, stats),
        }
        Ok(())
    }

    /// A delivery failed: every event from the oldest unacknowledged one on stays in the spool
    /// and is produced again, by a new producer, after a backoff. What was in flight may still
    /// arrive; the aggregator drops the duplicates.
    fn rewind(&mut self, error: &dyn std::fmt::Display, spool: &Spool, stats: &mut SpoolStats) {
        stats.delivery_failures += 1;
        metrics::delivery_failed();
        tracing::warn!(
            %error,
            unacknowledged = spool.unacknowledged(),
            other_in_flight = self.in_flight.len(),
            backoff_ms = self.backoff.as_millis() as u64,
            "delivery failed: the events stay in the spool; re-sending from the oldest unacknowledged"
        );
        self.in_flight.clear();
        // A new producer (a new producer id) for the retries: the broker may have lost or fenced
        // the old one's idempotence state (a restarted broker answers its sequence numbers with
        // errors), and what the old one still holds would only arrive as duplicates. Dropping a
        // producer purges its queue and waits up to 500 ms for the reports: not on this task.
        if let Some(old) = self.producer.take() {
            tokio::task::spawn_blocking(move || drop(old));
        }
        self.next_send = spool.acked();
        self.retry_at = Some(Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(self.max_backoff);
        self.probing = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulation::tests::{at, cluster_with};
    use crate::spool::tests::TempDir;

    fn cluster() -> Cluster {
        cluster_with((0..8).collect())
    }

    /// Drives metering and spooling as `run` does, with a broker that acknowledges nothing until
    /// the spool is full, and then everything.
    #[test]
    fn a_full_spool_raises_one_alarm_per_episode_pauses_metering_and_drops_nothing() {
        let dir = TempDir::new();
        let (mut spool, _) = Spool::open(&dir.0, 256 << 10).unwrap();
        let window = RunWindow {
            from: at("2026-11-01T00:00:00Z"),
            until: Some(at("2026-11-01T01:00:00Z")),
            speed: 1.0,
        };
        let started = Instant::now();
        // Two simulated hours later on the wall clock: the whole window is due.
        let now = started + Duration::from_secs(7200);
        let mut simulation = Simulation::new(&cluster(), 10, None, window.from);
        let mut intake = Intake::default();
        let mut delivered = Vec::new();
        let mut episodes = 0;
        let mut done = false;
        while !(done && intake.pending.is_empty()) {
            if intake.pending.is_empty() {
                let end = spool.end();
                done = matches!(
                    meter_due(
                        &mut simulation,
                        &window,
                        Clock::Simulated,
                        started,
                        now,
                        &spool,
                        end,
                        &mut intake
                    ),
                    Metering::Done
                );
            }
            let was_full = intake.full;
            intake.spool(&mut spool).unwrap();
            spool.sync().unwrap();
            assert!(spool.bytes() <= spool.max_bytes());
            if intake.full {
                // An episode lasts until every waiting event is spooled (metering resumes).
                if !was_full {
                    episodes += 1;
                }
                // Still full on the next attempt: the same episode, no second alarm.
                intake.spool(&mut spool).unwrap();
                assert_eq!(intake.alarms, episodes);
                for seq in spool.acked()..spool.durable_end() {
                    delivered.push(spool.read(seq).unwrap().payload);
                    spool.ack(seq).unwrap();
                }
            }
        }
        for seq in spool.acked()..spool.durable_end() {
            delivered.push(spool.read(seq).unwrap().payload);
        }

        assert!(episodes >= 3, "the spool filled up {episodes} times");
        assert_eq!(intake.alarms, episodes);
        assert!(!intake.full);
        let mut expected = Vec::new();
        Simulation::new(&cluster(), 10, None, window.from)
            .emit_until(window.until.unwrap(), &mut expected);
        assert_eq!(expected.len(), 8 * 360);
        assert!(
            delivered == expected.iter().map(|e| e.encode()).collect::<Vec<_>>(),
            "every interval is spooled once, in order, despite the pauses"
        );
    }
}
