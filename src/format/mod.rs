//! The wire format alone: header (v1 and v2), encryption context, encrypted data keys, body frames
//! and footer. It parses and serializes bytes and knows nothing of keys or policy, so that it can be
//! fuzzed on its own and reused by `sealbox inspect`.

mod body;
mod context;
mod header;
mod ml_kem;

pub(crate) use body::{final_frame_prefix, frame_iv, regular_frame_prefix, FrameAads};
pub use body::{BodyParser, Frame, FrameKind};
pub(crate) use context::write_encryption_context;
pub use context::{parse_encryption_context, serialize_encryption_context, EncryptionContext};
pub(crate) use header::write_header_body;
pub use header::{
    parse_header, serialize_header_body, ContentType, EncryptedDataKey, HeaderAuth, HeaderLimits,
    MessageHeader, DEFAULT_MAX_FRAME_LENGTH, DEFAULT_MAX_HEADER_LENGTH,
};
pub use ml_kem::{
    ml_kem_fixed_info, ml_kem_provider_info, parse_ml_kem_provider_info, split_ml_kem_ciphertext,
    MlKemEdkCiphertext, ML_KEM_EDK_VERSION, ML_KEM_SALT_LEN, ML_KEM_TAG_LEN,
};

use crate::error::{Error, Limit};

/// A cursor over input bytes. Every read is bounds-checked and fails with [`Error::Truncated`].
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], Error> {
        if self.remaining() < n {
            return Err(Error::Truncated(what));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub(crate) fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], Error> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, Error> {
        Ok(self.take(1, what)?[0])
    }

    pub(crate) fn u16(&mut self, what: &'static str) -> Result<u16, Error> {
        Ok(u16::from_be_bytes(self.array(what)?))
    }

    pub(crate) fn u32(&mut self, what: &'static str) -> Result<u32, Error> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }

    pub(crate) fn u64(&mut self, what: &'static str) -> Result<u64, Error> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }

    /// A u16 length followed by that many bytes.
    pub(crate) fn vec16(&mut self, what: &'static str) -> Result<&'a [u8], Error> {
        let n = self.u16(what)? as usize;
        self.take(n, what)
    }
}

/// Append a u16 length prefix and the bytes; fails if they do not fit in a u16.
pub(crate) fn put_vec16(out: &mut Vec<u8>, bytes: &[u8], what: &'static str) -> Result<(), Error> {
    let n =
        u16::try_from(bytes.len()).map_err(|_| Error::LimitExceeded(Limit::FieldLength(what)))?;
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(bytes);
    Ok(())
}
