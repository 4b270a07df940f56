//! RSA key wrapping: PKCS#1 v1.5 and OAEP (MGF1 with the same hash, empty label).

use zeroize::Zeroizing;

use super::backend::rsa as imp;
use crate::error::Error;

pub(crate) use imp::{RsaPrivateKey, RsaPublicKey};

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

/// Load a public key from PEM: SubjectPublicKeyInfo (`PUBLIC KEY`) or PKCS#1 (`RSA PUBLIC KEY`).
pub(crate) fn public_key_from_pem(pem: &str) -> Result<RsaPublicKey, Error> {
    imp::public_key_from_pem(pem.trim()).map_err(|e| {
        Error::invalid(
            "RSA public key",
            format!("not an RSA public key in PEM (SPKI or PKCS#1): {e}"),
        )
    })
}

/// Load a private key from PEM: PKCS#8 (`PRIVATE KEY`) or PKCS#1 (`RSA PRIVATE KEY`).
pub(crate) fn private_key_from_pem(pem: &str) -> Result<RsaPrivateKey, Error> {
    // Neither backend's error message can contain key material.
    imp::private_key_from_pem(pem.trim()).map_err(|e| {
        Error::invalid(
            "RSA private key",
            format!("not an RSA private key in PEM (PKCS#8 or PKCS#1): {e}"),
        )
    })
}

pub(crate) fn public_from_private(key: &RsaPrivateKey) -> RsaPublicKey {
    imp::public_from_private(key)
}

/// The bit length of the key's modulus (2048 for an RSA-2048 key).
// For the AWS KMS RSA keyring (feature `kms`).
#[cfg_attr(not(feature = "kms"), allow(dead_code))]
pub(crate) fn modulus_bits(key: &RsaPublicKey) -> usize {
    imp::modulus_bits(key)
}

pub(crate) fn encrypt(
    key: &RsaPublicKey,
    padding: RsaPadding,
    msg: &[u8],
) -> Result<Vec<u8>, String> {
    imp::encrypt(key, padding, msg).map_err(|e| format!("RSA encryption failed: {e}"))
}

pub(crate) fn decrypt(
    key: &RsaPrivateKey,
    padding: RsaPadding,
    ct: &[u8],
) -> Result<Zeroizing<Vec<u8>>, String> {
    // Padding errors stay vague on purpose: details would be a padding oracle.
    imp::decrypt(key, padding, ct).map_err(|()| "RSA decryption failed".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRIVATE: &str = include_str!("../../tests/data/rsa-2048-private.pem");

    #[test]
    fn round_trips_every_padding_and_rejects_garbage() {
        let private = private_key_from_pem(PRIVATE).unwrap();
        let public = public_from_private(&private);
        for padding in [
            RsaPadding::Pkcs1,
            RsaPadding::OaepSha1,
            RsaPadding::OaepSha256,
            RsaPadding::OaepSha384,
            RsaPadding::OaepSha512,
        ] {
            let ct = encrypt(&public, padding, &[7; 32]).unwrap();
            assert_eq!(ct.len(), 256);
            assert_eq!(&decrypt(&private, padding, &ct).unwrap()[..], &[7; 32]);
            let mut bad = ct.clone();
            bad[100] ^= 1;
            assert!(decrypt(&private, padding, &bad).is_err());
        }
        assert!(private_key_from_pem(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"
        )
        .is_err());
        assert!(public_key_from_pem(PRIVATE).is_err());
    }

    #[test]
    fn loads_pkcs8_pkcs1_and_spki_forms_of_one_key() {
        let pkcs8 = private_key_from_pem(PRIVATE).unwrap();
        let pkcs1 =
            private_key_from_pem(include_str!("../../tests/data/rsa-2048-private-pkcs1.pem"))
                .unwrap();
        for public in [
            include_str!("../../tests/data/rsa-2048-public.pem"),
            include_str!("../../tests/data/rsa-2048-public-pkcs1.pem"),
        ] {
            let public = public_key_from_pem(public).unwrap();
            let ct = encrypt(&public, RsaPadding::OaepSha256, b"key").unwrap();
            assert_eq!(
                &decrypt(&pkcs8, RsaPadding::OaepSha256, &ct).unwrap()[..],
                b"key"
            );
            assert_eq!(
                &decrypt(&pkcs1, RsaPadding::OaepSha256, &ct).unwrap()[..],
                b"key"
            );
        }
    }
}
