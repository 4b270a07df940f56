//! `aws-encryption-cli`'s argument syntax, as Python's argparse reads it: `@file` argument files
//! (shell-like words, `#` comments, `~` and `$VAR` expanded), `--long=value`, unique prefixes of
//! long options, clustered short flags (`-rS`), `-ivalue`, options taking one or more values,
//! and options that may be given once only.

use std::collections::{BTreeMap, VecDeque};

/// How an option takes values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Takes {
    /// A flag (`store_true`, `store_const`, `count`).
    Nothing,
    /// Exactly one value; with `once`, a second occurrence is an error.
    One { once: bool },
    /// One or more values (`nargs="+"`); `append` keeps each occurrence as a group, otherwise a
    /// second occurrence is an error.
    OneOrMore { append: bool },
    /// Zero or one value (`nargs="?"`, the empty string when absent); once only.
    Optional,
}

/// One option: its spellings, its destination name and how it takes values.
#[derive(Debug)]
pub(crate) struct Opt {
    pub(crate) names: &'static [&'static str],
    pub(crate) dest: &'static str,
    pub(crate) takes: Takes,
}

/// What was given: for each destination, the occurrences in order, each with its values.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    /// dest -> [(the spelling used, values)]
    pub(crate) given: BTreeMap<&'static str, Vec<(String, Vec<String>)>>,
}

impl Parsed {
    pub(crate) fn has(&self, dest: &str) -> bool {
        self.given.contains_key(dest)
    }
    pub(crate) fn count(&self, dest: &str) -> usize {
        self.given.get(dest).map_or(0, Vec::len)
    }
    /// The single value of a once-only option.
    pub(crate) fn one(&self, dest: &str) -> Option<&str> {
        self.given
            .get(dest)
            .and_then(|v| v.first())
            .and_then(|(_, v)| v.first())
            .map(String::as_str)
    }
    /// The values of a once-only multi-value option.
    pub(crate) fn many(&self, dest: &str) -> Option<&[String]> {
        self.given
            .get(dest)
            .and_then(|v| v.first())
            .map(|(_, v)| v.as_slice())
    }
    /// The groups of an appending option.
    pub(crate) fn groups(&self, dest: &str) -> Vec<&[String]> {
        self.given
            .get(dest)
            .map_or_else(Vec::new, |v| v.iter().map(|(_, g)| g.as_slice()).collect())
    }
}

/// A usage error: argparse prints the usage line and the message and exits 2.
#[derive(Debug)]
pub(crate) struct UsageError(pub(crate) String);

/// Replace each `@file` argument by the arguments its lines hold, recursively.
pub(crate) fn expand_files(args: &[String], depth: usize) -> Result<Vec<String>, UsageError> {
    let mut out = Vec::new();
    for a in args {
        match a.strip_prefix('@') {
            Some(path) if depth < 16 => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| UsageError(format!("[Errno 2] {e}: '{path}'")))?;
                let mut words = Vec::new();
                for line in text.lines() {
                    for w in split_line(line) {
                        words.push(expand_word(w.trim()));
                    }
                }
                out.extend(expand_files(&words, depth + 1)?);
            }
            _ => out.push(a.clone()),
        }
    }
    Ok(out)
}

/// Python's `shlex` in POSIX mode with whitespace splitting: quotes group, `\` escapes outside
/// single quotes, and `#` at the start of a word comments out the rest of the line.
fn split_line(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '#' if !in_word => break,
            '\'' => {
                in_word = true;
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    cur.push(c);
                }
            }
            '"' => {
                in_word = true;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' if matches!(chars.peek(), Some('"' | '\\')) => {
                            cur.extend(chars.next());
                        }
                        c => cur.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                cur.extend(chars.next());
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    words
}

/// `os.path.expanduser` then `os.path.expandvars`: a leading `~`, and `$NAME` or `${NAME}` of
/// variables that are set (others stay as written).
fn expand_word(w: &str) -> String {
    let w = match (w.strip_prefix('~'), std::env::var("HOME")) {
        (Some(rest), Ok(home)) if rest.is_empty() || rest.starts_with('/') => {
            format!("{home}{rest}")
        }
        _ => w.to_owned(),
    };
    let mut out = String::new();
    let mut rest = w.as_str();
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, len) = if let Some(inner) = after.strip_prefix('{') {
            match inner.find('}') {
                Some(j) => (&inner[..j], j + 2),
                None => ("", 0),
            }
        } else {
            let n = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (&after[..n], n)
        };
        match std::env::var(name) {
            Ok(v) if !name.is_empty() => out.push_str(&v),
            _ => out.push_str(&rest[i..i + 1 + len]),
        }
        rest = &rest[i + 1 + len..];
    }
    out.push_str(rest);
    out
}

/// Whether argparse takes `a` for an option rather than a value.
fn looks_like_option(a: &str) -> bool {
    let negative_number = !a.starts_with("--") && a[1..].parse::<f64>().is_ok();
    a.starts_with('-') && a != "-" && !negative_number
}

/// Parse `args` against `opts`.
pub(crate) fn parse(opts: &[Opt], args: &[String]) -> Result<Parsed, UsageError> {
    let find_exact = |s: &str| opts.iter().find(|o| o.names.contains(&s));
    let mut parsed = Parsed::default();
    let mut args: VecDeque<String> = args.iter().cloned().collect();
    while let Some(a) = args.pop_front() {
        if a == "--" {
            if !args.is_empty() {
                let rest: Vec<String> = args.into_iter().collect();
                return Err(UsageError(format!(
                    "unrecognized arguments: {}",
                    rest.join(" ")
                )));
            }
            break;
        }
        if !looks_like_option(&a) {
            return Err(UsageError(format!("unrecognized arguments: {a}")));
        }
        // Resolve the option and any value attached to it.
        let (opt, spelled, attached) = if let Some(o) = find_exact(&a) {
            (o, a.clone(), None)
        } else if a.starts_with("--") {
            let (name, value) = match a.split_once('=') {
                Some((n, v)) => (n, Some(v.to_owned())),
                None => (a.as_str(), None),
            };
            let o = match find_exact(name) {
                Some(o) => o,
                None => {
                    let matches: Vec<(&Opt, &str)> = opts
                        .iter()
                        .flat_map(|o| o.names.iter().map(move |n| (o, *n)))
                        .filter(|(_, n)| n.starts_with("--") && n.starts_with(name))
                        .collect();
                    match matches.len() {
                        1 => matches[0].0,
                        0 => return Err(UsageError(format!("unrecognized arguments: {a}"))),
                        _ => {
                            let names: Vec<&str> = matches.iter().map(|(_, n)| *n).collect();
                            return Err(UsageError(format!(
                                "ambiguous option: {name} could match {}",
                                names.join(", ")
                            )));
                        }
                    }
                }
            };
            (o, name.to_owned(), value)
        } else {
            // -x, -xVALUE, -x=VALUE, or a cluster of flags -xyz (the rest goes back in front).
            let split = a.char_indices().nth(2).map_or(a.len(), |(i, _)| i);
            let (short, rest) = a.split_at(split);
            let o = find_exact(short)
                .ok_or_else(|| UsageError(format!("unrecognized arguments: {a}")))?;
            if o.takes == Takes::Nothing {
                args.push_front(format!("-{rest}"));
                (o, short.to_owned(), None)
            } else {
                let v = rest.strip_prefix('=').unwrap_or(rest);
                (o, short.to_owned(), Some(v.to_owned()))
            }
        };
        let next_value = |args: &mut VecDeque<String>| {
            if args.front().is_some_and(|v| !looks_like_option(v)) {
                args.pop_front()
            } else {
                None
            }
        };
        let values: Vec<String> = match opt.takes {
            Takes::Nothing => Vec::new(),
            Takes::One { .. } => match attached.or_else(|| next_value(&mut args)) {
                Some(v) => vec![v],
                None => {
                    return Err(UsageError(format!(
                        "argument {}: expected one argument",
                        opt.names.join("/")
                    )))
                }
            },
            Takes::OneOrMore { .. } => {
                let mut v: Vec<String> = attached.into_iter().collect();
                while let Some(x) = next_value(&mut args) {
                    v.push(x);
                }
                if v.is_empty() {
                    return Err(UsageError(format!(
                        "argument {}: expected at least one argument",
                        opt.names.join("/")
                    )));
                }
                v
            }
            Takes::Optional => vec![attached
                .or_else(|| next_value(&mut args))
                .unwrap_or_default()],
        };
        let once = matches!(
            opt.takes,
            Takes::One { once: true } | Takes::Optional | Takes::OneOrMore { append: false }
        );
        let entry = parsed.given.entry(opt.dest).or_default();
        if once && !entry.is_empty() {
            return Err(UsageError(format!(
                "{spelled} argument may not be specified more than once"
            )));
        }
        entry.push((spelled, values));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTS: &[Opt] = &[
        Opt {
            names: &["-e", "--encrypt"],
            dest: "encrypt",
            takes: Takes::Nothing,
        },
        Opt {
            names: &["--encode"],
            dest: "encode",
            takes: Takes::Nothing,
        },
        Opt {
            names: &["-r", "-R", "--recursive"],
            dest: "recursive",
            takes: Takes::Nothing,
        },
        Opt {
            names: &["-S", "--suppress-metadata"],
            dest: "suppress",
            takes: Takes::Nothing,
        },
        Opt {
            names: &["-i", "--input"],
            dest: "input",
            takes: Takes::One { once: true },
        },
        Opt {
            names: &["-w", "--wrapping-keys"],
            dest: "keys",
            takes: Takes::OneOrMore { append: true },
        },
        Opt {
            names: &["-c", "--encryption-context"],
            dest: "ec",
            takes: Takes::OneOrMore { append: false },
        },
        Opt {
            names: &["--suffix"],
            dest: "suffix",
            takes: Takes::Optional,
        },
    ];

    fn p(args: &[&str]) -> Result<Parsed, UsageError> {
        parse(
            OPTS,
            &args.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
    }

    #[test]
    fn values_prefixes_clusters_and_groups() {
        let r = p(&[
            "-e", "--inp=a", "-w", "key=1", "key=2", "-w", "key=3", "-rS", "--suffix",
        ])
        .unwrap();
        assert_eq!(r.one("input"), Some("a"));
        assert_eq!(r.groups("keys").len(), 2);
        assert_eq!(r.groups("keys")[0].len(), 2);
        assert!(r.has("recursive") && r.has("suppress"));
        assert_eq!(r.one("suffix"), Some(""));
        let r = p(&["-ifile", "-c", "a=b", "-"]).unwrap();
        assert_eq!(r.one("input"), Some("file"));
        assert_eq!(r.many("ec").unwrap(), ["a=b", "-"]);
    }

    #[test]
    fn errors_argparse_reports() {
        assert!(p(&["--enc"]).is_err(), "ambiguous prefix");
        assert!(p(&["-i", "a", "-i", "b"]).is_err(), "once only");
        assert!(p(&["-c", "a=b", "-c", "c=d"]).is_err(), "once only");
        assert!(p(&["-w"]).is_err(), "needs a value");
        assert!(p(&["stray"]).is_err());
    }

    #[test]
    fn argument_file_lines() {
        assert_eq!(
            split_line(r#"-c "a b"=c 'd e' # comment"#),
            ["-c", "a b=c", "d e"]
        );
        std::env::set_var("SEALBOX_COMPAT_TEST", "v");
        assert_eq!(
            expand_word("k=$SEALBOX_COMPAT_TEST${SEALBOX_COMPAT_TEST}$NOT_SET_X"),
            "k=vv$NOT_SET_X"
        );
    }
}
