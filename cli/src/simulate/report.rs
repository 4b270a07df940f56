//! What `sealbox simulate` prints: a table for people, or one JSON object per configuration.

use serde_json::{json, Value};

use super::engine::{CacheConfig, Outcome, Plan, MONTH, REAL_BYTES_LIMIT};
use super::keyring::Latency;
use super::traffic::{show_duration, show_size};
use super::{dollars, ms};

pub(super) fn print_plan(plan: &Plan, about: Option<&str>, configs: usize) {
    match plan.scenario {
        Some(name) => outln!("scenario {name}: {}", about.unwrap_or_default()),
        None => outln!("custom simulation"),
    }
    match &plan.trace {
        Some(t) => outln!(
            "  traffic     trace {}: {} requests ({} encrypts, {} decrypts), mean message {}, {} \
             context{}; spans {:.1} s",
            t.path.display(),
            t.requests,
            t.encrypts,
            t.decrypts,
            show_size(t.mean_size.round() as u64),
            t.contexts,
            if t.contexts == 1 { "" } else { "s" },
            t.span.as_secs_f64()
        ),
        None => outln!(
            "  traffic     {}, messages {}, {} encryption context{}; {} simulated ({} requests)",
            plan.arrivals,
            plan.sizes,
            plan.contexts,
            if plan.contexts == 1 { "" } else { "s" },
            show_duration(plan.duration),
            plan.requests()
        ),
    }
    if let Some(r) = plan.read_back.filter(|_| plan.trace.is_none()) {
        outln!(
            "  decrypts    {} per message written, {} after it was written, through the \
             caching manager's decrypt path",
            r.ratio,
            show_duration(r.delay)
        );
    }
    let quota = match plan.service.rate_limit {
        Some(r) => format!("{r} calls/s quota (then throttled)"),
        None => "no quota".into(),
    };
    let latency = match plan.service.latency {
        Latency::Fixed(d) => format!("{d:?}"),
        l => l.to_string(),
    };
    outln!(
        "  master key  latency {latency}, {quota}, ${} per call",
        plan.service.cost_per_call
    );
    outln!(
        "  caller      {} workers, {} retries with backoff from {:?}, timeout {}; suite {}",
        plan.caller.concurrency,
        plan.caller.retries,
        plan.caller.backoff,
        show_duration(plan.caller.timeout),
        plan.suite
    );
    if let Some(budget) = plan.budget {
        outln!("  budget      {} per month", dollars(budget));
    }
    if configs == 0 {
        outln!("  recommend   searching max messages (doubling, then bisecting)");
    } else {
        outln!(
            "  {configs} configuration{}",
            if configs == 1 { "" } else { "s" }
        );
    }
    outln!();
    outln!(
        "{:<28} {:>9} {:>9} {:>7} {:>9} {:>9} {:>12} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9} {:>6}{}{}",
        "cache",
        "requests",
        "failed",
        "retries",
        "kms calls",
        "throttled",
        "$/month",
        "msg/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "waited",
        "msgs/key",
        "bytes/key",
        "age s",
        if plan.arrivals.burst.is_some() {
            "  bursts/key"
        } else {
            ""
        },
        if plan.has_decrypts() {
            "  decrypts enc calls dec calls  enc $/month  dec $/month  dec p99"
        } else {
            ""
        }
    );
}

pub(super) fn print_row(plan: &Plan, o: &Outcome) {
    let over = match plan.budget {
        Some(b) if o.cost_usd_per_month > b => " over budget",
        Some(_) => " under budget",
        None => "",
    };
    let bursts = o
        .max_bursts_per_data_key
        .map_or(String::new(), |b| format!(" {b:>11}"));
    let decrypts = if plan.has_decrypts() {
        format!(
            " {:>9} {:>9} {:>9} {:>12} {:>12} {:>8.1}",
            o.decrypts,
            o.kms_calls - o.kms_decrypt_calls,
            o.kms_decrypt_calls,
            dollars(o.cost_usd_per_month - o.decrypt_cost_usd_per_month),
            dollars(o.decrypt_cost_usd_per_month),
            ms(o.decrypt_latency_p99)
        )
    } else {
        String::new()
    };
    outln!(
        "{:<28} {:>9} {:>9} {:>7} {:>9} {:>9} {:>12} {:>8.1} {:>8.1} {:>8.1} {:>8.1} {:>8} {:>8} {:>9} {:>6.1}{bursts}{decrypts}{over}",
        o.config.to_string(),
        o.requests,
        o.failed,
        o.retries,
        o.kms_calls,
        o.throttled,
        dollars(o.cost_usd_per_month),
        o.throughput,
        ms(o.latency_p50),
        ms(o.latency_p99),
        ms(o.latency_max),
        o.waited,
        o.max_messages_per_data_key,
        show_size(o.max_bytes_per_data_key),
        o.max_data_key_age.as_secs_f64(),
    );
    if let Some(e) = &o.first_other_error {
        outln!(
            "    (errors other than throttling: {}; first: {e})",
            o.other_errors
        );
    }
}

pub(super) fn print_footer(plan: &Plan) {
    outln!();
    outln!(
        "$/month: the cost of the {} window times 30 days / window. msg/s: successful requests \
         per second. p50/p99/max: latency of successful requests, from arrival (queueing included); CPU time is not simulated, so a cache hit takes 0 ms. waited: successful requests that took any time (they waited for a master-key call, a backoff or a worker). \
         msgs/key, bytes/key, age s: the largest any one data key reached, as measured. Messages \
         over {} are charged to the cache by their declared size without being encrypted.",
        show_duration(plan.duration),
        show_size(REAL_BYTES_LIMIT)
    );
    if plan.has_decrypts() {
        outln!(
            "kms calls, throttled, $/month: both sides; enc/dec calls and $/month: the \
             encrypts' (generate) and the decrypts' (unwrap) shares. A decrypt reads back {} \
             and takes the caching manager's decrypt path: a hit when a message under the same \
             data key was read within max age. msgs/key and the other per-key columns count \
             encrypts.",
            if plan.trace.is_some() {
                "the latest message written under its context"
            } else {
                "the message it names"
            }
        );
    }
}

pub(super) fn json(plan: &Plan, o: &Outcome) -> Value {
    let thresholds = match o.config {
        CacheConfig::Off => Value::Null,
        CacheConfig::On(t) => json!({
            "max_age_s": t.max_age.as_secs_f64(),
            "max_messages": t.max_messages,
            "max_bytes": t.max_bytes,
            "capacity": t.capacity,
            "refresh_ahead_s": t.refresh_ahead.map(|d| d.as_secs_f64()),
        }),
    };
    let cache = o.cache.map(|c| {
        json!({
            "hits": c.hits,
            "misses": c.misses,
            "coalesced": c.coalesced,
            "bypasses": c.bypasses,
            "refreshes": c.refreshes,
            "evictions": {
                "age": c.evicted_age,
                "messages": c.evicted_messages,
                "bytes": c.evicted_bytes,
                "capacity": c.evicted_capacity,
            },
        })
    });
    let mut v = json!({
        "scenario": plan.scenario,
        "cache_enabled": o.config != CacheConfig::Off,
        "thresholds": thresholds,
        "traffic": {
            "rate_per_s": plan.arrivals.rate,
            "burst_on_s": plan.arrivals.burst.map(|(on, _)| on.as_secs_f64()),
            "burst_period_s": plan.arrivals.burst.map(|(_, p)| p.as_secs_f64()),
            "mean_rate_per_s": plan.arrivals.mean_rate(),
            "sizes": match &plan.trace {
                Some(_) => "from the trace".to_string(),
                None => plan.sizes.to_string(),
            },
            "mean_size_bytes": plan.trace.as_ref().map_or(plan.sizes.mean(), |t| t.mean_size),
            "contexts": plan.contexts,
            "trace": plan.trace.as_ref().map(|t| t.path.display().to_string()),
            "decrypt_ratio": plan.read_back.filter(|_| plan.trace.is_none()).map(|r| r.ratio),
            "decrypt_delay_s": plan.read_back.filter(|_| plan.trace.is_none()).map(|r| r.delay.as_secs_f64()),
        },
        "master_key": {
            "latency": plan.service.latency.to_string(),
            "rate_limit_per_s": plan.service.rate_limit,
            "cost_usd_per_call": plan.service.cost_per_call,
        },
        "duration_s": o.window.as_secs_f64(),
        "simulated_s": o.simulated.as_secs_f64(),
        "month_s": MONTH.as_secs_f64(),
        "requests": o.requests,
        "succeeded": o.succeeded,
        "failed": o.failed,
        "timed_out": o.timed_out,
        "retries": o.retries,
        "requests_throttled": o.requests_throttled,
        "other_errors": o.other_errors,
        "kms_calls": o.kms_calls,
        "throttled": o.throttled,
        "max_concurrent_kms_calls": o.max_concurrent_calls,
        "kms_calls_per_s": o.kms_calls as f64 / o.window.as_secs_f64(),
        "cost_usd": o.cost_usd,
        "cost_usd_per_month": o.cost_usd_per_month,
        "budget_usd_per_month": plan.budget,
        "within_budget": plan.budget.map(|b| o.cost_usd_per_month <= b),
        "throughput_per_s": o.throughput,
        "latency_p50_ms": ms(o.latency_p50),
        "latency_p99_ms": ms(o.latency_p99),
        "latency_max_ms": ms(o.latency_max),
        "requests_waited": o.waited,
        "data_keys": o.data_keys,
        "max_messages_per_data_key": o.max_messages_per_data_key,
        "mean_messages_per_data_key": o.mean_messages_per_data_key,
        "max_bytes_per_data_key": o.max_bytes_per_data_key,
        "max_data_key_age_s": o.max_data_key_age.as_secs_f64(),
        "max_bursts_per_data_key": o.max_bursts_per_data_key,
        "cache": cache,
        "real_time_s": o.real.as_secs_f64(),
    });
    // Both sides of the cache, apart: `kms_calls`, `throttled` and `cost_usd_per_month` above
    // add them up.
    let sides = json!({
        "encrypts": o.encrypts,
        "decrypts": o.decrypts,
        "decrypts_of_older_messages": o.decrypts_of_older_messages,
        "kms_encrypt_calls": o.kms_calls - o.kms_decrypt_calls,
        "kms_decrypt_calls": o.kms_decrypt_calls,
        "decrypt_throttled": o.decrypt_throttled,
        "encrypt_cost_usd_per_month": o.cost_usd_per_month - o.decrypt_cost_usd_per_month,
        "decrypt_cost_usd_per_month": o.decrypt_cost_usd_per_month,
        "decrypt_latency_p50_ms": ms(o.decrypt_latency_p50),
        "decrypt_latency_p99_ms": ms(o.decrypt_latency_p99),
    });
    if let (Some(all), Value::Object(sides)) = (v.as_object_mut(), sides) {
        all.extend(sides);
    }
    v
}
