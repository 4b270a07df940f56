//! The raw ECDH keyring through the public API: every scheme on every curve and in every suite
//! (who can encrypt, who can decrypt what), the encryption context bound into the wrapped key,
//! configuration errors, and hostile EDKs (every truncation, wrong lengths, points off the curve,
//! the point at infinity, the wrong curve, tampered ciphertexts) that fail with a clear error
//! and never panic. Interop with the Python ESDK is `scripts/interop-ecdh`; offline vectors from
//! it are `tests/vectors/raw-ecdh` (tests/vectors.rs).

use sealbox::{
    AlgorithmSuite, Client, CommitmentPolicy, DataKey, DefaultCmm, EcdhCurve, EncryptedDataKey,
    EncryptionContext, Error, Keyring, RawEcdhKeyring, RawEcdhScheme, UnwrapError,
};

/// Two parties' key pairs (A, the sender; B, the recipient) on `curve`: private PEM, public PEM.
struct Keys {
    a_private: &'static [u8],
    a_public: &'static [u8],
    b_private: &'static [u8],
    b_public: &'static [u8],
}

fn keys(curve: EcdhCurve) -> Keys {
    match curve {
        EcdhCurve::P256 => Keys {
            a_private: include_bytes!("data/ecdh-p256-private.pem"),
            a_public: include_bytes!("data/ecdh-p256-public.pem"),
            b_private: include_bytes!("data/ecdh-p256-private-b.pem"),
            b_public: include_bytes!("data/ecdh-p256-public-b.pem"),
        },
        EcdhCurve::P384 => Keys {
            a_private: include_bytes!("data/ecdh-p384-private.pem"),
            a_public: include_bytes!("data/ecdh-p384-public.pem"),
            b_private: include_bytes!("data/ecdh-p384-private-b.pem"),
            b_public: include_bytes!("data/ecdh-p384-public-b.pem"),
        },
        _ => Keys {
            a_private: include_bytes!("data/ecdh-p521-private.pem"),
            a_public: include_bytes!("data/ecdh-p521-public.pem"),
            b_private: include_bytes!("data/ecdh-p521-private-b.pem"),
            b_public: include_bytes!("data/ecdh-p521-public-b.pem"),
        },
    }
}

fn static_keyring(curve: EcdhCurve, private: &[u8], public: &[u8]) -> RawEcdhKeyring {
    RawEcdhKeyring::builder(curve, RawEcdhScheme::RawPrivateKeyToStaticPublicKey)
        .sender_private_key(private)
        .recipient_public_key(public)
        .build()
        .unwrap()
}

fn ephemeral(curve: EcdhCurve, public: &[u8]) -> RawEcdhKeyring {
    RawEcdhKeyring::builder(curve, RawEcdhScheme::EphemeralPrivateKeyToStaticPublicKey)
        .recipient_public_key(public)
        .build()
        .unwrap()
}

fn discovery(curve: EcdhCurve, private: &[u8]) -> RawEcdhKeyring {
    RawEcdhKeyring::builder(curve, RawEcdhScheme::PublicKeyDiscovery)
        .recipient_private_key(private)
        .build()
        .unwrap()
}

fn ctx() -> EncryptionContext {
    [("purpose", "test"), ("tenant", "t-1")]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

async fn wrap(keyring: &RawEcdhKeyring, suite: AlgorithmSuite) -> (DataKey, EncryptedDataKey) {
    let (key, mut edks) = keyring.generate_data_key(suite, &ctx()).await.unwrap();
    assert_eq!(edks.len(), 1);
    (key, edks.remove(0))
}

async fn unwrap(
    keyring: &RawEcdhKeyring,
    suite: AlgorithmSuite,
    edk: &EncryptedDataKey,
) -> Result<DataKey, UnwrapError> {
    keyring
        .unwrap_data_key(suite, &ctx(), std::slice::from_ref(edk))
        .await
}

#[tokio::test]
async fn every_scheme_on_every_curve_in_every_suite() {
    for curve in EcdhCurve::ALL {
        let k = keys(curve);
        let sender = static_keyring(curve, k.a_private, k.b_public);
        // The same pair configured by the recipient: its private key, the sender's public key.
        let recipient = static_keyring(curve, k.b_private, k.a_public);
        let producer = ephemeral(curve, k.b_public);
        let reader = discovery(curve, k.b_private);
        let not_the_recipient = discovery(curve, k.a_private);
        for suite in AlgorithmSuite::ALL {
            let (key, edk) = wrap(&sender, suite).await;
            assert_eq!(edk.provider_id, "raw-ecdh");
            assert_eq!(key.len(), suite.data_key_len());
            for (who, keyring) in [
                ("sender", &sender),
                ("recipient", &recipient),
                ("discovery", &reader),
            ] {
                let got = unwrap(keyring, suite, &edk).await;
                assert_eq!(got.unwrap(), key, "{curve} {suite} static -> {who}");
            }
            assert!(unwrap(&not_the_recipient, suite, &edk).await.is_err());

            // What the recipient writes with the static scheme, the sender reads.
            let (key, edk) = wrap(&recipient, suite).await;
            assert_eq!(unwrap(&sender, suite, &edk).await.unwrap(), key);

            // Ephemeral: a fresh sender key each time; only discovery reads it.
            let (key, edk) = wrap(&producer, suite).await;
            let (_, again) = wrap(&producer, suite).await;
            assert_ne!(edk.provider_info, again.provider_info);
            assert_eq!(unwrap(&reader, suite, &edk).await.unwrap(), key);
            assert!(unwrap(&sender, suite, &edk).await.is_err());
            assert!(unwrap(&not_the_recipient, suite, &edk).await.is_err());
        }
        // Discovery cannot encrypt, ephemeral cannot decrypt.
        let e = reader
            .generate_data_key(AlgorithmSuite::ALL[0], &ctx())
            .await
            .unwrap_err();
        assert!(e.to_string().contains("cannot encrypt"), "{e}");
        let (_, edk) = wrap(&sender, AlgorithmSuite::ALL[0]).await;
        let e = unwrap(&producer, AlgorithmSuite::ALL[0], &edk)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("cannot decrypt"), "{e}");
    }
}

#[tokio::test]
async fn the_encryption_context_is_bound_to_the_wrapped_key() {
    let curve = EcdhCurve::P256;
    let k = keys(curve);
    let suite = AlgorithmSuite::Aes256GcmHkdfSha512Commit;
    let (key, edk) = wrap(&ephemeral(curve, k.b_public), suite).await;
    let reader = discovery(curve, k.b_private);
    assert_eq!(unwrap(&reader, suite, &edk).await.unwrap(), key);
    let mut other = ctx();
    other.insert("tenant".into(), "t-2".into());
    let e = reader
        .unwrap_data_key(suite, &other, std::slice::from_ref(&edk))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("commitment key mismatch"), "{e}");
}

#[tokio::test]
async fn whole_messages_through_the_client() {
    let curve = EcdhCurve::P384;
    let k = keys(curve);
    let client = Client::builder()
        .commitment_policy(CommitmentPolicy::RequireEncryptRequireDecrypt)
        .build()
        .unwrap();
    let plaintext = b"key agreement, then envelope encryption".repeat(100);
    let encrypt_cmm = DefaultCmm::new(std::sync::Arc::new(ephemeral(curve, k.b_public)));
    let message = client
        .encrypt(&encrypt_cmm, &plaintext, &ctx())
        .await
        .unwrap();
    let decrypt_cmm = DefaultCmm::new(std::sync::Arc::new(discovery(curve, k.b_private)));
    let decrypted = client.decrypt(&decrypt_cmm, &message).await.unwrap();
    assert_eq!(decrypted.plaintext, plaintext);
    // The wrong recipient is refused with the keyring's reason.
    let wrong = DefaultCmm::new(std::sync::Arc::new(discovery(curve, k.a_private)));
    let e = client.decrypt(&wrong, &message).await.unwrap_err();
    assert!(
        e.to_string()
            .contains("recipient public key is not this keyring's"),
        "{e}"
    );
}

fn config_error(result: Result<RawEcdhKeyring, Error>) -> String {
    match result {
        Err(e @ Error::Config(_)) => e.to_string(),
        Err(e) => panic!("not a configuration error: {e}"),
        Ok(k) => panic!("built {k:?}"),
    }
}

#[test]
fn configuration_errors_are_clear() {
    let k = keys(EcdhCurve::P256);
    let k384 = keys(EcdhCurve::P384);
    let builder = |s| RawEcdhKeyring::builder(EcdhCurve::P256, s);
    use RawEcdhScheme::*;
    // Missing and superfluous keys.
    let e = config_error(
        builder(RawPrivateKeyToStaticPublicKey)
            .sender_private_key(k.a_private)
            .build(),
    );
    assert!(e.contains("needs the recipient's public key"), "{e}");
    let e = config_error(builder(EphemeralPrivateKeyToStaticPublicKey).build());
    assert!(e.contains("needs the recipient's public key"), "{e}");
    let e = config_error(
        builder(PublicKeyDiscovery)
            .recipient_private_key(k.b_private)
            .recipient_public_key(k.b_public)
            .build(),
    );
    assert!(e.contains("does not use a recipient public key"), "{e}");
    let e = config_error(
        builder(EphemeralPrivateKeyToStaticPublicKey)
            .sender_private_key(k.a_private)
            .recipient_public_key(k.b_public)
            .build(),
    );
    assert!(e.contains("does not use a sender private key"), "{e}");
    // Keys of another curve, keys of the wrong kind, garbage.
    let e = config_error(
        builder(EphemeralPrivateKeyToStaticPublicKey)
            .recipient_public_key(k384.b_public)
            .build(),
    );
    assert!(e.contains("a P-384 key, but the curve is P-256"), "{e}");
    let e = config_error(
        builder(PublicKeyDiscovery)
            .recipient_private_key(k384.b_private)
            .build(),
    );
    assert!(e.contains("not a P-256 private key"), "{e}");
    let e = config_error(
        builder(PublicKeyDiscovery)
            .recipient_private_key(k.b_public)
            .build(),
    );
    assert!(e.contains("labelled \"PUBLIC KEY\""), "{e}");
    let rsa = include_bytes!("data/rsa-2048-public.pem");
    let e = config_error(
        builder(EphemeralPrivateKeyToStaticPublicKey)
            .recipient_public_key(rsa)
            .build(),
    );
    assert!(e.contains("not an elliptic-curve key"), "{e}");
    let e = config_error(
        builder(EphemeralPrivateKeyToStaticPublicKey)
            .recipient_public_key(b"\x30\x03\x02\x01")
            .build(),
    );
    assert!(e.contains("truncated DER"), "{e}");
    assert!("p-999".parse::<EcdhCurve>().is_err());
    // Debug shows public keys, never private ones.
    let keyring = discovery(EcdhCurve::P256, k.b_private);
    let debug = format!("{keyring:?}");
    assert!(debug.contains("PublicKeyDiscovery") && !debug.contains("PRIVATE"));
}

/// The unwrap error for one hostile EDK (a panic fails the test).
async fn refused(
    keyring: &RawEcdhKeyring,
    suite: AlgorithmSuite,
    edk: &EncryptedDataKey,
) -> String {
    match unwrap(keyring, suite, edk).await {
        Err(e) => e.to_string(),
        Ok(_) => panic!("unwrapped a hostile EDK: {edk:?}"),
    }
}

#[tokio::test]
async fn hostile_edks_fail_with_clear_errors() {
    let suite = AlgorithmSuite::Aes256GcmHkdfSha512CommitEcdsaP384;
    for curve in EcdhCurve::ALL {
        let k = keys(curve);
        let sender = static_keyring(curve, k.a_private, k.b_public);
        let reader = discovery(curve, k.b_private);
        let (_, edk) = wrap(&sender, suite).await;
        let n = edk.provider_info.len();
        let point = (n - 9) / 2; // a compressed point's length
        let recipient_at = 5; // version, u32 length
        let sender_at = 5 + point + 4;

        // Every truncation and one byte more, of the provider info and of the ciphertext.
        for cut in 0..n {
            let mut bad = edk.clone();
            bad.provider_info.truncate(cut);
            let e = refused(&reader, suite, &bad).await;
            assert!(e.contains("provider info"), "{curve} cut {cut}: {e}");
        }
        let mut longer = edk.clone();
        longer.provider_info.push(0);
        assert!(refused(&reader, suite, &longer)
            .await
            .contains("provider info"));
        for cut in 0..edk.ciphertext.len() {
            let mut bad = edk.clone();
            bad.ciphertext.truncate(cut);
            let e = refused(&reader, suite, &bad).await;
            assert!(e.contains("wrapped key is"), "{curve} cut {cut}: {e}");
        }
        // Every flipped byte of the ciphertext.
        for i in 0..edk.ciphertext.len() {
            let mut bad = edk.clone();
            bad.ciphertext[i] ^= 0x01;
            let e = refused(&reader, suite, &bad).await;
            assert!(
                e.contains("commitment key mismatch") || e.contains("authentication"),
                "{curve} byte {i}: {e}"
            );
        }
        // A wrong version; length fields that disagree with the curve.
        let mut bad = edk.clone();
        bad.provider_info[0] = 2;
        assert!(refused(&reader, suite, &bad).await.contains("version 0x02"));
        let mut bad = edk.clone();
        bad.provider_info[4] += 1;
        assert!(refused(&reader, suite, &bad)
            .await
            .contains("not a compressed"));
        // The sender's point: at infinity, uncompressed marker on a compressed length, off the
        // curve (an x with no y: about half of all x are).
        let mut bad = edk.clone();
        bad.provider_info[sender_at..].fill(0);
        let e = refused(&reader, suite, &bad).await;
        assert!(e.contains("point at infinity"), "{e}");
        let mut bad = edk.clone();
        bad.provider_info[sender_at] = 4;
        let e = refused(&reader, suite, &bad).await;
        assert!(e.contains("sender public key"), "{e}");
        let mut off_curve = 0;
        for x in 1..=16u8 {
            let mut bad = edk.clone();
            bad.provider_info[sender_at + 1..].fill(x);
            let e = refused(&reader, suite, &bad).await;
            if e.contains("not a point on") {
                off_curve += 1;
            }
        }
        assert!(off_curve > 0, "{curve}: no x of 16 was off the curve");
        // The recipient's point tampered: not this keyring's (discovery), not this pair (static).
        let mut bad = edk.clone();
        bad.provider_info[recipient_at + 1] ^= 1;
        assert!(refused(&reader, suite, &bad)
            .await
            .contains("recipient public key is not this keyring's"));
        assert!(refused(&sender, suite, &bad)
            .await
            .contains("not this keyring's"));
        // Another provider ID is not this keyring's; the KMS ECDH one is read the same way.
        let mut bad = edk.clone();
        bad.provider_id = "raw-aes".into();
        assert!(refused(&reader, suite, &bad).await.contains("provider ID"));
        let mut kms = edk.clone();
        kms.provider_id = "aws-kms-ecdh".into();
        assert!(unwrap(&reader, suite, &kms).await.is_ok());
        // Another suite's key length.
        let e = refused(&reader, AlgorithmSuite::ALL[0], &edk).await;
        assert!(e.contains("wrapped key is"), "{e}");
    }
    // The wrong curve: a P-384 EDK offered to a P-256 keyring.
    let (_, edk384) = wrap(
        &ephemeral(EcdhCurve::P384, keys(EcdhCurve::P384).b_public),
        suite,
    )
    .await;
    let reader256 = discovery(EcdhCurve::P256, keys(EcdhCurve::P256).b_private);
    let e = refused(&reader256, suite, &edk384).await;
    assert!(e.contains("two P-256 public keys make 75"), "{e}");
}
