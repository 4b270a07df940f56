//! One host of a fleet: a process that encrypts messages for several tenants through one
//! hierarchical keyring, in timed rounds, so that several copies of it run at once show what a
//! fleet costs in KMS calls (tests/hierarchy_fleet.rs counts them at the server).
//!
//! ```text
//! cargo run --features hierarchy --example hierarchy_host -- --table NAME --kms-key ARN \
//!     --branch-key ID [--branch-key ID ...] [--ttl-ms 2000] [--periods 3] [--period-ms 4000] \
//!     [--messages 10]
//! ```
//!
//! Each period starts `--period-ms` after the previous one, longer than the TTL, and encrypts
//! `--messages` messages for every branch key: the first one per branch key misses the
//! branch-key cache (one DynamoDB `GetItem` and one KMS `Decrypt`), the rest hit it. So the
//! process makes `branch keys × periods` KMS calls. A period whose work outlasts the TTL would
//! miss again and break that count: the host then fails, saying so. The last line of output is
//! `messages=M branch_keys=B periods=P`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sealbox::{
    Client, DefaultCmm, DynamoDbKeyStore, EncryptionContext, HierarchicalKeyring, KmsConfiguration,
};

struct Args {
    table: String,
    kms_key: String,
    branch_keys: Vec<String>,
    ttl: Duration,
    periods: u32,
    period: Duration,
    messages: usize,
}

fn args() -> Result<Args, String> {
    let (mut table, mut kms_key, mut branch_keys) = (None, None, Vec::new());
    let (mut ttl, mut periods, mut period, mut messages) = (2000u64, 3u32, 4000u64, 10usize);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let number = |v: &str| v.parse::<u64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--table" => table = Some(value),
            "--kms-key" => kms_key = Some(value),
            "--branch-key" => branch_keys.push(value),
            "--ttl-ms" => ttl = number(&value)?,
            "--periods" => periods = number(&value)? as u32,
            "--period-ms" => period = number(&value)?,
            "--messages" => messages = number(&value)? as usize,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if branch_keys.is_empty() {
        return Err("give at least one --branch-key".into());
    }
    if period <= ttl {
        return Err("--period-ms must exceed --ttl-ms, so that every period starts cold".into());
    }
    Ok(Args {
        table: table.ok_or("--table is required")?,
        kms_key: kms_key.ok_or("--kms-key is required")?,
        branch_keys,
        ttl: Duration::from_millis(ttl),
        periods,
        period: Duration::from_millis(period),
        messages,
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = args()?;
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = DynamoDbKeyStore::new(
        aws_sdk_dynamodb::Client::new(&config),
        aws_sdk_kms::Client::new(&config),
        &args.table,
        KmsConfiguration::KeyArn(args.kms_key.clone()),
    )?;
    // A fixed branch key per keyring (one keyring per tenant, sharing one cache would do too).
    let mut cmms = Vec::new();
    let store = Arc::new(store);
    for id in &args.branch_keys {
        let keyring = HierarchicalKeyring::builder(store.clone())
            .branch_key_id(id)
            .ttl(args.ttl)
            .build()?;
        cmms.push(DefaultCmm::new(keyring));
    }
    let client = Client::new();
    let context = EncryptionContext::from([("purpose".to_owned(), "fleet".to_owned())]);
    let start = Instant::now();
    let mut sent = 0;
    for p in 0..args.periods {
        tokio::time::sleep_until((start + args.period * p).into()).await;
        let began = Instant::now();
        for _ in 0..args.messages {
            for cmm in &cmms {
                client.encrypt(cmm, b"a fleet message", &context).await?;
                sent += 1;
            }
        }
        let took = began.elapsed();
        if took >= args.ttl {
            return Err(format!(
                "period {p} took {took:?}, longer than the TTL {:?}: its cached branch keys \
                 expired within it, so the call count would not be one per period",
                args.ttl
            )
            .into());
        }
    }
    println!(
        "messages={sent} branch_keys={} periods={}",
        args.branch_keys.len(),
        args.periods
    );
    Ok(())
}
