//! An encrypting Kinesis producer and a decrypting consumer, end to end: records, bytes, and how
//! many master-key calls the caching materials manager left.
//!
//! ```text
//! cargo run --release -p sealbox-kinesis --example kinesis_producer -- [--stream NAME | --stream-arn ARN]
//!     [--records N] [--record-size BYTES] [--batch N] [--shards N] [--max-messages M]
//!     [--aggregation none|encrypt-then-aggregate|aggregate-then-encrypt] [--buffered]
//!     [--in-flight N] [--key-arn ARN | --create-key]
//! ```
//!
//! Kinesis (and KMS) clients come from the standard AWS configuration, so
//! `AWS_ENDPOINT_URL=http://127.0.0.1:PORT` points both at a local `moto_server`; with such a
//! loopback endpoint the example supplies a Region (us-east-1) and dummy credentials when none are
//! configured, so nothing else needs setting. The stream (`--stream`) is created if it does not
//! exist; `--stream-arn` names an existing one by ARN. With `--key-arn` (or `SEALBOX_KMS_KEY_ARN`)
//! the master key is that AWS KMS key and an SDK interceptor counts the KMS requests that went
//! out; `--create-key` creates one first (for a local KMS); with neither, a raw AES key, whose
//! calls the caching materials manager counts. `--buffered` puts every record through the
//! buffered producer (batched by time, in the background) instead of `put_records` calls of
//! `--batch` records. `--in-flight N` (default 1) is how many batches are in flight at once: keep
//! 1 against moto_server, which gives concurrent requests on one shard the same sequence numbers
//! and keeps one record of each pair; raise it against Kinesis itself. The producer and the consumer each have their own cache, as two processes
//! would. The last line is `records=N bytes=B master_key_calls=K`, B being the bytes of the
//! Kinesis records' data in the stream.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_kinesis::config::{Credentials, Region};
use aws_sdk_kms::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_kms::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_kms::error::BoxError;
use sealbox::{CachingCmm, EncryptionContext, Keyring, KmsKeyring, RawAesKeyring};
use sealbox_kinesis::{
    Aggregation, BufferOptions, DecryptingConsumer, EncryptingProducer, StreamRef, UserRecord,
};
use zeroize::Zeroizing;

/// Counts the requests the KMS client sends, by operation.
#[derive(Clone, Debug, Default)]
struct CallCounter(Arc<Mutex<BTreeMap<String, u64>>>);

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "kms-call-counter"
    }

    fn read_before_transmit(
        &self,
        ctx: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let op = ctx
            .request()
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.strip_prefix("TrentService."))
            .unwrap_or("other")
            .to_owned();
        *self.0.lock().expect("counter lock").entry(op).or_default() += 1;
        Ok(())
    }
}

struct Args {
    stream: String,
    stream_arn: Option<String>,
    records: usize,
    record_size: usize,
    batch: usize,
    shards: i32,
    max_messages: u64,
    aggregation: Aggregation,
    buffered: bool,
    in_flight: usize,
    key_arn: Option<String>,
    create_key: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        stream: format!("sealbox-example-{}", std::process::id()),
        stream_arn: None,
        records: 1000,
        record_size: 256,
        batch: 250,
        shards: 2,
        max_messages: 100,
        aggregation: Aggregation::None,
        buffered: false,
        in_flight: 1,
        key_arn: std::env::var("SEALBOX_KMS_KEY_ARN").ok(),
        create_key: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        let number = |v: String| v.parse::<u64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--stream" => args.stream = value()?,
            "--stream-arn" => args.stream_arn = Some(value()?),
            "--records" => args.records = number(value()?)? as usize,
            "--record-size" => args.record_size = number(value()?)? as usize,
            "--batch" => args.batch = number(value()?)?.max(1) as usize,
            "--shards" => args.shards = number(value()?)?.clamp(1, 1000) as i32,
            "--max-messages" => args.max_messages = number(value()?)?,
            "--aggregation" => {
                args.aggregation = match value()?.as_str() {
                    "none" => Aggregation::None,
                    "encrypt-then-aggregate" => Aggregation::EncryptThenAggregate,
                    "aggregate-then-encrypt" => Aggregation::AggregateThenEncrypt,
                    other => {
                        return Err(format!(
                            "--aggregation: {other:?} is not none, encrypt-then-aggregate or \
                             aggregate-then-encrypt"
                        ))
                    }
                }
            }
            "--buffered" => args.buffered = true,
            "--in-flight" => args.in_flight = number(value()?)?.max(1) as usize,
            "--key-arn" => args.key_arn = Some(value()?),
            "--create-key" => args.create_key = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(args)
}

/// Wait until the stream is active, creating it first (by name) when it does not exist.
async fn ensure_stream(
    kinesis: &aws_sdk_kinesis::Client,
    stream: &StreamRef,
    shards: i32,
) -> Result<(), Box<dyn std::error::Error>> {
    let describe = || {
        let d = kinesis.describe_stream_summary();
        match stream {
            StreamRef::Arn(arn) => d.stream_arn(arn),
            StreamRef::Name(name) => d.stream_name(name),
            _ => d,
        }
    };
    if describe().send().await.is_err() {
        let StreamRef::Name(name) = stream else {
            return Err(format!("no stream {stream}").into());
        };
        kinesis
            .create_stream()
            .stream_name(name)
            .shard_count(shards)
            .send()
            .await?;
    }
    for _ in 0..600 {
        let summary = describe().send().await?;
        if summary
            .stream_description_summary()
            .is_some_and(|s| s.stream_status().as_str() == "ACTIVE")
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(format!("stream {stream} did not become active").into())
}

/// The standard AWS configuration; for a loopback endpoint (a local moto_server), a Region and
/// dummy credentials where none are configured.
async fn sdk_config() -> aws_config::SdkConfig {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
    let local = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
        .iter()
        .any(|p| endpoint.starts_with(p));
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if local {
        if std::env::var_os("AWS_REGION").is_none()
            && std::env::var_os("AWS_DEFAULT_REGION").is_none()
        {
            loader = loader.region(Region::new("us-east-1"));
        }
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
            loader =
                loader.credentials_provider(Credentials::new("test", "test", None, None, "local"));
        }
    }
    loader.load().await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let sdk_config = sdk_config().await;
    let kinesis = aws_sdk_kinesis::Client::new(&sdk_config);
    let stream = match &args.stream_arn {
        Some(arn) => StreamRef::arn(arn),
        None => StreamRef::from(&args.stream),
    };
    ensure_stream(&kinesis, &stream, args.shards).await?;

    let key_arn = if args.create_key {
        let out = aws_sdk_kms::Client::new(&sdk_config)
            .create_key()
            .description("sealbox kinesis_producer example")
            .send()
            .await?;
        Some(
            out.key_metadata()
                .and_then(|m| m.arn())
                .ok_or("CreateKey returned no ARN")?
                .to_owned(),
        )
    } else {
        args.key_arn.clone()
    };
    let counter = CallCounter::default();
    let keyring = || -> Result<Arc<dyn Keyring>, sealbox::Error> {
        Ok(match &key_arn {
            Some(arn) => {
                let kms = aws_sdk_kms::Client::from_conf(
                    aws_sdk_kms::config::Builder::from(&sdk_config)
                        .interceptor(counter.clone())
                        .build(),
                );
                Arc::new(KmsKeyring::new(kms, arn)?)
            }
            // In production the wrapping key comes from a key manager.
            None => Arc::new(RawAesKeyring::new(
                "example",
                "aes-256",
                Zeroizing::new(vec![0x5a; 32]),
            )?),
        })
    };
    let caching = |keyring: Arc<dyn Keyring>| {
        CachingCmm::builder_with_keyring(keyring)
            .max_age(Duration::from_secs(300))
            .max_messages(args.max_messages)
            .build()
    };
    let mut context = EncryptionContext::new();
    context.insert("stream".into(), stream.to_string());

    let producer_cmm = caching(keyring()?)?;
    let producer = EncryptingProducer::new(kinesis.clone(), stream.clone(), producer_cmm.clone())
        .with_encryption_context(context.clone())
        .with_aggregation(args.aggregation)
        .with_max_in_flight(args.in_flight);
    let records: Vec<UserRecord> = (0..args.records)
        .map(|i| {
            let mut data = format!("record {i:08} ").into_bytes();
            data.resize(args.record_size.max(data.len()), b'.');
            UserRecord::new(format!("device-{}", i % 64), data)
        })
        .collect();
    let started = Instant::now();
    let mut failed = Vec::new();
    let stats = if args.buffered {
        // The application hands over records one by one; the producer batches them.
        let buffered = producer.buffered(BufferOptions::default());
        let pending: Vec<_> = records.iter().map(|r| buffered.put(r.clone())).collect();
        buffered.flush().await;
        for p in pending {
            if let Err(e) = p.await {
                failed.push(e);
            }
        }
        buffered.shutdown().await;
        buffered.stats()
    } else {
        // The application hands over `batch` records at a time.
        for chunk in records.chunks(args.batch) {
            let summary = producer.put_records(chunk.to_vec()).await;
            failed.extend(summary.failed().map(|(_, e)| e.clone()));
        }
        producer.stats()
    };
    let elapsed = started.elapsed();
    if let Some(e) = failed.first() {
        return Err(format!("{} records were not written; the first: {e}", failed.len()).into());
    }
    println!(
        "produced: records={} kinesis_records={} plaintext_bytes={} wire_bytes={} \
         put_records_requests={} retried={} in {:.2?} ({:.0} records/s)",
        stats.records,
        stats.kinesis_records,
        stats.plaintext_bytes,
        stats.wire_bytes,
        stats.requests,
        stats.retried,
        elapsed,
        stats.records as f64 / elapsed.as_secs_f64()
    );

    // Consumer: read every shard from the start, decrypt and check against what was sent.
    let consumer_cmm = caching(keyring()?)?;
    let consumer = DecryptingConsumer::new(kinesis, stream, consumer_cmm.clone())
        .with_expected_context(context);
    let started = Instant::now();
    let mut got = Vec::new();
    for shard in consumer.read_all_shards().await? {
        if let Some(e) = shard.error {
            return Err(e.into());
        }
        for record in shard.records {
            let r = record?;
            got.push((r.partition_key, r.plaintext));
        }
    }
    got.sort();
    let mut want: Vec<(String, Vec<u8>)> = records
        .into_iter()
        .map(|r| (r.partition_key, r.data))
        .collect();
    want.sort();
    if got != want {
        return Err(format!(
            "read {} records back, not the {} written (is the stream shared?)",
            got.len(),
            want.len()
        )
        .into());
    }
    let consumed = consumer.stats();
    println!(
        "consumed: records={} kinesis_records={} plaintext_bytes={} ciphertext_bytes={} \
         get_records_requests={} in {:.2?}",
        consumed.records,
        consumed.kinesis_records,
        consumed.plaintext_bytes,
        consumed.ciphertext_bytes,
        consumed.get_records_requests,
        started.elapsed()
    );

    let (p, c) = (producer_cmm.stats(), consumer_cmm.stats());
    println!(
        "caches: producer hits={} misses={} consumer hits={} misses={}",
        p.hits, p.misses, c.hits, c.misses
    );
    let master_key_calls = match &key_arn {
        Some(arn) => {
            let calls = counter.0.lock().expect("counter lock").clone();
            let by_op: Vec<String> = calls.iter().map(|(op, n)| format!("{op}={n}")).collect();
            println!("master key: AWS KMS {arn}: {}", by_op.join(" "));
            calls.values().sum::<u64>()
        }
        None => {
            println!(
                "master key: raw AES: producer calls={} consumer calls={}",
                p.underlying_calls, c.underlying_calls
            );
            p.underlying_calls + c.underlying_calls
        }
    };
    println!(
        "records={} bytes={} master_key_calls={master_key_calls}",
        consumed.records, consumed.ciphertext_bytes
    );
    Ok(())
}
