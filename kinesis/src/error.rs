//! The crate's limits and its error type.

use aws_sdk_kinesis::error::DisplayErrorContext;
use sealbox::{BoxError, Error};

/// The most records in one `PutRecords` request.
pub const MAX_RECORDS_PER_REQUEST: usize = 500;
/// The most bytes (data plus partition keys) in one `PutRecords` request: 5 MiB.
pub const MAX_BYTES_PER_REQUEST: usize = 5 * 1024 * 1024;
/// The most bytes (data plus partition key) in one record: 1 MiB.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;
/// The longest partition key, in Unicode characters.
pub const MAX_PARTITION_KEY_CHARS: usize = 256;

/// What can go wrong producing or consuming encrypted records.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KinesisError {
    /// Encrypting a record failed (materials, keyring ...).
    #[error("encrypting record {index}: {source}")]
    Encrypt {
        /// The record's position in the input.
        index: usize,
        /// Why.
        #[source]
        source: Error,
    },
    /// A record read from the stream did not decrypt: not an ESDK message, a key this consumer
    /// cannot unwrap, a context that does not match, or tampering.
    #[error("decrypting record {sequence_number} of shard {shard_id}: {source}")]
    Decrypt {
        /// The shard the record came from.
        shard_id: String,
        /// The record's sequence number.
        sequence_number: String,
        /// Why.
        #[source]
        source: Error,
    },
    /// An encrypted record is over the service's 1 MiB limit. Nothing of the batch was sent.
    #[error(
        "record {index} is {size} bytes encrypted with its partition key; Kinesis takes at most \
         {MAX_RECORD_BYTES}"
    )]
    RecordTooLarge {
        /// The record's position in the input.
        index: usize,
        /// Its encrypted size plus its partition key.
        size: usize,
    },
    /// A partition key is empty or longer than 256 characters. Nothing of the batch was sent.
    #[error("record {index}: a partition key must have 1 to 256 characters, not {chars}")]
    PartitionKey {
        /// The record's position in the input.
        index: usize,
        /// Its length in characters.
        chars: usize,
    },
    /// A Kinesis call failed (after the SDK's own retries).
    #[error("Kinesis {operation}: {message}")]
    Service {
        /// The API operation, e.g. `PutRecords`.
        operation: &'static str,
        /// The SDK error with its whole context.
        message: String,
        /// The SDK error.
        #[source]
        source: BoxError,
    },
}

pub(crate) fn service<E>(operation: &'static str) -> impl FnOnce(E) -> KinesisError
where
    E: std::error::Error + Send + Sync + 'static,
{
    move |e| KinesisError::Service {
        operation,
        message: DisplayErrorContext(&e).to_string(),
        source: Box::new(e),
    }
}
