//! Pieces `demo` and `bench` share: where metering of the configured cluster starts, and an
//! aggregator run in this process until the ledger has committed what a producer delivered.

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use gpubill_aggregator::{AggregatorError, AggregatorStats, uncommitted};
use gpubill_platform::config::{Cluster, Config};
use gpubill_platform::db::PgPool;
use gpubill_platform::kafka::DeliveredOffsets;
use gpubill_platform::{Shutdown, ShutdownTrigger, shutdown};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// How often the ledger's committed offsets are compared with what was delivered.
const CATCH_UP_POLL: Duration = Duration::from_millis(50);

/// The earliest allocation start of `cluster`: the first instant worth metering.
pub fn metering_start(cluster: &Cluster) -> Result<DateTime<Utc>> {
    cluster
        .allocations
        .iter()
        .map(|allocation| allocation.started_at)
        .min()
        .context("cluster.toml lists no allocation to meter")
}

/// `gpubill_aggregator::run` on a task of this runtime, with counters readable while it runs.
pub struct InProcessAggregator {
    pub stats: Arc<AggregatorStats>,
    trigger: ShutdownTrigger,
    /// `None` once the task's outcome has been reported.
    task: Option<JoinHandle<Result<(), AggregatorError>>>,
    forward_stop: JoinHandle<()>,
}

impl InProcessAggregator {
    /// Starts the aggregator of `config` on `pool`. It stops when `stop` is triggered or on
    /// [`InProcessAggregator::stop`], whichever comes first.
    pub fn start(config: &Config, pool: PgPool, stop: &Shutdown) -> Self {
        let (trigger, own_stop) = shutdown::channel();
        let forward_stop = {
            let (mut stop, trigger) = (stop.clone(), trigger.clone());
            tokio::spawn(async move {
                stop.triggered().await;
                trigger.trigger();
            })
        };
        let stats = Arc::new(AggregatorStats::default());
        let task = {
            let (config, stats) = (config.clone(), stats.clone());
            tokio::spawn(
                async move { gpubill_aggregator::run(&config, pool, stats, own_stop).await },
            )
        };
        let task = Some(task);
        Self {
            stats,
            trigger,
            task,
            forward_stop,
        }
    }

    /// Waits until the ledger of `pool` has committed every record of the usage topic that
    /// `delivered` covers. Fails if the aggregator stops first, after `timeout`, or on `stop`.
    pub async fn wait_caught_up(
        &mut self,
        config: &Config,
        pool: &PgPool,
        delivered: &DeliveredOffsets,
        timeout: Duration,
        stop: &Shutdown,
    ) -> Result<()> {
        let started = Instant::now();
        loop {
            if let Some(task) = self.task.take_if(|task| task.is_finished()) {
                return match task.await {
                    Ok(Err(error)) => Err(error).context("the aggregator stopped"),
                    _ => bail!("the aggregator stopped before the ledger caught up"),
                };
            }
            let lag = uncommitted(
                pool,
                &config.settings.aggregator.consumer_name,
                &config.settings.kafka.usage_topic,
                delivered,
            )
            .await?;
            if lag == 0 {
                return Ok(());
            }
            if started.elapsed() > timeout || stop.is_triggered() {
                bail!(
                    "the ledger is still {lag} records behind the broker after {:.1?}",
                    started.elapsed()
                );
            }
            tokio::time::sleep(CATCH_UP_POLL).await;
        }
    }

    /// Asks the aggregator to stop, as SIGTERM would, and waits until it has.
    pub async fn stop(self) -> Result<()> {
        self.trigger.trigger();
        self.forward_stop.abort();
        match self.task {
            None => Ok(()),
            Some(task) => match task.await {
                Ok(result) => result.context("the aggregator failed"),
                Err(error) => bail!("the aggregator task failed: {error}"),
            },
        }
    }
}
