//! Runs the simulation against a clock and produces its events: paced by a speed factor (a
//! simulated hour can pass in a second) or as fast as the broker takes them.

use crate::simulation::Simulation;
use chrono::{DateTime, Utc};
use gpubill_platform::Shutdown;
use gpubill_platform::config::{AgentSettings, Cluster, KafkaSettings};
use gpubill_platform::kafka::{DeliveredOffsets, producer_config};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Which simulated time to meter, and how fast.
#[derive(Debug, Clone, Copy)]
pub struct RunWindow {
    /// First instant metered; intervals starting before it are not emitted.
    pub from: DateTime<Utc>,
    /// Last instant metered, or run until shut down.
    pub until: Option<DateTime<Utc>>,
    /// Simulated seconds per wall second; 0 means as fast as possible.
    pub speed: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AgentReport {
    pub events: u64,
    pub elapsed: Duration,
    /// Where the acknowledged events ended, per partition.
    pub delivered: DeliveredOffsets,
}

impl AgentReport {
    pub fn events_per_second(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("Kafka client error: {0}")]
    Kafka(#[from] KafkaError),
    #[error("the broker did not acknowledge an event: {0}")]
    Delivery(KafkaError),
    #[error("an event's delivery report was lost (producer dropped)")]
    DeliveryCancelled,
}

/// Produces the usage of `cluster`'s allocations (only `node`'s, if given) for `window`.
/// Returns after `window.until` once every event is acknowledged, or on shutdown after the
/// events already produced are acknowledged.
pub async fn run(
    kafka: &KafkaSettings,
    agent: &AgentSettings,
    cluster: &Cluster,
    node: Option<&str>,
    window: RunWindow,
    shutdown: Shutdown,
) -> Result<AgentReport, AgentError> {
    let producer: FutureProducer = producer_config(kafka, "gpubill-agent").create()?;
    let mut simulation = Simulation::new(cluster, agent.interval_seconds, node, window.from);
    tracing::info!(gpus = simulation.gpu_count(), from = %window.from, until = ?window.until, speed = window.speed, "agent metering");

    let started = Instant::now();
    let mut in_flight: VecDeque<DeliveryFuture> = VecDeque::new();
    let mut events = Vec::new();
    let mut produced: u64 = 0;
    let mut delivered = DeliveredOffsets::default();
    let mut shutdown_wait = shutdown.clone();

    while let Some(due) = simulation.next_due() {
        if window.until.is_some_and(|until| due > until) || shutdown.is_triggered() {
            break;
        }
        if window.speed > 0.0 {
            let simulated = (due - window.from).to_std().unwrap_or_default();
            let target = started + simulated.div_f64(window.speed);
            tokio::select! {
                _ = tokio::time::sleep_until(target.into()) => {}
                _ = shutdown_wait.triggered() => break,
            }
        }
        simulation.emit_until(due, &mut events);
        for event in events.drain(..) {
            let payload = event.encode();
            let mut record = FutureRecord::to(&kafka.usage_topic)
                .key(event.partition_key())
                .payload(&payload);
            loop {
                match producer.send_result(record) {
                    Ok(delivery) => {
                        in_flight.push_back(delivery);
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                        record = returned;
                        await_oldest(&mut in_flight, &mut delivered).await?;
                        if in_flight.is_empty() {
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                    }
                    Err((error, _)) => return Err(AgentError::Kafka(error)),
                }
            }
            produced += 1;
            while in_flight.len() >= agent.max_in_flight {
                await_oldest(&mut in_flight, &mut delivered).await?;
            }
        }
    }
    while !in_flight.is_empty() {
        await_oldest(&mut in_flight, &mut delivered).await?;
    }
    producer.flush(Duration::from_secs(30))?;
    let report = AgentReport {
        events: produced,
        elapsed: started.elapsed(),
        delivered,
    };
    tracing::info!(
        events = report.events,
        elapsed_ms = report.elapsed.as_millis() as u64,
        "agent done"
    );
    Ok(report)
}

async fn await_oldest(
    in_flight: &mut VecDeque<DeliveryFuture>,
    delivered: &mut DeliveredOffsets,
) -> Result<(), AgentError> {
    let Some(delivery) = in_flight.pop_front() else {
        return Ok(());
    };
    match delivery.await {
        Ok(Ok(delivery)) => {
            delivered.record(delivery.partition, delivery.offset);
            Ok(())
        }
        Ok(Err((error, _))) => Err(AgentError::Delivery(error)),
        Err(_) => Err(AgentError::DeliveryCancelled),
    }
}
