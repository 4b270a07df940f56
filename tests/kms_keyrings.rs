//! The asymmetric AWS KMS keyrings (RSA, ML-KEM, ECDH) against a local KMS: moto_server behind
//! the KMS stand-in of `tests/kms_standin/`, which STANDS IN FOR AWS KMS for the operations moto
//! lacks (`Decrypt` with real RSA keys, `DeriveSharedSecret`, `Encapsulate`, `Decapsulate`) with
//! real cryptography over keys it holds. Without moto_server and the venv's Python the tests
//! fail: they never pass by skipping.

use std::sync::OnceLock;
use std::time::Duration;

use aws_sdk_kms::config::retry::RetryConfig;
use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kms::types::{KeySpec, KeyUsageType};
use base64::Engine;

mod kms_standin;
mod moto_support;

use sealbox::{
    AlgorithmSuite, Client, DefaultCmm, EncryptionContext, Error, KmsRsaAlgorithm, KmsRsaKeyring,
};

const REGION: &str = "us-east-1";

struct Local {
    _moto: moto_support::LocalMoto,
    standin: kms_standin::KmsStandin,
}

fn endpoint() -> &'static str {
    static LOCAL: OnceLock<Local> = OnceLock::new();
    &LOCAL
        .get_or_init(|| {
            let moto = moto_support::start("SEALBOX_KMS_ENDPOINT", "KMS");
            let standin = kms_standin::start(&moto.endpoint);
            Local {
                _moto: moto,
                standin,
            }
        })
        .standin
        .endpoint
}

fn kms() -> aws_sdk_kms::Client {
    let config = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new(
            "test",
            "test",
            None,
            None,
            "sealbox-tests",
        ))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(2)
                .with_initial_backoff(Duration::from_millis(1)),
        )
        .build();
    aws_sdk_kms::Client::from_conf(config)
}

/// A fresh asymmetric key of the stand-in: its ARN and its public key (DER SubjectPublicKeyInfo).
async fn create_key(
    client: &aws_sdk_kms::Client,
    spec: KeySpec,
    usage: KeyUsageType,
) -> (String, Vec<u8>) {
    let out = client
        .create_key()
        .key_spec(spec)
        .key_usage(usage)
        .send()
        .await
        .expect("CreateKey");
    let arn = out
        .key_metadata()
        .and_then(|m| m.arn())
        .expect("ARN")
        .to_owned();
    let public = client
        .get_public_key()
        .key_id(&arn)
        .send()
        .await
        .expect("GetPublicKey");
    let der = public.public_key().expect("PublicKey").as_ref().to_vec();
    (arn, der)
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("base64 is ASCII"))
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn unsigned_client() -> Client {
    Client::builder()
        .algorithm_suite(AlgorithmSuite::Aes256GcmHkdfSha512Commit)
        .build()
        .expect("client")
}

// ---------------------------------------------------------------------------------------------
// AWS KMS RSA

#[tokio::test(flavor = "multi_thread")]
async fn kms_rsa_round_trips_with_both_algorithms_and_key_sizes() {
    let client = kms();
    let messages = unsigned_client();
    for spec in [KeySpec::Rsa2048, KeySpec::Rsa3072] {
        let (arn, der) = create_key(&client, spec.clone(), KeyUsageType::EncryptDecrypt).await;
        for algorithm in [KmsRsaAlgorithm::OaepSha1, KmsRsaAlgorithm::OaepSha256] {
            // The producer holds only the public key: no client.
            let producer = KmsRsaKeyring::new(&arn, algorithm)
                .unwrap()
                .with_public_key_pem(&pem("PUBLIC KEY", &der))
                .unwrap();
            let consumer = KmsRsaKeyring::new(&arn, algorithm)
                .unwrap()
                .with_client(client.clone());
            let ec = ctx(&[("tenant", "a"), ("purpose", "kms-rsa")]);
            let message = messages
                .encrypt(&DefaultCmm::new(producer), b"rsa plaintext", &ec)
                .await
                .unwrap();
            let out = messages
                .decrypt(&DefaultCmm::new(consumer), &message)
                .await
                .unwrap_or_else(|e| panic!("{spec:?} {algorithm:?}: {e}"));
            assert_eq!(out.plaintext, b"rsa plaintext");
            assert_eq!(out.encryption_context, ec);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kms_rsa_refuses_a_wrong_algorithm_a_wrong_key_and_signing_suites() {
    let client = kms();
    let (arn, der) = create_key(&client, KeySpec::Rsa2048, KeyUsageType::EncryptDecrypt).await;
    let (other, _) = create_key(&client, KeySpec::Rsa2048, KeyUsageType::EncryptDecrypt).await;
    let producer = KmsRsaKeyring::new(&arn, KmsRsaAlgorithm::OaepSha256)
        .unwrap()
        .with_public_key_pem(&pem("PUBLIC KEY", &der))
        .unwrap();
    let messages = unsigned_client();
    let message = messages
        .encrypt(&DefaultCmm::new(producer), b"x", &EncryptionContext::new())
        .await
        .unwrap();

    // SHA-1 OAEP on a SHA-256 OAEP ciphertext: KMS refuses, and the error says so.
    let sha1 = KmsRsaKeyring::new(&arn, KmsRsaAlgorithm::OaepSha1)
        .unwrap()
        .with_client(client.clone());
    let err = messages
        .decrypt(&DefaultCmm::new(sha1), &message)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("InvalidCiphertextException"),
        "{err}"
    );

    // Another key: the EDK is not its own, and KMS is not called.
    let stranger = KmsRsaKeyring::new(&other, KmsRsaAlgorithm::OaepSha256)
        .unwrap()
        .with_client(client.clone());
    let err = messages
        .decrypt(&DefaultCmm::new(stranger), &message)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("is not"), "{err}");

    // The default (signing) suite is refused on encrypt with a message that says why.
    let producer = KmsRsaKeyring::new(&arn, KmsRsaAlgorithm::OaepSha256)
        .unwrap()
        .with_public_key_pem(&pem("PUBLIC KEY", &der))
        .unwrap();
    let err = Client::new()
        .encrypt(&DefaultCmm::new(producer), b"x", &EncryptionContext::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Keyring(_)), "{err:?}");
    assert!(err.to_string().contains("which signs"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn kms_rsa_binds_the_encryption_context() {
    let client = kms();
    let (arn, der) = create_key(&client, KeySpec::Rsa2048, KeyUsageType::EncryptDecrypt).await;
    let producer = KmsRsaKeyring::new(&arn, KmsRsaAlgorithm::OaepSha256)
        .unwrap()
        .with_public_key_pem(&pem("PUBLIC KEY", &der))
        .unwrap();
    let consumer = KmsRsaKeyring::new(&arn, KmsRsaAlgorithm::OaepSha256)
        .unwrap()
        .with_client(client.clone());
    let ec = ctx(&[("tenant", "a")]);
    let (key, edks) = sealbox::Keyring::generate_data_key(
        &producer,
        AlgorithmSuite::Aes256GcmHkdfSha512Commit,
        &ec,
    )
    .await
    .unwrap();
    let unwrapped = sealbox::Keyring::unwrap_data_key(
        &consumer,
        AlgorithmSuite::Aes256GcmHkdfSha512Commit,
        &ec,
        &edks,
    )
    .await
    .unwrap();
    assert_eq!(unwrapped.as_bytes(), key.as_bytes());
    let err = sealbox::Keyring::unwrap_data_key(
        &consumer,
        AlgorithmSuite::Aes256GcmHkdfSha512Commit,
        &ctx(&[("tenant", "b")]),
        &edks,
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("encryption context does not match"),
        "{err}"
    );
}
