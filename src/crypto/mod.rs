//! The one seam to cryptographic primitives: AES-GCM, HKDF, ECDSA and RSA. No other module names
//! a cryptography crate, so a second backend plugs in here.

mod aead;
mod kdf;
mod rsa;
mod sign;

pub(crate) use aead::AeadKey;
pub(crate) use kdf::derive_keys;
pub use rsa::RsaPadding;
pub(crate) use rsa::{
    decrypt as rsa_decrypt, encrypt as rsa_encrypt, private_key_from_pem, public_from_private,
    public_key_from_pem, RsaPrivateKey, RsaPublicKey,
};
pub(crate) use sign::{Signer, Verifier};
pub use sign::{SigningKey, VerifyingKey};

use rand::RngCore;

/// Fill `buf` from the operating system's CSPRNG.
pub(crate) fn random_bytes(buf: &mut [u8]) {
    rand::rngs::OsRng.fill_bytes(buf);
}

/// Constant-time equality of two byte strings.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}
