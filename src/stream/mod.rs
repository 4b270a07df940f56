//! Streaming encryption and decryption with memory bounded by the frame length.
//!
//! Both directions come in two flavours over the same state machines: `std::io` ([`Read`] and
//! [`Write`](std::io::Write)) and tokio ([`AsyncRead`](tokio::io::AsyncRead) and
//! [`AsyncWrite`](tokio::io::AsyncWrite)).
//!
//! Getting materials is asynchronous (a keyring may call a service), reading and writing bytes is
//! not necessarily, so a stream is set up in steps that keep the two apart:
//!
//! * **Encrypt:** [`Client::encryptor`] gets the materials and prepares the header (async); the
//!   returned [`MessageEncryptor`] wraps a `Write` or an `AsyncWrite`
//!   ([`MessageEncryptor::into_writer`]). Call [`EncryptingWriter::finish`] (or shut the async
//!   writer down) to write the final frame and the signature.
//! * **Decrypt:** [`PendingMessage::read`] (blocking I/O) or [`PendingMessage::read_async`] reads the
//!   header; [`PendingMessage::decrypt`] gets the materials and authenticates the header (async);
//!   the [`DecryptingReader`] it returns is a `Read` or an `AsyncRead` of the plaintext.
//!
//! A caller without an async runtime drives the one async step with a runtime of its own, e.g.
//! `tokio::runtime::Builder::new_current_thread().build()?.block_on(pending.decrypt(..))`, and
//! does the I/O on its own thread. Never do that from inside async code: there, `.await` it.
//!
//! # What is released, and when
//! Nothing before the header tag verifies. Each frame after its tag verifies. For signed suites the
//! final frame is withheld until the signature verifies. Until the reader has returned end of
//! stream (`Ok(0)`), everything it released is **unauthenticated as a whole**: a truncated or
//! tampered stream ends in an error, and a caller that must never act on such data should use
//! [`DecryptOptions::unsigned_only`](crate::DecryptOptions::unsigned_only) with unsigned suites, or buffer until the end.
//!
//! [`Client::encryptor`]: crate::Client::encryptor
//! [`Read`]: std::io::Read

mod decrypt;
mod encrypt;

pub use decrypt::{DecryptingReader, PendingMessage};
pub use encrypt::{EncryptingWriter, MessageEncryptor, PlaintextLength};

use crate::error::Error;

/// Turn a sealbox error into an `io::Error` that keeps it as the inner error, so a caller can
/// `downcast` it back.
pub(crate) fn io_error(e: Error) -> std::io::Error {
    let kind = match &e {
        Error::Io(io) => io.kind(),
        Error::Truncated(_) | Error::EmptyMessage => std::io::ErrorKind::UnexpectedEof,
        Error::Config(_) | Error::LimitExceeded(_) => std::io::ErrorKind::InvalidInput,
        _ => std::io::ErrorKind::InvalidData,
    };
    std::io::Error::new(kind, e)
}
