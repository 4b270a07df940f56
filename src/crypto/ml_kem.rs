//! ML-KEM (FIPS 203) for the AWS KMS ML-KEM keyring: parameter sets, public keys from DER
//! `SubjectPublicKeyInfo`, local encapsulation (the backend's), and the key derivation of the ESDK
//! specification's ML-KEM keyring (SP 800-108 counter mode with HMAC-SHA-384).

use zeroize::Zeroizing;

use super::backend::kdf::hmac_sha384;
use super::backend::ml_kem as imp;
use crate::error::Error;

/// The ML-KEM parameter sets of FIPS 203 (and of AWS KMS's `ML_KEM_512`, `ML_KEM_768` and
/// `ML_KEM_1024` key specs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MlKemParameterSet {
    /// ML-KEM-512: 800-byte public keys, 768-byte ciphertexts.
    MlKem512,
    /// ML-KEM-768: 1184-byte public keys, 1088-byte ciphertexts.
    MlKem768,
    /// ML-KEM-1024: 1568-byte public keys, 1568-byte ciphertexts.
    MlKem1024,
}

impl MlKemParameterSet {
    /// The name FIPS 203 and the ESDK specification use: `ML-KEM-512`, `ML-KEM-768`,
    /// `ML-KEM-1024` (the key derivation's fixed info carries it).
    pub fn name(self) -> &'static str {
        match self {
            MlKemParameterSet::MlKem512 => "ML-KEM-512",
            MlKemParameterSet::MlKem768 => "ML-KEM-768",
            MlKemParameterSet::MlKem1024 => "ML-KEM-1024",
        }
    }

    /// The length of a KEM ciphertext, in bytes (FIPS 203, section 8).
    pub fn ciphertext_len(self) -> usize {
        match self {
            MlKemParameterSet::MlKem512 => 768,
            MlKemParameterSet::MlKem768 => 1088,
            MlKemParameterSet::MlKem1024 => 1568,
        }
    }

    /// The length of an encapsulation (public) key, in bytes (FIPS 203, section 8).
    pub fn public_key_len(self) -> usize {
        match self {
            MlKemParameterSet::MlKem512 => 800,
            MlKemParameterSet::MlKem768 => 1184,
            MlKemParameterSet::MlKem1024 => 1568,
        }
    }

    /// The last arc of the NIST OID `2.16.840.1.101.3.4.4.N` of the parameter set.
    fn oid_arc(self) -> u8 {
        match self {
            MlKemParameterSet::MlKem512 => 1,
            MlKemParameterSet::MlKem768 => 2,
            MlKemParameterSet::MlKem1024 => 3,
        }
    }

    /// The DER `SubjectPublicKeyInfo` in front of the raw key: an ML-KEM public key's SPKI has
    /// no parameters and a fixed length, so its header is a constant per parameter set.
    fn spki_prefix(self) -> Vec<u8> {
        let key = self.public_key_len();
        let bit_string = key + 1; // the unused-bits byte
        let algorithm: [u8; 13] = [
            0x30,
            0x0b,
            0x06,
            0x09,
            0x60,
            0x86,
            0x48,
            0x01,
            0x65,
            0x03,
            0x04,
            0x04,
            self.oid_arc(),
        ];
        let inner = algorithm.len() + 4 + bit_string;
        let mut out = Vec::with_capacity(22);
        out.extend_from_slice(&[0x30, 0x82]);
        out.extend_from_slice(&(inner as u16).to_be_bytes());
        out.extend_from_slice(&algorithm);
        out.extend_from_slice(&[0x03, 0x82]);
        out.extend_from_slice(&(bit_string as u16).to_be_bytes());
        out.push(0x00);
        out
    }
}

impl std::fmt::Display for MlKemParameterSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// An ML-KEM encapsulation key, checked against its parameter set.
pub(crate) struct MlKemPublicKey {
    set: MlKemParameterSet,
    inner: imp::EncapsulationKeyInner,
}

impl std::fmt::Debug for MlKemPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MlKemPublicKey")
            .field("set", &self.set)
            .finish_non_exhaustive()
    }
}

/// The raw encapsulation key inside a DER `SubjectPublicKeyInfo` of `set`, or why it is not one.
pub(crate) fn ml_kem_raw_public_key(set: MlKemParameterSet, der: &[u8]) -> Result<&[u8], String> {
    let prefix = set.spki_prefix();
    let want = prefix.len() + set.public_key_len();
    if der.len() != want {
        return Err(format!(
            "an {set} public key in DER SubjectPublicKeyInfo is {want} bytes; this one is {}",
            der.len()
        ));
    }
    let (head, raw) = der.split_at(prefix.len());
    if head != prefix {
        return Err(format!(
            "not a DER SubjectPublicKeyInfo of an {set} key (OID 2.16.840.1.101.3.4.4.{})",
            set.oid_arc()
        ));
    }
    Ok(raw)
}

/// Load an ML-KEM public key of `set` from DER `SubjectPublicKeyInfo` (what KMS `GetPublicKey`
/// returns).
pub(crate) fn ml_kem_public_key_from_der(
    set: MlKemParameterSet,
    der: &[u8],
) -> Result<MlKemPublicKey, Error> {
    let raw =
        ml_kem_raw_public_key(set, der).map_err(|e| Error::invalid("ML-KEM public key", e))?;
    let inner =
        imp::encapsulation_key(set, raw).map_err(|e| Error::invalid("ML-KEM public key", e))?;
    Ok(MlKemPublicKey { set, inner })
}

impl MlKemPublicKey {
    /// A fresh `(shared secret, KEM ciphertext)`.
    pub(crate) fn encapsulate(&self) -> Result<(Zeroizing<Vec<u8>>, Vec<u8>), String> {
        let (secret, ciphertext) = imp::encapsulate(&self.inner)?;
        if ciphertext.len() != self.set.ciphertext_len() || secret.len() != 32 {
            return Err(format!("{} encapsulation gave odd lengths", self.set));
        }
        Ok((secret, ciphertext))
    }
}

/// The ML-KEM keyring's wrapping key: NIST SP 800-108 in counter mode with HMAC-SHA-384, one
/// block truncated to 256 bits, in the Material Providers Library's `KdfCtr` layout (the one the
/// ECDH keyrings use, with `purpose` the fixed info and `nonce` the salt):
///
/// ```text
/// HMAC-SHA384(shared secret, 00 00 00 01 || fixed info || 00 || salt || 00 00 01 00)[..32]
/// ```
pub(crate) fn ml_kem_wrapping_key(
    shared_secret: &[u8],
    salt: &[u8; 32],
    fixed_info: &[u8],
) -> Zeroizing<[u8; 32]> {
    let block = hmac_sha384(
        shared_secret,
        &[
            &1u32.to_be_bytes(),
            fixed_info,
            &[0],
            salt,
            &256u32.to_be_bytes(),
        ],
    );
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&block[..32]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spki_prefixes_follow_der() {
        // The ML-KEM-768 header as OpenSSL writes it.
        assert_eq!(
            MlKemParameterSet::MlKem768.spki_prefix(),
            [
                0x30, 0x82, 0x04, 0xb2, 0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03,
                0x04, 0x04, 0x02, 0x03, 0x82, 0x04, 0xa1, 0x00
            ]
        );
        for set in [
            MlKemParameterSet::MlKem512,
            MlKemParameterSet::MlKem768,
            MlKemParameterSet::MlKem1024,
        ] {
            let prefix = set.spki_prefix();
            let total = prefix.len() + set.public_key_len();
            assert_eq!(
                usize::from(u16::from_be_bytes([prefix[2], prefix[3]])) + 4,
                total
            );
            let mut der = prefix.clone();
            der.extend(std::iter::repeat_n(7u8, set.public_key_len()));
            assert!(ml_kem_raw_public_key(set, &der).is_ok());
            assert!(ml_kem_raw_public_key(set, &der[..der.len() - 1]).is_err());
            let mut wrong_oid = der.clone();
            wrong_oid[16] ^= 0x07;
            assert!(ml_kem_raw_public_key(set, &wrong_oid)
                .unwrap_err()
                .contains("OID"));
        }
    }
}
