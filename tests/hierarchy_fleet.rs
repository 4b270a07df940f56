//! What the hierarchical keyring costs at the server, counted there: a [`CountingProxy`] in
//! front of `moto_server` counts every DynamoDB and KMS request by operation, whoever sends it.
//!
//! * 64 concurrent cold requests for one branch key make one DynamoDB `GetItem` and one KMS
//!   `Decrypt` between them (single flight), on encrypt and on decrypt.
//! * A fleet: several processes (the `hierarchy_host` example, run concurrently) encrypting for
//!   several branch keys over several TTL periods make exactly processes × branch keys × periods
//!   KMS calls.
//!
//! The endpoint comes from `SEALBOX_MOTO_ENDPOINT` when it is set; otherwise the tests start
//! `moto_server` themselves (see tests/moto_support). They never pass by skipping.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use sealbox::{
    Client, DefaultCmm, DynamoDbKeyStore, EncryptionContext, HierarchicalKeyring, KmsConfiguration,
};

mod counting_proxy;
mod moto_support;

use counting_proxy::CountingProxy;
use moto_support::LocalMoto;

const REGION: &str = "us-east-1";
const GET_ITEM: &str = "DynamoDB_20120810.GetItem";
const DECRYPT: &str = "TrentService.Decrypt";

fn moto() -> &'static str {
    static MOTO: OnceLock<LocalMoto> = OnceLock::new();
    &MOTO
        .get_or_init(|| moto_support::start("SEALBOX_MOTO_ENDPOINT", "DynamoDB and KMS"))
        .endpoint
}

fn credentials() -> Credentials {
    Credentials::new("test", "test", None, None, "sealbox-tests")
}

fn kms(endpoint: &str) -> aws_sdk_kms::Client {
    aws_sdk_kms::Client::from_conf(
        aws_sdk_kms::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(Region::new(REGION))
            .credentials_provider(credentials())
            .build(),
    )
}

fn ddb(endpoint: &str) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::Config::builder()
            .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .region(aws_sdk_dynamodb::config::Region::new(REGION))
            .credentials_provider(credentials())
            .build(),
    )
}

/// A store on `endpoint` (the proxy, or moto itself).
fn store(endpoint: &str, table: &str, arn: &str) -> DynamoDbKeyStore {
    DynamoDbKeyStore::new(
        ddb(endpoint),
        kms(endpoint),
        table,
        KmsConfiguration::KeyArn(arn.to_owned()),
    )
    .expect("store")
}

/// A new table and KMS key, and `n` branch keys in it, made directly on moto (not counted).
async fn key_store(what: &str, n: usize) -> (String, String, Vec<String>) {
    let arn = kms(moto())
        .create_key()
        .send()
        .await
        .expect("CreateKey")
        .key_metadata()
        .and_then(|m| m.arn())
        .expect("ARN")
        .to_owned();
    let table = format!("sealbox-fleet-{what}-{}", std::process::id());
    let admin = store(moto(), &table, &arn);
    admin.create_key_store().await.expect("create_key_store");
    let mut ids = Vec::new();
    for _ in 0..n {
        ids.push(
            admin
                .create_key(None, &BTreeMap::new())
                .await
                .expect("create_key"),
        );
    }
    (table, arn, ids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixty_four_cold_requests_cost_one_get_item_and_one_decrypt() {
    let (table, arn, ids) = key_store("cold", 1).await;
    let proxy = CountingProxy::start(moto());
    let keyring = |store: DynamoDbKeyStore| {
        HierarchicalKeyring::builder(Arc::new(store))
            .branch_key_id(&ids[0])
            .ttl(Duration::from_secs(600))
            .build()
            .expect("keyring")
    };
    let client = Arc::new(Client::new());
    let context = EncryptionContext::from([("purpose".to_owned(), "cold".to_owned())]);

    // Encrypt: 64 tasks at once on a cold keyring.
    let cmm = Arc::new(DefaultCmm::new(keyring(store(
        &proxy.endpoint,
        &table,
        &arn,
    ))));
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let (cmm, client, context) = (cmm.clone(), client.clone(), context.clone());
            tokio::spawn(async move {
                let plaintext = format!("message {i}").into_bytes();
                let message = client.encrypt(&*cmm, &plaintext, &context).await;
                (plaintext, message)
            })
        })
        .collect();
    let mut messages = Vec::new();
    for t in tasks {
        let (plaintext, message) = t.await.expect("task");
        messages.push((plaintext, message.expect("encrypt")));
    }
    assert_eq!(
        (proxy.count(GET_ITEM), proxy.count(DECRYPT)),
        (1, 1),
        "64 cold encrypts: {:?}",
        proxy.counts()
    );

    // Decrypt: 64 tasks at once on another cold keyring (decryption reads the version item).
    proxy.reset();
    let cmm = Arc::new(DefaultCmm::new(keyring(store(
        &proxy.endpoint,
        &table,
        &arn,
    ))));
    let tasks: Vec<_> = messages
        .into_iter()
        .map(|(plaintext, message)| {
            let (cmm, client) = (cmm.clone(), client.clone());
            tokio::spawn(async move {
                let decrypted = client.decrypt(&*cmm, &message).await;
                (plaintext, decrypted)
            })
        })
        .collect();
    for t in tasks {
        let (plaintext, decrypted) = t.await.expect("task");
        assert_eq!(decrypted.expect("decrypt").plaintext, plaintext);
    }
    assert_eq!(
        (proxy.count(GET_ITEM), proxy.count(DECRYPT)),
        (1, 1),
        "64 cold decrypts: {:?}",
        proxy.counts()
    );
}

/// The `hierarchy_host` example, which `cargo test` builds beside the test binaries.
fn host_example() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/<profile>/deps/hierarchy_fleet-<hash> -> target/<profile>/examples/
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target directory")
        .join("examples");
    let path = dir.join(format!("hierarchy_host{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} does not exist: cargo test builds it with the hierarchy feature \
         (cargo build --features hierarchy --example hierarchy_host)",
        path.display()
    );
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_of_processes_costs_processes_times_branch_keys_times_ttl_periods() {
    const PROCESSES: usize = 4;
    const BRANCH_KEYS: usize = 3;
    const PERIODS: usize = 3;
    let (table, arn, ids) = key_store("fleet", BRANCH_KEYS).await;
    let proxy = CountingProxy::start(moto());
    let host = host_example();
    let children: Vec<_> = (0..PROCESSES)
        .map(|_| {
            let mut cmd = Command::new(&host);
            cmd.args(["--table", &table, "--kms-key", &arn])
                .args([
                    "--ttl-ms",
                    "2000",
                    "--period-ms",
                    "4000",
                    "--messages",
                    "10",
                ])
                .args(["--periods", &PERIODS.to_string()]);
            for id in &ids {
                cmd.args(["--branch-key", id]);
            }
            // The standard AWS configuration of the child, pointed at the proxy; nothing on this
            // machine can send it elsewhere.
            cmd.env("AWS_ENDPOINT_URL", &proxy.endpoint)
                .env("AWS_ACCESS_KEY_ID", "test")
                .env("AWS_SECRET_ACCESS_KEY", "test")
                .env("AWS_SESSION_TOKEN", "test")
                .env("AWS_REGION", REGION)
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .env("AWS_CONFIG_FILE", "/nonexistent/sealbox-no-aws-config")
                .env(
                    "AWS_SHARED_CREDENTIALS_FILE",
                    "/nonexistent/sealbox-no-credentials",
                );
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
            cmd.spawn().expect("start a host")
        })
        .collect();
    let outputs = tokio::task::spawn_blocking(move || {
        children
            .into_iter()
            .map(|c| c.wait_with_output().expect("host output"))
            .collect::<Vec<_>>()
    })
    .await
    .expect("wait for the hosts");
    for out in &outputs {
        assert!(
            out.status.success(),
            "a host failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let last = String::from_utf8_lossy(&out.stdout);
        let want = format!(
            "messages={} branch_keys={BRANCH_KEYS} periods={PERIODS}",
            10 * BRANCH_KEYS * PERIODS
        );
        assert_eq!(last.lines().last(), Some(want.as_str()));
    }
    let expected = PROCESSES * BRANCH_KEYS * PERIODS;
    assert_eq!(
        proxy.count(DECRYPT),
        expected,
        "KMS Decrypt calls for {PROCESSES} processes x {BRANCH_KEYS} branch keys x {PERIODS} TTL \
         periods: {:?}",
        proxy.counts()
    );
    assert_eq!(proxy.count(GET_ITEM), expected, "{:?}", proxy.counts());
    // Nothing else reached KMS: the branch keys wrapped every data key locally.
    let kms_calls: usize = proxy
        .counts()
        .iter()
        .filter(|(op, _)| op.starts_with("trentservice."))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(kms_calls, expected, "{:?}", proxy.counts());
}
