//! Kafka client settings shared by every gpubill client, and topic set-up. The services speak
//! plain Kafka through librdkafka, so any Kafka-protocol cluster works unchanged.

use crate::config::KafkaSettings;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::Consumer;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use std::collections::BTreeMap;
use std::time::Duration;

/// How long metadata look-ups may take.
pub const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// Most records a gpubill producer puts in one record batch, and how far a consumer rewinds when
/// it resumes at a stored offset. Apache Kafka answers a fetch that starts inside a record batch
/// with the whole batch and the client skips the records before the offset; Tansu 0.6 answers
/// with the *next* batch, which would silently skip the rest of the batch the offset is in.
/// Fetching from `offset − RESUME_REWIND` always lands at or before the offset as long as no
/// batch is larger, and the consumer drops what it already committed. Correct on both brokers.
pub const RESUME_REWIND: i64 = 1000;

/// Settings common to producers, consumers and admin clients, with the security properties of
/// `[kafka.security]` (TLS, SASL) as they are.
pub fn client_config(settings: &KafkaSettings, client_id: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", &settings.brokers)
        .set("broker.address.family", &settings.address_family)
        .set("client.id", client_id);
    for (name, value) in &settings.security.0 {
        config.set(name, value);
    }
    config
}

/// A producer that never loses or reorders an acknowledged record: idempotent, acknowledged by
/// all in-sync replicas, retried without limit inside `kafka.message_timeout_ms`, after which the
/// record's delivery fails and the caller decides (the agent keeps it in its spool).
pub fn producer_config(settings: &KafkaSettings, client_id: &str) -> ClientConfig {
    let mut config = client_config(settings, client_id);
    config
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("compression.type", "lz4")
        .set("linger.ms", "5")
        .set("batch.num.messages", RESUME_REWIND.to_string())
        .set(
            "delivery.timeout.ms",
            settings.message_timeout_ms.to_string(),
        );
    config
}

/// A consumer that never commits to the broker: gpubill stores offsets in Postgres, in the same
/// transaction as the rows they produced, and assigns partitions itself.
pub fn consumer_config(settings: &KafkaSettings, client_id: &str) -> ClientConfig {
    let mut config = client_config(settings, client_id);
    config
        .set("group.id", client_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false");
    config
}

/// Creates the topics that do not exist yet; existing topics are left as they are.
pub async fn ensure_topics(settings: &KafkaSettings, topics: &[&str]) -> Result<(), KafkaError> {
    let admin: AdminClient<DefaultClientContext> =
        client_config(settings, "gpubill-admin").create()?;
    let new_topics: Vec<NewTopic> = topics
        .iter()
        .map(|name| {
            NewTopic::new(
                name,
                settings.partitions,
                TopicReplication::Fixed(settings.replication_factor),
            )
        })
        .collect();
    let results = admin
        .create_topics(
            &new_topics,
            &AdminOptions::new().operation_timeout(Some(METADATA_TIMEOUT)),
        )
        .await?;
    for result in results {
        match result {
            Ok(topic) => tracing::info!(%topic, partitions = settings.partitions, "created topic"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(KafkaError::AdminOp(code))
                    .inspect_err(|_| tracing::error!(%topic, ?code, "cannot create topic"));
            }
        }
    }
    Ok(())
}

/// Number of partitions of `topic`, from the cluster's metadata.
pub fn partition_count<C: Consumer>(consumer: &C, topic: &str) -> Result<i32, KafkaError> {
    let metadata = consumer.fetch_metadata(Some(topic), METADATA_TIMEOUT)?;
    let partitions = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .filter(|t| t.error().is_none())
        .map(|t| t.partitions().len())
        .unwrap_or(0);
    if partitions == 0 {
        return Err(KafkaError::MetadataFetch(
            RDKafkaErrorCode::UnknownTopicOrPartition,
        ));
    }
    Ok(i32::try_from(partitions).unwrap_or(i32::MAX))
}

/// The end of what a producer has had acknowledged: per partition, the offset after the last
/// delivered record. Progress is measured against this rather than against the broker's high
/// watermarks, which some Kafka-protocol brokers (Tansu 0.6) report as the start of the last
/// record batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveredOffsets(BTreeMap<i32, i64>);

impl DeliveredOffsets {
    pub fn record(&mut self, partition: i32, offset: i64) {
        let next = self.0.entry(partition).or_insert(offset + 1);
        *next = (*next).max(offset + 1);
    }

    /// Per partition, the offset after the last delivered record.
    pub fn next_offsets(&self) -> &BTreeMap<i32, i64> {
        &self.0
    }

    pub fn merge(&mut self, other: &DeliveredOffsets) {
        for (partition, next) in &other.0 {
            self.record(*partition, next - 1);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::config::Config;
    use rdkafka::producer::BaseProducer;
    use std::path::Path;

    fn settings(env: &[(&str, &str)]) -> Result<KafkaSettings, crate::ConfigError> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config");
        Config::load_with_env(
            &dir,
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
        .map(|config| config.settings.kafka)
    }

    #[test]
    fn security_properties_reach_every_kind_of_client_unchanged() {
        let kafka = settings(&[
            ("GPUBILL_KAFKA_SECURITY_SECURITY_PROTOCOL", "SASL_SSL"),
            ("GPUBILL_KAFKA_SECURITY_SASL_MECHANISM", "SCRAM-SHA-512"),
            ("GPUBILL_KAFKA_SECURITY_SASL_USERNAME", "node-agent"),
            (
                "GPUBILL_KAFKA_SECURITY_SASL_PASSWORD",
                "s3cret=with,odd;chars",
            ),
            (
                "GPUBILL_KAFKA_SECURITY_SSL_CA_LOCATION",
                "/etc/gpubill/kafka-ca.pem",
            ),
        ])
        .unwrap();
        for config in [
            client_config(&kafka, "admin"),
            producer_config(&kafka, "agent"),
            consumer_config(&kafka, "aggregator"),
        ] {
            assert_eq!(config.get("security.protocol"), Some("SASL_SSL"));
            assert_eq!(config.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
            assert_eq!(config.get("sasl.username"), Some("node-agent"));
            assert_eq!(config.get("sasl.password"), Some("s3cret=with,odd;chars"));
            assert_eq!(
                config.get("ssl.ca.location"),
                Some("/etc/gpubill/kafka-ca.pem")
            );
        }
        // The values may be secrets: the settings' Debug names the properties only.
        let shown = format!("{kafka:?}");
        assert!(
            shown.contains("sasl.password") && !shown.contains("s3cret"),
            "{shown}"
        );
    }

    #[test]
    fn librdkafka_itself_receives_them() {
        // librdkafka checks a CA file when the client is created: a missing one fails creation,
        // which only happens if the property got through.
        let kafka = settings(&[
            ("GPUBILL_KAFKA_SECURITY_SECURITY_PROTOCOL", "ssl"),
            (
                "GPUBILL_KAFKA_SECURITY_SSL_CA_LOCATION",
                "/nonexistent/gpubill-ca.pem",
            ),
        ])
        .unwrap();
        let error = producer_config(&kafka, "agent")
            .create::<BaseProducer>()
            .err()
            .expect("a producer with a missing CA file is refused")
            .to_string();
        assert!(error.contains("ssl.ca.location"), "{error}");
        let plain = settings(&[]).unwrap();
        assert!(plain.security.0.is_empty());
        assert!(
            producer_config(&plain, "agent")
                .create::<BaseProducer>()
                .is_ok()
        );
    }

    #[test]
    fn only_security_properties_may_be_set_there() {
        let error = settings(&[("GPUBILL_KAFKA_SECURITY_ENABLE_IDEMPOTENCE", "false")])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("[kafka.security] `enable.idempotence`"),
            "{error}"
        );
    }
}
