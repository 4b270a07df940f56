//! Fixtures shared by the integration tests and the fuzz targets (`fuzz/src/lib.rs` includes this
//! file): the raw AES keys of the ESDK test vectors, clients per suite, and a streamed decryption
//! fed a few bytes at a time. Only `sealbox`, `zeroize` and `std`, so that the fuzz workspace
//! builds it too.

// Each test binary uses some of these.
#![allow(dead_code)]

use std::io::Read;
use std::sync::Arc;

use sealbox::{
    AlgorithmSuite, Client, CommitmentPolicy, DecryptOptions, Error, Keyring, MaterialsManager,
    MultiKeyring, PendingMessage, RawAesKeyring,
};
use zeroize::Zeroizing;

/// The provider ID of the raw keys in the ESDK test vectors (sic).
pub(crate) const VECTOR_NAMESPACE: &str = "aws-raw-vectors-persistant";

/// The vector keys `aes-128`, `aes-192` and `aes-256`: bytes 00..09 10..19 20..29 30 31.
pub(crate) fn vector_key(bits: usize) -> Zeroizing<Vec<u8>> {
    let all: Vec<u8> = (0u8..4)
        .flat_map(|tens| (0u8..10).map(move |ones| tens * 16 + ones))
        .collect();
    Zeroizing::new(all[..bits / 8].to_vec())
}

/// The vector key `aes-{bits}` as a keyring.
pub(crate) fn vector_aes(bits: usize) -> RawAesKeyring {
    RawAesKeyring::new(VECTOR_NAMESPACE, &format!("aes-{bits}"), vector_key(bits))
        .expect("a valid vector key")
}

/// All three vector AES keys, AES-256 generating: reads every raw-AES test vector.
pub(crate) fn vector_keyring() -> MultiKeyring {
    let children: Vec<Arc<dyn Keyring>> =
        vec![Arc::new(vector_aes(128)), Arc::new(vector_aes(192))];
    MultiKeyring::new(Some(Arc::new(vector_aes(256))), children).expect("a valid multi-keyring")
}

/// A client that encrypts with `suite` in frames of `frame_length`, under the commitment policy
/// that suite needs, and decrypts what it wrote.
pub(crate) fn client_for(suite: AlgorithmSuite, frame_length: u32) -> Client {
    Client::builder()
        .commitment_policy(if suite.is_committing() {
            CommitmentPolicy::RequireEncryptRequireDecrypt
        } else {
            CommitmentPolicy::ForbidEncryptAllowDecrypt
        })
        .algorithm_suite(suite)
        .frame_length(frame_length)
        .build()
        .expect("a valid configuration")
}

/// A client that decrypts every suite, committing or not.
pub(crate) fn reader() -> Client {
    Client::builder()
        .commitment_policy(CommitmentPolicy::RequireEncryptAllowDecrypt)
        .build()
        .expect("a valid configuration")
}

/// Hands out its input `step` bytes at a time and counts what it handed out, to exercise every
/// way a stream can be cut.
pub(crate) struct Trickle<'a> {
    pub(crate) data: &'a [u8],
    pub(crate) step: usize,
    pub(crate) served: usize,
}

impl<'a> Trickle<'a> {
    pub(crate) fn new(data: &'a [u8], step: usize) -> Self {
        Trickle {
            data,
            step,
            served: 0,
        }
    }
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.step).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        self.served += n;
        Ok(n)
    }
}

/// The sealbox error inside an `io::Error` of a streaming reader, if there is one.
pub(crate) fn sealbox_error(e: std::io::Error) -> Option<Error> {
    e.into_inner()
        .and_then(|i| i.downcast::<Error>().ok())
        .map(|b| *b)
}

/// Decrypt `message` through the blocking streaming reader, fed `step` bytes per read. Returns
/// what was released and the final result: `Ok` only at the end of the stream with the reader
/// verified. A reader that failed must stay failed.
pub(crate) async fn stream_decrypt(
    client: &Client,
    cmm: &dyn MaterialsManager,
    message: &[u8],
    step: usize,
) -> (Vec<u8>, Result<(), Error>) {
    let pending = match PendingMessage::read(client, Trickle::new(message, step)) {
        Ok(p) => p,
        Err(e) => return (Vec::new(), Err(e)),
    };
    let mut reader = match pending.decrypt(client, cmm, &DecryptOptions::new()).await {
        Ok(r) => r,
        Err(e) => return (Vec::new(), Err(e)),
    };
    let mut out = Vec::new();
    let mut buf = vec![0u8; step.max(1) * 3];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => {
                assert!(reader.is_verified(), "end of stream before verification");
                return (out, Ok(()));
            }
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => {
                let error = sealbox_error(e).expect("a sealbox error inside the io::Error");
                assert!(
                    reader.read(&mut buf).is_err(),
                    "reader recovered after an error"
                );
                return (out, Err(error));
            }
        }
    }
}
