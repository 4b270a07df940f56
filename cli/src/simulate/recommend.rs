//! `--recommend`: the configuration with the fewest messages per data key (the smallest exposure
//! of one key) whose cost stays within the budget and whose master-key calls stay within its
//! rate limit, under a fixed max-age policy.
//!
//! More messages per data key never means more master-key calls, so the search first runs 2^32
//! (the most a data key may encrypt: if that does not fit, nothing does), then doubles max
//! messages from 1 until a configuration fits and bisects between the last that did not fit and
//! the first that did. Every
//! configuration it runs is printed, so the reason can be checked against its neighbours.

use std::collections::BTreeMap;

use anyhow::bail;
use serde_json::json;

use super::engine::{self, CacheConfig, Outcome, Plan, Thresholds};
use super::{dollars, report};

/// The most messages a data key may encrypt (the caching manager's limit).
const MAX_MESSAGES: u64 = 1 << 32;

/// Why a configuration does not fit; empty when it does.
fn misfits(plan: &Plan, budget: f64, o: &Outcome) -> Vec<String> {
    let mut why = Vec::new();
    if o.cost_usd_per_month > budget {
        why.push(format!(
            "costs {} a month, over the {} budget",
            dollars(o.cost_usd_per_month),
            dollars(budget)
        ));
    }
    if o.throttled > 0 {
        why.push(format!(
            "{} master-key calls were throttled (quota {}/s)",
            o.throttled,
            plan.service.rate_limit.unwrap_or(0.0)
        ));
    }
    if o.failed > 0 {
        why.push(format!("{} requests failed", o.failed));
    }
    why
}

/// The threshold template: every threshold but max messages, which must take one value each.
fn template(configs: &[CacheConfig]) -> anyhow::Result<Thresholds> {
    let on: Vec<Thresholds> = configs
        .iter()
        .filter_map(|c| match c {
            CacheConfig::On(t) => Some(*t),
            CacheConfig::Off => None,
        })
        .collect();
    let Some(first) = on.first().copied() else {
        bail!("--recommend needs the cache's thresholds");
    };
    for t in &on {
        if t.max_age != first.max_age {
            bail!("--recommend takes one --max-age: the maximum-age policy to keep");
        }
        if t.max_bytes != first.max_bytes
            || t.capacity != first.capacity
            || t.refresh_ahead != first.refresh_ahead
        {
            bail!(
                "--recommend searches max messages: give one value of --max-bytes, --capacity \
                 and --refresh-ahead"
            );
        }
    }
    Ok(first)
}

/// Search, print each run and the recommendation. Returns whether a configuration fits.
pub(super) fn run(
    plan: &Plan,
    configs: &[CacheConfig],
    json_out: bool,
    about: Option<&str>,
) -> anyhow::Result<bool> {
    let Some(budget) = plan.budget else {
        bail!("--recommend needs a --budget (dollars per month)");
    };
    let template = template(configs)?;
    if !json_out {
        report::print_plan(plan, about, 0);
    }
    let mut runs: BTreeMap<u64, Outcome> = BTreeMap::new();
    let mut eval = |m: u64| -> anyhow::Result<bool> {
        if let Some(o) = runs.get(&m) {
            return Ok(misfits(plan, budget, o).is_empty());
        }
        let config = CacheConfig::On(Thresholds {
            max_messages: Some(m),
            ..template
        });
        let o = engine::run(plan, config)?;
        if json_out {
            outln!("{}", report::json(plan, &o));
        } else {
            report::print_row(plan, &o);
        }
        let fits = misfits(plan, budget, &o).is_empty();
        runs.insert(m, o);
        Ok(fits)
    };
    // The most there is first: if even that does not fit, nothing does, and one run says so.
    // Otherwise double from 1 until a configuration fits, then bisect.
    let mut best = None;
    let mut below = 0;
    if eval(MAX_MESSAGES)? {
        let mut m = 1;
        loop {
            if eval(m)? {
                best = Some(m);
                break;
            }
            below = m;
            m = (m * 2).min(MAX_MESSAGES);
        }
    } else {
        below = MAX_MESSAGES;
    }
    if let Some(mut hi) = best {
        let mut lo = below;
        while lo + 1 < hi {
            let mid = lo + (hi - lo) / 2;
            if eval(mid)? {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        best = Some(hi);
        below = lo;
    }
    let found = best.and_then(|m| runs.get(&m));
    let neighbour = runs.get(&below).filter(|_| below > 0);
    let quota = match plan.service.rate_limit {
        Some(r) => format!("the {r} calls/s rate limit"),
        None => "no rate limit".into(),
    };
    match found {
        Some(o) => {
            let m = best.unwrap_or_default();
            let mut reason = format!(
                "max messages {m} is the fewest messages per data key that keeps within the \
                 budget and the rate limit: {} a month (budget {}), {:.2} master-key calls/s \
                 ({quota}), none throttled, no request failed",
                dollars(o.cost_usd_per_month),
                dollars(budget),
                o.kms_calls as f64 / o.window.as_secs_f64()
            );
            match neighbour {
                Some(n) => reason.push_str(&format!(
                    "; max messages {below} {}",
                    misfits(plan, budget, n).join(" and ")
                )),
                None => reason.push_str("; one message per data key is the least there is"),
            }
            if json_out {
                outln!(
                    "{}",
                    json!({
                        "recommendation": {
                            "max_age_s": template.max_age.as_secs_f64(),
                            "max_messages": m,
                            "max_bytes": template.max_bytes,
                            "capacity": template.capacity,
                            "cost_usd_per_month": o.cost_usd_per_month,
                            "budget_usd_per_month": budget,
                            "kms_calls": o.kms_calls,
                            "throttled": o.throttled,
                            "max_messages_per_data_key": o.max_messages_per_data_key,
                            "runs": runs.len(),
                            "reason": reason,
                        }
                    })
                );
            } else {
                outln!();
                outln!("recommended: {}", o.config);
                outln!("  {reason}.");
            }
        }
        None => {
            let why = neighbour
                .map(|n| misfits(plan, budget, n).join(" and "))
                .unwrap_or_default();
            let text = format!(
                "no configuration fits: even {MAX_MESSAGES} messages per data key (the most \
                 there is) with max age {} {why}",
                super::traffic::show_duration(template.max_age)
            );
            if json_out {
                outln!(
                    "{}",
                    json!({ "recommendation": null, "runs": runs.len(), "reason": text })
                );
            } else {
                outln!();
                outln!("{text}.");
            }
        }
    }
    Ok(found.is_some())
}
