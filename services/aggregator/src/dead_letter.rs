//! The dead-letter topic: rejected records are produced there with their original key and
//! value, byte for byte, and headers that say why and where they came from, so they can be
//! inspected, fixed and replayed. A batch's dead letters are acknowledged by the broker before
//! the batch's offsets are committed, so a rejected record is never lost.

use crate::batch::DeadLetter;
use gpubill_platform::config::KafkaSettings;
use gpubill_platform::kafka::producer_config;
use gpubill_schema::event::dead_letter_headers as header;
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::util::Timeout;

pub struct DeadLetterProducer {
    producer: FutureProducer,
    topic: String,
    source_topic: String,
}

impl DeadLetterProducer {
    pub fn new(kafka: &KafkaSettings) -> Result<Self, KafkaError> {
        Ok(Self {
            producer: producer_config(kafka, "gpubill-aggregator-dlq").create()?,
            topic: kafka.dead_letter_topic.clone(),
            source_topic: kafka.usage_topic.clone(),
        })
    }

    /// Produces every letter and waits until the broker acknowledged all of them.
    pub async fn publish(&self, letters: &[DeadLetter]) -> Result<(), KafkaError> {
        let mut deliveries = Vec::with_capacity(letters.len());
        for letter in letters {
            let partition = letter.record.partition.to_string();
            let offset = letter.record.offset.to_string();
            let headers = OwnedHeaders::new()
                .insert(Header {
                    key: header::REASON,
                    value: Some(letter.rejection.reason),
                })
                .insert(Header {
                    key: header::DETAIL,
                    value: Some(&letter.rejection.detail),
                })
                .insert(Header {
                    key: header::SOURCE_TOPIC,
                    value: Some(&self.source_topic),
                })
                .insert(Header {
                    key: header::SOURCE_PARTITION,
                    value: Some(&partition),
                })
                .insert(Header {
                    key: header::SOURCE_OFFSET,
                    value: Some(&offset),
                });
            let mut record: FutureRecord<'_, [u8], [u8]> =
                FutureRecord::to(&self.topic).headers(headers);
            if let Some(key) = &letter.record.key {
                record = record.key(key.as_slice());
            }
            if let Some(payload) = &letter.record.payload {
                record = record.payload(payload.as_slice());
            }
            deliveries.push(self.producer.send(record, Timeout::Never));
        }
        for delivery in deliveries {
            delivery.await.map_err(|(error, _)| error)?;
        }
        Ok(())
    }
}
