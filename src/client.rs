//! The client: policy, frame length and limits, and one-shot encrypt and decrypt.

use zeroize::{Zeroize, Zeroizing};

use crate::cmm::{check_no_reserved_keys, DecryptionRequest, EncryptionRequest, MaterialsManager};
use crate::engine::{body_len, message_len_hint, Decryptor, Encryptor};
use crate::error::{ConfigError, Error, Limit};
use crate::format::{
    parse_header, BodyParser, EncryptionContext, HeaderLimits, MessageHeader,
    DEFAULT_MAX_FRAME_LENGTH, DEFAULT_MAX_HEADER_LENGTH,
};
use crate::stream::{MessageEncryptor, PlaintextLength};
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
            return Err(Error::invalid(
                "frame length",
                format!("must be between 1 and 2^31 - 1, not {}", c.frame_length),
            ));
        }
        if c.max_header_length == 0 {
            return Err(Error::invalid(
                "maximum header length",
                "must be at least 1",
            ));
        }
        if c.max_frame_length == Some(0) {
            return Err(Error::invalid("maximum frame length", "must be at least 1"));
        }
        if c.max_encrypted_data_keys == Some(0) {
            return Err(Error::invalid(
                "maximum number of encrypted data keys",
                "must be at least 1",
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

/// What a verified message's header said, from [`Client::decrypt_into`].
#[derive(Debug)]
#[non_exhaustive]
pub struct MessageInfo {
    /// The parsed header: suite, message ID, stored context, EDKs, framing.
    pub header: MessageHeader,
    /// The full encryption context: the stored entries plus any required ones supplied.
    pub encryption_context: EncryptionContext,
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

/// Options of a decryption, one-shot ([`Client::decrypt_with`]) or streamed
/// ([`PendingMessage::decrypt`](crate::PendingMessage::decrypt)).
#[derive(Clone, Debug, Default)]
pub struct DecryptOptions {
    reproduced_context: Option<EncryptionContext>,
    unsigned_only: bool,
}

impl DecryptOptions {
    /// Options with no reproduced context, signed messages allowed.
    pub fn new() -> Self {
        Self::default()
    }

    /// The encryption context the caller expects: entries the message stores must match it, and
    /// required entries that the message does not store (see
    /// [`RequiredEncryptionContextCmm`](crate::RequiredEncryptionContextCmm)) are taken from it.
    pub fn reproduced_context(mut self, context: EncryptionContext) -> Self {
        self.reproduced_context = Some(context);
        self
    }

    /// Refuse signed messages right after the header, before any key is unwrapped. With an
    /// unsigned suite every released frame has been authenticated on its own, so a caller that
    /// acts on streamed plaintext as it arrives never acts on forged data (a truncation still
    /// shows only as an error at the end).
    pub fn unsigned_only(mut self, yes: bool) -> Self {
        self.unsigned_only = yes;
        self
    }
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
        let mut out = Vec::new();
        self.encrypt_into(cmm, plaintext, encryption_context, &mut out)
            .await?;
        Ok(out)
    }

    /// Like [`encrypt`](Self::encrypt), appending the message to `out`. Reusing one buffer for
    /// many messages saves an allocation per message and, for large messages, the page faults of
    /// fresh memory, which cost about as much as encrypting. On error `out` is left as it was.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use sealbox::{Client, DefaultCmm, EncryptionContext, RawAesKeyring};
    /// let cmm = DefaultCmm::new(RawAesKeyring::new("ns", "k", vec![1u8; 32].into())?);
    /// let (client, context) = (Client::new(), EncryptionContext::new());
    /// let (mut message, mut plaintext) = (Vec::new(), Vec::new());
    /// for text in [&b"one"[..], b"two"] {
    ///     message.clear();
    ///     client.encrypt_into(&cmm, text, &context, &mut message).await?;
    ///     plaintext.clear();
    ///     client.decrypt_into(&cmm, &message, &mut plaintext).await?;
    ///     assert_eq!(plaintext, text);
    /// }
    /// # Ok::<(), sealbox::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn encrypt_into(
        &self,
        cmm: &dyn MaterialsManager,
        plaintext: &[u8],
        encryption_context: &EncryptionContext,
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let materials = self
            .encryption_materials(cmm, encryption_context, Some(plaintext.len() as u64), None)
            .await?;
        let start = out.len();
        out.reserve(message_len_hint(
            &materials,
            plaintext.len(),
            self.frame_length as usize,
        ));
        let result = self.write_message(materials, plaintext, out);
        if result.is_err() {
            out.truncate(start);
        }
        result
    }

    /// Encrypt the plaintext in `buffer` in place: on success `buffer` holds the message. The
    /// data goes through memory once, where [`encrypt_into`](Self::encrypt_into) reads the
    /// plaintext and writes the message elsewhere: that matters for messages larger than the
    /// processor's caches. `buffer` grows by the header and frame overhead (reserve room to avoid
    /// a reallocation). If materials cannot be had, `buffer` is left as it was; an error after
    /// encryption began (which needs a broken signer) leaves it empty.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use sealbox::{Client, DefaultCmm, EncryptionContext, RawAesKeyring};
    /// let cmm = DefaultCmm::new(RawAesKeyring::new("ns", "k", vec![1u8; 32].into())?);
    /// let client = Client::new();
    /// let mut buffer = b"attack at dawn".to_vec();
    /// client.encrypt_in_place(&cmm, &EncryptionContext::new(), &mut buffer).await?;
    /// client.decrypt_in_place(&cmm, &mut buffer).await?;
    /// assert_eq!(buffer, b"attack at dawn");
    /// # Ok::<(), sealbox::Error>(())
    /// # }).unwrap();
    /// ```
    pub async fn encrypt_in_place(
        &self,
        cmm: &dyn MaterialsManager,
        encryption_context: &EncryptionContext,
        buffer: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let len = buffer.len();
        let materials = self
            .encryption_materials(cmm, encryption_context, Some(len as u64), None)
            .await?;
        let fl = self.frame_length as usize;
        // Every frame but the last is full; the last holds 0 to `fl` bytes.
        let regular = len.saturating_sub(1) / fl;
        if regular >= u32::MAX as usize {
            return Err(Error::LimitExceeded(Limit::FrameCount));
        }
        let mut header = Vec::with_capacity(256);
        let mut enc = Encryptor::start(materials, self.frame_length, &mut header)?;
        let h = header.len();
        let frames_end = h + body_len(len, fl, false);
        // Room for the whole message, the longest signature included.
        buffer.reserve(h + enc.body_len(len) - len);
        // Back to front. Each frame lands further right than its plaintext was (by the header and
        // the overhead of the frames before it, 32 bytes a frame: half a MiB for 64 MiB in 4 KiB
        // frames), onto plaintext of the frames after it, which are already sealed. So each frame
        // is sealed straight from where its plaintext lies onto its place, out of place: every
        // byte is read from memory once and written once, as by the AEAD in place, and nothing
        // else is copied. The lines written are those read a gap ago, whatever the size of the
        // processor's caches. (Front to back needs a copy of the plaintext a gap ahead, which
        // measured slower as soon as the gap outgrew the L2 cache.) Only the first frames, while
        // the gap is shorter than a frame, overlap their own place: they are sealed from a copy.
        // The new end is zeroed first; the last frames overwrite it while it is in cache.
        buffer.resize(frames_end, 0);
        let mut copy = Zeroizing::new(Vec::new());
        for i in (0..=regular).rev() {
            let last = i == regular;
            let (n, prefix) = if last { (len - i * fl, 24) } else { (fl, 16) };
            let (from, at) = (i * fl, h + i * (fl + 32));
            let end = at + prefix + n + 16;
            let sequence = i as u32 + 1;
            let sealed = if from + n <= at {
                let (front, rest) = buffer.split_at_mut(at);
                enc.frame_from(
                    sequence,
                    last,
                    &front[from..from + n],
                    &mut rest[..end - at],
                )
            } else {
                copy.clear();
                copy.extend_from_slice(&buffer[from..from + n]);
                enc.frame_from(sequence, last, &copy, &mut buffer[at..end])
            };
            if let Err(e) = sealed {
                buffer.zeroize();
                buffer.clear();
                return Err(e);
            }
        }
        buffer[..h].copy_from_slice(&header);
        // The signature hashes the frames in order: once they are all in place.
        enc.hash_frames(&buffer[h..frames_end]);
        if let Err(e) = enc.finish(buffer) {
            buffer.clear();
            return Err(e);
        }
        Ok(())
    }

    /// Start a streamed message: get materials from `cmm` and prepare the header. Wrap a writer
    /// with [`MessageEncryptor::into_writer`].
    pub async fn encryptor(
        &self,
        cmm: &dyn MaterialsManager,
        encryption_context: &EncryptionContext,
        length: PlaintextLength,
    ) -> Result<MessageEncryptor, Error> {
        let (exact, bound) = match length {
            PlaintextLength::Exact(n) => (Some(n), None),
            PlaintextLength::AtMost(n) => (None, Some(n)),
            PlaintextLength::Unknown => (None, None),
        };
        let materials = self
            .encryption_materials(cmm, encryption_context, exact, bound)
            .await?;
        let mut out = Vec::with_capacity(1024);
        let encryptor = Encryptor::start(materials, self.frame_length(), &mut out)?;
        Ok(MessageEncryptor::new(encryptor, out, length))
    }

    fn write_message(
        &self,
        materials: crate::materials::EncryptionMaterials,
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let mut enc = Encryptor::start(materials, self.frame_length, out)?;
        out.reserve(enc.body_len(plaintext.len()));
        let mut chunks = plaintext.chunks(self.frame_length as usize).peekable();
        if chunks.peek().is_none() {
            enc.frame(&[], true, out)?;
        }
        while let Some(chunk) = chunks.next() {
            enc.frame(chunk, chunks.peek().is_none(), out)?;
        }
        enc.finish(out)
    }

    /// Decrypt `message` with materials from `cmm`. Returns nothing unless the commitment, the
    /// header tag, every frame tag and the signature all verify.
    pub async fn decrypt(
        &self,
        cmm: &dyn MaterialsManager,
        message: &[u8],
    ) -> Result<Decrypted, Error> {
        self.decrypt_with(cmm, message, &DecryptOptions::new())
            .await
    }

    /// Like [`decrypt`](Self::decrypt), appending the plaintext to `plaintext` (see
    /// [`encrypt_into`](Self::encrypt_into) for why). On error `plaintext` is left as it was, and
    /// whatever was decrypted of the rejected message is wiped.
    pub async fn decrypt_into(
        &self,
        cmm: &dyn MaterialsManager,
        message: &[u8],
        plaintext: &mut Vec<u8>,
    ) -> Result<MessageInfo, Error> {
        self.decrypt_inner(cmm, message, &DecryptOptions::new(), plaintext)
            .await
    }

    /// Decrypt the message in `buffer` in place: on success `buffer` holds the plaintext (see
    /// [`encrypt_in_place`](Self::encrypt_in_place) for why). If the header does not parse,
    /// materials cannot be had or the header does not verify, `buffer` is left as it was; an
    /// error after that (a frame, the signature or the end of the message that does not verify)
    /// wipes `buffer` and leaves it empty, since it may hold plaintext of frames that verified
    /// before.
    pub async fn decrypt_in_place(
        &self,
        cmm: &dyn MaterialsManager,
        buffer: &mut Vec<u8>,
    ) -> Result<MessageInfo, Error> {
        let (mut header, header_len) = parse_header(buffer, &self.header_limits(false))?;
        let materials = self
            .decryption_materials(cmm, &mut header, &DecryptOptions::new())
            .await?;
        let dec = Decryptor::new(&header, &buffer[..header_len], &materials)?;
        match Self::read_body_in_place(dec, &header, header_len, buffer) {
            Ok(n) => {
                buffer.truncate(n);
                Ok(MessageInfo {
                    header,
                    encryption_context: materials.encryption_context,
                })
            }
            Err(e) => {
                buffer.zeroize();
                buffer.clear();
                Err(e)
            }
        }
    }

    /// Decrypt each frame, front to back, onto the front of the buffer, behind the plaintext
    /// before it; returns the plaintext length.
    ///
    /// A frame's plaintext lands before its wire bytes, by the header and the overhead of the
    /// frames before it (32 bytes a frame: half a MiB for 64 MiB in 4 KiB frames). Once that gap
    /// is a frame long, the frame is opened straight from where it lies onto its place, out of
    /// place: each byte is read from memory once and written once, as by the AEAD in place, and
    /// the lines written are those read a gap ago. (Opening in place and then moving the
    /// plaintext measured 5 to 10% slower: the move is a second pass over every frame.) Frames
    /// before that, when the two overlap, are opened in place and moved.
    fn read_body_in_place(
        mut dec: Decryptor,
        header: &MessageHeader,
        header_len: usize,
        buffer: &mut [u8],
    ) -> Result<usize, Error> {
        let mut parser = BodyParser::new(header);
        let (mut pos, mut written) = (header_len, 0);
        while !parser.is_done() {
            let (frame, n) = parser.parse_next(&buffer[pos..])?;
            let (kind, sequence, iv, tag) = (frame.kind, frame.sequence, frame.iv, frame.tag);
            let ct_len = frame.ciphertext.len();
            if written + ct_len <= pos {
                let (front, rest) = buffer.split_at_mut(pos);
                let out = &mut front[written..written + ct_len];
                dec.frame_to(&rest[..n], kind, sequence, &iv, &tag, out)?;
            } else {
                dec.frame_in_place(&mut buffer[pos..pos + n], kind, sequence, &iv, &tag, ct_len)?;
                let ct_start = pos + n - 16 - ct_len;
                buffer.copy_within(ct_start..ct_start + ct_len, written);
            }
            written += ct_len;
            pos += n;
        }
        pos += dec.finish(&buffer[pos..])?;
        if pos != buffer.len() {
            return Err(Error::TrailingBytes(buffer.len() - pos));
        }
        Ok(written)
    }

    /// Like [`decrypt`](Self::decrypt), with options: the encryption context the caller expects
    /// (stored entries must match it, and required entries that the message does not store are
    /// taken from it), or unsigned messages only. The same options serve streamed decryption
    /// ([`PendingMessage::decrypt`](crate::PendingMessage::decrypt)).
    pub async fn decrypt_with(
        &self,
        cmm: &dyn MaterialsManager,
        message: &[u8],
        options: &DecryptOptions,
    ) -> Result<Decrypted, Error> {
        let mut plaintext = Vec::new();
        let info = self
            .decrypt_inner(cmm, message, options, &mut plaintext)
            .await?;
        Ok(Decrypted {
            plaintext,
            header: info.header,
            encryption_context: info.encryption_context,
        })
    }

    /// Materials for the message of `header`. The header's EDKs and context move into the
    /// request and back rather than being copied for it.
    pub(crate) async fn decryption_materials(
        &self,
        cmm: &dyn MaterialsManager,
        header: &mut MessageHeader,
        options: &DecryptOptions,
    ) -> Result<crate::materials::DecryptionMaterials, Error> {
        if options.unsigned_only && header.suite.signature().is_some() {
            return Err(Error::Config(ConfigError::SignedMessage(header.suite)));
        }
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
            std::mem::take(&mut header.encrypted_data_keys),
            std::mem::take(&mut header.encryption_context),
        );
        request.reproduced_encryption_context = options.reproduced_context.clone();
        let materials = cmm.decrypt_materials(&request).await;
        header.encrypted_data_keys = request.encrypted_data_keys;
        header.encryption_context = request.encryption_context;
        materials
    }

    async fn decrypt_inner(
        &self,
        cmm: &dyn MaterialsManager,
        message: &[u8],
        options: &DecryptOptions,
        out: &mut Vec<u8>,
    ) -> Result<MessageInfo, Error> {
        let (mut header, header_len) = parse_header(message, &self.header_limits(false))?;
        let materials = self.decryption_materials(cmm, &mut header, options).await?;
        let start = out.len();
        // The plaintext is never longer than the rest of the message: with this reserved, `out`
        // does not reallocate and leave copies of plaintext behind in freed memory.
        out.reserve(message.len() - header_len);
        match Self::read_body(&header, &message[..header_len], &materials, message, out) {
            Ok(()) => Ok(MessageInfo {
                header,
                encryption_context: materials.encryption_context,
            }),
            Err(e) => {
                // No plaintext of a rejected message outlives the call.
                out[start..].zeroize();
                out.truncate(start);
                Err(e)
            }
        }
    }

    fn read_body(
        header: &MessageHeader,
        header_bytes: &[u8],
        materials: &crate::materials::DecryptionMaterials,
        message: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let mut dec = Decryptor::new(header, header_bytes, materials)?;
        let mut parser = BodyParser::new(header);
        let mut pos = header_bytes.len();
        while !parser.is_done() {
            let (frame, n) = parser.parse_next(&message[pos..])?;
            dec.frame(&message[pos..pos + n], &frame, out)?;
            pos += n;
        }
        pos += dec.finish(&message[pos..])?;
        if pos != message.len() {
            return Err(Error::TrailingBytes(message.len() - pos));
        }
        Ok(())
    }
}
