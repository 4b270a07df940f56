//! The decrypting consumer: reads shards from any position, renews expired iterators,
//! de-aggregates KPL records (before or after decrypting, whichever the producer did), and gives
//! one result per user record.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_sdk_kinesis::error::ProvideErrorMetadata;
use aws_sdk_kinesis::primitives::DateTime;
use aws_sdk_kinesis::types::{Record, ShardIteratorType};
use sealbox::{Client, DecryptOptions, EncryptionContext, MaterialsManager};

use crate::aggregate::{deaggregate, is_aggregated, SubRecord};
use crate::error::{service, KinesisError};
use crate::{with_stream, StreamRef};

/// Where reading a shard starts: every `ShardIteratorType`, with its position.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StartingPosition {
    /// The oldest record the shard keeps.
    TrimHorizon,
    /// Only records written from now on.
    Latest,
    /// The record with this sequence number, and what follows.
    AtSequenceNumber(String),
    /// What follows the record with this sequence number (to resume after the last one read).
    AfterSequenceNumber(String),
    /// The first record written at or after this time.
    AtTimestamp(SystemTime),
}

/// A user record read from a stream and decrypted.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DecryptedRecord {
    /// The shard it came from.
    pub shard_id: String,
    /// The Kinesis record's sequence number.
    pub sequence_number: String,
    /// Its position in a KPL aggregated record, when it came in one.
    pub sub_sequence_number: Option<u64>,
    /// Its partition key, as the producer gave it.
    pub partition_key: String,
    /// Its explicit hash key, when it came in an aggregated record that kept one.
    pub explicit_hash_key: Option<String>,
    /// The plaintext, released only after the whole message verified.
    pub plaintext: Vec<u8>,
    /// The message's encryption context.
    pub encryption_context: EncryptionContext,
    /// The size of the Kinesis record's data (shared by the user records of an aggregate).
    pub ciphertext_len: usize,
}

/// One user record's result: decrypted, or the error that names its shard and sequence number.
pub type RecordResult = Result<DecryptedRecord, KinesisError>;

/// What reading one shard gave.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct ShardRead {
    /// Every user record read, in order, decrypted or not: a record that fails never hides the
    /// others.
    pub records: Vec<RecordResult>,
    /// The sequence number of the last Kinesis record read: resume with
    /// [`StartingPosition::AfterSequenceNumber`].
    pub last_sequence_number: Option<String>,
    /// The shard is closed (split or merged) and was read to its end.
    pub closed: bool,
    /// How often an expired shard iterator was replaced.
    pub iterators_renewed: u32,
    /// The call that stopped the read early, if one did; what was read before it is above.
    pub error: Option<KinesisError>,
}

/// Counters of a consumer over its lifetime.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsumerStats {
    /// User records decrypted.
    pub records: u64,
    /// User records that failed.
    pub failed: u64,
    /// Kinesis records read.
    pub kinesis_records: u64,
    /// Plaintext bytes of the records decrypted.
    pub plaintext_bytes: u64,
    /// Bytes of the Kinesis records read (their data).
    pub ciphertext_bytes: u64,
    /// `GetRecords` requests made.
    pub get_records_requests: u64,
}

#[derive(Default)]
struct ConsumerCounters {
    records: AtomicU64,
    failed: AtomicU64,
    kinesis_records: AtomicU64,
    plaintext_bytes: AtomicU64,
    ciphertext_bytes: AtomicU64,
    get_records_requests: AtomicU64,
}

/// Reads records from a stream and decrypts them. Cheap to clone.
#[derive(Clone)]
pub struct DecryptingConsumer {
    kinesis: aws_sdk_kinesis::Client,
    stream: StreamRef,
    cmm: Arc<dyn MaterialsManager>,
    client: Client,
    expected_context: Option<EncryptionContext>,
    page_limit: i32,
    counters: Arc<ConsumerCounters>,
}

impl fmt::Debug for DecryptingConsumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecryptingConsumer")
            .field("stream", &self.stream)
            .field("cmm", &self.cmm)
            .finish_non_exhaustive()
    }
}

/// The most consecutive expired-iterator answers before a read gives up.
const MAX_RENEWALS_IN_A_ROW: u32 = 5;

impl DecryptingConsumer {
    /// A consumer of `stream` (a name, or [`StreamRef::arn`]), decrypting with materials from
    /// `cmm` and the default [`Client`].
    pub fn new(
        kinesis: aws_sdk_kinesis::Client,
        stream: impl Into<StreamRef>,
        cmm: impl MaterialsManager + 'static,
    ) -> Self {
        DecryptingConsumer {
            kinesis,
            stream: stream.into(),
            cmm: Arc::new(cmm),
            client: Client::new(),
            expected_context: None,
            page_limit: 10_000,
            counters: Arc::default(),
        }
    }

    /// The client that decrypts (commitment policy, EDK limit).
    pub fn with_client(mut self, client: Client) -> Self {
        self.client = client;
        self
    }

    /// Require every record's stored context to agree with `context` (and supply required
    /// entries it does not store); a record that does not fails to decrypt.
    pub fn with_expected_context(mut self, context: EncryptionContext) -> Self {
        self.expected_context = Some(context);
        self
    }

    /// The most records one `GetRecords` call returns (1 to 10,000, the default).
    pub fn with_get_records_limit(mut self, limit: u32) -> Self {
        self.page_limit = limit.clamp(1, 10_000) as i32;
        self
    }

    /// The consumer's counters.
    pub fn stats(&self) -> ConsumerStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ConsumerStats {
            records: get(&c.records),
            failed: get(&c.failed),
            kinesis_records: get(&c.kinesis_records),
            plaintext_bytes: get(&c.plaintext_bytes),
            ciphertext_bytes: get(&c.ciphertext_bytes),
            get_records_requests: get(&c.get_records_requests),
        }
    }

    async fn decrypt(&self, data: &[u8]) -> Result<sealbox::Decrypted, sealbox::Error> {
        match &self.expected_context {
            Some(ec) => {
                self.client
                    .decrypt_with(
                        self.cmm.as_ref(),
                        data,
                        &DecryptOptions::new().reproduced_context(ec.clone()),
                    )
                    .await
            }
            None => self.client.decrypt(self.cmm.as_ref(), data).await,
        }
    }

    fn count(&self, results: &[RecordResult], data_len: usize) {
        let c = &self.counters;
        c.kinesis_records.fetch_add(1, Ordering::Relaxed);
        c.ciphertext_bytes
            .fetch_add(data_len as u64, Ordering::Relaxed);
        for r in results {
            match r {
                Ok(r) => {
                    c.records.fetch_add(1, Ordering::Relaxed);
                    c.plaintext_bytes
                        .fetch_add(r.plaintext.len() as u64, Ordering::Relaxed);
                }
                Err(_) => {
                    c.failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// Decrypt one Kinesis record's data, read from `GetRecords`, a Lambda event or the KCL:
    /// one result per user record it carries (several when it is a KPL aggregated record, before
    /// or after decryption).
    pub async fn decrypt_data(
        &self,
        shard_id: &str,
        sequence_number: &str,
        partition_key: &str,
        data: &[u8],
    ) -> Vec<RecordResult> {
        let results = self
            .decrypt_inner(shard_id, sequence_number, partition_key, data)
            .await;
        self.count(&results, data.len());
        results
    }

    async fn decrypt_inner(
        &self,
        shard_id: &str,
        sequence_number: &str,
        partition_key: &str,
        data: &[u8],
    ) -> Vec<RecordResult> {
        let decrypt_error = |sub: Option<u64>, source| KinesisError::Decrypt {
            shard_id: shard_id.to_owned(),
            sequence_number: sequence_number.to_owned(),
            sub_sequence_number: sub,
            source: Arc::new(source),
        };
        let deaggregate_error = |source| KinesisError::Deaggregate {
            shard_id: shard_id.to_owned(),
            sequence_number: sequence_number.to_owned(),
            source,
        };
        let record = |sub: Option<u64>, s: SubRecord, ec: EncryptionContext| DecryptedRecord {
            shard_id: shard_id.to_owned(),
            sequence_number: sequence_number.to_owned(),
            sub_sequence_number: sub,
            partition_key: s.partition_key,
            explicit_hash_key: s.explicit_hash_key,
            plaintext: s.data,
            encryption_context: ec,
            ciphertext_len: data.len(),
        };
        // Encrypt-then-aggregate: a KPL record of ESDK messages.
        if let Some(subs) = deaggregate(data) {
            let subs = match subs {
                Ok(subs) => subs,
                Err(e) => return vec![Err(deaggregate_error(e))],
            };
            let mut out = Vec::with_capacity(subs.len());
            for (j, sub) in subs.into_iter().enumerate() {
                let j = j as u64;
                out.push(match self.decrypt(&sub.data).await {
                    Ok(d) => Ok(record(
                        Some(j),
                        SubRecord {
                            data: d.plaintext,
                            ..sub
                        },
                        d.encryption_context,
                    )),
                    Err(e) => Err(decrypt_error(Some(j), e)),
                });
            }
            return out;
        }
        let decrypted = match self.decrypt(data).await {
            Ok(d) => d,
            Err(e) => return vec![Err(decrypt_error(None, e))],
        };
        // Aggregate-then-encrypt: an ESDK message holding a KPL record.
        if is_aggregated(&decrypted.plaintext) {
            return match deaggregate(&decrypted.plaintext) {
                Some(Ok(subs)) => subs
                    .into_iter()
                    .enumerate()
                    .map(|(j, s)| {
                        Ok(record(
                            Some(j as u64),
                            s,
                            decrypted.encryption_context.clone(),
                        ))
                    })
                    .collect(),
                Some(Err(e)) => vec![Err(deaggregate_error(e))],
                None => Vec::new(),
            };
        }
        vec![Ok(record(
            None,
            SubRecord {
                partition_key: partition_key.to_owned(),
                explicit_hash_key: None,
                data: decrypted.plaintext,
            },
            decrypted.encryption_context,
        ))]
    }

    /// Decrypt one record from `GetRecords` (see [`decrypt_data`](Self::decrypt_data)).
    pub async fn decrypt_record(&self, shard_id: &str, record: &Record) -> Vec<RecordResult> {
        self.decrypt_data(
            shard_id,
            record.sequence_number(),
            record.partition_key().unwrap_or_default(),
            record.data().as_ref(),
        )
        .await
    }

    /// Decrypt the records of a Lambda event from a Kinesis stream: one result per user
    /// record, in order (data that is not base64 is an error for that record alone).
    #[cfg(feature = "lambda")]
    #[cfg_attr(docsrs, doc(cfg(feature = "lambda")))]
    pub async fn decrypt_lambda_event(&self, event: &crate::KinesisEvent) -> Vec<RecordResult> {
        use base64::Engine as _;
        let mut out = Vec::new();
        for r in &event.records {
            let k = &r.kinesis;
            match base64::engine::general_purpose::STANDARD.decode(&k.data) {
                Ok(data) => out.extend(
                    self.decrypt_data(r.shard_id(), &k.sequence_number, &k.partition_key, &data)
                        .await,
                ),
                Err(e) => out.push(Err(KinesisError::EventData {
                    sequence_number: k.sequence_number.clone(),
                    message: e.to_string(),
                })),
            }
        }
        out
    }

    /// The stream's shard IDs.
    pub async fn shard_ids(&self) -> Result<Vec<String>, KinesisError> {
        let mut ids = Vec::new();
        let mut token: Option<String> = None;
        loop {
            // A request with a token must not name the stream.
            let request = match &token {
                Some(t) => self.kinesis.list_shards().next_token(t),
                None => self.stream.list_shards(self.kinesis.list_shards()),
            };
            let out = request.send().await.map_err(service("ListShards"))?;
            ids.extend(out.shards().iter().map(|s| s.shard_id().to_owned()));
            match out.next_token() {
                Some(t) => token = Some(t.to_owned()),
                None => return Ok(ids),
            }
        }
    }

    async fn iterator(
        &self,
        shard_id: &str,
        start: &StartingPosition,
    ) -> Result<Option<String>, KinesisError> {
        let request =
            with_stream!(self.kinesis.get_shard_iterator(), &self.stream).shard_id(shard_id);
        let request = match start {
            StartingPosition::TrimHorizon => {
                request.shard_iterator_type(ShardIteratorType::TrimHorizon)
            }
            StartingPosition::Latest => request.shard_iterator_type(ShardIteratorType::Latest),
            StartingPosition::AtSequenceNumber(s) => request
                .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
                .starting_sequence_number(s),
            StartingPosition::AfterSequenceNumber(s) => request
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .starting_sequence_number(s),
            StartingPosition::AtTimestamp(t) => request
                .shard_iterator_type(ShardIteratorType::AtTimestamp)
                .timestamp(DateTime::from(*t)),
        };
        Ok(request
            .send()
            .await
            .map_err(service("GetShardIterator"))?
            .shard_iterator()
            .map(str::to_owned))
    }

    /// Read one shard from `start` until the consumer has caught up with it (a `GetRecords`
    /// that returns nothing and is zero milliseconds behind) or its end, decrypting every record.
    /// An expired iterator is replaced by one after the last record read (or at `start`).
    pub async fn read_shard(&self, shard_id: &str, start: StartingPosition) -> ShardRead {
        let mut read = ShardRead::default();
        let mut renewals_in_a_row = 0;
        let mut iterator = match self.iterator(shard_id, &start).await {
            Ok(it) => it,
            Err(e) => {
                read.error = Some(e);
                return read;
            }
        };
        while let Some(it) = iterator.take() {
            self.counters
                .get_records_requests
                .fetch_add(1, Ordering::Relaxed);
            let page = match self
                .kinesis
                .get_records()
                .shard_iterator(it)
                .limit(self.page_limit)
                .send()
                .await
            {
                Ok(page) => page,
                Err(e)
                    if e.code() == Some("ExpiredIteratorException")
                        && renewals_in_a_row < MAX_RENEWALS_IN_A_ROW =>
                {
                    renewals_in_a_row += 1;
                    read.iterators_renewed += 1;
                    let resume = match &read.last_sequence_number {
                        Some(s) => StartingPosition::AfterSequenceNumber(s.clone()),
                        None => start.clone(),
                    };
                    match self.iterator(shard_id, &resume).await {
                        Ok(it) => iterator = it,
                        Err(e) => read.error = Some(e),
                    }
                    continue;
                }
                Err(e) => {
                    read.error = Some(service("GetRecords")(e));
                    return read;
                }
            };
            renewals_in_a_row = 0;
            for record in page.records() {
                read.records
                    .extend(self.decrypt_record(shard_id, record).await);
                read.last_sequence_number = Some(record.sequence_number().to_owned());
            }
            match page.next_shard_iterator() {
                None => read.closed = true,
                Some(next) => {
                    if page.records().is_empty() {
                        if page.millis_behind_latest().unwrap_or(0) == 0 {
                            break;
                        }
                        // Behind, but this page was empty: do not spin on a shard's 5 reads per
                        // second.
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    iterator = Some(next.to_owned());
                }
            }
        }
        read
    }

    /// Read every shard from its oldest record until caught up. Fails only when the shards
    /// cannot be listed; each shard's own failure is in its [`ShardRead::error`].
    pub async fn read_all_shards(&self) -> Result<Vec<ShardRead>, KinesisError> {
        let mut out = Vec::new();
        for shard in self.shard_ids().await? {
            out.push(self.read_shard(&shard, StartingPosition::TrimHorizon).await);
        }
        Ok(out)
    }
}
