//! The `sealbox` command line.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod inspect;
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
    /// Print a message's header (suite, message ID, context, encrypted data keys) without a key.
    Inspect {
        /// The message file, or - for standard input.
        #[arg(default_value = "-")]
        input: PathBuf,
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
    let result = runtime.block_on(async {
        match cli.command {
            Command::Inspect { input } => inspect::run(&input),
            Command::Vectors { command } => match command {
                VectorsCommand::Decrypt { manifest } => vectors::decrypt::run(&manifest).await,
                VectorsCommand::Encrypt { manifest, outdir } => {
                    vectors::encrypt::run(&manifest, &outdir).await
                }
            },
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sealbox: {e:#}");
            ExitCode::from(2)
        }
    }
}
