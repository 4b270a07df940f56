//! ML-KEM (FIPS 203) encapsulation with aws-lc: what the AWS KMS ML-KEM keyring does locally
//! (decapsulation is always KMS's).

use aws_lc_rs::kem::{AlgorithmId, EncapsulationKey, ML_KEM_1024, ML_KEM_512, ML_KEM_768};
use zeroize::Zeroizing;

use crate::crypto::MlKemParameterSet;

/// An ML-KEM encapsulation (public) key.
pub(crate) struct EncapsulationKeyInner(EncapsulationKey<AlgorithmId>);

pub(crate) fn encapsulation_key(
    set: MlKemParameterSet,
    raw: &[u8],
) -> Result<EncapsulationKeyInner, String> {
    let alg = match set {
        MlKemParameterSet::MlKem512 => &ML_KEM_512,
        MlKemParameterSet::MlKem768 => &ML_KEM_768,
        MlKemParameterSet::MlKem1024 => &ML_KEM_1024,
    };
    EncapsulationKey::new(alg, raw)
        .map(EncapsulationKeyInner)
        .map_err(|e| format!("aws-lc refused the {set} encapsulation key: {e}"))
}

/// A fresh `(shared secret, KEM ciphertext)` from aws-lc's DRBG.
pub(crate) fn encapsulate(
    key: &EncapsulationKeyInner,
) -> Result<(Zeroizing<Vec<u8>>, Vec<u8>), String> {
    let (ciphertext, secret) = key
        .0
        .encapsulate()
        .map_err(|_| "aws-lc ML-KEM encapsulation failed".to_owned())?;
    Ok((
        Zeroizing::new(secret.as_ref().to_vec()),
        ciphertext.as_ref().to_vec(),
    ))
}

/// HMAC-SHA-384 of the concatenation of `parts`: the PRF of the ML-KEM keyring's KDF.
pub(crate) fn hmac_sha384(key: &[u8], parts: &[&[u8]]) -> Zeroizing<[u8; 48]> {
    use aws_lc_rs::hmac;
    let mut ctx = hmac::Context::with_key(&hmac::Key::new(hmac::HMAC_SHA384, key));
    for part in parts {
        ctx.update(part);
    }
    let mut out = Zeroizing::new([0u8; 48]);
    out.copy_from_slice(ctx.sign().as_ref());
    out
}
