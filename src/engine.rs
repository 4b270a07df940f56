//! The encrypt and decrypt engines over the wire format: header authentication, frames,
//! signatures. One-shot calls and streams both drive these, so there is one implementation of
//! the body, not two.

use std::borrow::Cow;

use crate::crypto::{ct_eq, derive_keys, random_message_id, AeadKey, Signer, Verifier};
use crate::error::{ConfigError, ContextError, Error, Limit};
use crate::format::{
    final_frame_prefix, frame_iv, regular_frame_prefix, write_encryption_context,
    write_header_body, EncryptionContext, Frame, FrameAads, FrameKind, MessageHeader,
};
use crate::materials::{DecryptionMaterials, EncryptionMaterials};

/// The data the header tag authenticates: the header body, then the required context entries
/// that the header does not store. Usually there are none, and the header body is used as it is.
fn header_aad<'a>(
    body: &'a [u8],
    full: &EncryptionContext,
    required_keys: &[String],
    is_stored: impl Fn(&String) -> bool,
) -> Result<Cow<'a, [u8]>, Error> {
    if required_keys.is_empty() {
        return Ok(Cow::Borrowed(body));
    }
    let mut aad = body.to_vec();
    write_encryption_context(
        &mut aad,
        full.iter()
            .filter(|(k, _)| required_keys.contains(k) && !is_stored(k)),
    )?;
    Ok(Cow::Owned(aad))
}

/// Wire bytes of a message body (frames and footer) around `plaintext_len` bytes.
pub(crate) fn body_len(plaintext_len: usize, frame_length: usize, signed: bool) -> usize {
    // Every frame but the last is full; the last holds 0 to `frame_length` bytes.
    let regular = plaintext_len.saturating_sub(1) / frame_length.max(1);
    let footer = if signed { 2 + 104 } else { 0 };
    plaintext_len + regular * (4 + 12 + 16) + (4 + 4 + 12 + 4 + 16) + footer
}

/// About how long the message of `materials` around `plaintext_len` bytes will be (exact but for
/// the signature's length), so that its buffer can be allocated once.
pub(crate) fn message_len_hint(
    materials: &EncryptionMaterials,
    plaintext_len: usize,
    frame_length: usize,
) -> usize {
    let context: usize = materials
        .encryption_context
        .iter()
        .map(|(k, v)| 4 + k.len() + v.len())
        .sum();
    let edks: usize = materials
        .encrypted_data_keys
        .iter()
        .map(|e| 6 + e.provider_id.len() + e.provider_info.len() + e.ciphertext.len())
        .sum();
    // Version, suite, message ID, context, EDKs, content type, framing, commitment or IV, tag.
    let header = 2 + 2 + 32 + 4 + context + 2 + edks + 1 + 9 + 32 + 28;
    header + body_len(plaintext_len, frame_length, materials.signing_key.is_some())
}

/// Writes one message: the header first, then frames, then the footer.
pub(crate) struct Encryptor {
    key: AeadKey,
    aads: FrameAads,
    frame_length: u32,
    sequence: u32,
    signer: Option<Signer>,
}

impl Encryptor {
    /// Start a message and write its header (with authentication) into `out`, serialized once
    /// and in place.
    pub(crate) fn start(
        materials: EncryptionMaterials,
        frame_length: u32,
        out: &mut Vec<u8>,
    ) -> Result<Self, Error> {
        let suite = materials.suite;
        // The message ID (16 bytes in v1, 32 in v2), on the stack; the frames' AADs keep a copy.
        let mut id = [0u8; 32];
        let message_id = &mut id[..suite.message_id_len().min(32)];
        random_message_id(message_id);
        let message_id = &*message_id;
        let (key, commitment) = derive_keys(suite, materials.data_key.as_bytes(), message_id)?;
        let context = &materials.encryption_context;
        let required = &materials.required_encryption_context_keys;
        let is_stored = |k: &String| !required.contains(k);
        let start = out.len();
        write_header_body(
            out,
            suite,
            message_id,
            |out| write_encryption_context(out, context.iter().filter(|(k, _)| is_stored(k))),
            &materials.encrypted_data_keys,
            frame_length,
            commitment.as_ref(),
        )?;
        let mut tag = [0; 16];
        {
            let aad = header_aad(&out[start..], context, required, is_stored)?;
            key.seal(&[0; 12], &aad, &mut [], &mut tag);
        }
        if suite.message_format_version() == 1 {
            out.extend_from_slice(&[0; 12]);
        }
        out.extend_from_slice(&tag);
        let mut signer = match (suite.signature(), materials.signing_key) {
            (Some(_), Some(k)) => Some(Signer::new(k)),
            (None, None) => None,
            _ => {
                return Err(Error::materials(
                    format!("signing key does not match suite {suite}"),
                    None,
                ))
            }
        };
        if let Some(s) = &mut signer {
            s.update(&out[start..]);
        }
        Ok(Encryptor {
            key,
            aads: FrameAads::new(message_id),
            frame_length,
            sequence: 1,
            signer,
        })
    }

    /// Wire bytes of the rest of the message around `plaintext_len` bytes of plaintext.
    pub(crate) fn body_len(&self, plaintext_len: usize) -> usize {
        body_len(plaintext_len, self.frame_length(), self.signer.is_some())
    }

    /// The frame length in use.
    pub(crate) fn frame_length(&self) -> usize {
        self.frame_length as usize
    }

    /// Encrypt one frame into `out`: a regular frame (exactly `frame_length` bytes) or the final
    /// frame (at most `frame_length` bytes).
    pub(crate) fn frame(
        &mut self,
        plaintext: &[u8],
        last: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let len = plaintext.len();
        if len > self.frame_length() || (!last && len != self.frame_length()) {
            return Err(Error::Config(ConfigError::Internal(
                "frame of the wrong length",
            )));
        }
        let seq = self.sequence;
        let start = out.len();
        let kind = if last {
            out.extend_from_slice(&final_frame_prefix(seq, len as u32));
            FrameKind::Final
        } else {
            out.extend_from_slice(&regular_frame_prefix(seq));
            FrameKind::Regular
        };
        let aad = self.aads.get(kind, seq, len as u64);
        // Copied, then sealed in place: the AEAD's stores land on the lines the copy just brought
        // into L1. With aws-lc that measured faster than sealing out of place into a zeroed tail
        // (the README's performance section has the figures).
        let body = out.len();
        out.extend_from_slice(plaintext);
        let mut tag = [0; 16];
        self.key
            .seal(&frame_iv(seq), aad, &mut out[body..], &mut tag);
        out.extend_from_slice(&tag);
        if let Some(s) = &mut self.signer {
            s.update(&out[start..]);
        }
        self.sequence = seq
            .checked_add(1)
            .ok_or_else(|| Error::LimitExceeded(Limit::FrameCount))?;
        Ok(())
    }

    /// Encrypt `plaintext` into `frame`, the frame's wire bytes (prefix, ciphertext, tag), in any
    /// order: `frame` is `plaintext`'s length plus the prefix and the tag. The frame is not
    /// hashed for the signature: the caller hands the finished frames to
    /// [`hash_frames`](Self::hash_frames), in order.
    pub(crate) fn frame_from(
        &mut self,
        sequence: u32,
        last: bool,
        plaintext: &[u8],
        frame: &mut [u8],
    ) -> Result<(), Error> {
        let len = plaintext.len();
        let (kind, prefix_len) = if last {
            (FrameKind::Final, 24)
        } else {
            (FrameKind::Regular, 16)
        };
        if len > self.frame_length()
            || (!last && len != self.frame_length())
            || frame.len() != prefix_len + len + 16
        {
            return Err(Error::Config(ConfigError::Internal(
                "frame of the wrong length",
            )));
        }
        if last {
            frame[..24].copy_from_slice(&final_frame_prefix(sequence, len as u32));
        } else {
            frame[..16].copy_from_slice(&regular_frame_prefix(sequence));
        }
        let aad = self.aads.get(kind, sequence, len as u64);
        let (ct, tag) = frame[prefix_len..].split_at_mut(len);
        // The tag is sealed straight into the frame (exactly 16 bytes are left after `ct`).
        let tag = <&mut [u8; 16]>::try_from(tag)
            .map_err(|_| Error::Config(ConfigError::Internal("frame of the wrong length")))?;
        self.key
            .seal_from(&frame_iv(sequence), aad, plaintext, ct, tag);
        Ok(())
    }

    /// Hash finished frames for the signature (after [`frame_from`](Self::frame_from)).
    pub(crate) fn hash_frames(&mut self, frames: &[u8]) {
        if let Some(s) = &mut self.signer {
            s.update(frames);
        }
    }

    /// Write the footer (the signature, for signing suites).
    pub(crate) fn finish(self, out: &mut Vec<u8>) -> Result<(), Error> {
        if let Some(signer) = self.signer {
            let sig = signer.finish()?;
            out.extend_from_slice(&(sig.len() as u16).to_be_bytes());
            out.extend_from_slice(&sig);
        }
        Ok(())
    }
}

/// Reads one message after its header: checks the commitment and header tag on creation, then
/// each frame, then the signature.
pub(crate) struct Decryptor {
    key: AeadKey,
    aads: FrameAads,
    verifier: Option<Verifier>,
}

impl Decryptor {
    /// Check the key commitment and the header tag. `header_bytes` are the header as read.
    pub(crate) fn new(
        header: &MessageHeader,
        header_bytes: &[u8],
        materials: &DecryptionMaterials,
    ) -> Result<Self, Error> {
        let suite = header.suite;
        if materials.suite != suite {
            return Err(Error::materials(
                format!(
                    "materials are for suite {}, message is {suite}",
                    materials.suite
                ),
                None,
            ));
        }
        for (k, v) in &header.encryption_context {
            if materials.encryption_context.get(k) != Some(v) {
                return Err(Error::EncryptionContext(ContextError::Mismatch(k.clone())));
            }
        }
        let (key, commitment) =
            derive_keys(suite, materials.data_key.as_bytes(), &header.message_id)?;
        if let (Some(expected), Some(found)) = (commitment, header.commitment) {
            if !ct_eq(&expected, &found) {
                return Err(Error::CommitmentMismatch);
            }
        }
        let aad = header_aad(
            &header.body_bytes,
            &materials.encryption_context,
            &materials.required_encryption_context_keys,
            |k| header.encryption_context.contains_key(k),
        )?;
        key.open(&header.auth.iv, &aad, &mut [], &header.auth.tag)
            .map_err(|_| Error::HeaderAuthentication)?;
        let verifier = match (suite.signature(), &materials.verifying_key) {
            (Some(_), Some(k)) => {
                let mut v = Verifier::new(k.clone());
                v.update(header_bytes);
                Some(v)
            }
            (None, _) => None,
            (Some(_), None) => {
                return Err(Error::materials(
                    "signed suite without a verification key",
                    None,
                ))
            }
        };
        Ok(Decryptor {
            key,
            aads: FrameAads::new(&header.message_id),
            verifier,
        })
    }

    /// Authenticate and decrypt `frame` (whose wire bytes are `wire`) and append its plaintext to
    /// `out`. On failure `out` is left as it was.
    pub(crate) fn frame(
        &mut self,
        wire: &[u8],
        frame: &Frame<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        if let Some(v) = &mut self.verifier {
            v.update(wire);
        }
        let aad = self
            .aads
            .get(frame.kind, frame.sequence, frame.ciphertext.len() as u64);
        if self
            .key
            .open_append(&frame.iv, aad, frame.ciphertext, &frame.tag, out)
            .is_err()
        {
            return Err(Error::BodyAuthentication {
                sequence: frame.sequence,
            });
        }
        Ok(())
    }

    /// Authenticate and decrypt, in place, the frame whose wire bytes are `wire`: its ciphertext
    /// (`ct_len` bytes before the 16-byte tag at the end) becomes plaintext.
    pub(crate) fn frame_in_place(
        &mut self,
        wire: &mut [u8],
        kind: FrameKind,
        sequence: u32,
        iv: &[u8; 12],
        tag: &[u8; 16],
        ct_len: usize,
    ) -> Result<(), Error> {
        if let Some(v) = &mut self.verifier {
            v.update(wire);
        }
        let aad = self.aads.get(kind, sequence, ct_len as u64);
        let end = wire.len() - 16;
        self.key
            .open(iv, aad, &mut wire[end - ct_len..end], tag)
            .map_err(|_| Error::BodyAuthentication { sequence })
    }

    /// Authenticate and decrypt the frame whose wire bytes are `wire` (its ciphertext is the
    /// `plaintext.len()` bytes before the 16-byte tag at the end) into `plaintext`, out of place.
    pub(crate) fn frame_to(
        &mut self,
        wire: &[u8],
        kind: FrameKind,
        sequence: u32,
        iv: &[u8; 12],
        tag: &[u8; 16],
        plaintext: &mut [u8],
    ) -> Result<(), Error> {
        if let Some(v) = &mut self.verifier {
            v.update(wire);
        }
        let ct_len = plaintext.len();
        let aad = self.aads.get(kind, sequence, ct_len as u64);
        let end = wire.len() - 16;
        self.key
            .open_to(iv, aad, &wire[end - ct_len..end], tag, plaintext)
            .map_err(|_| Error::BodyAuthentication { sequence })
    }

    /// Parse and verify the footer at the start of `input`; returns the bytes it took.
    pub(crate) fn finish(self, input: &[u8]) -> Result<usize, Error> {
        match self.verifier {
            None => Ok(0),
            Some(v) => {
                let mut r = crate::format::Reader::new(input);
                let sig = r.vec16("signature")?;
                v.verify(sig)?;
                Ok(r.position())
            }
        }
    }
}
