//! Which source goes to which destination, as `aws-encryption-cli` decides it: `-` for standard
//! input and output, globs, directory trees copied under the output directory with a suffix added
//! to each file name, and the overwrite rules.

use std::collections::HashSet;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use super::{Dest, Item, Mode, Source};

/// What to do when a destination file exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Overwrite {
    /// Replace it (with a warning).
    Always,
    /// Keep it and skip the source.
    Never,
    /// Ask on the terminal, default no.
    Ask,
}

/// The inputs of a plan.
#[derive(Debug)]
pub(crate) struct PlanArgs<'a> {
    pub(crate) mode: Mode,
    /// A file, a directory, a glob, or `-`.
    pub(crate) input: &'a str,
    /// A file, an existing directory, or `-`.
    pub(crate) output: &'a str,
    pub(crate) recursive: bool,
    /// Added to each output file name made from a source name (default `.encrypted` or
    /// `.decrypted`).
    pub(crate) suffix: Option<&'a str>,
    pub(crate) overwrite: Overwrite,
    /// The metadata file, if any: it may not be the input, the output, or inside either.
    pub(crate) metadata: Option<&'a str>,
    pub(crate) quiet: bool,
}

fn real(p: &str) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| {
        // Like os.path.realpath: the path need not exist.
        std::path::absolute(p).unwrap_or_else(|_| PathBuf::from(p))
    })
}

fn is_dir(p: &str) -> bool {
    Path::new(p).is_dir()
}

/// The list of operations, or why the request is refused (exit 1, as `aws-encryption-cli`).
pub(crate) fn plan(a: &PlanArgs<'_>) -> anyhow::Result<Vec<Item>> {
    let (input, output) = (a.input, a.output);
    if output != "-" && !is_dir(output) {
        let parent = real(output)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        if !parent.is_dir() {
            bail!("If destination is a file, the immediate parent directory must already exist.");
        }
    }
    if let Some(m) = a.metadata {
        if m.is_empty() {
            bail!("Metadata output file name cannot be empty");
        }
        if m == "-" {
            if output == "-" {
                bail!("Metadata output cannot be stdout when output is stdout");
            }
        } else {
            let (rs, rd, rm) = (real(input), real(output), real(m));
            if rm.is_dir() {
                bail!("Metadata output cannot be a directory");
            }
            if rm == rs || rm == rd {
                bail!("Metadata output file cannot be the input or output");
            }
            if rd.is_dir() && rm.starts_with(&rd) {
                bail!("Metadata output file cannot be in the output directory");
            }
            if rs.is_dir() && rm.starts_with(&rs) {
                bail!("Metadata output file cannot be in the input directory");
            }
        }
    }
    let piping = input == "-" && output == "-";
    if !piping && real(input) == real(output) {
        bail!("Destination and source cannot be the same");
    }
    if input == "-" && is_dir(output) {
        bail!("Destination may not be a directory when source is stdin");
    }
    let mut items = Vec::new();
    let mut planned = HashSet::new();
    if input == "-" {
        let dest = if output == "-" {
            Dest::Stdout
        } else {
            Dest::File(PathBuf::from(output))
        };
        if let Dest::File(p) = &dest {
            if !should_write(p, a.overwrite, a.quiet)? {
                return Ok(items);
            }
        }
        items.push(Item {
            source: Source::Stdin,
            dest,
        });
        return Ok(items);
    }
    let sources = expand(input)?;
    if sources.len() > 1 && !is_dir(output) {
        bail!("If operating on multiple sources, destination must be an existing directory");
    }
    if sources.iter().any(|s| s.is_dir()) && !is_dir(output) {
        bail!("If operating on a source directory, destination must be an existing directory");
    }
    let suffix = a.suffix.unwrap_or(match a.mode {
        Mode::Encrypt => ".encrypted",
        Mode::Decrypt | Mode::DecryptUnsigned => ".decrypted",
    });
    for source in sources {
        if source.is_dir() {
            if !a.recursive {
                warn(
                    a.quiet,
                    &format!(
                        "Skipping {} because it is a directory and -r/-R/--recursive is not set",
                        source.display()
                    ),
                );
                continue;
            }
            for file in walk(&source)? {
                let rel = file.strip_prefix(&source).unwrap_or(&file);
                let mut dest = Path::new(output).join(rel).into_os_string();
                dest.push(suffix);
                push_file(&mut items, &mut planned, file, PathBuf::from(dest), a)?;
            }
        } else {
            // Not only regular files: a FIFO or a device (`-i <(command)`, `-i /dev/stdin`) is
            // read as a file. (The reference skips these silently, and exits 0.)
            let dest = if is_dir(output) {
                let name = source.file_name().unwrap_or_default();
                let mut d = Path::new(output).join(name).into_os_string();
                d.push(suffix);
                Dest::File(PathBuf::from(d))
            } else if output == "-" {
                Dest::Stdout
            } else {
                Dest::File(PathBuf::from(output))
            };
            match dest {
                Dest::File(d) => push_file(&mut items, &mut planned, source, d, a)?,
                Dest::Stdout => items.push(Item {
                    source: Source::File(source),
                    dest: Dest::Stdout,
                }),
            }
        }
    }
    Ok(items)
}

fn push_file(
    items: &mut Vec<Item>,
    planned: &mut HashSet<PathBuf>,
    source: PathBuf,
    dest: PathBuf,
    a: &PlanArgs<'_>,
) -> anyhow::Result<()> {
    if planned.contains(&dest) {
        // Two sources of this run name one destination (`-i 'logs/*/app.log'`). The reference,
        // one file after the other, finds the first one's output there when it comes to the
        // second: skipped with --no-overwrite, asked about with --interactive, replaced
        // otherwise. Files run concurrently here, so the replaced one is not run at all.
        if !decide(&dest, a.overwrite, a.quiet)? {
            return Ok(());
        }
        warn(
            a.quiet,
            &format!(
                "{} replaces the output of an earlier source: {}",
                source.display(),
                dest.display()
            ),
        );
        items.retain(|i| !matches!(&i.dest, Dest::File(d) if *d == dest));
        items.push(Item {
            source: Source::File(source),
            dest: Dest::File(dest),
        });
        return Ok(());
    }
    // A destination that does not exist yet cannot be the source: canonicalizing both (a
    // readlink per path component) is for the rare case where it does.
    let existing = dest.symlink_metadata().ok();
    if existing.is_some() && real(&source.to_string_lossy()) == real(&dest.to_string_lossy()) {
        warn(
            a.quiet,
            &format!(
                "Skipping because the source ({}) and destination ({}) are the same",
                source.display(),
                dest.display()
            ),
        );
        return Ok(());
    }
    let is_file = existing.is_some_and(|m| m.is_file() || (m.is_symlink() && dest.is_file()));
    if !is_file || should_write(&dest, a.overwrite, a.quiet)? {
        planned.insert(dest.clone());
        items.push(Item {
            source: Source::File(source),
            dest: Dest::File(dest),
        });
    }
    Ok(())
}

fn warn(quiet: bool, message: &str) {
    if !quiet {
        eprintln!("sealbox: warning: {message}");
    }
}

fn should_write(dest: &Path, overwrite: Overwrite, quiet: bool) -> anyhow::Result<bool> {
    if !dest.is_file() {
        return Ok(true);
    }
    decide(dest, overwrite, quiet)
}

/// Whether to write `dest`, which exists (or will, written by an earlier source of this run).
fn decide(dest: &Path, overwrite: Overwrite, quiet: bool) -> anyhow::Result<bool> {
    match overwrite {
        Overwrite::Never => {
            warn(
                quiet,
                &format!(
                    "Skipping existing output file because of \"no overwrite\" option: {}",
                    dest.display()
                ),
            );
            Ok(false)
        }
        Overwrite::Ask => {
            eprint!(
                "Overwrite existing output file \"{}\" with new contents? [y/N]:",
                dest.display()
            );
            std::io::stderr().flush()?;
            let mut answer = String::new();
            std::io::stdin().lock().read_line(&mut answer)?;
            Ok(answer.trim_start().starts_with(['y', 'Y']))
        }
        Overwrite::Always => Ok(true),
    }
}

/// The paths a pattern names, as Python's `glob.glob`: the path itself when it has no wildcard,
/// matches in order otherwise, hidden files only when the pattern spells the dot.
fn expand(pattern: &str) -> anyhow::Result<Vec<PathBuf>> {
    let invalid =
        || anyhow::anyhow!("Invalid source.  Must be a valid pathname pattern or stdin (-)");
    if !pattern.contains(['*', '?', '[']) {
        let p = PathBuf::from(pattern);
        if p.symlink_metadata().is_ok() {
            return Ok(vec![p]);
        }
        return Err(invalid());
    }
    let options = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: true,
    };
    let found: Vec<PathBuf> = glob::glob_with(pattern, options)
        .map_err(|_| invalid())?
        .filter_map(Result::ok)
        .collect();
    if found.is_empty() {
        return Err(invalid());
    }
    Ok(found)
}

/// Every file under `root`, directories before their contents, as `os.walk` lists them
/// (symbolic links to directories are not followed).
fn walk(root: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .with_context(|| format!("cannot list {}", dir.display()))?
            .filter_map(Result::ok)
            .collect();
        entries.sort_by_key(|e| e.file_name());
        let mut subdirs = Vec::new();
        for e in entries {
            let path = e.path();
            let ty = e.file_type()?;
            if ty.is_dir() {
                subdirs.push(path);
            } else if ty.is_file() || (ty.is_symlink() && path.is_file()) {
                files.push(path);
            }
        }
        dirs.extend(subdirs.into_iter().rev());
    }
    Ok(files)
}
