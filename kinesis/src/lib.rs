//! Encrypted Amazon Kinesis Data Streams records with [sealbox]: an encrypting producer in the
//! manner of the Kinesis Producer Library (KPL), and a decrypting consumer that de-aggregates as
//! the Kinesis Client Library (KCL) does.
//!
//! ```no_run
//! use std::time::Duration;
//! use sealbox::{CachingCmm, RawAesKeyring};
//! use sealbox_kinesis::{
//!     Aggregation, BufferOptions, DecryptingConsumer, EncryptingProducer, StartingPosition,
//!     UserRecord,
//! };
//! use zeroize::Zeroizing;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
//! let kinesis = aws_sdk_kinesis::Client::new(&config);
//! let keyring = RawAesKeyring::new("ns", "key", Zeroizing::new(vec![7u8; 32]))?;
//! let cmm = CachingCmm::builder_with_keyring(keyring)
//!     .max_age(Duration::from_secs(300))
//!     .max_messages(1000)
//!     .build()?;
//!
//! // Buffered: `put` returns at once; its future resolves to the record's shard and sequence
//! // number, or to the error that ended it.
//! let producer = EncryptingProducer::new(kinesis.clone(), "orders", cmm.clone())
//!     .with_aggregation(Aggregation::AggregateThenEncrypt)
//!     .buffered(BufferOptions::default());
//! let pending = producer.put(UserRecord::new("customer-1", b"order 1".to_vec()));
//! producer.flush().await;
//! let placement = pending.await?;
//! println!("{} {}", placement.shard_id, placement.sequence_number);
//! producer.shutdown().await;
//!
//! let consumer = DecryptingConsumer::new(kinesis, "orders", cmm);
//! for shard in consumer.shard_ids().await? {
//!     let read = consumer.read_shard(&shard, StartingPosition::TrimHorizon).await;
//!     for record in read.records {
//!         match record {
//!             Ok(r) => println!("{}: {} bytes", r.partition_key, r.plaintext.len()),
//!             Err(e) => eprintln!("{e}"),
//!         }
//!     }
//! }
//! # Ok(())
//! # }
//! ```
//!
//! # What the producer promises
//!
//! - **Every record ends in exactly one outcome the caller sees**: its shard and sequence number
//!   ([`Placement`]), or the error that ended it ([`KinesisError`]). No call returns an error that
//!   hides records already written: [`EncryptingProducer::put_records`] returns one outcome per
//!   record, and [`BufferedProducer::put`] a future of one.
//! - **Only a lost answer leaves a record's fate open.** A throttled or failed request, or a
//!   record refused within `PutRecords`, wrote nothing and is sent again (jittered backoff, until
//!   its attempts or its time to live run out: [`RetryPolicy`]). A request that got no answer (the
//!   connection closed, a timeout) may have been written: its records end in
//!   [`KinesisError::Indeterminate`] and are *not* sent again, since that could write them twice.
//!   The KPL sends them again and accepts duplicates; here the caller decides. The SDK's own
//!   retries are turned off for `PutRecords` for the same reason.
//! - Partition keys and explicit hash keys are sent unchanged, so records shard as they would
//!   unencrypted. They are **not encrypted**: keep secrets out of them.
//! - The limits ([`Limits`]: record size, records and bytes per request) are the service's by
//!   default and can be raised for streams that allow larger records.
//!
//! # Aggregation
//!
//! [`Aggregation`] packs many user records into one Kinesis record in the KPL's aggregated
//! format ([`aggregate`], [`deaggregate`]), grouped by shard, so that the KCL and the
//! `aws-kinesis-agg` libraries read them:
//!
//! - [`Aggregation::EncryptThenAggregate`]: every user record is a complete ESDK message, which
//!   any ESDK decrypts after a plain de-aggregation. Each still carries a message header.
//! - [`Aggregation::AggregateThenEncrypt`]: one ESDK message per Kinesis record, so the header,
//!   signature and wrapped key are paid once per aggregate: small records cost little more than
//!   their plaintext on the wire. A reader must decrypt first and then de-aggregate (this crate's
//!   consumer does); a KCL alone sees one opaque record.
//!
//! # Crate features
//!
//! * `lambda`: [`KinesisEvent`], the event an AWS Lambda function receives from a stream, and
//!   [`DecryptingConsumer::decrypt_lambda_event`] (on `serde`).
//!
//! [sealbox]: https://docs.rs/sealbox
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(clippy::unwrap_used)]

mod aggregate;
mod buffered;
mod consumer;
mod engine;
mod error;
#[cfg(feature = "lambda")]
mod lambda;
mod producer;
mod shards;

pub use aggregate::{
    aggregate, deaggregate, is_aggregated, AggregationError, SubRecord, AGGREGATED_MAGIC,
};
pub use buffered::{BufferOptions, BufferedProducer, PutFuture};
pub use consumer::{
    ConsumerStats, DecryptedRecord, DecryptingConsumer, RecordResult, ShardRead, StartingPosition,
};
pub use error::KinesisError;
#[cfg(feature = "lambda")]
#[cfg_attr(docsrs, doc(cfg(feature = "lambda")))]
pub use lambda::{KinesisEvent, KinesisEventRecord, KinesisEventRecordData};
pub use producer::{
    Aggregation, EncryptingProducer, Outcome, ProducerStats, PutSummary, RetryPolicy,
};

/// The longest partition key, in Unicode characters.
pub const MAX_PARTITION_KEY_CHARS: usize = 256;

/// A stream, by name or by ARN (`StreamARN`, needed for cross-account access).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StreamRef {
    /// The stream's name, in the client's account and Region.
    Name(String),
    /// The stream's ARN.
    Arn(String),
}

impl StreamRef {
    /// A stream by its ARN.
    pub fn arn(arn: impl Into<String>) -> Self {
        StreamRef::Arn(arn.into())
    }
}

impl From<&str> for StreamRef {
    fn from(name: &str) -> Self {
        StreamRef::Name(name.to_owned())
    }
}

impl From<String> for StreamRef {
    fn from(name: String) -> Self {
        StreamRef::Name(name)
    }
}

impl From<&String> for StreamRef {
    fn from(name: &String) -> Self {
        StreamRef::Name(name.clone())
    }
}

impl std::fmt::Display for StreamRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StreamRef::Name(n) | StreamRef::Arn(n) => f.write_str(n),
        }
    }
}

/// Set the stream (`StreamName` or `StreamARN`) of a request builder; every Kinesis request
/// builder has both setters.
macro_rules! with_stream {
    ($builder:expr, $stream:expr) => {
        match $stream {
            $crate::StreamRef::Name(n) => $builder.stream_name(n),
            $crate::StreamRef::Arn(a) => $builder.stream_arn(a),
        }
    };
}
pub(crate) use with_stream;

impl StreamRef {
    pub(crate) fn list_shards(
        &self,
        b: aws_sdk_kinesis::operation::list_shards::builders::ListShardsFluentBuilder,
    ) -> aws_sdk_kinesis::operation::list_shards::builders::ListShardsFluentBuilder {
        with_stream!(b, self)
    }
}

/// The size limits the producer keeps to. The defaults are the service's: records of at most
/// 1 MiB (data plus partition key), requests of at most 500 records and 5 MiB. Streams that opted
/// in to larger records (up to 10 MiB) can raise [`Limits::max_record_bytes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// The most bytes of one Kinesis record: its data (encrypted, aggregated) plus its partition
    /// key.
    pub max_record_bytes: usize,
    /// The most records in one `PutRecords` request.
    pub max_request_records: usize,
    /// The most bytes (data plus partition keys) in one `PutRecords` request.
    pub max_request_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_record_bytes: 1024 * 1024,
            max_request_records: 500,
            max_request_bytes: 5 * 1024 * 1024,
        }
    }
}

impl Limits {
    /// Set the most bytes of one record (e.g. `10 * 1024 * 1024` for a stream that allows it).
    pub fn max_record_bytes(mut self, bytes: usize) -> Self {
        self.max_record_bytes = bytes.max(1);
        self
    }

    /// Set the most records of one request.
    pub fn max_request_records(mut self, records: usize) -> Self {
        self.max_request_records = records.max(1);
        self
    }

    /// Set the most bytes of one request.
    pub fn max_request_bytes(mut self, bytes: usize) -> Self {
        self.max_request_bytes = bytes.max(1);
        self
    }
}

/// One record as the application hands it over: a partition key, an optional explicit hash key
/// (a decimal integer below 2^128 that picks the shard instead of the key's MD5), and the
/// plaintext.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct UserRecord {
    /// The partition key, sent unchanged (1 to 256 characters).
    pub partition_key: String,
    /// The explicit hash key, sent unchanged.
    pub explicit_hash_key: Option<String>,
    /// The plaintext.
    pub data: Vec<u8>,
}

impl UserRecord {
    /// A record with a partition key and no explicit hash key.
    pub fn new(partition_key: impl Into<String>, data: impl Into<Vec<u8>>) -> Self {
        UserRecord {
            partition_key: partition_key.into(),
            explicit_hash_key: None,
            data: data.into(),
        }
    }

    /// Set the explicit hash key.
    pub fn explicit_hash_key(mut self, hash_key: impl Into<String>) -> Self {
        self.explicit_hash_key = Some(hash_key.into());
        self
    }

    /// Check the partition key and explicit hash key before anything is encrypted.
    pub(crate) fn validate(&self) -> Result<(), KinesisError> {
        let chars = self.partition_key.chars().count();
        if chars == 0 || chars > MAX_PARTITION_KEY_CHARS {
            return Err(KinesisError::PartitionKey { chars });
        }
        if let Some(h) = &self.explicit_hash_key {
            if !h.bytes().all(|b| b.is_ascii_digit()) || h.parse::<u128>().is_err() {
                return Err(KinesisError::ExplicitHashKey(h.clone()));
            }
        }
        Ok(())
    }
}

impl<K: Into<String>, D: Into<Vec<u8>>> From<(K, D)> for UserRecord {
    fn from((key, data): (K, D)) -> Self {
        UserRecord::new(key, data)
    }
}

/// Where a record was written.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Placement {
    /// The shard.
    pub shard_id: String,
    /// The Kinesis record's sequence number.
    pub sequence_number: String,
    /// With aggregation, the user record's position in its aggregated record (the KCL's
    /// sub-sequence number); `None` when the record was sent alone.
    pub sub_sequence_number: Option<u64>,
    /// How often it was sent, the successful attempt included.
    pub attempts: u32,
}

/// The Rust examples of the guide (`docs/kinesis.md`), compiled as doctests so that they stay true
/// to the API.
#[cfg(doctest)]
#[doc = include_str!("../../docs/kinesis.md")]
pub struct GuideDoctests;
