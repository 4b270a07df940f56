//! Round trips through every suite and keyring, and the errors that must come out of bad input.

use std::sync::Arc;

use sealbox::{
    AlgorithmSuite, Client, DecryptOptions, DefaultCmm, EncryptionContext, Error, Keyring,
    MultiKeyring, RawAesKeyring, RawRsaKeyring, RequiredEncryptionContextCmm, RsaPadding,
};
use zeroize::Zeroizing;

mod common;
use common::client_for;

fn aes(name: &str, byte: u8) -> RawAesKeyring {
    RawAesKeyring::new("ns", name, Zeroizing::new(vec![byte; 32])).unwrap()
}

fn ctx(pairs: &[(&str, &str)]) -> EncryptionContext {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn every_suite_round_trips() {
    let cmm = DefaultCmm::new(aes("k", 1));
    let ec = ctx(&[("a", "1"), ("unicode_ключ", "\u{0}\u{1}")]);
    for suite in AlgorithmSuite::ALL {
        for (len, frame) in [
            (0usize, 4096u32),
            (1, 1),
            (100, 10),
            (4096, 4096),
            (5000, 512),
        ] {
            let client = client_for(suite, frame);
            let pt: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let msg = client.encrypt(&cmm, &pt, &ec).await.unwrap();
            assert_eq!(msg[0], suite.message_format_version());
            let out = client.decrypt(&cmm, &msg).await.unwrap();
            assert_eq!(out.plaintext, pt, "suite {suite} len {len} frame {frame}");
            assert_eq!(out.header.suite, suite);
            assert_eq!(
                out.encryption_context.get("a").map(String::as_str),
                Some("1")
            );
            assert_eq!(
                out.encryption_context.contains_key("aws-crypto-public-key"),
                suite.signature().is_some()
            );
        }
    }
}

#[tokio::test]
async fn default_client_uses_0578() {
    let cmm = DefaultCmm::new(aes("k", 1));
    let msg = Client::new()
        .encrypt(&cmm, b"x", &EncryptionContext::new())
        .await
        .unwrap();
    assert_eq!(&msg[..3], &[2, 0x05, 0x78]);
}

#[tokio::test]
async fn policy_is_enforced() {
    let cmm = DefaultCmm::new(aes("k", 1));
    let v1 = client_for(AlgorithmSuite::Aes256GcmHkdfSha256, 4096);
    let msg = v1
        .encrypt(&cmm, b"x", &EncryptionContext::new())
        .await
        .unwrap();
    let strict = Client::new();
    assert!(matches!(
        strict.decrypt(&cmm, &msg).await,
        Err(Error::PolicyViolation { .. })
    ));
    assert!(Client::builder()
        .algorithm_suite(AlgorithmSuite::Aes256GcmHkdfSha256)
        .build()
        .is_err());
}

#[tokio::test]
async fn wrong_key_error_names_every_attempt() {
    let writer = DefaultCmm::new(aes("k", 1));
    let msg = Client::new()
        .encrypt(&writer, b"secret", &EncryptionContext::new())
        .await
        .unwrap();
    let a: Arc<dyn Keyring> = Arc::new(aes("k", 2));
    let b: Arc<dyn Keyring> = Arc::new(aes("other", 1));
    let reader = DefaultCmm::new(MultiKeyring::new(Some(a), vec![b]).unwrap());
    let err = Client::new().decrypt(&reader, &msg).await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, Error::NoDataKey(ref e) if e.attempts.len() == 2),
        "{text}"
    );
    assert!(
        text.contains("raw-aes ns/k: authentication failed"),
        "{text}"
    );
    assert!(text.contains("key name \"k\" is not \"other\""), "{text}");
}

#[tokio::test]
async fn reserved_context_keys_are_refused() {
    let cmm = DefaultCmm::new(aes("k", 1));
    let err = Client::new()
        .encrypt(&cmm, b"x", &ctx(&[("aws-crypto-public-key", "x")]))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::EncryptionContext(_)));
}

#[tokio::test]
async fn edk_limit_applies_on_both_sides() {
    let a: Arc<dyn Keyring> = Arc::new(aes("a", 1));
    let b: Arc<dyn Keyring> = Arc::new(aes("b", 2));
    let cmm = DefaultCmm::new(MultiKeyring::new(Some(a), vec![b]).unwrap());
    let limited = Client::builder()
        .max_encrypted_data_keys(1)
        .build()
        .unwrap();
    assert!(matches!(
        limited.encrypt(&cmm, b"x", &EncryptionContext::new()).await,
        Err(Error::TooManyEncryptedDataKeys { count: 2, max: 1 })
    ));
    let msg = Client::new()
        .encrypt(&cmm, b"x", &EncryptionContext::new())
        .await
        .unwrap();
    assert!(matches!(
        limited.decrypt(&cmm, &msg).await,
        Err(Error::TooManyEncryptedDataKeys { count: 2, max: 1 })
    ));
}

#[tokio::test]
async fn required_context_is_authenticated_but_not_stored() {
    let inner = Arc::new(DefaultCmm::new(aes("k", 1)));
    let cmm = RequiredEncryptionContextCmm::new(inner.clone(), vec!["tenant".into()]).unwrap();
    let ec = ctx(&[("tenant", "acme"), ("kind", "invoice")]);
    let client = Client::new();
    let msg = client.encrypt(&cmm, b"payload", &ec).await.unwrap();
    assert!(
        !msg.windows(4).any(|w| w == b"acme"),
        "required value must not be stored"
    );
    // Without the required entry: refused.
    assert!(client.decrypt(&cmm, &msg).await.is_err());
    // With a wrong value: header authentication fails.
    let wrong = ctx(&[("tenant", "evil")]);
    assert!(matches!(
        client
            .decrypt_with(
                &inner,
                &msg,
                &DecryptOptions::new().reproduced_context(wrong.clone())
            )
            .await,
        Err(Error::HeaderAuthentication) | Err(Error::NoDataKey(_))
    ));
    let out = client
        .decrypt_with(
            &cmm,
            &msg,
            &DecryptOptions::new().reproduced_context(ctx(&[("tenant", "acme")])),
        )
        .await
        .unwrap();
    assert_eq!(out.plaintext, b"payload");
    assert_eq!(
        out.encryption_context,
        ec_with_public_key(&out.encryption_context, &ec)
    );
    assert!(!out.header.encryption_context.contains_key("tenant"));
}

fn ec_with_public_key(full: &EncryptionContext, ec: &EncryptionContext) -> EncryptionContext {
    let mut e = ec.clone();
    if let Some(pk) = full.get("aws-crypto-public-key") {
        e.insert("aws-crypto-public-key".into(), pk.clone());
    }
    e
}

const RSA_PRIVATE: &str = include_str!("data/rsa-2048-private.pem");

#[tokio::test]
async fn rsa_paddings_round_trip_and_public_only_cannot_decrypt() {
    for padding in [
        RsaPadding::Pkcs1,
        RsaPadding::OaepSha1,
        RsaPadding::OaepSha256,
        RsaPadding::OaepSha384,
        RsaPadding::OaepSha512,
    ] {
        let full = RawRsaKeyring::new("ns", "rsa", padding)
            .unwrap()
            .with_private_key_pem(RSA_PRIVATE)
            .unwrap()
            .with_public_key_from_private()
            .unwrap();
        let cmm = DefaultCmm::new(full);
        let msg = Client::new()
            .encrypt(&cmm, b"rsa", &EncryptionContext::new())
            .await
            .unwrap();
        assert_eq!(
            Client::new().decrypt(&cmm, &msg).await.unwrap().plaintext,
            b"rsa"
        );
    }
    let no_public =
        DefaultCmm::new(RawRsaKeyring::new("ns", "rsa", RsaPadding::OaepSha256).unwrap());
    assert!(matches!(
        Client::new()
            .encrypt(&no_public, b"x", &EncryptionContext::new())
            .await,
        Err(Error::Keyring(_))
    ));
}

#[tokio::test]
async fn tampering_and_truncation_fail() {
    let cmm = DefaultCmm::new(aes("k", 1));
    let client = client_for(AlgorithmSuite::Aes256GcmHkdfSha512Commit, 64);
    let msg = client
        .encrypt(&cmm, &[9u8; 300], &EncryptionContext::new())
        .await
        .unwrap();
    for cut in [0, 1, 10, msg.len() / 2, msg.len() - 1] {
        assert!(
            client.decrypt(&cmm, &msg[..cut]).await.is_err(),
            "cut {cut}"
        );
    }
    let mut extended = msg.clone();
    extended.push(0);
    assert!(matches!(
        client.decrypt(&cmm, &extended).await,
        Err(Error::TrailingBytes(1))
    ));
    let mut flipped = msg.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    assert!(client.decrypt(&cmm, &flipped).await.is_err());
}

#[tokio::test]
async fn into_buffers_append_and_are_left_as_they_were_on_error() {
    let cmm = DefaultCmm::new(aes("k", 1));
    for suite in [
        AlgorithmSuite::Aes256GcmHkdfSha512Commit,
        AlgorithmSuite::Aes256GcmHkdfSha512CommitEcdsaP384,
    ] {
        let client = client_for(suite, 64);
        let context = ctx(&[("a", "b")]);
        let mut messages = b"prefix".to_vec();
        for len in [0usize, 1, 63, 64, 65, 1000] {
            let plaintext = vec![len as u8; len];
            let start = messages.len();
            client
                .encrypt_into(&cmm, &plaintext, &context, &mut messages)
                .await
                .unwrap();
            let message = messages[start..].to_vec();
            let mut out = b"kept".to_vec();
            let info = client.decrypt_into(&cmm, &message, &mut out).await.unwrap();
            assert_eq!(&out[..4], b"kept");
            assert_eq!(&out[4..], &plaintext[..]);
            assert_eq!(info.encryption_context["a"], "b");
            assert_eq!(info.header.suite, suite);
            // The one-shot call agrees.
            assert_eq!(
                client.decrypt(&cmm, &message).await.unwrap().plaintext,
                plaintext
            );

            // A tampered last byte (tag or signature) fails after frames were decrypted: the
            // buffer comes back as it was.
            let mut bad = message.clone();
            *bad.last_mut().unwrap() ^= 1;
            let mut out = b"kept".to_vec();
            assert!(client.decrypt_into(&cmm, &bad, &mut out).await.is_err());
            assert_eq!(out, b"kept");
        }
        assert_eq!(&messages[..6], b"prefix");
        // A failed encrypt leaves the buffer alone too.
        let reserved = ctx(&[("aws-crypto-x", "y")]);
        let before = messages.clone();
        assert!(client
            .encrypt_into(&cmm, b"x", &reserved, &mut messages)
            .await
            .is_err());
        assert_eq!(messages, before);
    }
}

#[tokio::test]
async fn in_place_round_trips_agree_with_the_copying_calls() {
    let cmm = DefaultCmm::new(aes("k", 1));
    for suite in AlgorithmSuite::ALL {
        if suite.id() < 0x0100 {
            continue; // no KDF: not for encrypting
        }
        let client = client_for(suite, 64);
        let context = ctx(&[("a", "b")]);
        for len in [0usize, 1, 63, 64, 65, 128, 129, 1000] {
            let plaintext: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let mut buffer = plaintext.clone();
            client
                .encrypt_in_place(&cmm, &context, &mut buffer)
                .await
                .unwrap();
            let copied = client.decrypt(&cmm, &buffer).await.unwrap();
            assert_eq!(copied.plaintext, plaintext, "{suite} {len}");
            let message = buffer.clone();
            let info = client.decrypt_in_place(&cmm, &mut buffer).await.unwrap();
            assert_eq!(buffer, plaintext, "{suite} {len}");
            assert_eq!(info.encryption_context["a"], "b");
            assert_eq!(info.header.serialized_len(), copied.header.serialized_len());

            // A message from the copying call decrypts in place too.
            let mut other = client.encrypt(&cmm, &plaintext, &context).await.unwrap();
            client.decrypt_in_place(&cmm, &mut other).await.unwrap();
            assert_eq!(other, plaintext);

            // Tampering anywhere after the header empties the buffer; in the header, it is left
            // as it was (it holds no plaintext yet).
            let header_len = copied.header.serialized_len();
            let mut bad = message.clone();
            bad[header_len - 1] ^= 1;
            assert!(client.decrypt_in_place(&cmm, &mut bad).await.is_err());
            assert_eq!(bad.len(), message.len());
            for at in [(header_len + message.len()) / 2, message.len() - 1] {
                let mut bad = message.clone();
                bad[at] ^= 1;
                assert!(client.decrypt_in_place(&cmm, &mut bad).await.is_err());
                assert!(bad.is_empty());
            }
        }
    }
    // Without materials the plaintext stays as it was.
    let client = Client::new();
    let mut buffer = b"keep".to_vec();
    assert!(client
        .encrypt_in_place(&cmm, &ctx(&[("aws-crypto-x", "y")]), &mut buffer)
        .await
        .is_err());
    assert_eq!(buffer, b"keep");
}

#[test]
fn debug_prints_no_secret() {
    let key = sealbox::DataKey::from_slice(&[0xAB; 32]);
    let text = format!("{key:?}");
    assert!(
        !text.contains("171") && !text.to_lowercase().contains("ab, ab"),
        "{text}"
    );
    let k = aes("k", 0xAB);
    assert!(!format!("{k:?}").contains("171"));
}

/// A keyring whose wrapping takes 100 ms, counting how many of its kind wrap at once.
#[derive(Debug)]
struct SlowKeyring {
    inner: RawAesKeyring,
    in_flight: Arc<std::sync::atomic::AtomicUsize>,
    most: Arc<std::sync::atomic::AtomicUsize>,
}

#[async_trait::async_trait]
impl Keyring for SlowKeyring {
    async fn wrap_data_key(
        &self,
        suite: AlgorithmSuite,
        encryption_context: &EncryptionContext,
        data_key: &sealbox::DataKey,
    ) -> Result<Vec<sealbox::EncryptedDataKey>, sealbox::KeyringError> {
        use std::sync::atomic::Ordering::SeqCst;
        let now = self.in_flight.fetch_add(1, SeqCst) + 1;
        self.most.fetch_max(now, SeqCst);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        self.in_flight.fetch_sub(1, SeqCst);
        self.inner
            .wrap_data_key(suite, encryption_context, data_key)
            .await
    }

    async fn unwrap_data_key(
        &self,
        suite: AlgorithmSuite,
        encryption_context: &EncryptionContext,
        edks: &[sealbox::EncryptedDataKey],
    ) -> Result<sealbox::DataKey, sealbox::UnwrapError> {
        self.inner
            .unwrap_data_key(suite, encryption_context, edks)
            .await
    }
}

#[tokio::test(start_paused = true)]
async fn a_multi_keyring_wraps_with_its_children_at_once() {
    let in_flight = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let most = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let slow = |name: &str, byte: u8| -> Arc<dyn Keyring> {
        Arc::new(SlowKeyring {
            inner: aes(name, byte),
            in_flight: in_flight.clone(),
            most: most.clone(),
        })
    };
    let children = vec![slow("b", 2), slow("c", 3), slow("d", 4)];
    let cmm = DefaultCmm::new(MultiKeyring::new(Some(slow("a", 1)), children).unwrap());
    let started = tokio::time::Instant::now();
    let msg = Client::new()
        .encrypt(&cmm, b"secret", &EncryptionContext::new())
        .await
        .unwrap();
    // The generator's wrap, then the three children's together: 200 ms, not 400.
    assert_eq!(started.elapsed(), std::time::Duration::from_millis(200));
    assert_eq!(most.load(std::sync::atomic::Ordering::SeqCst), 3);
    // The EDKs are listed in the keyrings' order, and each keyring alone decrypts.
    let decrypted = Client::new().decrypt(&cmm, &msg).await.unwrap();
    let names: Vec<u8> = decrypted
        .header
        .encrypted_data_keys
        .iter()
        .map(|edk| edk.provider_info[0])
        .collect();
    assert_eq!(names, b"abcd");
    for (name, byte) in [("a", 1), ("b", 2), ("c", 3), ("d", 4)] {
        let alone = DefaultCmm::new(aes(name, byte));
        let plain = Client::new().decrypt(&alone, &msg).await.unwrap().plaintext;
        assert_eq!(plain, b"secret");
    }
}
