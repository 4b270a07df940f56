//! `sealbox simulate`: try data-key caching thresholds against a traffic profile before deploying
//! them, with the real caching materials manager and client, on virtual time.

mod engine;
mod fleet;
mod keyring;
mod plot;
mod recommend;
mod report;
mod scenario;
mod trace;
mod traffic;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use clap::Args;
use sealbox::AlgorithmSuite;

use engine::{CacheConfig, Caller, Plan, Thresholds};
use keyring::{Latency, ServiceModel};
use traffic::{
    parse_duration, parse_list, parse_optional, parse_size, parse_sizes, show_duration, Arrivals,
    ReadBack,
};

/// `sealbox simulate`. Every option overrides the scenario's value; threshold options take a
/// comma-separated list, and every combination of their values is one configuration.
#[derive(Args, Debug)]
pub(crate) struct SimulateArgs {
    /// A worked example whose settings are the defaults: slow-master-key, high-volume, burst,
    /// expensive-master-key, fleet.
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
    /// extrapolated from it to 30 days. With --trace: the window the trace covers (default: from
    /// its first request to its last).
    #[arg(long, help_heading = "Traffic")]
    duration: Option<String>,
    /// Traffic: messages read back per message written (0.5: every other one; 2: each twice),
    /// through the caching manager's decrypt path.
    #[arg(long, value_name = "RATIO", help_heading = "Traffic")]
    decrypt_ratio: Option<f64>,
    /// Traffic: how long after it was written a message is read back (default 1m).
    #[arg(long, value_name = "DELAY", help_heading = "Traffic")]
    decrypt_delay: Option<String>,
    /// Traffic: replay a trace instead: CSV with the header time,op,context,size, or JSON lines
    /// with those keys (time: RFC 3339 or seconds from the start; op: encrypt or decrypt;
    /// context: requests with the same one share cache entries; size: bytes or e.g. 1KiB). Its
    /// span is the window. See docs/simulator.md.
    #[arg(long, value_name = "FILE", help_heading = "Traffic")]
    trace: Option<PathBuf>,
    /// Traffic: write the synthetic traffic as a trace to FILE and stop.
    #[arg(long, value_name = "FILE", help_heading = "Traffic")]
    write_trace: Option<PathBuf>,

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

    /// Fleet: hosts, each with caches of its own (fleet mode: no cache, data-key caching and
    /// the hierarchical keyring compared). Default: 100.
    #[arg(long, help_heading = "Fleet")]
    hosts: Option<u32>,
    /// Fleet: tenants, each with its own encryption context and branch key. Default: 1000.
    #[arg(long, help_heading = "Fleet")]
    tenants: Option<u32>,
    /// Fleet: the Zipf exponent of the tenant mix (0: uniform; 1: tenant k gets 1/k as much).
    #[arg(long, default_value_t = 1.0, help_heading = "Fleet")]
    zipf: f64,
    /// Fleet: hosts actually simulated, each with its share of the traffic; counts and costs are
    /// scaled to --hosts (hosts are identical and independent, each with its own caches, and
    /// receive traffic uniformly at random). Default: 1.
    #[arg(long, help_heading = "Fleet")]
    sample_hosts: Option<u32>,
    /// Fleet: the hierarchical keyring's branch-key TTL.
    #[arg(long, default_value = "5m", help_heading = "Fleet")]
    branch_key_ttl: String,
    /// Fleet: DynamoDB GetItem latency (a branch-key read), e.g. 5ms or 3ms-8ms.
    #[arg(long, default_value = "5ms", help_heading = "Fleet")]
    ddb_latency: String,
    /// Fleet: dollars per DynamoDB read. Default: $0.25 per million strongly consistent reads
    /// (on-demand read request units, us-east-1). A hierarchical miss also pays one KMS call at
    /// --cost (default $0.03 per 10,000 requests).
    #[arg(
        long,
        value_name = "USD",
        default_value_t = 0.000_000_25,
        help_heading = "Fleet"
    )]
    ddb_cost: f64,

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
    /// Draw the results to FILE.svg or FILE.png: for a sweep, monthly cost and p99 latency
    /// against the swept threshold (with the budget); for one configuration, master-key calls
    /// per second and the cache hit rate over time.
    #[arg(long, value_name = "FILE")]
    plot: Option<PathBuf>,
    /// Search max messages for the smallest that keeps within --budget and the master key's
    /// rate limit, under one --max-age (the policy), and print it with the reason.
    #[arg(long)]
    recommend: bool,
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
    let trace = match &args.trace {
        Some(path) => {
            for (given, name) in [
                (args.rate.is_some(), "--rate"),
                (args.burst.is_some(), "--burst"),
                (args.size.is_some(), "--size"),
                (args.contexts != 1, "--contexts"),
                (args.decrypt_ratio.is_some(), "--decrypt-ratio"),
                (args.decrypt_delay.is_some(), "--decrypt-delay"),
                (args.write_trace.is_some(), "--write-trace"),
            ] {
                if given {
                    bail!("{name} describes synthetic traffic: a --trace brings its own");
                }
            }
            let summary = trace::summarize(path)?;
            if summary.span.is_zero() {
                bail!(
                    "{}: the trace spans no time (its first and last requests are at the same \
                     time), so there is no window to extrapolate a month from",
                    path.display()
                );
            }
            Some(summary)
        }
        None => None,
    };
    let read_back = match (args.decrypt_ratio, &args.decrypt_delay) {
        (None, None) => None,
        (ratio, delay) => {
            let ratio = ratio.unwrap_or(1.0);
            if !(ratio.is_finite() && (0.0..=100.0).contains(&ratio)) {
                bail!("--decrypt-ratio is from 0 to 100 reads per message");
            }
            Some(ReadBack {
                ratio,
                delay: parse_duration(delay.as_deref().unwrap_or("1m"))?,
            })
        }
    };
    let rate = match &trace {
        Some(t) => (t.requests as f64 / t.span.as_secs_f64()).max(f64::MIN_POSITIVE),
        None => args.rate.unwrap_or(sc.rate),
    };
    if !(rate.is_finite() && rate > 0.0) {
        bail!("--rate must be more than zero");
    }
    let burst = match args.burst.as_deref().or(sc.burst) {
        _ if trace.is_some() => None,
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
    let duration = match (&trace, &args.duration) {
        (Some(t), None) => t.span,
        (Some(t), Some(d)) => {
            let d = parse_duration(d)?;
            if d < t.span {
                bail!(
                    "--duration {}: the trace spans {:.3} s, longer than that window",
                    show_duration(d),
                    t.span.as_secs_f64()
                );
            }
            d
        }
        (None, d) => parse_duration(d.as_deref().unwrap_or(sc.duration))?,
    };
    if duration.is_zero() {
        bail!("--duration must be more than zero");
    }
    let latency = parse_latency(args.latency.as_deref().unwrap_or(sc.latency))?;
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
    let suite = parse_suite(&args.suite)?;
    let plan = Plan {
        scenario: named,
        arrivals: Arrivals { rate, burst },
        sizes: parse_sizes(args.size.as_deref().unwrap_or(sc.size))?,
        contexts: match &trace {
            Some(t) => t.contexts,
            None => args.contexts.max(1),
        },
        read_back,
        trace,
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

fn parse_suite(s: &str) -> anyhow::Result<AlgorithmSuite> {
    u16::from_str_radix(s.trim_start_matches("0x"), 16)
        .ok()
        .and_then(AlgorithmSuite::from_id)
        .ok_or_else(|| anyhow!("unknown suite {s:?}"))
}

fn parse_latency(l: &str) -> anyhow::Result<Latency> {
    Ok(match l.split_once('-') {
        Some((a, b)) => Latency::Uniform(parse_duration(a)?, parse_duration(b)?),
        None => Latency::Fixed(parse_duration(l)?),
    })
}

/// The fleet plan, from the fleet scenario's defaults and the options.
fn resolve_fleet(args: &SimulateArgs) -> anyhow::Result<(fleet::FleetPlan, Option<&'static str>)> {
    let sc = &scenario::FLEET;
    let named = args.scenario.is_some().then_some(sc.name);
    if args.burst.is_some() || args.rate_limit.is_some() {
        bail!("--burst and --rate-limit are not supported with a fleet (--hosts, --tenants)");
    }
    let rate = args.rate.unwrap_or(sc.rate);
    if !(rate.is_finite() && rate > 0.0) {
        bail!("--rate must be more than zero");
    }
    let size = match parse_sizes(args.size.as_deref().unwrap_or(sc.size))? {
        traffic::Sizes::Fixed(n) if n <= engine::REAL_BYTES_LIMIT => n as usize,
        _ => bail!(
            "a fleet takes one --size up to {}",
            traffic::show_size(engine::REAL_BYTES_LIMIT)
        ),
    };
    let duration = parse_duration(args.duration.as_deref().unwrap_or(sc.duration))?;
    if duration.is_zero() {
        bail!("--duration must be more than zero");
    }
    let max_messages = match args.max_messages.as_deref().unwrap_or(sc.max_messages) {
        v if v.contains(',') => bail!("a fleet takes one --max-messages, not a list"),
        v => parse_optional(v, |v| {
            v.replace('_', "")
                .parse::<u64>()
                .with_context(|| format!("bad --max-messages {v:?}"))
        })?,
    };
    let max_age = match args.max_age.as_deref().unwrap_or(sc.max_age) {
        v if v.contains(',') => bail!("a fleet takes one --max-age, not a list"),
        v => parse_duration(v)?,
    };
    let hosts = args.hosts.unwrap_or(100);
    let plan = fleet::FleetPlan {
        scenario: named,
        hosts,
        sample_hosts: args.sample_hosts.unwrap_or(1),
        tenants: args.tenants.unwrap_or(1000),
        zipf: args.zipf,
        rate,
        size,
        duration,
        kms: ServiceModel {
            latency: parse_latency(args.latency.as_deref().unwrap_or(sc.latency))?,
            rate_limit: None,
            burst_seconds: args.quota_burst,
            cost_per_call: args.cost.unwrap_or(sc.cost),
        },
        ddb_latency: parse_latency(&args.ddb_latency)?,
        ddb_cost: args.ddb_cost,
        max_age,
        max_messages,
        ttl: parse_duration(&args.branch_key_ttl)?,
        suite: parse_suite(&args.suite)?,
        seed: args.seed,
    };
    fleet::validate(&plan)?;
    Ok((plan, named.map(|_| sc.about)))
}

/// Compare the three configurations over a fleet, printing each result as soon as it is known.
fn run_fleet(args: &SimulateArgs) -> anyhow::Result<ExitCode> {
    let (plan, about) = resolve_fleet(args)?;
    if !args.json {
        fleet::print_plan(&plan, about);
    }
    for config in fleet::FleetConfig::ALL {
        let outcome = fleet::run(&plan, config)?;
        if args.json {
            outln!("{}", fleet::json(&plan, &outcome));
        } else {
            fleet::print_row(&outcome);
        }
    }
    if !args.json {
        fleet::print_footer(&plan);
    }
    Ok(ExitCode::SUCCESS)
}

/// Run every configuration and print each result as soon as it is known.
pub(crate) fn run(args: &SimulateArgs) -> anyhow::Result<ExitCode> {
    if args.scenario.as_deref() == Some(scenario::FLEET.name)
        || args.hosts.is_some()
        || args.tenants.is_some()
    {
        if args
            .scenario
            .as_deref()
            .is_some_and(|s| s != scenario::FLEET.name)
        {
            bail!("--hosts and --tenants go with --scenario fleet or no scenario");
        }
        for (given, name) in [
            (args.trace.is_some(), "--trace"),
            (args.write_trace.is_some(), "--write-trace"),
            (args.decrypt_ratio.is_some(), "--decrypt-ratio"),
            (args.decrypt_delay.is_some(), "--decrypt-delay"),
            (args.plot.is_some(), "--plot"),
            (args.recommend, "--recommend"),
        ] {
            if given {
                bail!(
                    "{name} is not supported with a fleet (--scenario fleet, --hosts, --tenants)"
                );
            }
        }
        return run_fleet(args);
    }
    let (plan, configs, about) = resolve(args)?;
    if let Some(path) = &args.write_trace {
        let file = std::fs::File::create(path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        let mut out = std::io::BufWriter::new(file);
        let n = plan.write_trace(&mut out)?;
        std::io::Write::flush(&mut out)
            .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("wrote {n} requests to {}", path.display());
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(path) = &args.plot {
        // Refuse a bad file name before the runs rather than after.
        if !matches!(
            path.extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase)
                .as_deref(),
            Some("svg" | "png")
        ) {
            bail!("--plot draws a .svg or a .png, not {}", path.display());
        }
    }
    if args.recommend {
        if args.plot.is_some() {
            bail!("--plot draws a sweep or one configuration, not a --recommend search");
        }
        let found = recommend::run(&plan, &configs, args.json, about)?;
        return Ok(if found {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    if !args.json {
        report::print_plan(&plan, about, configs.len());
    }
    let mut outcomes = Vec::new();
    for config in configs {
        let outcome = engine::run(&plan, config)?;
        if args.json {
            outln!("{}", report::json(&plan, &outcome));
        } else {
            report::print_row(&plan, &outcome);
        }
        if args.plot.is_some() {
            outcomes.push(outcome);
        }
    }
    if !args.json {
        report::print_footer(&plan);
    }
    if let Some(path) = &args.plot {
        plot::draw(path, &plan, &outcomes)?;
        eprintln!("plot written to {}", path.display());
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
