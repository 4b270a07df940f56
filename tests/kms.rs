//! The AWS KMS keyrings against a real local KMS: `moto_server` from the Python venv.
//!
//! The endpoint comes from `SEALBOX_KMS_ENDPOINT` when it is set (scripts/test may share one
//! server); otherwise the tests start `moto_server` on a free loopback port themselves, from
//! `SEALBOX_MOTO_SERVER` or `.venv/bin/moto_server` (run `scripts/test` once to create the venv).
//! Without either the tests fail: they never pass by skipping.
//!
//! Faults (throttling, server errors, access denied, hangs) come from [`FaultLayer`], an SDK
//! interceptor that rewrites chosen responses, or sends chosen requests to a socket that never
//! answers, so that the SDK's own retry and timeout machinery handles them as it would in AWS.

use std::collections::{HashMap, VecDeque};
use std::error::Error as StdError;
use std::io::Read;
use std::net::TcpListener;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_sdk_kms::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeDeserializationInterceptorContextMut,
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextMut,
};
use aws_sdk_kms::config::retry::RetryConfig;
use aws_sdk_kms::config::timeout::TimeoutConfig;
use aws_sdk_kms::config::{
    BehaviorVersion, ConfigBag, Credentials, Intercept, Region, RuntimeComponents,
};
use aws_sdk_kms::error::{BoxError, ProvideErrorMetadata, SdkError};
use aws_sdk_kms::operation::decrypt::{DecryptError, DecryptInput};
use aws_sdk_kms::operation::encrypt::EncryptError;
use aws_sdk_kms::operation::generate_data_key::{
    GenerateDataKeyError, GenerateDataKeyInput, GenerateDataKeyOutput,
};
use aws_smithy_runtime_api::http::StatusCode;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
mod moto_support;

use moto_support::LocalMoto;
use sealbox::format::{parse_header, HeaderLimits};
use sealbox::{
    CachingCmm, Client, DefaultCmm, DiscoveryFilter, EncryptionContext, Error, Keyring,
    KeyringError, KmsDiscoveryKeyring, KmsKeyring, KmsMrkDiscoveryKeyring, KmsMrkKeyring,
    MultiKeyring, RegionalClients,
};

/// moto's default account.
const ACCOUNT: &str = "123456789012";
const HOME: &str = "us-east-1";
const AWAY: &str = "eu-west-1";

// ---------------------------------------------------------------------------------------------
// The local KMS

fn endpoint() -> &'static str {
    static KMS: OnceLock<LocalMoto> = OnceLock::new();
    &KMS.get_or_init(|| moto_support::start("SEALBOX_KMS_ENDPOINT", "KMS"))
        .endpoint
}

fn config(region: &str) -> aws_sdk_kms::config::Builder {
    aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .region(Region::new(region.to_owned()))
        .credentials_provider(Credentials::new(
            "test",
            "test",
            None,
            None,
            "sealbox-tests",
        ))
        // Fast retries, so that the fault tests take milliseconds.
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(1))
                .with_max_backoff(Duration::from_millis(5)),
        )
}

fn kms(region: &str) -> aws_sdk_kms::Client {
    aws_sdk_kms::Client::from_conf(config(region).build())
}

async fn create_key(client: &aws_sdk_kms::Client, multi_region: bool) -> String {
    let out = client
        .create_key()
        .multi_region(multi_region)
        .send()
        .await
        .expect("CreateKey");
    out.key_metadata()
        .and_then(|m| m.arn())
        .expect("key ARN")
        .to_owned()
}

fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn kms_edk_arns(message: &[u8]) -> Vec<String> {
    let header = parse_header(message, &HeaderLimits::default())
        .expect("header")
        .0;
    header
        .encrypted_data_keys
        .iter()
        .filter(|edk| edk.provider_id == "aws-kms")
        .map(|edk| String::from_utf8(edk.provider_info.clone()).expect("UTF-8 ARN"))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Fault injection

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// 400 ThrottlingException: the SDK retries it (with backoff).
    Throttle,
    /// 500 KMSInternalException: the SDK retries it.
    ServerError,
    /// 400 AccessDeniedException: not retried.
    AccessDenied,
    /// The request goes to a socket that accepts and never answers: the attempt timeout fires.
    Hang,
}

#[derive(Default)]
struct FaultState {
    /// Faults for the next attempts of an operation, in order.
    next: HashMap<String, VecDeque<Fault>>,
    /// A fault for every attempt of an operation, after `next` is used up.
    always: HashMap<String, Fault>,
    /// Attempts that went out, by operation (GenerateDataKey, Encrypt, Decrypt, ...).
    attempts: HashMap<String, usize>,
}

/// An SDK interceptor that counts every attempt and injects the planned faults.
#[derive(Clone)]
struct FaultLayer {
    state: Arc<Mutex<FaultState>>,
    black_hole: Arc<TcpListener>,
}

impl std::fmt::Debug for FaultLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FaultLayer")
    }
}

#[derive(Clone, Debug)]
struct Injected(Option<Fault>);

impl Storable for Injected {
    type Storer = StoreReplace<Self>;
}

impl FaultLayer {
    fn new() -> Self {
        FaultLayer {
            state: Arc::default(),
            // The kernel completes connections to a listening socket without accept(): the
            // request is sent and no answer ever comes.
            black_hole: Arc::new(TcpListener::bind("127.0.0.1:0").expect("black hole")),
        }
    }

    fn fail_next(&self, op: &str, faults: &[Fault]) {
        let mut s = self.state.lock().unwrap();
        s.next.entry(op.into()).or_default().extend(faults);
    }

    fn fail_always(&self, op: &str, fault: Fault) {
        self.state.lock().unwrap().always.insert(op.into(), fault);
    }

    fn heal(&self) {
        let mut s = self.state.lock().unwrap();
        s.next.clear();
        s.always.clear();
    }

    fn attempts(&self, op: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .attempts
            .get(op)
            .copied()
            .unwrap_or(0)
    }

    fn reset_counts(&self) {
        self.state.lock().unwrap().attempts.clear();
    }

    fn client(&self, region: &str, max_attempts: u32) -> aws_sdk_kms::Client {
        let conf = config(region)
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(max_attempts)
                    .with_initial_backoff(Duration::from_millis(1))
                    .with_max_backoff(Duration::from_millis(5)),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_attempt_timeout(Duration::from_millis(500))
                    .build(),
            )
            .interceptor(self.clone())
            .build();
        aws_sdk_kms::Client::from_conf(conf)
    }
}

impl Intercept for FaultLayer {
    fn name(&self) -> &'static str {
        "sealbox-test-faults"
    }

    fn modify_before_transmit(
        &self,
        ctx: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let op = ctx
            .request()
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.strip_prefix("TrentService."))
            .unwrap_or("unknown")
            .to_owned();
        let fault = {
            let mut s = self.state.lock().unwrap();
            *s.attempts.entry(op.clone()).or_default() += 1;
            let planned = s.next.get_mut(&op).and_then(VecDeque::pop_front);
            planned.or_else(|| s.always.get(&op).copied())
        };
        if fault == Some(Fault::Hang) {
            let addr = self.black_hole.local_addr()?;
            ctx.request_mut().set_uri(format!("http://{addr}/"))?;
        }
        cfg.interceptor_state().store_put(Injected(fault));
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        ctx: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (status, body) = match cfg.load::<Injected>().and_then(|i| i.0) {
            Some(Fault::Throttle) => (
                400,
                r#"{"__type":"ThrottlingException","message":"Rate exceeded (injected)"}"#,
            ),
            Some(Fault::ServerError) => (
                500,
                r#"{"__type":"KMSInternalException","message":"injected server error"}"#,
            ),
            Some(Fault::AccessDenied) => (
                400,
                r#"{"__type":"AccessDeniedException","message":"not allowed (injected)"}"#,
            ),
            Some(Fault::Hang) | None => return Ok(()),
        };
        let response = ctx.response_mut();
        *response.status_mut() = StatusCode::try_from(status)?;
        response.headers_mut().remove("content-length");
        *response.body_mut() = SdkBody::from(body);
        Ok(())
    }
}

/// moto 5.2.5 cannot decrypt anything under a multi-Region key: its ciphertext blob keeps 36
/// bytes of key ID, an MRK ID (`mrk-` and a UUID) has 40, and the truncated ID matches no key, so
/// every such Decrypt is AccessDenied. This interceptor answers those Decrypt requests the way
/// KMS does, from the data keys it saw GenerateDataKey return for MRKs: the requested key must be
/// the generating key or a replica of it (same partition, account and ID), in the region of the
/// client that asks, and the encryption context must be the one used at generation. Everything
/// the keyring does (matching EDKs, choosing the key ARN and the client, checking the answer)
/// runs for real; only moto's answer is replaced.
#[derive(Clone, Debug)]
struct MrkEmulator {
    region: String,
    generated: Arc<Mutex<HashMap<Vec<u8>, Generated>>>,
}

#[derive(Clone, Debug)]
struct Generated {
    key_arn: String,
    plaintext: Vec<u8>,
    context: Option<HashMap<String, String>>,
}

#[derive(Clone, Debug)]
struct PendingGenerate(Option<HashMap<String, String>>);

impl Storable for PendingGenerate {
    type Storer = StoreReplace<Self>;
}

#[derive(Clone, Debug)]
struct MrkAnswer(Result<(String, Vec<u8>), (u16, &'static str)>);

impl Storable for MrkAnswer {
    type Storer = StoreReplace<Self>;
}

impl MrkEmulator {
    fn new(region: &str) -> Self {
        MrkEmulator {
            region: region.into(),
            generated: Arc::default(),
        }
    }

    /// The same emulator (the same generated keys) for a client in another region.
    fn in_region(&self, region: &str) -> Self {
        MrkEmulator {
            region: region.into(),
            generated: self.generated.clone(),
        }
    }

    fn answer(&self, input: &DecryptInput) -> Option<MrkAnswer> {
        let requested = input.key_id.as_deref()?;
        if !requested.contains(":key/mrk-") {
            return None;
        }
        let blob = input.ciphertext_blob.as_ref()?.as_ref();
        let generated = self.generated.lock().unwrap().get(blob).cloned()?;
        // arn:partition:kms:region:account:key/id: all but the region must agree.
        let parts = |arn: &str| -> Vec<String> { arn.split(':').map(str::to_owned).collect() };
        let (want, got) = (parts(requested), parts(&generated.key_arn));
        let answer = if want[3] != self.region {
            Err((400, "NotFoundException"))
        } else if (want[1].as_str(), want[4].as_str(), want[5].as_str())
            != (got[1].as_str(), got[4].as_str(), got[5].as_str())
        {
            Err((400, "IncorrectKeyException"))
        } else if input.encryption_context != generated.context {
            Err((400, "InvalidCiphertextException"))
        } else {
            Ok((requested.to_owned(), generated.plaintext))
        };
        Some(MrkAnswer(answer))
    }
}

impl Intercept for MrkEmulator {
    fn name(&self) -> &'static str {
        "sealbox-test-mrk-emulator"
    }

    fn read_before_serialization(
        &self,
        ctx: &BeforeSerializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(input) = ctx.input().downcast_ref::<GenerateDataKeyInput>() {
            let context = input.encryption_context.clone();
            cfg.interceptor_state().store_put(PendingGenerate(context));
        }
        if let Some(answer) = ctx
            .input()
            .downcast_ref::<DecryptInput>()
            .and_then(|input| self.answer(input))
        {
            cfg.interceptor_state().store_put(answer);
        }
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        ctx: &AfterDeserializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(PendingGenerate(context)) = cfg.load::<PendingGenerate>().cloned() else {
            return Ok(());
        };
        let Ok(output) = ctx.output_or_error() else {
            return Ok(());
        };
        if let Some(out) = output.downcast_ref::<GenerateDataKeyOutput>() {
            if let (Some(arn), Some(pt), Some(ct)) =
                (&out.key_id, &out.plaintext, &out.ciphertext_blob)
            {
                if arn.contains(":key/mrk-") {
                    self.generated.lock().unwrap().insert(
                        ct.as_ref().to_vec(),
                        Generated {
                            key_arn: arn.clone(),
                            plaintext: pt.as_ref().to_vec(),
                            context,
                        },
                    );
                }
            }
        }
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        ctx: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(MrkAnswer(answer)) = cfg.load::<MrkAnswer>().cloned() else {
            return Ok(());
        };
        let (status, body) = match answer {
            Ok((key_id, plaintext)) => (
                200,
                serde_json::json!({
                    "KeyId": key_id,
                    "Plaintext": aws_smithy_types::base64::encode(plaintext),
                    "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
                }),
            ),
            Err((status, code)) => (
                status,
                serde_json::json!({"__type": code, "message": "emulated MRK answer"}),
            ),
        };
        let response = ctx.response_mut();
        *response.status_mut() = StatusCode::try_from(status)?;
        response.headers_mut().remove("content-length");
        response.headers_mut().remove("x-amzn-errortype");
        *response.body_mut() = SdkBody::from(body.to_string());
        Ok(())
    }
}

/// The KMS error code of the first SDK error in `err`'s source chain, looking through the
/// per-EDK attempts of a decrypt failure.
fn kms_code(err: &Error) -> Option<String> {
    fn in_chain(mut e: Option<&(dyn StdError + 'static)>) -> Option<String> {
        while let Some(err) = e {
            if let Some(s) = err.downcast_ref::<SdkError<GenerateDataKeyError>>() {
                return s.code().map(str::to_owned);
            }
            if let Some(s) = err.downcast_ref::<SdkError<EncryptError>>() {
                return s.code().map(str::to_owned);
            }
            if let Some(s) = err.downcast_ref::<SdkError<DecryptError>>() {
                return s
                    .code()
                    .map(str::to_owned)
                    .or_else(|| matches!(s, SdkError::TimeoutError(_)).then(|| "timeout".into()));
            }
            e = err.source();
        }
        None
    }
    match err {
        Error::NoDataKey(unwrap) => unwrap
            .attempts
            .iter()
            .find_map(|a| in_chain(Some(a.error.as_ref()))),
        other => in_chain(Some(other)),
    }
}

// ---------------------------------------------------------------------------------------------
// Strict keyrings

#[tokio::test]
async fn strict_keyring_round_trips_and_records_the_key_arn() {
    let client = kms(HOME);
    let arn = create_key(&client, false).await;
    let keyring = KmsKeyring::new(client, &arn)
        .unwrap()
        .with_grant_tokens(["grant-token-1"]);
    assert!(
        !format!("{keyring:?}").contains("grant-token-1"),
        "Debug prints a grant token"
    );
    let cmm = DefaultCmm::new(keyring);
    let ec = ctx(&[("tenant", "42"), ("purpose", "test")]);
    let message = Client::new()
        .encrypt(&cmm, b"hello KMS", &ec)
        .await
        .unwrap();
    assert_eq!(kms_edk_arns(&message), [arn.as_str()]);
    let out = Client::new().decrypt(&cmm, &message).await.unwrap();
    assert_eq!(out.plaintext, b"hello KMS");
    assert_eq!(out.encryption_context["tenant"], "42");
}

#[tokio::test]
async fn a_key_id_or_alias_is_rejected_with_a_message_that_asks_for_an_arn() {
    let client = kms(HOME);
    let arn = create_key(&client, false).await;
    let key_id = arn.rsplit('/').next().unwrap().to_owned();
    for bad in [
        key_id.as_str(),
        "alias/my-key",
        "arn:aws:kms:us-east-1:123456789012:alias/my-key",
    ] {
        let err = KmsKeyring::new(client.clone(), bad).unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{err:?}");
        let msg = err.to_string();
        assert!(msg.contains("ARN"), "{msg}");
        assert!(msg.contains(bad), "{msg}");
        assert!(KmsMrkKeyring::new(client.clone(), bad).is_err());
    }
}

#[tokio::test]
async fn strict_keyring_skips_other_keys_without_calling_kms() {
    let faults = FaultLayer::new();
    let client = faults.client(HOME, 1);
    let a = create_key(&client, false).await;
    let b = create_key(&client, false).await;
    let message = Client::new()
        .encrypt(
            &DefaultCmm::new(KmsKeyring::new(client.clone(), &a).unwrap()),
            b"x",
            &EncryptionContext::new(),
        )
        .await
        .unwrap();
    faults.reset_counts();
    let err = Client::new()
        .decrypt(
            &DefaultCmm::new(KmsKeyring::new(client, &b).unwrap()),
            &message,
        )
        .await
        .unwrap_err();
    let Error::NoDataKey(unwrap) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(unwrap.attempts.len(), 1);
    assert!(err.to_string().contains(&a), "{err}");
    assert_eq!(faults.attempts("Decrypt"), 0);
}

#[tokio::test]
async fn multi_keyring_generator_and_child_each_decrypt() {
    let client = kms(HOME);
    let a = create_key(&client, false).await;
    let b = create_key(&client, false).await;
    let ka: Arc<dyn Keyring> = Arc::new(KmsKeyring::new(client.clone(), &a).unwrap());
    let kb: Arc<dyn Keyring> = Arc::new(KmsKeyring::new(client.clone(), &b).unwrap());
    let multi = MultiKeyring::new(Some(ka.clone()), vec![kb.clone()]).unwrap();
    let ec = ctx(&[("k", "v")]);
    let message = Client::new()
        .encrypt(&DefaultCmm::new(multi), b"two keys", &ec)
        .await
        .unwrap();
    assert_eq!(kms_edk_arns(&message), [a, b]);
    for k in [ka, kb] {
        let out = Client::new()
            .decrypt(&DefaultCmm::from_arc(k), &message)
            .await
            .unwrap();
        assert_eq!(out.plaintext, b"two keys");
    }
}

#[tokio::test]
async fn a_wrong_context_is_refused_by_kms_and_the_sdk_error_is_reachable() {
    let client = kms(HOME);
    let arn = create_key(&client, false).await;
    let keyring = KmsKeyring::new(client, &arn).unwrap();
    let message = Client::new()
        .encrypt(&DefaultCmm::new(keyring), b"x", &ctx(&[("a", "1")]))
        .await
        .unwrap();
    // Replace the stored context by re-using the EDK under a different one: decrypt the EDK
    // directly with another context.
    let header = parse_header(&message, &HeaderLimits::default()).unwrap().0;
    let keyring = KmsKeyring::new(kms(HOME), &arn).unwrap();
    let err = keyring
        .unwrap_data_key(
            header.suite,
            &ctx(&[("a", "2")]),
            &header.encrypted_data_keys,
        )
        .await
        .unwrap_err();
    let attempt = &err.attempts[0];
    let keyring_err = attempt
        .error
        .downcast_ref::<KeyringError>()
        .expect("a KeyringError");
    let sdk = keyring_err
        .source()
        .and_then(|s| s.downcast_ref::<SdkError<DecryptError>>())
        .expect("the SDK error is the source");
    assert_eq!(sdk.code(), Some("InvalidCiphertextException"));
    assert!(
        err.to_string().contains("InvalidCiphertextException"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// Discovery keyrings

#[tokio::test]
async fn discovery_keyring_decrypts_and_honours_its_filter() {
    let faults = FaultLayer::new();
    let client = faults.client(HOME, 1);
    let arn = create_key(&client, false).await;
    let message = Client::new()
        .encrypt(
            &DefaultCmm::new(KmsKeyring::new(client.clone(), &arn).unwrap()),
            b"discover me",
            &EncryptionContext::new(),
        )
        .await
        .unwrap();

    let open = KmsDiscoveryKeyring::new(client.clone());
    let out = Client::new()
        .decrypt(&DefaultCmm::new(open), &message)
        .await
        .unwrap();
    assert_eq!(out.plaintext, b"discover me");

    let trusted = KmsDiscoveryKeyring::new(client.clone())
        .with_discovery_filter(DiscoveryFilter::new("aws", [ACCOUNT]).unwrap());
    Client::new()
        .decrypt(&DefaultCmm::new(trusted), &message)
        .await
        .unwrap();

    faults.reset_counts();
    for filter in [
        DiscoveryFilter::new("aws", ["111122223333"]).unwrap(),
        DiscoveryFilter::new("aws-cn", [ACCOUNT]).unwrap(),
    ] {
        let keyring = KmsDiscoveryKeyring::new(client.clone()).with_discovery_filter(filter);
        let err = Client::new()
            .decrypt(&DefaultCmm::new(keyring), &message)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("discovery filter"), "{err}");
    }
    assert_eq!(faults.attempts("Decrypt"), 0, "a filtered EDK reached KMS");

    assert!(DiscoveryFilter::new("aws", Vec::<String>::new()).is_err());
    assert!(DiscoveryFilter::new("", [ACCOUNT]).is_err());

    let err = Client::new()
        .encrypt(
            &DefaultCmm::new(KmsDiscoveryKeyring::new(client)),
            b"x",
            &EncryptionContext::new(),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("only decrypts"), "{err}");
}

#[tokio::test]
async fn discovery_across_regions_needs_a_client_per_region() {
    let away = kms(AWAY);
    let arn = create_key(&away, false).await;
    let message = Client::new()
        .encrypt(
            &DefaultCmm::new(KmsKeyring::new(away, &arn).unwrap()),
            b"far away",
            &EncryptionContext::new(),
        )
        .await
        .unwrap();

    // A client for the home region only: the EDK is skipped with a reason.
    let err = Client::new()
        .decrypt(
            &DefaultCmm::new(KmsDiscoveryKeyring::new(kms(HOME))),
            &message,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("RegionalClients"), "{err}");

    // Clients derived per region from the home client's configuration.
    let regional = RegionalClients::new(&kms(HOME));
    let out = Client::new()
        .decrypt(
            &DefaultCmm::new(KmsDiscoveryKeyring::new(regional)),
            &message,
        )
        .await
        .unwrap();
    assert_eq!(out.plaintext, b"far away");

    let limited = RegionalClients::new(&kms(HOME)).with_regions([HOME]);
    let err = Client::new()
        .decrypt(
            &DefaultCmm::new(KmsDiscoveryKeyring::new(limited)),
            &message,
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("not among the configured regions"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// Multi-Region keys

async fn replicate(home: &aws_sdk_kms::Client, arn: &str, region: &str) -> String {
    // moto 5.2.5 looks ReplicateKey's KeyId up as a bare key ID only (an ARN is a 500), so pass
    // the ID; real KMS takes either.
    let key_id = arn.rsplit('/').next().expect("key/ID");
    let out = home
        .replicate_key()
        .key_id(key_id)
        .replica_region(region)
        .send()
        .await
        .expect("ReplicateKey");
    out.replica_key_metadata()
        .and_then(|m| m.arn())
        .expect("replica ARN")
        .to_owned()
}

#[tokio::test]
async fn mrk_keyrings_decrypt_with_the_local_replica() {
    let emulator = MrkEmulator::new(HOME);
    let home = aws_sdk_kms::Client::from_conf(config(HOME).interceptor(emulator.clone()).build());
    let mrk = create_key(&home, true).await;
    assert!(mrk.contains(":key/mrk-"), "{mrk}");
    let replica = replicate(&home, &mrk, AWAY).await;
    assert_eq!(replica, mrk.replace(HOME, AWAY));

    let ec = ctx(&[("region", "home")]);
    let message = Client::new()
        .encrypt(
            &DefaultCmm::new(KmsMrkKeyring::new(home.clone(), &mrk).unwrap()),
            b"multi-region",
            &ec,
        )
        .await
        .unwrap();
    assert_eq!(kms_edk_arns(&message), [mrk.as_str()]);

    // The MRK-aware keyring in the other region decrypts with its replica.
    let faults = FaultLayer::new();
    let away = aws_sdk_kms::Client::from_conf(
        faults
            .client(AWAY, 1)
            .config()
            .to_builder()
            .interceptor(emulator.in_region(AWAY))
            .build(),
    );
    let out = Client::new()
        .decrypt(
            &DefaultCmm::new(KmsMrkKeyring::new(away.clone(), &replica).unwrap()),
            &message,
        )
        .await
        .unwrap();
    assert_eq!(out.plaintext, b"multi-region");
    assert_eq!(faults.attempts("Decrypt"), 1);

    // Configured with the home ARN but a client in the other region, the keyring sends the
    // home ARN to the away region, which KMS refuses: the keyring must be given the local replica.
    let err = Client::new()
        .decrypt(
            &DefaultCmm::new(KmsMrkKeyring::new(away.clone(), &mrk).unwrap()),
            &message,
        )
        .await
        .unwrap_err();
    assert_eq!(
        kms_code(&err).as_deref(),
        Some("NotFoundException"),
        "{err}"
    );
    assert_eq!(faults.attempts("Decrypt"), 2);

    // The strict keyring does not: the ARN differs in its region.
    let err = Client::new()
        .decrypt(
            &DefaultCmm::new(KmsKeyring::new(away.clone(), &replica).unwrap()),
            &message,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NoDataKey(_)), "{err:?}");
    assert_eq!(
        faults.attempts("Decrypt"),
        2,
        "the strict keyring called KMS"
    );

    // The MRK discovery keyring rewrites the ARN to its own region.
    let keyring = KmsMrkDiscoveryKeyring::new(away.clone())
        .unwrap()
        .with_discovery_filter(DiscoveryFilter::new("aws", [ACCOUNT]).unwrap());
    let out = Client::new()
        .decrypt(&DefaultCmm::new(keyring), &message)
        .await
        .unwrap();
    assert_eq!(out.plaintext, b"multi-region");

    // A single-Region key elsewhere is not the MRK discovery keyring's to try.
    let single = create_key(&home, false).await;
    let message = Client::new()
        .encrypt(
            &DefaultCmm::new(KmsKeyring::new(home, &single).unwrap()),
            b"x",
            &EncryptionContext::new(),
        )
        .await
        .unwrap();
    faults.reset_counts();
    let err = Client::new()
        .decrypt(
            &DefaultCmm::new(KmsMrkDiscoveryKeyring::new(away).unwrap()),
            &message,
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("not in this keyring's region"),
        "{err}"
    );
    assert_eq!(faults.attempts("Decrypt"), 0);
}

// ---------------------------------------------------------------------------------------------
// Faults: retries, timeouts, errors

#[tokio::test]
async fn throttling_is_retried_per_the_sdk_retry_config() {
    let faults = FaultLayer::new();
    let client = faults.client(HOME, 3);
    let arn = create_key(&client, false).await;
    let cmm = DefaultCmm::new(KmsKeyring::new(client, &arn).unwrap());

    // Two throttles, then success: three attempts, one success for the caller.
    faults.fail_next("GenerateDataKey", &[Fault::Throttle, Fault::Throttle]);
    let message = Client::new()
        .encrypt(&cmm, b"retried", &EncryptionContext::new())
        .await
        .unwrap();
    assert_eq!(faults.attempts("GenerateDataKey"), 3);

    // Three throttles exhaust three attempts: the caller sees the throttle.
    faults.reset_counts();
    faults.fail_next("Decrypt", &[Fault::Throttle; 3]);
    let err = Client::new().decrypt(&cmm, &message).await.unwrap_err();
    assert_eq!(faults.attempts("Decrypt"), 3);
    assert_eq!(kms_code(&err).as_deref(), Some("ThrottlingException"));
    assert!(err.to_string().contains("ThrottlingException"), "{err}");
}

#[tokio::test]
async fn retries_off_means_one_attempt() {
    let faults = FaultLayer::new();
    let client = faults.client(HOME, 1);
    let arn = create_key(&client, false).await;
    let cmm = DefaultCmm::new(KmsKeyring::new(client, &arn).unwrap());
    faults.fail_next("GenerateDataKey", &[Fault::Throttle]);
    let err = Client::new()
        .encrypt(&cmm, b"x", &EncryptionContext::new())
        .await
        .unwrap_err();
    assert_eq!(faults.attempts("GenerateDataKey"), 1);
    // Encrypt errors are keyring errors whose source is the SDK error.
    let Error::Keyring(keyring_err) = &err else {
        panic!("{err:?}")
    };
    let sdk = keyring_err
        .source()
        .and_then(|s| s.downcast_ref::<SdkError<GenerateDataKeyError>>())
        .expect("SdkError<GenerateDataKeyError> as the source");
    assert_eq!(sdk.code(), Some("ThrottlingException"));
    assert_eq!(sdk.raw_response().map(|r| r.status().as_u16()), Some(400));
}

#[tokio::test]
async fn server_errors_are_retried_and_access_denied_is_not() {
    let faults = FaultLayer::new();
    let client = faults.client(HOME, 3);
    let arn = create_key(&client, false).await;
    let cmm = DefaultCmm::new(KmsKeyring::new(client, &arn).unwrap());

    faults.fail_always("GenerateDataKey", Fault::ServerError);
    let err = Client::new()
        .encrypt(&cmm, b"x", &EncryptionContext::new())
        .await
        .unwrap_err();
    assert_eq!(faults.attempts("GenerateDataKey"), 3);
    assert_eq!(kms_code(&err).as_deref(), Some("KMSInternalException"));

    faults.heal();
    faults.reset_counts();
    faults.fail_always("GenerateDataKey", Fault::AccessDenied);
    let err = Client::new()
        .encrypt(&cmm, b"x", &EncryptionContext::new())
        .await
        .unwrap_err();
    assert_eq!(
        faults.attempts("GenerateDataKey"),
        1,
        "access denied was retried"
    );
    assert_eq!(kms_code(&err).as_deref(), Some("AccessDeniedException"));
}

#[tokio::test]
async fn a_hanging_kms_times_out_per_attempt_and_the_caller_sees_a_timeout() {
    let faults = FaultLayer::new();
    let client = faults.client(HOME, 2);
    let arn = create_key(&client, false).await;
    let cmm = DefaultCmm::new(KmsKeyring::new(client, &arn).unwrap());
    let message = Client::new()
        .encrypt(&cmm, b"x", &EncryptionContext::new())
        .await
        .unwrap();

    faults.fail_next("Decrypt", &[Fault::Hang]);
    let started = Instant::now();
    let out = Client::new().decrypt(&cmm, &message).await.unwrap();
    assert_eq!(out.plaintext, b"x");
    assert_eq!(
        faults.attempts("Decrypt"),
        2,
        "the timed-out attempt was not retried"
    );
    assert!(started.elapsed() >= Duration::from_millis(500));

    faults.reset_counts();
    faults.fail_always("Decrypt", Fault::Hang);
    let started = Instant::now();
    let err = Client::new().decrypt(&cmm, &message).await.unwrap_err();
    assert_eq!(faults.attempts("Decrypt"), 2);
    assert_eq!(kms_code(&err).as_deref(), Some("timeout"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
    // Nothing in the black hole ever answers; make sure it really held the requests.
    faults.black_hole.set_nonblocking(true).unwrap();
    let (mut conn, _) = faults
        .black_hole
        .accept()
        .expect("a connection to the black hole");
    let mut buf = [0u8; 16];
    conn.set_nonblocking(false).unwrap();
    conn.read_exact(&mut buf).unwrap();
    assert!(
        buf.starts_with(b"POST "),
        "{:?}",
        String::from_utf8_lossy(&buf)
    );
}

// ---------------------------------------------------------------------------------------------
// The caching CMM over KMS: failures and partial results are never cached

#[tokio::test]
async fn caching_cmm_never_caches_a_kms_failure() {
    let faults = FaultLayer::new();
    let client = faults.client(HOME, 1);
    let arn = create_key(&client, false).await;
    let cmm = CachingCmm::builder_with_keyring(KmsKeyring::new(client, &arn).unwrap())
        .max_age(Duration::from_secs(60))
        .max_messages(100)
        .build()
        .unwrap();
    let plain = Client::new();

    faults.fail_always("GenerateDataKey", Fault::Throttle);
    for _ in 0..3 {
        let err = plain
            .encrypt(&cmm, b"x", &EncryptionContext::new())
            .await
            .unwrap_err();
        assert_eq!(kms_code(&err).as_deref(), Some("ThrottlingException"));
    }
    // Every request went to KMS: no failure was served from the cache.
    assert_eq!(faults.attempts("GenerateDataKey"), 3);

    faults.heal();
    let first = plain
        .encrypt(&cmm, b"ok", &EncryptionContext::new())
        .await
        .unwrap();
    let second = plain
        .encrypt(&cmm, b"ok", &EncryptionContext::new())
        .await
        .unwrap();
    assert_eq!(
        faults.attempts("GenerateDataKey"),
        4,
        "the data key was not cached"
    );

    // Decrypt: a throttled Decrypt is not cached either.
    faults.fail_next("Decrypt", &[Fault::Throttle]);
    let err = plain.decrypt(&cmm, &first).await.unwrap_err();
    assert_eq!(kms_code(&err).as_deref(), Some("ThrottlingException"));
    assert_eq!(plain.decrypt(&cmm, &first).await.unwrap().plaintext, b"ok");
    assert_eq!(plain.decrypt(&cmm, &second).await.unwrap().plaintext, b"ok");
    assert_eq!(
        faults.attempts("Decrypt"),
        2,
        "one failed call, one cached success"
    );
}

#[tokio::test]
async fn caching_cmm_never_caches_a_partial_result() {
    // A generator and a child on two keys: when the child's Encrypt fails, there are materials
    // with only the generator's EDK. They must not be cached (a message written with them could
    // not be read by the child's key holders).
    let faults = FaultLayer::new();
    let client = faults.client(HOME, 1);
    let a = create_key(&client, false).await;
    let b = create_key(&client, false).await;
    let child: Arc<dyn Keyring> = Arc::new(KmsKeyring::new(client.clone(), &b).unwrap());
    let multi = MultiKeyring::new(
        Some(Arc::new(KmsKeyring::new(client.clone(), &a).unwrap())),
        vec![child.clone()],
    )
    .unwrap();
    let cmm = CachingCmm::builder_with_keyring(multi)
        .max_age(Duration::from_secs(60))
        .max_messages(100)
        .build()
        .unwrap();

    faults.fail_next("Encrypt", &[Fault::ServerError]);
    let err = Client::new()
        .encrypt(&cmm, b"x", &EncryptionContext::new())
        .await
        .unwrap_err();
    assert_eq!(kms_code(&err).as_deref(), Some("KMSInternalException"));
    assert_eq!(faults.attempts("GenerateDataKey"), 1);

    let message = Client::new()
        .encrypt(&cmm, b"both keys", &EncryptionContext::new())
        .await
        .unwrap();
    assert_eq!(
        faults.attempts("GenerateDataKey"),
        2,
        "the partial materials were cached"
    );
    assert_eq!(kms_edk_arns(&message), [a, b]);
    let out = Client::new()
        .decrypt(&DefaultCmm::from_arc(child), &message)
        .await
        .unwrap();
    assert_eq!(out.plaintext, b"both keys");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_failures_are_not_cached_and_the_next_request_recovers() {
    let faults = FaultLayer::new();
    let client = faults.client(HOME, 1);
    let arn = create_key(&client, false).await;
    let cmm = Arc::new(
        CachingCmm::builder_with_keyring(KmsKeyring::new(client, &arn).unwrap())
            .max_age(Duration::from_secs(60))
            .max_messages(1000)
            .build()
            .unwrap(),
    );
    faults.fail_always("GenerateDataKey", Fault::ServerError);
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let cmm = cmm.clone();
            tokio::spawn(async move {
                Client::new()
                    .encrypt(&cmm, b"x", &EncryptionContext::new())
                    .await
            })
        })
        .collect();
    for t in tasks {
        let err = t.await.unwrap().unwrap_err();
        assert!(err.to_string().contains("KMSInternalException"), "{err}");
    }
    let failed_calls = faults.attempts("GenerateDataKey");
    assert!((1..=16).contains(&failed_calls), "{failed_calls}");

    faults.heal();
    for _ in 0..10 {
        Client::new()
            .encrypt(&cmm, b"x", &EncryptionContext::new())
            .await
            .unwrap();
    }
    assert_eq!(faults.attempts("GenerateDataKey"), failed_calls + 1);
}
