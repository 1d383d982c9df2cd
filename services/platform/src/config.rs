//! Configuration: `default.toml` (service settings), `pricebook.toml`, `cluster.toml` and
//! `seller.toml` (the legal entity that invoices) from one directory, with environment overrides, validated at start-up. Every error names the file and
//! the key (and the environment variable that can set it) so a bad deployment fails fast.

use chrono::{DateTime, Utc};
use gpubill_domain::{Grant, PriceBook, PriceClass, PriceVersion, SkuPrices, Tz};
use gpubill_einvoice::identity::{IdentityError, buyer_from_update, check_seller};
use gpubill_schema::api::party::{BillingProfileUpdate, Buyer, Seller};
use rust_decimal::Decimal;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Prefix of the environment variables that override settings.
pub const ENV_PREFIX: &str = "GPUBILL_";
/// `GPUBILL_*` variables that are not settings keys.
const NON_KEY_VARIABLES: [&str; 3] = [
    "GPUBILL_CONFIG_DIR",
    "GPUBILL_LOG",
    crate::failpoint::FAILPOINT_VARIABLE,
];
/// Bounds of `agent.spool_max_bytes`. The lower one leaves room for a full batch of events
/// (the agent spools up to 1,000 at a time) besides what is waiting for acknowledgements.
const MIN_SPOOL_BYTES: u64 = 4 << 20;
const MAX_SPOOL_BYTES: u64 = 1 << 40;
/// Conventional variables honoured as aliases: variable, section, key.
const ALIASES: [(&str, &str, &str); 2] = [
    ("DATABASE_URL", "database", "url"),
    ("KAFKA_BROKERS", "kafka", "brokers"),
];

#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct ConfigError {
    pub file: String,
    pub message: String,
}

impl ConfigError {
    fn new(file: &Path, message: impl Into<String>) -> Self {
        Self {
            file: file.display().to_string(),
            message: message.into(),
        }
    }
}

/// Everything a gpubill process is configured with.
#[derive(Debug, Clone)]
pub struct Config {
    pub settings: Settings,
    pub price_book: PriceBook,
    pub cluster: Cluster,
    /// Who issues the invoices.
    pub seller: Seller,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub kafka: KafkaSettings,
    pub database: DatabaseSettings,
    pub http: HttpSettings,
    pub aggregator: AggregatorSettings,
    pub agent: AgentSettings,
    pub billing: BillingSettings,
    pub scheduler: SchedulerSettings,
    pub auth: AuthSettings,
    pub log: LogSettings,
    pub metrics: MetricsSettings,
    pub books: BooksSettings,
    pub portal: PortalSettings,
}

/// The customer portal served under `/portal` (`[portal]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortalSettings {
    /// The portal's address as customers reach it (`https://billing.example.com`), the base of
    /// minted sign-in links; empty: the scheme and host the minting request came to. A URL
    /// starting with `https://` also marks the session cookie `Secure` (`__Host-` prefixed).
    pub public_url: String,
    /// How long a minted sign-in link may wait for its one use.
    pub link_seconds: i64,
    /// The pages that may frame the portal (CSP `frame-ancestors`): `'self'`, or origins
    /// separated by spaces; `'none'` forbids framing.
    pub frame_ancestors: String,
}

/// How the books are kept and exported (`[books]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BooksSettings {
    /// Entries are dated, and fiscal years and export windows cut, in this time zone.
    #[serde(deserialize_with = "time_zone_name")]
    pub time_zone: Tz,
    /// First month of the fiscal year, 1..=12.
    pub fiscal_year_start_month: u32,
    #[serde(deserialize_with = "fec_separator")]
    pub fec_separator: gpubill_exports::fec::Separator,
    #[serde(deserialize_with = "fec_charset")]
    pub fec_charset: gpubill_exports::text::Charset,
    #[serde(deserialize_with = "focus_grain")]
    pub focus_grain: gpubill_exports::focus::Grain,
}

fn fec_separator<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<gpubill_exports::fec::Separator, D::Error> {
    let code = String::deserialize(deserializer)?;
    gpubill_exports::fec::Separator::from_code(&code)
        .ok_or_else(|| serde::de::Error::custom(format!("`{code}`: \"pipe\" or \"tab\"")))
}

fn fec_charset<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<gpubill_exports::text::Charset, D::Error> {
    let code = String::deserialize(deserializer)?;
    gpubill_exports::text::Charset::from_code(&code)
        .ok_or_else(|| serde::de::Error::custom(format!("`{code}`: \"iso-8859-15\" or \"ascii\"")))
}

fn focus_grain<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<gpubill_exports::focus::Grain, D::Error> {
    let code = String::deserialize(deserializer)?;
    gpubill_exports::focus::Grain::from_code(&code)
        .ok_or_else(|| serde::de::Error::custom(format!("`{code}`: \"hour\" or \"day\"")))
}

/// Where a service's Prometheus metrics can be scraped without a key (`[metrics]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// Address of a listener serving only `GET /metrics`, for a scraper on the operators'
    /// network; empty: none (the API still serves `/metrics` to admin keys).
    pub bind: String,
}

/// How the services log (`[log]`); what they log is `GPUBILL_LOG` (or `RUST_LOG`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
}

/// `log.format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Lines for people.
    Text,
    /// One JSON object per line, with the fields of the spans (the request id) it is in.
    Json,
}

/// How API keys are checked (`[auth]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// How often each API instance re-reads the keys: a key revoked elsewhere stops working
    /// here within this long.
    pub key_refresh_ms: u64,
    /// An instance that could not re-read the keys for this long refuses every key.
    pub key_max_staleness_ms: u64,
    /// Lifetime of a portal key created without one.
    pub portal_key_seconds: i64,
}

/// Prefix of the variables that set librdkafka security properties:
/// `GPUBILL_KAFKA_SECURITY_SASL_PASSWORD` sets `sasl.password`.
pub const KAFKA_SECURITY_ENV_PREFIX: &str = "GPUBILL_KAFKA_SECURITY_";

/// librdkafka security properties by name. Values may be secrets (`sasl.password`), so `Debug`
/// shows the names only.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct KafkaSecurity(pub BTreeMap<String, String>);

impl std::fmt::Debug for KafkaSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl KafkaSecurity {
    /// Whether librdkafka's property `name` is a security setting this section may carry.
    /// Everything else gpubill sets itself (delivery guarantees, offsets), so it cannot be
    /// changed here by mistake.
    pub fn allows(name: &str) -> bool {
        name == "security.protocol"
            || name == "enable.ssl.certificate.verification"
            || name.starts_with("sasl.")
            || name.starts_with("ssl.")
    }
}

/// A secret setting (an API key): `Debug` does not show it, so it never reaches a log.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() {
            "(not set)"
        } else {
            "(secret)"
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSettings {
    pub brokers: String,
    pub usage_topic: String,
    pub dead_letter_topic: String,
    pub partitions: i32,
    pub replication_factor: i32,
    pub address_family: String,
    /// How long a producer keeps trying to deliver a record before reporting it failed.
    pub message_timeout_ms: u64,
    /// librdkafka security properties (`[kafka.security]`: `security.protocol`, `sasl.*`,
    /// `ssl.*`), given unchanged to every Kafka client.
    #[serde(default)]
    pub security: KafkaSecurity,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: String,
    pub pool_size: u32,
    pub connect_timeout_seconds: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    pub bind: String,
    pub workers: usize,
    pub shutdown_deadline_seconds: u64,
    /// A connection must send a whole request head within this long (408 otherwise).
    pub request_head_timeout_ms: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregatorSettings {
    pub consumer_name: String,
    pub batch_max_events: usize,
    pub batch_max_wait_ms: u64,
    pub max_interval_seconds: i64,
    pub max_future_seconds: i64,
    pub retry_initial_ms: u64,
    pub retry_max_ms: u64,
    /// Names this instance in the partition leases; empty means the host name.
    pub instance_id: String,
    pub lease_seconds: i64,
    pub shutdown_deadline_seconds: u64,
    /// What becomes of usage for an allocation neither the scheduler nor the static allocations
    /// know. Usage that contradicts a known allocation is always rejected.
    pub unknown_allocations: UnknownAllocations,
}

/// `aggregator.unknown_allocations`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownAllocations {
    /// Dead-lettered as `unknown_allocation`: only what was allocated is billed.
    Reject,
    /// Billed, and listed by reconciliation as `unknown_allocation`: for usage of workloads
    /// placed outside the scheduler (while migrating to it, or fixtures metered ad hoc).
    Bill,
}

impl AggregatorSettings {
    /// `instance_id`, or the host name when it is empty: a restarted instance on the same host
    /// takes its partitions back at once instead of waiting for their leases to expire.
    pub fn effective_instance_id(&self) -> String {
        if !self.instance_id.is_empty() {
            return self.instance_id.clone();
        }
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|name| name.trim().to_owned())
            .filter(|name| !name.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "aggregator".to_owned())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentSettings {
    pub interval_seconds: u32,
    pub speed: f64,
    pub max_in_flight: usize,
    /// Directory of the on-disk spool; a relative path is resolved against the working directory.
    pub spool_dir: PathBuf,
    /// Most bytes the spool may take on disk; when full, metering pauses and an alarm is raised.
    pub spool_max_bytes: u64,
    /// Backoff between attempts to deliver the spool while the broker does not acknowledge.
    pub retry_initial_ms: u64,
    pub retry_max_ms: u64,
    /// The API serving the scheduler, for an agent that follows it (`gpubill agent
    /// --follow-scheduler`): `http://host:port`, no path.
    pub scheduler_url: String,
    /// How often an agent that follows the scheduler asks it for its node's allocations.
    pub scheduler_poll_ms: u64,
    /// The node key (`gpb_node_…`) an agent that follows the scheduler sends to the API; set it
    /// with `GPUBILL_AGENT_API_KEY` rather than in a file.
    pub api_key: Secret,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BillingSettings {
    pub currency: String,
    pub missing_usage_after_seconds: i64,
    /// A month is finalized by `gpubill close` no earlier than this long after it ends, so
    /// usage still in flight lands on its own invoice rather than as an adjustment.
    pub finalize_grace_hours: i64,
    /// Largest prepaid credit one grant may add (EUR): a typo cannot give away a fortune.
    #[serde(with = "gpubill_schema::decimal::cents")]
    pub max_credit_grant: Decimal,
}

/// The scheduler's timing, limits and preemption credit (`[scheduler]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedulerSettings {
    /// Longest maximum duration a request may ask for.
    pub max_duration_hours: i64,
    /// How often spend and metered hours are re-read from the ledger for quota checks, which
    /// never read Postgres themselves.
    pub ledger_refresh_ms: u64,
    /// How often allocations past their maximum duration are released.
    pub expiry_check_ms: u64,
    /// A preempted spot allocation's tenant is credited this many hours of the preempted GPUs
    /// at the spot price it paid (docs/scheduler.md).
    pub preemption_credit_hours: i64,
    /// Reconciliation: a GPU allocated this long without metered usage is `allocated_but_silent`
    /// once the unmetered time exceeds `reconciliation_tolerance_seconds`.
    pub reconciliation_tolerance_seconds: i64,
}

/// The inventory, its tenants with their quotas, and reservations (`cluster.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    #[serde(rename = "tenant", default)]
    pub tenants: Vec<TenantSpec>,
    #[serde(rename = "node", default)]
    pub nodes: Vec<NodeSpec>,
    /// Static allocations, metered by the agent without a scheduler (fixed workloads for tests
    /// and benchmarks). The demo and production allocate through the scheduler instead.
    #[serde(rename = "allocation", default)]
    pub allocations: Vec<AllocationSpec>,
    /// Nodes reserved to a tenant: they host only its reserved-class allocations.
    #[serde(rename = "reservation", default)]
    pub reservations: Vec<ReservationSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReservationSpec {
    pub tenant: String,
    pub nodes: Vec<String>,
}

/// A tenant's admission limits; a limit left out does not constrain.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaSpec {
    /// Most live GPUs (or MIG instances) per SKU.
    #[serde(default)]
    pub concurrent: BTreeMap<String, u32>,
    /// GPU-hours per calendar month, as a decimal string.
    #[serde(default)]
    pub gpu_hours_per_month: Option<Decimal>,
    /// EUR per calendar month (net of VAT), as a decimal string.
    #[serde(default)]
    pub budget_per_month: Option<Decimal>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantSpec {
    pub id: String,
    pub name: String,
    /// ISO 3166-1 alpha-2 country of establishment; decides VAT with `vat_number`.
    #[serde(default = "default_country")]
    pub country: String,
    /// Intra-community VAT number, upper case without spaces, if the tenant has one.
    #[serde(default)]
    pub vat_number: Option<String>,
    #[serde(default)]
    pub quota: QuotaSpec,
    /// IANA time zone (`Europe/Paris`) whose calendar months are the tenant's billing periods.
    /// Optional: UTC.
    #[serde(default = "default_time_zone", deserialize_with = "time_zone_name")]
    pub time_zone: Tz,
    /// The billing profile the tenant starts with (`[tenant.billing]`), stored when it has none;
    /// finance edits it over the API afterwards. An invoice is finalized only for a tenant with
    /// a billing profile.
    #[serde(default)]
    pub billing: Option<BillingProfileUpdate>,
}

impl TenantSpec {
    /// The buyer `[tenant.billing]` describes, checked; `None` without one.
    pub fn billing_identity(&self) -> Option<Result<Buyer, IdentityError>> {
        self.billing.clone().map(|update| {
            buyer_from_update(&self.id, &self.country, self.vat_number.as_deref(), update)
        })
    }
}

fn default_country() -> String {
    gpubill_domain::SELLER_COUNTRY.to_owned()
}

fn default_time_zone() -> Tz {
    gpubill_domain::DEFAULT_TIME_ZONE
}

/// A time zone from its IANA name, so an unknown one fails the file with the name it got.
fn time_zone_name<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Tz, D::Error> {
    let name = String::deserialize(deserializer)?;
    gpubill_domain::parse_time_zone(&name).map_err(serde::de::Error::custom)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeSpec {
    pub id: String,
    pub sku: String,
    pub gpus: u8,
    /// InfiniBand pod; the node itself is the NVLink domain.
    #[serde(default = "default_pod")]
    pub pod: String,
    /// The GPUs' UUIDs in index order; derived from the node id when left out.
    #[serde(default)]
    pub gpu_uuids: Vec<String>,
    /// The node's GPUs are in MIG mode and host MIG instances of the node's SKU.
    #[serde(default)]
    pub mig: bool,
}

fn default_pod() -> String {
    "pod-01".to_owned()
}

const GPU_UUID_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x6770_7562_696c_6c2d_6770_752d_7575_6964);

impl NodeSpec {
    /// The UUID of GPU `index`, in NVIDIA's `GPU-...` notation: as configured, else derived
    /// from the node id so it is stable across restarts.
    pub fn gpu_uuid(&self, index: u8) -> String {
        self.gpu_uuids
            .get(usize::from(index))
            .cloned()
            .unwrap_or_else(|| {
                format!(
                    "GPU-{}",
                    uuid::Uuid::new_v5(
                        &GPU_UUID_NAMESPACE,
                        format!("{}/{index}", self.id).as_bytes()
                    )
                )
            })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllocationSpec {
    pub id: String,
    pub tenant: String,
    pub node: String,
    /// Indices of the node's GPUs.
    pub gpus: Vec<u8>,
    /// Start of metering: interval `k` of the allocation covers
    /// `[started_at + k × interval, started_at + (k + 1) × interval)` and has `seq = k + 1`.
    pub started_at: DateTime<Utc>,
    /// How the allocation's GPUs are sold (`on_demand`, `spot` or `reserved`); its usage events
    /// carry it. Optional: on demand.
    #[serde(default, deserialize_with = "price_class_code")]
    pub price_class: PriceClass,
}

/// A price class from its code, so an unknown one fails the file with the codes it may be.
fn price_class_code<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<PriceClass, D::Error> {
    let code = String::deserialize(deserializer)?;
    code.parse().map_err(serde::de::Error::custom)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceBookFile {
    currency: String,
    sku: Vec<SkuFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SkuFile {
    id: String,
    description: String,
    price: Vec<PriceFile>,
}

/// One version: a list price per GPU-hour for each price class. The classes are optional here
/// only so that the domain, which requires all three, can name the SKU and version missing one.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceFile {
    effective_from: DateTime<Utc>,
    on_demand: Option<Decimal>,
    spot: Option<Decimal>,
    reserved: Option<Decimal>,
}

impl Config {
    /// Loads and validates the three files of `dir`, applying overrides from the process
    /// environment.
    pub fn load(dir: &Path) -> Result<Self, ConfigError> {
        Self::load_with_env(dir, std::env::vars())
    }

    /// As [`Config::load`], with the environment given explicitly.
    pub fn load_with_env(
        dir: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let settings_path = dir.join("default.toml");
        let settings = load_settings(&settings_path, &read(&settings_path)?, env)?;
        let price_book_path = dir.join("pricebook.toml");
        let price_book = parse_price_book(&price_book_path, &read(&price_book_path)?)?;
        if price_book.currency() != settings.billing.currency {
            return Err(ConfigError::new(
                &price_book_path,
                format!(
                    "key `currency` is {} but billing.currency in default.toml is {}",
                    price_book.currency(),
                    settings.billing.currency
                ),
            ));
        }
        let cluster_path = dir.join("cluster.toml");
        let cluster: Cluster = parse_toml(&cluster_path, &read(&cluster_path)?)?;
        cluster
            .validate(&price_book)
            .map_err(|message| ConfigError::new(&cluster_path, message))?;
        let seller_path = dir.join("seller.toml");
        let seller: Seller = parse_toml(&seller_path, &read(&seller_path)?)?;
        check_seller(&seller)
            .map_err(|error| ConfigError::new(&seller_path, format!("key `{error}`")))?;
        Ok(Self {
            settings,
            price_book,
            cluster,
            seller,
        })
    }
}

/// The configuration directory: `--config-dir`, else `GPUBILL_CONFIG_DIR`, else `./config`.
pub fn config_dir(explicit: Option<PathBuf>) -> PathBuf {
    explicit
        .or_else(|| std::env::var_os("GPUBILL_CONFIG_DIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("config"))
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| ConfigError::new(path, format!("cannot read: {e}")))
}

fn parse_toml<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T, ConfigError> {
    toml::from_str(text)
        .map_err(|e| ConfigError::new(path, e.to_string().trim_end().replace('\n', " ")))
}

fn env_name(section: &str, key: &str) -> String {
    format!(
        "{ENV_PREFIX}{}_{}",
        section.to_uppercase(),
        key.to_uppercase()
    )
}

fn load_settings(
    path: &Path,
    text: &str,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Settings, ConfigError> {
    let mut table: toml::Table = parse_toml(path, text)?;
    let env: HashMap<String, String> = env.into_iter().collect();

    let mut known = BTreeSet::new();
    for (section, body) in table.iter_mut() {
        let Some(body) = body.as_table_mut() else {
            continue;
        };
        for (key, value) in body.iter_mut() {
            let name = env_name(section, key);
            let alias = ALIASES
                .iter()
                .find(|(_, s, k)| s == section && k == key)
                .map(|(alias, _, _)| *alias);
            let override_value = env
                .get(&name)
                .map(|v| (name.as_str(), v))
                .or_else(|| alias.and_then(|a| env.get(a).map(|v| (a, v))));
            if let Some((variable, raw)) = override_value {
                *value = typed_like(value, raw).map_err(|expected| {
                    ConfigError::new(
                        path,
                        format!("key `{section}.{key}`: {variable}={raw:?} is not {expected}"),
                    )
                })?;
            }
            known.insert(name);
        }
    }
    apply_kafka_security_env(&mut table, &env);
    if let Some(unknown) = env
        .keys()
        .filter(|name| {
            name.starts_with(ENV_PREFIX)
                && !name.starts_with(KAFKA_SECURITY_ENV_PREFIX)
                && !known.contains(*name)
                && !NON_KEY_VARIABLES.contains(&name.as_str())
        })
        .min()
    {
        return Err(ConfigError::new(
            path,
            format!("environment variable {unknown} does not name a settings key"),
        ));
    }

    let settings: Settings =
        toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| {
                ConfigError::new(path, e.to_string().trim_end().replace('\n', " "))
            })?;
    settings
        .validate()
        .map_err(|message| ConfigError::new(path, message))?;
    Ok(settings)
}

/// `GPUBILL_KAFKA_SECURITY_SASL_PASSWORD=x` sets `sasl.password = "x"` in `[kafka.security]`:
/// librdkafka's property names are lower case with dots, and none that a string can set has an
/// underscore, so the mapping is exact.
fn apply_kafka_security_env(table: &mut toml::Table, env: &HashMap<String, String>) {
    for (name, value) in env {
        let Some(property) = name.strip_prefix(KAFKA_SECURITY_ENV_PREFIX) else {
            continue;
        };
        let property = property.to_lowercase().replace('_', ".");
        let section = table
            .entry("kafka")
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            .as_table_mut()
            .map(|kafka| {
                kafka
                    .entry("security")
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()))
            })
            .and_then(toml::Value::as_table_mut);
        // Not tables only when the file says otherwise, which deserializing then reports.
        if let Some(section) = section {
            section.insert(property, toml::Value::String(value.clone()));
        }
    }
}

/// Parses an override as the same TOML type as the value it replaces.
fn typed_like(current: &toml::Value, raw: &str) -> Result<toml::Value, &'static str> {
    Ok(match current {
        toml::Value::Integer(_) => {
            toml::Value::Integer(raw.trim().parse().map_err(|_| "an integer")?)
        }
        toml::Value::Float(_) => toml::Value::Float(raw.trim().parse().map_err(|_| "a number")?),
        toml::Value::Boolean(_) => {
            toml::Value::Boolean(raw.trim().parse().map_err(|_| "true or false")?)
        }
        _ => toml::Value::String(raw.to_owned()),
    })
}

/// Checks one condition, naming the key when it fails.
fn check(ok: bool, key: &str, rule: &str) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!("key `{key}` (env {}): {rule}", key_env(key)))
    }
}

fn key_env(key: &str) -> String {
    let (section, name) = key.split_once('.').unwrap_or(("", key));
    env_name(section, name)
}

impl Settings {
    fn validate(&self) -> Result<(), String> {
        let p = &self.portal;
        check(
            p.public_url.is_empty()
                || (p.public_url.starts_with("https://") || p.public_url.starts_with("http://"))
                    && !p.public_url.ends_with('/')
                    && !p.public_url.contains(char::is_whitespace),
            "portal.public_url",
            "must be empty or an http(s) URL without a trailing slash",
        )?;
        check(
            (30..=86_400).contains(&p.link_seconds),
            "portal.link_seconds",
            "must be within 30..=86400",
        )?;
        check(
            !p.frame_ancestors.trim().is_empty()
                && p.frame_ancestors
                    .chars()
                    .all(|c| c.is_ascii_graphic() && !matches!(c, ';' | ',') || c == ' '),
            "portal.frame_ancestors",
            "must be CSP sources separated by spaces, e.g. 'self'",
        )?;
        check(
            (1..=12).contains(&self.books.fiscal_year_start_month),
            "books.fiscal_year_start_month",
            "must be a month, 1..=12",
        )?;
        let k = &self.kafka;
        check(
            !k.brokers.trim().is_empty(),
            "kafka.brokers",
            "must list at least one broker",
        )?;
        check(
            is_topic_name(&k.usage_topic),
            "kafka.usage_topic",
            "must be a Kafka topic name ([a-zA-Z0-9._-], 1..249)",
        )?;
        check(
            is_topic_name(&k.dead_letter_topic),
            "kafka.dead_letter_topic",
            "must be a Kafka topic name ([a-zA-Z0-9._-], 1..249)",
        )?;
        check(
            k.dead_letter_topic != k.usage_topic,
            "kafka.dead_letter_topic",
            "must differ from kafka.usage_topic",
        )?;
        check(
            (1..=1000).contains(&k.partitions),
            "kafka.partitions",
            "must be within 1..=1000",
        )?;
        check(
            (1..=10).contains(&k.replication_factor),
            "kafka.replication_factor",
            "must be within 1..=10",
        )?;
        check(
            ["v4", "v6", "any"].contains(&k.address_family.as_str()),
            "kafka.address_family",
            "must be v4, v6 or any",
        )?;
        check(
            (1000..=3_600_000).contains(&k.message_timeout_ms),
            "kafka.message_timeout_ms",
            "must be within 1000..=3600000",
        )?;

        let d = &self.database;
        check(
            d.url.starts_with("postgres://") || d.url.starts_with("postgresql://"),
            "database.url",
            "must be a postgres:// URL",
        )?;
        check(
            (1..=256).contains(&d.pool_size),
            "database.pool_size",
            "must be within 1..=256",
        )?;
        check(
            (1..=300).contains(&d.connect_timeout_seconds),
            "database.connect_timeout_seconds",
            "must be within 1..=300",
        )?;

        check(
            self.http.bind.parse::<SocketAddr>().is_ok(),
            "http.bind",
            "must be an address:port such as 127.0.0.1:8080",
        )?;
        check(
            (1..=64).contains(&self.http.workers),
            "http.workers",
            "must be within 1..=64",
        )?;
        check(
            (100..=600_000).contains(&self.http.request_head_timeout_ms),
            "http.request_head_timeout_ms",
            "must be within 100..=600000",
        )?;

        let a = &self.aggregator;
        check(
            !a.consumer_name.is_empty() && a.consumer_name.len() <= 64,
            "aggregator.consumer_name",
            "must be 1..=64 characters",
        )?;
        check(
            (1..=100_000).contains(&a.batch_max_events),
            "aggregator.batch_max_events",
            "must be within 1..=100000",
        )?;
        check(
            (1..=60_000).contains(&a.batch_max_wait_ms),
            "aggregator.batch_max_wait_ms",
            "must be within 1..=60000",
        )?;
        check(
            (1..=86_400).contains(&a.max_interval_seconds),
            "aggregator.max_interval_seconds",
            "must be within 1..=86400",
        )?;
        check(
            (0..=86_400).contains(&a.max_future_seconds),
            "aggregator.max_future_seconds",
            "must be within 0..=86400",
        )?;
        check(
            a.retry_initial_ms >= 1,
            "aggregator.retry_initial_ms",
            "must be at least 1",
        )?;
        check(
            a.retry_max_ms >= a.retry_initial_ms,
            "aggregator.retry_max_ms",
            "must be at least aggregator.retry_initial_ms",
        )?;
        check(
            a.instance_id.len() <= 128,
            "aggregator.instance_id",
            "must be at most 128 characters (empty = the host name)",
        )?;
        check(
            (1..=3600).contains(&a.lease_seconds),
            "aggregator.lease_seconds",
            "must be within 1..=3600",
        )?;
        check(
            (1..=3600).contains(&a.shutdown_deadline_seconds),
            "aggregator.shutdown_deadline_seconds",
            "must be within 1..=3600",
        )?;

        let g = &self.agent;
        check(
            (1..=3600).contains(&g.interval_seconds),
            "agent.interval_seconds",
            "must be within 1..=3600",
        )?;
        check(
            g.speed.is_finite() && g.speed >= 0.0,
            "agent.speed",
            "must be a finite number >= 0 (0 = as fast as possible)",
        )?;
        check(
            (1..=1_000_000).contains(&g.max_in_flight),
            "agent.max_in_flight",
            "must be within 1..=1000000",
        )?;
        check(
            !g.spool_dir.as_os_str().is_empty(),
            "agent.spool_dir",
            "must name a directory",
        )?;
        check(
            (MIN_SPOOL_BYTES..=MAX_SPOOL_BYTES).contains(&g.spool_max_bytes),
            "agent.spool_max_bytes",
            "must be within 4194304..=1099511627776 (4 MiB to 1 TiB)",
        )?;
        check(
            g.retry_initial_ms >= 1,
            "agent.retry_initial_ms",
            "must be at least 1",
        )?;
        check(
            g.retry_max_ms >= g.retry_initial_ms,
            "agent.retry_max_ms",
            "must be at least agent.retry_initial_ms",
        )?;
        check(
            is_http_base_url(&g.scheduler_url),
            "agent.scheduler_url",
            "must be an http:// URL of a host and port, without a path (e.g. http://127.0.0.1:8080)",
        )?;
        check(
            (100..=600_000).contains(&g.scheduler_poll_ms),
            "agent.scheduler_poll_ms",
            "must be within 100..=600000",
        )?;
        check(
            g.api_key.is_empty()
                || gpubill_domain::access::parse_key(g.api_key.expose())
                    .is_ok_and(|(role, _)| role == gpubill_domain::access::Role::Node),
            "agent.api_key",
            "must be a node key (gpb_node_ and 64 hex digits)",
        )?;

        let b = &self.billing;
        check(
            b.currency.len() == 3 && b.currency.bytes().all(|c| c.is_ascii_uppercase()),
            "billing.currency",
            "must be a three-letter ISO 4217 code",
        )?;
        check(
            (0..=31 * 24).contains(&b.finalize_grace_hours),
            "billing.finalize_grace_hours",
            "must be within 0..=744",
        )?;
        check(
            (0..=31 * 86_400).contains(&b.missing_usage_after_seconds),
            "billing.missing_usage_after_seconds",
            "must be within 0..=2678400",
        )?;
        check(
            b.max_credit_grant > Decimal::ZERO,
            "billing.max_credit_grant",
            "must be a positive amount",
        )?;
        self.validate_auth()?;
        self.validate_metrics()?;
        let sc = &self.scheduler;
        check(
            (1..=24 * 366).contains(&sc.max_duration_hours),
            "scheduler.max_duration_hours",
            "must be within 1..=8784",
        )?;
        check(
            (10..=60_000).contains(&sc.ledger_refresh_ms),
            "scheduler.ledger_refresh_ms",
            "must be within 10..=60000",
        )?;
        check(
            (10..=60_000).contains(&sc.expiry_check_ms),
            "scheduler.expiry_check_ms",
            "must be within 10..=60000",
        )?;
        check(
            (0..=24).contains(&sc.preemption_credit_hours),
            "scheduler.preemption_credit_hours",
            "must be within 0..=24",
        )?;
        check(
            (0..=86_400).contains(&sc.reconciliation_tolerance_seconds),
            "scheduler.reconciliation_tolerance_seconds",
            "must be within 0..=86400",
        )?;
        Ok(())
    }
}

impl Settings {
    fn validate_metrics(&self) -> Result<(), String> {
        let bind = &self.metrics.bind;
        check(
            bind.is_empty() || bind.parse::<SocketAddr>().is_ok(),
            "metrics.bind",
            "must be empty or an address such as 127.0.0.1:9464",
        )?;
        check(
            bind.is_empty() || *bind != self.http.bind,
            "metrics.bind",
            "must differ from http.bind",
        )
    }

    fn validate_auth(&self) -> Result<(), String> {
        let a = &self.auth;
        check(
            (100..=60_000).contains(&a.key_refresh_ms),
            "auth.key_refresh_ms",
            "must be within 100..=60000",
        )?;
        check(
            a.key_max_staleness_ms >= 2 * a.key_refresh_ms && a.key_max_staleness_ms <= 600_000,
            "auth.key_max_staleness_ms",
            "must be at least twice auth.key_refresh_ms and at most 600000",
        )?;
        check(
            (60..=7 * 86_400).contains(&a.portal_key_seconds),
            "auth.portal_key_seconds",
            "must be within 60..=604800",
        )?;
        if let Some(name) = self
            .kafka
            .security
            .0
            .keys()
            .find(|name| !KafkaSecurity::allows(name))
        {
            return Err(format!(
                "[kafka.security] `{name}`: only security.protocol, sasl.*, ssl.* and \
                 enable.ssl.certificate.verification may be set here"
            ));
        }
        Ok(())
    }
}

/// `http://host[:port]` with an optional trailing `/`: the agent appends the API's paths to it.
fn is_http_base_url(url: &str) -> bool {
    url.strip_prefix("http://")
        .map(|rest| rest.strip_suffix('/').unwrap_or(rest))
        .is_some_and(|authority| {
            !authority.is_empty()
                && authority
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
}

fn is_topic_name(name: &str) -> bool {
    (1..=249).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

fn parse_price_book(path: &Path, text: &str) -> Result<PriceBook, ConfigError> {
    let file: PriceBookFile = parse_toml(path, text)?;
    let skus = file
        .sku
        .into_iter()
        .map(|sku| {
            let versions = sku
                .price
                .into_iter()
                .map(|price| {
                    let given = [
                        (PriceClass::OnDemand, price.on_demand),
                        (PriceClass::Spot, price.spot),
                        (PriceClass::Reserved, price.reserved),
                    ];
                    PriceVersion::new(
                        price.effective_from,
                        given
                            .into_iter()
                            .filter_map(|(class, price)| Some((class, price?))),
                    )
                    .map_err(|e| ConfigError::new(path, format!("SKU `{}`: {e}", sku.id)))
                })
                .collect::<Result<_, _>>()?;
            Ok(SkuPrices {
                sku: sku.id,
                description: sku.description,
                versions,
            })
        })
        .collect::<Result<_, ConfigError>>()?;
    PriceBook::new(&file.currency, skus).map_err(|e| ConfigError::new(path, e.to_string()))
}

impl Cluster {
    /// What each static allocation grants: its tenant, its GPUs on its node at the node's SKU,
    /// its class, from its start on, without an end.
    pub fn static_grants(&self) -> Vec<Grant> {
        self.allocations
            .iter()
            .filter_map(|allocation| {
                let node = self.nodes.iter().find(|n| n.id == allocation.node)?;
                Some(Grant {
                    allocation_id: allocation.id.clone(),
                    tenant: allocation.tenant.clone(),
                    sku: node.sku.clone(),
                    price_class: allocation.price_class,
                    devices: allocation
                        .gpus
                        .iter()
                        .map(|index| (node.id.clone(), node.gpu_uuid(*index)))
                        .collect(),
                    started_at: allocation.started_at,
                    ended_at: None,
                    max_end_at: None,
                })
            })
            .collect()
    }

    /// The billing identities `[tenant.billing]` gives, checked at load: seeded into tenants
    /// without a billing profile.
    pub fn billing_identities(&self) -> Vec<Buyer> {
        self.tenants
            .iter()
            .filter_map(TenantSpec::billing_identity)
            .filter_map(Result::ok)
            .collect()
    }

    fn validate(&self, price_book: &PriceBook) -> Result<(), String> {
        let mut tenants = BTreeSet::new();
        for tenant in &self.tenants {
            let id_ok = !tenant.id.is_empty()
                && tenant.id.len() <= 63
                && tenant
                    .id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !tenant.id.starts_with('-');
            if !id_ok {
                return Err(format!(
                    "tenant id `{}`: use 1..63 of [a-z0-9-], not starting with '-'",
                    tenant.id
                ));
            }
            if tenant.name.trim().is_empty() {
                return Err(format!("tenant `{}`: key `name` is empty", tenant.id));
            }
            gpubill_domain::vat_treatment(&tenant.country, tenant.vat_number.as_deref())
                .map_err(|error| format!("tenant `{}`: {error}", tenant.id))?;
            if let Some(Err(error)) = tenant.billing_identity() {
                return Err(format!("tenant `{}`: [tenant.billing] {error}", tenant.id));
            }
            if !tenants.insert(tenant.id.as_str()) {
                return Err(format!("tenant `{}` is listed twice", tenant.id));
            }
        }
        let mut nodes = HashMap::new();
        let mut gpu_uuids = BTreeSet::new();
        for node in &self.nodes {
            if node.id.is_empty() || nodes.insert(node.id.as_str(), node).is_some() {
                return Err(format!("node id `{}` is empty or listed twice", node.id));
            }
            if !price_book.contains_sku(&node.sku) {
                return Err(format!(
                    "node `{}`: key `sku` = `{}` is not in the price book",
                    node.id, node.sku
                ));
            }
            if !(1..=16).contains(&node.gpus) {
                return Err(format!(
                    "node `{}`: key `gpus` must be within 1..=16",
                    node.id
                ));
            }
            if node.pod.trim().is_empty() {
                return Err(format!("node `{}`: key `pod` is empty", node.id));
            }
            if !node.gpu_uuids.is_empty() && node.gpu_uuids.len() != usize::from(node.gpus) {
                return Err(format!(
                    "node `{}`: key `gpu_uuids` lists {} UUIDs for {} GPUs",
                    node.id,
                    node.gpu_uuids.len(),
                    node.gpus
                ));
            }
            for index in 0..node.gpus {
                let uuid = node.gpu_uuid(index);
                if !gpu_uuids.insert(uuid.clone()) {
                    return Err(format!("node `{}`: GPU `{uuid}` is listed twice", node.id));
                }
            }
        }
        for tenant in &self.tenants {
            for sku in tenant.quota.concurrent.keys() {
                if !price_book.contains_sku(sku) {
                    return Err(format!(
                        "tenant `{}`: quota.concurrent names `{sku}`, which is not in the price book",
                        tenant.id
                    ));
                }
            }
            let limits = [
                ("gpu_hours_per_month", tenant.quota.gpu_hours_per_month),
                ("budget_per_month", tenant.quota.budget_per_month),
            ];
            for (key, limit) in limits {
                if limit.is_some_and(|limit| limit.is_sign_negative()) {
                    return Err(format!("tenant `{}`: quota.{key} is negative", tenant.id));
                }
            }
        }
        let mut reserved = BTreeSet::new();
        for reservation in &self.reservations {
            if !tenants.contains(reservation.tenant.as_str()) {
                return Err(format!(
                    "reservation: tenant `{}` is not a listed tenant",
                    reservation.tenant
                ));
            }
            for node in &reservation.nodes {
                if !nodes.contains_key(node.as_str()) {
                    return Err(format!(
                        "reservation of `{}`: node `{node}` is not a listed node",
                        reservation.tenant
                    ));
                }
                if !reserved.insert(node.as_str()) {
                    return Err(format!("node `{node}` is reserved twice"));
                }
            }
        }
        let mut allocation_ids = BTreeSet::new();
        let mut taken = BTreeSet::new();
        for allocation in &self.allocations {
            if allocation.id.is_empty() || !allocation_ids.insert(allocation.id.as_str()) {
                return Err(format!(
                    "allocation id `{}` is empty or listed twice",
                    allocation.id
                ));
            }
            if !tenants.contains(allocation.tenant.as_str()) {
                return Err(format!(
                    "allocation `{}`: key `tenant` = `{}` is not a listed tenant",
                    allocation.id, allocation.tenant
                ));
            }
            let node = nodes.get(allocation.node.as_str()).ok_or_else(|| {
                format!(
                    "allocation `{}`: key `node` = `{}` is not a listed node",
                    allocation.id, allocation.node
                )
            })?;
            if allocation.gpus.is_empty() {
                return Err(format!(
                    "allocation `{}`: key `gpus` is empty",
                    allocation.id
                ));
            }
            for gpu in &allocation.gpus {
                if *gpu >= node.gpus {
                    return Err(format!(
                        "allocation `{}`: GPU index {gpu} is beyond node `{}`'s {} GPUs",
                        allocation.id, node.id, node.gpus
                    ));
                }
                if !taken.insert((node.id.as_str(), *gpu)) {
                    return Err(format!(
                        "allocation `{}`: GPU {gpu} of node `{}` is already allocated",
                        allocation.id, node.id
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_config_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config")
    }

    fn load(env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::load_with_env(
            &repo_config_dir(),
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    #[test]
    fn the_shipped_config_is_valid() {
        let config = load(&[]).unwrap();
        assert_eq!(config.settings.kafka.usage_topic, "gpubill.usage.v1");
        // 127 nodes × 8 H100 in pods of 16, seven of them in MIG mode.
        assert_eq!(config.cluster.nodes.len(), 127);
        let pods: BTreeSet<&str> = config
            .cluster
            .nodes
            .iter()
            .map(|n| n.pod.as_str())
            .collect();
        assert_eq!(pods.len(), 8);
        assert_eq!(config.cluster.nodes.iter().filter(|n| n.mig).count(), 7);
        assert_eq!(config.cluster.tenants.len(), 3);
        assert!(config.price_book.contains_sku("H100-SXM5-80GB"));
    }

    #[test]
    fn environment_overrides_typed_values_and_aliases() {
        let config = load(&[
            ("GPUBILL_AGGREGATOR_BATCH_MAX_EVENTS", "17"),
            ("GPUBILL_AGENT_SPEED", "3600"),
            ("DATABASE_URL", "postgres://u:p@db:5432/x"),
            ("KAFKA_BROKERS", "k1:9092,k2:9092"),
            ("GPUBILL_KAFKA_MESSAGE_TIMEOUT_MS", "3000"),
            ("GPUBILL_AGENT_SPOOL_DIR", "/var/spool/gpubill"),
            ("GPUBILL_AGENT_SPOOL_MAX_BYTES", "8388608"),
            ("GPUBILL_AGENT_RETRY_MAX_MS", "750"),
        ])
        .unwrap();
        assert_eq!(config.settings.kafka.message_timeout_ms, 3000);
        assert_eq!(
            config.settings.agent.spool_dir,
            PathBuf::from("/var/spool/gpubill")
        );
        assert_eq!(config.settings.agent.spool_max_bytes, 8 << 20);
        assert_eq!(config.settings.agent.retry_max_ms, 750);
        assert_eq!(config.settings.aggregator.batch_max_events, 17);
        assert_eq!(config.settings.agent.speed, 3600.0);
        assert_eq!(config.settings.database.url, "postgres://u:p@db:5432/x");
        assert_eq!(config.settings.kafka.brokers, "k1:9092,k2:9092");
    }

    #[test]
    fn the_prefixed_variable_wins_over_the_alias() {
        let config = load(&[
            ("DATABASE_URL", "postgres://alias/x"),
            ("GPUBILL_DATABASE_URL", "postgres://explicit/x"),
        ])
        .unwrap();
        assert_eq!(config.settings.database.url, "postgres://explicit/x");
    }

    #[test]
    fn errors_name_the_key_and_variable() {
        let error = load(&[("GPUBILL_AGGREGATOR_BATCH_MAX_EVENTS", "lots")])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("aggregator.batch_max_events") && error.contains("not an integer"),
            "{error}"
        );

        let error = load(&[("GPUBILL_AGGREGATOR_BATCH_MAX_EVENTS", "0")])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains(
                "`aggregator.batch_max_events` (env GPUBILL_AGGREGATOR_BATCH_MAX_EVENTS)"
            ),
            "{error}"
        );

        let error = load(&[("GPUBILL_HTTP_BIND", "localhost")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("http.bind"), "{error}");

        let error = load(&[("GPUBILL_BILLING_FINALIZE_GRACE_HOURS", "-1")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("finalize_grace_hours"), "{error}");

        let error = load(&[("GPUBILL_DATABASE_ULR", "postgres://x")])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("GPUBILL_DATABASE_ULR does not name a settings key"),
            "{error}"
        );
    }

    #[test]
    fn spool_and_delivery_settings_are_validated() {
        let config = load(&[]).unwrap();
        assert_eq!(
            config.settings.agent.spool_dir,
            PathBuf::from(".run/agent-spool")
        );
        assert!(config.settings.agent.spool_max_bytes > 0);
        assert_eq!(config.settings.agent.scheduler_url, "http://127.0.0.1:8080");
        assert_eq!(config.settings.agent.scheduler_poll_ms, 2000);
        let config = load(&[
            (
                "GPUBILL_AGENT_SCHEDULER_URL",
                "http://scheduler.internal:8080/",
            ),
            ("GPUBILL_AGENT_SCHEDULER_POLL_MS", "250"),
        ])
        .unwrap();
        assert_eq!(
            config.settings.agent.scheduler_url,
            "http://scheduler.internal:8080/"
        );
        assert_eq!(config.settings.agent.scheduler_poll_ms, 250);

        for (variable, value, key) in [
            (
                "GPUBILL_AGENT_SPOOL_MAX_BYTES",
                "0",
                "`agent.spool_max_bytes` (env GPUBILL_AGENT_SPOOL_MAX_BYTES)",
            ),
            (
                "GPUBILL_AGENT_SPOOL_MAX_BYTES",
                "1024",
                "`agent.spool_max_bytes`",
            ),
            ("GPUBILL_AGENT_SPOOL_DIR", "", "`agent.spool_dir`"),
            (
                "GPUBILL_AGENT_RETRY_INITIAL_MS",
                "0",
                "`agent.retry_initial_ms`",
            ),
            ("GPUBILL_AGENT_RETRY_MAX_MS", "10", "`agent.retry_max_ms`"),
            (
                "GPUBILL_AGENT_SCHEDULER_URL",
                "127.0.0.1:8080",
                "`agent.scheduler_url` (env GPUBILL_AGENT_SCHEDULER_URL)",
            ),
            (
                "GPUBILL_AGENT_SCHEDULER_URL",
                "http://127.0.0.1:8080/v1",
                "`agent.scheduler_url`",
            ),
            (
                "GPUBILL_AGENT_SCHEDULER_POLL_MS",
                "0",
                "`agent.scheduler_poll_ms` (env GPUBILL_AGENT_SCHEDULER_POLL_MS)",
            ),
            (
                "GPUBILL_KAFKA_MESSAGE_TIMEOUT_MS",
                "10",
                "`kafka.message_timeout_ms` (env GPUBILL_KAFKA_MESSAGE_TIMEOUT_MS)",
            ),
        ] {
            let error = load(&[(variable, value)]).unwrap_err().to_string();
            assert!(error.contains(key), "{variable}={value}: {error}");
        }
        let error = load(&[("GPUBILL_AGENT_SPOOL_MAX_BYTES", "lots")])
            .unwrap_err()
            .to_string();
        assert!(error.contains("not an integer"), "{error}");
    }

    #[test]
    fn the_shipped_price_book_prices_every_class() {
        let book = load(&[]).unwrap().price_book;
        let h100 = book.sku("H100-SXM5-80GB").unwrap();
        let version = h100.version_at(h100.versions[0].effective_from).unwrap();
        assert_eq!(
            version.prices().collect::<Vec<_>>(),
            [
                (PriceClass::OnDemand, rust_decimal::dec!(2.49)),
                (PriceClass::Spot, rust_decimal::dec!(1.25)),
                (PriceClass::Reserved, rust_decimal::dec!(1.89)),
            ]
        );
        for profile in ["1g.10gb", "2g.20gb", "3g.40gb", "4g.40gb", "7g.80gb"] {
            assert!(
                book.contains_sku(&format!("H100-MIG-{profile}")),
                "{profile}"
            );
        }
    }

    #[test]
    fn a_price_version_without_every_class_is_rejected() {
        let book = |prices: &str| {
            parse_price_book(
                Path::new("pricebook.toml"),
                &format!(
                    "currency = \"EUR\"\n[[sku]]\nid = \"L40S-48GB\"\ndescription = \"L40S\"\n\
                     [[sku.price]]\neffective_from = \"2026-01-01T00:00:00Z\"\n{prices}"
                ),
            )
        };
        assert!(book("on_demand = \"0.99\"\nspot = \"0.49\"\nreserved = \"0.75\"\n").is_ok());
        let error = book("on_demand = \"0.99\"\nreserved = \"0.75\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("pricebook.toml")
                && error.contains("SKU `L40S-48GB`")
                && error.contains("no spot price"),
            "{error}"
        );
        let error = book("on_demand = \"0.99\"\nspot = \"0\"\nreserved = \"0.75\"\n")
            .unwrap_err()
            .to_string();
        assert!(error.contains("spot price 0"), "{error}");
        // The format before classes names the key it does not know.
        let error = book("per_gpu_hour = \"0.99\"\n").unwrap_err().to_string();
        assert!(error.contains("per_gpu_hour"), "{error}");
    }

    #[test]
    fn an_allocation_is_on_demand_unless_it_says_otherwise() {
        let config = load(&[]).unwrap();
        assert!(
            config
                .cluster
                .allocations
                .iter()
                .all(|allocation| allocation.price_class == PriceClass::OnDemand)
        );
        let cluster = |class: &str| {
            parse_toml::<Cluster>(
                Path::new("cluster.toml"),
                &format!(
                    "[[allocation]]\nid = \"a1\"\ntenant = \"t1\"\nnode = \"n1\"\ngpus = [0]\n\
                     started_at = \"2026-11-01T00:00:00Z\"\n{class}"
                ),
            )
        };
        assert_eq!(
            cluster("price_class = \"spot\"\n").unwrap().allocations[0].price_class,
            PriceClass::Spot
        );
        let error = cluster("price_class = \"preemptible\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("cluster.toml") && error.contains("unknown price class `preemptible`"),
            "{error}"
        );
    }

    #[test]
    fn a_tenant_is_billed_in_utc_months_unless_it_names_its_time_zone() {
        let cluster = |time_zone: &str| {
            parse_toml::<Cluster>(
                Path::new("cluster.toml"),
                &format!("[[tenant]]\nid = \"t1\"\nname = \"T1\"\n{time_zone}"),
            )
        };
        assert_eq!(cluster("").unwrap().tenants[0].time_zone, Tz::UTC);
        assert_eq!(
            cluster("time_zone = \"America/New_York\"\n")
                .unwrap()
                .tenants[0]
                .time_zone,
            Tz::America__New_York
        );
        let error = cluster("time_zone = \"Europe/Pariss\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("cluster.toml")
                && error.contains("time_zone")
                && error.contains("`Europe/Pariss` is not an IANA time zone name"),
            "{error}"
        );
        let shipped = load(&[]).unwrap();
        let zones: Vec<(&str, &str)> = shipped
            .cluster
            .tenants
            .iter()
            .map(|tenant| (tenant.id.as_str(), tenant.time_zone.name()))
            .collect();
        assert_eq!(
            zones,
            [
                ("mistral-lab", "Europe/Paris"),
                ("helix-bio", "Europe/Berlin"),
                ("nordic-nlp", "Europe/Oslo"),
            ]
        );
    }

    #[test]
    fn unknown_keys_in_files_are_rejected() {
        let error = load_settings(
            Path::new("default.toml"),
            "[kafka]\nbrokerz = \"x\"\n",
            Vec::new(),
        )
        .unwrap_err();
        assert!(error.to_string().contains("brokerz"), "{error}");
    }

    #[test]
    fn cluster_rules() {
        let config = load(&[]).unwrap();
        let mut cluster = config.cluster.clone();
        cluster.allocations[1].node = "node-001".into();
        assert!(
            cluster
                .validate(&config.price_book)
                .unwrap_err()
                .contains("already allocated")
        );

        let mut cluster = config.cluster.clone();
        cluster.allocations[0].tenant = "nobody".into();
        assert!(
            cluster
                .validate(&config.price_book)
                .unwrap_err()
                .contains("not a listed tenant")
        );

        let mut cluster = config.cluster.clone();
        cluster.allocations[0].gpus = vec![8];
        assert!(
            cluster
                .validate(&config.price_book)
                .unwrap_err()
                .contains("beyond")
        );

        let mut cluster = config.cluster.clone();
        cluster.nodes[0].sku = "A100".into();
        assert!(
            cluster
                .validate(&config.price_book)
                .unwrap_err()
                .contains("not in the price book")
        );
    }

    #[test]
    fn inventory_quota_and_reservation_rules() {
        let config = load(&[]).unwrap();
        let refused = |change: &dyn Fn(&mut Cluster)| {
            let mut cluster = config.cluster.clone();
            change(&mut cluster);
            cluster.validate(&config.price_book).unwrap_err()
        };
        let error = refused(&|c| c.nodes[0].gpu_uuids.truncate(7));
        assert!(error.contains("lists 7 UUIDs for 8 GPUs"), "{error}");
        let error = refused(&|c| c.nodes[1].gpu_uuids[0] = c.nodes[0].gpu_uuids[0].clone());
        assert!(error.contains("listed twice"), "{error}");
        let error = refused(&|c| c.nodes[0].pod = " ".into());
        assert!(error.contains("key `pod` is empty"), "{error}");
        let error = refused(&|c| {
            c.tenants[0].quota.concurrent.insert("A100".into(), 8);
        });
        assert!(error.contains("quota.concurrent names `A100`"), "{error}");
        let error = refused(&|c| c.tenants[0].quota.budget_per_month = Some(Decimal::from(-1)));
        assert!(
            error.contains("quota.budget_per_month is negative"),
            "{error}"
        );
        let error = refused(&|c| c.reservations[0].nodes.push("node-999".into()));
        assert!(error.contains("`node-999` is not a listed node"), "{error}");
        let error = refused(&|c| {
            let again = c.reservations[0].clone();
            c.reservations.push(again);
        });
        assert!(error.contains("reserved twice"), "{error}");
        let error = refused(&|c| c.reservations[0].tenant = "nobody".into());
        assert!(error.contains("not a listed tenant"), "{error}");
    }
}
