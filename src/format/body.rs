//! Body frames and their authenticated data.

use super::header::{ContentType, MessageHeader};
use super::Reader;
use crate::error::{Error, Limit, Malformed};

const FINAL_MARKER: u32 = 0xFFFF_FFFF;
/// The largest non-framed body the format allows.
const MAX_NON_FRAMED_LEN: u64 = (1 << 36) - 32;

/// What kind of body frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameKind {
    /// A full frame of `frame_length` bytes; more follow.
    Regular,
    /// The last frame.
    Final,
    /// The single block of a non-framed body.
    NonFramed,
}

impl FrameKind {
    fn content_string(self) -> &'static [u8] {
        match self {
            FrameKind::Regular => b"AWSKMSEncryptionClient Frame",
            FrameKind::Final => b"AWSKMSEncryptionClient Final Frame",
            FrameKind::NonFramed => b"AWSKMSEncryptionClient Single Block",
        }
    }

    /// Whether this frame ends the body.
    pub fn is_last(self) -> bool {
        !matches!(self, FrameKind::Regular)
    }
}

/// A body frame, borrowed from the input.
#[derive(Debug)]
pub struct Frame<'a> {
    /// Regular, final or non-framed.
    pub kind: FrameKind,
    /// Sequence number, from 1.
    pub sequence: u32,
    /// The IV stored in the frame.
    pub iv: [u8; 12],
    /// The ciphertext.
    pub ciphertext: &'a [u8],
    /// The GCM tag.
    pub tag: [u8; 16],
}

/// Parses body frames one at a time, checking sequence numbers and lengths. Works on a whole
/// buffer or on a stream: when the input ends inside a frame it returns [`Error::Truncated`]
/// and keeps its state, so the caller can read more and call again.
#[derive(Debug, Clone)]
pub struct BodyParser {
    content_type: ContentType,
    frame_length: u32,
    max_non_framed_len: u64,
    next_sequence: u32,
    done: bool,
}

impl BodyParser {
    /// A parser for the body that follows `header`.
    pub fn new(header: &MessageHeader) -> Self {
        BodyParser {
            content_type: header.content_type,
            frame_length: header.frame_length,
            max_non_framed_len: MAX_NON_FRAMED_LEN,
            next_sequence: 1,
            done: false,
        }
    }

    /// Refuse a non-framed body longer than `max` bytes as soon as its length field is read, with
    /// [`Error::LimitExceeded`]. A streaming reader, which holds the whole block before it can
    /// authenticate it, sets this to its frame-length limit. (Framed bodies are bounded by the
    /// header's frame length, which [`HeaderLimits`](super::HeaderLimits) checks.)
    pub fn with_max_non_framed_length(mut self, max: u64) -> Self {
        self.max_non_framed_len = max.min(MAX_NON_FRAMED_LEN);
        self
    }

    /// Whether the final frame has been parsed.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The most bytes one frame can take on the wire (header fields included).
    pub fn max_frame_wire_len(&self) -> usize {
        self.frame_length as usize + 4 + 4 + 12 + 4 + 16
    }

    /// Parse the frame at the start of `input`; returns it and the number of bytes it took.
    pub fn parse_next<'a>(&mut self, input: &'a [u8]) -> Result<(Frame<'a>, usize), Error> {
        match self.next_regular(input) {
            Some(regular) => Ok(regular),
            None => self.parse_any(input),
        }
    }

    /// The next frame if it is a regular frame with the expected sequence number, wholly in
    /// `input`: nearly every frame of a large message, read with a few slices and one
    /// comparison. The frame loops call this between two calls of the AEAD, and with it bulk
    /// decryption measured faster than with the full parser there (the README's performance
    /// section has the figures). Anything else, errors included, goes to
    /// [`parse_any`](Self::parse_any), which reports it.
    #[inline]
    fn next_regular<'a>(&mut self, input: &'a [u8]) -> Option<(Frame<'a>, usize)> {
        if self.done || self.content_type != ContentType::Framed {
            return None;
        }
        let frame_length = self.frame_length as usize;
        let wire = input.get(..frame_length + 32)?;
        let (sequence, rest) = wire.split_first_chunk::<4>()?;
        let sequence = u32::from_be_bytes(*sequence);
        if sequence == FINAL_MARKER || sequence != self.next_sequence {
            return None;
        }
        let next_sequence = sequence.checked_add(1)?;
        let (iv, rest) = rest.split_first_chunk::<12>()?;
        let (ciphertext, tag) = rest.split_at(frame_length);
        let tag = <[u8; 16]>::try_from(tag).ok()?;
        self.next_sequence = next_sequence;
        let frame = Frame {
            kind: FrameKind::Regular,
            sequence,
            iv: *iv,
            ciphertext,
            tag,
        };
        Some((frame, wire.len()))
    }

    /// [`parse_next`](Self::parse_next) for any frame.
    #[inline(never)]
    fn parse_any<'a>(&mut self, input: &'a [u8]) -> Result<(Frame<'a>, usize), Error> {
        if self.done {
            return Err(Error::TrailingBytes(input.len()));
        }
        let mut r = Reader::new(input);
        let frame = match self.content_type {
            ContentType::NonFramed => {
                let iv = r.array::<12>("body IV")?;
                let len = r.u64("body length")?;
                if len > MAX_NON_FRAMED_LEN {
                    return Err(Error::Malformed(Malformed::NonFramedLength));
                }
                if len > self.max_non_framed_len {
                    return Err(Error::LimitExceeded(Limit::NonFramedLength {
                        length: len,
                        max: self.max_non_framed_len,
                    }));
                }
                let len = usize::try_from(len).map_err(|_| Error::LimitExceeded(Limit::Memory))?;
                let ciphertext = r.take(len, "body")?;
                let tag = r.array::<16>("body tag")?;
                Frame {
                    kind: FrameKind::NonFramed,
                    sequence: 1,
                    iv,
                    ciphertext,
                    tag,
                }
            }
            ContentType::Framed => {
                let first = r.u32("frame sequence number")?;
                let (kind, sequence) = if first == FINAL_MARKER {
                    (FrameKind::Final, r.u32("final frame sequence number")?)
                } else {
                    (FrameKind::Regular, first)
                };
                if sequence != self.next_sequence {
                    return Err(Error::Malformed(Malformed::FrameSequence {
                        found: sequence,
                        expected: self.next_sequence,
                    }));
                }
                let iv = r.array::<12>("frame IV")?;
                let len = match kind {
                    FrameKind::Final => {
                        let len = r.u32("final frame length")?;
                        if len > self.frame_length {
                            return Err(Error::Malformed(Malformed::FinalFrameLength {
                                length: len,
                                frame_length: self.frame_length,
                            }));
                        }
                        len
                    }
                    _ => self.frame_length,
                };
                let ciphertext = r.take(len as usize, "frame")?;
                let tag = r.array::<16>("frame tag")?;
                Frame {
                    kind,
                    sequence,
                    iv,
                    ciphertext,
                    tag,
                }
            }
        };
        // Only now that the whole frame is there does the state move on.
        if frame.kind.is_last() {
            self.done = true;
        } else {
            self.next_sequence = self
                .next_sequence
                .checked_add(1)
                .ok_or_else(|| Error::Malformed(Malformed::FrameCount))?;
        }
        Ok((frame, r.position()))
    }
}

/// The deterministic IV of frame `sequence`: eight zero bytes and the sequence number.
pub(crate) fn frame_iv(sequence: u32) -> [u8; 12] {
    let mut iv = [0u8; 12];
    iv[8..].copy_from_slice(&sequence.to_be_bytes());
    iv
}

/// The additional authenticated data of a body frame: message ID (at most 32 bytes), content
/// string (at most 35), sequence number and length.
pub(crate) struct FrameAad {
    buf: [u8; 32 + 35 + 4 + 8],
    len: usize,
}

impl FrameAad {
    /// The AAD of frame `sequence` of kind `kind` holding `len` bytes.
    pub(crate) fn new(message_id: &[u8], kind: FrameKind, sequence: u32, len: u64) -> Self {
        let mut aad = FrameAad {
            buf: [0; 32 + 35 + 4 + 8],
            len: 0,
        };
        for part in [
            message_id,
            kind.content_string(),
            &sequence.to_be_bytes(),
            &len.to_be_bytes(),
        ] {
            aad.buf[aad.len..aad.len + part.len()].copy_from_slice(part);
            aad.len += part.len();
        }
        aad
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

/// The AADs of one message's frames, for its encryptor or decryptor. The message ID and the
/// regular frames' content string are written once; a regular frame writes only its sequence
/// number and length over them. (Built whole for every frame, the AAD was most of the per-frame
/// work outside the AEAD: copies of a few bytes at a time, read back at once by the AEAD.)
pub(crate) struct FrameAads {
    message_id: [u8; 32],
    message_id_len: usize,
    regular: Option<FrameAad>,
    once: Option<FrameAad>,
}

impl FrameAads {
    pub(crate) fn new(message_id: &[u8]) -> Self {
        let message_id_len = message_id.len().min(32);
        let mut id = [0; 32];
        id[..message_id_len].copy_from_slice(&message_id[..message_id_len]);
        FrameAads {
            message_id: id,
            message_id_len,
            regular: None,
            once: None,
        }
    }

    /// The AAD of frame `sequence` of kind `kind` holding `len` bytes.
    pub(crate) fn get(&mut self, kind: FrameKind, sequence: u32, len: u64) -> &[u8] {
        let message_id = &self.message_id[..self.message_id_len];
        if kind != FrameKind::Regular {
            // The final frame, or a non-framed body: once per message.
            return self
                .once
                .insert(FrameAad::new(message_id, kind, sequence, len))
                .as_bytes();
        }
        let aad = self
            .regular
            .get_or_insert_with(|| FrameAad::new(message_id, kind, sequence, len));
        let at = aad.len - 12;
        aad.buf[at..at + 4].copy_from_slice(&sequence.to_be_bytes());
        aad.buf[at + 4..at + 12].copy_from_slice(&len.to_be_bytes());
        aad.as_bytes()
    }
}

/// `u32 seq || IV` of a regular frame.
pub(crate) fn regular_frame_prefix(sequence: u32) -> [u8; 16] {
    let mut p = [0u8; 16];
    p[..4].copy_from_slice(&sequence.to_be_bytes());
    p[4..].copy_from_slice(&frame_iv(sequence));
    p
}

/// `FFFFFFFF || u32 seq || IV || u32 len` of the final frame.
pub(crate) fn final_frame_prefix(sequence: u32, len: u32) -> [u8; 24] {
    let mut p = [0u8; 24];
    p[..4].copy_from_slice(&FINAL_MARKER.to_be_bytes());
    p[4..8].copy_from_slice(&sequence.to_be_bytes());
    p[8..20].copy_from_slice(&frame_iv(sequence));
    p[20..].copy_from_slice(&len.to_be_bytes());
    p
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Every frame (or the error) that `parser` reads from `input`, as text, with the state after
    /// each: through `parse_next` (with the shortcut for regular frames) or `parse_any` alone.
    fn read_all(mut parser: BodyParser, mut input: &[u8], shortcut: bool) -> Vec<String> {
        let mut out = Vec::new();
        while !parser.is_done() {
            let parsed = if shortcut {
                parser.parse_next(input)
            } else {
                parser.parse_any(input)
            };
            match parsed {
                Ok((f, n)) => {
                    out.push(format!(
                        "{:?} {} {:?} {:?} {:?} {n} {:?}",
                        f.kind, f.sequence, f.iv, f.ciphertext, f.tag, parser
                    ));
                    input = &input[n..];
                }
                Err(e) => {
                    out.push(format!("{e:?} {parser:?}"));
                    break;
                }
            }
        }
        out
    }

    /// A framed body of `frames` regular frames and a final one of `last` bytes, frame length 8.
    fn body(frames: u32, last: u32) -> Vec<u8> {
        let mut b = Vec::new();
        for s in 1..=frames {
            b.extend_from_slice(&s.to_be_bytes());
            b.extend_from_slice(&[s as u8; 12 + 8 + 16]);
        }
        b.extend_from_slice(&FINAL_MARKER.to_be_bytes());
        b.extend_from_slice(&(frames + 1).to_be_bytes());
        b.extend_from_slice(&[0xee; 12]);
        b.extend_from_slice(&last.to_be_bytes());
        b.extend_from_slice(&vec![0xdd; last as usize + 16]);
        b
    }

    proptest! {
        /// The shortcut for regular frames reads exactly what the full parser reads, errors and
        /// state included, from well-formed bodies cut short or with bytes changed.
        #[test]
        fn shortcut_reads_what_the_full_parser_reads(
            frames in 0u32..5,
            last in 0u32..12,
            cut in any::<prop::sample::Index>(),
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
            next_sequence in prop_oneof![Just(1u32), Just(u32::MAX), any::<u32>()],
        ) {
            let mut input = body(frames, last);
            for (at, x) in flips {
                let i = at.index(input.len());
                input[i] ^= x;
            }
            let input = &input[..cut.index(input.len() + 1)];
            let parser = BodyParser {
                content_type: ContentType::Framed,
                frame_length: 8,
                max_non_framed_len: MAX_NON_FRAMED_LEN,
                next_sequence: if next_sequence == 0 { 1 } else { next_sequence },
                done: false,
            };
            prop_assert_eq!(
                read_all(parser.clone(), input, true),
                read_all(parser, input, false)
            );
        }
    }
}
