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
