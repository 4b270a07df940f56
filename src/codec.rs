//! The encrypt and decrypt engines over the wire format: header authentication, frames,
//! signatures. One-shot calls and streams both drive these, so there is one implementation of
//! the body, not two.

use crate::crypto::{ct_eq, derive_keys, random_message_id, AeadKey, Signer, Verifier};
use crate::error::Error;
use crate::format::{
    body_aad, serialize_encryption_context, serialize_header_body, write_final_frame_prefix,
    write_regular_frame_prefix, EncryptionContext, Frame, FrameKind, MessageHeader,
};
use crate::materials::{DecryptionMaterials, EncryptionMaterials};

/// The part of the context that is authenticated but not stored: the required keys that the
/// header does not carry.
fn auth_only_context(
    full: &EncryptionContext,
    required_keys: &[String],
    stored: &EncryptionContext,
) -> Result<Vec<u8>, Error> {
    let subset: EncryptionContext = full
        .iter()
        .filter(|(k, _)| required_keys.contains(k) && !stored.contains_key(*k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    serialize_encryption_context(&subset)
}

/// Writes one message: the header first, then frames, then the footer.
pub(crate) struct Encryptor {
    key: AeadKey,
    message_id: Vec<u8>,
    frame_length: u32,
    sequence: u32,
    signer: Option<Signer>,
    aad: Vec<u8>,
}

impl Encryptor {
    /// Start a message and write its header (with authentication) into `out`.
    pub(crate) fn start(
        materials: EncryptionMaterials,
        frame_length: u32,
        out: &mut Vec<u8>,
    ) -> Result<Self, Error> {
        let suite = materials.suite;
        let mut message_id = vec![0u8; suite.message_id_len()];
        random_message_id(&mut message_id);
        let (key, commitment) = derive_keys(suite, materials.data_key.as_bytes(), &message_id)?;
        let stored: EncryptionContext = materials
            .encryption_context
            .iter()
            .filter(|(k, _)| !materials.required_encryption_context_keys.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let stored_bytes = serialize_encryption_context(&stored)?;
        let body = serialize_header_body(
            suite,
            &message_id,
            &stored_bytes,
            &materials.encrypted_data_keys,
            frame_length,
            commitment.as_ref(),
        )?;
        let mut aad = body.clone();
        aad.extend_from_slice(&auth_only_context(
            &materials.encryption_context,
            &materials.required_encryption_context_keys,
            &stored,
        )?);
        let start = out.len();
        out.extend_from_slice(&body);
        let tag = key.seal(&[0; 12], &aad, &mut []);
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
            message_id,
            frame_length,
            sequence: 1,
            signer,
            aad: Vec::with_capacity(96),
        })
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
            return Err(Error::Config("frame of the wrong length".into()));
        }
        let seq = self.sequence;
        let start = out.len();
        let kind = if last {
            write_final_frame_prefix(out, seq, len as u32);
            FrameKind::Final
        } else {
            write_regular_frame_prefix(out, seq);
            FrameKind::Regular
        };
        body_aad(&mut self.aad, &self.message_id, kind, seq, len as u64);
        let ct_start = out.len();
        out.extend_from_slice(plaintext);
        let iv = crate::format::frame_iv(seq);
        let tag = self.key.seal(&iv, &self.aad, &mut out[ct_start..]);
        out.extend_from_slice(&tag);
        if let Some(s) = &mut self.signer {
            s.update(&out[start..]);
        }
        self.sequence = seq
            .checked_add(1)
            .ok_or_else(|| Error::LimitExceeded("more than 2^32 - 1 frames".into()))?;
        Ok(())
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
    message_id: Vec<u8>,
    verifier: Option<Verifier>,
    aad: Vec<u8>,
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
                return Err(Error::EncryptionContext(format!(
                    "materials disagree with the message on {k:?}"
                )));
            }
        }
        let (key, commitment) =
            derive_keys(suite, materials.data_key.as_bytes(), &header.message_id)?;
        if let (Some(expected), Some(found)) = (commitment, header.commitment) {
            if !ct_eq(&expected, &found) {
                return Err(Error::CommitmentMismatch);
            }
        }
        let mut aad = header.body_bytes.clone();
        aad.extend_from_slice(&auth_only_context(
            &materials.encryption_context,
            &materials.required_encryption_context_keys,
            &header.encryption_context,
        )?);
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
            message_id: header.message_id.clone(),
            verifier,
            aad: Vec::with_capacity(96),
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
        body_aad(
            &mut self.aad,
            &self.message_id,
            frame.kind,
            frame.sequence,
            frame.ciphertext.len() as u64,
        );
        let start = out.len();
        out.extend_from_slice(frame.ciphertext);
        if self
            .key
            .open(&frame.iv, &self.aad, &mut out[start..], &frame.tag)
            .is_err()
        {
            out.truncate(start);
            return Err(Error::BodyAuthentication {
                sequence: frame.sequence,
            });
        }
        Ok(())
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
