//! Integration-test harness: each test gets its own Postgres database and its own Kafka topics,
//! on the real servers named by `DATABASE_URL` and `KAFKA_BROKERS` (`make test` brings both up),
//! so tests run in parallel and leave nothing behind.

#![allow(dead_code)] // each test binary uses a different part of the harness
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use diesel::{Connection, PgConnection, RunQueryDsl};
use gpubill_aggregator::AggregatorStats;
use gpubill_platform::config::Config;
use gpubill_platform::db::{self, PgPool, with_conn};
use gpubill_platform::kafka::{DeliveredOffsets, client_config, ensure_topics, producer_config};
use gpubill_platform::{ShutdownTrigger, shutdown};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::OwnedMessage;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use rdkafka::{Message, Offset, TopicPartitionList};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run the integration tests with `make test`, which starts Postgres and the broker"))
}

/// A fresh database and fresh topics, configured through the real config loader.
pub struct TestEnv {
    pub config: Config,
    pub pool: PgPool,
    /// Where everything produced to the usage topic so far ended, per partition.
    delivered: Mutex<DeliveredOffsets>,
    admin_url: String,
    database: String,
}

impl TestEnv {
    pub async fn new() -> Self {
        Self::with_settings(&[]).await
    }

    /// `overrides` are settings environment variables, e.g. `("GPUBILL_AGGREGATOR_BATCH_MAX_EVENTS", "20")`.
    pub async fn with_settings(overrides: &[(&str, &str)]) -> Self {
        let admin_url = required_env("DATABASE_URL");
        let brokers = required_env("KAFKA_BROKERS");
        let id = uuid::Uuid::new_v4().simple().to_string();
        let database = format!("gpubill_test_{}", &id[..16]);
        let database_url = {
            let (base, _) = admin_url
                .rsplit_once('/')
                .expect("DATABASE_URL has a database name");
            format!("{base}/{database}")
        };
        {
            let mut admin = PgConnection::establish(&admin_url).expect("connect to DATABASE_URL");
            diesel::sql_query(format!("CREATE DATABASE \"{database}\""))
                .execute(&mut admin)
                .expect("create the test database");
        }
        let mut env: Vec<(String, String)> = vec![
            ("GPUBILL_DATABASE_URL".into(), database_url),
            ("GPUBILL_DATABASE_POOL_SIZE".into(), "4".into()),
            ("GPUBILL_KAFKA_BROKERS".into(), brokers),
            ("GPUBILL_KAFKA_USAGE_TOPIC".into(), format!("it-{id}-usage")),
            (
                "GPUBILL_KAFKA_DEAD_LETTER_TOPIC".into(),
                format!("it-{id}-dlq"),
            ),
        ];
        env.extend(
            overrides
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let config_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
        let config = Config::load_with_env(&config_dir, env).expect("test configuration is valid");

        let pool = db::pool(&config.settings.database).expect("pool");
        let tenants = config.cluster.tenants.clone();
        with_conn(&pool, move |conn| {
            db::migrate(conn)?;
            db::sync_tenants(conn, &tenants)
        })
        .await
        .expect("migrate the test database");
        let kafka = &config.settings.kafka;
        ensure_topics(kafka, &[&kafka.usage_topic, &kafka.dead_letter_topic])
            .await
            .expect("create the test topics");
        Self {
            config,
            pool,
            delivered: Mutex::default(),
            admin_url,
            database,
        }
    }

    pub async fn conn<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut PgConnection) -> T + Send + 'static,
    ) -> T {
        with_conn(&self.pool, move |conn| Ok::<_, db::DbError>(work(conn)))
            .await
            .expect("database connection")
    }

    /// Produces raw records to the usage topic and waits for every acknowledgement.
    pub async fn produce_raw(&self, records: &[(&str, Vec<u8>)]) {
        let kafka = &self.config.settings.kafka;
        let producer: FutureProducer = producer_config(kafka, "gpubill-test")
            .create()
            .expect("producer");
        let deliveries: Vec<_> = records
            .iter()
            .map(|(key, payload)| {
                producer.send(
                    FutureRecord::to(&kafka.usage_topic)
                        .key(*key)
                        .payload(payload),
                    Timeout::Never,
                )
            })
            .collect();
        let mut delivered = DeliveredOffsets::default();
        for delivery in deliveries {
            let delivery = delivery.await.expect("record acknowledged");
            delivered.record(delivery.partition, delivery.offset);
        }
        self.note_delivered(&delivered);
    }

    /// Records what another producer (the agent) had acknowledged.
    pub fn note_delivered(&self, delivered: &DeliveredOffsets) {
        self.delivered.lock().expect("lock").merge(delivered);
    }

    /// Reads `count` records of `topic` from the beginning (all partitions), or panics after 30 s.
    pub fn read_topic(&self, topic: &str, count: usize) -> Vec<OwnedMessage> {
        let kafka = &self.config.settings.kafka;
        let mut config = client_config(kafka, "gpubill-test-reader");
        config
            .set("group.id", "gpubill-test-reader")
            .set("enable.auto.commit", "false");
        let consumer: BaseConsumer = config.create().expect("consumer");
        let partitions =
            gpubill_platform::kafka::partition_count(&consumer, topic).expect("topic exists");
        let mut assignment = TopicPartitionList::new();
        for partition in 0..partitions {
            assignment
                .add_partition_offset(topic, partition, Offset::Beginning)
                .expect("assignment");
        }
        consumer.assign(&assignment).expect("assign");
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut messages = Vec::new();
        while messages.len() < count {
            assert!(
                Instant::now() < deadline,
                "only {} of {count} records on {topic}",
                messages.len()
            );
            if let Some(message) = consumer.poll(Duration::from_millis(100)) {
                messages.push(message.expect("record").detach());
            }
        }
        // Anything beyond `count` would be a bug too: look a little longer.
        let settle = Instant::now() + Duration::from_millis(500);
        while Instant::now() < settle {
            if let Some(message) = consumer.poll(Duration::from_millis(100)) {
                messages.push(message.expect("record").detach());
            }
        }
        messages
    }

    pub fn start_aggregator(&self) -> RunningAggregator {
        let (trigger, stop) = shutdown::channel();
        let stats = Arc::new(AggregatorStats::default());
        let (config, pool, task_stats) = (self.config.clone(), self.pool.clone(), stats.clone());
        let task =
            tokio::spawn(
                async move { gpubill_aggregator::run(&config, pool, task_stats, stop).await },
            );
        RunningAggregator {
            trigger,
            task,
            stats,
        }
    }

    /// Records produced but not committed to the ledger yet.
    pub async fn lag(&self) -> i64 {
        let delivered = self.delivered.lock().expect("lock").clone();
        let settings = &self.config.settings;
        gpubill_aggregator::uncommitted(
            &self.pool,
            &settings.aggregator.consumer_name,
            &settings.kafka.usage_topic,
            &delivered,
        )
        .await
        .expect("lag")
    }

    /// Waits until every record produced so far is committed to the ledger.
    pub async fn wait_caught_up(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.lag().await > 0 {
            assert!(
                Instant::now() < deadline,
                "the ledger did not catch up within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn start_api(&self) -> RunningApi {
        let state = gpubill_api::AppState::new(&self.config, self.pool.clone());
        let (server, address) = gpubill_api::bind(state, "127.0.0.1:0", 1).expect("bind the API");
        let handle = server.handle();
        tokio::spawn(server);
        RunningApi { address, handle }
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        if let Ok(mut admin) = PgConnection::establish(&self.admin_url) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.database
            ))
            .execute(&mut admin);
        }
    }
}

pub struct RunningAggregator {
    trigger: ShutdownTrigger,
    task: JoinHandle<Result<(), gpubill_aggregator::AggregatorError>>,
    pub stats: Arc<AggregatorStats>,
}

impl RunningAggregator {
    /// Asks the aggregator to stop, as SIGTERM would, and waits for it.
    pub async fn stop(self) -> gpubill_aggregator::StatsSnapshot {
        self.trigger.trigger();
        self.task
            .await
            .expect("aggregator task")
            .expect("aggregator result");
        self.stats.snapshot()
    }
}

pub struct RunningApi {
    pub address: SocketAddr,
    handle: gpubill_api::ServerHandle,
}

impl RunningApi {
    /// GETs `path` and returns the status and the JSON body, whatever the status.
    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let url = format!("http://{}{path}", self.address);
        tokio::task::spawn_blocking(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .into();
            let mut response = agent.get(&url).call().expect("HTTP request");
            let status = response.status().as_u16();
            let body = response
                .body_mut()
                .read_json::<serde_json::Value>()
                .expect("JSON body");
            (status, body)
        })
        .await
        .expect("HTTP task")
    }

    pub async fn stop(self) {
        self.handle.stop(true).await;
    }
}

/// A header of a record as text.
pub fn header(message: &OwnedMessage, name: &str) -> Option<String> {
    use rdkafka::message::Headers;
    let headers = message.headers()?;
    headers
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value.map(|v| String::from_utf8_lossy(v).into_owned()))
}

/// Rounds `numerator / denominator` (both positive) half-even to an integer, independently of
/// the domain crate's decimal code.
pub fn div_round_half_even(numerator: i128, denominator: i128) -> i128 {
    let quotient = numerator / denominator;
    let remainder = numerator % denominator;
    match (2 * remainder).cmp(&denominator) {
        std::cmp::Ordering::Less => quotient,
        std::cmp::Ordering::Greater => quotient + 1,
        std::cmp::Ordering::Equal => quotient + (quotient % 2),
    }
}

/// Formats cents as a two-place decimal string.
pub fn cents(value: i128) -> String {
    format!("{}.{:02}", value / 100, value % 100)
}
