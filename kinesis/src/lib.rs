//! Encrypted Amazon Kinesis Data Streams records: a producer that encrypts each
//! record into an ESDK message before `PutRecord`/`PutRecords`, and a consumer that decrypts what
//! `GetRecords` returns.
//!
//! Put a [`CachingCmm`](sealbox::CachingCmm) behind both: a stream of small records is exactly the
//! workload where one master-key call per record is too slow and too expensive, and the cache
//! turns it into one call per `max_messages` records. Each record is a complete, independent ESDK
//! message, so any ESDK can decrypt it, and records can be read in any order or alone.
//!
//! - Partition keys (and explicit hash keys) are sent unchanged, so records shard as they would
//!   unencrypted. They are not encrypted: do not put secrets in them.
//! - `PutRecords` batches respect the service's limits: at most 500 records and 5 MiB (data plus
//!   partition keys) per request, at most 1 MiB per record after encryption. Records the service
//!   rejects within a batch (throttling, internal failure) are sent again with backoff.
//! - The Kinesis client comes from the caller, built the usual way, so the endpoint, region,
//!   credentials, retries and timeouts all come from the standard AWS configuration.
//!
//! ```no_run
//! use std::time::Duration;
//! use sealbox_kinesis::{DecryptingConsumer, EncryptingProducer};
//! use sealbox::{CachingCmm, RawAesKeyring};
//! use zeroize::Zeroizing;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
//! let kinesis = aws_sdk_kinesis::Client::new(&config);
//! let keyring = RawAesKeyring::new("ns", "key", Zeroizing::new(vec![7u8; 32]))?;
//! let cmm = CachingCmm::builder_with_keyring(keyring)
//!     .max_age(Duration::from_secs(300))
//!     .max_messages(100)
//!     .build()?;
//!
//! let producer = EncryptingProducer::new(kinesis.clone(), "orders", cmm.clone());
//! let summary = producer
//!     .put_records(vec![("customer-1", b"order 1".to_vec()), ("customer-2", b"order 2".to_vec())])
//!     .await?;
//! assert!(summary.failed.is_empty());
//!
//! let consumer = DecryptingConsumer::new(kinesis, "orders", cmm);
//! for record in consumer.read_all_shards().await? {
//!     println!("{}: {} bytes", record.partition_key, record.plaintext.len());
//! }
//! # Ok(())
//! # }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(clippy::unwrap_used)]

mod consumer;
mod error;
mod producer;

pub use consumer::{ConsumerStats, DecryptedRecord, DecryptingConsumer};
pub use error::{
    KinesisError, MAX_BYTES_PER_REQUEST, MAX_PARTITION_KEY_CHARS, MAX_RECORDS_PER_REQUEST,
    MAX_RECORD_BYTES,
};
pub use producer::{EncryptingProducer, FailedRecord, ProducerStats, PutSummary};

/// The Rust examples of the guide (`docs/kinesis.md`), compiled as doctests so that they stay true
/// to the API.
#[cfg(doctest)]
#[doc = include_str!("../../docs/kinesis.md")]
pub struct GuideDoctests;
