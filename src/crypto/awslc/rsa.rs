//! RSA with aws-lc. Keys load from PEM: PKCS#8 and SubjectPublicKeyInfo directly, PKCS#1 after
//! wrapping it in those.

use aws_lc_rs::rsa::{
    OaepAlgorithm, OaepPrivateDecryptingKey, OaepPublicEncryptingKey, Pkcs1PrivateDecryptingKey,
    Pkcs1PublicEncryptingKey, PrivateDecryptingKey, PublicEncryptingKey, OAEP_SHA1_MGF1SHA1,
    OAEP_SHA256_MGF1SHA256, OAEP_SHA384_MGF1SHA384, OAEP_SHA512_MGF1SHA512,
};
use zeroize::Zeroizing;

use super::pem;
use crate::crypto::RsaPadding;

pub(crate) type RsaPublicKey = PublicEncryptingKey;
pub(crate) type RsaPrivateKey = PrivateDecryptingKey;

pub(crate) fn public_key_from_pem(pem: &str) -> Result<RsaPublicKey, String> {
    let (label, der) = pem::decode(pem)?;
    let der = match label.as_str() {
        "PUBLIC KEY" => der.to_vec(),
        "RSA PUBLIC KEY" => pem::spki_from_pkcs1(&der),
        other => return Err(format!("a PEM block labelled {other:?}")),
    };
    PublicEncryptingKey::from_der(&der).map_err(|e| e.to_string())
}

pub(crate) fn private_key_from_pem(pem: &str) -> Result<RsaPrivateKey, String> {
    let (label, der) = pem::decode(pem)?;
    let der = match label.as_str() {
        "PRIVATE KEY" => der,
        "RSA PRIVATE KEY" => pem::pkcs8_from_pkcs1(&der),
        other => return Err(format!("a PEM block labelled {other:?}")),
    };
    PrivateDecryptingKey::from_pkcs8(&der).map_err(|e| e.to_string())
}

pub(crate) fn public_from_private(key: &RsaPrivateKey) -> RsaPublicKey {
    key.public_key()
}

// For the AWS KMS RSA keyring (feature `kms`).
#[cfg_attr(not(feature = "kms"), allow(dead_code))]
pub(crate) fn modulus_bits(key: &RsaPublicKey) -> usize {
    key.key_size_bits()
}

fn oaep(padding: RsaPadding) -> Option<&'static OaepAlgorithm> {
    match padding {
        RsaPadding::Pkcs1 => None,
        RsaPadding::OaepSha1 => Some(&OAEP_SHA1_MGF1SHA1),
        RsaPadding::OaepSha256 => Some(&OAEP_SHA256_MGF1SHA256),
        RsaPadding::OaepSha384 => Some(&OAEP_SHA384_MGF1SHA384),
        RsaPadding::OaepSha512 => Some(&OAEP_SHA512_MGF1SHA512),
    }
}

pub(crate) fn encrypt(
    key: &RsaPublicKey,
    padding: RsaPadding,
    msg: &[u8],
) -> Result<Vec<u8>, String> {
    let fail = |_| "aws-lc refused the key or the input".to_owned();
    let mut out = vec![0u8; key.key_size_bytes()];
    let n = match oaep(padding) {
        Some(alg) => OaepPublicEncryptingKey::new(key.clone())
            .map_err(fail)?
            .encrypt(alg, msg, &mut out, None)
            .map_err(fail)?
            .len(),
        None => Pkcs1PublicEncryptingKey::new(key.clone())
            .map_err(fail)?
            .encrypt(msg, &mut out)
            .map_err(fail)?
            .len(),
    };
    out.truncate(n);
    Ok(out)
}

pub(crate) fn decrypt(
    key: &RsaPrivateKey,
    padding: RsaPadding,
    ct: &[u8],
) -> Result<Zeroizing<Vec<u8>>, ()> {
    let mut out = Zeroizing::new(vec![0u8; key.key_size_bytes()]);
    let n = match oaep(padding) {
        Some(alg) => OaepPrivateDecryptingKey::new(key.clone())
            .map_err(|_| ())?
            .decrypt(alg, ct, &mut out, None)
            .map_err(|_| ())?
            .len(),
        None => Pkcs1PrivateDecryptingKey::new(key.clone())
            .map_err(|_| ())?
            .decrypt(ct, &mut out)
            .map_err(|_| ())?
            .len(),
    };
    out.truncate(n);
    Ok(out)
}
