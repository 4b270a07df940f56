//! Streaming: both flavours round-trip large inputs and agree with one-shot calls; truncation and
//! tampering end in errors without releasing unauthenticated plaintext.

use std::io::{Read, Write};

use sealbox::{
    AlgorithmSuite, Client, DecryptOptions, DefaultCmm, EncryptionContext, Error, PendingMessage,
    PlaintextLength, RawAesKeyring,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zeroize::Zeroizing;

mod common;
use common::client_for;

fn cmm() -> DefaultCmm {
    DefaultCmm::new(RawAesKeyring::new("ns", "k", Zeroizing::new(vec![5; 32])).unwrap())
}

fn data(len: usize) -> Vec<u8> {
    let mut x = 0x1234_5678u32;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn ctx() -> EncryptionContext {
    [("purpose".to_string(), "streaming".to_string())].into()
}

/// Encrypt through the std writer, in uneven writes.
async fn encrypt_std(client: &Client, plaintext: &[u8], length: PlaintextLength) -> Vec<u8> {
    let enc = client.encryptor(&cmm(), &ctx(), length).await.unwrap();
    let mut w = enc.into_writer(Vec::new());
    let mut rest = plaintext;
    let mut step = 1;
    while !rest.is_empty() {
        let n = step.min(rest.len());
        Write::write_all(&mut w, &rest[..n]).unwrap();
        rest = &rest[n..];
        step = step * 3 % 10_007 + 1;
    }
    w.finish().unwrap()
}

/// Decrypt through the std reader; returns what was released and the final result.
async fn decrypt_std(
    client: &Client,
    message: &[u8],
    options: DecryptOptions,
) -> (Vec<u8>, Result<(), String>) {
    let pending = match PendingMessage::read(client, message) {
        Ok(p) => p,
        Err(e) => return (Vec::new(), Err(e.to_string())),
    };
    let mut reader = match pending.decrypt(client, &cmm(), &options).await {
        Ok(r) => r,
        Err(e) => return (Vec::new(), Err(e.to_string())),
    };
    let mut out = Vec::new();
    let mut buf = [0u8; 777];
    loop {
        match Read::read(&mut reader, &mut buf) {
            Ok(0) => {
                assert!(reader.is_verified());
                return (out, Ok(()));
            }
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => {
                let inner = e
                    .get_ref()
                    .and_then(|i| i.downcast_ref::<Error>())
                    .map(|e| e.to_string());
                return (out, Err(inner.unwrap_or_else(|| e.to_string())));
            }
        }
    }
}

#[tokio::test]
async fn std_streams_round_trip_and_agree_with_one_shot() {
    for suite in [
        AlgorithmSuite::Aes256GcmHkdfSha512CommitEcdsaP384,
        AlgorithmSuite::Aes256GcmHkdfSha512Commit,
        AlgorithmSuite::Aes128GcmHkdfSha256EcdsaP256,
        AlgorithmSuite::Aes192GcmNoKdf,
    ] {
        let client = client_for(suite, 4096);
        let plaintext = data(3 * 1024 * 1024 + 123);
        let message = encrypt_std(&client, &plaintext, PlaintextLength::Unknown).await;
        let (out, result) = decrypt_std(&client, &message, DecryptOptions::new()).await;
        result.unwrap();
        assert!(out == plaintext, "suite {suite}");
        // The one-shot path reads what streams write, and the other way round.
        assert_eq!(
            client.decrypt(&cmm(), &message).await.unwrap().plaintext,
            plaintext
        );
        let one_shot = client.encrypt(&cmm(), &plaintext, &ctx()).await.unwrap();
        let (out, result) = decrypt_std(&client, &one_shot, DecryptOptions::new()).await;
        result.unwrap();
        assert!(out == plaintext);
    }
}

#[tokio::test]
async fn tokio_streams_round_trip() {
    let client = client_for(AlgorithmSuite::Aes256GcmHkdfSha512CommitEcdsaP384, 1000);
    let plaintext = data(2 * 1024 * 1024 + 1);
    let enc = client
        .encryptor(
            &cmm(),
            &ctx(),
            PlaintextLength::Exact(plaintext.len() as u64),
        )
        .await
        .unwrap();
    let mut w = enc.into_writer(Vec::new());
    for chunk in plaintext.chunks(65_537) {
        AsyncWriteExt::write_all(&mut w, chunk).await.unwrap();
    }
    w.shutdown().await.unwrap();
    let message = w.get_ref().clone();
    assert_eq!(
        client.decrypt(&cmm(), &message).await.unwrap().plaintext,
        plaintext
    );

    let pending = PendingMessage::read_async(&client, &message[..])
        .await
        .unwrap();
    assert_eq!(pending.header().frame_length, 1000);
    let mut reader = pending
        .decrypt(&client, &cmm(), &DecryptOptions::new())
        .await
        .unwrap();
    let mut out = Vec::new();
    AsyncReadExt::read_to_end(&mut reader, &mut out)
        .await
        .unwrap();
    assert!(out == plaintext);
    assert!(reader.is_verified());
}

#[tokio::test]
async fn empty_and_exact_multiple_messages() {
    for (suite, len) in [
        (AlgorithmSuite::Aes256GcmHkdfSha512CommitEcdsaP384, 0),
        (AlgorithmSuite::Aes256GcmHkdfSha512Commit, 0),
        (AlgorithmSuite::Aes256GcmHkdfSha512CommitEcdsaP384, 512),
        (AlgorithmSuite::Aes256GcmHkdfSha512Commit, 2048),
    ] {
        let client = client_for(suite, 512);
        let plaintext = data(len);
        let message = encrypt_std(&client, &plaintext, PlaintextLength::AtMost(4096)).await;
        let (out, result) = decrypt_std(&client, &message, DecryptOptions::new()).await;
        result.unwrap();
        assert_eq!(out, plaintext);
    }
}

/// Cut the message at every length: every cut fails, and what was released before the error is
/// a prefix made only of whole frames that verified (never the final frame of a signed message).
#[tokio::test]
async fn every_truncation_fails_without_extra_plaintext() {
    for suite in [
        AlgorithmSuite::Aes256GcmHkdfSha512CommitEcdsaP384,
        AlgorithmSuite::Aes256GcmHkdfSha512Commit,
    ] {
        let fl = 64usize;
        let client = client_for(suite, fl as u32);
        let plaintext = data(1000);
        let message = encrypt_std(&client, &plaintext, PlaintextLength::Unknown).await;
        let header_len = PendingMessage::read(&client, &message[..])
            .unwrap()
            .header()
            .serialized_len();
        let frame_wire = 4 + 12 + fl + 16;
        for cut in 0..message.len() {
            let (out, result) = decrypt_std(&client, &message[..cut], DecryptOptions::new()).await;
            assert!(
                result.is_err(),
                "cut at {cut} of {} decrypted",
                message.len()
            );
            assert_eq!(
                &out[..],
                &plaintext[..out.len()],
                "released bytes are not a prefix"
            );
            let whole_frames = cut.saturating_sub(header_len) / frame_wire;
            assert!(
                out.len() <= whole_frames * fl,
                "cut {cut}: {} bytes released",
                out.len()
            );
            if suite.signature().is_some() {
                assert!(
                    out.len() <= (plaintext.len() / fl) * fl,
                    "final frame released unsigned"
                );
            }
        }
    }
}

#[tokio::test]
async fn signed_final_frame_is_withheld_until_the_signature_verifies() {
    let client = client_for(AlgorithmSuite::Aes256GcmHkdfSha512CommitEcdsaP384, 100);
    let plaintext = data(1050);
    let mut message = encrypt_std(&client, &plaintext, PlaintextLength::Unknown).await;
    let last = message.len() - 5;
    message[last] ^= 0x40; // inside the signature
    let (out, result) = decrypt_std(&client, &message, DecryptOptions::new()).await;
    assert!(result.unwrap_err().contains("signature"));
    assert_eq!(
        out.len(),
        1000,
        "only the ten regular frames may have been released"
    );
}

#[tokio::test]
async fn unsigned_only_refuses_signed_messages_before_unwrapping() {
    let signed = client_for(AlgorithmSuite::Aes256GcmHkdfSha512CommitEcdsaP384, 4096);
    let message = encrypt_std(&signed, b"x", PlaintextLength::Unknown).await;
    let (out, result) =
        decrypt_std(&signed, &message, DecryptOptions::new().unsigned_only(true)).await;
    assert!(out.is_empty());
    assert!(result.unwrap_err().contains("unsigned-only"));
    let unsigned = client_for(AlgorithmSuite::Aes256GcmHkdfSha512Commit, 4096);
    let message = encrypt_std(&unsigned, b"x", PlaintextLength::Unknown).await;
    let (out, result) = decrypt_std(
        &unsigned,
        &message,
        DecryptOptions::new().unsigned_only(true),
    )
    .await;
    result.unwrap();
    assert_eq!(out, b"x");
}

#[tokio::test]
async fn trailing_bytes_and_tampered_frames_fail() {
    let client = client_for(AlgorithmSuite::Aes256GcmHkdfSha512Commit, 64);
    let plaintext = data(300);
    let mut message = encrypt_std(&client, &plaintext, PlaintextLength::Unknown).await;
    message.push(0);
    let (_, result) = decrypt_std(&client, &message, DecryptOptions::new()).await;
    assert!(result.unwrap_err().contains("unexpected data"));
    message.pop();
    let mid = message.len() / 2;
    message[mid] ^= 1;
    let (out, result) = decrypt_std(&client, &message, DecryptOptions::new()).await;
    assert!(result.is_err());
    assert_eq!(&out[..], &plaintext[..out.len()]);
}

#[tokio::test]
async fn declared_lengths_are_enforced() {
    let client = client_for(AlgorithmSuite::Aes256GcmHkdfSha512Commit, 64);
    let enc = client
        .encryptor(&cmm(), &ctx(), PlaintextLength::Exact(10))
        .await
        .unwrap();
    let mut w = enc.into_writer(Vec::new());
    Write::write_all(&mut w, b"12345").unwrap();
    assert!(w.finish().is_err(), "fewer bytes than declared must fail");
    let enc = client
        .encryptor(&cmm(), &ctx(), PlaintextLength::AtMost(4))
        .await
        .unwrap();
    let mut w = enc.into_writer(Vec::new());
    assert!(
        Write::write_all(&mut w, b"12345").is_err(),
        "more bytes than the bound must fail"
    );
}

/// Streams tell the caching materials manager what to charge: the exact length or a bound; with
/// neither, the cache is bypassed, and the statistics say so.
#[tokio::test]
async fn streams_charge_the_cache_by_declared_length() {
    let keyring = RawAesKeyring::new("ns", "k", Zeroizing::new(vec![5; 32])).unwrap();
    let cmm = sealbox::CachingCmm::builder_with_keyring(keyring)
        .max_age(std::time::Duration::from_secs(60))
        .max_bytes(1000)
        .build()
        .unwrap();
    let client = client_for(AlgorithmSuite::Aes256GcmHkdfSha512Commit, 64);
    for length in [PlaintextLength::Exact(400), PlaintextLength::AtMost(400)] {
        let enc = client.encryptor(&cmm, &ctx(), length).await.unwrap();
        let mut w = enc.into_writer(Vec::new());
        Write::write_all(&mut w, &data(400)).unwrap();
        w.finish().unwrap();
    }
    let s = cmm.stats();
    assert_eq!((s.misses, s.hits, s.bypasses()), (1, 1, 0), "{s:?}");
    // 800 bytes charged: a third request of 400 would exceed max_bytes and needs a new key.
    let enc = client
        .encryptor(&cmm, &ctx(), PlaintextLength::AtMost(400))
        .await
        .unwrap();
    drop(enc);
    assert_eq!(cmm.stats().misses, 2);
    let enc = client
        .encryptor(&cmm, &ctx(), PlaintextLength::Unknown)
        .await
        .unwrap();
    drop(enc);
    let s = cmm.stats();
    assert_eq!(
        (s.bypassed_unknown_length, s.underlying_calls),
        (1, 3),
        "{s:?}"
    );
}

/// A streamed plaintext that fills its last frame ends with an empty final frame (ESDK-Python
/// 3.x, and so aws-encryption-cli 4.3.0, refuses a full-length final frame), and decrypts.
#[tokio::test]
async fn a_plaintext_filling_its_last_frame_ends_with_an_empty_final_frame() {
    let frame = 1000usize;
    let client = client_for(AlgorithmSuite::Aes256GcmHkdfSha512Commit, frame as u32);
    for length in [
        PlaintextLength::Unknown,
        PlaintextLength::Exact(2 * frame as u64),
    ] {
        let plaintext = data(2 * frame);
        let message = encrypt_std(&client, &plaintext, length).await;
        let (_, header_len) =
            sealbox::format::parse_header(&message, &sealbox::format::HeaderLimits::default())
                .unwrap();
        // Two regular frames (sequence 4, IV 12, tag 16) and a final frame (end marker 4,
        // sequence 4, IV 12, length 4, no content, tag 16); this suite has no signature.
        assert_eq!(
            message.len() - header_len,
            2 * (4 + 12 + frame + 16) + (4 + 4 + 12 + 4 + 16)
        );
        let (out, result) = decrypt_std(&client, &message, DecryptOptions::new()).await;
        result.unwrap();
        assert!(out == plaintext);
    }
}
