//! The DynamoDB branch key store against a real local DynamoDB and KMS: `moto_server` from the
//! Python venv (both services on one port).
//!
//! The endpoint comes from `SEALBOX_MOTO_ENDPOINT` when it is set (scripts/test may share one
//! server); otherwise the tests start `moto_server` on a free loopback port themselves, from
//! `SEALBOX_MOTO_SERVER` or `.venv/bin/moto_server`. Without either they fail: they never pass
//! by skipping.
//!
//! Faults (throttling, access denied) and the race between two rotations come from
//! [`Interceptor`], an SDK interceptor that rewrites chosen responses or holds chosen requests, so
//! that the SDK's own retry machinery and DynamoDB's own conditions decide the outcome.
//!
//! moto cannot wrap branch keys under multi-Region keys (its ciphertext keeps 36 bytes of key
//! ID, an `mrk-` ID has 40), so the multi-Region configurations are tested by the unit tests of
//! `src/keyring/hierarchy/dynamodb.rs`, on the function that picks the KMS key for an item.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::error::Error as StdError;
use std::sync::{Arc, Barrier, Mutex, OnceLock};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_kms::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeDeserializationInterceptorContextMut,
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextMut,
};
use aws_sdk_kms::config::retry::RetryConfig;
use aws_sdk_kms::config::{
    BehaviorVersion, ConfigBag, Credentials, Intercept, Region, RuntimeComponents,
};
use aws_sdk_kms::error::{BoxError, ProvideErrorMetadata, SdkError};
use aws_sdk_kms::operation::decrypt::{DecryptError, DecryptInput};
use aws_sdk_kms::operation::generate_data_key_without_plaintext::GenerateDataKeyWithoutPlaintextInput;
use aws_sdk_kms::operation::re_encrypt::ReEncryptInput;
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use sealbox::{BranchKeyStore, DynamoDbKeyStore, KeyStoreError, KmsConfiguration};

mod moto_support;

use moto_support::LocalMoto;

const REGION: &str = "us-east-1";

fn endpoint() -> &'static str {
    static MOTO: OnceLock<LocalMoto> = OnceLock::new();
    &MOTO
        .get_or_init(|| moto_support::start("SEALBOX_MOTO_ENDPOINT", "DynamoDB and KMS"))
        .endpoint
}

fn credentials() -> Credentials {
    Credentials::new("test", "test", None, None, "sealbox-tests")
}

/// A KMS client, with the interceptor when there is one.
fn kms(interceptor: Option<&Interceptor>) -> aws_sdk_kms::Client {
    let mut b = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .region(Region::new(REGION))
        .credentials_provider(credentials());
    if let Some(i) = interceptor {
        b = b.interceptor(i.clone());
    }
    aws_sdk_kms::Client::from_conf(b.build())
}

/// A DynamoDB client with the SDK's default (standard) retry configuration, and the interceptor
/// when there is one.
fn ddb(interceptor: Option<&Interceptor>) -> aws_sdk_dynamodb::Client {
    let mut b = aws_sdk_dynamodb::Config::builder()
        .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .region(aws_sdk_dynamodb::config::Region::new(REGION))
        .credentials_provider(credentials())
        .retry_config(RetryConfig::standard());
    if let Some(i) = interceptor {
        b = b.interceptor(i.clone());
    }
    aws_sdk_dynamodb::Client::from_conf(b.build())
}

async fn kms_key() -> String {
    let out = kms(None).create_key().send().await.expect("KMS CreateKey");
    out.key_metadata()
        .and_then(|m| m.arn())
        .expect("key ARN")
        .to_owned()
}

/// A fresh table name, so that tests sharing one server do not meet.
fn table_name(what: &str) -> String {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("sealbox-{what}-{}-{n}", std::process::id())
}

/// A store on a new table (created) under a new KMS key.
async fn new_store(what: &str) -> (DynamoDbKeyStore, String) {
    let arn = kms_key().await;
    let store = DynamoDbKeyStore::new(
        ddb(None),
        kms(None),
        table_name(what),
        KmsConfiguration::KeyArn(arn.clone()),
    )
    .expect("store");
    store.create_key_store().await.expect("create_key_store");
    (store, arn)
}

fn ctx(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn item(
    store: &DynamoDbKeyStore,
    id: &str,
    sort_key: &str,
) -> HashMap<String, AttributeValue> {
    ddb(None)
        .get_item()
        .table_name(store.table_name())
        .key("branch-key-id", AttributeValue::S(id.into()))
        .key("type", AttributeValue::S(sort_key.into()))
        .consistent_read(true)
        .send()
        .await
        .expect("GetItem")
        .item
        .expect("the item exists")
}

async fn put_item(store: &DynamoDbKeyStore, item: HashMap<String, AttributeValue>) {
    ddb(None)
        .put_item()
        .table_name(store.table_name())
        .set_item(Some(item))
        .send()
        .await
        .expect("PutItem");
}

async fn all_items(store: &DynamoDbKeyStore, id: &str) -> Vec<HashMap<String, AttributeValue>> {
    ddb(None)
        .query()
        .table_name(store.table_name())
        .key_condition_expression("#id = :id")
        .expression_attribute_names("#id", "branch-key-id")
        .expression_attribute_values(":id", AttributeValue::S(id.into()))
        .consistent_read(true)
        .send()
        .await
        .expect("Query")
        .items
        .unwrap_or_default()
}

fn s(v: &AttributeValue) -> &str {
    v.as_s().expect("a string attribute")
}

// ---------------------------------------------------------------------------------------------
// Interceptor: faults, counts and a barrier

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// 400 ThrottlingException (DynamoDB or KMS): retried by the standard retry strategy.
    Throttle,
    /// 400 ProvisionedThroughputExceededException (DynamoDB): retried as throttling.
    ThroughputExceeded,
    /// 400 AccessDeniedException: not retried.
    AccessDenied,
}

#[derive(Default)]
struct State {
    next: HashMap<String, VecDeque<Fault>>,
    attempts: HashMap<String, usize>,
    /// Operations whose responses wait at this barrier (the rotation race).
    barrier: Option<(String, Arc<Barrier>)>,
    /// The grant tokens of each KMS request, by operation.
    grant_tokens: Vec<(&'static str, Option<Vec<String>>)>,
}

/// An SDK interceptor for the DynamoDB and KMS clients: counts attempts by operation, rewrites
/// the responses of planned faults, and can hold responses of one operation at a barrier.
#[derive(Clone, Default)]
struct Interceptor {
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for Interceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Interceptor")
    }
}

#[derive(Clone, Debug)]
struct Injected(Option<Fault>, String);

impl Storable for Injected {
    type Storer = StoreReplace<Self>;
}

impl Interceptor {
    fn fail_next(&self, op: &str, faults: &[Fault]) {
        let mut s = self.state.lock().unwrap();
        s.next.entry(op.into()).or_default().extend(faults);
    }

    fn attempts(&self, op: &str) -> usize {
        let s = self.state.lock().unwrap();
        s.attempts.get(op).copied().unwrap_or(0)
    }

    fn hold(&self, op: &str, parties: usize) {
        self.state.lock().unwrap().barrier = Some((op.into(), Arc::new(Barrier::new(parties))));
    }
}

impl Intercept for Interceptor {
    fn name(&self) -> &'static str {
        "sealbox-test-interceptor"
    }

    fn read_before_serialization(
        &self,
        ctx: &BeforeSerializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = ctx.input();
        let tokens = if let Some(i) = input.downcast_ref::<DecryptInput>() {
            Some(("Decrypt", i.grant_tokens.clone()))
        } else if let Some(i) = input.downcast_ref::<ReEncryptInput>() {
            Some(("ReEncrypt", i.grant_tokens.clone()))
        } else {
            input
                .downcast_ref::<GenerateDataKeyWithoutPlaintextInput>()
                .map(|i| ("GenerateDataKeyWithoutPlaintext", i.grant_tokens.clone()))
        };
        if let Some(t) = tokens {
            self.state.lock().unwrap().grant_tokens.push(t);
        }
        Ok(())
    }

    fn modify_before_transmit(
        &self,
        ctx: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // X-Amz-Target: DynamoDB_20120810.GetItem, TrentService.Decrypt.
        let op = ctx
            .request()
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.split('.').nth(1))
            .unwrap_or("unknown")
            .to_owned();
        let fault = {
            let mut s = self.state.lock().unwrap();
            *s.attempts.entry(op.clone()).or_default() += 1;
            s.next.get_mut(&op).and_then(VecDeque::pop_front)
        };
        cfg.interceptor_state().store_put(Injected(fault, op));
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        ctx: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let body = match cfg.load::<Injected>().and_then(|i| i.0) {
            Some(Fault::Throttle) => {
                r#"{"__type":"ThrottlingException","message":"Rate exceeded (injected)"}"#
            }
            Some(Fault::ThroughputExceeded) => {
                r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"injected"}"#
            }
            Some(Fault::AccessDenied) => {
                r#"{"__type":"AccessDeniedException","message":"not allowed (injected)"}"#
            }
            None => return Ok(()),
        };
        let response = ctx.response_mut();
        *response.status_mut() = StatusCode::try_from(400)?;
        response.headers_mut().remove("content-length");
        *response.body_mut() = SdkBody::from(body);
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        _ctx: &AfterDeserializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let op = cfg.load::<Injected>().map(|i| i.1.clone());
        let barrier = {
            let s = self.state.lock().unwrap();
            s.barrier
                .as_ref()
                .filter(|(held, _)| Some(held) == op.as_ref())
                .map(|(_, b)| b.clone())
        };
        // Wait for every party to have its response. block_in_place hands this worker's other
        // tasks (the connections' among them) to another thread meanwhile: the tests that use
        // it run on a multi-threaded runtime.
        if let Some(b) = barrier {
            tokio::task::block_in_place(|| b.wait());
        }
        Ok(())
    }
}

fn chain(err: &(dyn StdError + 'static)) -> String {
    let mut out = err.to_string();
    let mut e = err.source();
    while let Some(inner) = e {
        out.push_str(": ");
        out.push_str(&inner.to_string());
        e = inner.source();
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The table

#[tokio::test]
async fn create_key_store_creates_the_table_and_then_validates_it() {
    let arn = kms_key().await;
    let name = table_name("create");
    let store =
        DynamoDbKeyStore::new(ddb(None), kms(None), &name, KmsConfiguration::KeyArn(arn)).unwrap();
    let table_arn = store.create_key_store().await.expect("created");
    assert!(
        table_arn.ends_with(&format!(":table/{name}")),
        "{table_arn}"
    );
    let described = ddb(None)
        .describe_table()
        .table_name(&name)
        .send()
        .await
        .unwrap();
    let table = described.table().unwrap();
    let mut schema: Vec<(String, String)> = table
        .key_schema()
        .iter()
        .map(|k| {
            (
                k.attribute_name().to_owned(),
                k.key_type().as_str().to_owned(),
            )
        })
        .collect();
    schema.sort();
    assert_eq!(
        schema,
        [
            ("branch-key-id".to_owned(), "HASH".to_owned()),
            ("type".to_owned(), "RANGE".to_owned())
        ]
    );
    // Again: the existing table is validated, not recreated.
    assert_eq!(
        store.create_key_store().await.expect("validated"),
        table_arn
    );
}

#[tokio::test]
async fn a_table_with_another_key_schema_is_refused() {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    };
    let name = table_name("wrong-schema");
    ddb(None)
        .create_table()
        .table_name(&name)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    let store = DynamoDbKeyStore::new(
        ddb(None),
        kms(None),
        &name,
        KmsConfiguration::KeyArn(kms_key().await),
    )
    .unwrap();
    match store.create_key_store().await {
        Err(KeyStoreError::Table { table, reason, .. }) => {
            assert_eq!(table, name);
            assert!(reason.contains("not a key store table"), "{reason}");
            assert!(reason.contains("id HASH"), "{reason}");
        }
        other => panic!("expected a Table error, got {other:?}"),
    }
}

#[tokio::test]
async fn configuration_errors_are_caught_at_construction() {
    for bad_table in ["ab", "has space", ""] {
        assert!(matches!(
            DynamoDbKeyStore::new(ddb(None), kms(None), bad_table, KmsConfiguration::Discovery),
            Err(KeyStoreError::Config(_))
        ));
    }
    let err = DynamoDbKeyStore::new(
        ddb(None),
        kms(None),
        "table",
        KmsConfiguration::KeyArn("alias/my-key".into()),
    )
    .unwrap_err();
    assert!(err.to_string().contains("key ARN"), "{err}");
    let store =
        DynamoDbKeyStore::new(ddb(None), kms(None), "table", KmsConfiguration::Discovery).unwrap();
    assert!(store.clone().with_logical_key_store_name("").is_err());
    assert_eq!(store.logical_key_store_name(), "table");
}

// ---------------------------------------------------------------------------------------------
// Creating, reading, rotating

#[tokio::test]
async fn create_key_writes_the_three_items_of_the_specification() {
    let (store, arn) = new_store("items").await;
    let id = store
        .create_key(Some("tenant-a"), &ctx(&[("department", "admin")]))
        .await
        .expect("create_key");
    assert_eq!(id, "tenant-a");
    let items = all_items(&store, &id).await;
    assert_eq!(items.len(), 3);
    let active = item(&store, &id, "branch:ACTIVE").await;
    let version = s(&active["version"]).to_owned();
    let uuid = version.strip_prefix("branch:version:").expect("prefix");
    assert_eq!(uuid.len(), 36);
    let decrypt_only = item(&store, &id, &version).await;
    let beacon = item(&store, &id, "beacon:ACTIVE").await;
    for (it, extra) in [(&active, 1), (&decrypt_only, 0), (&beacon, 0)] {
        assert_eq!(s(&it["branch-key-id"]), "tenant-a");
        assert_eq!(s(&it["kms-arn"]), arn);
        assert_eq!(it["hierarchy-version"], AttributeValue::N("1".into()));
        assert_eq!(s(&it["aws-crypto-ec:department"]), "admin");
        assert!(it["enc"].as_b().is_ok());
        assert!(!it.contains_key("tablename"));
        // branch-key-id type enc kms-arn create-time hierarchy-version aws-crypto-ec:department
        assert_eq!(it.len(), 7 + extra);
        let t = s(&it["create-time"]);
        assert_eq!(t.len(), 27, "{t}");
        assert_eq!(&t[10..11], "T");
        assert!(t.ends_with('Z'));
    }
    assert_eq!(s(&active["create-time"]), s(&decrypt_only["create-time"]));
    assert!(!decrypt_only.contains_key("version"));
    assert!(!beacon.contains_key("version"));

    let materials = store.get_active_branch_key(&id).await.expect("active");
    assert_eq!(materials.branch_key_id(), "tenant-a");
    assert_eq!(materials.version(), uuid);
    assert_eq!(
        materials.encryption_context(),
        &ctx(&[("department", "admin")])
    );
    let same = store
        .get_branch_key_version(&id, uuid)
        .await
        .expect("version");
    assert_eq!(same.key(), materials.key());
    let beacon_key = store.get_beacon_key(&id).await.expect("beacon");
    assert_ne!(beacon_key.key(), materials.key());
    // Debug never shows the key.
    let shown = format!("{materials:?}");
    assert!(shown.contains("redacted"), "{shown}");
}

#[tokio::test]
async fn create_key_ids_contexts_and_conflicts() {
    let (store, _) = new_store("create").await;
    let a = store.create_key(None, &BTreeMap::new()).await.unwrap();
    let b = store.create_key(None, &BTreeMap::new()).await.unwrap();
    assert_ne!(a, b);
    assert_eq!(a.len(), 36, "{a}");
    assert!(store
        .get_active_branch_key(&a)
        .await
        .unwrap()
        .encryption_context()
        .is_empty());
    // An explicit ID needs a context, as in the other SDKs.
    assert!(matches!(
        store.create_key(Some("x"), &BTreeMap::new()).await,
        Err(KeyStoreError::Config(_))
    ));
    // An ID that exists: nothing is overwritten.
    let before = item(&store, &a, "branch:ACTIVE").await;
    match store.create_key(Some(&a), &ctx(&[("k", "v")])).await {
        Err(KeyStoreError::Conflict {
            branch_key_id,
            reason,
        }) => {
            assert_eq!(branch_key_id, a);
            assert!(reason.contains("already exists"), "{reason}");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(item(&store, &a, "branch:ACTIVE").await, before);
    assert_eq!(all_items(&store, &a).await.len(), 3);
}

#[tokio::test]
async fn version_key_rotates_and_keeps_old_versions() {
    let (store, _) = new_store("rotate").await;
    let id = store
        .create_key(Some("t"), &ctx(&[("tenant", "t")]))
        .await
        .unwrap();
    let first = store.get_active_branch_key(&id).await.unwrap();
    let v2 = store.version_key(&id).await.expect("rotated");
    // Seen at once (consistent reads).
    let second = store.get_active_branch_key(&id).await.unwrap();
    assert_eq!(second.version(), v2);
    assert_ne!(second.version(), first.version());
    assert_ne!(second.key(), first.key());
    assert_eq!(second.encryption_context(), &ctx(&[("tenant", "t")]));
    let old = store
        .get_branch_key_version(&id, first.version())
        .await
        .unwrap();
    assert_eq!(old.key(), first.key());
    let v3 = store.version_key(&id).await.unwrap();
    assert_ne!(v3, v2);
    // 3 at creation, 1 per rotation; the beacon key is not rotated.
    assert_eq!(all_items(&store, &id).await.len(), 5);
    let new_item = item(&store, &id, &format!("branch:version:{v3}")).await;
    assert_eq!(s(&new_item["aws-crypto-ec:tenant"]), "t");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_two_concurrent_rotations_exactly_one_wins() {
    let (store, arn) = new_store("race").await;
    let id = store.create_key(None, &BTreeMap::new()).await.unwrap();
    for round in 0..3 {
        let before = store.get_active_branch_key(&id).await.unwrap();
        // Both rotations read the active item before either writes: the GetItem responses wait
        // at a barrier for each other.
        let interceptor = Interceptor::default();
        interceptor.hold("GetItem", 2);
        let racer = || {
            DynamoDbKeyStore::new(
                ddb(Some(&interceptor)),
                kms(None),
                store.table_name(),
                KmsConfiguration::KeyArn(arn.clone()),
            )
            .unwrap()
        };
        let (a, b) = (racer(), racer());
        let (ra, rb) = tokio::join!(
            tokio::spawn({
                let id = id.clone();
                async move { a.version_key(&id).await }
            }),
            tokio::spawn({
                let id = id.clone();
                async move { b.version_key(&id).await }
            }),
        );
        let results = [ra.unwrap(), rb.unwrap()];
        let winners: Vec<&String> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(winners.len(), 1, "round {round}: {results:?}");
        let loser = results.iter().find_map(|r| r.as_ref().err()).unwrap();
        assert!(
            matches!(loser, KeyStoreError::Conflict { branch_key_id, .. } if *branch_key_id == id),
            "round {round}: {loser:?}"
        );
        let after = store.get_active_branch_key(&id).await.unwrap();
        assert_eq!(&after.version(), winners[0]);
        assert_ne!(after.version(), before.version());
    }
    // The losers wrote nothing: 3 items and one version per round.
    assert_eq!(all_items(&store, &id).await.len(), 3 + 3);
}

// ---------------------------------------------------------------------------------------------
// Authentication

/// Change (or add) one string attribute of the active and of the version item of "victim" in
/// turn: each read must fail as not authentic, naming the branch key and the item; then restore.
async fn tamper(store: &DynamoDbKeyStore, version: &str, name: &str, value: &str) {
    let version_key = format!("branch:version:{version}");
    for sort_key in ["branch:ACTIVE", version_key.as_str()] {
        let original = item(store, "victim", sort_key).await;
        let mut changed = original.clone();
        changed.insert(name.into(), AttributeValue::S(value.into()));
        put_item(store, changed).await;
        let err = if sort_key == "branch:ACTIVE" {
            store.get_active_branch_key("victim").await.unwrap_err()
        } else {
            store
                .get_branch_key_version("victim", version)
                .await
                .unwrap_err()
        };
        match &err {
            KeyStoreError::Invalid {
                branch_key_id,
                reason,
                ..
            } => {
                assert_eq!(branch_key_id, "victim");
                assert!(reason.contains(sort_key), "{name}: {reason}");
                assert!(reason.contains("did not authenticate"), "{name}: {reason}");
            }
            other => panic!("{name} on {sort_key}: expected Invalid, got {other:?}"),
        }
        assert!(err.to_string().contains("victim"), "{err}");
        put_item(store, original).await;
    }
}

#[tokio::test]
async fn a_tampered_item_is_refused_naming_the_branch_key() {
    let (store, _) = new_store("tamper").await;
    let id = store
        .create_key(Some("victim"), &ctx(&[("tenant", "v")]))
        .await
        .unwrap();
    let active = store.get_active_branch_key(&id).await.unwrap();

    let version = active.version();
    tamper(
        &store,
        version,
        "create-time",
        "2001-01-01T00:00:00.000000Z",
    )
    .await;
    tamper(&store, version, "aws-crypto-ec:tenant", "someone else").await;
    tamper(&store, version, "added", "x").await;
    // Restored: readable again.
    assert_eq!(
        store.get_active_branch_key(&id).await.unwrap().key(),
        active.key()
    );
    // Rotation authenticates the active item first.
    let mut changed = item(&store, "victim", "branch:ACTIVE").await;
    changed.insert(
        "create-time".into(),
        AttributeValue::S("2001-01-01T00:00:00.000000Z".into()),
    );
    put_item(&store, changed).await;
    let err = store.version_key("victim").await.unwrap_err();
    assert!(
        matches!(&err, KeyStoreError::Invalid { reason, .. } if reason.contains("did not authenticate")),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_logical_name_and_the_kms_key_are_bound() {
    let (store, arn) = new_store("bound").await;
    let id = store.create_key(None, &BTreeMap::new()).await.unwrap();
    let renamed = DynamoDbKeyStore::new(
        ddb(None),
        kms(None),
        store.table_name(),
        KmsConfiguration::KeyArn(arn.clone()),
    )
    .unwrap()
    .with_logical_key_store_name("another-name")
    .unwrap();
    let err = renamed.get_active_branch_key(&id).await.unwrap_err();
    assert!(
        matches!(&err, KeyStoreError::Invalid { reason, .. } if reason.contains("did not authenticate")),
        "{err:?}"
    );
    // A store configured with another KMS key refuses the item before calling KMS.
    let other = DynamoDbKeyStore::new(
        ddb(None),
        kms(None),
        store.table_name(),
        KmsConfiguration::KeyArn(kms_key().await),
    )
    .unwrap();
    let err = other.get_active_branch_key(&id).await.unwrap_err();
    assert!(
        matches!(&err, KeyStoreError::Invalid { reason, .. } if reason.contains("is not the key store's KMS key")),
        "{err:?}"
    );
    // A discovery store reads it with the key the item names, and cannot write.
    let discovery = DynamoDbKeyStore::new(
        ddb(None),
        kms(None),
        store.table_name(),
        KmsConfiguration::Discovery,
    )
    .unwrap();
    assert_eq!(
        discovery.get_active_branch_key(&id).await.unwrap().key(),
        store.get_active_branch_key(&id).await.unwrap().key()
    );
    assert!(matches!(
        discovery.create_key(None, &BTreeMap::new()).await,
        Err(KeyStoreError::Config(_))
    ));
    assert!(matches!(
        discovery.version_key(&id).await,
        Err(KeyStoreError::Config(_))
    ));
}

#[tokio::test]
async fn missing_keys_and_versions_are_not_found() {
    let (store, _) = new_store("missing").await;
    match store.get_active_branch_key("nobody").await {
        Err(KeyStoreError::NotFound {
            branch_key_id,
            version: None,
        }) => assert_eq!(branch_key_id, "nobody"),
        other => panic!("{other:?}"),
    }
    let id = store.create_key(None, &BTreeMap::new()).await.unwrap();
    let missing = "00000000-0000-4000-8000-000000000000";
    match store.get_branch_key_version(&id, missing).await {
        Err(KeyStoreError::NotFound { version, .. }) => {
            assert_eq!(version.as_deref(), Some(missing))
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        store.version_key("nobody").await,
        Err(KeyStoreError::NotFound { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Faults

#[tokio::test]
async fn dynamodb_throttling_is_retried_by_the_sdk() {
    let (store, arn) = new_store("throttle").await;
    let id = store.create_key(None, &BTreeMap::new()).await.unwrap();
    let faults = Interceptor::default();
    let throttled = DynamoDbKeyStore::new(
        ddb(Some(&faults)),
        kms(None),
        store.table_name(),
        KmsConfiguration::KeyArn(arn),
    )
    .unwrap();
    // Two throttled attempts, then the real answer: the standard strategy's third attempt.
    faults.fail_next("GetItem", &[Fault::ThroughputExceeded, Fault::Throttle]);
    let materials = throttled.get_active_branch_key(&id).await.expect("retried");
    assert_eq!(faults.attempts("GetItem"), 3);
    assert_eq!(
        materials.key(),
        store.get_active_branch_key(&id).await.unwrap().key()
    );
    // Throttled on every attempt: the caller gets the service error after the SDK gives up.
    faults.fail_next("GetItem", &[Fault::Throttle; 3]);
    let err = throttled.get_active_branch_key(&id).await.unwrap_err();
    assert_eq!(faults.attempts("GetItem"), 6);
    assert!(
        matches!(
            &err,
            KeyStoreError::Service {
                operation: "DynamoDB GetItem",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        chain(&err).contains("ThrottlingException"),
        "{}",
        chain(&err)
    );
}

#[tokio::test]
async fn kms_access_denied_reaches_the_caller() {
    let (store, arn) = new_store("denied").await;
    let id = store.create_key(None, &BTreeMap::new()).await.unwrap();
    let faults = Interceptor::default();
    let denied = DynamoDbKeyStore::new(
        ddb(None),
        kms(Some(&faults)),
        store.table_name(),
        KmsConfiguration::KeyArn(arn),
    )
    .unwrap();
    faults.fail_next("Decrypt", &[Fault::AccessDenied]);
    let err = denied.get_active_branch_key(&id).await.unwrap_err();
    // Not retried, and not mistaken for a tampered item.
    assert_eq!(faults.attempts("Decrypt"), 1);
    let KeyStoreError::Service {
        branch_key_id,
        operation,
        source,
    } = &err
    else {
        panic!("expected a service error, got {err:?}");
    };
    assert_eq!(
        (branch_key_id.as_str(), *operation),
        (id.as_str(), "KMS Decrypt")
    );
    let sdk = source
        .downcast_ref::<SdkError<DecryptError>>()
        .expect("the SDK error is the source");
    assert_eq!(sdk.code(), Some("AccessDeniedException"));
    let shown = chain(&err);
    assert!(
        shown.contains(&id) && shown.contains("AccessDeniedException"),
        "{shown}"
    );
    // The next call goes through.
    assert!(denied.get_active_branch_key(&id).await.is_ok());
}

#[tokio::test]
async fn grant_tokens_go_with_every_kms_call() {
    let (store, arn) = new_store("grants").await;
    let seen = Interceptor::default();
    let granted = DynamoDbKeyStore::new(
        ddb(None),
        kms(Some(&seen)),
        store.table_name(),
        KmsConfiguration::KeyArn(arn),
    )
    .unwrap()
    .with_grant_tokens(["token-1", "token-2"]);
    let id = granted.create_key(None, &BTreeMap::new()).await.unwrap();
    granted.version_key(&id).await.unwrap();
    granted.get_active_branch_key(&id).await.unwrap();
    let calls = seen.state.lock().unwrap().grant_tokens.clone();
    let ops: Vec<&str> = calls.iter().map(|(op, _)| *op).collect();
    // create: generate, re-encrypt, generate (beacon); rotate: re-encrypt (authenticate),
    // generate, re-encrypt; read: decrypt.
    assert_eq!(
        ops,
        [
            "GenerateDataKeyWithoutPlaintext",
            "ReEncrypt",
            "GenerateDataKeyWithoutPlaintext",
            "ReEncrypt",
            "GenerateDataKeyWithoutPlaintext",
            "ReEncrypt",
            "Decrypt"
        ]
    );
    let want = Some(vec!["token-1".to_owned(), "token-2".to_owned()]);
    for (op, tokens) in &calls {
        assert_eq!(tokens, &want, "{op}");
    }
}
