//! RSA key wrapping: PKCS#1 v1.5 and OAEP (MGF1 with the same hash, empty label).

use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::{Oaep, Pkcs1v15Encrypt};
use zeroize::Zeroizing;

use crate::error::Error;

pub(crate) use rsa::{RsaPrivateKey, RsaPublicKey};

/// RSA padding schemes of the raw RSA keyring.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RsaPadding {
    /// PKCS#1 v1.5 encryption padding. Kept for old messages; prefer OAEP.
    Pkcs1,
    /// OAEP with SHA-1 and MGF1-SHA-1.
    OaepSha1,
    /// OAEP with SHA-256 and MGF1-SHA-256.
    OaepSha256,
    /// OAEP with SHA-384 and MGF1-SHA-384.
    OaepSha384,
    /// OAEP with SHA-512 and MGF1-SHA-512.
    OaepSha512,
}

pub(crate) fn public_key_from_pem(pem: &str) -> Result<RsaPublicKey, Error> {
    RsaPublicKey::from_public_key_pem(pem.trim())
        .or_else(|_| RsaPublicKey::from_pkcs1_pem(pem.trim()))
        .map_err(|e| {
            Error::Config(format!(
                "not an RSA public key in PEM (SPKI or PKCS#1): {e}"
            ))
        })
}

pub(crate) fn private_key_from_pem(pem: &str) -> Result<RsaPrivateKey, Error> {
    // Neither error message can contain key material.
    RsaPrivateKey::from_pkcs8_pem(pem.trim())
        .or_else(|_| RsaPrivateKey::from_pkcs1_pem(pem.trim()))
        .map_err(|e| {
            Error::Config(format!(
                "not an RSA private key in PEM (PKCS#8 or PKCS#1): {e}"
            ))
        })
}

pub(crate) fn public_from_private(key: &RsaPrivateKey) -> RsaPublicKey {
    key.to_public_key()
}

pub(crate) fn encrypt(
    key: &RsaPublicKey,
    padding: RsaPadding,
    msg: &[u8],
) -> Result<Vec<u8>, String> {
    let mut rng = rand::rngs::OsRng;
    match padding {
        RsaPadding::Pkcs1 => key.encrypt(&mut rng, Pkcs1v15Encrypt, msg),
        RsaPadding::OaepSha1 => key.encrypt(&mut rng, Oaep::new::<sha1::Sha1>(), msg),
        RsaPadding::OaepSha256 => key.encrypt(&mut rng, Oaep::new::<sha2::Sha256>(), msg),
        RsaPadding::OaepSha384 => key.encrypt(&mut rng, Oaep::new::<sha2::Sha384>(), msg),
        RsaPadding::OaepSha512 => key.encrypt(&mut rng, Oaep::new::<sha2::Sha512>(), msg),
    }
    .map_err(|e| format!("RSA encryption failed: {e}"))
}

pub(crate) fn decrypt(
    key: &RsaPrivateKey,
    padding: RsaPadding,
    ct: &[u8],
) -> Result<Zeroizing<Vec<u8>>, String> {
    match padding {
        RsaPadding::Pkcs1 => key.decrypt(Pkcs1v15Encrypt, ct),
        RsaPadding::OaepSha1 => key.decrypt(Oaep::new::<sha1::Sha1>(), ct),
        RsaPadding::OaepSha256 => key.decrypt(Oaep::new::<sha2::Sha256>(), ct),
        RsaPadding::OaepSha384 => key.decrypt(Oaep::new::<sha2::Sha384>(), ct),
        RsaPadding::OaepSha512 => key.decrypt(Oaep::new::<sha2::Sha512>(), ct),
    }
    .map(Zeroizing::new)
    // Padding errors stay vague on purpose: details would be a padding oracle.
    .map_err(|_| "RSA decryption failed".to_owned())
}
