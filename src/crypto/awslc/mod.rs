//! The aws-lc backend: `aws-lc-rs` (and its FIPS build with the feature `fips`). Key material
//! lives in aws-lc's memory, which aws-lc wipes when it frees it.

pub(super) mod aead;
pub(super) mod ecdh;
pub(super) mod kdf;
#[cfg(feature = "kms")]
pub(super) mod ml_kem;
mod pem;
pub(super) mod rsa;
pub(super) mod sign;

#[cfg(not(feature = "fips"))]
pub(super) const NAME: &str = "aws-lc";
#[cfg(feature = "fips")]
pub(super) const NAME: &str = "aws-lc-fips";

/// Fill `buf` from aws-lc's DRBG (seeded and reseeded from the operating system; the FIPS
/// module's approved DRBG in the FIPS build). For keys and message IDs alike.
pub(crate) fn random_bytes(buf: &mut [u8]) {
    // aws-lc aborts the process itself if its entropy source fails; the error is never returned.
    #[allow(clippy::expect_used)]
    aws_lc_rs::rand::fill(buf).expect("aws-lc random number generator");
}

/// Fill `buf` with a message ID: a message ID must never repeat under one (cached) data key and
/// should not be predictable, which the DRBG gives without a system call per message.
pub(crate) fn random_message_id(buf: &mut [u8]) {
    random_bytes(buf);
}
