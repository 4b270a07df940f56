//! What the fuzz targets share: a fixed keyring (the raw AES keys of the ESDK test vectors, so
//! that seed messages from the vector sets decrypt), clients, and a runtime to drive the
//! asynchronous steps. The fixtures themselves are the integration tests' own
//! (`tests/common/mod.rs`), included here so that there is one copy.

use std::sync::OnceLock;

use sealbox::{
    AlgorithmSuite, Client, CommitmentPolicy, DefaultCmm, EcdhCurve, EncryptedDataKey,
    EncryptionContext, Error, Keyring, RawEcdhKeyring, RawEcdhScheme,
};

#[path = "../../tests/common/mod.rs"]
mod common;

/// The fixed materials manager: a multi-keyring of the three vector AES keys (AES-256 generates).
pub fn cmm() -> &'static DefaultCmm {
    static CMM: OnceLock<DefaultCmm> = OnceLock::new();
    CMM.get_or_init(|| DefaultCmm::new(common::vector_keyring()))
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

/// A client that encrypts with `suite` in frames of `frame_length` (the commitment policy that
/// suite needs).
pub fn client_for(suite: AlgorithmSuite, frame_length: u32) -> Client {
    common::client_for(suite, frame_length)
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

/// Decrypt `message` through the blocking streaming reader, fed `step` bytes per read, with
/// [`cmm`]. Returns what was released and the final result (`Ok` only after end of stream, with
/// the reader verified); a reader that failed must stay failed.
pub fn stream_decrypt(
    client: &Client,
    message: &[u8],
    step: usize,
) -> (Vec<u8>, Result<(), Error>) {
    runtime().block_on(common::stream_decrypt(client, cmm(), message, step))
}

/// The suite of the `ecdh_edk` target's valid EDKs.
pub const ECDH_SUITE: AlgorithmSuite = AlgorithmSuite::Aes256GcmHkdfSha512Commit;

/// The `ecdh_edk` target's cases: a raw ECDH keyring on the test keys in `tests/data`
/// (discovery on P-256 and P-384, the static scheme on P-256) and a valid EDK for it, wrapped at
/// start-up under [`ECDH_SUITE`] and an empty context, for the target to mutate.
pub fn ecdh_cases() -> &'static [(RawEcdhKeyring, EncryptedDataKey)] {
    static CASES: OnceLock<Vec<(RawEcdhKeyring, EncryptedDataKey)>> = OnceLock::new();
    CASES.get_or_init(|| {
        let p256 = include_bytes!("../../tests/data/ecdh-p256-private.pem");
        let p256_public = include_bytes!("../../tests/data/ecdh-p256-public.pem");
        let p384 = include_bytes!("../../tests/data/ecdh-p384-private.pem");
        let p384_public = include_bytes!("../../tests/data/ecdh-p384-public.pem");
        let discovery = |curve, key: &[u8]| {
            RawEcdhKeyring::builder(curve, RawEcdhScheme::PublicKeyDiscovery)
                .recipient_private_key(key)
                .build()
                .expect("test key")
        };
        let ephemeral = |curve, key: &[u8]| {
            RawEcdhKeyring::builder(curve, RawEcdhScheme::EphemeralPrivateKeyToStaticPublicKey)
                .recipient_public_key(key)
                .build()
                .expect("test key")
        };
        let fixed = RawEcdhKeyring::builder(
            EcdhCurve::P256,
            RawEcdhScheme::RawPrivateKeyToStaticPublicKey,
        )
        .sender_private_key(p256)
        .recipient_public_key(p256_public)
        .build()
        .expect("test key");
        let wrap = |keyring: &RawEcdhKeyring| {
            let (_, mut edks) = runtime()
                .block_on(keyring.generate_data_key(ECDH_SUITE, &EncryptionContext::new()))
                .expect("wraps");
            edks.remove(0)
        };
        let edk256 = wrap(&ephemeral(EcdhCurve::P256, p256_public));
        let edk384 = wrap(&ephemeral(EcdhCurve::P384, p384_public));
        let edk_fixed = wrap(&fixed);
        vec![
            (discovery(EcdhCurve::P256, p256), edk256),
            (discovery(EcdhCurve::P384, p384), edk384),
            (fixed, edk_fixed),
        ]
    })
}
