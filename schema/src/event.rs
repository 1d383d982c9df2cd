//! Usage event wire format, version 1: a CloudEvents 1.0 structured-mode JSON object per GPU per
//! metering interval. See `schema/README.md` for the field table and an example.
//!
//! Streams: `(allocation_id, gpu_uuid)` is one stream and `seq` numbers its events 1, 2, 3, ...
//! The event `id` is derived from the stream position ([`usage_event_id`]) so that a re-sent event
//! keeps its id and every write downstream is idempotent.

use chrono::{DateTime, Utc};
use gpubill_domain::PriceClass;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt::Write;
use uuid::Uuid;

/// CloudEvents specification version carried by every event.
pub const SPEC_VERSION: &str = "1.0";
/// CloudEvents `type` of a version 1 GPU usage event.
pub const USAGE_EVENT_TYPE_V1: &str = "gpubill.gpu.usage.v1";
/// Media type of `data`.
pub const DATA_CONTENT_TYPE: &str = "application/json";

/// Namespace of the name-based (v5) UUIDs used as event ids.
const EVENT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6770_7562_696c_6c2d_7573_6167_652d_7631);

/// A GPU usage event, CloudEvents envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageEventV1 {
    pub specversion: String,
    /// Unique per stream position: [`usage_event_id`] of the data's allocation, GPU and seq.
    pub id: Uuid,
    /// The node that metered the usage, `/nodes/{node_id}`.
    pub source: String,
    #[serde(rename = "type")]
    pub event_type: String,
    /// When the agent emitted the event.
    #[serde(deserialize_with = "crate::timestamp::deserialize")]
    pub time: DateTime<Utc>,
    #[serde(default = "default_content_type")]
    pub datacontenttype: String,
    pub data: UsageDataV1,
}

/// What was used: one GPU of one allocation over `[interval_start, interval_end)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageDataV1 {
    pub tenant_id: String,
    pub allocation_id: String,
    pub node_id: String,
    pub gpu_uuid: String,
    pub sku: String,
    /// How the GPU was sold for this usage: `on_demand` (the default when absent), `spot` or
    /// `reserved`. Left out when on demand, so such events encode exactly as before classes.
    #[serde(
        default,
        skip_serializing_if = "is_on_demand",
        with = "price_class_code"
    )]
    pub price_class: PriceClass,
    /// Position in the `(allocation_id, gpu_uuid)` stream, from 1.
    pub seq: u64,
    #[serde(deserialize_with = "crate::timestamp::deserialize")]
    pub interval_start: DateTime<Utc>,
    #[serde(deserialize_with = "crate::timestamp::deserialize")]
    pub interval_end: DateTime<Utc>,
}

fn default_content_type() -> String {
    DATA_CONTENT_TYPE.to_owned()
}

fn is_on_demand(class: &PriceClass) -> bool {
    *class == PriceClass::OnDemand
}

/// `data.price_class` as its code; an unknown code is an invalid field that says which.
mod price_class_code {
    use gpubill_domain::{PriceClass, UnknownPriceClass};
    use serde::de::{Error, Visitor};
    use serde::{Deserializer, Serializer};
    use std::fmt;

    pub fn serialize<S: Serializer>(class: &PriceClass, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(class.code())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<PriceClass, D::Error> {
        struct Code;
        impl Visitor<'_> for Code {
            type Value = PriceClass;

            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("data.price_class: on_demand, spot or reserved")
            }

            fn visit_str<E: Error>(self, code: &str) -> Result<PriceClass, E> {
                code.parse().map_err(|unknown: UnknownPriceClass| {
                    E::custom(format!("data.price_class: {unknown}"))
                })
            }
        }
        deserializer.deserialize_str(Code)
    }
}

/// The `gpu_uuid` a MIG instance is metered under: `MIG-{gpu_uuid}/{first_slice}`, e.g.
/// `MIG-GPU-5f1e2d3c-…/4`, after NVIDIA's `MIG-GPU-<uuid>/<instance>` notation. A whole GPU is
/// metered under its own `GPU-…` UUID.
///
/// MIG instances of one GPU run at the same time for different allocations (and one allocation
/// may hold several instances of a GPU); metered under the GPU's UUID they would be one device to
/// the ledger, which refuses two allocations' streams overlapping in time on one device
/// (`usage_streams_no_overlap_per_gpu`) and would merge one allocation's instances into one
/// stream. The instance's first compute slice tells it apart: two live instances of a GPU never
/// share a slice (the scheduler's `live_gpu_slots` constraint), so this id is as exclusive as a
/// GPU is, and it is derived from the placement alone, so a restarted agent meters the same
/// stream.
pub fn mig_device_uuid(gpu_uuid: &str, first_slice: u8) -> String {
    format!("MIG-{gpu_uuid}/{first_slice}")
}

/// The device a GPU's usage is metered under: the GPU's own UUID, or for a MIG instance (its
/// first compute slice given) [`mig_device_uuid`]. The agent, the aggregator's grant check and
/// reconciliation all name devices through this.
pub fn device_id(gpu_uuid: &str, mig_first_slice: Option<u8>) -> String {
    match mig_first_slice {
        Some(first_slice) => mig_device_uuid(gpu_uuid, first_slice),
        None => gpu_uuid.to_owned(),
    }
}

/// The id of the event at `seq` in the stream of `allocation_id` on `gpu_uuid`.
pub fn usage_event_id(allocation_id: &str, gpu_uuid: &str, seq: u64) -> Uuid {
    let mut name = String::with_capacity(allocation_id.len() + gpu_uuid.len() + 22);
    // Writing to a String cannot fail.
    let _ = write!(name, "{allocation_id}/{gpu_uuid}/{seq}");
    Uuid::new_v5(&EVENT_ID_NAMESPACE, name.as_bytes())
}

impl UsageEventV1 {
    /// Wraps usage data in its envelope, with the id derived from the stream position.
    pub fn new(data: UsageDataV1, time: DateTime<Utc>) -> Self {
        Self {
            specversion: SPEC_VERSION.to_owned(),
            id: usage_event_id(&data.allocation_id, &data.gpu_uuid, data.seq),
            source: format!("/nodes/{}", data.node_id),
            event_type: USAGE_EVENT_TYPE_V1.to_owned(),
            time,
            datacontenttype: DATA_CONTENT_TYPE.to_owned(),
            data,
        }
    }

    /// The Kafka record key: the allocation, so one allocation's events share a partition and
    /// keep their order.
    pub fn partition_key(&self) -> &str {
        &self.data.allocation_id
    }

    pub fn encode(&self) -> Vec<u8> {
        // Serializing plain structs of strings, integers and timestamps cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Bytes of an event's content digest ([`content_digest`]).
pub const CONTENT_DIGEST_LEN: usize = 16;

/// A fingerprint of everything that makes an event the event it is: its id (hence its stream
/// position), tenant, node, SKU, interval to the microsecond (the ledger's resolution), exact
/// quantity and price class. The ledger keeps it per event in place of the event, so a copy
/// arriving later is told from a conflicting payload for the same id. The first 16 bytes of
/// SHA-256 over `event_id|tenant_id|node_id|sku|start µs|end µs|gpu_seconds` (the quantity
/// normalized), followed by `|spot` or `|reserved` for those classes. On-demand usage adds nothing,
/// so the digests stored before classes existed, and the SQL of the migration that introduced
/// `usage_runs` which computed them, stay those of the same (on-demand) events.
pub fn content_digest(
    event_id: Uuid,
    tenant_id: &str,
    node_id: &str,
    sku: &str,
    price_class: PriceClass,
    interval: (DateTime<Utc>, DateTime<Utc>),
    gpu_seconds: Decimal,
) -> [u8; CONTENT_DIGEST_LEN] {
    // One allocation, sized for the text: this runs for every event.
    let mut text = String::with_capacity(tenant_id.len() + node_id.len() + sku.len() + 120);
    let _ = write!(
        text,
        "{event_id}|{tenant_id}|{node_id}|{sku}|{}|{}|{}",
        interval.0.timestamp_micros(),
        interval.1.timestamp_micros(),
        gpu_seconds.normalize()
    );
    if price_class != PriceClass::OnDemand {
        let _ = write!(text, "|{}", price_class.code());
    }
    let hash = Sha256::digest(text.as_bytes());
    let mut digest = [0; CONTENT_DIGEST_LEN];
    digest.copy_from_slice(&hash[..CONTENT_DIGEST_LEN]);
    digest
}

/// Why bytes are not a version 1 usage event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("not a JSON object: {0}")]
    InvalidJson(String),
    #[error("unsupported event type or version: {0}")]
    UnknownType(String),
    #[error("missing field: {0}")]
    MissingField(String),
    #[error("invalid field: {0}")]
    InvalidField(String),
    /// An id names exactly one stream position; this one names another, so it is a different
    /// payload for an id that belongs to another event.
    #[error("id {id} is not the id of stream position {position} (that is {expected})")]
    IdNotPosition {
        id: Uuid,
        position: String,
        expected: Uuid,
    },
}

impl DecodeError {
    /// Machine-readable reason, as written on the dead-letter topic.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::InvalidJson(_) => "invalid_json",
            Self::UnknownType(_) => "unknown_type",
            Self::MissingField(_) => "missing_field",
            Self::InvalidField(_) => "invalid_field",
            Self::IdNotPosition { .. } => "conflict",
        }
    }
}

/// Decodes a version 1 usage event, checking the envelope before the payload so that an event of
/// another type is reported as such rather than as a list of missing fields.
pub fn decode_usage_event(bytes: &[u8]) -> Result<UsageEventV1, DecodeError> {
    // A well-formed event decodes straight into the struct, which is most of the aggregator's
    // work per event; only one that does not is decoded again, generically, to say what is wrong.
    let event = match serde_json::from_slice::<UsageEventV1>(bytes) {
        Ok(event) => {
            check_envelope(|key| match key {
                "type" => Some(event.event_type.as_str()),
                _ => Some(event.specversion.as_str()),
            })?;
            event
        }
        Err(_) => decode_generically(bytes)?,
    };
    check_fields(&event)?;
    Ok(event)
}

/// Decodes through a generic JSON value, so the error names the first thing that is wrong.
fn decode_generically(bytes: &[u8]) -> Result<UsageEventV1, DecodeError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| DecodeError::InvalidJson(e.to_string()))?;
    let object = value
        .as_object()
        .ok_or_else(|| DecodeError::InvalidJson("top level is not an object".into()))?;
    check_envelope(|key| object.get(key).and_then(serde_json::Value::as_str))?;
    serde_json::from_value(value).map_err(|e| {
        let message = e.to_string();
        if message.starts_with("missing field") {
            DecodeError::MissingField(message)
        } else {
            DecodeError::InvalidField(message)
        }
    })
}

/// The CloudEvents `type`, then `specversion`, as `text` reads them.
fn check_envelope<'a>(text: impl Fn(&str) -> Option<&'a str>) -> Result<(), DecodeError> {
    match text("type") {
        Some(USAGE_EVENT_TYPE_V1) => {}
        Some(other) => return Err(DecodeError::UnknownType(format!("type `{other}`"))),
        None => return Err(DecodeError::MissingField("type".into())),
    }
    match text("specversion") {
        Some(SPEC_VERSION) => Ok(()),
        Some(other) => Err(DecodeError::UnknownType(format!("specversion `{other}`"))),
        None => Err(DecodeError::MissingField("specversion".into())),
    }
}

/// What the types alone do not say: no empty names, a seq in range, the content type, and an id
/// that is its stream position's.
fn check_fields(event: &UsageEventV1) -> Result<(), DecodeError> {
    let data = &event.data;
    for (name, field) in [
        ("data.tenant_id", &data.tenant_id),
        ("data.allocation_id", &data.allocation_id),
        ("data.node_id", &data.node_id),
        ("data.gpu_uuid", &data.gpu_uuid),
        ("data.sku", &data.sku),
        ("source", &event.source),
    ] {
        if field.trim().is_empty() {
            return Err(DecodeError::MissingField(format!("{name} is empty")));
        }
    }
    if data.seq == 0 || data.seq > i64::MAX as u64 {
        return Err(DecodeError::InvalidField(format!(
            "data.seq {} is outside 1..2^63",
            data.seq
        )));
    }
    if event.datacontenttype != DATA_CONTENT_TYPE {
        return Err(DecodeError::InvalidField(format!(
            "datacontenttype `{}`",
            event.datacontenttype
        )));
    }
    let expected = usage_event_id(&data.allocation_id, &data.gpu_uuid, data.seq);
    if event.id != expected {
        return Err(DecodeError::IdNotPosition {
            id: event.id,
            position: format!("{}/{}/{}", data.allocation_id, data.gpu_uuid, data.seq),
            expected,
        });
    }
    Ok(())
}

/// Header names on dead-letter records. The record's key and value are the original ones, byte
/// for byte, so a fixed record can be replayed to the usage topic as it is.
pub mod dead_letter_headers {
    /// Machine-readable reason, e.g. `invalid_json`, `unknown_sku`.
    pub const REASON: &str = "gpubill-dlq-reason";
    /// Human-readable detail.
    pub const DETAIL: &str = "gpubill-dlq-detail";
    pub const SOURCE_TOPIC: &str = "gpubill-dlq-topic";
    pub const SOURCE_PARTITION: &str = "gpubill-dlq-partition";
    pub const SOURCE_OFFSET: &str = "gpubill-dlq-offset";
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const EXAMPLE: &str = r#"{
      "specversion": "1.0",
      "id": "958a1981-062d-5bec-92ff-bf5eb055656e",
      "source": "/nodes/node-001",
      "type": "gpubill.gpu.usage.v1",
      "time": "2026-11-23T10:00:10.004Z",
      "datacontenttype": "application/json",
      "data": {
        "tenant_id": "mistral-lab",
        "allocation_id": "alloc-0001",
        "node_id": "node-001",
        "gpu_uuid": "GPU-5f1e2d3c-0000-4000-8000-000000000001",
        "sku": "H100-SXM5-80GB",
        "seq": 42,
        "interval_start": "2026-11-23T10:00:00Z",
        "interval_end": "2026-11-23T10:00:10Z"
      }
    }"#;

    fn example_with(edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
        let mut value: serde_json::Value = serde_json::from_str(EXAMPLE).unwrap();
        edit(&mut value);
        serde_json::to_vec(&value).unwrap()
    }

    #[test]
    fn decodes_the_documented_example() {
        let event = decode_usage_event(EXAMPLE.as_bytes()).unwrap();
        assert_eq!(event.data.seq, 42);
        assert_eq!(event.partition_key(), "alloc-0001");
    }

    #[test]
    fn round_trips_and_derives_a_stable_id() {
        let event = decode_usage_event(EXAMPLE.as_bytes()).unwrap();
        let rebuilt = UsageEventV1::new(event.data.clone(), event.time);
        assert_eq!(decode_usage_event(&rebuilt.encode()).unwrap(), rebuilt);
        assert_eq!(
            rebuilt.id,
            usage_event_id("alloc-0001", "GPU-5f1e2d3c-0000-4000-8000-000000000001", 42)
        );
        assert_ne!(
            rebuilt.id,
            usage_event_id("alloc-0001", "GPU-5f1e2d3c-0000-4000-8000-000000000001", 43)
        );
    }

    #[test]
    fn an_id_that_is_not_its_positions_is_a_conflict() {
        let other = usage_event_id("alloc-0001", "GPU-5f1e2d3c-0000-4000-8000-000000000001", 43);
        let bytes = example_with(|v| v["id"] = other.to_string().into());
        let error = decode_usage_event(&bytes).unwrap_err();
        assert_eq!(error.reason(), "conflict");
        assert!(error.to_string().contains("/42"), "{error}");
    }

    #[test]
    fn the_fast_and_the_generic_decoding_agree() {
        let fast = decode_usage_event(EXAMPLE.as_bytes()).unwrap();
        assert_eq!(decode_generically(EXAMPLE.as_bytes()).unwrap(), fast);
    }

    /// The same bytes as the SQL of the migration that introduced `usage_runs` (checked there by
    /// an integration test); this pins them for the documented example.
    #[test]
    fn the_content_digest_is_stable() {
        let event = decode_usage_event(EXAMPLE.as_bytes()).unwrap();
        let data = &event.data;
        let digest = content_digest(
            event.id,
            &data.tenant_id,
            &data.node_id,
            &data.sku,
            PriceClass::OnDemand,
            (data.interval_start, data.interval_end),
            Decimal::new(10_000_000_000, 9),
        );
        let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
        assert_eq!(hex, "26be518c717e2c37eaf2583920a314c3");
    }

    /// Spot and reserved usage append their class to the digested text, so the same interval
    /// sold otherwise is another event's content; pinned for the documented example sold as spot.
    #[test]
    fn the_content_digest_of_a_spot_event_is_stable() {
        let event = decode_usage_event(&example_with(|v| v["data"]["price_class"] = "spot".into()))
            .unwrap();
        let data = &event.data;
        assert_eq!(data.price_class, PriceClass::Spot);
        let digest = |class| {
            content_digest(
                event.id,
                &data.tenant_id,
                &data.node_id,
                &data.sku,
                class,
                (data.interval_start, data.interval_end),
                Decimal::new(10_000_000_000, 9),
            )
        };
        // SHA-256 of `958a1981-062d-5bec-92ff-bf5eb055656e|mistral-lab|node-001|H100-SXM5-80GB|
        // 1795428000000000|1795428010000000|10|spot`, first 16 bytes.
        let hex: String = digest(PriceClass::Spot)
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        assert_eq!(hex, "3a37179107fb3097664fc2d053bccb34");
        let all: std::collections::BTreeSet<_> = PriceClass::ALL.into_iter().map(digest).collect();
        assert_eq!(all.len(), 3, "each class digests differently");
    }

    #[test]
    fn the_price_class_defaults_to_on_demand_and_is_written_only_otherwise() {
        let on_demand = decode_usage_event(EXAMPLE.as_bytes()).unwrap();
        assert_eq!(on_demand.data.price_class, PriceClass::OnDemand);
        let explicit = decode_usage_event(&example_with(|v| {
            v["data"]["price_class"] = "on_demand".into()
        }))
        .unwrap();
        assert_eq!(explicit, on_demand);
        // Encoded as before classes existed: no key at all.
        let encoded = String::from_utf8(on_demand.encode()).unwrap();
        assert!(!encoded.contains("price_class"), "{encoded}");

        for class in [PriceClass::Spot, PriceClass::Reserved] {
            let mut data = on_demand.data.clone();
            data.price_class = class;
            let event = UsageEventV1::new(data, on_demand.time);
            let encoded = event.encode();
            let text = String::from_utf8(encoded.clone()).unwrap();
            assert!(
                text.contains(&format!("\"price_class\":\"{class}\"")),
                "{text}"
            );
            assert_eq!(decode_usage_event(&encoded).unwrap(), event);
            assert_eq!(decode_generically(&encoded).unwrap(), event);
        }
    }

    #[test]
    fn an_unknown_price_class_is_an_invalid_field_that_names_it() {
        for value in [
            serde_json::Value::from("preemptible"),
            serde_json::Value::from("Spot"),
            serde_json::Value::from(2),
            serde_json::Value::Null,
        ] {
            let bytes = example_with(|v| v["data"]["price_class"] = value.clone());
            let error = decode_usage_event(&bytes).unwrap_err();
            assert_eq!(error.reason(), "invalid_field", "{value}: {error}");
            assert!(
                error.to_string().contains("data.price_class"),
                "{value}: {error}"
            );
        }
        let error = decode_usage_event(&example_with(|v| {
            v["data"]["price_class"] = "preemptible".into()
        }))
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid field: data.price_class: unknown price class `preemptible` (expected \
             on_demand, spot or reserved)"
        );
    }

    #[test]
    fn classifies_what_is_wrong() {
        let reason = |bytes: &[u8]| decode_usage_event(bytes).unwrap_err().reason();
        assert_eq!(reason(b"not json"), "invalid_json");
        assert_eq!(reason(b"[1,2]"), "invalid_json");
        assert_eq!(
            reason(&example_with(|v| v["type"] = "gpubill.gpu.usage.v2".into())),
            "unknown_type"
        );
        assert_eq!(
            reason(&example_with(|v| v["specversion"] = "0.3".into())),
            "unknown_type"
        );
        assert_eq!(
            reason(&example_with(|v| v["data"]
                .as_object_mut()
                .unwrap()
                .remove("seq")
                .map(drop)
                .unwrap())),
            "missing_field"
        );
        assert_eq!(
            reason(&example_with(|v| v["data"]["tenant_id"] = "".into())),
            "missing_field"
        );
        assert_eq!(
            reason(&example_with(|v| v["data"]["seq"] = 0.into())),
            "invalid_field"
        );
        assert_eq!(
            reason(&example_with(|v| v["data"]["seq"] = "x".into())),
            "invalid_field"
        );
        assert_eq!(
            reason(&example_with(
                |v| v["data"]["interval_end"] = "yesterday".into()
            )),
            "invalid_field"
        );
    }
}
