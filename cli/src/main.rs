//! The `sealbox` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// `println!` for what a command prints: when the reader goes away (`sealbox bench | head -1`),
/// the command ends quietly, as Unix tools do, instead of panicking.
macro_rules! outln {
    () => {
        $crate::write_out(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::write_out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Write to standard output; exit at once, successfully, if its reader has gone away.
fn write_out(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    if let Err(e) = std::io::stdout().lock().write_fmt(args) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("sealbox: cannot write to standard output: {e}");
        std::process::exit(1);
    }
}

mod batch;
mod bench;
#[cfg(feature = "kms")]
mod compat;
mod crypt;
mod inspect;
#[cfg(feature = "hierarchy")]
mod keystore;
#[cfg(feature = "kms")]
mod kms_keyrings;
#[cfg(feature = "kms")]
mod kms_keys;
mod simulate;
mod vectors;

/// Client-side envelope encryption in the AWS Encryption SDK message format.
#[derive(Parser)]
#[command(name = "sealbox", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Encrypt a file, a directory tree (-r) or standard input into ESDK messages.
    Encrypt(crypt::EncryptArgs),
    /// Decrypt ESDK messages: a file, standard input, or a directory tree (-r).
    ///
    /// What is released when: with -o FILE (or a directory) each file appears only once its whole
    /// message verified; a failure leaves no file. With --buffer, standard output receives
    /// nothing before the whole message verified. Without --buffer, standard output receives each
    /// frame's plaintext once that frame verifies; a signed message's signature is checked only at
    /// the end, so if decryption then fails (exit 1) what was already written is NOT authenticated
    /// (it may be truncated or, for a signed message, forged by a holder of the data key): discard
    /// it.
    Decrypt(crypt::DecryptArgs),
    /// Print a message's header (suite, message ID, context, encrypted data keys) without a key.
    Inspect {
        /// The message file, or - for standard input.
        #[arg(default_value = "-")]
        input: PathBuf,
    },
    /// Measure throughput against the crypto backend's own AES-GCM and ECDSA, one JSON object per
    /// line.
    Bench(bench::BenchArgs),
    /// Try data-key caching thresholds against a traffic profile: the real caching materials
    /// manager and client over a simulated master key (latency, quota, price), on virtual time.
    Simulate(Box<simulate::SimulateArgs>),
    /// Administer a hierarchical keyring's branch key store on DynamoDB.
    #[cfg(feature = "hierarchy")]
    Keystore {
        #[command(subcommand)]
        command: keystore::KeystoreCommand,
    },
    /// Run ESDK test-vector manifests.
    Vectors {
        #[command(subcommand)]
        command: VectorsCommand,
    },
}

#[derive(Subcommand)]
enum VectorsCommand {
    /// Decrypt every test of an awses-decrypt manifest (v1 to v5) or a legacy ciphertext manifest.
    Decrypt {
        /// The manifest file.
        manifest: PathBuf,
    },
    /// Encrypt every raw-key, framed test of an awses-encrypt manifest (v1, v2) and write an
    /// awses-decrypt v2 set (manifest.json, keys.json, ciphertexts/, plaintexts/) into OUTDIR.
    Encrypt {
        /// The awses-encrypt manifest.
        manifest: PathBuf,
        /// Where to write the decrypt set.
        outdir: PathBuf,
    },
}

fn main() -> ExitCode {
    // aws-encryption-cli's command lines run as they are (docs/cli.md, "Compatible mode").
    #[cfg(feature = "kms")]
    {
        let argv: Vec<String> = std::env::args().skip(1).collect();
        if compat::is_compat(&argv) {
            return compat::run(&argv);
        }
    }
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("sealbox: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    // The runtime drives the asynchronous steps (materials); file and pipe I/O stays on this
    // thread, blocking, as the library's streaming docs describe.
    let result = match cli.command {
        Command::Encrypt(args) => crypt::encrypt(&runtime, &args),
        Command::Decrypt(args) => crypt::decrypt(&runtime, &args),
        Command::Inspect { input } => inspect::run(&input),
        #[cfg(feature = "hierarchy")]
        Command::Keystore { command } => Ok(keystore::run(&runtime, &command)),
        Command::Bench(args) => bench::run(&args),
        // A runtime of its own: the simulation runs on a paused clock.
        Command::Simulate(args) => simulate::run(&args),
        Command::Vectors { command } => match command {
            VectorsCommand::Decrypt { manifest } => runtime.block_on(vectors::decrypt(&manifest)),
            VectorsCommand::Encrypt { manifest, outdir } => {
                runtime.block_on(vectors::encrypt(&manifest, &outdir))
            }
        },
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sealbox: {e:#}");
            ExitCode::from(2)
        }
    }
}
