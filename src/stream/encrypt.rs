//! Streaming encryption.

use std::io::Write;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::AsyncWrite;
use zeroize::Zeroizing;

use super::io_error;
use crate::engine::Encryptor;
use crate::error::{ConfigError, Error, Limit};

/// What the caller knows of the plaintext length before it starts. The caching materials manager
/// charges data-key usage by it; without a length or a bound, the cache is bypassed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlaintextLength {
    /// Exactly this many bytes will be written; writing more or fewer is an error.
    Exact(u64),
    /// At most this many bytes will be written; writing more is an error.
    AtMost(u64),
    /// Unknown.
    Unknown,
}

impl PlaintextLength {
    fn bound(self) -> Option<u64> {
        match self {
            PlaintextLength::Exact(n) | PlaintextLength::AtMost(n) => Some(n),
            PlaintextLength::Unknown => None,
        }
    }
}

impl MessageEncryptor {
    /// The stream of a message whose header `encryptor` has just written into `out`.
    pub(crate) fn new(encryptor: Encryptor, out: Vec<u8>, length: PlaintextLength) -> Self {
        MessageEncryptor {
            core: EncryptCore {
                frame_length: encryptor.frame_length(),
                encryptor: Some(encryptor),
                pending: Zeroizing::new(Vec::new()),
                out,
                out_pos: 0,
                written: 0,
                length,
            },
        }
    }
}

/// A message whose materials and header are ready; wrap a writer to stream the body.
#[derive(Debug)]
pub struct MessageEncryptor {
    core: EncryptCore,
}

impl MessageEncryptor {
    /// Stream the message into `inner`: a [`Write`] or a tokio [`AsyncWrite`].
    pub fn into_writer<W>(self, inner: W) -> EncryptingWriter<W> {
        EncryptingWriter {
            inner,
            core: self.core,
        }
    }
}

struct EncryptCore {
    encryptor: Option<Encryptor>,
    frame_length: usize,
    /// Plaintext not yet encrypted: at most one frame. A full frame waits here until more input
    /// arrives, because only then is it known not to be the final frame.
    pending: Zeroizing<Vec<u8>>,
    /// Ciphertext not yet written to the inner writer: the header, or one frame.
    out: Vec<u8>,
    out_pos: usize,
    written: u64,
    length: PlaintextLength,
}

impl std::fmt::Debug for EncryptCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptCore")
            .field("frame_length", &self.frame_length)
            .field("written", &self.written)
            .field("finished", &self.encryptor.is_none())
            .finish_non_exhaustive()
    }
}

impl EncryptCore {
    fn unwritten(&self) -> &[u8] {
        &self.out[self.out_pos..]
    }

    fn consumed(&mut self, n: usize) {
        self.out_pos += n;
        if self.out_pos == self.out.len() {
            self.out.clear();
            self.out_pos = 0;
        }
    }

    /// Take plaintext from `data`; call only when `out` is empty. Returns how much was taken
    /// (more than zero when `data` is not empty).
    fn absorb(&mut self, data: &[u8]) -> Result<usize, Error> {
        let encryptor = self.encryptor.as_mut().ok_or_else(|| {
            Error::Config(ConfigError::StreamState(
                "write after the message was finished",
            ))
        })?;
        if let Some(bound) = self.length.bound() {
            if self.written + data.len() as u64 > bound {
                return Err(Error::LimitExceeded(Limit::DeclaredLength {
                    declared: bound,
                }));
            }
        }
        if data.is_empty() {
            return Ok(0);
        }
        if self.pending.len() == self.frame_length {
            encryptor.frame(&self.pending, false, &mut self.out)?;
            self.pending.clear();
        }
        if self.pending.is_empty() && data.len() > self.frame_length {
            // A whole frame with more after it in the same write: it is not the final frame, so
            // it is encrypted straight from the caller's buffer, not copied to `pending` first.
            encryptor.frame(&data[..self.frame_length], false, &mut self.out)?;
            self.written += self.frame_length as u64;
            return Ok(self.frame_length);
        }
        if self.pending.capacity() < self.frame_length {
            self.pending.reserve_exact(self.frame_length);
        }
        let n = data.len().min(self.frame_length - self.pending.len());
        self.pending.extend_from_slice(&data[..n]);
        self.written += n as u64;
        Ok(n)
    }

    /// Encrypt the final frame and the footer into `out`.
    fn finish(&mut self) -> Result<(), Error> {
        let Some(mut encryptor) = self.encryptor.take() else {
            return Ok(());
        };
        if let PlaintextLength::Exact(n) = self.length {
            if self.written != n {
                return Err(Error::Config(ConfigError::ShortStream {
                    written: self.written,
                    declared: n,
                }));
            }
        }
        // A plaintext that fills its last frame ends with an empty final frame, as the Python
        // ESDK writes it: ESDK-Python before 4.0 (which aws-encryption-cli 4.3.0 pins) refuses a
        // final frame as long as the frame length, though the format allows one.
        if !self.pending.is_empty() && self.pending.len() == self.frame_length {
            encryptor.frame(&self.pending, false, &mut self.out)?;
            self.pending.clear();
        }
        encryptor.frame(&self.pending, true, &mut self.out)?;
        self.pending.clear();
        encryptor.finish(&mut self.out)
    }
}

/// Encrypts what is written to it into a message on the inner writer. Memory use is about two
/// frames, whatever the message length.
///
/// The message is complete only after [`finish`](Self::finish) (for `Write`) or `shutdown` (for
/// `AsyncWrite`); dropping the writer before leaves a truncated message that will not decrypt.
#[derive(Debug)]
pub struct EncryptingWriter<W> {
    inner: W,
    core: EncryptCore,
}

impl<W> EncryptingWriter<W> {
    /// The inner writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }
}

impl<W: Write> EncryptingWriter<W> {
    fn drain(&mut self) -> std::io::Result<()> {
        if !self.core.unwritten().is_empty() {
            self.inner.write_all(self.core.unwritten())?;
            let n = self.core.unwritten().len();
            self.core.consumed(n);
        }
        Ok(())
    }

    /// Write the final frame and the signature, flush, and return the inner writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.drain()?;
        self.core.finish().map_err(io_error)?;
        self.drain()?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for EncryptingWriter<W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.drain()?;
        let n = self.core.absorb(data).map_err(io_error)?;
        self.drain()?;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.drain()?;
        self.inner.flush()
    }
}

impl<W: AsyncWrite + Unpin> EncryptingWriter<W> {
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        while !self.core.unwritten().is_empty() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, self.core.unwritten()))?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            self.core.consumed(n);
        }
        Poll::Ready(Ok(()))
    }
}

impl<W: AsyncWrite + Unpin> AsyncWrite for EncryptingWriter<W> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        // The frame this may complete is written on the next call, or by flush or shutdown.
        Poll::Ready(this.core.absorb(data).map_err(io_error))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        if this.core.encryptor.is_some() {
            this.core.finish().map_err(io_error)?;
            ready!(this.poll_drain(cx))?;
        }
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}
