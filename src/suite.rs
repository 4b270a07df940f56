//! The algorithm-suite table: every ESDK suite and what it implies.

use std::fmt;

/// An AWS Encryption SDK algorithm suite.
///
/// Every suite encrypts with AES-GCM (12-byte IV, 16-byte tag). Suites differ in key length, key
/// derivation, key commitment and signature. The two committing suites (`0x0478`, `0x0578`) use
/// message format version 2; the others version 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum AlgorithmSuite {
    /// 0x0014: AES-128-GCM, no key derivation. Deprecated: decrypt only in practice.
    Aes128GcmNoKdf,
    /// 0x0046: AES-192-GCM, no key derivation.
    Aes192GcmNoKdf,
    /// 0x0078: AES-256-GCM, no key derivation.
    Aes256GcmNoKdf,
    /// 0x0114: AES-128-GCM, HKDF-SHA256.
    Aes128GcmHkdfSha256,
    /// 0x0146: AES-192-GCM, HKDF-SHA256.
    Aes192GcmHkdfSha256,
    /// 0x0178: AES-256-GCM, HKDF-SHA256.
    Aes256GcmHkdfSha256,
    /// 0x0214: AES-128-GCM, HKDF-SHA256, ECDSA P-256 signature.
    Aes128GcmHkdfSha256EcdsaP256,
    /// 0x0346: AES-192-GCM, HKDF-SHA384, ECDSA P-384 signature.
    Aes192GcmHkdfSha384EcdsaP384,
    /// 0x0378: AES-256-GCM, HKDF-SHA384, ECDSA P-384 signature.
    Aes256GcmHkdfSha384EcdsaP384,
    /// 0x0478: AES-256-GCM, HKDF-SHA512 with key commitment.
    Aes256GcmHkdfSha512Commit,
    /// 0x0578: AES-256-GCM, HKDF-SHA512 with key commitment, ECDSA P-384 signature. The default.
    Aes256GcmHkdfSha512CommitEcdsaP384,
}

/// The key derivation function of a suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kdf {
    /// The data key is the encryption key. Such keys must never be reused across messages.
    Identity,
    /// HKDF with SHA-256 (v1 messages).
    HkdfSha256,
    /// HKDF with SHA-384 (v1 messages).
    HkdfSha384,
    /// HKDF with SHA-512 and key commitment (v2 messages).
    HkdfSha512Commit,
}

/// The signature algorithm of a signing suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignatureAlgorithm {
    /// ECDSA on P-256 with SHA-256.
    EcdsaP256Sha256,
    /// ECDSA on P-384 with SHA-384.
    EcdsaP384Sha384,
}

impl AlgorithmSuite {
    /// Every suite, in ID order.
    pub const ALL: [AlgorithmSuite; 11] = [
        Self::Aes128GcmNoKdf,
        Self::Aes192GcmNoKdf,
        Self::Aes256GcmNoKdf,
        Self::Aes128GcmHkdfSha256,
        Self::Aes192GcmHkdfSha256,
        Self::Aes256GcmHkdfSha256,
        Self::Aes128GcmHkdfSha256EcdsaP256,
        Self::Aes192GcmHkdfSha384EcdsaP384,
        Self::Aes256GcmHkdfSha384EcdsaP384,
        Self::Aes256GcmHkdfSha512Commit,
        Self::Aes256GcmHkdfSha512CommitEcdsaP384,
    ];

    /// The two-byte suite ID written in message headers.
    pub const fn id(self) -> u16 {
        match self {
            Self::Aes128GcmNoKdf => 0x0014,
            Self::Aes192GcmNoKdf => 0x0046,
            Self::Aes256GcmNoKdf => 0x0078,
            Self::Aes128GcmHkdfSha256 => 0x0114,
            Self::Aes192GcmHkdfSha256 => 0x0146,
            Self::Aes256GcmHkdfSha256 => 0x0178,
            Self::Aes128GcmHkdfSha256EcdsaP256 => 0x0214,
            Self::Aes192GcmHkdfSha384EcdsaP384 => 0x0346,
            Self::Aes256GcmHkdfSha384EcdsaP384 => 0x0378,
            Self::Aes256GcmHkdfSha512Commit => 0x0478,
            Self::Aes256GcmHkdfSha512CommitEcdsaP384 => 0x0578,
        }
    }

    /// The suite with this ID, if it is an ESDK suite. S3EC and DBE IDs are not.
    pub fn from_id(id: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.id() == id)
    }

    /// The message format version this suite is written in: 1 or 2.
    pub const fn message_format_version(self) -> u8 {
        if self.is_committing() {
            2
        } else {
            1
        }
    }

    /// Length in bytes of the AES key, which is also the length of the data key.
    pub const fn key_len(self) -> usize {
        match self {
            Self::Aes128GcmNoKdf
            | Self::Aes128GcmHkdfSha256
            | Self::Aes128GcmHkdfSha256EcdsaP256 => 16,
            Self::Aes192GcmNoKdf
            | Self::Aes192GcmHkdfSha256
            | Self::Aes192GcmHkdfSha384EcdsaP384 => 24,
            _ => 32,
        }
    }

    /// Length in bytes of the data key (the KDF input).
    pub const fn data_key_len(self) -> usize {
        self.key_len()
    }

    /// The suite's key derivation function.
    pub const fn kdf(self) -> Kdf {
        match self {
            Self::Aes128GcmNoKdf | Self::Aes192GcmNoKdf | Self::Aes256GcmNoKdf => Kdf::Identity,
            Self::Aes128GcmHkdfSha256
            | Self::Aes192GcmHkdfSha256
            | Self::Aes256GcmHkdfSha256
            | Self::Aes128GcmHkdfSha256EcdsaP256 => Kdf::HkdfSha256,
            Self::Aes192GcmHkdfSha384EcdsaP384 | Self::Aes256GcmHkdfSha384EcdsaP384 => {
                Kdf::HkdfSha384
            }
            Self::Aes256GcmHkdfSha512Commit | Self::Aes256GcmHkdfSha512CommitEcdsaP384 => {
                Kdf::HkdfSha512Commit
            }
        }
    }

    /// Whether the suite commits to its data key (v2 messages).
    pub const fn is_committing(self) -> bool {
        matches!(
            self,
            Self::Aes256GcmHkdfSha512Commit | Self::Aes256GcmHkdfSha512CommitEcdsaP384
        )
    }

    /// The suite's signature algorithm, if it signs.
    pub const fn signature(self) -> Option<SignatureAlgorithm> {
        match self {
            Self::Aes128GcmHkdfSha256EcdsaP256 => Some(SignatureAlgorithm::EcdsaP256Sha256),
            Self::Aes192GcmHkdfSha384EcdsaP384
            | Self::Aes256GcmHkdfSha384EcdsaP384
            | Self::Aes256GcmHkdfSha512CommitEcdsaP384 => Some(SignatureAlgorithm::EcdsaP384Sha384),
            _ => None,
        }
    }

    /// Whether materials of this suite may be reused across messages (cached): only suites that
    /// derive a fresh key per message from the data key.
    pub const fn is_cacheable(self) -> bool {
        !matches!(self.kdf(), Kdf::Identity)
    }

    /// Length of the message ID: 16 bytes in v1, 32 in v2.
    pub const fn message_id_len(self) -> usize {
        if self.is_committing() {
            32
        } else {
            16
        }
    }
}

impl fmt::Display for AlgorithmSuite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{:04X}", self.id())
    }
}

/// Which suites may be used to encrypt and which messages may be decrypted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
#[non_exhaustive]
pub enum CommitmentPolicy {
    /// Encrypt with non-committing suites only; decrypt everything. For migrating old readers.
    ForbidEncryptAllowDecrypt,
    /// Encrypt with committing suites only; decrypt everything. For migrating old messages.
    RequireEncryptAllowDecrypt,
    /// Encrypt and decrypt committing suites only. The default.
    #[default]
    RequireEncryptRequireDecrypt,
}

impl CommitmentPolicy {
    /// The suite used to encrypt when none is requested. For
    /// `ForbidEncryptAllowDecrypt` this is 0x0378, as in every shipping ESDK (the specification
    /// text says 0x0078, which the implementations treat as an error).
    pub const fn default_suite(self) -> AlgorithmSuite {
        match self {
            Self::ForbidEncryptAllowDecrypt => AlgorithmSuite::Aes256GcmHkdfSha384EcdsaP384,
            _ => AlgorithmSuite::Aes256GcmHkdfSha512CommitEcdsaP384,
        }
    }

    /// Whether this policy allows encrypting with `suite`.
    pub const fn allows_encrypt(self, suite: AlgorithmSuite) -> bool {
        match self {
            Self::ForbidEncryptAllowDecrypt => !suite.is_committing(),
            _ => suite.is_committing(),
        }
    }

    /// Whether this policy allows decrypting a message of `suite`.
    pub const fn allows_decrypt(self, suite: AlgorithmSuite) -> bool {
        match self {
            Self::RequireEncryptRequireDecrypt => suite.is_committing(),
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_foreign_suites() {
        for s in AlgorithmSuite::ALL {
            assert_eq!(AlgorithmSuite::from_id(s.id()), Some(s));
        }
        for foreign in [0x0000, 0x0070, 0x0074, 0x6700, 0x6701] {
            assert_eq!(AlgorithmSuite::from_id(foreign), None);
        }
    }

    #[test]
    fn policy_defaults() {
        assert_eq!(CommitmentPolicy::default().default_suite().id(), 0x0578);
        let forbid = CommitmentPolicy::ForbidEncryptAllowDecrypt;
        assert_eq!(forbid.default_suite().id(), 0x0378);
        assert!(forbid.allows_encrypt(forbid.default_suite()));
        assert!(!CommitmentPolicy::RequireEncryptRequireDecrypt
            .allows_decrypt(AlgorithmSuite::Aes256GcmHkdfSha384EcdsaP384));
    }
}
