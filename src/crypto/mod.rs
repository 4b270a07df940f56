//! The one seam to cryptographic primitives: AES-GCM, HKDF, ECDSA, RSA and randomness. No other
//! module names a cryptography crate.
//!
//! Two backends implement the same small internal API, chosen at compile time:
//!
//! * `awslc/` (feature `aws-lc`, the default, and `fips` for its FIPS build): `aws-lc-rs`.
//! * `rustcrypto/` (feature `rustcrypto`, without `aws-lc`): the RustCrypto crates, pure Rust.
//!
//! Each backend module provides:
//!
//! * `AeadKey::{new, seal, seal_from, open, open_to, open_append}`: AES-GCM with 12-byte IVs and
//!   16-byte tags, in place (`seal_from` and `open_to` go from one slice into another, and
//!   `open_append` decrypts onto the end of a `Vec`, each out of place where the backend can);
//! * `Prk::{extract, expand}`: HKDF over SHA-256, SHA-384 or SHA-512, and `HmacSha256Key` (for
//!   the hierarchical keyring's SP 800-108 KDF);
//! * `Hasher`, `SigningKeyInner`, `VerifyingKeyInner`: ECDSA over an incrementally hashed message
//!   (the signature covers the whole message, which may stream);
//! * `RsaPublicKey`, `RsaPrivateKey` and their PEM loading, RSA encryption and decryption;
//! * `ecdh`: ECDH private keys (PKCS#8 / SEC 1 DER, generation), point checks, key agreement on
//!   P-256, P-384 and P-521; `kdf::hmac_sha384` for the key-agreement KDF;
//! * `ml_kem` (feature `kms`): ML-KEM encapsulation (aws-lc only) for the AWS KMS ML-KEM keyring;
//! * `random_bytes` (for keys) and `random_message_id`.
//!
//! What is the same for both (key derivation as the message format defines it, base64 of public
//! keys, the signer and verifier state machines, PEM, EC points and `SubjectPublicKeyInfo`)
//! lives here, above the backends.

#[cfg(feature = "aws-lc")]
mod awslc;
#[cfg(feature = "aws-lc")]
use awslc as backend;

#[cfg(all(feature = "rustcrypto", not(feature = "aws-lc")))]
mod rustcrypto;
#[cfg(all(feature = "rustcrypto", not(feature = "aws-lc")))]
use rustcrypto as backend;

#[cfg(not(any(feature = "rustcrypto", feature = "aws-lc")))]
compile_error!(
    "sealbox needs a crypto backend: enable the feature `aws-lc` (default) or `rustcrypto`"
);

mod ecdh;
mod kdf;
#[cfg(feature = "kms")]
mod ml_kem;
mod pem;
mod rsa;
mod sign;

pub(crate) use backend::aead::AeadKey;
pub(crate) use backend::kdf::HmacSha256Key;
pub(crate) use backend::{random_bytes, random_message_id};
pub use ecdh::EcdhCurve;
pub(crate) use ecdh::{EcPrivateKey, EcPublicKey};
// The AWS KMS ECDH keyring's (`DeriveSharedSecret` answers one).
#[allow(unused_imports)]
pub(crate) use ecdh::SharedSecret;
pub(crate) use kdf::{derive_keys, kdf_ctr_hmac_sha256, kdf_ctr_hmac_sha384};
#[cfg(feature = "kms")]
pub use ml_kem::MlKemParameterSet;
#[cfg(feature = "kms")]
pub(crate) use ml_kem::{ml_kem_public_key_from_der, ml_kem_wrapping_key, MlKemPublicKey};
#[cfg(feature = "kms")]
pub(crate) use rsa::modulus_bits as rsa_modulus_bits;
pub use rsa::RsaPadding;
pub(crate) use rsa::{
    decrypt as rsa_decrypt, encrypt as rsa_encrypt, private_key_from_pem, public_from_private,
    public_key_from_pem, RsaPrivateKey, RsaPublicKey,
};
pub(crate) use sign::{Signer, Verifier};
pub use sign::{SigningKey, VerifyingKey};

/// The cryptography backend this build of sealbox uses: `"rustcrypto"`, `"aws-lc"` or
/// `"aws-lc-fips"`. Chosen at compile time by the crate features of the same names.
///
/// ```
/// assert!(["rustcrypto", "aws-lc", "aws-lc-fips"].contains(&sealbox::crypto_backend()));
/// ```
pub fn crypto_backend() -> &'static str {
    backend::NAME
}

/// An AEAD tag that did not verify: deliberately opaque, in both backends.
#[derive(Debug)]
pub(crate) struct AuthFailed;

/// SHA-384 of the concatenation of `parts` (the hierarchical keyring's cache identifiers). Not a
/// secret computation: the same `sha2` code for both backends.
pub(crate) fn sha384(parts: &[&[u8]]) -> [u8; 48] {
    use sha2::{Digest, Sha384};
    let mut h = Sha384::new();
    for part in parts {
        h.update(part);
    }
    h.finalize().into()
}

/// Constant-time equality of two byte strings.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}
