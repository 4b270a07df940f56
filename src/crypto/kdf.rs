//! Per-message key derivation and key commitment, as the message format defines them. The HKDF
//! itself is the backend's.

use zeroize::Zeroizing;

use super::backend::kdf::Prk;
use super::AeadKey;
use crate::error::{ConfigError, Error};
use crate::suite::{AlgorithmSuite, Kdf};

/// The hash under an HKDF.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HkdfHash {
    Sha256,
    Sha384,
    Sha512,
}

/// Derive the message's encryption key (and, for committing suites, the commitment) from the data
/// key and the message ID.
pub(crate) fn derive_keys(
    suite: AlgorithmSuite,
    data_key: &[u8],
    message_id: &[u8],
) -> Result<(AeadKey, Option<[u8; 32]>), Error> {
    if data_key.len() != suite.data_key_len() {
        return Err(Error::materials(
            format!(
                "data key is {} bytes, suite {suite} needs {}",
                data_key.len(),
                suite.data_key_len()
            ),
            None,
        ));
    }
    let len = suite.key_len();
    let mut okm = Zeroizing::new([0u8; 32]);
    let mut info = [0u8; 2 + 32];
    info[..2].copy_from_slice(&suite.id().to_be_bytes());
    let expand_err = |_| Error::Config(ConfigError::Internal("HKDF output length"));
    match suite.kdf() {
        Kdf::Identity => Ok((AeadKey::new(data_key)?, None)),
        Kdf::HkdfSha256 | Kdf::HkdfSha384 => {
            info[2..2 + message_id.len()].copy_from_slice(message_id);
            let info = &info[..2 + message_id.len()];
            let hash = if suite.kdf() == Kdf::HkdfSha256 {
                HkdfHash::Sha256
            } else {
                HkdfHash::Sha384
            };
            Prk::extract(hash, &[], data_key)
                .expand(info, &mut okm[..len])
                .map_err(expand_err)?;
            Ok((AeadKey::new(&okm[..len])?, None))
        }
        Kdf::HkdfSha512Commit => {
            // One extract, two expands, as the specification asks.
            let prk = Prk::extract(HkdfHash::Sha512, message_id, data_key);
            info[2..11].copy_from_slice(b"DERIVEKEY");
            prk.expand(&info[..11], &mut okm[..len])
                .map_err(expand_err)?;
            let mut commitment = [0u8; 32];
            prk.expand(b"COMMITKEY", &mut commitment)
                .map_err(expand_err)?;
            Ok((AeadKey::new(&okm[..len])?, Some(commitment)))
        }
    }
}
