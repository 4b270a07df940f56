//! Hostile input: every truncation and every single-bit flip of messages in all eleven suites
//! fails, one-shot and streamed, and a stream never releases plaintext that did not verify;
//! trailing bytes fail; length fields that claim more than the input or the configured limits fail
//! fast, before any keyring is asked; and the inputs the fuzz targets found stay fixed.

use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use sealbox::format::{parse_header, ContentType, HeaderLimits};
use sealbox::{
    AlgorithmSuite, Client, CommitmentPolicy, DataKey, DecryptOptions, DefaultCmm,
    EncryptedDataKey, EncryptionContext, Error, Keyring, KeyringError, Limit, MultiKeyring,
    PendingMessage, RawAesKeyring, UnwrapError,
};

mod common;
use common::{client_for, reader, sealbox_error, stream_decrypt, vector_aes, vector_keyring};

/// A keyring that counts how often it is asked to unwrap.
#[derive(Debug)]
struct Counting {
    inner: RawAesKeyring,
    unwraps: Arc<AtomicUsize>,
}

#[async_trait]
impl Keyring for Counting {
    async fn wrap_data_key(
        &self,
        suite: AlgorithmSuite,
        ec: &EncryptionContext,
        key: &DataKey,
    ) -> Result<Vec<EncryptedDataKey>, KeyringError> {
        self.inner.wrap_data_key(suite, ec, key).await
    }

    async fn unwrap_data_key(
        &self,
        suite: AlgorithmSuite,
        ec: &EncryptionContext,
        edks: &[EncryptedDataKey],
    ) -> Result<DataKey, UnwrapError> {
        self.unwraps.fetch_add(1, Ordering::SeqCst);
        self.inner.unwrap_data_key(suite, ec, edks).await
    }
}

/// A materials manager over the vector AES-256 key that counts unwrap calls.
fn counting_cmm() -> (DefaultCmm, Arc<AtomicUsize>) {
    let unwraps = Arc::new(AtomicUsize::new(0));
    let keyring = Counting {
        inner: vector_aes(256),
        unwraps: unwraps.clone(),
    };
    (DefaultCmm::new(keyring), unwraps)
}

/// Reads every vector key, to decrypt the committed test vectors.
fn vector_cmm() -> DefaultCmm {
    DefaultCmm::new(vector_keyring())
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + 3) as u8).collect()
}

fn ctx() -> EncryptionContext {
    [("purpose".to_string(), "hostile".to_string())].into()
}

/// An endless source: `prefix`, then zeros; counts what it handed out.
#[derive(Debug)]
struct Endless {
    prefix: Vec<u8>,
    served: usize,
}

impl Read for Endless {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        for (i, b) in buf.iter_mut().enumerate() {
            *b = self.prefix.get(self.served + i).copied().unwrap_or(0);
        }
        self.served += buf.len();
        Ok(buf.len())
    }
}

fn unwrap_sealbox(e: std::io::Error) -> Error {
    sealbox_error(e).expect("a sealbox error inside the io::Error")
}

/// Where a message's parts lie, to say how much plaintext a stream may release before a given
/// byte: nothing before the header verifies, then whole verified frames, never the final frame of a
/// signed message before the signature.
struct Layout {
    header_len: usize,
    frame_length: usize,
    framed: bool,
    signed: bool,
    plaintext_len: usize,
}

impl Layout {
    fn of(message: &[u8], plaintext_len: usize) -> Self {
        let (header, header_len) = parse_header(message, &HeaderLimits::default()).unwrap();
        Layout {
            header_len,
            frame_length: header.frame_length as usize,
            framed: header.content_type == ContentType::Framed,
            signed: header.suite.signature().is_some(),
            plaintext_len,
        }
    }

    /// The most plaintext a stream may have released when byte `pos` (or anything after it) is
    /// bad or missing.
    fn releasable_before(&self, pos: usize) -> usize {
        if !self.framed || pos < self.header_len {
            return 0;
        }
        let regular = self.plaintext_len / self.frame_length;
        let wire = 4 + 12 + self.frame_length + 16;
        let whole = ((pos - self.header_len) / wire).min(regular);
        let mut most = whole * self.frame_length;
        if self.signed {
            most = most.min(regular * self.frame_length);
        }
        most
    }
}

fn check_stream_release(out: &[u8], plaintext: &[u8], most: usize, what: &str) {
    assert_eq!(
        out,
        &plaintext[..out.len()],
        "{what}: released bytes differ"
    );
    assert!(
        out.len() <= most,
        "{what}: {} bytes released, at most {most} verified",
        out.len()
    );
}

/// Every cut and every single-bit flip of `message` fails one-shot and streamed; what a stream
/// releases before failing is verified plaintext only. Returns the number of cases.
///
/// Inside `sampled` (a long run of ciphertext bytes, all alike to AES-GCM) only every eighth cut
/// and one bit per byte (a different one in each) are tried, to keep the run short.
async fn assault(
    client: &Client,
    cmm: &DefaultCmm,
    message: &[u8],
    plaintext: &[u8],
    name: &str,
    sampled: std::ops::Range<usize>,
) -> usize {
    let layout = Layout::of(message, plaintext.len());
    let decrypted = client.decrypt(cmm, message).await.unwrap();
    assert_eq!(decrypted.plaintext, plaintext, "{name}: intact message");
    let (out, result) = stream_decrypt(client, cmm, message, 97).await;
    result.unwrap();
    assert_eq!(out, plaintext, "{name}: intact stream");

    let mut cases = 0;
    for cut in 0..message.len() {
        if sampled.contains(&cut) && cut % 8 != 0 {
            continue;
        }
        let what = format!("{name}: cut at {cut} of {}", message.len());
        assert!(
            client.decrypt(cmm, &message[..cut]).await.is_err(),
            "{what}"
        );
        let (out, result) = stream_decrypt(client, cmm, &message[..cut], 1 + cut % 61).await;
        assert!(result.is_err(), "{what}: stream succeeded");
        check_stream_release(&out, plaintext, layout.releasable_before(cut), &what);
        cases += 1;
    }
    let mut flipped = message.to_vec();
    for bit in 0..message.len() * 8 {
        let (byte, mask) = (bit / 8, 1u8 << (bit % 8));
        if sampled.contains(&byte) && byte % 8 != bit % 8 {
            continue;
        }
        let what = format!("{name}: bit {bit} (byte {byte}) flipped");
        flipped[byte] ^= mask;
        assert!(client.decrypt(cmm, &flipped).await.is_err(), "{what}");
        let (out, result) = stream_decrypt(client, cmm, &flipped, 1 + bit % 509).await;
        assert!(result.is_err(), "{what}: stream succeeded");
        check_stream_release(&out, plaintext, layout.releasable_before(byte), &what);
        flipped[byte] ^= mask;
        cases += 1;
    }
    cases
}

#[tokio::test]
async fn every_cut_and_bit_flip_fails_in_every_suite() {
    let (cmm, _) = counting_cmm();
    let mut cases = 0;
    for suite in AlgorithmSuite::ALL {
        // Three regular frames and a short final frame.
        let plaintext = data(3 * 64 + 13);
        let message = client_for(suite, 64)
            .encrypt(&cmm, &plaintext, &ctx())
            .await
            .unwrap();
        let name = suite.to_string();
        cases += assault(&reader(), &cmm, &message, &plaintext, &name, 0..0).await;
        // An empty message: one empty final frame.
        let message = client_for(suite, 64)
            .encrypt(&cmm, b"", &EncryptionContext::new())
            .await
            .unwrap();
        let name = format!("{suite} empty");
        cases += assault(&reader(), &cmm, &message, b"", &name, 0..0).await;
    }
    eprintln!("{cases} cut and bit-flip cases");
    assert!(cases > 40_000, "{cases} cases");
}

/// Non-framed messages exist only from other ESDKs (sealbox always frames): take them from the
/// committed Python ESDK vectors.
#[tokio::test]
async fn every_cut_and_bit_flip_of_non_framed_vectors_fails() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/python-4.0.7");
    let plaintext = std::fs::read(format!("{dir}/plaintexts/small")).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{dir}/manifest.json")).unwrap()).unwrap();
    let cmm = vector_cmm();
    let mut seen = Vec::new();
    let mut tests: Vec<_> = manifest["tests"].as_object().unwrap().iter().collect();
    tests.sort_by_key(|(name, _)| name.to_string());
    for (_, test) in tests {
        let raw_aes = test["master-keys"].as_array().unwrap().iter().all(|k| {
            k["type"] == "raw" && k["key"].as_str().is_some_and(|k| k.starts_with("aes-"))
        });
        let path = test["ciphertext"].as_str().unwrap();
        let message = std::fs::read(format!("{dir}/{}", &path["file://".len()..])).unwrap();
        let (header, header_len) = parse_header(&message, &HeaderLimits::default()).unwrap();
        // One unsigned and one signed non-framed message.
        let signed = header.suite.signature().is_some();
        if !raw_aes || header.content_type != ContentType::NonFramed || seen.contains(&signed) {
            continue;
        }
        seen.push(signed);
        let name = format!("non-framed {}", header.suite);
        // The body: IV (12), length (8), ciphertext, tag (16). Sample all but the first and
        // last 64 ciphertext bytes.
        let body = header_len + 20 + 64..header_len + 20 + plaintext.len() - 64;
        assault(&reader(), &cmm, &message, &plaintext, &name, body).await;
    }
    assert_eq!(seen.len(), 2, "a signed and an unsigned non-framed vector");
}

#[tokio::test]
async fn trailing_bytes_fail() {
    let (cmm, _) = counting_cmm();
    for suite in AlgorithmSuite::ALL {
        let plaintext = data(100);
        let mut message = client_for(suite, 64)
            .encrypt(&cmm, &plaintext, &ctx())
            .await
            .unwrap();
        for extra in [&[0u8][..], b"\x01\x02\x03", &message.clone()] {
            let len = message.len();
            message.extend_from_slice(extra);
            let e = reader().decrypt(&cmm, &message).await.unwrap_err();
            assert!(
                matches!(e, Error::TrailingBytes(n) if n == extra.len()),
                "{suite}: {e}"
            );
            let (out, result) = stream_decrypt(&reader(), &cmm, &message, 1000).await;
            let e = result.unwrap_err();
            assert!(matches!(e, Error::TrailingBytes(_)), "{suite}: {e}");
            // Everything had verified; the extra bytes only make the end of stream an error.
            assert_eq!(out, &plaintext[..out.len()]);
            message.truncate(len);
        }
    }
}

/// A message with `n` EDKs, all of which the counting keyring could unwrap.
async fn message_with_edks(n: usize) -> Vec<u8> {
    let children: Vec<Arc<dyn Keyring>> = (1..n)
        .map(|_| Arc::new(vector_aes(256)) as Arc<dyn Keyring>)
        .collect();
    let keyring = MultiKeyring::new(Some(Arc::new(vector_aes(256))), children).unwrap();
    let message = Client::new()
        .encrypt(&DefaultCmm::new(keyring), b"edks", &ctx())
        .await
        .unwrap();
    let (header, _) = parse_header(&message, &HeaderLimits::default()).unwrap();
    assert_eq!(header.encrypted_data_keys.len(), n);
    message
}

#[tokio::test]
async fn too_many_edks_fail_before_any_keyring_is_called() {
    let message = message_with_edks(5).await;
    let (cmm, unwraps) = counting_cmm();
    let limited = Client::builder()
        .max_encrypted_data_keys(4)
        .build()
        .unwrap();
    let e = limited.decrypt(&cmm, &message).await.unwrap_err();
    assert!(
        matches!(e, Error::TooManyEncryptedDataKeys { count: 5, max: 4 }),
        "{e}"
    );
    let e = PendingMessage::read(&limited, &message[..]).unwrap_err();
    assert!(matches!(e, Error::TooManyEncryptedDataKeys { .. }), "{e}");
    let e = PendingMessage::read_async(&limited, &message[..])
        .await
        .unwrap_err();
    assert!(matches!(e, Error::TooManyEncryptedDataKeys { .. }), "{e}");
    assert_eq!(unwraps.load(Ordering::SeqCst), 0, "a keyring was called");

    // At the limit it decrypts, with one call.
    let at_limit = Client::builder()
        .max_encrypted_data_keys(5)
        .build()
        .unwrap();
    assert_eq!(
        at_limit.decrypt(&cmm, &message).await.unwrap().plaintext,
        b"edks"
    );
    assert_eq!(unwraps.load(Ordering::SeqCst), 1);
}

/// A v2 header up to its EDK count: suite 0x0478, message ID, empty context.
fn v2_prefix() -> Vec<u8> {
    let mut h = vec![2, 0x04, 0x78];
    h.extend_from_slice(&[0xAB; 32]);
    h.extend_from_slice(&[0, 0]);
    h
}

#[tokio::test]
async fn an_edk_count_of_65535_fails_fast_on_short_input() {
    let (cmm, unwraps) = counting_cmm();
    let mut h = v2_prefix();
    h.extend_from_slice(&[0xFF, 0xFF]);
    // One EDK's worth of bytes, then the end.
    h.extend_from_slice(&[0, 1, b'x', 0, 0, 0, 1, 7]);
    let started = std::time::Instant::now();
    let e = reader().decrypt(&cmm, &h).await.unwrap_err();
    assert!(matches!(e, Error::Truncated(_)), "{e}");
    // A stream waits for more, then sees the end.
    let e = PendingMessage::read(&reader(), &h[..]).unwrap_err();
    assert!(matches!(e, Error::Truncated(_)), "{e}");
    // With an EDK limit it fails on the count itself.
    let limited = Client::builder()
        .max_encrypted_data_keys(10)
        .build()
        .unwrap();
    let e = limited.decrypt(&cmm, &h).await.unwrap_err();
    assert!(
        matches!(e, Error::TooManyEncryptedDataKeys { count: 65535, .. }),
        "{e}"
    );
    assert!(started.elapsed().as_secs() < 2);
    assert_eq!(unwraps.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_4_gib_frame_length_fails_at_the_header() {
    let (cmm, unwraps) = counting_cmm();
    let message = Client::new().encrypt(&cmm, b"abc", &ctx()).await.unwrap();
    let (header, header_len) = parse_header(&message, &HeaderLimits::default()).unwrap();
    // v2: the frame length sits right before the 32-byte commitment, which the 16-byte tag follows.
    let at = header_len - 16 - 32 - 4;
    assert_eq!(&message[at..at + 4], &header.frame_length.to_be_bytes());
    for claimed in [u32::MAX, 1 << 31] {
        let mut hostile = message.clone();
        hostile[at..at + 4].copy_from_slice(&claimed.to_be_bytes());
        let e = reader().decrypt(&cmm, &hostile).await.unwrap_err();
        assert!(
            matches!(&e, Error::LimitExceeded(Limit::FrameLength { .. })),
            "{e}"
        );
        // A stream refuses it after the header, having read no more than the header needed.
        let mut source = Endless {
            prefix: hostile[..header_len].to_vec(),
            served: 0,
        };
        let e = PendingMessage::read(&reader(), &mut source).unwrap_err();
        assert!(matches!(&e, Error::LimitExceeded(_)), "{e}");
        assert!(source.served <= 64 * 1024, "{} bytes read", source.served);
    }
    assert_eq!(unwraps.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn streams_refuse_frames_over_their_limit_and_one_shot_does_not_need_to() {
    let (cmm, unwraps) = counting_cmm();
    // A valid message with 100 MiB frames and a tiny final frame.
    let big = 100 << 20;
    let message = Client::builder()
        .frame_length(big)
        .build()
        .unwrap()
        .encrypt(&cmm, b"tiny", &ctx())
        .await
        .unwrap();
    // One-shot decryption allocates by the input only: the default accepts it.
    assert_eq!(
        reader().decrypt(&cmm, &message).await.unwrap().plaintext,
        b"tiny"
    );
    assert_eq!(reader().max_frame_length(), (1 << 31) - 1);
    // A stream would hold a frame: its default (64 MiB) refuses it at the header, fed endlessly.
    assert_eq!(
        reader().max_stream_frame_length(),
        sealbox::DEFAULT_STREAM_MAX_FRAME_LENGTH
    );
    let (header, header_len) = parse_header(&message, &HeaderLimits::default()).unwrap();
    assert_eq!(header.frame_length, big);
    let mut source = Endless {
        prefix: message[..header_len].to_vec(),
        served: 0,
    };
    let e = PendingMessage::read(&reader(), &mut source).unwrap_err();
    assert!(
        matches!(&e, Error::LimitExceeded(Limit::FrameLength { .. })),
        "{e}"
    );
    assert!(source.served <= 64 * 1024);
    let calls = unwraps.load(Ordering::SeqCst);
    // Raised, the stream reads it.
    let raised = Client::builder()
        .commitment_policy(CommitmentPolicy::RequireEncryptAllowDecrypt)
        .max_frame_length(big)
        .build()
        .unwrap();
    let (out, result) = stream_decrypt(&raised, &cmm, &message, 4096).await;
    result.unwrap();
    assert_eq!(out, b"tiny");
    // Lowered, one-shot decryption refuses it too, before any keyring call.
    let lowered = Client::builder().max_frame_length(1 << 20).build().unwrap();
    let before = unwraps.load(Ordering::SeqCst);
    let e = lowered.decrypt(&cmm, &message).await.unwrap_err();
    assert!(matches!(e, Error::LimitExceeded(_)), "{e}");
    assert_eq!(unwraps.load(Ordering::SeqCst), before);
    assert!(calls <= 1);
}

#[tokio::test]
async fn a_huge_non_framed_body_fails_fast_in_a_stream() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/python-4.0.7");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{dir}/manifest.json")).unwrap()).unwrap();
    let cmm = vector_cmm();
    let message = manifest["tests"]
        .as_object()
        .unwrap()
        .values()
        .filter(|t| t["master-keys"][0]["key"] == "aes-256")
        .map(|t| {
            let path = t["ciphertext"].as_str().unwrap();
            std::fs::read(format!("{dir}/{}", &path["file://".len()..])).unwrap()
        })
        .find(|m| {
            let (h, _) = parse_header(m, &HeaderLimits::default()).unwrap();
            h.content_type == ContentType::NonFramed && h.suite.signature().is_none()
        })
        .expect("an unsigned non-framed vector");
    let (_, header_len) = parse_header(&message, &HeaderLimits::default()).unwrap();
    // The body: IV, u64 length, ciphertext, tag. Claim the format's maximum, 2^36 - 32.
    let mut hostile = message.clone();
    let at = header_len + 12;
    hostile[at..at + 8].copy_from_slice(&((1u64 << 36) - 32).to_be_bytes());
    let e = reader().decrypt(&cmm, &hostile).await.unwrap_err();
    assert!(matches!(e, Error::Truncated(_)), "{e}");
    let mut source = Endless {
        prefix: hostile[..at + 8].to_vec(),
        served: 0,
    };
    let pending = PendingMessage::read(&reader(), &mut source).unwrap();
    let mut plaintext = pending
        .decrypt(&reader(), &cmm, &DecryptOptions::new())
        .await
        .unwrap();
    let e = unwrap_sealbox(plaintext.read(&mut [0u8; 100]).unwrap_err());
    assert!(
        matches!(&e, Error::LimitExceeded(Limit::NonFramedLength { .. })),
        "{e}"
    );
    assert!(source.served <= 128 * 1024, "{} bytes read", source.served);
}

#[tokio::test]
async fn headers_longer_than_the_limit_fail_fast() {
    let (cmm, unwraps) = counting_cmm();
    // A context length of 65535 and an endless source.
    let mut prefix = v2_prefix();
    let n = prefix.len();
    prefix[n - 2..].copy_from_slice(&[0xFF, 0xFF]);
    prefix.extend_from_slice(&[0, 1]);
    let limited = Client::builder().max_header_length(4096).build().unwrap();
    let mut source = Endless { prefix, served: 0 };
    let e = PendingMessage::read(&limited, &mut source).unwrap_err();
    assert!(
        matches!(&e, Error::LimitExceeded(Limit::HeaderLength { .. })),
        "{e}"
    );
    assert!(
        source.served <= 4096 + 1,
        "{} bytes read for a 4096-byte limit",
        source.served
    );
    // The default limit, 1 MiB, is reached with a few reads, not thousands.
    let mut source = Endless {
        prefix: vec![2, 0x04, 0x78],
        served: 0,
    };
    let mut many = v2_prefix();
    many.extend_from_slice(&[0xFF, 0xFF]);
    // 40,000 EDKs of 30 bytes: more than 1 MiB.
    for _ in 0..40_000 {
        many.extend_from_slice(&[0, 3, b'a', b'b', b'c', 0, 20]);
        many.extend_from_slice(&[0x11; 20]);
        many.extend_from_slice(&[0, 1, 9]);
    }
    source.prefix = many;
    let started = std::time::Instant::now();
    let e = PendingMessage::read(&reader(), &mut source).unwrap_err();
    assert!(matches!(&e, Error::LimitExceeded(_)), "{e}");
    assert!(source.served <= (1 << 20) + 1);
    assert!(started.elapsed().as_secs() < 5, "{:?}", started.elapsed());

    // One-shot decryption applies the same limit, before any keyring call.
    let message = Client::new().encrypt(&cmm, b"x", &ctx()).await.unwrap();
    let header_len = parse_header(&message, &HeaderLimits::default()).unwrap().1;
    let tight = Client::builder()
        .max_header_length(header_len - 1)
        .build()
        .unwrap();
    let e = tight.decrypt(&cmm, &message).await.unwrap_err();
    assert!(matches!(e, Error::LimitExceeded(_)), "{e}");
    assert_eq!(unwraps.load(Ordering::SeqCst), 0);
    let exact = Client::builder()
        .max_header_length(header_len)
        .build()
        .unwrap();
    assert_eq!(exact.decrypt(&cmm, &message).await.unwrap().plaintext, b"x");
}

#[test]
fn limits_must_be_positive() {
    assert!(matches!(
        Client::builder().max_header_length(0).build(),
        Err(Error::Config(_))
    ));
    assert!(matches!(
        Client::builder().max_frame_length(0).build(),
        Err(Error::Config(_))
    ));
    assert!(matches!(
        Client::builder().max_encrypted_data_keys(0).build(),
        Err(Error::Config(_))
    ));
    let c = Client::new();
    assert_eq!(c.max_header_length(), 1 << 20);
    assert_eq!(c.max_encrypted_data_keys(), None);
}

/// Every input under `dir` (relative to the repository root), sorted by name.
fn inputs(dir: &str) -> Vec<(String, Vec<u8>)> {
    let dir = format!("{}/{dir}", env!("CARGO_MANIFEST_DIR"));
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect()
}

/// The fuzz targets' seeds and every input a fuzz run ever found (fuzz/regressions), replayed
/// through the checks of the decrypt and stream_decrypt targets, so CI covers them without
/// cargo-fuzz: no panic, and one-shot and streamed decryption reach the same verdict and plaintext.
#[tokio::test]
async fn fuzz_seeds_and_regressions_replay() {
    let cmm = vector_cmm();
    let client = Client::builder()
        .commitment_policy(CommitmentPolicy::RequireEncryptAllowDecrypt)
        .max_frame_length(1 << 20)
        .max_header_length(16 * 1024)
        .max_encrypted_data_keys(8)
        .build()
        .unwrap();
    let mut messages = inputs("fuzz/seeds/decrypt");
    messages.extend(inputs("fuzz/regressions"));
    // stream_decrypt inputs start with a byte that says how the stream is cut.
    let streamed: Vec<_> = inputs("fuzz/seeds/stream_decrypt")
        .into_iter()
        .filter(|(_, d)| !d.is_empty())
        .map(|(name, d)| (name, d[1..].to_vec(), d[0] as usize + 1))
        .collect();
    let mut decrypted = 0;
    let all = messages
        .into_iter()
        .map(|(name, d)| (name, d, 64))
        .chain(streamed);
    for (name, message, step) in all {
        let _ = parse_header(&message, &HeaderLimits::default());
        let one_shot = client.decrypt(&cmm, &message).await;
        let (out, result) = stream_decrypt(&client, &cmm, &message, step).await;
        match (&one_shot, &result) {
            (Ok(d), Ok(())) => {
                assert!(out == d.plaintext, "{name}: stream and one-shot disagree");
                decrypted += 1;
            }
            (Err(_), Err(_)) => {}
            _ => panic!("{name}: one-shot {one_shot:?}, stream {result:?}"),
        }
    }
    assert!(decrypted >= 20, "{decrypted} seeds decrypted");
    for (name, bytes) in inputs("fuzz/seeds/context") {
        if let Ok(ec) = sealbox::format::parse_encryption_context(&bytes) {
            let again = sealbox::format::serialize_encryption_context(&ec).unwrap();
            assert_eq!(again.len(), bytes.len(), "{name}");
        }
    }
}

/// Hostile wrapped keys reach the RSA keyring (it unwraps before the header tag can be checked):
/// empty, short, too long, the modulus' size in 0xFF, zeros. Each is an error, never a panic.
#[tokio::test]
async fn rsa_keyring_survives_hostile_wrapped_keys() {
    let pem = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/rsa-2048-private.pem"
    ))
    .unwrap();
    for padding in [
        sealbox::RsaPadding::Pkcs1,
        sealbox::RsaPadding::OaepSha1,
        sealbox::RsaPadding::OaepSha256,
        sealbox::RsaPadding::OaepSha512,
    ] {
        let keyring = sealbox::RawRsaKeyring::new("ns", "rsa", padding)
            .unwrap()
            .with_private_key_pem(&pem)
            .unwrap();
        for ciphertext in [
            vec![],
            vec![1],
            vec![0; 256],
            vec![0xFF; 256],
            vec![0xFF; 257],
            vec![0x7F; 255],
            vec![0x42; 4096],
        ] {
            let edk = EncryptedDataKey {
                provider_id: "ns".into(),
                provider_info: b"rsa".to_vec(),
                ciphertext,
            };
            let suite = AlgorithmSuite::Aes256GcmHkdfSha512Commit;
            let result = keyring
                .unwrap_data_key(suite, &EncryptionContext::new(), &[edk])
                .await;
            assert!(result.is_err());
        }
    }
}

/// The context's length is a u16 and its entries are parsed out of the input: a claim of 65,535
/// bytes or 65,535 entries on a short input fails at once.
#[tokio::test]
async fn huge_encryption_context_claims_fail_fast() {
    let (cmm, unwraps) = counting_cmm();
    // A header whose context claims 65,535 bytes, on 100 bytes of input.
    let mut h = v2_prefix();
    let n = h.len();
    h[n - 2..].copy_from_slice(&[0xFF, 0xFF]);
    h.resize(100, 0x41);
    let e = reader().decrypt(&cmm, &h).await.unwrap_err();
    assert!(matches!(e, Error::Truncated(_)), "{e}");
    // A context claiming 65,535 entries in 6 bytes.
    let e = sealbox::format::parse_encryption_context(&[0xFF, 0xFF, 0, 0, 0, 0]).unwrap_err();
    assert!(e.to_string().contains("truncated"), "{e}");
    // A header carrying that context.
    let mut h = v2_prefix();
    let n = h.len();
    h[n - 2..].copy_from_slice(&[0, 6]);
    h.extend_from_slice(&[0xFF, 0xFF, 0, 0, 0, 0]);
    h.resize(200, 0);
    let e = reader().decrypt(&cmm, &h).await.unwrap_err();
    assert!(matches!(e, Error::Malformed(_)), "{e}");
    assert_eq!(unwraps.load(Ordering::SeqCst), 0);
}

/// An empty input says that it is empty, one-shot, in place and streamed: not that a header was
/// cut short.
#[tokio::test]
async fn an_empty_input_is_reported_as_empty() {
    let cmm = DefaultCmm::new(vector_aes(256));
    let client = Client::new();
    let e = client.decrypt(&cmm, &[]).await.unwrap_err();
    assert!(matches!(e, Error::EmptyMessage), "{e}");
    assert_eq!(e.to_string(), "the input is empty: no message to decrypt");
    let e = client
        .decrypt_in_place(&cmm, &mut Vec::new())
        .await
        .unwrap_err();
    assert!(matches!(e, Error::EmptyMessage), "{e}");
    let e = PendingMessage::read(&client, &[][..]).unwrap_err();
    assert!(matches!(e, Error::EmptyMessage), "{e}");
    let e = PendingMessage::read_async(&client, &[][..])
        .await
        .unwrap_err();
    assert!(matches!(e, Error::EmptyMessage), "{e}");
    // One byte is a header cut short, as before.
    let e = client.decrypt(&cmm, &[2]).await.unwrap_err();
    assert!(matches!(e, Error::Truncated(_)), "{e}");
}
