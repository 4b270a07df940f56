//! RSA with the `rsa` crate.

use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::{Oaep, Pkcs1v15Encrypt};
use zeroize::Zeroizing;

use crate::crypto::RsaPadding;

pub(crate) use rsa::{RsaPrivateKey, RsaPublicKey};

pub(crate) fn public_key_from_pem(pem: &str) -> Result<RsaPublicKey, String> {
    RsaPublicKey::from_public_key_pem(pem)
        .or_else(|_| RsaPublicKey::from_pkcs1_pem(pem))
        .map_err(|e| e.to_string())
}

pub(crate) fn private_key_from_pem(pem: &str) -> Result<RsaPrivateKey, String> {
    RsaPrivateKey::from_pkcs8_pem(pem)
        .or_else(|_| RsaPrivateKey::from_pkcs1_pem(pem))
        .map_err(|e| e.to_string())
}

pub(crate) fn public_from_private(key: &RsaPrivateKey) -> RsaPublicKey {
    key.to_public_key()
}

// For the AWS KMS RSA keyring (feature `kms`).
#[cfg_attr(not(feature = "kms"), allow(dead_code))]
pub(crate) fn modulus_bits(key: &RsaPublicKey) -> usize {
    use rsa::traits::PublicKeyParts;
    key.n().bits()
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
    .map_err(|e| e.to_string())
}

pub(crate) fn decrypt(
    key: &RsaPrivateKey,
    padding: RsaPadding,
    ct: &[u8],
) -> Result<Zeroizing<Vec<u8>>, ()> {
    match padding {
        RsaPadding::Pkcs1 => key.decrypt(Pkcs1v15Encrypt, ct),
        RsaPadding::OaepSha1 => key.decrypt(Oaep::new::<sha1::Sha1>(), ct),
        RsaPadding::OaepSha256 => key.decrypt(Oaep::new::<sha2::Sha256>(), ct),
        RsaPadding::OaepSha384 => key.decrypt(Oaep::new::<sha2::Sha384>(), ct),
        RsaPadding::OaepSha512 => key.decrypt(Oaep::new::<sha2::Sha512>(), ct),
    }
    .map(Zeroizing::new)
    .map_err(|_| ())
}
