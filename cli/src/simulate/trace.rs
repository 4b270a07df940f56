//! Requests to replay: a service's own trace (`--trace FILE`), read one line at a time, or the
//! synthetic traffic of the command line's options, written out in the same shape.
//!
//! # The trace format
//! CSV with the header `time,op,context,size` (columns in any order), or JSON lines with those
//! keys. `time` is RFC 3339 (`2024-05-01T12:00:00.250Z`, `+02:00` offsets too) or seconds from
//! the start as a decimal number (`12.5`), the same kind on every line; requests must come in
//! time order. `op` is `encrypt` or `decrypt`; `context` is any string (requests with the same
//! one share cache entries: it becomes the encryption context `{"tenant": context}`); `size` is
//! plaintext bytes or a size such as `1KiB`. Blank lines and lines starting with `#` are skipped.
//!
//! The reader keeps one line and the context names in memory, never the whole trace.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use serde_json::Value;

use super::traffic::parse_size;

/// What a request does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Encrypt,
    Decrypt,
}

impl Op {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Op::Encrypt => "encrypt",
            Op::Decrypt => "decrypt",
        }
    }
}

/// One request to replay.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Request {
    /// From the start of the traffic.
    pub(crate) at: Duration,
    pub(crate) op: Op,
    /// The context's number: the order in which contexts first appear.
    pub(crate) context: u32,
    /// Plaintext bytes (of the message written; a decrypt reads back a message whatever its
    /// size, so its size is not used).
    pub(crate) size: u64,
    /// The request's place in the traffic, from 0.
    pub(crate) number: u64,
    /// An encrypt: how many times the message will be read back by a later request that names
    /// it (synthetic traffic only; a trace's decrypts read the latest message of their context).
    pub(crate) read_back: u32,
    /// A decrypt: the `number` of the encrypt whose message it reads back (synthetic traffic
    /// only).
    pub(crate) reads: Option<u64>,
}

/// What the first pass over a trace found.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct TraceSummary {
    pub(crate) path: PathBuf,
    pub(crate) requests: u64,
    pub(crate) encrypts: u64,
    pub(crate) decrypts: u64,
    pub(crate) contexts: u32,
    /// From the first request to the last.
    pub(crate) span: Duration,
    /// Mean plaintext size of the encrypts.
    pub(crate) mean_size: f64,
}

/// Column order of a CSV trace.
#[derive(Clone, Copy, Debug)]
struct Columns {
    time: usize,
    op: usize,
    context: usize,
    size: usize,
}

/// CSV (with its columns: time, op, context, size) or JSON lines.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Shape {
    Csv([usize; 4]),
    Json,
}

impl From<[usize; 4]> for Columns {
    fn from(c: [usize; 4]) -> Self {
        Columns {
            time: c[0],
            op: c[1],
            context: c[2],
            size: c[3],
        }
    }
}

/// How the trace writes its times.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Clock {
    /// Seconds from the start.
    Relative,
    /// RFC 3339: nanoseconds since the Unix epoch of the first request.
    Absolute(i128),
}

/// Streams the requests of a trace file, in order, with their line numbers in errors.
pub(crate) struct TraceReader {
    path: PathBuf,
    lines: BufReader<File>,
    line: String,
    number: u64,
    shape: Option<Shape>,
    clock: Option<Clock>,
    last: Duration,
    contexts: HashMap<String, u32>,
    names: Vec<String>,
    requests: u64,
}

impl TraceReader {
    pub(crate) fn open(path: &Path) -> anyhow::Result<Self> {
        let file = File::open(path)
            .with_context(|| format!("cannot open the trace {}", path.display()))?;
        Ok(TraceReader {
            path: path.to_owned(),
            lines: BufReader::with_capacity(256 * 1024, file),
            line: String::new(),
            number: 0,
            shape: None,
            clock: None,
            last: Duration::ZERO,
            contexts: HashMap::new(),
            names: Vec::new(),
            requests: 0,
        })
    }

    /// Distinct contexts seen so far.
    pub(crate) fn contexts(&self) -> u32 {
        self.names.len() as u32
    }

    /// The name of context number `c`, as the trace wrote it.
    pub(crate) fn context_name(&self, c: u32) -> &str {
        self.names.get(c as usize).map_or("", String::as_str)
    }

    fn error(&self, what: impl std::fmt::Display) -> anyhow::Error {
        anyhow!("{} line {}: {what}", self.path.display(), self.number)
    }

    /// The next request, `None` at the end.
    pub(crate) fn next_request(&mut self) -> anyhow::Result<Option<Request>> {
        loop {
            self.line.clear();
            let n = self
                .lines
                .read_line(&mut self.line)
                .map_err(|e| self.error(format!("cannot read: {e}")))?;
            if n == 0 {
                if self.shape.is_none() {
                    bail!("{}: the trace holds no request", self.path.display());
                }
                return Ok(None);
            }
            self.number += 1;
            let text = self.line.trim();
            if text.is_empty() || text.starts_with('#') {
                continue;
            }
            let shape = match self.shape {
                Some(shape) => shape,
                None if text.starts_with('{') => {
                    self.shape = Some(Shape::Json);
                    Shape::Json
                }
                None => {
                    let columns = header(text).map_err(|e| self.error(e))?;
                    self.shape = Some(Shape::Csv(columns));
                    continue;
                }
            };
            let fields = match shape {
                Shape::Csv(columns) => csv_fields(text, columns.into()),
                Shape::Json => json_fields(text),
            }
            .map_err(|e| self.error(e))?;
            return self.request(fields).map(Some).map_err(|e| self.error(e));
        }
    }

    fn request(&mut self, f: Fields) -> anyhow::Result<Request> {
        let op = match f.op.as_str() {
            "encrypt" => Op::Encrypt,
            "decrypt" => Op::Decrypt,
            other => bail!("op is encrypt or decrypt, not {other:?}"),
        };
        let size = match &f.size {
            FieldValue::Number(n) => parse_size(n),
            FieldValue::Text(s) => parse_size(s),
        }
        .map_err(|e| anyhow!("bad size: {e:#}"))?;
        let at = self.time(&f.time)?;
        if at < self.last {
            bail!(
                "time goes backwards ({:.3} s after the first request, the line before was at \
                 {:.3} s): sort the trace by time",
                at.as_secs_f64(),
                self.last.as_secs_f64()
            );
        }
        self.last = at;
        if f.context.is_empty() {
            bail!("empty context");
        }
        let next = self.names.len() as u32;
        let context = match self.contexts.get(&f.context) {
            Some(&c) => c,
            None => {
                self.names.push(f.context.clone());
                self.contexts.insert(f.context, next);
                next
            }
        };
        let number = self.requests;
        self.requests += 1;
        Ok(Request {
            at,
            op,
            context,
            size,
            number,
            read_back: 0,
            reads: None,
        })
    }

    fn time(&mut self, time: &FieldValue) -> anyhow::Result<Duration> {
        let (clock, ns) = match time {
            FieldValue::Number(n) => (Clock::Relative, parse_seconds(n)?),
            // Seconds from the start are digits and a point: anything with a colon is a date.
            FieldValue::Text(s) if s.contains(':') => (Clock::Absolute(0), parse_rfc3339(s)?),
            FieldValue::Text(s) => (Clock::Relative, parse_seconds(s)?),
        };
        let start = match (self.clock, clock) {
            (None, Clock::Relative) => {
                self.clock = Some(Clock::Relative);
                0
            }
            (None, Clock::Absolute(_)) => {
                self.clock = Some(Clock::Absolute(ns));
                ns
            }
            (Some(Clock::Relative), Clock::Relative) => 0,
            (Some(Clock::Absolute(start)), Clock::Absolute(_)) => start,
            _ => bail!("time mixes RFC 3339 times and seconds from the start"),
        };
        let since = ns - start;
        if since < 0 {
            bail!("time is before the first request's: sort the trace by time");
        }
        u64::try_from(since)
            .map(Duration::from_nanos)
            .map_err(|_| anyhow!("time is out of range"))
    }
}

/// A field as the line wrote it: a JSON number keeps its text.
enum FieldValue {
    Number(String),
    Text(String),
}

struct Fields {
    time: FieldValue,
    op: String,
    context: String,
    size: FieldValue,
}

fn header(text: &str) -> anyhow::Result<[usize; 4]> {
    let names: Vec<String> = split_csv(text)?
        .into_iter()
        .map(|n| n.trim().to_ascii_lowercase())
        .collect();
    let find = |name: &str| {
        names.iter().position(|n| n == name).ok_or_else(|| {
            anyhow!(
                "the first line is the header time,op,context,size (or the trace is JSON lines), \
                 not {text:?}: no column {name:?}"
            )
        })
    };
    Ok([find("time")?, find("op")?, find("context")?, find("size")?])
}

fn csv_fields(text: &str, c: Columns) -> anyhow::Result<Fields> {
    let fields = split_csv(text)?;
    let width = [c.time, c.op, c.context, c.size]
        .into_iter()
        .max()
        .unwrap_or(0)
        + 1;
    if fields.len() < width {
        bail!("{} fields, the header has at least {width}", fields.len());
    }
    let take = |i: usize| fields.get(i).map_or("", |f| f.trim()).to_owned();
    Ok(Fields {
        time: FieldValue::Text(take(c.time)),
        op: take(c.op),
        context: take(c.context),
        size: FieldValue::Text(take(c.size)),
    })
}

/// Split a CSV line: fields in double quotes may hold commas and doubled quotes.
fn split_csv(line: &str) -> anyhow::Result<Vec<String>> {
    let mut fields = Vec::with_capacity(4);
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                    None => bail!("a quoted field is not closed"),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => {}
                Some(c) => bail!("{c:?} after a quoted field"),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some(c) => field.push(c),
                }
            }
        }
        fields.push(field);
    }
}

fn json_fields(text: &str) -> anyhow::Result<Fields> {
    let v: Value = serde_json::from_str(text).map_err(|e| anyhow!("not JSON: {e}"))?;
    let get = |k: &str| v.get(k).ok_or_else(|| anyhow!("no {k:?} key"));
    let value = |k: &str| -> anyhow::Result<FieldValue> {
        match get(k)? {
            Value::Number(n) => Ok(FieldValue::Number(n.to_string())),
            Value::String(s) => Ok(FieldValue::Text(s.clone())),
            other => bail!("{k} is a number or a string, not {other}"),
        }
    };
    let text = |k: &str| -> anyhow::Result<String> {
        match get(k)? {
            Value::String(s) => Ok(s.clone()),
            Value::Number(n) => Ok(n.to_string()),
            other => bail!("{k} is a string, not {other}"),
        }
    };
    Ok(Fields {
        time: value("time")?,
        op: text("op")?,
        context: text("context")?,
        size: value("size")?,
    })
}

/// `12`, `12.5`, `0.000000001`: exact to the nanosecond (no floating point, so that a trace
/// written by `--write-trace` replays at exactly the synthetic arrival times).
fn parse_seconds(s: &str) -> anyhow::Result<i128> {
    let s = s.trim();
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |d: &str| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !(frac.is_empty() || digits(frac)) {
        bail!("time is RFC 3339 or seconds from the start, not {s:?}");
    }
    if frac.len() > 9 {
        bail!("time {s:?} has more than nanosecond precision");
    }
    let whole: i128 = whole
        .parse::<u64>()
        .map_err(|_| anyhow!("time {s:?} is out of range"))?
        .into();
    let frac: i128 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}")
            .parse::<i128>()
            .map_err(|_| anyhow!("bad time {s:?}"))?
    };
    Ok(whole * 1_000_000_000 + frac)
}

/// RFC 3339 (`2024-05-01T12:00:00Z`, `2024-05-01T12:00:00.25+02:00`) to nanoseconds since the
/// Unix epoch.
fn parse_rfc3339(s: &str) -> anyhow::Result<i128> {
    let bad = || anyhow!("time {s:?} is not RFC 3339 (2024-05-01T12:00:00Z)");
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return Err(bad());
    }
    if b[13] != b':' || b[16] != b':' {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> anyhow::Result<i64> {
        let part = s.get(r).ok_or_else(bad)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        part.parse().map_err(|_| bad())
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return Err(bad());
    }
    // 60: a leap second, counted as the next one.
    if second > 60 {
        return Err(bad());
    }
    let mut rest = &s[19..];
    let mut nanos: i128 = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let end = frac
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(frac.len());
        if end == 0 {
            return Err(bad());
        }
        let digits = &frac[..end.min(9)];
        nanos = format!("{digits:0<9}").parse().map_err(|_| bad())?;
        rest = &frac[end..];
    }
    let offset_s: i64 = match rest {
        "Z" | "z" => 0,
        o if o.len() == 6 && o.is_ascii() && o.get(3..4) == Some(":") => {
            let sign = match o.get(..1) {
                Some("+") => 1,
                Some("-") => -1,
                _ => return Err(bad()),
            };
            let part = |r: std::ops::Range<usize>| -> anyhow::Result<i64> {
                let p = o.get(r).ok_or_else(bad)?;
                if !p.bytes().all(|c| c.is_ascii_digit()) {
                    return Err(bad());
                }
                p.parse().map_err(|_| bad())
            };
            sign * (part(1..3)? * 3600 + part(4..6)? * 60)
        }
        _ => return Err(bad()),
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_s;
    Ok(i128::from(secs) * 1_000_000_000 + nanos)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Read the whole trace once: check every line and count what is in it.
pub(crate) fn summarize(path: &Path) -> anyhow::Result<TraceSummary> {
    let mut reader = TraceReader::open(path)?;
    let (mut requests, mut encrypts, mut bytes) = (0u64, 0u64, 0f64);
    let mut last = Duration::ZERO;
    while let Some(r) = reader.next_request()? {
        requests += 1;
        if r.op == Op::Encrypt {
            encrypts += 1;
            bytes += r.size as f64;
        }
        last = r.at;
    }
    if requests == 0 {
        bail!("{}: the trace holds no request", path.display());
    }
    Ok(TraceSummary {
        path: path.to_owned(),
        requests,
        encrypts,
        decrypts: requests - encrypts,
        contexts: reader.contexts(),
        span: last,
        mean_size: if encrypts == 0 {
            0.0
        } else {
            bytes / encrypts as f64
        },
    })
}

/// Write requests as a CSV trace (`--write-trace`): exact times, so that the trace replays the
/// same arrivals.
pub(crate) fn write_csv(
    out: &mut impl Write,
    requests: impl Iterator<Item = Request>,
    context_name: impl Fn(u32) -> String,
) -> std::io::Result<u64> {
    writeln!(out, "time,op,context,size")?;
    let mut n = 0;
    for r in requests {
        writeln!(
            out,
            "{}.{:09},{},{},{}",
            r.at.as_secs(),
            r.at.subsec_nanos(),
            r.op.name(),
            context_name(r.context),
            r.size
        )?;
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace(text: &str) -> (tempdir::Dir, PathBuf) {
        let dir = tempdir::Dir::new();
        let path = dir.0.join("trace");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    mod tempdir {
        /// A directory removed on drop.
        pub(super) struct Dir(pub(super) std::path::PathBuf);
        impl Dir {
            pub(super) fn new() -> Self {
                use std::sync::atomic::{AtomicU32, Ordering};
                static N: AtomicU32 = AtomicU32::new(0);
                let p = std::env::temp_dir().join(format!(
                    "sealbox-trace-{}-{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::Relaxed)
                ));
                std::fs::create_dir_all(&p).unwrap();
                Dir(p)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    fn all(path: &Path) -> anyhow::Result<Vec<Request>> {
        let mut r = TraceReader::open(path)?;
        let mut out = Vec::new();
        while let Some(req) = r.next_request()? {
            out.push(req);
        }
        Ok(out)
    }

    #[test]
    fn csv_and_json_lines_read_the_same() {
        let (_d, csv) = trace(
            "time,op,context,size\n0,encrypt,a,1KiB\n# a comment\n\n1.5,decrypt,\"b,c\",100\n2.000000001,encrypt,a,7\n",
        );
        let (_e, json) = trace(
            "{\"time\": 0, \"op\": \"encrypt\", \"context\": \"a\", \"size\": \"1KiB\"}\n\
             {\"time\": \"1.5\", \"op\": \"decrypt\", \"context\": \"b,c\", \"size\": 100}\n\
             {\"time\": \"2.000000001\", \"op\": \"encrypt\", \"context\": \"a\", \"size\": 7}\n",
        );
        let a = all(&csv).unwrap();
        assert_eq!(a, all(&json).unwrap());
        assert_eq!(a.len(), 3);
        assert_eq!(a[0].size, 1024);
        assert_eq!((a[1].op, a[1].context), (Op::Decrypt, 1));
        assert_eq!(a[2].context, 0);
        assert_eq!(a[2].at, Duration::new(2, 1));
        let s = summarize(&csv).unwrap();
        assert_eq!(
            (s.requests, s.encrypts, s.decrypts, s.contexts),
            (3, 2, 1, 2)
        );
    }

    #[test]
    fn rfc3339_times_are_relative_to_the_first() {
        let (_d, p) = trace(
            "time,op,context,size\n2024-02-28T23:59:59.5Z,encrypt,a,1\n2024-03-01T01:00:00+01:00,encrypt,a,1\n",
        );
        let r = all(&p).unwrap();
        // 23:59:59.5 on the 28th to midnight UTC on the 1st, across the 29th (a leap year).
        assert_eq!(r[1].at, Duration::from_millis(86_400_500));
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn malformed_lines_name_their_line() {
        for (text, line, needle) in [
            ("time,op,size\n", 1, "no column \"context\""),
            (
                "time,op,context,size\n0,encrypt,a,1\nx,encrypt,a,1\n",
                3,
                "time",
            ),
            ("time,op,context,size\n0,encrypt,a,1\n1,sign,a,1\n", 3, "op"),
            (
                "time,op,context,size\n0,encrypt,a,1\n1,encrypt,a\n",
                3,
                "fields",
            ),
            (
                "time,op,context,size\n5,encrypt,a,1\n4,encrypt,a,1\n",
                3,
                "backwards",
            ),
            ("time,op,context,size\n0,encrypt,a,3 parsecs\n", 2, "size"),
            ("time,op,context,size\n0,encrypt,\"a,1\n", 2, "quoted"),
            ("{\"time\": 0, \"op\": \"encrypt\"}\n", 1, "context"),
            (
                "{\"time\": 0, \"op\": \"encrypt\", \"context\": \"a\", \"size\": 1}\n{oops\n",
                2,
                "JSON",
            ),
            (
                "time,op,context,size\n0,encrypt,a,1\n2024-01-01T00:00:00Z,encrypt,a,1\n",
                3,
                "mixes",
            ),
            (
                "time,op,context,size\n2024-13-01T00:00:00Z,encrypt,a,1\n",
                2,
                "RFC 3339",
            ),
            (
                "time,op,context,size\n2024-01-01T00:00:00+é:00,encrypt,a,1\n",
                2,
                "RFC 3339",
            ),
            (
                "time,op,context,size\n2024-01-01T00:0é:00Z,encrypt,a,1\n",
                2,
                "RFC 3339",
            ),
            (
                "time,op,context,size\n2024-01-01 00:00:00.5Q,encrypt,a,1\n",
                2,
                "RFC 3339",
            ),
        ] {
            let (_d, p) = trace(text);
            let e = format!("{:#}", all(&p).unwrap_err());
            assert!(e.contains(&format!("line {line}:")), "{text:?}: {e}");
            assert!(e.contains(needle), "{text:?}: {e}");
        }
        let (_d, p) = trace("time,op,context,size\n");
        assert!(all(&p).is_ok_and(|r| r.is_empty()));
        assert!(summarize(&p).is_err());
    }

    #[test]
    fn a_written_trace_reads_back_exactly() {
        let reqs = vec![
            Request {
                at: Duration::from_secs_f64(1.0 / 3.0),
                op: Op::Encrypt,
                context: 0,
                size: 5,
                number: 0,
                read_back: 0,
                reads: None,
            },
            Request {
                at: Duration::new(7, 999_999_999),
                op: Op::Decrypt,
                context: 1,
                size: 0,
                number: 1,
                read_back: 0,
                reads: None,
            },
        ];
        let mut out = Vec::new();
        write_csv(&mut out, reqs.clone().into_iter(), |c| {
            format!("tenant-{c}")
        })
        .unwrap();
        let (_d, p) = trace(std::str::from_utf8(&out).unwrap());
        assert_eq!(all(&p).unwrap(), reqs);
    }
}
