//! What the sealbox-kinesis tests share: the local Kinesis (moto_server, from the repository's
//! venv, on a free loopback port), fresh streams, the caching materials manager, and the Python
//! side of the interoperability checks (scripts/kinesis_agg.py: the reference `aws-kinesis-agg`
//! and `aws-encryption-sdk`). Nothing is skipped: without the venv the tests fail and say how to
//! make one.
#![allow(dead_code)] // Each test file uses its own part.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use aws_sdk_kinesis::config::{BehaviorVersion, Credentials, Region};
use base64::Engine as _;
use sealbox::{CachingCmm, EncryptionContext, RawAesKeyring};
use serde_json::{json, Value};
use zeroize::Zeroizing;

#[path = "../../../tests/moto_support/mod.rs"]
mod moto_support;

pub(crate) const NAMESPACE: &str = "kinesis-test";
pub(crate) const KEY_NAME: &str = "key";
pub(crate) const KEY: [u8; 32] = [0x42; 32];

/// moto_server's endpoint, started once per test binary.
pub(crate) fn moto() -> &'static str {
    static SERVER: OnceLock<moto_support::LocalMoto> = OnceLock::new();
    &SERVER
        .get_or_init(|| moto_support::start("SEALBOX_KINESIS_ENDPOINT", "Kinesis"))
        .endpoint
}

/// A Kinesis client for `endpoint`, with dummy credentials and the SDK's default retries.
pub(crate) fn kinesis_at(endpoint: &str) -> aws_sdk_kinesis::Client {
    let config = aws_sdk_kinesis::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .build();
    aws_sdk_kinesis::Client::from_conf(config)
}

pub(crate) fn kinesis() -> aws_sdk_kinesis::Client {
    kinesis_at(moto())
}

/// A fresh, active stream with `shards` shards: its name (unique per test and process) and ARN.
pub(crate) async fn stream(
    client: &aws_sdk_kinesis::Client,
    name: &str,
    shards: i32,
) -> (String, String) {
    let name = format!("{name}-{}", std::process::id());
    client
        .create_stream()
        .stream_name(&name)
        .shard_count(shards)
        .send()
        .await
        .expect("CreateStream");
    for _ in 0..100 {
        let summary = client
            .describe_stream_summary()
            .stream_name(&name)
            .send()
            .await
            .expect("DescribeStreamSummary");
        if let Some(s) = summary.stream_description_summary() {
            if s.stream_status().as_str() == "ACTIVE" {
                return (name, s.stream_arn().to_owned());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("stream {name} never became active");
}

pub(crate) fn cmm(max_messages: u64) -> CachingCmm {
    let keyring =
        RawAesKeyring::new(NAMESPACE, KEY_NAME, Zeroizing::new(KEY.to_vec())).expect("keyring");
    CachingCmm::builder_with_keyring(keyring)
        .max_age(Duration::from_secs(300))
        .max_messages(max_messages)
        .build()
        .expect("caching cmm")
}

pub(crate) fn context() -> EncryptionContext {
    let mut ec = EncryptionContext::new();
    ec.insert("stream".into(), "sensor-readings".into());
    ec
}

/// Every Kinesis record of the stream, raw: (shard, sequence number, partition key, data).
pub(crate) async fn raw_records(
    client: &aws_sdk_kinesis::Client,
    name: &str,
) -> Vec<(String, String, String, Vec<u8>)> {
    let mut out = Vec::new();
    let shards = client
        .list_shards()
        .stream_name(name)
        .send()
        .await
        .expect("ListShards");
    for shard in shards.shards() {
        let mut it = client
            .get_shard_iterator()
            .stream_name(name)
            .shard_id(shard.shard_id())
            .shard_iterator_type(aws_sdk_kinesis::types::ShardIteratorType::TrimHorizon)
            .send()
            .await
            .expect("GetShardIterator")
            .shard_iterator()
            .map(str::to_owned);
        while let Some(i) = it {
            let page = client
                .get_records()
                .shard_iterator(i)
                .limit(10_000)
                .send()
                .await
                .expect("GetRecords");
            for r in page.records() {
                out.push((
                    shard.shard_id().to_owned(),
                    r.sequence_number().to_owned(),
                    r.partition_key().unwrap_or_default().to_owned(),
                    r.data().as_ref().to_vec(),
                ));
            }
            if page.records().is_empty() && page.millis_behind_latest().unwrap_or(0) == 0 {
                break;
            }
            it = page.next_shard_iterator().map(str::to_owned);
        }
    }
    out
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

/// Run scripts/kinesis_agg.py with `args`, `input` on stdin; its JSON output.
pub(crate) fn python(args: &[&str], input: &Value) -> Value {
    let python = std::env::var_os("SEALBOX_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv/bin/python"));
    assert!(
        python.exists(),
        "{} does not exist: run scripts/kinesis (or scripts/test) once to create the venv with \
         aws-encryption-sdk and aws-kinesis-agg, or set SEALBOX_PYTHON",
        python.display()
    );
    let mut child = Command::new(&python)
        .arg(repo().join("scripts/kinesis_agg.py"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start python");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let out = child.wait_with_output().expect("python output");
    writer.join().expect("writer").expect("write stdin");
    assert!(
        out.status.success(),
        "kinesis_agg.py {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("python's JSON")
}

pub(crate) fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

pub(crate) fn unb64(text: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(text.as_str().expect("a base64 string"))
        .expect("base64")
}

/// The Python ESDK's plaintexts of Kinesis records `(partition key, sequence number, data)`
/// written in `mode`: one `(partition key, plaintext)` per user record, in order.
pub(crate) fn python_decrypt(
    mode: &str,
    records: &[(String, String, Vec<u8>)],
) -> Vec<(String, Vec<u8>)> {
    let input = json!({
        "key": KEY.iter().map(|b| format!("{b:02x}")).collect::<String>(),
        "namespace": NAMESPACE,
        "key_name": KEY_NAME,
        "records": records.iter().map(|(pk, seq, data)| json!({
            "partition_key": pk, "sequence_number": seq, "data": b64(data),
        })).collect::<Vec<_>>(),
    });
    let out = python(&["decrypt", mode], &input);
    out["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| {
            (
                r["partition_key"].as_str().expect("pk").to_owned(),
                unb64(&r["data"]),
            )
        })
        .collect()
}
