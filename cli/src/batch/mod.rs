//! Many files at once: the plan (which source goes to which destination, directory trees and
//! suffixes, overwrite rules) and the run (a bounded number of files in flight on worker threads,
//! one materials manager shared by all, a progress bar on a terminal, a summary at the end).
//!
//! Both front ends fill an [`Engine`] and a list of [`Item`]s: `sealbox encrypt|decrypt` and the
//! `aws-encryption-cli` compatible mode (`crate::compat`).
//!
//! What is released, and when: a destination file is written under a temporary name beside it and
//! renamed into place only once the whole message verified; a failed file leaves nothing (and an
//! older file of that name is kept). Standard output receives plaintext frame by frame as each
//! verifies, unless `buffer` is set, in which case nothing is written before the end.

pub(crate) mod metadata;
mod plan;

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufReader, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{anyhow, Context};
use base64::engine::general_purpose::STANDARD as B64;
use indicatif::{ProgressBar, ProgressStyle};
use sealbox::format::{parse_header, HeaderLimits};
use sealbox::{
    Client, DecryptOptions, EncryptionContext, MaterialsManager, MessageHeader, PendingMessage,
    PlaintextLength,
};
use serde_json::Value;

pub(crate) use metadata::MetadataSink;
pub(crate) use plan::{plan, Overwrite, PlanArgs};

/// What to do with each file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Encrypt,
    Decrypt,
    /// Decrypt, refusing signed messages right after the header.
    DecryptUnsigned,
}

impl Mode {
    /// The name in metadata records and output suffixes.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Mode::Encrypt => "encrypt",
            Mode::Decrypt => "decrypt",
            Mode::DecryptUnsigned => "decrypt-unsigned",
        }
    }
}

/// A source: standard input or a file.
#[derive(Clone, Debug)]
pub(crate) enum Source {
    Stdin,
    File(PathBuf),
}

/// A destination: standard output or a file.
#[derive(Clone, Debug)]
pub(crate) enum Dest {
    Stdout,
    File(PathBuf),
}

/// One operation of a run.
#[derive(Clone, Debug)]
pub(crate) struct Item {
    pub(crate) source: Source,
    pub(crate) dest: Dest,
}

/// Everything that is the same for every file of a run.
pub(crate) struct Engine {
    pub(crate) mode: Mode,
    pub(crate) client: Client,
    /// One manager for the whole run: with caching, all files share its cache.
    pub(crate) cmm: Arc<dyn MaterialsManager>,
    /// Encrypt: the encryption context. Decrypt: entries the message must hold.
    pub(crate) context: EncryptionContext,
    /// Decrypt: keys the message's context must hold, whatever their value.
    pub(crate) required_keys: Vec<String>,
    /// Decrypt: `context` is the reproduced context (sealbox's own -c: entries must match, and
    /// supply required entries the message does not store) rather than aws-encryption-cli's
    /// check, which skips a file whose stored context lacks an entry.
    pub(crate) reproduce_context: bool,
    /// Release nothing to standard output before the whole message verified.
    pub(crate) buffer: bool,
    /// Base64-decode the input before processing, base64-encode the output after.
    pub(crate) decode_input: bool,
    pub(crate) encode_output: bool,
    pub(crate) metadata: Option<MetadataSink>,
    /// Files in flight at once.
    pub(crate) jobs: usize,
    /// A progress bar (on a terminal only) and the summary line.
    pub(crate) progress: bool,
    pub(crate) summary: bool,
    /// Destination folders already created in this run.
    pub(crate) made_dirs: Mutex<HashSet<PathBuf>>,
}

/// How a run went.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    pub(crate) done: u64,
    pub(crate) failed: u64,
    /// Decryptions skipped because the message's context lacked required entries.
    pub(crate) skipped: u64,
}

impl Outcome {
    /// Exit status: 0 if every file succeeded, else 1.
    pub(crate) fn code(&self) -> std::process::ExitCode {
        if self.failed == 0 && self.skipped == 0 {
            std::process::ExitCode::SUCCESS
        } else {
            std::process::ExitCode::from(1)
        }
    }
}

enum FileResult {
    Done(u64),
    Skipped,
}

impl Engine {
    /// Process every item, `jobs` at a time. The first failure stops new files from starting
    /// (those in flight finish); each failure is reported on standard error.
    pub(crate) fn run(&self, rt: &tokio::runtime::Handle, items: Vec<Item>) -> Outcome {
        let start = Instant::now();
        let bar = self.bar(items.len());
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let bytes = AtomicU64::new(0);
        let outcome = Mutex::new(Outcome::default());
        let workers = self.jobs.clamp(1, items.len().max(1));
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| loop {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let result = self.one(rt, item);
                    let mut o = outcome.lock().unwrap_or_else(|p| p.into_inner());
                    match result {
                        Ok(FileResult::Done(n)) => {
                            o.done += 1;
                            bytes.fetch_add(n, Ordering::Relaxed);
                        }
                        Ok(FileResult::Skipped) => {
                            o.skipped += 1;
                            bar.suspend(|| {
                                eprintln!(
                                    "sealbox: skipped {}: the message's encryption context lacks required entries",
                                    describe(&item.source)
                                )
                            });
                        }
                        Err(e) => {
                            o.failed += 1;
                            stop.store(true, Ordering::Relaxed);
                            bar.suspend(|| {
                                eprintln!(
                                    "sealbox: {} failed: {}: {e:#}",
                                    self.mode.name(),
                                    describe(&item.source)
                                );
                                if matches!(item.dest, Dest::Stdout)
                                    && self.mode != Mode::Encrypt
                                    && !self.buffer
                                {
                                    eprintln!("sealbox: whatever reached standard output before this error is NOT authenticated: discard it");
                                }
                            });
                        }
                    }
                    bar.inc(1);
                });
            }
        });
        bar.finish_and_clear();
        let o = outcome.into_inner().unwrap_or_else(|p| p.into_inner());
        if self.summary {
            let not_started = items.len() as u64 - o.done - o.failed - o.skipped;
            eprintln!(
                "sealbox: {} {} of {} files ({} bytes) in {:.2} s: {} failed, {} skipped, {} not started",
                self.mode.name(),
                o.done,
                items.len(),
                bytes.load(Ordering::Relaxed),
                start.elapsed().as_secs_f64(),
                o.failed,
                o.skipped,
                not_started
            );
        }
        o
    }

    fn bar(&self, files: usize) -> ProgressBar {
        if !self.progress || files < 2 || !std::io::stderr().is_terminal() {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(files as u64);
        if let Ok(style) =
            ProgressStyle::with_template("{bar:40} {pos}/{len} files {per_sec} {eta}")
        {
            bar.set_style(style);
        }
        bar
    }

    /// One file: open, process, and commit the destination only on success.
    fn one(&self, rt: &tokio::runtime::Handle, item: &Item) -> anyhow::Result<FileResult> {
        let (input, len): (Box<dyn Read + Send>, Option<u64>) = match &item.source {
            Source::Stdin => (Box::new(std::io::stdin()), None),
            Source::File(p) => {
                let f = File::open(p).with_context(|| format!("cannot open {}", p.display()))?;
                let len = f.metadata().ok().filter(|m| m.is_file()).map(|m| m.len());
                (Box::new(f), len)
            }
        };
        let input: Box<dyn Read + Send> = if self.decode_input {
            Box::new(base64::read::DecoderReader::new(NoWhitespace(input), &B64))
        } else {
            input
        };
        if let Dest::File(path) = &item.dest {
            self.ensure_parent(path)?;
        }
        let mut out = Output::open(&item.dest, self.buffer)?;
        let result = match self.mode {
            Mode::Encrypt => self.encrypt(rt, item, input, len, &mut out),
            Mode::Decrypt | Mode::DecryptUnsigned => self.decrypt(rt, item, input, &mut out),
        };
        match result {
            Ok(FileResult::Done(n)) => {
                out.commit()?;
                Ok(FileResult::Done(n))
            }
            Ok(FileResult::Skipped) => {
                out.abandon();
                Ok(FileResult::Skipped)
            }
            Err(e) => {
                out.abandon();
                Err(e)
            }
        }
    }

    /// Create the destination's folder once per run, not once per file.
    fn ensure_parent(&self, path: &Path) -> anyhow::Result<()> {
        let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) else {
            return Ok(());
        };
        let mut made = self.made_dirs.lock().unwrap_or_else(|p| p.into_inner());
        if !made.contains(parent) {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
            made.insert(parent.to_path_buf());
        }
        Ok(())
    }

    fn encrypt(
        &self,
        rt: &tokio::runtime::Handle,
        item: &Item,
        input: Box<dyn Read + Send>,
        len: Option<u64>,
        out: &mut Output,
    ) -> anyhow::Result<FileResult> {
        let length = match len {
            // Base64 text decodes to at most 3/4 of its length.
            Some(n) if self.decode_input => PlaintextLength::AtMost(n / 4 * 3 + 3),
            Some(n) => PlaintextLength::Exact(n),
            None => PlaintextLength::Unknown,
        };
        let encryptor = rt.block_on(self.client.encryptor(&*self.cmm, &self.context, length))?;
        let encode = self.encode_output;
        // The header is read back from the output only for a metadata record.
        let keep = if self.metadata.is_some() {
            HeaderLimits::default().max_header_length
        } else {
            0
        };
        let sink = HeaderTap::new(out.writer(encode), keep);
        let mut w = encryptor.into_writer(BufWriter::with_capacity(1 << 16, sink));
        let n = std::io::copy(&mut BufReader::with_capacity(1 << 16, input), &mut w)?;
        let sink = w.finish()?.into_inner().map_err(|e| e.into_error())?;
        if let Some(m) = &self.metadata {
            m.write(&Value::Object(metadata::record(
                self.mode.name(),
                source_name(&item.source),
                dest_name(&item.dest),
                &sink.header()?,
            )))?;
        }
        sink.finish()?;
        Ok(FileResult::Done(n))
    }

    fn decrypt(
        &self,
        rt: &tokio::runtime::Handle,
        item: &Item,
        input: Box<dyn Read + Send>,
        out: &mut Output,
    ) -> anyhow::Result<FileResult> {
        let pending = PendingMessage::read(&self.client, BufReader::with_capacity(1 << 16, input))?;
        let mut options = DecryptOptions::new().unsigned_only(self.mode == Mode::DecryptUnsigned);
        if self.reproduce_context && !self.context.is_empty() {
            options = options.reproduced_context(self.context.clone());
        }
        let mut reader = rt.block_on(pending.decrypt(&self.client, &*self.cmm, &options))?;
        let header = reader.header().clone();
        let mut rec = metadata::record(
            self.mode.name(),
            source_name(&item.source),
            dest_name(&item.dest),
            &header,
        );
        let ec = &header.encryption_context;
        let check = !self.reproduce_context;
        let missing_keys: Vec<&String> = self
            .required_keys
            .iter()
            .filter(|k| check && !ec.contains_key(*k))
            .collect();
        let missing_pairs: Vec<(&String, &String)> = self
            .context
            .iter()
            .filter(|(k, v)| check && ec.get(*k) != Some(*v))
            .collect();
        if !missing_keys.is_empty() || !missing_pairs.is_empty() {
            if let Some(m) = &self.metadata {
                rec.insert("skipped".into(), true.into());
                rec.insert(
                    "reason".into(),
                    "Missing encryption context key or value".into(),
                );
                rec.insert(
                    "missing_encryption_context_keys".into(),
                    serde_json::json!(missing_keys),
                );
                rec.insert(
                    "missing_encryption_context_pairs".into(),
                    serde_json::json!(missing_pairs),
                );
                m.write(&Value::Object(rec))?;
            }
            return Ok(FileResult::Skipped);
        }
        if let Some(m) = &self.metadata {
            m.write(&Value::Object(rec))?;
        }
        let encode = self.encode_output;
        let mut w = BufWriter::with_capacity(1 << 16, out.writer(encode));
        let n = std::io::copy(&mut reader, &mut w)?;
        w.into_inner().map_err(|e| e.into_error())?.finish()?;
        Ok(FileResult::Done(n))
    }
}

/// Files in flight at once: enough to overlap KMS round trips and disk waits with the CPU work.
pub(crate) fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(4, |n| n.get() * 4)
}

fn describe(s: &Source) -> String {
    match s {
        Source::Stdin => "standard input".into(),
        Source::File(p) => p.display().to_string(),
    }
}

fn source_name(s: &Source) -> String {
    match s {
        Source::Stdin => metadata::stream_name(None, "<stdin>"),
        Source::File(p) => metadata::stream_name(Some(p), ""),
    }
}

fn dest_name(d: &Dest) -> String {
    match d {
        Dest::Stdout => metadata::stream_name(None, "<stdout>"),
        Dest::File(p) => metadata::stream_name(Some(p), ""),
    }
}

/// Skips ASCII whitespace, so that base64 input may be wrapped in lines.
struct NoWhitespace<R>(R);

impl<R: Read> Read for NoWhitespace<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let n = self.0.read(buf)?;
            if n == 0 {
                return Ok(0);
            }
            let mut kept = 0;
            for i in 0..n {
                if !buf[i].is_ascii_whitespace() {
                    buf[kept] = buf[i];
                    kept += 1;
                }
            }
            if kept > 0 {
                return Ok(kept);
            }
        }
    }
}

/// The destination of one file: a temporary file renamed into place by `commit`, memory written
/// to standard output by `commit` (`buffer`), or standard output directly.
pub(crate) struct Output {
    kind: OutputKind,
}

enum OutputKind {
    File {
        file: File,
        tmp: PathBuf,
        dest: PathBuf,
    },
    Memory(Vec<u8>),
    Stdout,
}

impl Output {
    fn open(dest: &Dest, buffer: bool) -> anyhow::Result<Self> {
        let kind = match dest {
            Dest::Stdout if buffer => OutputKind::Memory(Vec::new()),
            Dest::Stdout => OutputKind::Stdout,
            Dest::File(path) => {
                let (file, tmp) = create_partial(path)?;
                OutputKind::File {
                    file,
                    tmp,
                    dest: path.clone(),
                }
            }
        };
        Ok(Output { kind })
    }

    /// A writer into the destination, base64-encoding with `encode`.
    fn writer(&mut self, encode: bool) -> Sink<'_> {
        let raw: Box<dyn Write + '_> = match &mut self.kind {
            OutputKind::File { file, .. } => Box::new(file),
            OutputKind::Memory(v) => Box::new(v),
            OutputKind::Stdout => Box::new(std::io::stdout()),
        };
        if encode {
            Sink::Base64(Box::new(base64::write::EncoderWriter::new(raw, &B64)))
        } else {
            Sink::Plain(raw)
        }
    }

    fn commit(self) -> anyhow::Result<()> {
        match self.kind {
            OutputKind::File { file, tmp, dest } => {
                drop(file);
                if let Err(e) = std::fs::rename(&tmp, &dest) {
                    // The temporary file may hold plaintext: it does not outlive the failure.
                    let _ = std::fs::remove_file(&tmp);
                    return Err(anyhow!(e).context(format!("cannot rename to {}", dest.display())));
                }
            }
            OutputKind::Memory(v) => {
                let mut out = std::io::stdout().lock();
                out.write_all(&v)?;
                out.flush()?;
            }
            OutputKind::Stdout => std::io::stdout().flush()?,
        }
        Ok(())
    }

    fn abandon(self) {
        if let OutputKind::File { file, tmp, .. } = self.kind {
            drop(file);
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// Numbers the temporary files of a run.
static PARTIAL_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A new temporary file for a destination: beside it, so that the rename stays on one file
/// system. Created exclusively, never opened if it exists: the name can be guessed, and in a
/// folder others may write to, a planted link would otherwise receive the plaintext.
fn create_partial(path: &Path) -> anyhow::Result<(File, PathBuf)> {
    // The process ID once: in some sandboxes every getpid is a costly system call.
    static PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let mut tries = 0;
    loop {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(format!(
            ".sealbox-partial-{}-{}",
            PID.get_or_init(std::process::id),
            PARTIAL_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let tmp = PathBuf::from(tmp);
        match File::options().write(true).create_new(true).open(&tmp) {
            Ok(file) => return Ok((file, tmp)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && tries < 100 => tries += 1,
            Err(e) => {
                return Err(anyhow!(e).context(format!("cannot create {}", tmp.display())));
            }
        }
    }
}

/// A writer into the destination, plain or base64.
enum Sink<'a> {
    Plain(Box<dyn Write + 'a>),
    Base64(
        Box<
            base64::write::EncoderWriter<
                'static,
                base64::engine::GeneralPurpose,
                Box<dyn Write + 'a>,
            >,
        >,
    ),
}

impl Sink<'_> {
    /// Write the base64 padding, flush.
    fn finish(self) -> std::io::Result<()> {
        match self {
            Sink::Plain(mut w) => w.flush(),
            Sink::Base64(mut w) => {
                let mut inner = w.finish()?;
                inner.flush()
            }
        }
    }
}

impl Write for Sink<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Sink::Plain(w) => w.write(buf),
            Sink::Base64(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::Plain(w) => w.flush(),
            Sink::Base64(w) => w.flush(),
        }
    }
}

/// Keeps the first `keep` bytes of a message written through it, for its header's metadata
/// record.
struct HeaderTap<'a> {
    inner: Sink<'a>,
    head: Vec<u8>,
    keep: usize,
}

impl<'a> HeaderTap<'a> {
    fn new(inner: Sink<'a>, keep: usize) -> Self {
        HeaderTap {
            inner,
            head: Vec::new(),
            keep,
        }
    }

    fn header(&self) -> anyhow::Result<MessageHeader> {
        let (h, _) = parse_header(&self.head, &HeaderLimits::default())
            .map_err(|e| anyhow!("cannot read back the header just written: {e}"))?;
        Ok(h)
    }

    fn finish(self) -> std::io::Result<()> {
        self.inner.finish()
    }
}

impl Write for HeaderTap<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        let room = self.keep.saturating_sub(self.head.len());
        self.head.extend_from_slice(&buf[..n.min(room)]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A link planted at the temporary names the next files would get is neither followed nor
    /// truncated: the file goes under another name.
    #[test]
    fn planted_partial_names_are_not_opened() {
        let dir = std::env::temp_dir().join(format!("sealbox-partial-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let target = dir.join("elsewhere");
        std::fs::write(&target, b"untouched").unwrap();
        let dest = dir.join("out");
        let next = PARTIAL_COUNTER.load(Ordering::Relaxed);
        let planted: Vec<PathBuf> = (next..next + 20)
            .map(|n| {
                let p = dir.join(format!("out.sealbox-partial-{}-{n}", std::process::id()));
                std::os::unix::fs::symlink(&target, &p).unwrap();
                p
            })
            .collect();
        let (mut file, tmp) = create_partial(&dest).unwrap();
        file.write_all(b"secret").unwrap();
        assert!(!planted.contains(&tmp), "{}", tmp.display());
        assert_eq!(std::fs::read(&target).unwrap(), b"untouched");
        assert_eq!(std::fs::read(&tmp).unwrap(), b"secret");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
