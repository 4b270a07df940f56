//! Errors. Decrypt failures say what failed (header, frame, signature, which keyring and why)
//! without giving an attacker anything finer than that.

use std::fmt;

use crate::suite::{AlgorithmSuite, CommitmentPolicy};

/// A boxed error from a keyring, materials manager or cache that sealbox passes through.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in sealbox.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The message is not a well-formed ESDK message.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// The input is empty: there is no message at all.
    #[error("the input is empty: no message to decrypt")]
    EmptyMessage,
    /// The message ended before it was complete.
    #[error("message is truncated: {0}")]
    Truncated(&'static str),
    /// The message continues after its end.
    #[error("{0} bytes of unexpected data after the end of the message")]
    TrailingBytes(usize),
    /// The suite ID is not an ESDK algorithm suite.
    #[error("unsupported algorithm suite 0x{0:04X}")]
    UnsupportedSuite(u16),
    /// The commitment policy does not allow this suite for this operation.
    #[error("commitment policy {policy:?} does not allow {operation} with suite {suite}")]
    PolicyViolation {
        /// The policy in force.
        policy: CommitmentPolicy,
        /// The suite that was refused.
        suite: AlgorithmSuite,
        /// "encrypt" or "decrypt".
        operation: &'static str,
    },
    /// More encrypted data keys than the configured maximum.
    #[error("{count} encrypted data keys exceed the configured maximum of {max}")]
    TooManyEncryptedDataKeys {
        /// How many the message or materials carry.
        count: usize,
        /// The configured maximum.
        max: u16,
    },
    /// A resource limit was hit (frame length, header size, context size).
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
    /// The encryption context is invalid or does not match the one expected.
    #[error("encryption context: {0}")]
    EncryptionContext(String),
    /// No keyring could decrypt any encrypted data key; the error lists every attempt.
    #[error(transparent)]
    NoDataKey(#[from] UnwrapError),
    /// A keyring failed while generating or wrapping a data key.
    #[error(transparent)]
    Keyring(#[from] KeyringError),
    /// A materials manager refused or failed the request.
    #[error("materials manager: {message}")]
    Materials {
        /// What went wrong.
        message: String,
        /// The underlying error, if any.
        #[source]
        source: Option<BoxError>,
    },
    /// The committed key in the header does not match the data key: wrong key, or a forged message.
    #[error("key commitment check failed: the data key does not match the message")]
    CommitmentMismatch,
    /// The header authentication tag did not verify.
    #[error(
        "header authentication failed: wrong key, wrong encryption context, or tampered header"
    )]
    HeaderAuthentication,
    /// A body frame's authentication tag did not verify.
    #[error("authentication of body frame {sequence} failed: the message was tampered with")]
    BodyAuthentication {
        /// The frame's sequence number (1 for a non-framed body).
        sequence: u32,
    },
    /// The message signature did not verify.
    #[error("signature verification failed: the message was tampered with")]
    SignatureInvalid,
    /// The caller asked for something that cannot be done as configured.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// An I/O error while streaming.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    pub(crate) fn malformed(msg: impl Into<String>) -> Self {
        Error::Malformed(msg.into())
    }

    /// A materials-manager error wrapping a source.
    pub fn materials(message: impl Into<String>, source: Option<BoxError>) -> Self {
        Error::Materials {
            message: message.into(),
            source,
        }
    }
}

/// A keyring failed to generate or wrap a data key.
#[derive(Debug)]
pub struct KeyringError {
    keyring: String,
    message: String,
    source: Option<BoxError>,
}

impl KeyringError {
    /// A keyring error: `keyring` names the keyring (for example `raw-aes ns/name`).
    pub fn new(keyring: impl Into<String>, message: impl Into<String>) -> Self {
        KeyringError {
            keyring: keyring.into(),
            message: message.into(),
            source: None,
        }
    }

    /// Attach the underlying error, so that callers can inspect it (for example a KMS throttle).
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// The keyring that failed.
    pub fn keyring(&self) -> &str {
        &self.keyring
    }
}

impl fmt::Display for KeyringError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "keyring {}: {}", self.keyring, self.message)?;
        if let Some(s) = &self.source {
            write!(f, ": {s}")?;
        }
        Ok(())
    }
}

impl std::error::Error for KeyringError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// One keyring's attempt at one encrypted data key, and why it did not yield the data key.
#[derive(Debug)]
pub struct UnwrapAttempt {
    /// Index of the EDK in the message header.
    pub edk_index: usize,
    /// The keyring that tried, e.g. `raw-aes ns/name`.
    pub keyring: String,
    /// Why it failed, or why the EDK is not this keyring's.
    pub error: BoxError,
}

/// No keyring could decrypt any of the message's encrypted data keys.
#[derive(Debug, Default)]
pub struct UnwrapError {
    /// Every attempt, in the order they were made.
    pub attempts: Vec<UnwrapAttempt>,
}

impl UnwrapError {
    /// Record that `keyring` could not use EDK `edk_index`.
    pub fn push(&mut self, edk_index: usize, keyring: &str, error: impl Into<BoxError>) {
        self.attempts.push(UnwrapAttempt {
            edk_index,
            keyring: keyring.to_owned(),
            error: error.into(),
        });
    }

    /// Append the attempts of another keyring (used by the multi-keyring).
    pub fn extend(&mut self, other: UnwrapError) {
        self.attempts.extend(other.attempts);
    }
}

impl fmt::Display for UnwrapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no keyring could decrypt any encrypted data key")?;
        if self.attempts.is_empty() {
            return write!(f, " (no keyring recognized any of them)");
        }
        for a in &self.attempts {
            write!(f, "; EDK {}: {}: {}", a.edk_index, a.keyring, a.error)?;
        }
        Ok(())
    }
}

impl std::error::Error for UnwrapError {}
