//! Message headers, v1 and v2, and encrypted data keys.

use super::context::{parse_encryption_context, EncryptionContext};
use super::{put_vec16, Reader};
use crate::error::{ConfigError, Error, Limit, Malformed};
use crate::suite::AlgorithmSuite;

/// An encrypted data key: a data key wrapped by one master key.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EncryptedDataKey {
    /// Who wrapped it: a raw keyring's namespace, or `aws-kms`.
    pub provider_id: String,
    /// Provider-specific key information (a key name and IV, a KMS key ARN, ...).
    pub provider_info: Vec<u8>,
    /// The wrapped data key.
    pub ciphertext: Vec<u8>,
}

impl std::fmt::Debug for EncryptedDataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptedDataKey")
            .field("provider_id", &self.provider_id)
            .field(
                "provider_info",
                &String::from_utf8_lossy(&self.provider_info),
            )
            .field("ciphertext_len", &self.ciphertext.len())
            .finish()
    }
}

impl EncryptedDataKey {
    /// The wire form: three u16-length-prefixed fields.
    pub fn serialize_into(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        put_vec16(out, self.provider_id.as_bytes(), "a provider ID")?;
        put_vec16(out, &self.provider_info, "provider info")?;
        put_vec16(out, &self.ciphertext, "an encrypted data key")
    }

    fn parse(r: &mut Reader<'_>) -> Result<Self, Error> {
        let id = r.vec16("EDK provider ID")?;
        let provider_id = std::str::from_utf8(id)
            .map_err(|_| Error::Malformed(Malformed::ProviderId))?
            .to_owned();
        let provider_info = r.vec16("EDK provider info")?.to_vec();
        let ciphertext = r.vec16("EDK ciphertext")?.to_vec();
        Ok(EncryptedDataKey {
            provider_id,
            provider_info,
            ciphertext,
        })
    }
}

/// How the body is laid out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentType {
    /// One AES-GCM block (decrypt only; encrypt always frames).
    NonFramed,
    /// A sequence of frames of `frame_length` bytes and a final frame.
    Framed,
}

/// The header authentication fields that follow the header body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderAuth {
    /// The IV (v1 only; always zero in practice, but the stored one is used).
    pub iv: [u8; 12],
    /// The GCM tag.
    pub tag: [u8; 16],
}

/// The largest header [`HeaderLimits::default`] accepts: 1 MiB.
pub const DEFAULT_MAX_HEADER_LENGTH: usize = 1 << 20;

/// The largest frame length [`HeaderLimits::default`] accepts: 2^31 - 1, the most any ESDK reads
/// or writes.
pub const DEFAULT_MAX_FRAME_LENGTH: u32 = i32::MAX as u32;

/// Limits applied while parsing a header, each checked as soon as the field it bounds is read and
/// before anything is allocated for it. Start from [`HeaderLimits::default`] and change fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HeaderLimits {
    /// The most encrypted data keys a header may carry (default: no limit beyond the u16 count).
    pub max_encrypted_data_keys: Option<u16>,
    /// The largest frame length accepted (default [`DEFAULT_MAX_FRAME_LENGTH`]).
    pub max_frame_length: u32,
    /// The longest header accepted, authentication fields included (default
    /// [`DEFAULT_MAX_HEADER_LENGTH`]). Only this many bytes of the input are looked at.
    pub max_header_length: usize,
}

impl Default for HeaderLimits {
    fn default() -> Self {
        HeaderLimits {
            max_encrypted_data_keys: None,
            max_frame_length: DEFAULT_MAX_FRAME_LENGTH,
            max_header_length: DEFAULT_MAX_HEADER_LENGTH,
        }
    }
}

/// A parsed message header.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct MessageHeader {
    /// Message format version: 1 or 2.
    pub version: u8,
    /// The algorithm suite.
    pub suite: AlgorithmSuite,
    /// The message ID: 16 bytes (v1) or 32 (v2).
    pub message_id: Vec<u8>,
    /// The encryption context stored in the header. Required-context entries are not stored.
    pub encryption_context: EncryptionContext,
    /// The encrypted data keys.
    pub encrypted_data_keys: Vec<EncryptedDataKey>,
    /// Framed or non-framed body.
    pub content_type: ContentType,
    /// Frame length in bytes (0 for non-framed).
    pub frame_length: u32,
    /// The key commitment (v2 suite data).
    pub commitment: Option<[u8; 32]>,
    /// Header authentication.
    pub auth: HeaderAuth,
    /// The exact header-body bytes, which the header tag and the signature cover.
    pub(crate) body_bytes: Vec<u8>,
}

impl MessageHeader {
    /// Length of the serialized header, header authentication included.
    pub fn serialized_len(&self) -> usize {
        self.body_bytes.len() + if self.version == 1 { 28 } else { 16 }
    }

    /// The header body bytes as they were read or written.
    pub fn body_bytes(&self) -> &[u8] {
        &self.body_bytes
    }
}

/// Parse a header (body and authentication) from the start of `input`. Returns the header and the
/// number of bytes it took. Fails with [`Error::EmptyMessage`] if `input` is empty and with
/// [`Error::Truncated`] if it ends inside the header, so a streaming caller can read more and try
/// again.
///
/// Only the first `limits.max_header_length` bytes are parsed: a header that does not end within
/// them fails with [`Error::LimitExceeded`] (once that many bytes are there; before, with
/// [`Error::Truncated`]).
pub fn parse_header(input: &[u8], limits: &HeaderLimits) -> Result<(MessageHeader, usize), Error> {
    if input.is_empty() {
        return Err(Error::EmptyMessage);
    }
    let max = limits.max_header_length;
    match parse_header_within(&input[..input.len().min(max)], limits) {
        Err(Error::Truncated(what)) if input.len() >= max => {
            Err(Error::LimitExceeded(Limit::HeaderLength { max, at: what }))
        }
        result => result,
    }
}

fn parse_header_within(
    input: &[u8],
    limits: &HeaderLimits,
) -> Result<(MessageHeader, usize), Error> {
    let mut r = Reader::new(input);
    let version = r.u8("header version")?;
    if version != 1 && version != 2 {
        return Err(Error::Malformed(Malformed::Version(version)));
    }
    if version == 1 {
        let ty = r.u8("header type")?;
        if ty != 0x80 {
            return Err(Error::Malformed(Malformed::MessageType(ty)));
        }
    }
    let suite_id = r.u16("algorithm suite")?;
    let suite = AlgorithmSuite::from_id(suite_id).ok_or(Error::UnsupportedSuite(suite_id))?;
    if suite.message_format_version() != version {
        return Err(Error::Malformed(Malformed::SuiteVersion { suite, version }));
    }
    let message_id = r.take(suite.message_id_len(), "message ID")?.to_vec();
    let ec_bytes = r.vec16("encryption context")?;
    let encryption_context = parse_encryption_context(ec_bytes)?;
    let edk_count = r.u16("EDK count")?;
    if edk_count == 0 {
        return Err(Error::Malformed(Malformed::NoEncryptedDataKeys));
    }
    if let Some(max) = limits.max_encrypted_data_keys {
        if edk_count > max {
            return Err(Error::TooManyEncryptedDataKeys {
                count: edk_count as usize,
                max,
            });
        }
    }
    // Each EDK takes at least 6 bytes, so this allocation is bounded by the input.
    let mut encrypted_data_keys = Vec::with_capacity((edk_count as usize).min(r.remaining() / 6));
    for _ in 0..edk_count {
        encrypted_data_keys.push(EncryptedDataKey::parse(&mut r)?);
    }
    let content_type = match r.u8("content type")? {
        1 => ContentType::NonFramed,
        2 => ContentType::Framed,
        other => return Err(Error::Malformed(Malformed::ContentType(other))),
    };
    if version == 1 {
        if r.array::<4>("reserved field")? != [0; 4] {
            return Err(Error::Malformed(Malformed::ReservedField));
        }
        let iv_len = r.u8("IV length")?;
        if iv_len != 12 {
            return Err(Error::Malformed(Malformed::IvLength(iv_len)));
        }
    }
    let frame_length = r.u32("frame length")?;
    match content_type {
        ContentType::NonFramed if frame_length != 0 => {
            return Err(Error::Malformed(Malformed::FrameLength { frame_length }))
        }
        ContentType::Framed if frame_length == 0 => {
            return Err(Error::Malformed(Malformed::FrameLength { frame_length }))
        }
        _ => {}
    }
    if frame_length > limits.max_frame_length {
        return Err(Error::LimitExceeded(Limit::FrameLength {
            length: frame_length,
            max: limits.max_frame_length,
        }));
    }
    let commitment = if suite.is_committing() {
        Some(r.array::<32>("key commitment")?)
    } else {
        None
    };
    let body_len = r.position();
    let iv = if version == 1 {
        r.array::<12>("header IV")?
    } else {
        [0; 12]
    };
    let tag = r.array::<16>("header tag")?;
    let header = MessageHeader {
        version,
        suite,
        message_id,
        encryption_context,
        encrypted_data_keys,
        content_type,
        frame_length,
        commitment,
        auth: HeaderAuth { iv, tag },
        body_bytes: input[..body_len].to_vec(),
    };
    Ok((header, r.position()))
}

/// Serialize a framed header body for encryption.
pub fn serialize_header_body(
    suite: AlgorithmSuite,
    message_id: &[u8],
    stored_context: &[u8],
    edks: &[EncryptedDataKey],
    frame_length: u32,
    commitment: Option<&[u8; 32]>,
) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(64 + stored_context.len() + edks.len() * 128);
    write_header_body(
        &mut out,
        suite,
        message_id,
        |out| {
            out.extend_from_slice(stored_context);
            Ok(())
        },
        edks,
        frame_length,
        commitment,
    )?;
    Ok(out)
}

/// Append a framed header body to `out`; `write_context` appends the serialized stored context
/// (its u16 length prefix is filled in afterwards), so that the header is written once, in place.
pub(crate) fn write_header_body(
    out: &mut Vec<u8>,
    suite: AlgorithmSuite,
    message_id: &[u8],
    write_context: impl FnOnce(&mut Vec<u8>) -> Result<(), Error>,
    edks: &[EncryptedDataKey],
    frame_length: u32,
    commitment: Option<&[u8; 32]>,
) -> Result<(), Error> {
    if suite.is_committing() {
        out.push(2);
    } else {
        out.extend_from_slice(&[1, 0x80]);
    }
    out.extend_from_slice(&suite.id().to_be_bytes());
    out.extend_from_slice(message_id);
    let len_at = out.len();
    out.extend_from_slice(&[0, 0]);
    write_context(out)?;
    let context_len = u16::try_from(out.len() - len_at - 2).map_err(|_| {
        Error::LimitExceeded(Limit::FieldLength("the serialized encryption context"))
    })?;
    out[len_at..len_at + 2].copy_from_slice(&context_len.to_be_bytes());
    let count = u16::try_from(edks.len())
        .map_err(|_| Error::LimitExceeded(Limit::EncryptedDataKeyCount))?;
    if count == 0 {
        return Err(Error::invalid(
            "materials",
            "they carry no encrypted data key",
        ));
    }
    out.extend_from_slice(&count.to_be_bytes());
    for edk in edks {
        edk.serialize_into(out)?;
    }
    out.push(2); // framed
    if suite.is_committing() {
        out.extend_from_slice(&frame_length.to_be_bytes());
        let c = commitment.ok_or_else(|| {
            Error::Config(ConfigError::Internal("committing suite without commitment"))
        })?;
        out.extend_from_slice(c);
    } else {
        out.extend_from_slice(&[0, 0, 0, 0, 12]);
        out.extend_from_slice(&frame_length.to_be_bytes());
    }
    Ok(())
}
