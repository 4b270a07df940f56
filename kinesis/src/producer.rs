//! The encrypting producer.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_kinesis::primitives::Blob;
use aws_sdk_kinesis::types::PutRecordsRequestEntry;
use sealbox::{Client, EncryptionContext, MaterialsManager};

use crate::error::{
    service, KinesisError, MAX_BYTES_PER_REQUEST, MAX_PARTITION_KEY_CHARS, MAX_RECORDS_PER_REQUEST,
    MAX_RECORD_BYTES,
};

/// The outcome of [`EncryptingProducer::put_records`].
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct PutSummary {
    /// Records written.
    pub records: usize,
    /// Their plaintext bytes.
    pub plaintext_bytes: u64,
    /// Their encrypted bytes, as stored in the stream.
    pub ciphertext_bytes: u64,
    /// `PutRecords` requests made, retries included.
    pub requests: usize,
    /// Records the service rejected once and that were sent again.
    pub retried: usize,
    /// Records still rejected after every attempt, with the service's error code and message.
    pub failed: Vec<FailedRecord>,
    /// The shard and sequence number of each input record that was written, in input order
    /// (`None` for failed ones).
    pub placements: Vec<Option<(String, String)>>,
}

/// A record that the service rejected on every attempt.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct FailedRecord {
    /// Its position in the input.
    pub index: usize,
    /// The service's error code, e.g. `ProvisionedThroughputExceededException`.
    pub error_code: String,
    /// The service's message.
    pub error_message: String,
}

/// Counters of a producer over its lifetime.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProducerStats {
    /// Records written.
    pub records: u64,
    /// Plaintext bytes of the records written.
    pub plaintext_bytes: u64,
    /// Encrypted bytes of the records written.
    pub ciphertext_bytes: u64,
    /// `PutRecord` and `PutRecords` requests made.
    pub requests: u64,
    /// The most records one request carried.
    pub max_records_per_request: u64,
    /// The most bytes (data plus partition keys) one request carried.
    pub max_bytes_per_request: u64,
}

#[derive(Default)]
struct ProducerCounters {
    records: AtomicU64,
    plaintext_bytes: AtomicU64,
    ciphertext_bytes: AtomicU64,
    requests: AtomicU64,
    max_records_per_request: AtomicU64,
    max_bytes_per_request: AtomicU64,
}

/// Encrypts records and writes them to a stream. Cheap to clone; share one per stream.
#[derive(Clone)]
pub struct EncryptingProducer {
    kinesis: aws_sdk_kinesis::Client,
    stream: String,
    cmm: Arc<dyn MaterialsManager>,
    client: Client,
    context: EncryptionContext,
    max_attempts: u32,
    backoff: Duration,
    counters: Arc<ProducerCounters>,
}

impl fmt::Debug for EncryptingProducer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptingProducer")
            .field("stream", &self.stream)
            .field("cmm", &self.cmm)
            .field("context", &self.context)
            .finish_non_exhaustive()
    }
}

/// One record ready to send.
struct Encrypted {
    index: usize,
    partition_key: String,
    data: Vec<u8>,
}

impl Encrypted {
    fn size(&self) -> usize {
        self.data.len() + self.partition_key.len()
    }
}

impl EncryptingProducer {
    /// A producer for the stream named `stream`, encrypting under materials from `cmm` with the
    /// default [`Client`] and an empty encryption context.
    pub fn new(
        kinesis: aws_sdk_kinesis::Client,
        stream: impl Into<String>,
        cmm: impl MaterialsManager + 'static,
    ) -> Self {
        EncryptingProducer {
            kinesis,
            stream: stream.into(),
            cmm: Arc::new(cmm),
            client: Client::new(),
            context: EncryptionContext::new(),
            max_attempts: 5,
            backoff: Duration::from_millis(100),
            counters: Arc::default(),
        }
    }

    /// The client that encrypts (suite, frame length, commitment policy).
    pub fn with_client(mut self, client: Client) -> Self {
        self.client = client;
        self
    }

    /// The encryption context of every record. It selects the cache entry, so records that share
    /// a context share data keys; keep it to a few distinct values per producer.
    pub fn with_encryption_context(mut self, context: EncryptionContext) -> Self {
        self.context = context;
        self
    }

    /// How often a record the service rejects within a `PutRecords` batch is sent at most
    /// (default 5), and the first backoff between attempts, doubled each time (default 100 ms).
    pub fn with_retries(mut self, max_attempts: u32, backoff: Duration) -> Self {
        self.max_attempts = max_attempts.max(1);
        self.backoff = backoff;
        self
    }

    /// The stream's name.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// The producer's counters.
    pub fn stats(&self) -> ProducerStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ProducerStats {
            records: get(&c.records),
            plaintext_bytes: get(&c.plaintext_bytes),
            ciphertext_bytes: get(&c.ciphertext_bytes),
            requests: get(&c.requests),
            max_records_per_request: get(&c.max_records_per_request),
            max_bytes_per_request: get(&c.max_bytes_per_request),
        }
    }

    async fn encrypt(
        &self,
        index: usize,
        partition_key: String,
        data: &[u8],
    ) -> Result<Encrypted, KinesisError> {
        let chars = partition_key.chars().count();
        if chars == 0 || chars > MAX_PARTITION_KEY_CHARS {
            return Err(KinesisError::PartitionKey { index, chars });
        }
        let data = self
            .client
            .encrypt(self.cmm.as_ref(), data, &self.context)
            .await
            .map_err(|source| KinesisError::Encrypt { index, source })?;
        let record = Encrypted {
            index,
            partition_key,
            data,
        };
        if record.size() > MAX_RECORD_BYTES {
            return Err(KinesisError::RecordTooLarge {
                index,
                size: record.size(),
            });
        }
        Ok(record)
    }

    fn count_request(&self, records: usize, bytes: usize) {
        let c = &self.counters;
        c.requests.fetch_add(1, Ordering::Relaxed);
        c.max_records_per_request
            .fetch_max(records as u64, Ordering::Relaxed);
        c.max_bytes_per_request
            .fetch_max(bytes as u64, Ordering::Relaxed);
    }

    fn count_written(&self, plaintext: u64, ciphertext: u64) {
        let c = &self.counters;
        c.records.fetch_add(1, Ordering::Relaxed);
        c.plaintext_bytes.fetch_add(plaintext, Ordering::Relaxed);
        c.ciphertext_bytes.fetch_add(ciphertext, Ordering::Relaxed);
    }

    /// Encrypt one record and write it with `PutRecord`. Returns its shard ID and sequence
    /// number.
    pub async fn put_record(
        &self,
        partition_key: impl Into<String>,
        data: &[u8],
    ) -> Result<(String, String), KinesisError> {
        let record = self.encrypt(0, partition_key.into(), data).await?;
        self.count_request(1, record.size());
        let ciphertext = record.data.len() as u64;
        let out = self
            .kinesis
            .put_record()
            .stream_name(&self.stream)
            .partition_key(record.partition_key)
            .data(Blob::new(record.data))
            .send()
            .await
            .map_err(service("PutRecord"))?;
        self.count_written(data.len() as u64, ciphertext);
        Ok((out.shard_id().to_owned(), out.sequence_number().to_owned()))
    }

    /// Encrypt every record, then write them with as few `PutRecords` requests as the limits
    /// allow. Every record is encrypted before anything is sent, so an encryption error or an
    /// oversized record sends nothing. Records the service rejects are sent again with backoff;
    /// those still rejected at the end are in [`PutSummary::failed`].
    pub async fn put_records<I, K, D>(&self, records: I) -> Result<PutSummary, KinesisError>
    where
        I: IntoIterator<Item = (K, D)>,
        K: Into<String>,
        D: AsRef<[u8]>,
    {
        let mut pending = Vec::new();
        let mut plaintext_sizes = Vec::new();
        for (index, (key, data)) in records.into_iter().enumerate() {
            let data = data.as_ref();
            plaintext_sizes.push(data.len() as u64);
            pending.push(self.encrypt(index, key.into(), data).await?);
        }
        let mut summary = PutSummary {
            placements: vec![None; pending.len()],
            ..PutSummary::default()
        };
        let mut attempt = 0;
        let mut last_errors: Vec<(usize, String, String)> = Vec::new();
        while !pending.is_empty() {
            if attempt > 0 {
                let wait = self.backoff.saturating_mul(1 << (attempt - 1).min(10));
                tokio::time::sleep(wait).await;
            }
            attempt += 1;
            let mut rejected = Vec::new();
            last_errors.clear();
            for batch in batches(pending) {
                let bytes: usize = batch.iter().map(Encrypted::size).sum();
                self.count_request(batch.len(), bytes);
                summary.requests += 1;
                let entries = batch
                    .iter()
                    .map(|r| {
                        PutRecordsRequestEntry::builder()
                            .partition_key(r.partition_key.clone())
                            .data(Blob::new(r.data.clone()))
                            .build()
                            .map_err(service("PutRecords"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let out = self
                    .kinesis
                    .put_records()
                    .stream_name(&self.stream)
                    .set_records(Some(entries))
                    .send()
                    .await
                    .map_err(service("PutRecords"))?;
                let results = out.records();
                for (i, record) in batch.into_iter().enumerate() {
                    match results.get(i) {
                        Some(r) if r.error_code().is_none() => {
                            self.count_written(
                                plaintext_sizes[record.index],
                                record.data.len() as u64,
                            );
                            summary.records += 1;
                            summary.plaintext_bytes += plaintext_sizes[record.index];
                            summary.ciphertext_bytes += record.data.len() as u64;
                            summary.placements[record.index] = Some((
                                r.shard_id().unwrap_or_default().to_owned(),
                                r.sequence_number().unwrap_or_default().to_owned(),
                            ));
                        }
                        result => {
                            let (code, message) = result.map_or(
                                ("MissingResult".to_owned(), "no result entry".to_owned()),
                                |r| {
                                    (
                                        r.error_code().unwrap_or_default().to_owned(),
                                        r.error_message().unwrap_or_default().to_owned(),
                                    )
                                },
                            );
                            last_errors.push((record.index, code, message));
                            rejected.push(record);
                        }
                    }
                }
            }
            if !rejected.is_empty() && attempt < self.max_attempts {
                summary.retried += rejected.len();
                tracing::debug!(
                    records = rejected.len(),
                    attempt,
                    "Kinesis rejected records; sending them again"
                );
                pending = rejected;
            } else {
                break;
            }
        }
        summary.failed = last_errors
            .into_iter()
            .map(|(index, error_code, error_message)| FailedRecord {
                index,
                error_code,
                error_message,
            })
            .collect();
        Ok(summary)
    }
}

/// Split records, in order, into batches within the `PutRecords` limits. Every record is at most
/// [`MAX_RECORD_BYTES`], so each fits in a batch of its own.
fn batches(records: Vec<Encrypted>) -> Vec<Vec<Encrypted>> {
    let mut out = Vec::new();
    let mut batch: Vec<Encrypted> = Vec::new();
    let mut bytes = 0;
    for r in records {
        if !batch.is_empty()
            && (batch.len() == MAX_RECORDS_PER_REQUEST || bytes + r.size() > MAX_BYTES_PER_REQUEST)
        {
            out.push(std::mem::take(&mut batch));
            bytes = 0;
        }
        bytes += r.size();
        batch.push(r);
    }
    if !batch.is_empty() {
        out.push(batch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(index: usize, data_len: usize) -> Encrypted {
        Encrypted {
            index,
            partition_key: "k".into(),
            data: vec![0; data_len],
        }
    }

    #[test]
    fn batches_keep_order_and_respect_count_and_byte_limits() {
        let many: Vec<Encrypted> = (0..1201).map(|i| record(i, 10)).collect();
        let b = batches(many);
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), [500, 500, 201]);
        assert_eq!(b[1][0].index, 500);

        // 1 MiB - 1 of data plus a 1-byte key: five fit in 5 MiB, a sixth does not.
        let big: Vec<Encrypted> = (0..11).map(|i| record(i, MAX_RECORD_BYTES - 1)).collect();
        let b = batches(big);
        assert_eq!(b.iter().map(Vec::len).collect::<Vec<_>>(), [5, 5, 1]);
        for batch in &b {
            assert!(batch.iter().map(Encrypted::size).sum::<usize>() <= MAX_BYTES_PER_REQUEST);
        }
        assert!(batches(Vec::new()).is_empty());
    }
}
