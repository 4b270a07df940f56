//! Streaming decryption.

use std::io::Read;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};
use zeroize::{Zeroize, Zeroizing};

use super::io_error;
use crate::cmm::MaterialsManager;
use crate::engine::Decryptor;
use crate::error::{ConfigError, Error};
use crate::format::{parse_header, BodyParser, FrameKind, MessageHeader};
use crate::{Client, DecryptOptions};

/// How much is read from the inner reader at a time.
const READ_CHUNK: usize = 64 * 1024;

/// A message whose header has been read but not yet authenticated. Inspect the header, then
/// [`decrypt`](Self::decrypt).
#[derive(Debug)]
pub struct PendingMessage<R> {
    header: MessageHeader,
    /// The header bytes followed by whatever was read past them.
    buffer: Vec<u8>,
    header_len: usize,
    inner: R,
}

impl<R> PendingMessage<R> {
    /// The parsed, not yet authenticated header.
    pub fn header(&self) -> &MessageHeader {
        &self.header
    }

    /// The header, or `None` if `buffer` ends inside it and more should be read. A header longer
    /// than the client's maximum fails once that many bytes are in.
    fn try_parse(client: &Client, buffer: &[u8]) -> Result<Option<(MessageHeader, usize)>, Error> {
        match parse_header(buffer, &client.header_limits(true)) {
            Ok(h) => Ok(Some(h)),
            Err(Error::Truncated(_) | Error::EmptyMessage) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// How much to read next while looking for the end of the header: as much again as is
    /// buffered (at least 4 KiB), so that a long header is parsed a logarithmic number of times,
    /// but never more than the header limit allows.
    fn next_read_len(client: &Client, buffered: usize) -> usize {
        let room = client.max_header_length().saturating_sub(buffered).max(1);
        buffered.max(4096).min(room)
    }

    /// Get materials from `cmm`, check the key commitment and the header tag, and return a reader
    /// of the plaintext.
    pub async fn decrypt(
        self,
        client: &Client,
        cmm: &dyn MaterialsManager,
        options: &DecryptOptions,
    ) -> Result<DecryptingReader<R>, Error> {
        let mut header = self.header;
        let materials = client
            .decryption_materials(cmm, &mut header, options)
            .await?;
        let decryptor = Decryptor::new(&header, &self.buffer[..self.header_len], &materials)?;
        let input = self.buffer;
        Ok(DecryptingReader {
            inner: self.inner,
            core: DecryptCore {
                parser: BodyParser::new(&header)
                    .with_max_non_framed_length(client.max_stream_frame_length().into()),
                signed: header.suite.signature().is_some(),
                header,
                decryptor: Some(decryptor),
                input_end: input.len(),
                input,
                input_pos: self.header_len,
                plaintext: Zeroizing::new(Vec::new()),
                plaintext_pos: 0,
                releasable: 0,
                eof: false,
                state: State::Body,
            },
        })
    }
}

impl<R: Read> PendingMessage<R> {
    /// Read the header from `inner` with blocking I/O.
    pub fn read(client: &Client, mut inner: R) -> Result<Self, Error> {
        let mut buffer = Vec::new();
        loop {
            if let Some((header, header_len)) = Self::try_parse(client, &buffer)? {
                return Ok(PendingMessage {
                    header,
                    buffer,
                    header_len,
                    inner,
                });
            }
            let start = buffer.len();
            buffer.resize(start + Self::next_read_len(client, start), 0);
            let n = inner.read(&mut buffer[start..]);
            buffer.truncate(start + *n.as_ref().unwrap_or(&0));
            if n? == 0 {
                return Err(if buffer.is_empty() {
                    Error::EmptyMessage
                } else {
                    Error::Truncated("message header")
                });
            }
        }
    }
}

impl<R: AsyncRead + Unpin> PendingMessage<R> {
    /// Read the header from `inner`.
    pub async fn read_async(client: &Client, mut inner: R) -> Result<Self, Error> {
        let mut buffer = Vec::new();
        loop {
            if let Some((header, header_len)) = Self::try_parse(client, &buffer)? {
                return Ok(PendingMessage {
                    header,
                    buffer,
                    header_len,
                    inner,
                });
            }
            let start = buffer.len();
            buffer.resize(start + Self::next_read_len(client, start), 0);
            let n = inner.read(&mut buffer[start..]).await;
            buffer.truncate(start + *n.as_ref().unwrap_or(&0));
            if n? == 0 {
                return Err(if buffer.is_empty() {
                    Error::EmptyMessage
                } else {
                    Error::Truncated("message header")
                });
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Body,
    /// The last frame is decrypted and held back until the signature verifies.
    Footer,
    /// Everything verified; the inner reader must be at its end.
    Trailer,
    Done,
    Failed,
}

struct DecryptCore {
    header: MessageHeader,
    parser: BodyParser,
    decryptor: Option<Decryptor>,
    signed: bool,
    /// Read buffer: `input[input_pos..input_end]` is read and not yet consumed; the rest is room
    /// for reads, zeroed once when the buffer grows rather than at every read.
    input: Vec<u8>,
    input_pos: usize,
    input_end: usize,
    plaintext: Zeroizing<Vec<u8>>,
    plaintext_pos: usize,
    /// How much of `plaintext` may be handed out.
    releasable: usize,
    eof: bool,
    state: State,
}

enum Step {
    /// Plaintext is available, or the stream ended.
    Ready,
    /// More input is needed.
    NeedInput,
}

impl DecryptCore {
    fn buffered(&self) -> &[u8] {
        &self.input[self.input_pos..self.input_end]
    }

    /// Make progress with the input at hand.
    fn step(&mut self) -> Result<Step, Error> {
        if self.plaintext_pos < self.releasable {
            return Ok(Step::Ready);
        }
        match self.state {
            State::Done => Ok(Step::Ready),
            State::Failed => Err(Error::Config(ConfigError::StreamState(
                "the stream failed earlier; nothing more is released",
            ))),
            State::Body => {
                let decryptor = self.decryptor.as_mut().ok_or_else(|| {
                    Error::Config(ConfigError::Internal("decryptor already finished"))
                })?;
                let (frame, n) = match self
                    .parser
                    .parse_next(&self.input[self.input_pos..self.input_end])
                {
                    Ok(x) => x,
                    Err(Error::Truncated(what)) => return self.need_more(what),
                    Err(e) => return Err(e),
                };
                self.plaintext.clear();
                self.plaintext_pos = 0;
                let wire = &self.input[self.input_pos..self.input_pos + n];
                decryptor.frame(wire, &frame, &mut self.plaintext)?;
                let last = frame.kind.is_last();
                let kind = frame.kind;
                self.input_pos += n;
                if last && self.signed {
                    // Withheld until the signature verifies.
                    self.releasable = 0;
                    self.state = State::Footer;
                } else {
                    self.releasable = self.plaintext.len();
                    if last {
                        self.state = State::Trailer;
                    }
                }
                debug_assert!(kind != FrameKind::Regular || !last);
                Ok(Step::Ready)
            }
            State::Footer => {
                let decryptor = self.decryptor.take().ok_or_else(|| {
                    Error::Config(ConfigError::Internal("decryptor already finished"))
                })?;
                let footer = &self.input[self.input_pos..self.input_end];
                // Parse the length first so a partial footer waits for more input.
                if footer.len() < 2
                    || footer.len() < 2 + u16::from_be_bytes([footer[0], footer[1]]) as usize
                {
                    self.decryptor = Some(decryptor);
                    return self.need_more("signature");
                }
                let n = decryptor.finish(footer)?;
                self.input_pos += n;
                self.releasable = self.plaintext.len();
                self.state = State::Trailer;
                Ok(Step::Ready)
            }
            State::Trailer => {
                if !self.buffered().is_empty() {
                    return Err(Error::TrailingBytes(self.buffered().len()));
                }
                if !self.eof {
                    return Ok(Step::NeedInput);
                }
                self.state = State::Done;
                Ok(Step::Ready)
            }
        }
    }

    fn need_more(&self, what: &'static str) -> Result<Step, Error> {
        if self.eof {
            Err(Error::Truncated(what))
        } else {
            Ok(Step::NeedInput)
        }
    }

    /// Room for the next read, compacting consumed input first so the buffer stays about one
    /// frame long. Only newly grown room is zeroed: a reader that hands out a byte at a time costs
    /// a byte's work per read, not a chunk's.
    fn input_space(&mut self) -> &mut [u8] {
        if self.input_pos > 0 {
            self.input.copy_within(self.input_pos..self.input_end, 0);
            self.input_end -= self.input_pos;
            self.input_pos = 0;
        }
        let end = self.input_end + READ_CHUNK;
        if self.input.len() < end {
            self.input.resize(end, 0);
        }
        &mut self.input[self.input_end..end]
    }

    fn filled(&mut self, n: usize) {
        self.input_end += n;
        if n == 0 {
            self.eof = true;
        }
    }

    /// Copy released plaintext into `buf`.
    fn copy_out(&mut self, buf: &mut [u8]) -> usize {
        let n = buf.len().min(self.releasable - self.plaintext_pos);
        buf[..n].copy_from_slice(&self.plaintext[self.plaintext_pos..self.plaintext_pos + n]);
        self.plaintext_pos += n;
        n
    }

    fn fail(&mut self, e: Error) -> std::io::Error {
        self.state = State::Failed;
        // Withheld plaintext of a failed message is wiped now (all of the buffer's capacity), not
        // when the reader is dropped, and never released.
        self.plaintext.zeroize();
        self.releasable = 0;
        self.plaintext_pos = 0;
        io_error(e)
    }
}

/// Reads the plaintext of a message from an inner reader ([`Read`] or tokio [`AsyncRead`]),
/// holding at most about one frame of it. See the [crate docs](crate#streaming) for what is
/// released when. Errors come as `io::Error`s whose inner error is a [`crate::Error`].
pub struct DecryptingReader<R> {
    inner: R,
    core: DecryptCore,
}

impl<R> std::fmt::Debug for DecryptingReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecryptingReader")
            .field("suite", &self.core.header.suite)
            .field("state", &self.core.state)
            .finish_non_exhaustive()
    }
}

impl<R> DecryptingReader<R> {
    /// The authenticated header.
    pub fn header(&self) -> &MessageHeader {
        &self.core.header
    }

    /// Whether the whole message, signature included, has been verified: true once the reader
    /// has returned end of stream.
    pub fn is_verified(&self) -> bool {
        self.core.state == State::Done
    }
}

impl<R: Read> Read for DecryptingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match self.core.step() {
                Ok(Step::Ready)
                    if self.core.state == State::Done
                        && self.core.plaintext_pos >= self.core.releasable =>
                {
                    return Ok(0)
                }
                Ok(Step::Ready) => {
                    let n = self.core.copy_out(buf);
                    if n > 0 {
                        return Ok(n);
                    }
                }
                Ok(Step::NeedInput) => {
                    let space = self.core.input_space();
                    let n = self.inner.read(space)?;
                    self.core.filled(n);
                }
                Err(e) => return Err(self.core.fail(e)),
            }
        }
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for DecryptingReader<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            match this.core.step() {
                Ok(Step::Ready)
                    if this.core.state == State::Done
                        && this.core.plaintext_pos >= this.core.releasable =>
                {
                    return Poll::Ready(Ok(()))
                }
                Ok(Step::Ready) => {
                    let n = this.core.copy_out(buf.initialize_unfilled());
                    if n > 0 {
                        buf.advance(n);
                        return Poll::Ready(Ok(()));
                    }
                }
                Ok(Step::NeedInput) => {
                    let mut rb = ReadBuf::new(this.core.input_space());
                    ready!(Pin::new(&mut this.inner).poll_read(cx, &mut rb))?;
                    let n = rb.filled().len();
                    this.core.filled(n);
                }
                Err(e) => return Poll::Ready(Err(this.core.fail(e))),
            }
        }
    }
}
