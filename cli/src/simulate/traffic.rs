//! Traffic profiles (when requests arrive, how large their messages are) and the parsers for the
//! command line's durations, sizes and lists.

use std::fmt;
use std::time::Duration;

use std::collections::VecDeque;

use anyhow::{anyhow, bail, Context};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::trace::{Op, Request};

/// When messages arrive.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Arrivals {
    /// Messages per second (during a burst, for a bursty profile).
    pub(crate) rate: f64,
    /// `Some((on, period))`: the rate for `on` at the start of every `period`, nothing between.
    pub(crate) burst: Option<(Duration, Duration)>,
}

impl Arrivals {
    /// The arrival time of request `i` (from 0), evenly spaced at the rate.
    pub(crate) fn time_of(&self, i: u64) -> Duration {
        match self.burst {
            None => Duration::from_secs_f64(i as f64 / self.rate),
            Some((_, period)) => {
                let per_burst = self.per_burst();
                let (k, j) = (i / per_burst, i % per_burst);
                period * k as u32 + Duration::from_secs_f64(j as f64 / self.rate)
            }
        }
    }

    /// Messages in one burst (at least one).
    fn per_burst(&self) -> u64 {
        match self.burst {
            None => u64::MAX,
            Some((on, _)) => ((self.rate * on.as_secs_f64()).floor() as u64).max(1),
        }
    }

    /// Which burst a moment (since the start) falls in; `None` for a steady profile.
    pub(crate) fn burst_of(&self, t: Duration) -> Option<u64> {
        self.burst
            .map(|(_, period)| (t.as_nanos() / period.as_nanos().max(1)) as u64)
    }

    /// Messages per second averaged over time.
    pub(crate) fn mean_rate(&self) -> f64 {
        match self.burst {
            None => self.rate,
            Some((_, period)) => self.per_burst() as f64 / period.as_secs_f64(),
        }
    }
}

impl fmt::Display for Arrivals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.burst {
            None => write!(f, "steady {} msg/s", self.rate),
            Some((on, period)) => write!(
                f,
                "bursts of {} msg/s for {} every {}",
                self.rate,
                show_duration(on),
                show_duration(period)
            ),
        }
    }
}

/// Synthetic decrypts (`--decrypt-ratio`, `--decrypt-delay`): each message is read back `ratio`
/// times on average (0.5: every other message; 2: every message twice), `delay` after it arrived.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct ReadBack {
    pub(crate) ratio: f64,
    pub(crate) delay: Duration,
}

impl ReadBack {
    /// How many times encrypt number `i` (from 0) is read back: the ratio spread evenly, so
    /// that `n` messages are read back `floor(n * ratio)` times in all.
    pub(crate) fn times(&self, i: u64) -> u32 {
        let upto = |n: u64| (n as f64 * self.ratio).floor() as u64;
        (upto(i + 1) - upto(i)) as u32
    }
}

/// The requests of synthetic traffic, in time order: encrypts at the arrival times within the
/// window, each to context `i % contexts`, and the decrypts that read them back.
pub(crate) struct SyntheticSource {
    arrivals: Arrivals,
    sizes: Sizes,
    rng: StdRng,
    contexts: u32,
    duration: Duration,
    read_back: Option<ReadBack>,
    /// Encrypts emitted so far.
    encrypts: u64,
    /// Requests emitted so far.
    emitted: u64,
    /// Decrypts not yet due. The delay is the same for every message, so they are due in the
    /// order their messages arrived.
    due: VecDeque<Request>,
}

impl SyntheticSource {
    pub(crate) fn new(
        arrivals: Arrivals,
        sizes: Sizes,
        contexts: u32,
        duration: Duration,
        read_back: Option<ReadBack>,
        seed: u64,
    ) -> Self {
        SyntheticSource {
            arrivals,
            sizes,
            // The same draws as before decrypts existed: sizes only, one per encrypt.
            rng: StdRng::seed_from_u64(seed),
            contexts: contexts.max(1),
            duration,
            read_back,
            encrypts: 0,
            emitted: 0,
            due: VecDeque::new(),
        }
    }
}

impl Iterator for SyntheticSource {
    type Item = Request;

    fn next(&mut self) -> Option<Request> {
        let at = self.arrivals.time_of(self.encrypts);
        let encrypt_next = at < self.duration;
        let mut request = match self.due.front() {
            Some(d) if !encrypt_next || d.at < at => self.due.pop_front()?,
            _ if encrypt_next => {
                let i = self.encrypts;
                self.encrypts += 1;
                let context = (i % u64::from(self.contexts)) as u32;
                let size = self.sizes.draw(&mut self.rng);
                let read_back = self.read_back.map_or(0, |r| r.times(i));
                if let Some(r) = self.read_back {
                    for _ in 0..read_back {
                        self.due.push_back(Request {
                            at: at + r.delay,
                            op: Op::Decrypt,
                            context,
                            size,
                            number: 0,
                            read_back: 0,
                            reads: Some(self.emitted),
                        });
                    }
                }
                Request {
                    at,
                    op: Op::Encrypt,
                    context,
                    size,
                    number: 0,
                    read_back,
                    reads: None,
                }
            }
            _ => return None,
        };
        request.number = self.emitted;
        self.emitted += 1;
        Some(request)
    }
}

/// How large messages are (the plaintext length each request declares).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Sizes {
    /// Every message this many bytes.
    Fixed(u64),
    /// Uniformly distributed between the two, inclusive.
    Uniform(u64, u64),
    /// A weighted mix of sizes: (size, weight).
    Mix(Vec<(u64, u32)>),
}

impl Sizes {
    pub(crate) fn draw(&self, rng: &mut impl Rng) -> u64 {
        match self {
            Sizes::Fixed(n) => *n,
            Sizes::Uniform(a, b) => rng.gen_range(*a..=*b),
            Sizes::Mix(choices) => {
                let total: u64 = choices.iter().map(|&(_, w)| u64::from(w)).sum();
                let mut pick = rng.gen_range(0..total);
                for &(size, w) in choices {
                    if pick < u64::from(w) {
                        return size;
                    }
                    pick -= u64::from(w);
                }
                choices.last().map_or(0, |&(s, _)| s)
            }
        }
    }

    /// The mean message size.
    pub(crate) fn mean(&self) -> f64 {
        match self {
            Sizes::Fixed(n) => *n as f64,
            Sizes::Uniform(a, b) => (*a as f64 + *b as f64) / 2.0,
            Sizes::Mix(choices) => {
                let total: f64 = choices.iter().map(|&(_, w)| f64::from(w)).sum();
                choices
                    .iter()
                    .map(|&(s, w)| s as f64 * f64::from(w))
                    .sum::<f64>()
                    / total
            }
        }
    }
}

impl fmt::Display for Sizes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sizes::Fixed(n) => write!(f, "{}", show_size(*n)),
            Sizes::Uniform(a, b) => write!(f, "uniform {}-{}", show_size(*a), show_size(*b)),
            Sizes::Mix(choices) => {
                let parts: Vec<String> = choices
                    .iter()
                    .map(|&(s, w)| format!("{}*{w}", show_size(s)))
                    .collect();
                write!(f, "mix {}", parts.join(","))
            }
        }
    }
}

/// `1KiB`, `uniform:50MB-150MB`, `mix:1KiB*90,1MiB*10`.
pub(crate) fn parse_sizes(s: &str) -> anyhow::Result<Sizes> {
    if let Some(range) = s.strip_prefix("uniform:") {
        let (a, b) = range
            .split_once('-')
            .ok_or_else(|| anyhow!("uniform sizes are written uniform:MIN-MAX, not {s:?}"))?;
        let (a, b) = (parse_size(a)?, parse_size(b)?);
        if a > b {
            bail!("in {s:?} the minimum is larger than the maximum");
        }
        return Ok(Sizes::Uniform(a, b));
    }
    if let Some(list) = s.strip_prefix("mix:") {
        let mut choices = Vec::new();
        for part in list.split(',') {
            let (size, weight) = part.split_once('*').unwrap_or((part, "1"));
            let weight: u32 = weight
                .trim()
                .parse()
                .with_context(|| format!("bad weight in {part:?}"))?;
            choices.push((parse_size(size)?, weight));
        }
        if choices.iter().all(|&(_, w)| w == 0) {
            bail!("a size mix needs a positive weight");
        }
        return Ok(Sizes::Mix(choices));
    }
    Ok(Sizes::Fixed(parse_size(s)?))
}

/// `1024`, `1KiB`, `64KB`, `10GB`, `1.5MiB` (KB, MB, GB, TB are powers of 1000; KiB ... of 1024).
pub(crate) fn parse_size(s: &str) -> anyhow::Result<u64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let num: f64 = num
        .parse()
        .with_context(|| format!("bad size {s:?} (examples: 1024, 64KiB, 10GB)"))?;
    let scale: f64 = match unit.trim() {
        "" | "B" => 1.0,
        "KB" | "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "TB" => 1e12,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "TiB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        other => {
            bail!("unknown size unit {other:?} in {s:?} (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)")
        }
    };
    let bytes = (num * scale).round();
    if !(0.0..=u64::MAX as f64).contains(&bytes) {
        bail!("size {s:?} is out of range");
    }
    Ok(bytes as u64)
}

/// `250ms`, `20s`, `5m`, `1h`, `30d`; a bare number is seconds.
pub(crate) fn parse_duration(s: &str) -> anyhow::Result<Duration> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let num: f64 = num
        .parse()
        .with_context(|| format!("bad duration {s:?} (examples: 250ms, 20s, 5m, 1h)"))?;
    let secs = match unit.trim() {
        "ms" => num / 1e3,
        "" | "s" => num,
        "m" | "min" => num * 60.0,
        "h" => num * 3600.0,
        "d" => num * 86400.0,
        other => bail!("unknown duration unit {other:?} in {s:?} (ms, s, m, h, d)"),
    };
    Duration::try_from_secs_f64(secs).with_context(|| format!("duration {s:?} is out of range"))
}

/// A comma-separated list of values, each parsed by `one`.
pub(crate) fn parse_list<T>(
    s: &str,
    one: impl Fn(&str) -> anyhow::Result<T>,
) -> anyhow::Result<Vec<T>> {
    let values = s
        .split(',')
        .map(|v| one(v.trim()))
        .collect::<anyhow::Result<Vec<T>>>()?;
    if values.is_empty() {
        bail!("empty list");
    }
    Ok(values)
}

/// `none`, or a value.
pub(crate) fn parse_optional<T>(
    s: &str,
    one: impl Fn(&str) -> anyhow::Result<T>,
) -> anyhow::Result<Option<T>> {
    match s {
        "none" | "off" => Ok(None),
        v => one(v).map(Some),
    }
}

/// A size for people, in the largest unit that divides it: `1KiB`, `10GB`.
pub(crate) fn show_size(n: u64) -> String {
    const UNITS: [(u64, &str); 8] = [
        (1 << 40, "TiB"),
        (1_000_000_000_000, "TB"),
        (1 << 30, "GiB"),
        (1_000_000_000, "GB"),
        (1 << 20, "MiB"),
        (1_000_000, "MB"),
        (1 << 10, "KiB"),
        (1_000, "KB"),
    ];
    if let Some((unit, name)) = UNITS
        .into_iter()
        .filter(|&(unit, _)| n >= unit && n.is_multiple_of(unit))
        .max_by_key(|&(unit, _)| unit)
    {
        return format!("{}{name}", n / unit);
    }
    if n >= 1_000_000 {
        return format!("{:.1}MB", n as f64 / 1e6);
    }
    format!("{n}B")
}

/// A duration for people: `250ms`, `20s`, `5m`, `1h`.
pub(crate) fn show_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if !ms.is_multiple_of(1000) || ms == 0 {
        return format!("{ms}ms");
    }
    let s = d.as_secs();
    if s.is_multiple_of(86400) {
        format!("{}d", s / 86400)
    } else if s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_parse() {
        assert_eq!(parse_size("1KiB").unwrap(), 1024);
        assert_eq!(parse_size("10GB").unwrap(), 10_000_000_000);
        assert_eq!(parse_size("1.5MiB").unwrap(), 1_572_864);
        assert_eq!(parse_size("700").unwrap(), 700);
        assert!(parse_size("3 parsecs").is_err());
        assert_eq!(parse_duration("20s").unwrap(), Duration::from_secs(20));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(
            parse_list("1,3,10", |s| Ok(s.parse::<u64>()?)).unwrap(),
            vec![1, 3, 10]
        );
        assert_eq!(parse_optional("none", parse_duration).unwrap(), None);
        assert_eq!(
            parse_sizes("uniform:50MB-150MB").unwrap(),
            Sizes::Uniform(50_000_000, 150_000_000)
        );
        assert_eq!(
            parse_sizes("mix:1KiB*9,1MiB").unwrap(),
            Sizes::Mix(vec![(1024, 9), (1 << 20, 1)])
        );
        assert_eq!(show_size(10_000_000_000), "10GB");
        assert_eq!(show_size(1024), "1KiB");
        assert_eq!(show_duration(Duration::from_secs(20)), "20s");
    }

    #[test]
    fn bursts_arrive_at_the_start_of_each_period() {
        let a = Arrivals {
            rate: 100.0,
            burst: Some((Duration::from_secs(5), Duration::from_secs(60))),
        };
        assert_eq!(a.time_of(0), Duration::ZERO);
        assert_eq!(a.time_of(499), Duration::from_millis(4990));
        assert_eq!(a.time_of(500), Duration::from_secs(60));
        assert_eq!(a.burst_of(Duration::from_secs(61)), Some(1));
        assert!((a.mean_rate() - 500.0 / 60.0).abs() < 1e-9);
        let steady = Arrivals {
            rate: 1000.0,
            burst: None,
        };
        assert_eq!(steady.time_of(1000), Duration::from_secs(1));
        assert_eq!(steady.burst_of(Duration::from_secs(1)), None);
    }
}
