//! Streaming encryption and decryption with memory bounded by the frame length: the state
//! machines and their `std::io` and tokio adapters. What a stream releases, and when, is stated in
//! the crate docs (`# Streaming`, in `src/lib.rs`).

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
