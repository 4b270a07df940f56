//! The asymmetric AWS KMS keyrings (RSA, ML-KEM, ECDH) against a local KMS: moto_server behind
//! the KMS stand-in of `tests/kms_standin/`, which STANDS IN FOR AWS KMS for the operations moto
//! lacks (`Decrypt` with real RSA keys, `DeriveSharedSecret`, `Encapsulate`, `Decapsulate`) with
//! real cryptography over keys it holds. Without moto_server and the venv's Python the tests
//! fail: they never pass by skipping.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_sdk_kms::config::retry::RetryConfig;
use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_kms::types::{KeySpec, KeyUsageType};
use base64::Engine;

mod kms_standin;
mod moto_support;

use sealbox::{
    AlgorithmSuite, Client, DefaultCmm, EcdhCurve, EncryptedDataKey, EncryptionContext, Error,
    Keyring, KmsEcdhKeyring, KmsMlKemKeyring, KmsRsaAlgorithm, KmsRsaKeyring, MlKemParameterSet,
    RawEcdhKeyring, RawEcdhScheme,
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

// ---------------------------------------------------------------------------------------------
// AWS KMS ML-KEM

const ML_KEM_SETS: [(MlKemParameterSet, KeySpec); 3] = [
    (MlKemParameterSet::MlKem512, KeySpec::MlKem512),
    (MlKemParameterSet::MlKem768, KeySpec::MlKem768),
    (MlKemParameterSet::MlKem1024, KeySpec::MlKem1024),
];

/// Round trips for each parameter set and both encapsulation sources. Local encapsulation is
/// aws-lc's ML-KEM and decapsulation the stand-in's (kyber-py, another implementation of FIPS
/// 203), so these also check the two against each other. The rustcrypto backend has no local
/// encapsulation: there the test checks that it says so.
#[tokio::test(flavor = "multi_thread")]
async fn kms_ml_kem_round_trips_every_set_with_kms_and_local_encapsulation() {
    let client = kms();
    for (set, spec) in ML_KEM_SETS {
        let (arn, der) = create_key(&client, spec, KeyUsageType::EncapsulateDecapsulate).await;
        let by_kms = Arc::new(KmsMlKemKeyring::new(client.clone(), &arn, set).unwrap());
        let mut keyrings = vec![("kms", by_kms)];
        match KmsMlKemKeyring::new(client.clone(), &arn, set)
            .unwrap()
            .with_local_encapsulation(&der)
        {
            Ok(local) => keyrings.push(("local", Arc::new(local))),
            Err(e) => {
                assert_eq!(sealbox::crypto_backend(), "rustcrypto", "{e}");
                assert!(e.to_string().contains("needs the aws-lc backend"), "{e}");
            }
        }
        for suite in [
            AlgorithmSuite::Aes256GcmHkdfSha512CommitEcdsaP384,
            AlgorithmSuite::Aes256GcmHkdfSha512Commit,
        ] {
            let messages = Client::builder().algorithm_suite(suite).build().unwrap();
            let ec = ctx(&[("tenant", "pq")]);
            for (name, encrypting) in &keyrings {
                let message = messages
                    .encrypt(&DefaultCmm::new(encrypting.clone()), b"pq", &ec)
                    .await
                    .unwrap_or_else(|e| panic!("{set} {name}: {e}"));
                // Decapsulation is always KMS's: either keyring decrypts what either wrote.
                for (_, decrypting) in &keyrings {
                    let out = messages
                        .decrypt(&DefaultCmm::new(decrypting.clone()), &message)
                        .await
                        .unwrap_or_else(|e| panic!("{set} {name}: {e}"));
                    assert_eq!(out.plaintext, b"pq");
                }
            }
        }
    }
}

/// An ML-KEM key and the EDK of one data key wrapped under it (KMS encapsulation), for the
/// hostile-EDK tests.
async fn ml_kem_edk(
    set: MlKemParameterSet,
    spec: KeySpec,
    ec: &EncryptionContext,
) -> (KmsMlKemKeyring, Vec<u8>, EncryptedDataKey) {
    let client = kms();
    let (arn, _) = create_key(&client, spec, KeyUsageType::EncapsulateDecapsulate).await;
    let keyring = KmsMlKemKeyring::new(client, &arn, set).unwrap();
    let (key, mut edks) = keyring
        .generate_data_key(AlgorithmSuite::Aes256GcmHkdfSha512Commit, ec)
        .await
        .unwrap();
    assert_eq!(edks.len(), 1);
    (keyring, key.as_bytes().to_vec(), edks.remove(0))
}

async fn unwrap_err(
    keyring: &KmsMlKemKeyring,
    ec: &EncryptionContext,
    edk: EncryptedDataKey,
) -> String {
    keyring
        .unwrap_data_key(AlgorithmSuite::Aes256GcmHkdfSha512Commit, ec, &[edk])
        .await
        .map(|_| ())
        .expect_err("a hostile EDK must not unwrap")
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn kms_ml_kem_hostile_edks_fail_with_clear_errors() {
    let ec = ctx(&[("tenant", "pq")]);
    let (keyring, key, edk) = ml_kem_edk(MlKemParameterSet::MlKem768, KeySpec::MlKem768, &ec).await;
    assert_eq!(edk.provider_id, sealbox::KMS_ML_KEM_PROVIDER_ID);
    assert_eq!(edk.ciphertext.len(), 1088 + 32 + 32 + 16);
    let good = keyring
        .unwrap_data_key(
            AlgorithmSuite::Aes256GcmHkdfSha512Commit,
            &ec,
            std::slice::from_ref(&edk),
        )
        .await
        .unwrap();
    assert_eq!(good.as_bytes(), &key[..]);

    // Truncated KEM ciphertexts and every other wrong length: refused before KMS is called.
    for len in [0, 1, 767, 1087, 1088, 1088 + 32, edk.ciphertext.len() - 1] {
        let mut bad = edk.clone();
        bad.ciphertext.truncate(len);
        let err = unwrap_err(&keyring, &ec, bad).await;
        assert!(err.contains("1088-byte KEM ciphertext"), "{len}: {err}");
    }
    let mut long = edk.clone();
    long.ciphertext.push(0);
    assert!(unwrap_err(&keyring, &ec, long)
        .await
        .contains("1088-byte KEM ciphertext"));

    // A corrupted KEM ciphertext decapsulates (implicit rejection) to another secret: the wrap
    // does not authenticate.
    let mut flipped = edk.clone();
    flipped.ciphertext[100] ^= 1;
    assert!(unwrap_err(&keyring, &ec, flipped)
        .await
        .contains("does not authenticate"));
    // So does a changed salt, tag, or context.
    for at in [1088 + 5, edk.ciphertext.len() - 1] {
        let mut bad = edk.clone();
        bad.ciphertext[at] ^= 0x80;
        assert!(unwrap_err(&keyring, &ec, bad)
            .await
            .contains("does not authenticate"));
    }
    let err = unwrap_err(&keyring, &ctx(&[("tenant", "other")]), edk.clone()).await;
    assert!(err.contains("does not authenticate"), "{err}");

    // Provider info: another version, a wrong length, another key.
    let mut version = edk.clone();
    version.provider_info[0] = 2;
    assert!(unwrap_err(&keyring, &ec, version)
        .await
        .contains("version is 0x02"));
    let mut short = edk.clone();
    short.provider_info.pop();
    assert!(unwrap_err(&keyring, &ec, short).await.contains("declares"));
    let mut other = edk.clone();
    let n = other.provider_info.len();
    other.provider_info[n - 1] ^= 1;
    assert!(unwrap_err(&keyring, &ec, other).await.contains("is not"));

    // An EDK of another parameter set (ML-KEM-512's 768-byte KEM ciphertext) under a 768 keyring.
    let (_, _, edk512) = ml_kem_edk(MlKemParameterSet::MlKem512, KeySpec::MlKem512, &ec).await;
    let mut renamed = edk512;
    renamed.provider_info = edk.provider_info.clone();
    assert!(unwrap_err(&keyring, &ec, renamed)
        .await
        .contains("1088-byte KEM ciphertext"));
}

#[tokio::test(flavor = "multi_thread")]
async fn kms_ml_kem_configuration_errors_are_clear() {
    let client = kms();
    let err = KmsMlKemKeyring::new(client.clone(), "alias/pq", MlKemParameterSet::MlKem768)
        .unwrap_err()
        .to_string();
    assert!(err.contains("key ARN"), "{err}");
    let (arn, der) = create_key(
        &client,
        KeySpec::MlKem512,
        KeyUsageType::EncapsulateDecapsulate,
    )
    .await;
    // A 512 key's SPKI for a 768 keyring.
    let err = KmsMlKemKeyring::new(client.clone(), &arn, MlKemParameterSet::MlKem768)
        .unwrap()
        .with_local_encapsulation(&der)
        .unwrap_err()
        .to_string();
    assert!(err.contains("ML-KEM-768"), "{err}");
    // Encapsulating with a key of another kind: KMS's error, named.
    let (rsa, _) = create_key(&client, KeySpec::Rsa2048, KeyUsageType::EncryptDecrypt).await;
    let keyring = KmsMlKemKeyring::new(client, &rsa, MlKemParameterSet::MlKem768).unwrap();
    let err = keyring
        .generate_data_key(
            AlgorithmSuite::Aes256GcmHkdfSha512Commit,
            &EncryptionContext::new(),
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("Encapsulate") && err.contains("InvalidKeyUsageException"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// AWS KMS ECDH

const ECDH_CURVES: [(EcdhCurve, KeySpec, &str); 3] = [
    (EcdhCurve::P256, KeySpec::EccNistP256, "p256"),
    (EcdhCurve::P384, KeySpec::EccNistP384, "p384"),
    (EcdhCurve::P521, KeySpec::EccNistP521, "p521"),
];

async fn kms_ecdh_static(
    client: &aws_sdk_kms::Client,
    curve: EcdhCurve,
    ours: &str,
    theirs: &[u8],
) -> Arc<KmsEcdhKeyring> {
    Arc::new(
        KmsEcdhKeyring::builder(client.clone(), curve)
            .kms_private_key_to_static_public_key(ours, theirs)
            .build()
            .await
            .unwrap(),
    )
}

/// Alice (KMS key A) writes to Bob (KMS key B). Bob reads with discovery and with the static
/// scheme from his side, Alice with her own keyring; and a raw ECDH sender (a local key) writes
/// to Bob, who reads that with the same discovery keyring.
#[tokio::test(flavor = "multi_thread")]
async fn kms_ecdh_round_trips_every_curve_and_scheme() {
    let client = kms();
    let messages = Client::new();
    for (curve, spec, name) in ECDH_CURVES {
        let (alice, alice_public) =
            create_key(&client, spec.clone(), KeyUsageType::KeyAgreement).await;
        let (bob, bob_public) = create_key(&client, spec, KeyUsageType::KeyAgreement).await;
        let alice_to_bob = kms_ecdh_static(&client, curve, &alice, &bob_public).await;
        let bob_from_alice = kms_ecdh_static(&client, curve, &bob, &alice_public).await;
        let bob_discovery = Arc::new(
            KmsEcdhKeyring::builder(client.clone(), curve)
                .kms_public_key_discovery(&bob)
                .build()
                .await
                .unwrap(),
        );
        let ec = ctx(&[("curve", name)]);
        let message = messages
            .encrypt(&DefaultCmm::new(alice_to_bob.clone()), b"ecdh", &ec)
            .await
            .unwrap_or_else(|e| panic!("{curve}: {e}"));
        for (who, keyring) in [
            ("alice", alice_to_bob.clone()),
            ("bob static", bob_from_alice.clone()),
            ("bob discovery", bob_discovery.clone()),
        ] {
            let out = messages
                .decrypt(&DefaultCmm::new(keyring), &message)
                .await
                .unwrap_or_else(|e| panic!("{curve} {who}: {e}"));
            assert_eq!(out.plaintext, b"ecdh");
        }
        // Bob answers Alice with his static keyring.
        let reply = messages
            .encrypt(&DefaultCmm::new(bob_from_alice.clone()), b"reply", &ec)
            .await
            .unwrap();
        let out = messages
            .decrypt(&DefaultCmm::new(alice_to_bob.clone()), &reply)
            .await
            .unwrap();
        assert_eq!(out.plaintext, b"reply");

        // A raw ECDH sender with a local key writes to Bob's KMS key.
        let raw_private = std::fs::read(format!(
            "{}/tests/data/ecdh-{name}-private.pem",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        let raw_sender =
            RawEcdhKeyring::builder(curve, RawEcdhScheme::RawPrivateKeyToStaticPublicKey)
                .sender_private_key(&raw_private)
                .recipient_public_key(&bob_public)
                .build()
                .unwrap();
        let from_raw = messages
            .encrypt(&DefaultCmm::new(raw_sender), b"raw", &ec)
            .await
            .unwrap();
        let out = messages
            .decrypt(&DefaultCmm::new(bob_discovery.clone()), &from_raw)
            .await
            .unwrap();
        assert_eq!(out.plaintext, b"raw");
        // Alice's static keyring is not party to it.
        let err = messages
            .decrypt(&DefaultCmm::new(alice_to_bob.clone()), &from_raw)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("not this keyring's"), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kms_ecdh_configuration_and_hostile_edks_fail_with_clear_errors() {
    let client = kms();
    let (p256, p256_public) =
        create_key(&client, KeySpec::EccNistP256, KeyUsageType::KeyAgreement).await;
    let (p384, p384_public) =
        create_key(&client, KeySpec::EccNistP384, KeyUsageType::KeyAgreement).await;
    let (rsa, _) = create_key(&client, KeySpec::Rsa2048, KeyUsageType::EncryptDecrypt).await;

    // GetPublicKey's checks: key usage, curve.
    let err = KmsEcdhKeyring::builder(client.clone(), EcdhCurve::P256)
        .kms_public_key_discovery(&rsa)
        .build()
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("KEY_AGREEMENT"), "{err}");
    let err = KmsEcdhKeyring::builder(client.clone(), EcdhCurve::P256)
        .kms_public_key_discovery(&p384)
        .build()
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("ECC_NIST_P256"), "{err}");
    // A recipient key on another curve.
    let err = KmsEcdhKeyring::builder(client.clone(), EcdhCurve::P256)
        .kms_private_key_to_static_public_key(&p256, &p384_public)
        .build()
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.to_lowercase().contains("curve") || err.contains("P-384"),
        "{err}"
    );
    // No scheme.
    assert!(KmsEcdhKeyring::builder(client.clone(), EcdhCurve::P256)
        .build()
        .await
        .is_err());

    // Discovery cannot encrypt.
    let discovery = KmsEcdhKeyring::builder(client.clone(), EcdhCurve::P256)
        .kms_public_key_discovery(&p256)
        .build()
        .await
        .unwrap();
    let ec = ctx(&[("k", "v")]);
    let err = discovery
        .generate_data_key(AlgorithmSuite::Aes256GcmHkdfSha512Commit, &ec)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot encrypt"), "{err}");

    // Hostile EDKs: every truncation of the provider info, a point off the curve, a changed
    // context, a flipped commitment key.
    let (other, _) = create_key(&client, KeySpec::EccNistP256, KeyUsageType::KeyAgreement).await;
    let sender = kms_ecdh_static(&client, EcdhCurve::P256, &other, &p256_public).await;
    let (_, edks) = sender
        .generate_data_key(AlgorithmSuite::Aes256GcmHkdfSha512Commit, &ec)
        .await
        .unwrap();
    let edk = &edks[0];
    assert_eq!(edk.provider_id, "aws-kms-ecdh");
    let suite = AlgorithmSuite::Aes256GcmHkdfSha512Commit;
    assert!(discovery.unwrap_data_key(suite, &ec, &edks).await.is_ok());
    let try_one = |edk: EncryptedDataKey, ec: EncryptionContext| {
        let discovery = &discovery;
        async move {
            discovery
                .unwrap_data_key(suite, &ec, &[edk])
                .await
                .map(|_| ())
                .unwrap_err()
                .to_string()
        }
    };
    for cut in [0, 1, 5, 37, edk.provider_info.len() - 1] {
        let mut bad = edk.clone();
        bad.provider_info.truncate(cut);
        let err = try_one(bad, ec.clone()).await;
        assert!(err.contains("provider info"), "{cut}: {err}");
    }
    let mut off_curve = edk.clone();
    // The sender's point is the last 33 bytes: flip its x coordinate's last bit until it leaves
    // the curve (about half of all x are not on it).
    let n = off_curve.provider_info.len();
    let mut refused = false;
    for bit in 0..8 {
        off_curve.provider_info[n - 1] ^= 1 << bit;
        let err = try_one(off_curve.clone(), ec.clone()).await;
        if err.contains("sender public key") {
            refused = true;
            break;
        }
    }
    assert!(
        refused,
        "no flipped sender point was refused as off the curve"
    );
    let err = try_one(edk.clone(), ctx(&[("k", "other")])).await;
    assert!(err.contains("commitment key mismatch"), "{err}");
    let mut flipped = edk.clone();
    flipped.ciphertext[40] ^= 1;
    assert!(try_one(flipped, ec.clone())
        .await
        .contains("commitment key mismatch"));
    let mut short = edk.clone();
    short.ciphertext.truncate(50);
    assert!(try_one(short, ec.clone())
        .await
        .contains("wrapped key is 50 bytes"));
}
