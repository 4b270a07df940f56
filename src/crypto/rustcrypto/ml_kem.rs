//! ML-KEM with the RustCrypto backend: not available. The AWS KMS ML-KEM keyring still works
//! with KMS encapsulation (KMS `Encapsulate`); only local encapsulation needs aws-lc. RustCrypto's
//! `ml-kem` crate could fill this in; it is not wired in yet.

use zeroize::Zeroizing;

use crate::crypto::MlKemParameterSet;

/// Never constructed: [`encapsulation_key`] always refuses.
pub(crate) enum EncapsulationKeyInner {}

pub(crate) fn encapsulation_key(
    set: MlKemParameterSet,
    _raw: &[u8],
) -> Result<EncapsulationKeyInner, String> {
    Err(format!(
        "local {set} encapsulation needs the aws-lc backend (the default feature `aws-lc`); \
         this build uses the rustcrypto backend, which has no ML-KEM: use KMS encapsulation"
    ))
}

pub(crate) fn encapsulate(
    key: &EncapsulationKeyInner,
) -> Result<(Zeroizing<Vec<u8>>, Vec<u8>), String> {
    match *key {}
}
