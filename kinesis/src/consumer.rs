//! The decrypting consumer.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_kinesis::types::{Record, ShardIteratorType};
use sealbox::{Client, DecryptOptions, EncryptionContext, MaterialsManager};

use crate::error::{service, KinesisError};

/// A record read from a stream and decrypted.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DecryptedRecord {
    /// The shard it came from.
    pub shard_id: String,
    /// Its sequence number.
    pub sequence_number: String,
    /// Its partition key, as the producer gave it.
    pub partition_key: String,
    /// The plaintext, released only after the whole message verified.
    pub plaintext: Vec<u8>,
    /// The message's encryption context.
    pub encryption_context: EncryptionContext,
    /// The size of the record's data in the stream.
    pub ciphertext_len: usize,
}

/// Counters of a consumer over its lifetime.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsumerStats {
    /// Records decrypted.
    pub records: u64,
    /// Their plaintext bytes.
    pub plaintext_bytes: u64,
    /// Their encrypted bytes.
    pub ciphertext_bytes: u64,
    /// `GetRecords` requests made.
    pub get_records_requests: u64,
}

#[derive(Default)]
struct ConsumerCounters {
    records: AtomicU64,
    plaintext_bytes: AtomicU64,
    ciphertext_bytes: AtomicU64,
    get_records_requests: AtomicU64,
}

/// Reads records from a stream and decrypts them. Cheap to clone.
#[derive(Clone)]
pub struct DecryptingConsumer {
    kinesis: aws_sdk_kinesis::Client,
    stream: String,
    cmm: Arc<dyn MaterialsManager>,
    client: Client,
    expected_context: Option<EncryptionContext>,
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

impl DecryptingConsumer {
    /// A consumer of the stream named `stream`, decrypting with materials from `cmm` and the
    /// default [`Client`].
    pub fn new(
        kinesis: aws_sdk_kinesis::Client,
        stream: impl Into<String>,
        cmm: impl MaterialsManager + 'static,
    ) -> Self {
        DecryptingConsumer {
            kinesis,
            stream: stream.into(),
            cmm: Arc::new(cmm),
            client: Client::new(),
            expected_context: None,
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

    /// The consumer's counters.
    pub fn stats(&self) -> ConsumerStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ConsumerStats {
            records: get(&c.records),
            plaintext_bytes: get(&c.plaintext_bytes),
            ciphertext_bytes: get(&c.ciphertext_bytes),
            get_records_requests: get(&c.get_records_requests),
        }
    }

    /// Decrypt one record, from `GetRecords`, a Lambda event, or the KCL.
    pub async fn decrypt_record(
        &self,
        shard_id: &str,
        record: &Record,
    ) -> Result<DecryptedRecord, KinesisError> {
        let data = record.data().as_ref();
        let decrypted = match &self.expected_context {
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
        .map_err(|source| KinesisError::Decrypt {
            shard_id: shard_id.to_owned(),
            sequence_number: record.sequence_number().to_owned(),
            source,
        })?;
        let c = &self.counters;
        c.records.fetch_add(1, Ordering::Relaxed);
        c.plaintext_bytes
            .fetch_add(decrypted.plaintext.len() as u64, Ordering::Relaxed);
        c.ciphertext_bytes
            .fetch_add(data.len() as u64, Ordering::Relaxed);
        Ok(DecryptedRecord {
            shard_id: shard_id.to_owned(),
            sequence_number: record.sequence_number().to_owned(),
            partition_key: record.partition_key().unwrap_or_default().to_owned(),
            plaintext: decrypted.plaintext,
            encryption_context: decrypted.encryption_context,
            ciphertext_len: data.len(),
        })
    }

    /// The stream's shard IDs.
    pub async fn shard_ids(&self) -> Result<Vec<String>, KinesisError> {
        let mut ids = Vec::new();
        let mut token: Option<String> = None;
        loop {
            // A request with a token must not name the stream.
            let request = match &token {
                Some(t) => self.kinesis.list_shards().next_token(t),
                None => self.kinesis.list_shards().stream_name(&self.stream),
            };
            let out = request.send().await.map_err(service("ListShards"))?;
            ids.extend(out.shards().iter().map(|s| s.shard_id().to_owned()));
            match out.next_token() {
                Some(t) => token = Some(t.to_owned()),
                None => return Ok(ids),
            }
        }
    }

    /// Read one shard from `start` until the consumer has caught up with it (a `GetRecords`
    /// that returns nothing and is zero milliseconds behind), decrypting every record. Stops at
    /// the first record that does not decrypt.
    pub async fn read_shard(
        &self,
        shard_id: &str,
        start: ShardIteratorType,
    ) -> Result<Vec<DecryptedRecord>, KinesisError> {
        let mut iterator = self
            .kinesis
            .get_shard_iterator()
            .stream_name(&self.stream)
            .shard_id(shard_id)
            .shard_iterator_type(start)
            .send()
            .await
            .map_err(service("GetShardIterator"))?
            .shard_iterator()
            .map(str::to_owned);
        let mut out = Vec::new();
        while let Some(it) = iterator {
            self.counters
                .get_records_requests
                .fetch_add(1, Ordering::Relaxed);
            let page = self
                .kinesis
                .get_records()
                .shard_iterator(it)
                .limit(10_000)
                .send()
                .await
                .map_err(service("GetRecords"))?;
            for record in page.records() {
                out.push(self.decrypt_record(shard_id, record).await?);
            }
            if page.records().is_empty() {
                if page.millis_behind_latest().unwrap_or(0) == 0 {
                    break;
                }
                // Behind, but this page was empty: do not spin on a shard's 5 reads per second.
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            iterator = page.next_shard_iterator().map(str::to_owned);
        }
        Ok(out)
    }

    /// Read every shard from its oldest record until caught up, decrypting everything.
    pub async fn read_all_shards(&self) -> Result<Vec<DecryptedRecord>, KinesisError> {
        let mut out = Vec::new();
        for shard in self.shard_ids().await? {
            out.extend(
                self.read_shard(&shard, ShardIteratorType::TrimHorizon)
                    .await?,
            );
        }
        Ok(out)
    }
}
