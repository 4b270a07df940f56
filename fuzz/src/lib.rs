//! What the fuzz targets share: a fixed keyring (the raw AES keys of the ESDK test vectors, so
//! that seed messages from the vector sets decrypt), clients, and a runtime to drive the
//! asynchronous steps.

use std::io::Read;
use std::sync::{Arc, OnceLock};

use sealbox::{
    Client, CommitmentPolicy, DecryptOptions, DefaultCmm, Error, Keyring, MultiKeyring,
    PendingMessage, RawAesKeyring,
};
use zeroize::Zeroizing;

/// The provider ID of the raw keys in the ESDK test vectors.
pub const NAMESPACE: &str = "aws-raw-vectors-persistant";

/// The vector keys `aes-128`, `aes-192` and `aes-256`: bytes 00..09 10..19 20..29 30 31.
pub fn vector_key(bits: usize) -> Vec<u8> {
    let all: Vec<u8> = (0u8..4)
        .flat_map(|tens| (0u8..10).map(move |ones| tens * 16 + ones))
        .collect();
    all[..bits / 8].to_vec()
}

fn aes(bits: usize) -> Arc<dyn Keyring> {
    Arc::new(
        RawAesKeyring::new(
            NAMESPACE,
            &format!("aes-{bits}"),
            Zeroizing::new(vector_key(bits)),
        )
        .expect("valid key"),
    )
}

/// The fixed materials manager: a multi-keyring of the three vector AES keys (AES-256 generates).
pub fn cmm() -> &'static DefaultCmm {
    static CMM: OnceLock<DefaultCmm> = OnceLock::new();
    CMM.get_or_init(|| {
        DefaultCmm::new(
            MultiKeyring::new(Some(aes(256)), vec![aes(128), aes(192)]).expect("multi-keyring"),
        )
    })
}

/// A runtime for the asynchronous steps (materials); nothing in them waits on I/O.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
    })
}

/// A decrypting client that reads every suite, with the given frame-length limit.
pub fn decrypt_client(max_frame_length: u32) -> Client {
    Client::builder()
        .commitment_policy(CommitmentPolicy::RequireEncryptAllowDecrypt)
        .max_frame_length(max_frame_length)
        .max_header_length(16 * 1024)
        .max_encrypted_data_keys(8)
        .build()
        .expect("valid configuration")
}

/// A reader that hands out its input `step` bytes at a time, to exercise every way a stream can
/// be cut.
pub struct Trickle<'a> {
    pub data: &'a [u8],
    pub step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.step).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// Decrypt `message` through the blocking streaming reader. Returns what was released and the
/// final result (`Ok` only after end of stream, with the reader verified).
pub fn stream_decrypt(
    client: &Client,
    message: &[u8],
    step: usize,
) -> (Vec<u8>, Result<(), Error>) {
    let pending = match PendingMessage::read(
        client,
        Trickle {
            data: message,
            step,
        },
    ) {
        Ok(p) => p,
        Err(e) => return (Vec::new(), Err(e)),
    };
    let mut reader = match runtime().block_on(pending.decrypt(client, cmm(), &DecryptOptions::new()))
    {
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
                let inner = e
                    .into_inner()
                    .and_then(|i| i.downcast::<Error>().ok())
                    .map(|b| *b)
                    .unwrap_or_else(|| {
                        Error::Io(std::io::Error::other("I/O error without a sealbox error"))
                    });
                // A failed reader stays failed.
                assert!(
                    reader.read(&mut buf).is_err(),
                    "reader recovered after an error"
                );
                return (out, Err(inner));
            }
        }
    }
}
