//! The RustCrypto backend: `aes-gcm`, `hkdf` and `sha2`, `p256`/`p384`, `rsa`. Pure Rust; AES-NI
//! and carry-less multiplication are detected at run time.

pub(super) mod aead;
pub(super) mod ecdh;
pub(super) mod kdf;
#[cfg(feature = "kms")]
pub(super) mod ml_kem;
pub(super) mod rsa;
pub(super) mod sign;

use rand::RngCore;

pub(super) const NAME: &str = "rustcrypto";

/// Fill `buf` from the operating system's CSPRNG. For keys.
pub(crate) fn random_bytes(buf: &mut [u8]) {
    rand::rngs::OsRng.fill_bytes(buf);
}

/// Fill `buf` with a message ID. A message ID must never repeat under one data key (a cached data
/// key serves many messages, and a repeat would repeat the AES key and every frame IV), and
/// should not be predictable. `ThreadRng` gives both: it is a ChaCha12 CSPRNG seeded from the
/// operating system, reseeded from it every 64 KiB of output and after a fork. It spares the
/// system call `OsRng` makes for every message.
pub(crate) fn random_message_id(buf: &mut [u8]) {
    rand::thread_rng().fill_bytes(buf);
}
