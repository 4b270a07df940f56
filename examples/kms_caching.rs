//! A caching materials manager over the AWS KMS keyring: how many KMS calls N messages cost.
//!
//! ```text
//! cargo run --release --example kms_caching -- [--messages N] [--concurrency C]
//!     [--max-messages M] (--key-arn ARN | --create-key)
//! ```
//!
//! The KMS client comes from the standard AWS configuration (environment, profile, instance
//! role), so `AWS_ENDPOINT_URL=http://127.0.0.1:PORT` points it at a local KMS such as
//! `moto_server`. The key ARN comes from `--key-arn` or `SEALBOX_KMS_KEY_ARN`; `--create-key`
//! creates a fresh key first (meant for a local KMS: on AWS that is a billable key).
//!
//! Each of C tasks encrypts and decrypts messages until N are done. An SDK interceptor counts the
//! KMS requests that actually went out (retries included); the last line is
//! `messages=N kms_calls=K`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_kms::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_kms::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_kms::error::BoxError;
use sealbox::{CachingCmm, Client, EncryptionContext, KmsKeyring};

/// Counts the requests the KMS client sends, by operation.
#[derive(Clone, Debug, Default)]
struct CallCounter(Arc<Mutex<BTreeMap<String, u64>>>);

impl CallCounter {
    fn snapshot(&self) -> BTreeMap<String, u64> {
        self.0.lock().expect("counter lock").clone()
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "kms-call-counter"
    }

    // Runs once per attempt, right before the request goes on the wire.
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
    messages: usize,
    concurrency: usize,
    max_messages: u64,
    key_arn: Option<String>,
    create_key: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        messages: 1000,
        concurrency: 1,
        max_messages: 100,
        key_arn: std::env::var("SEALBOX_KMS_KEY_ARN").ok(),
        create_key: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--messages" => args.messages = value()?.parse().map_err(|e| format!("{e}"))?,
            "--concurrency" => args.concurrency = value()?.parse().map_err(|e| format!("{e}"))?,
            "--max-messages" => args.max_messages = value()?.parse().map_err(|e| format!("{e}"))?,
            "--key-arn" => args.key_arn = Some(value()?),
            "--create-key" => args.create_key = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if args.concurrency == 0 {
        return Err("--concurrency must be at least 1".into());
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    // The standard configuration chain: AWS_ENDPOINT_URL, AWS_REGION, credentials, retries ...
    let sdk_config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;

    let key_arn = match (args.key_arn, args.create_key) {
        (_, true) => {
            let out = aws_sdk_kms::Client::new(&sdk_config)
                .create_key()
                .description("sealbox kms_caching example")
                .send()
                .await?;
            out.key_metadata()
                .and_then(|m| m.arn())
                .ok_or("CreateKey returned no ARN")?
                .to_owned()
        }
        (Some(arn), false) => arn,
        (None, false) => {
            return Err("give --key-arn ARN (or SEALBOX_KMS_KEY_ARN), or --create-key".into())
        }
    };

    // The keyring's client: the same configuration, plus the counting interceptor.
    let counter = CallCounter::default();
    let kms = aws_sdk_kms::Client::from_conf(
        aws_sdk_kms::config::Builder::from(&sdk_config)
            .interceptor(counter.clone())
            .build(),
    );
    let cmm = Arc::new(
        CachingCmm::builder_with_keyring(KmsKeyring::new(kms, &key_arn)?)
            .max_age(Duration::from_secs(300))
            .max_messages(args.max_messages)
            .build()?,
    );

    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..args.concurrency)
        .map(|_| {
            let (cmm, next) = (cmm.clone(), next.clone());
            let total = args.messages;
            tokio::spawn(async move {
                let client = Client::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        return Ok::<(), sealbox::Error>(());
                    }
                    let mut context = EncryptionContext::new();
                    context.insert("app".into(), "kms_caching".into());
                    let plaintext = format!("message {i}");
                    let message = client.encrypt(&cmm, plaintext.as_bytes(), &context).await?;
                    let decrypted = client.decrypt(&cmm, &message).await?;
                    assert_eq!(decrypted.plaintext, plaintext.as_bytes());
                }
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }

    let calls = counter.snapshot();
    let stats = cmm.stats();
    println!(
        "key={key_arn} max_messages={} concurrency={} elapsed={:.2?}",
        args.max_messages,
        args.concurrency,
        started.elapsed()
    );
    println!(
        "cache: hits={} misses={} underlying_calls={} coalesced={}",
        stats.hits, stats.misses, stats.underlying_calls, stats.coalesced
    );
    let by_op: Vec<String> = calls.iter().map(|(op, n)| format!("{op}={n}")).collect();
    println!("kms calls by operation: {}", by_op.join(" "));
    println!(
        "messages={} kms_calls={}",
        args.messages,
        calls.values().sum::<u64>()
    );
    Ok(())
}
