//! The client: policy, frame length and limits, and one-shot encrypt and decrypt.

use zeroize::Zeroizing;

use crate::cmm::{check_no_reserved_keys, DecryptionRequest, EncryptionRequest, MaterialsManager};
use crate::codec::{Decryptor, Encryptor};
use crate::error::Error;
use crate::format::{
    parse_header, BodyParser, EncryptionContext, HeaderLimits, MessageHeader,
    DEFAULT_MAX_FRAME_LENGTH, DEFAULT_MAX_HEADER_LENGTH,
};
use crate::suite::{AlgorithmSuite, CommitmentPolicy};

/// The default frame length, as in every ESDK.
pub const DEFAULT_FRAME_LENGTH: u32 = 4096;

/// The largest frame length a streamed decryption accepts unless
/// [`ClientBuilder::max_frame_length`] says otherwise: 64 MiB. A stream holds one whole frame
/// (or the whole body of a non-framed message) before it can authenticate it, so this bounds its
/// memory. One-shot decryption never allocates by the frame length, only by the input it is
/// given, and accepts up to 2^31 - 1 by default, like every ESDK.
pub const DEFAULT_STREAM_MAX_FRAME_LENGTH: u32 = 64 << 20;

/// Encrypts and decrypts messages. Cheap to clone and to share; it holds configuration only.
///
/// ```
/// # tokio_test_block_on(async {
/// use sealbox::{Client, CommitmentPolicy};
/// let client = Client::builder()
///     .commitment_policy(CommitmentPolicy::RequireEncryptRequireDecrypt)
///     .frame_length(4096)
///     .max_encrypted_data_keys(3)
///     .build()?;
/// # Ok::<(), sealbox::Error>(())
/// # });
/// # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
/// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    policy: CommitmentPolicy,
    frame_length: u32,
    max_encrypted_data_keys: Option<u16>,
    max_header_length: usize,
    max_frame_length: Option<u32>,
    suite: Option<AlgorithmSuite>,
}

impl Default for Client {
    fn default() -> Self {
        Client {
            policy: CommitmentPolicy::default(),
            frame_length: DEFAULT_FRAME_LENGTH,
            max_encrypted_data_keys: None,
            max_header_length: DEFAULT_MAX_HEADER_LENGTH,
            max_frame_length: None,
            suite: None,
        }
    }
}

/// Builds a [`Client`].
#[derive(Clone, Debug, Default)]
pub struct ClientBuilder {
    client: Client,
}

impl ClientBuilder {
    /// The commitment policy (default: require commitment on encrypt and decrypt).
    pub fn commitment_policy(mut self, policy: CommitmentPolicy) -> Self {
        self.client.policy = policy;
        self
    }

    /// Plaintext bytes per frame (default 4096; at most 2^31 - 1, which every ESDK can read).
    pub fn frame_length(mut self, frame_length: u32) -> Self {
        self.client.frame_length = frame_length;
        self
    }

    /// The most encrypted data keys a message may carry, on encrypt and decrypt (default: no
    /// limit but the header length, as in every ESDK). Decrypt checks it as soon as the header's
    /// EDK count is read, before it parses or unwraps any of them.
    ///
    /// Set it when decrypting messages from untrusted sources with a keyring whose unwrap attempts
    /// are expensive (RSA, a remote service): without it a 1 MiB header can make a keyring try
    /// thousands of encrypted data keys.
    pub fn max_encrypted_data_keys(mut self, max: u16) -> Self {
        self.client.max_encrypted_data_keys = Some(max);
        self
    }

    /// The longest message header decrypt accepts, in bytes (default 1 MiB,
    /// [`DEFAULT_MAX_HEADER_LENGTH`](crate::format::DEFAULT_MAX_HEADER_LENGTH)). A stream reads at
    /// most this much before it gives up on a header; one-shot decryption refuses a longer one
    /// before it calls the materials manager.
    pub fn max_header_length(mut self, max: usize) -> Self {
        self.client.max_header_length = max;
        self
    }

    /// The largest frame length decrypt accepts, in bytes, one-shot and streamed alike; it bounds
    /// the body of a non-framed message in a stream too. Checked when the header is read, before
    /// any key is unwrapped. Default: 2^31 - 1 for one-shot decryption (whose memory the input
    /// already bounds) and [`DEFAULT_STREAM_MAX_FRAME_LENGTH`] (64 MiB) for streams, which hold a
    /// frame at a time.
    pub fn max_frame_length(mut self, max: u32) -> Self {
        self.client.max_frame_length = Some(max);
        self
    }

    /// The suite to encrypt with (default: the commitment policy's default, 0x0578).
    pub fn algorithm_suite(mut self, suite: AlgorithmSuite) -> Self {
        self.client.suite = Some(suite);
        self
    }

    /// Check the configuration and build the client.
    pub fn build(self) -> Result<Client, Error> {
        let c = self.client;
        if c.frame_length == 0 || c.frame_length > i32::MAX as u32 {
            return Err(Error::Config(format!(
                "frame length must be between 1 and 2^31 - 1, not {}",
                c.frame_length
            )));
        }
        if c.max_header_length == 0 {
            return Err(Error::Config(
                "the maximum header length must be at least 1".into(),
            ));
        }
        if c.max_frame_length == Some(0) {
            return Err(Error::Config(
                "the maximum frame length must be at least 1".into(),
            ));
        }
        if c.max_encrypted_data_keys == Some(0) {
            return Err(Error::Config(
                "the maximum number of encrypted data keys must be at least 1".into(),
            ));
        }
        if let Some(suite) = c.suite {
            if !c.policy.allows_encrypt(suite) {
                return Err(Error::PolicyViolation {
                    policy: c.policy,
                    suite,
                    operation: "encrypt",
                });
            }
        }
        Ok(c)
    }
}

/// A decrypted message: the plaintext and what the header said.
#[derive(Debug)]
#[non_exhaustive]
pub struct Decrypted {
    /// The plaintext, released only after every check passed.
    pub plaintext: Vec<u8>,
    /// The parsed header: suite, message ID, stored context, EDKs, framing.
    pub header: MessageHeader,
    /// The full encryption context: the stored entries plus any required ones supplied.
    pub encryption_context: EncryptionContext,
}

impl Client {
    /// A client with the defaults: commitment required, suite 0x0578, 4096-byte frames.
    pub fn new() -> Self {
        Client::default()
    }

    /// A builder for the commitment policy, frame length, EDK limit and suite.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// The commitment policy.
    pub fn commitment_policy(&self) -> CommitmentPolicy {
        self.policy
    }

    /// The frame length used to encrypt.
    pub fn frame_length(&self) -> u32 {
        self.frame_length
    }

    /// The most encrypted data keys decrypt accepts, if limited.
    pub fn max_encrypted_data_keys(&self) -> Option<u16> {
        self.max_encrypted_data_keys
    }

    /// The longest header decrypt accepts.
    pub fn max_header_length(&self) -> usize {
        self.max_header_length
    }

    /// The largest frame length one-shot decryption accepts.
    pub fn max_frame_length(&self) -> u32 {
        self.max_frame_length.unwrap_or(DEFAULT_MAX_FRAME_LENGTH)
    }

    /// The largest frame length (and non-framed body) streamed decryption accepts.
    pub fn max_stream_frame_length(&self) -> u32 {
        self.max_frame_length
            .unwrap_or(DEFAULT_STREAM_MAX_FRAME_LENGTH)
    }

    /// The limits a header is parsed with, one-shot or streamed.
    pub(crate) fn header_limits(&self, streaming: bool) -> HeaderLimits {
        HeaderLimits {
            max_encrypted_data_keys: self.max_encrypted_data_keys,
            max_header_length: self.max_header_length,
            max_frame_length: if streaming {
                self.max_stream_frame_length()
            } else {
                self.max_frame_length()
            },
        }
    }

    pub(crate) async fn encryption_materials(
        &self,
        cmm: &dyn MaterialsManager,
        encryption_context: &EncryptionContext,
        plaintext_length: Option<u64>,
        max_plaintext_length: Option<u64>,
    ) -> Result<crate::materials::EncryptionMaterials, Error> {
        check_no_reserved_keys(encryption_context)?;
        let mut request = EncryptionRequest::new(encryption_context.clone(), self.policy);
        request.suite = self.suite;
        request.plaintext_length = plaintext_length;
        request.max_plaintext_length = max_plaintext_length;
        let materials = cmm.get_encryption_materials(&request).await?;
        // The materials manager is pluggable: check what it returned against the policy.
        if !self.policy.allows_encrypt(materials.suite) {
            return Err(Error::PolicyViolation {
                policy: self.policy,
                suite: materials.suite,
                operation: "encrypt",
            });
        }
        if let Some(max) = self.max_encrypted_data_keys {
            if materials.encrypted_data_keys.len() > max as usize {
                return Err(Error::TooManyEncryptedDataKeys {
                    count: materials.encrypted_data_keys.len(),
                    max,
                });
            }
        }
        Ok(materials)
    }

    /// Encrypt `plaintext` under materials from `cmm`, binding `encryption_context`.
    pub async fn encrypt(
        &self,
        cmm: &dyn MaterialsManager,
        plaintext: &[u8],
        encryption_context: &EncryptionContext,
    ) -> Result<Vec<u8>, Error> {
        let materials = self
            .encryption_materials(cmm, encryption_context, Some(plaintext.len() as u64), None)
            .await?;
        let fl = self.frame_length as usize;
        let frames = plaintext.len() / fl + 1;
        let mut out = Vec::with_capacity(1024 + plaintext.len() + frames * 40 + 110);
        let mut enc = Encryptor::start(materials, self.frame_length, &mut out)?;
        let mut chunks = plaintext.chunks(fl).peekable();
        if chunks.peek().is_none() {
            enc.frame(&[], true, &mut out)?;
        }
        while let Some(chunk) = chunks.next() {
            enc.frame(chunk, chunks.peek().is_none(), &mut out)?;
        }
        enc.finish(&mut out)?;
        Ok(out)
    }

    /// Decrypt `message` with materials from `cmm`. Returns nothing unless the commitment, the
    /// header tag, every frame tag and the signature all verify.
    pub async fn decrypt(
        &self,
        cmm: &dyn MaterialsManager,
        message: &[u8],
    ) -> Result<Decrypted, Error> {
        self.decrypt_inner(cmm, message, None).await
    }

    /// Like [`decrypt`](Self::decrypt), supplying the encryption context the caller expects:
    /// stored entries must match it, and required entries that the message does not store are
    /// taken from it.
    pub async fn decrypt_with_context(
        &self,
        cmm: &dyn MaterialsManager,
        message: &[u8],
        encryption_context: &EncryptionContext,
    ) -> Result<Decrypted, Error> {
        self.decrypt_inner(cmm, message, Some(encryption_context))
            .await
    }

    pub(crate) async fn decryption_materials(
        &self,
        cmm: &dyn MaterialsManager,
        header: &MessageHeader,
        reproduced: Option<&EncryptionContext>,
    ) -> Result<crate::materials::DecryptionMaterials, Error> {
        if !self.policy.allows_decrypt(header.suite) {
            return Err(Error::PolicyViolation {
                policy: self.policy,
                suite: header.suite,
                operation: "decrypt",
            });
        }
        let mut request = DecryptionRequest::new(
            header.suite,
            self.policy,
            header.encrypted_data_keys.clone(),
            header.encryption_context.clone(),
        );
        request.reproduced_encryption_context = reproduced.cloned();
        cmm.decrypt_materials(&request).await
    }

    async fn decrypt_inner(
        &self,
        cmm: &dyn MaterialsManager,
        message: &[u8],
        reproduced: Option<&EncryptionContext>,
    ) -> Result<Decrypted, Error> {
        let (header, header_len) = parse_header(message, &self.header_limits(false))?;
        let materials = self.decryption_materials(cmm, &header, reproduced).await?;
        let mut dec = Decryptor::new(&header, &message[..header_len], &materials)?;
        let mut parser = BodyParser::new(&header);
        // Wiped if anything fails, so no plaintext of a rejected message outlives the call.
        let mut plaintext = Zeroizing::new(Vec::with_capacity(message.len()));
        let mut pos = header_len;
        while !parser.is_done() {
            let (frame, n) = parser.parse_next(&message[pos..])?;
            dec.frame(&message[pos..pos + n], &frame, &mut plaintext)?;
            pos += n;
        }
        pos += dec.finish(&message[pos..])?;
        if pos != message.len() {
            return Err(Error::TrailingBytes(message.len() - pos));
        }
        Ok(Decrypted {
            plaintext: std::mem::take(&mut *plaintext),
            header,
            encryption_context: materials.encryption_context,
        })
    }
}
