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
    Malformed(Malformed),
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
    LimitExceeded(Limit),
    /// The encryption context is invalid or does not match the one expected.
    #[error("encryption context: {0}")]
    EncryptionContext(ContextError),
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
    Config(ConfigError),
    /// An I/O error while streaming.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// A configuration error: `setting` is out of range or unusable, for the reason given.
    pub(crate) fn invalid(setting: &'static str, reason: impl Into<String>) -> Self {
        Error::Config(ConfigError::Invalid {
            setting,
            reason: reason.into(),
        })
    }

    /// A materials-manager error wrapping a source.
    pub fn materials(message: impl Into<String>, source: Option<BoxError>) -> Self {
        Error::Materials {
            message: message.into(),
            source,
        }
    }
}

/// What is wrong with a message that does not parse ([`Error::Malformed`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Malformed {
    /// The first byte is no known message format version.
    #[error("unknown message format version 0x{0:02X}")]
    Version(u8),
    /// A version 1 header with a message type other than 0x80.
    #[error("unknown message type 0x{0:02X}")]
    MessageType(u8),
    /// The suite belongs to the other message format version.
    #[error("suite {suite} cannot appear in a version {version} message")]
    SuiteVersion {
        /// The suite of the header.
        suite: AlgorithmSuite,
        /// The message format version of the header.
        version: u8,
    },
    /// A header with no encrypted data key.
    #[error("header has no encrypted data keys")]
    NoEncryptedDataKeys,
    /// An encrypted data key's provider ID is not UTF-8.
    #[error("EDK provider ID is not UTF-8")]
    ProviderId,
    /// The content type is neither framed nor non-framed.
    #[error("unknown content type {0}")]
    ContentType(u8),
    /// A version 1 header's reserved field is not zero.
    #[error("reserved field is not zero")]
    ReservedField,
    /// A version 1 header's IV length is not 12.
    #[error("IV length {0} is not 12")]
    IvLength(u8),
    /// The frame length contradicts the content type (zero when framed, not zero when not).
    #[error("frame length {frame_length} does not fit the content type")]
    FrameLength {
        /// The header's frame length.
        frame_length: u32,
    },
    /// The serialized encryption context is invalid.
    #[error("encryption context: {0}")]
    EncryptionContext(BadContext),
    /// A non-framed body longer than the format allows (2^36 - 32 bytes).
    #[error("non-framed body is longer than 2^36 - 32 bytes")]
    NonFramedLength,
    /// A frame out of sequence.
    #[error("frame sequence number {found}, expected {expected}")]
    FrameSequence {
        /// The frame's sequence number.
        found: u32,
        /// The number the frame must have.
        expected: u32,
    },
    /// A final frame longer than the header's frame length.
    #[error("final frame length {length} exceeds the frame length {frame_length}")]
    FinalFrameLength {
        /// The final frame's length.
        length: u32,
        /// The header's frame length.
        frame_length: u32,
    },
    /// More frames than the format can number.
    #[error("more than 2^32 - 1 frames")]
    FrameCount,
}

/// How a serialized encryption context is invalid ([`Malformed::EncryptionContext`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BadContext {
    /// It ends inside an entry.
    #[error("truncated")]
    Truncated,
    /// A non-empty serialization that counts zero entries.
    #[error("a non-empty serialization has zero entries")]
    ZeroEntries,
    /// A key or value that is not UTF-8.
    #[error("not UTF-8")]
    NotUtf8,
    /// The same key twice.
    #[error("duplicate key")]
    DuplicateKey,
    /// Bytes after the last entry.
    #[error("trailing bytes")]
    TrailingBytes,
}

/// A resource limit that a message or a request went over ([`Error::LimitExceeded`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Limit {
    /// A header's frame length over the configured maximum.
    #[error("frame length {length} exceeds the maximum {max}")]
    FrameLength {
        /// The header's frame length.
        length: u32,
        /// The configured maximum.
        max: u32,
    },
    /// A header that does not end within the configured maximum length.
    #[error("header longer than the maximum of {max} bytes (at {at})")]
    HeaderLength {
        /// The configured maximum.
        max: usize,
        /// The field being read when the limit was reached.
        at: &'static str,
    },
    /// A non-framed body longer than the configured maximum (streams hold the whole body).
    #[error("non-framed body of {length} bytes exceeds the maximum of {max}")]
    NonFramedLength {
        /// The body's length.
        length: u64,
        /// The configured maximum.
        max: u64,
    },
    /// A non-framed body larger than this machine's address space.
    #[error("body does not fit in memory")]
    Memory,
    /// More frames than the format can number (2^32 - 1).
    #[error("more than 2^32 - 1 frames")]
    FrameCount,
    /// A field longer than its two-byte length allows (65535 bytes).
    #[error("{0} is longer than 65535 bytes")]
    FieldLength(&'static str),
    /// More encrypted data keys than a header can hold (65535).
    #[error("more than 65535 encrypted data keys")]
    EncryptedDataKeyCount,
    /// A stream was given more plaintext than its declared length.
    #[error("more plaintext than the declared length of {declared} bytes")]
    DeclaredLength {
        /// The declared length (or bound).
        declared: u64,
    },
}

/// What is wrong with an encryption context ([`Error::EncryptionContext`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ContextError {
    /// More entries than a message can hold (65535).
    #[error("{0} entries exceed the limit of 65535")]
    TooManyEntries(usize),
    /// A serialization longer than a message can hold (65535 bytes).
    #[error("serialized size {0} exceeds the limit of 65535 bytes")]
    TooLong(usize),
    /// A caller's key with the prefix reserved for the ESDK (`aws-crypto-`).
    #[error("key {0:?} uses the reserved prefix \"aws-crypto-\"")]
    ReservedKey(String),
    /// An entry whose value differs between the message and what the caller or the materials
    /// say.
    #[error("the value for {0:?} differs from the one expected")]
    Mismatch(String),
    /// A required key missing from the encryption context on encrypt.
    #[error("required key {0:?} is missing from the encryption context")]
    MissingRequiredKey(String),
    /// A required key that the message does not store and the caller did not supply on decrypt.
    #[error("required key {0:?} must be supplied to decrypt")]
    RequiredKeyNotSupplied(String),
    /// A signed suite without the signing public key in the context.
    #[error("signed suite {0} but no aws-crypto-public-key in the context")]
    MissingPublicKey(AlgorithmSuite),
    /// An unsigned suite with a signing public key in the context.
    #[error("unsigned suite {0} with an aws-crypto-public-key in the context")]
    UnexpectedPublicKey(AlgorithmSuite),
    /// The signing public key in the context is not a valid key.
    #[error("aws-crypto-public-key is not a valid public key")]
    InvalidPublicKey,
}

/// What cannot be done as configured ([`Error::Config`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A setting out of its range or unusable, and why.
    #[error("{setting}: {reason}")]
    Invalid {
        /// The setting, for example `frame length` or `max_age`.
        setting: &'static str,
        /// Why it cannot be used.
        reason: String,
    },
    /// Unsigned-only decryption was asked for, and the message is signed.
    #[error("unsigned-only decryption refuses a message signed with suite {0}")]
    SignedMessage(AlgorithmSuite),
    /// A stream used after it finished, or after it failed.
    #[error("{0}")]
    StreamState(&'static str),
    /// A stream given fewer bytes than its declared exact length.
    #[error("{written} bytes written, but the declared length was {declared}")]
    ShortStream {
        /// Bytes written.
        written: u64,
        /// The declared length.
        declared: u64,
    },
    /// A failure inside sealbox or its crypto backend that valid use cannot cause.
    #[error("internal error: {0}")]
    Internal(&'static str),
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
