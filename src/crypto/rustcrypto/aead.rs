//! AES-GCM with 12-byte IVs and 16-byte tags, in place, with the `aes-gcm` crate.

// aes-gcm 0.10 exposes generic-array 0.14, deprecated in favour of 1.x; the next aes-gcm moves.
#![allow(deprecated)]

use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::aes::Aes192;
use aes_gcm::{Aes128Gcm, Aes256Gcm, AesGcm};

use crate::crypto::AuthFailed;
use crate::error::Error;

type Aes192Gcm = AesGcm<Aes192, aes_gcm::aead::consts::U12>;

// The AES key schedules must wipe themselves on drop: that takes the `zeroize` feature of the
// `aes` crate, which aes-gcm's own `zeroize` feature does NOT turn on. This fails to compile if
// the feature is ever lost.
const _: fn() = || {
    fn wipes_on_drop<T: zeroize::ZeroizeOnDrop>() {}
    wipes_on_drop::<aes_gcm::aes::Aes128>();
    wipes_on_drop::<aes_gcm::aes::Aes192>();
    wipes_on_drop::<aes_gcm::aes::Aes256>();
};

/// An expanded AES-GCM key, on the heap. The AES round keys are wiped on drop (the `zeroize`
/// feature of `aes`). The GHASH key H = AES_K(0) is not: polyval 0.6 wipes it only on backends
/// that runtime CPU detection (x86/x86_64, aarch64) does not use. See SECURITY.md.
pub(crate) enum AeadKey {
    Aes128(Box<Aes128Gcm>),
    Aes192(Box<Aes192Gcm>),
    Aes256(Box<Aes256Gcm>),
}

impl std::fmt::Debug for AeadKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AeadKey(<redacted>)")
    }
}

impl AeadKey {
    pub(crate) fn new(key: &[u8]) -> Result<Self, Error> {
        let bad = |_| Error::invalid("AES key", format!("invalid length {}", key.len()));
        Ok(match key.len() {
            16 => AeadKey::Aes128(Box::new(Aes128Gcm::new_from_slice(key).map_err(bad)?)),
            24 => AeadKey::Aes192(Box::new(Aes192Gcm::new_from_slice(key).map_err(bad)?)),
            32 => AeadKey::Aes256(Box::new(Aes256Gcm::new_from_slice(key).map_err(bad)?)),
            n => return Err(Error::invalid("AES key", format!("invalid length {n}"))),
        })
    }

    /// Encrypt `buf` in place and write its tag to `tag`.
    pub(crate) fn seal(&self, iv: &[u8; 12], aad: &[u8], buf: &mut [u8], tag: &mut [u8; 16]) {
        let nonce = GenericArray::from_slice(iv);
        // Encryption fails only for inputs over 2^36 bytes, which frames can never reach.
        let sealed = match self {
            AeadKey::Aes128(k) => k.encrypt_in_place_detached(nonce, aad, buf),
            AeadKey::Aes192(k) => k.encrypt_in_place_detached(nonce, aad, buf),
            AeadKey::Aes256(k) => k.encrypt_in_place_detached(nonce, aad, buf),
        };
        match sealed {
            Ok(t) => tag.copy_from_slice(&t),
            // Unreachable for frames; should it happen, fail closed: no plaintext left behind
            // where a caller expects ciphertext.
            Err(_) => {
                buf.fill(0);
                tag.fill(0);
            }
        }
    }

    /// Encrypt `plaintext` into `ciphertext` (of the same length) and write its tag to `tag`.
    /// aes-gcm 0.10 seals in place only: the plaintext is copied, then sealed there.
    pub(crate) fn seal_from(
        &self,
        iv: &[u8; 12],
        aad: &[u8],
        plaintext: &[u8],
        ciphertext: &mut [u8],
        tag: &mut [u8; 16],
    ) {
        ciphertext.copy_from_slice(plaintext);
        self.seal(iv, aad, ciphertext, tag);
    }

    /// Decrypt `buf` in place after checking `tag`. On failure `buf` holds no plaintext.
    pub(crate) fn open(
        &self,
        iv: &[u8; 12],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; 16],
    ) -> Result<(), AuthFailed> {
        let nonce = GenericArray::from_slice(iv);
        let tag = GenericArray::from_slice(tag);
        match self {
            AeadKey::Aes128(k) => k.decrypt_in_place_detached(nonce, aad, buf, tag),
            AeadKey::Aes192(k) => k.decrypt_in_place_detached(nonce, aad, buf, tag),
            AeadKey::Aes256(k) => k.decrypt_in_place_detached(nonce, aad, buf, tag),
        }
        .map_err(|_| AuthFailed)
    }

    /// Decrypt `ciphertext` into `plaintext` (of the same length) after checking `tag`. aes-gcm
    /// 0.10 opens in place only: the ciphertext is copied, then opened there. On failure
    /// `plaintext` holds no plaintext.
    pub(crate) fn open_to(
        &self,
        iv: &[u8; 12],
        aad: &[u8],
        ciphertext: &[u8],
        tag: &[u8; 16],
        plaintext: &mut [u8],
    ) -> Result<(), AuthFailed> {
        plaintext.copy_from_slice(ciphertext);
        self.open(iv, aad, plaintext, tag)
    }

    /// Decrypt `ciphertext` onto the end of `out` after checking `tag`. On failure `out` is left
    /// as it was.
    pub(crate) fn open_append(
        &self,
        iv: &[u8; 12],
        aad: &[u8],
        ciphertext: &[u8],
        tag: &[u8; 16],
        out: &mut Vec<u8>,
    ) -> Result<(), AuthFailed> {
        let start = out.len();
        out.extend_from_slice(ciphertext);
        let result = self.open(iv, aad, &mut out[start..], tag);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }
}
