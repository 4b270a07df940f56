//! `sealbox simulate`: try data-key caching thresholds against a traffic profile before deploying
//! them, with the real caching materials manager and client, on virtual time.

mod engine;
mod keyring;
mod report;
mod scenario;
mod traffic;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use clap::Args;
use sealbox::AlgorithmSuite;

use engine::{CacheConfig, Caller, Plan, Thresholds};
use keyring::{Latency, ServiceModel};
use traffic::{parse_duration, parse_list, parse_optional, parse_size, parse_sizes, Arrivals};

/// `sealbox simulate`. Every option overrides the scenario's value; threshold options take a
/// comma-separated list, and every combination of their values is one configuration.
#[derive(Args, Debug)]
pub(crate) struct SimulateArgs {
    /// A worked example whose settings are the defaults: slow-master-key, high-volume, burst,
    /// expensive-master-key.
    #[arg(long)]
    scenario: Option<String>,

    /// Traffic: messages per second (during a burst, with --burst).
    #[arg(long, help_heading = "Traffic")]
    rate: Option<f64>,
    /// Traffic: the rate for ON in every PERIOD and nothing between, e.g. 5s/60s; `none` for
    /// steady traffic.
    #[arg(long, value_name = "ON/PERIOD", help_heading = "Traffic")]
    burst: Option<String>,
    /// Traffic: message sizes: 1KiB, uniform:50MB-150MB, or a weighted mix:1KiB*90,1MiB*10.
    #[arg(long, value_name = "SIZES", help_heading = "Traffic")]
    size: Option<String>,
    /// Traffic: distinct encryption contexts, used in turn (each one is its own cache entry).
    #[arg(long, default_value_t = 1, help_heading = "Traffic")]
    contexts: u32,
    /// Traffic: the simulated window in which requests arrive, e.g. 10m, 1h. Costs are
    /// extrapolated from it to 30 days.
    #[arg(long, help_heading = "Traffic")]
    duration: Option<String>,

    /// Master key: latency of one call, e.g. 10ms, or a uniform range 5ms-15ms.
    #[arg(long, help_heading = "Master key")]
    latency: Option<String>,
    /// Master key: calls per second it accepts; the rest are throttled. `none`: no limit.
    #[arg(long, value_name = "CALLS_PER_S", help_heading = "Master key")]
    rate_limit: Option<String>,
    /// Master key: seconds of unused quota it lets a caller save up for a burst.
    #[arg(long, default_value_t = 1.0, help_heading = "Master key")]
    quota_burst: f64,
    /// Master key: dollars per successful call (throttled calls are free).
    #[arg(long, value_name = "USD", help_heading = "Master key")]
    cost: Option<f64>,

    /// Caller: retries after a throttled or failed encrypt.
    #[arg(long, default_value_t = 3, help_heading = "Caller")]
    retries: u32,
    /// Caller: the first retry's backoff; it doubles each retry, with full jitter.
    #[arg(long, default_value = "50ms", help_heading = "Caller")]
    backoff: String,
    /// Caller: a request that has not succeeded this long after it arrived fails.
    #[arg(long, default_value = "10s", help_heading = "Caller")]
    timeout: String,
    /// Caller: requests in progress at once; more wait in a queue.
    #[arg(long, default_value_t = 256, help_heading = "Caller")]
    concurrency: usize,

    /// Threshold: maximum data-key age, e.g. 20s,5m.
    #[arg(
        long,
        value_name = "LIST",
        help_heading = "Thresholds (comma lists sweep)"
    )]
    max_age: Option<String>,
    /// Threshold: maximum messages per data key, e.g. 1,3,10,100,275 (`none`: 2^32).
    #[arg(
        long,
        value_name = "LIST",
        help_heading = "Thresholds (comma lists sweep)"
    )]
    max_messages: Option<String>,
    /// Threshold: maximum plaintext bytes per data key, e.g. 10GB (`none`: 2^63 - 1).
    #[arg(
        long,
        value_name = "LIST",
        help_heading = "Thresholds (comma lists sweep)"
    )]
    max_bytes: Option<String>,
    /// Threshold: cache capacity in entries.
    #[arg(
        long,
        value_name = "LIST",
        help_heading = "Thresholds (comma lists sweep)"
    )]
    capacity: Option<String>,
    /// Threshold: refresh entries this long before max age (`none`: no refresh ahead).
    #[arg(
        long,
        value_name = "LIST",
        help_heading = "Thresholds (comma lists sweep)"
    )]
    refresh_ahead: Option<String>,
    /// Also run with no cache at all (every message calls the master key).
    #[arg(
        long,
        overrides_with = "no_baseline",
        help_heading = "Thresholds (comma lists sweep)"
    )]
    baseline: bool,
    /// Do not run the no-cache configuration a scenario includes.
    #[arg(long, help_heading = "Thresholds (comma lists sweep)")]
    no_baseline: bool,

    /// A monthly budget in dollars to compare each configuration's cost with.
    #[arg(long, value_name = "USD")]
    budget: Option<f64>,
    /// The algorithm suite in hex (default 0478: signing costs CPU time, not cache behaviour).
    #[arg(long, default_value = "0478")]
    suite: String,
    /// Seed of the message sizes, latencies and backoff jitter.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// One JSON object per configuration, one per line, instead of the table.
    #[arg(long)]
    json: bool,
}

/// The plan and the configurations to run.
fn resolve(args: &SimulateArgs) -> anyhow::Result<(Plan, Vec<CacheConfig>, Option<&'static str>)> {
    let (sc, named) = match &args.scenario {
        Some(name) => {
            let s = scenario::find(name)?;
            (*s, Some(s.name))
        }
        None => (scenario::CUSTOM, None),
    };
    let rate = args.rate.unwrap_or(sc.rate);
    if !(rate.is_finite() && rate > 0.0) {
        bail!("--rate must be more than zero");
    }
    let burst = match args.burst.as_deref().or(sc.burst) {
        None | Some("none") => None,
        Some(b) => {
            let (on, period) = b
                .split_once('/')
                .ok_or_else(|| anyhow!("--burst is ON/PERIOD, e.g. 5s/60s, not {b:?}"))?;
            let (on, period) = (parse_duration(on)?, parse_duration(period)?);
            if on.is_zero() || on > period {
                bail!("--burst: ON must be more than zero and at most PERIOD");
            }
            Some((on, period))
        }
    };
    let duration = parse_duration(args.duration.as_deref().unwrap_or(sc.duration))?;
    if duration.is_zero() {
        bail!("--duration must be more than zero");
    }
    let latency = {
        let l = args.latency.as_deref().unwrap_or(sc.latency);
        match l.split_once('-') {
            Some((a, b)) => Latency::Uniform(parse_duration(a)?, parse_duration(b)?),
            None => Latency::Fixed(parse_duration(l)?),
        }
    };
    let rate_limit = match &args.rate_limit {
        Some(r) => parse_optional(r, |v| {
            v.parse::<f64>()
                .with_context(|| format!("bad --rate-limit {v:?}"))
        })?,
        None => sc.rate_limit,
    };
    if rate_limit.is_some_and(|r| !(r.is_finite() && r > 0.0)) {
        bail!("--rate-limit must be more than zero, or none");
    }
    let suite = u16::from_str_radix(args.suite.trim_start_matches("0x"), 16)
        .ok()
        .and_then(AlgorithmSuite::from_id)
        .ok_or_else(|| anyhow!("unknown suite {:?}", args.suite))?;
    let plan = Plan {
        scenario: named,
        arrivals: Arrivals { rate, burst },
        sizes: parse_sizes(args.size.as_deref().unwrap_or(sc.size))?,
        contexts: args.contexts.max(1),
        duration,
        service: ServiceModel {
            latency,
            rate_limit,
            burst_seconds: args.quota_burst,
            cost_per_call: args.cost.unwrap_or(sc.cost),
        },
        caller: Caller {
            retries: args.retries,
            backoff: parse_duration(&args.backoff)?,
            timeout: parse_duration(&args.timeout)?,
            concurrency: args.concurrency.max(1),
        },
        suite,
        seed: args.seed,
        budget: args.budget.or(sc.budget),
    };

    let max_ages = parse_list(
        args.max_age.as_deref().unwrap_or(sc.max_age),
        parse_duration,
    )?;
    let max_messages = parse_list(
        args.max_messages.as_deref().unwrap_or(sc.max_messages),
        |v| {
            parse_optional(v, |v| {
                v.replace('_', "")
                    .parse::<u64>()
                    .with_context(|| format!("bad --max-messages {v:?}"))
            })
        },
    )?;
    let max_bytes = parse_list(args.max_bytes.as_deref().unwrap_or(sc.max_bytes), |v| {
        parse_optional(v, parse_size)
    })?;
    let capacities = parse_list(args.capacity.as_deref().unwrap_or("1000"), |v| {
        v.parse::<usize>()
            .with_context(|| format!("bad --capacity {v:?}"))
    })?;
    let refreshes = parse_list(args.refresh_ahead.as_deref().unwrap_or("none"), |v| {
        parse_optional(v, parse_duration)
    })?;

    let mut configs = Vec::new();
    let baseline = (sc.baseline || args.baseline) && !args.no_baseline;
    if baseline {
        configs.push(CacheConfig::Off);
    }
    for &max_age in &max_ages {
        for &max_messages in &max_messages {
            for &max_bytes in &max_bytes {
                for &capacity in &capacities {
                    for &refresh_ahead in &refreshes {
                        configs.push(CacheConfig::On(Thresholds {
                            max_age,
                            max_messages,
                            max_bytes,
                            capacity,
                            refresh_ahead,
                        }));
                    }
                }
            }
        }
    }
    if configs.len() > 1000 {
        bail!("{} configurations: narrow the sweep", configs.len());
    }
    Ok((plan, configs, named.map(|_| sc.about)))
}

/// Run every configuration and print each result as soon as it is known.
pub(crate) fn run(args: &SimulateArgs) -> anyhow::Result<ExitCode> {
    let (plan, configs, about) = resolve(args)?;
    if !args.json {
        report::print_plan(&plan, about, configs.len());
    }
    for config in configs {
        let outcome = engine::run(&plan, config)?;
        if args.json {
            outln!("{}", report::json(&plan, &outcome));
        } else {
            report::print_row(&plan, &outcome);
        }
    }
    if !args.json {
        report::print_footer(&plan);
    }
    Ok(ExitCode::SUCCESS)
}

/// A monthly cost for people: $94,254 or $0.81.
fn dollars(x: f64) -> String {
    if x >= 100.0 {
        let whole = x.round() as u64;
        let digits = whole.to_string();
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        format!("${out}")
    } else {
        format!("${x:.2}")
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
