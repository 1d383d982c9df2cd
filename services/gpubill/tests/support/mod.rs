//! Integration-test harness: each test gets its own Postgres database and its own Kafka topics,
//! on the real servers named by `DATABASE_URL` and `KAFKA_BROKERS` (`make test` brings both up),
//! so tests run in parallel and leave nothing behind.

#![allow(dead_code)] // each test binary uses a different part of the harness
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

pub mod test_month;

use chrono::{DateTime, Utc};
use diesel::{Connection, PgConnection, RunQueryDsl};
use gpubill_aggregator::AggregatorStats;
use gpubill_domain::access::{Binding, KeySpec, Role};
use gpubill_platform::config::Config;
use gpubill_platform::config::{AllocationSpec, Cluster, NodeSpec};
use gpubill_platform::db::{self, PgPool, with_conn};
use gpubill_platform::kafka::{DeliveredOffsets, client_config, ensure_topics, producer_config};
use gpubill_platform::{ShutdownTrigger, shutdown};
use gpubill_schema::event::{UsageDataV1, UsageEventV1};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::OwnedMessage;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;
use rdkafka::{Message, Offset, TopicPartitionList};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
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
    /// The settings variables this environment was configured with, for child processes.
    env_vars: Vec<(String, String)>,
    /// Where everything produced to the usage topic so far ended, per partition.
    delivered: Mutex<DeliveredOffsets>,
    /// Logs of the child aggregators, shown when the ledger does not catch up.
    child_logs: Mutex<Vec<PathBuf>>,
    admin_url: String,
    pub database: String,
}

impl TestEnv {
    /// The agent's spool directory (removed with the environment).
    pub fn spool_dir(&self) -> &Path {
        &self.config.settings.agent.spool_dir
    }

    pub async fn new() -> Self {
        Self::with_settings(&[]).await
    }

    /// `overrides` are settings environment variables, e.g. `("GPUBILL_AGGREGATOR_BATCH_MAX_EVENTS", "20")`.
    pub async fn with_settings(overrides: &[(&str, &str)]) -> Self {
        let config_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
        Self::with_config_dir(overrides, &config_dir).await
    }

    /// As `with_settings`, with `extra_cluster` (TOML: tenants, nodes, allocations) appended to
    /// a copy of `cluster.toml`.
    pub async fn with_cluster_additions(overrides: &[(&str, &str)], extra_cluster: &str) -> Self {
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
        let copy = std::env::temp_dir().join(format!(
            "gpubill-test-config-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&copy).expect("make a config directory");
        for entry in std::fs::read_dir(&source).expect("read config/") {
            let path = entry.expect("a config file").path();
            if path.is_file() {
                std::fs::copy(&path, copy.join(path.file_name().expect("a file name")))
                    .expect("copy a config file");
            }
        }
        let cluster = copy.join("cluster.toml");
        let mut text = std::fs::read_to_string(&cluster).expect("read cluster.toml");
        text.push('\n');
        text.push_str(extra_cluster);
        std::fs::write(&cluster, text).expect("write cluster.toml");
        Self::with_config_dir(overrides, &copy).await
    }

    async fn with_config_dir(overrides: &[(&str, &str)], config_dir: &Path) -> Self {
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
        let spool_dir = std::env::temp_dir().join(format!("gpubill-test-{id}-spool"));
        let mut env: Vec<(String, String)> = vec![
            ("GPUBILL_DATABASE_URL".into(), database_url),
            ("GPUBILL_DATABASE_POOL_SIZE".into(), "4".into()),
            ("GPUBILL_KAFKA_BROKERS".into(), brokers),
            ("GPUBILL_KAFKA_USAGE_TOPIC".into(), format!("it-{id}-usage")),
            (
                "GPUBILL_KAFKA_DEAD_LETTER_TOPIC".into(),
                format!("it-{id}-dlq"),
            ),
            // One agent per spool directory: each test's agents get their own.
            (
                "GPUBILL_AGENT_SPOOL_DIR".into(),
                spool_dir.display().to_string(),
            ),
            // Most fixtures meter allocations of their own (`small_cluster`, hand-made events)
            // that neither the scheduler nor cluster.toml knows. Usage that contradicts a known
            // allocation is rejected either way; tests of the grants set "reject".
            (
                "GPUBILL_AGGREGATOR_UNKNOWN_ALLOCATIONS".into(),
                "bill".into(),
            ),
        ];
        env.extend(
            overrides
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let config =
            Config::load_with_env(config_dir, env.clone()).expect("test configuration is valid");

        let pool = db::pool(&config.settings.database).expect("pool");
        let tenants = config.cluster.tenants.clone();
        let buyers = config.cluster.billing_identities();
        let price_book = config.price_book.clone();
        // What every gpubill start does to its database (`setup::prepare_ledger`).
        with_conn(&pool, move |conn| {
            db::migrate(conn)?;
            db::sync_tenants(conn, &tenants)?;
            gpubill_ledger::profiles::seed_billing_profiles(conn, &buyers, Utc::now())?;
            gpubill_ledger::load_price_book(conn, &price_book)?;
            Ok::<_, anyhow::Error>(())
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
            env_vars: env,
            delivered: Mutex::default(),
            child_logs: Mutex::default(),
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

    /// Runs an in-process aggregator until everything produced so far is in the ledger, then
    /// stops it and returns its counters.
    pub async fn run_aggregator_until_caught_up(&self) -> gpubill_aggregator::StatsSnapshot {
        let aggregator = self.start_aggregator();
        self.wait_caught_up().await;
        aggregator.stop().await
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
            if Instant::now() >= deadline {
                panic!(
                    "the ledger did not catch up within 60 s\n{}",
                    self.catch_up_report().await
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Per partition, what was delivered and what the ledger committed; then the end of each
    /// child aggregator's log.
    async fn catch_up_report(&self) -> String {
        let delivered = self.delivered.lock().expect("lock").clone();
        let committed: Vec<(i32, String, i64)> = self
            .conn(|conn| {
                use diesel::prelude::*;
                use gpubill_schema::schema::consumer_offsets::dsl::*;
                consumer_offsets
                    .select((partition, topic, next_offset))
                    .load(conn)
                    .unwrap_or_default()
            })
            .await;
        let mut report = format!(
            "delivered (next offsets): {:?}\ncommitted: {committed:?}\n",
            delivered.next_offsets()
        );
        for path in self.child_logs.lock().expect("lock").iter() {
            let log = std::fs::read_to_string(path).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(30)..];
            report += &format!(
                "--- {} (last {} lines)\n{}\n",
                path.display(),
                tail.len(),
                tail.join("\n")
            );
        }
        report
    }

    /// Starts `gpubill aggregator` as a child process on this environment, with a failpoint armed
    /// if given (`name:N`, see `gpubill_platform::failpoint`).
    pub fn spawn_aggregator(&self, failpoint: Option<&str>) -> ChildAggregator {
        let failpoint: Vec<(&str, &str)> = failpoint
            .map(|failpoint| (gpubill_platform::failpoint::FAILPOINT_VARIABLE, failpoint))
            .into_iter()
            .collect();
        self.spawn_aggregator_with(&failpoint)
    }

    /// Starts `gpubill aggregator` as a child process with extra environment variables, e.g. an
    /// instance id or a failpoint.
    pub fn spawn_aggregator_with(&self, variables: &[(&str, &str)]) -> ChildAggregator {
        let mut command = self.command(&["aggregator"]);
        let log_path = {
            let mut logs = self.child_logs.lock().expect("lock");
            let path = std::env::temp_dir().join(format!(
                "{}-aggregator-{}.log",
                self.database,
                logs.len() + 1
            ));
            logs.push(path.clone());
            path
        };
        let log = std::fs::File::create(&log_path).expect("create the child's log");
        command
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .env("GPUBILL_LOG", "warn,gpubill_aggregator=info")
            .envs(variables.iter().copied());
        ChildAggregator(command.spawn().expect("spawn gpubill aggregator"))
    }

    /// Starts `gpubill api` as a child process on `port`, logging at `log_filter` to `log_path`.
    pub fn spawn_api(&self, port: u16, log_filter: &str, log_path: &Path) -> ChildAggregator {
        self.spawn_api_with(port, log_filter, log_path, &[])
    }

    /// [`TestEnv::spawn_api`] with extra environment variables.
    pub fn spawn_api_with(
        &self,
        port: u16,
        log_filter: &str,
        log_path: &Path,
        variables: &[(&str, &str)],
    ) -> ChildAggregator {
        let mut command = self.command(&["api"]);
        command.envs(variables.iter().copied());
        let log = std::fs::File::create(log_path).expect("create the child's log");
        command
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .env("GPUBILL_LOG", log_filter)
            .env("GPUBILL_HTTP_BIND", format!("127.0.0.1:{port}"));
        ChildAggregator(command.spawn().expect("spawn gpubill api"))
    }

    /// Runs a `gpubill` subcommand on this environment to its end.
    pub async fn run_cli(&self, args: &[&str]) -> std::process::Output {
        let mut command = self.command(args);
        tokio::task::spawn_blocking(move || command.output().expect("run gpubill"))
            .await
            .expect("gpubill task")
    }

    /// The `gpubill` binary configured for this environment, no failpoint armed.
    fn command(&self, args: &[&str]) -> std::process::Command {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_gpubill"));
        command
            .args(args)
            .envs(self.env_vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env(
                "GPUBILL_CONFIG_DIR",
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config"),
            )
            .env("GPUBILL_LOG", "error")
            .env_remove(gpubill_platform::failpoint::FAILPOINT_VARIABLE);
        command
    }

    /// Next offsets committed per partition.
    pub async fn committed(&self) -> std::collections::BTreeMap<i32, i64> {
        let (consumer, topic) = (
            self.config.settings.aggregator.consumer_name.clone(),
            self.config.settings.kafka.usage_topic.clone(),
        );
        self.conn(move |conn| {
            gpubill_aggregator::store::load_offsets(conn, &consumer, &topic).expect("offsets")
        })
        .await
    }

    /// This environment's configuration with Postgres reached through a proxy the test can cut,
    /// and the proxy.
    pub async fn through_proxy(&self) -> (Config, TcpProxy) {
        let url = &self.config.settings.database.url;
        let authority = url
            .split('@')
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .expect("DATABASE_URL names host:port");
        let server = tokio::net::lookup_host(authority)
            .await
            .expect("resolve the database's host")
            .next()
            .expect("database address");
        let proxy = TcpProxy::start(server).await;
        let mut config = self.config.clone();
        config.settings.database.url =
            url.replacen(authority, &format!("127.0.0.1:{}", proxy.port), 1);
        (config, proxy)
    }

    pub async fn start_api(&self) -> RunningApi {
        self.start_api_with(self.pool.clone()).await
    }

    /// An API in this process reaching Postgres through `pool` (e.g. through a proxy the test
    /// can cut), with an admin key of its own.
    pub async fn start_api_with(&self, pool: PgPool) -> RunningApi {
        let (_, admin_key) = self
            .create_key(Role::Admin, Binding::None, None, "test admin")
            .await;
        let scheduler = gpubill_scheduler::Scheduler::start(&self.config, pool.clone())
            .await
            .expect("start the scheduler");
        let authenticator =
            gpubill_access::Authenticator::start(pool.clone(), &self.config.settings.auth)
                .await
                .expect("read the API keys");
        let (trigger, stop) = shutdown::channel();
        authenticator.spawn_refresh(stop);
        let state = gpubill_api::AppState::new(&self.config, pool, scheduler, authenticator);
        let mut http = self.config.settings.http.clone();
        (http.workers, http.shutdown_deadline_seconds) = (1, 1);
        let (server, address) =
            gpubill_api::bind(state, "127.0.0.1:0", &http).expect("bind the API");
        let handle = server.handle();
        tokio::spawn(server);
        RunningApi {
            address,
            handle,
            admin_key,
            refresh: trigger,
        }
    }

    /// Issues a key straight into the database, as `gpubill keys create` does; an API started
    /// afterwards knows it at once, a running one within `auth.key_refresh_ms`.
    pub async fn create_key(
        &self,
        role: Role,
        binding: Binding,
        expires_at: Option<DateTime<Utc>>,
        label: &str,
    ) -> (gpubill_access::StoredKey, String) {
        let cluster = self.config.cluster.clone();
        let spec = KeySpec {
            role,
            binding,
            expires_at,
            label: label.to_owned(),
            parent: None,
        };
        let issued = self
            .conn(move |conn| {
                gpubill_access::keys::issue(conn, &cluster, &spec, "cli:test", Utc::now())
                    .expect("issue a key")
            })
            .await;
        (issued.key, issued.secret.expose().to_owned())
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(self.spool_dir());
        for path in self
            .child_logs
            .lock()
            .map(|logs| logs.clone())
            .unwrap_or_default()
        {
            let _ = std::fs::remove_file(path);
        }
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

/// A `gpubill aggregator` child process; killed (SIGKILL) and reaped when dropped.
pub struct ChildAggregator(std::process::Child);

impl ChildAggregator {
    /// Waits for the process to exit by itself, at most `seconds`.
    pub async fn wait_exit(&mut self, seconds: u64) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        loop {
            if let Some(status) = self.0.try_wait().expect("child status") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the aggregator did not exit within {seconds} s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `kill -9`.
    pub fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for ChildAggregator {
    fn drop(&mut self) {
        self.kill();
    }
}

pub struct RunningApi {
    pub address: SocketAddr,
    handle: gpubill_api::ServerHandle,
    /// An admin key, sent by `get` and `send`.
    pub admin_key: String,
    /// Stops the authenticator's refresh with the server.
    refresh: ShutdownTrigger,
}

/// An answer as received.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON; panics with the body when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| {
            panic!(
                "HTTP {} body is not JSON ({error}): {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

impl RunningApi {
    /// GETs `path` with the admin key and returns the status and the JSON body, whatever the
    /// status.
    pub async fn get(&self, path: &str) -> (u16, serde_json::Value) {
        let reply = self.request("GET", path, Some(&self.admin_key), None).await;
        (reply.status, reply.json())
    }

    /// The status and the body exactly as sent (admin key).
    pub async fn get_bytes(&self, path: &str) -> (u16, Vec<u8>) {
        let reply = self.request("GET", path, Some(&self.admin_key), None).await;
        (reply.status, reply.body)
    }

    /// Sends `body` as JSON with `method` (`POST` or `PUT`) and the admin key, and returns the
    /// status and the JSON body, whatever the status.
    pub async fn send(&self, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
        let reply = self
            .request(method, path, Some(&self.admin_key), Some(body))
            .await;
        (reply.status, reply.json())
    }

    /// Any request: `key` as a bearer token (or none), `body` as JSON (or none).
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<&str>,
    ) -> Reply {
        let authorization = key.map(|key| format!("Bearer {key}"));
        self.raw(method, path, authorization.as_deref(), body).await
    }

    /// Any request with `authorization` sent as it is.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        authorization: Option<&str>,
        body: Option<&str>,
    ) -> Reply {
        self.raw_with(method, path, authorization, &[], body).await
    }

    /// A browser-like request: `headers` as given (cookies, origin, content type), `body` as
    /// given, and redirects not followed (the portal answers 303 with its cookies).
    pub async fn browser(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Reply {
        let headers = headers
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect();
        self.exchange(method, path, headers, body, false).await
    }

    /// [`RunningApi::raw`] with more headers.
    pub async fn raw_with(
        &self,
        method: &str,
        path: &str,
        authorization: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Reply {
        let mut all: Vec<(String, String)> = authorization
            .map(|value| ("Authorization".to_owned(), value.to_owned()))
            .into_iter()
            .collect();
        all.extend(
            headers
                .iter()
                .map(|(name, value)| (name.to_string(), value.to_string())),
        );
        if body.is_some() {
            all.push(("Content-Type".into(), "application/json".into()));
        }
        self.exchange(method, path, all, body, true).await
    }

    /// One request with exactly `headers` and `body`, following redirects or not.
    async fn exchange(
        &self,
        method: &str,
        path: &str,
        headers: Vec<(String, String)>,
        body: Option<&str>,
        follow_redirects: bool,
    ) -> Reply {
        let url = format!("http://{}{path}", self.address);
        let method = method.to_owned();
        let body = body.map(str::to_owned);
        tokio::task::spawn_blocking(move || {
            let mut config = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .allow_non_standard_methods(true);
            if !follow_redirects {
                config = config.max_redirects(0);
            }
            let agent: ureq::Agent = config.build().into();
            let mut request = ureq::http::Request::builder()
                .method(method.as_str())
                .uri(&url);
            for (name, value) in &headers {
                request = request.header(name.as_str(), value.as_str());
            }
            let response = match body {
                Some(body) => agent.run(request.body(body).expect("request")),
                None => agent.run(request.body(()).expect("request")),
            };
            let mut response = response.expect("HTTP request");
            let status = response.status().as_u16();
            let headers = response
                .headers()
                .iter()
                .map(|(name, value)| {
                    (
                        name.as_str().to_owned(),
                        value.to_str().unwrap_or("").to_owned(),
                    )
                })
                .collect();
            let body = response.body_mut().read_to_vec().expect("body");
            Reply {
                status,
                headers,
                body,
            }
        })
        .await
        .expect("HTTP task")
    }

    /// Issues a key over HTTP with the admin key, known to this API at once: `body` as
    /// `POST /v1/api-keys` takes it. Returns the key and its id.
    pub async fn issue_key(&self, body: &str) -> (String, String) {
        let (status, issued) = self.send("POST", "/v1/api-keys", body).await;
        assert_eq!(status, 201, "{body}: {issued}");
        (
            issued["key"].as_str().expect("the key").to_owned(),
            issued["id"].as_str().expect("its id").to_owned(),
        )
    }

    /// A node key for `node`'s agent.
    pub async fn node_key(&self, node: &str) -> gpubill_platform::config::Secret {
        let (key, _) = self
            .issue_key(&format!(r#"{{"role": "node", "node": "{node}"}}"#))
            .await;
        gpubill_platform::config::Secret::new(key)
    }

    pub async fn stop(self) {
        self.refresh.trigger();
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

/// A small cluster: 3 GPUs on two allocations of two tenants.
pub fn small_cluster(base: &Cluster) -> Cluster {
    Cluster {
        tenants: base.tenants.clone(),
        nodes: vec![NodeSpec {
            id: "node-001".into(),
            sku: "H100-SXM5-80GB".into(),
            gpus: 8,
            pod: "pod-01".into(),
            gpu_uuids: Vec::new(),
            mig: false,
        }],
        allocations: vec![
            AllocationSpec {
                id: "r-1".into(),
                tenant: "mistral-lab".into(),
                node: "node-001".into(),
                gpus: vec![0, 1],
                started_at: at("2026-11-10T00:00:00Z"),
                price_class: gpubill_domain::PriceClass::OnDemand,
            },
            AllocationSpec {
                id: "r-2".into(),
                tenant: "nordic-nlp".into(),
                node: "node-001".into(),
                gpus: vec![2],
                started_at: at("2026-11-10T00:30:00Z"),
                price_class: gpubill_domain::PriceClass::OnDemand,
            },
        ],
        reservations: Vec::new(),
    }
}

pub fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

/// Meters the small cluster over `[from, until)` with the real agent, as fast as it goes.
pub async fn meter(env: &TestEnv, from: &str, until: &str) -> u64 {
    meter_cluster(env, &small_cluster(&env.config.cluster), from, until).await
}

/// Meters `cluster` over `[from, until)` with the real agent, as fast as it goes.
pub async fn meter_cluster(env: &TestEnv, cluster: &Cluster, from: &str, until: &str) -> u64 {
    let window = gpubill_agent::RunWindow {
        from: at(from),
        until: Some(at(until)),
        speed: 0.0,
    };
    let (_trigger, stop) = shutdown::channel();
    let report = gpubill_agent::run(
        &env.config.settings.kafka,
        &env.config.settings.agent,
        cluster,
        None,
        window,
        stop,
    )
    .await
    .expect("agent run");
    env.note_delivered(&report.delivered);
    report.events
}

/// Two hours of the small cluster: 2 × 720 + 540 events.
pub async fn meter_two_hours(env: &TestEnv) -> u64 {
    meter(env, "2026-11-10T00:00:00Z", "2026-11-10T02:00:00Z").await
}

/// Asserts two ledger fingerprints are equal, printing only the first differences.
#[track_caller]
pub fn assert_same_ledger(actual: &[String], expected: &[String], what: &str) {
    if actual == expected {
        return;
    }
    let missing: Vec<&String> = expected
        .iter()
        .filter(|line| !actual.contains(line))
        .take(5)
        .collect();
    let extra: Vec<&String> = actual
        .iter()
        .filter(|line| !expected.contains(line))
        .take(5)
        .collect();
    panic!(
        "{what}: ledgers differ ({} lines, expected {}); first expected lines missing: {missing:#?}; first unexpected lines: {extra:#?}",
        actual.len(),
        expected.len()
    );
}

/// Everything the ledger holds that does not depend on batch boundaries, wall-clock time or the
/// offsets of records that were not billed. Posting amounts are summed per batch at 28
/// significant digits, so their totals are compared at 12 decimal places (invoices price the
/// exact GPU-seconds, not these sums).
pub async fn ledger_fingerprint(env: &TestEnv) -> Vec<String> {
    env.conn(|conn| {
        #[derive(diesel::QueryableByName)]
        struct Line {
            #[diesel(sql_type = diesel::sql_types::Text)]
            line: String,
        }
        let queries = [
            // Every billed event, by its digest (id, tenant, node, SKU, interval, quantity),
            // whichever run it landed in.
            "SELECT concat_ws('|', allocation_id, gpu_uuid, seq, encode(substring(event_digests FROM ((seq - first_seq) * 16 + 1)::int FOR 16), 'hex'), tenant_id, sku, source_partition) AS line \
             FROM usage_runs, generate_series(first_seq, last_seq) AS seq ORDER BY 1",
            "SELECT concat_ws('|', 'rated', allocation_id, gpu_uuid, price_class, period, price_per_gpu_hour, sum(gpu_seconds), min(segment_start), max(segment_end), round(sum(amount), 12)) AS line \
             FROM rated_usage GROUP BY allocation_id, gpu_uuid, price_class, period, price_per_gpu_hour ORDER BY 1",
            "SELECT concat_ws('|', tenant_id, sku, price_class, period, price_per_gpu_hour, sum(gpu_seconds), round(sum(amount), 12)) AS line FROM ledger_entries GROUP BY tenant_id, sku, price_class, period, price_per_gpu_hour ORDER BY 1",
            "SELECT concat_ws('|', 'stream', allocation_id, gpu_uuid, tenant_id, watermark_seq, max_seq, last_end) AS line FROM usage_streams ORDER BY 1",
            "SELECT concat_ws('|', 'gap', allocation_id, gpu_uuid, first_seq, last_seq, missing_from, missing_until) AS line FROM usage_gaps ORDER BY 1",
        ];
        queries
            .iter()
            .flat_map(|query| diesel::sql_query(*query).load::<Line>(conn).expect("fingerprint query"))
            .map(|row| row.line)
            .collect()
    })
    .await
}

/// Bad records, each with the reason the aggregator must give, all keyed like allocation `r-1`
/// so they share its partition and sit between its good records.
pub fn poison_records() -> Vec<(&'static str, Vec<u8>)> {
    let good = UsageEventV1::new(
        UsageDataV1 {
            tenant_id: "mistral-lab".into(),
            allocation_id: "r-1".into(),
            node_id: "node-001".into(),
            gpu_uuid: "GPU-poison".into(),
            sku: "H100-SXM5-80GB".into(),
            price_class: gpubill_domain::PriceClass::OnDemand,
            seq: 1,
            interval_start: at("2026-11-10T00:00:00Z"),
            interval_end: at("2026-11-10T00:00:10Z"),
        },
        at("2026-11-10T00:00:10Z"),
    );
    let variant = |edit: &dyn Fn(&mut UsageEventV1)| {
        let mut event = good.clone();
        edit(&mut event);
        event.encode()
    };
    vec![
        (
            "invalid_json",
            b"{\"specversion\": \"1.0\", \"type\"".to_vec(),
        ),
        (
            "unknown_type",
            variant(&|e| e.event_type = "gpubill.gpu.usage.v9".into()),
        ),
        (
            "unknown_sku",
            variant(&|e| e.data.sku = "B200-SXM-192GB".into()),
        ),
        (
            "invalid_interval",
            variant(&|e| e.data.interval_end = e.data.interval_start),
        ),
        (
            "interval_too_long",
            variant(&|e| e.data.interval_end = e.data.interval_start + chrono::Duration::hours(2)),
        ),
        (
            "future_interval",
            variant(&|e| {
                e.data.interval_start = Utc::now() + chrono::Duration::days(1);
                e.data.interval_end = e.data.interval_start + chrono::Duration::seconds(10);
            }),
        ),
        (
            "unknown_tenant",
            variant(&|e| e.data.tenant_id = "nobody".into()),
        ),
    ]
}

/// Produces every poison record, keyed `r-1`.
pub async fn produce_poison(env: &TestEnv) -> Vec<&'static str> {
    let poison = poison_records();
    let records: Vec<(&str, Vec<u8>)> = poison
        .iter()
        .map(|(_, bytes)| ("r-1", bytes.clone()))
        .collect();
    env.produce_raw(&records).await;
    poison.iter().map(|(reason, _)| *reason).collect()
}

/// The dead-letter topic's records as (reason, source offset), sorted, read until `count` are there.
pub fn dead_letters(env: &TestEnv, count: usize) -> Vec<(String, String)> {
    let topic = env.config.settings.kafka.dead_letter_topic.clone();
    let mut letters: Vec<(String, String)> = env
        .read_topic(&topic, count)
        .iter()
        .map(|m| {
            (
                header(m, gpubill_schema::event::dead_letter_headers::REASON).unwrap_or_default(),
                header(m, gpubill_schema::event::dead_letter_headers::SOURCE_OFFSET)
                    .unwrap_or_default(),
            )
        })
        .collect();
    letters.sort();
    letters
}

/// A TCP proxy on 127.0.0.1 that can cut every connection through it and refuse new ones, to
/// simulate a network partition between a service and its server.
pub struct TcpProxy {
    pub port: u16,
    cut: tokio::sync::watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl TcpProxy {
    pub async fn start(target: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let (cut, cut_watch) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                if *cut_watch.borrow() {
                    drop(inbound); // partitioned: the connection dies at once
                    continue;
                }
                let mut cut_watch = cut_watch.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut_watch.wait_for(|cut| *cut) => {}
                    }
                });
            }
        });
        Self { port, cut, task }
    }

    /// Breaks every open connection and refuses new ones until [`TcpProxy::restore`].
    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    pub fn restore(&self) {
        self.cut.send_replace(false);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Per tenant, the ledger's total GPU-seconds and amount (exact, unrounded).
pub async fn ledger_totals(env: &TestEnv) -> BTreeMap<String, (Decimal, Decimal)> {
    env.conn(|conn| {
        #[derive(diesel::QueryableByName)]
        struct Total {
            #[diesel(sql_type = diesel::sql_types::Text)]
            tenant_id: String,
            #[diesel(sql_type = diesel::sql_types::Text)]
            gpu_seconds: String,
            #[diesel(sql_type = diesel::sql_types::Text)]
            amount: String,
        }
        diesel::sql_query(
            "SELECT tenant_id, sum(gpu_seconds)::text AS gpu_seconds, sum(amount)::text AS amount \
             FROM ledger_entries GROUP BY tenant_id",
        )
        .load::<Total>(conn)
        .expect("ledger totals")
        .into_iter()
        .map(|t| {
            (
                t.tenant_id,
                (t.gpu_seconds.parse().unwrap(), t.amount.parse().unwrap()),
            )
        })
        .collect()
    })
    .await
}

/// A Tansu broker of the test's own, on a free port of 127.0.0.1 with durable (sqlite) storage in
/// a temporary directory, which the test can kill and start again on the same port and storage.
/// The binary is `TANSU_BIN` (`make test` sets it; else `export TANSU_BIN=$(scripts/broker.sh bin)`).
pub struct OwnBroker {
    bin: PathBuf,
    dir: PathBuf,
    pub port: u16,
    child: Option<std::process::Child>,
}

impl OwnBroker {
    pub async fn start() -> Self {
        let bin = PathBuf::from(std::env::var("TANSU_BIN").unwrap_or_else(|_| {
            panic!("TANSU_BIN is not set: run the tests with `make test`, or `export TANSU_BIN=$(scripts/broker.sh bin)`")
        }));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let dir = std::env::temp_dir().join(format!(
            "gpubill-test-broker-{port}-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).expect("broker directory");
        let mut broker = Self {
            bin,
            dir,
            port,
            child: None,
        };
        broker.restart().await;
        broker
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Starts the broker process (again), and waits until it accepts connections.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "the broker is running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("tansu.log"))
            .expect("broker log");
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let child = std::process::Command::new(&self.bin)
            .arg("broker")
            .args(["--listener-url", &url, "--advertised-listener-url", &url])
            // Tansu resolves the sqlite path against its working directory.
            .args(["--storage-engine", "sqlite://tansu.db"])
            .current_dir(&self.dir)
            .stdin(std::process::Stdio::null())
            .stdout(log.try_clone().expect("broker log"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.bin.display()));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "the broker did not listen on port {} within 20 s; see {}",
                self.port,
                self.dir.join("tansu.log").display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Kills the broker process (SIGKILL), as a crash or a lost host does: connections drop,
    /// nothing is shut down gracefully. (Tansu 0.6 does not exit on SIGTERM while clients are
    /// connected; it keeps listening and fails every request instead.)
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            eprintln!("broker storage and log kept in {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The seller of the repository's `config/seller.toml`, for tests that finalize through the
/// ledger directly.
pub fn seller() -> gpubill_schema::api::party::Seller {
    let config_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
    Config::load_with_env(&config_dir, std::iter::empty())
        .expect("test configuration is valid")
        .seller
}

/// A French buyer for a tenant a test adds by hand (SIREN 356000000).
pub fn french_buyer(tenant_id: &str) -> gpubill_schema::api::party::Buyer {
    use gpubill_schema::api::party::{BillingProfileUpdate, ElectronicAddress, PostalAddress};
    let update = BillingProfileUpdate {
        legal_name: format!("{tenant_id} SAS"),
        address: PostalAddress {
            line1: "1 rue de la Paix".into(),
            line2: None,
            postcode: "75002".into(),
            city: "Paris".into(),
            country: "FR".into(),
        },
        siren: Some("356000000".into()),
        electronic_address: ElectronicAddress {
            scheme: "0225".into(),
            id: "356000000".into(),
        },
        billing_email: "billing@example.fr".into(),
        purchase_order: None,
    };
    gpubill_einvoice::identity::buyer_from_update(tenant_id, "FR", None, update)
        .expect("a valid French buyer")
}

/// `h` hours of H100 usage of `tenant_id` in `month` (`YYYY-MM`), at `price`, as rating adds it.
pub fn h100_hours(
    tenant_id: &str,
    month: &str,
    class: gpubill_domain::PriceClass,
    price: rust_decimal::Decimal,
    h: rust_decimal::Decimal,
) -> gpubill_ledger::bookings::RatedAddition {
    gpubill_ledger::bookings::RatedAddition {
        tenant_id: tenant_id.to_owned(),
        period: chrono::NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").unwrap(),
        sku: "H100-SXM5-80GB".to_owned(),
        price_class: class,
        price_per_gpu_hour: price,
        gpu_seconds: h * rust_decimal::Decimal::from(3600),
    }
}

/// Books `additions` as one aggregator batch would.
pub fn book(conn: &mut PgConnection, additions: &[gpubill_ledger::bookings::RatedAddition]) {
    use diesel::Connection;
    conn.transaction(|conn| {
        gpubill_ledger::bookings::book_usage(conn, uuid::Uuid::new_v4(), additions)
    })
    .unwrap();
}
