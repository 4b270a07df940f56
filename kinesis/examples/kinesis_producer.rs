//! An encrypting Kinesis producer and a decrypting consumer, end to end: records, bytes, and how
//! many master-key calls the caching materials manager left.
//!
//! ```text
//! cargo run --release -p sealbox-kinesis --example kinesis_producer -- [--stream NAME]
//!     [--records N] [--record-size BYTES] [--batch N] [--shards N] [--max-messages M]
//!     [--key-arn ARN | --create-key]
//! ```
//!
//! Kinesis (and KMS) clients come from the standard AWS configuration, so
//! `AWS_ENDPOINT_URL=http://127.0.0.1:PORT` points both at a local `moto_server`. The stream is
//! created if it does not exist. With `--key-arn` (or `SEALBOX_KMS_KEY_ARN`) the master key is
//! that AWS KMS key and an SDK interceptor counts the KMS requests that went out; `--create-key`
//! creates one first (for a local KMS); with neither, a raw AES key, whose calls the caching
//! materials manager counts. The producer and the consumer each have their own cache, as two
//! processes would. The last line is `records=N bytes=B master_key_calls=K`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_kms::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_kms::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_kms::error::BoxError;
use sealbox::{CachingCmm, EncryptionContext, Keyring, KmsKeyring, RawAesKeyring};
use sealbox_kinesis::{DecryptingConsumer, EncryptingProducer};
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
    records: usize,
    record_size: usize,
    batch: usize,
    shards: i32,
    max_messages: u64,
    key_arn: Option<String>,
    create_key: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        stream: format!("sealbox-example-{}", std::process::id()),
        records: 1000,
        record_size: 256,
        batch: 250,
        shards: 2,
        max_messages: 100,
        key_arn: std::env::var("SEALBOX_KMS_KEY_ARN").ok(),
        create_key: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        let number = |v: String| v.parse::<u64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--stream" => args.stream = value()?,
            "--records" => args.records = number(value()?)? as usize,
            "--record-size" => args.record_size = number(value()?)? as usize,
            "--batch" => args.batch = number(value()?)?.max(1) as usize,
            "--shards" => args.shards = number(value()?)?.max(1) as i32,
            "--max-messages" => args.max_messages = number(value()?)?,
            "--key-arn" => args.key_arn = Some(value()?),
            "--create-key" => args.create_key = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(args)
}

/// Create the stream unless it exists, and wait until it is active.
async fn ensure_stream(
    kinesis: &aws_sdk_kinesis::Client,
    name: &str,
    shards: i32,
) -> Result<(), Box<dyn std::error::Error>> {
    let exists = kinesis
        .describe_stream_summary()
        .stream_name(name)
        .send()
        .await
        .is_ok();
    if !exists {
        kinesis
            .create_stream()
            .stream_name(name)
            .shard_count(shards)
            .send()
            .await?;
    }
    for _ in 0..600 {
        let summary = kinesis
            .describe_stream_summary()
            .stream_name(name)
            .send()
            .await?;
        if summary
            .stream_description_summary()
            .is_some_and(|s| s.stream_status().as_str() == "ACTIVE")
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(format!("stream {name} did not become active").into())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    // The standard configuration chain: AWS_ENDPOINT_URL, AWS_REGION, credentials, retries ...
    let sdk_config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let kinesis = aws_sdk_kinesis::Client::new(&sdk_config);
    ensure_stream(&kinesis, &args.stream, args.shards).await?;

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
    context.insert("stream".into(), args.stream.clone());

    // Producer: the application hands over `batch` records at a time.
    let producer_cmm = caching(keyring()?)?;
    let producer = EncryptingProducer::new(kinesis.clone(), &args.stream, producer_cmm.clone())
        .with_encryption_context(context.clone());
    let started = Instant::now();
    let records: Vec<(String, Vec<u8>)> = (0..args.records)
        .map(|i| {
            let mut data = format!("record {i:08} ").into_bytes();
            data.resize(args.record_size.max(data.len()), b'.');
            (format!("device-{}", i % 64), data)
        })
        .collect();
    let mut failed = 0;
    for chunk in records.chunks(args.batch) {
        failed += producer.put_records(chunk.to_vec()).await?.failed.len();
    }
    if failed > 0 {
        return Err(format!("{failed} records were rejected on every attempt").into());
    }
    let produced = producer.stats();
    println!(
        "produced: records={} plaintext_bytes={} ciphertext_bytes={} put_records_requests={} \
         in {:.2?}",
        produced.records,
        produced.plaintext_bytes,
        produced.ciphertext_bytes,
        produced.requests,
        started.elapsed()
    );

    // Consumer: read every shard from the start, decrypt and check against what was sent.
    let consumer_cmm = caching(keyring()?)?;
    let consumer = DecryptingConsumer::new(kinesis, &args.stream, consumer_cmm.clone())
        .with_expected_context(context);
    let started = Instant::now();
    let read = consumer.read_all_shards().await?;
    let mut got: Vec<(String, Vec<u8>)> = read
        .into_iter()
        .map(|r| (r.partition_key, r.plaintext))
        .collect();
    got.sort();
    let mut want = records;
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
        "consumed: records={} plaintext_bytes={} ciphertext_bytes={} get_records_requests={} \
         in {:.2?}",
        consumed.records,
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
        consumed.records, produced.ciphertext_bytes
    );
    Ok(())
}
