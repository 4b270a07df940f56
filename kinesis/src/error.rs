//! The crate's error type, and how a failed Kinesis request is classified.

use std::sync::Arc;

use aws_sdk_kinesis::config::http::HttpResponse;
use aws_sdk_kinesis::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use sealbox::Error;

use crate::aggregate::AggregationError;

/// What can go wrong producing or consuming encrypted records. For a record put, see
/// [`KinesisError::may_be_written`]: only [`KinesisError::Indeterminate`] leaves the record's
/// fate unknown; every other error means the record is not in the stream.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KinesisError {
    /// Encrypting a record failed (materials, keyring ...).
    #[error("encrypting the record: {source}")]
    Encrypt {
        /// Why.
        #[source]
        source: Arc<Error>,
    },
    /// A record read from the stream did not decrypt: not an ESDK message, a key this consumer
    /// cannot unwrap, a context that does not match, or tampering.
    #[error("decrypting record {sequence_number}{} of shard {shard_id}: {source}",
        sub_sequence_number.map(|s| format!(" (user record {s})")).unwrap_or_default())]
    Decrypt {
        /// The shard the record came from.
        shard_id: String,
        /// The Kinesis record's sequence number.
        sequence_number: String,
        /// The user record's position in a KPL aggregated record, when it was one.
        sub_sequence_number: Option<u64>,
        /// Why.
        #[source]
        source: Arc<Error>,
    },
    /// A record read from the stream claims to be a KPL aggregated record (magic and MD5 match)
    /// but its contents are malformed.
    #[error("record {sequence_number} of shard {shard_id}: {source}")]
    Deaggregate {
        /// The shard the record came from.
        shard_id: String,
        /// The Kinesis record's sequence number.
        sequence_number: String,
        /// Why.
        #[source]
        source: AggregationError,
    },
    /// A Lambda event record's data is not base64.
    #[error("event record {sequence_number}: its data is not base64: {message}")]
    EventData {
        /// The record's sequence number.
        sequence_number: String,
        /// The decoder's message.
        message: String,
    },
    /// A record, encrypted (and aggregated), is over the producer's record limit
    /// ([`Limits::max_record_bytes`](crate::Limits::max_record_bytes)). It was not sent.
    #[error("the record is {size} bytes encrypted with its partition key; the limit is {limit}")]
    RecordTooLarge {
        /// Its encrypted size plus its partition key.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// A partition key is empty or longer than 256 characters. The record was not sent.
    #[error("a partition key must have 1 to 256 characters, not {chars}")]
    PartitionKey {
        /// Its length in characters.
        chars: usize,
    },
    /// An explicit hash key is not a decimal integer below 2^128. The record was not sent.
    #[error("an explicit hash key must be a decimal integer below 2^128, not {0:?}")]
    ExplicitHashKey(String),
    /// The service refused the record (within `PutRecords`, or the whole request) on its last
    /// attempt, with a retryable error: throttling or an internal failure. The record is not in
    /// the stream.
    #[error("Kinesis refused the record after {attempts} attempts: {code}: {message}")]
    Rejected {
        /// The service's error code, e.g. `ProvisionedThroughputExceededException`.
        code: String,
        /// The service's message.
        message: String,
        /// How often the record was sent.
        attempts: u32,
    },
    /// The record's time to live passed before it could be written. The record is not in the
    /// stream; `last` says why its last attempt failed.
    #[error("the record's time to live passed after {attempts} attempts; last: {last}")]
    Expired {
        /// How often the record was sent.
        attempts: u32,
        /// The last attempt's error.
        last: String,
    },
    /// A request carrying the record was sent but no answer came back (the connection closed, a
    /// timeout, an unreadable response): the service may or may not have written it. It is not
    /// sent again, since that could write it twice; a reader can look for it.
    #[error(
        "Kinesis {operation}: no answer, the record may or may not be in the stream: {message}"
    )]
    Indeterminate {
        /// The API operation, e.g. `PutRecords`.
        operation: &'static str,
        /// The SDK error with its whole context.
        message: String,
    },
    /// The producer was shut down, or its background task ended, before the record was sent.
    #[error("the producer shut down before the record was sent")]
    Shutdown,
    /// A Kinesis call failed with an answer that retrying does not change (a missing stream,
    /// access denied, a malformed request), or a read failed after the SDK's own retries.
    #[error("Kinesis {operation}: {message}")]
    Service {
        /// The API operation, e.g. `PutRecords`.
        operation: &'static str,
        /// The SDK error with its whole context.
        message: String,
        /// The SDK error.
        #[source]
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
}

impl KinesisError {
    /// Whether the record this error is about may be in the stream after all: only after
    /// [`KinesisError::Indeterminate`]. Every other error of a put means it is not.
    pub fn may_be_written(&self) -> bool {
        matches!(self, KinesisError::Indeterminate { .. })
    }
}

pub(crate) fn service<E>(operation: &'static str) -> impl FnOnce(E) -> KinesisError
where
    E: std::error::Error + Send + Sync + 'static,
{
    move |e| KinesisError::Service {
        operation,
        message: DisplayErrorContext(&e).to_string(),
        source: Arc::new(e),
    }
}

/// What a failed request means for the records it carried.
pub(crate) enum RequestFailure {
    /// The service answered with an error worth retrying: nothing was written.
    Retry { code: String, message: String },
    /// The service answered with an error retrying does not change: nothing was written.
    Final(KinesisError),
    /// No answer: the records may or may not have been written.
    Unknown(KinesisError),
}

/// Error codes after which the service wrote nothing and a later attempt may succeed.
fn retryable(code: &str, status: u16) -> bool {
    status >= 500
        || matches!(
            code,
            "ProvisionedThroughputExceededException"
                | "ThrottlingException"
                | "LimitExceededException"
                | "InternalFailure"
                | "ServiceUnavailable"
                | "KMSThrottlingException"
        )
}

pub(crate) fn classify<E>(operation: &'static str, e: SdkError<E, HttpResponse>) -> RequestFailure
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
{
    let message = DisplayErrorContext(&e).to_string();
    match &e {
        SdkError::ServiceError(s) => {
            let code = s.err().code().unwrap_or("Unknown").to_owned();
            if retryable(&code, s.raw().status().as_u16()) {
                RequestFailure::Retry {
                    message: s.err().message().unwrap_or_default().to_owned(),
                    code,
                }
            } else {
                RequestFailure::Final(service(operation)(e))
            }
        }
        SdkError::ConstructionFailure(_) => RequestFailure::Final(service(operation)(e)),
        // The request may have reached the service: a dropped connection, a timeout, a response
        // that could not be read.
        _ => RequestFailure::Unknown(KinesisError::Indeterminate { operation, message }),
    }
}
