//! `sealbox simulate`: the four worked examples give the results the README states (on
//! shorter windows than the documented runs, so that the suite stays quick), the JSON output has
//! every field, and a sweep gives one object per value.

use std::process::Command;

use serde_json::Value;

/// Run `sealbox simulate --json ARGS` and parse its lines.
fn simulate(args: &[&str]) -> Vec<Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_sealbox"))
        .arg("simulate")
        .arg("--json")
        .args(args)
        .output()
        .expect("run sealbox simulate");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "sealbox simulate {args:?} failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn f(v: &Value, field: &str) -> f64 {
    v[field]
        .as_f64()
        .unwrap_or_else(|| panic!("{field} is not a number in {v}"))
}

fn u(v: &Value, field: &str) -> u64 {
    v[field]
        .as_u64()
        .unwrap_or_else(|| panic!("{field} is not an integer in {v}"))
}

/// The configuration without a cache.
fn baseline(results: &[Value]) -> &Value {
    results
        .iter()
        .find(|r| r["cache_enabled"] == false)
        .expect("a no-cache configuration")
}

/// The cached configuration whose thresholds have `field` == `value`, and `age_s` if given.
fn with<'a>(results: &'a [Value], field: &str, value: f64, age_s: Option<f64>) -> &'a Value {
    results
        .iter()
        .find(|r| {
            r["thresholds"][field].as_f64() == Some(value)
                && match age_s {
                    Some(a) => r["thresholds"]["max_age_s"].as_f64() == Some(a),
                    None => true,
                }
        })
        .unwrap_or_else(|| panic!("no configuration with {field} = {value}"))
}

#[test]
fn slow_master_key_max_messages_10_sustains_1000_per_second_without_throttling() {
    let r = simulate(&["--scenario", "slow-master-key", "--duration", "20s"]);
    assert_eq!(r.len(), 3, "no cache, max messages 1 and 10");
    let ten = with(&r, "max_messages", 10.0, None);
    assert_eq!(u(ten, "requests"), 20_000);
    assert_eq!(u(ten, "throttled"), 0, "{ten}");
    assert_eq!(u(ten, "failed"), 0, "{ten}");
    let rate = f(ten, "throughput_per_s");
    assert!((990.0..=1000.0).contains(&rate), "achieved {rate}/s");
    assert!(f(ten, "kms_calls_per_s") <= 100.0, "{ten}");
    assert_eq!(u(ten, "max_messages_per_data_key"), 10);
    // Without the cache, or with one message per key, the key's quota cannot keep up.
    for worse in [with(&r, "max_messages", 1.0, None), baseline(&r)] {
        assert!(u(worse, "throttled") > 0, "{worse}");
        assert!(u(worse, "failed") > 0, "{worse}");
        assert!(f(worse, "throughput_per_s") < 200.0, "{worse}");
    }
}

#[test]
fn high_volume_max_messages_275_stays_under_the_budget() {
    let r = simulate(&["--scenario", "high-volume", "--duration", "30s"]);
    let within = with(&r, "max_messages", 275.0, None);
    assert_eq!(within["within_budget"], true, "{within}");
    let monthly = f(within, "cost_usd_per_month");
    // 1,000 messages/s over 30 days is 2.592e9 messages: 9.43e6 calls at 275 messages each.
    assert!((94_000.0..100_000.0).contains(&monthly), "{monthly}");
    assert_eq!(u(within, "max_messages_per_data_key"), 275);
    assert_eq!(u(within, "failed"), 0);
    for over in [with(&r, "max_messages", 1.0, None), baseline(&r)] {
        assert_eq!(over["within_budget"], false, "{over}");
    }
    // One message per data key does what no cache does, no worse: concurrent misses beyond a
    // call's seats make calls of their own instead of queueing behind it.
    let one = with(&r, "max_messages", 1.0, None);
    assert_eq!(u(one, "failed"), 0, "{one}");
    assert_eq!(u(one, "kms_calls"), 30_000, "{one}");
    assert!(f(one, "latency_p99_ms") <= 10.0, "{one}");
    // Without a cache, a call per message: 1,000/s at $0.01, $25.92 million a month.
    let none = baseline(&r);
    assert_eq!(u(none, "kms_calls"), 30_000);
    assert!((f(none, "cost_usd_per_month") - 25_920_000.0).abs() < 1.0);
}

#[test]
fn burst_max_messages_3_saves_most_and_max_age_20s_keeps_keys_to_one_burst() {
    let r = simulate(&["--scenario", "burst", "--duration", "10m"]);
    let one = with(&r, "max_messages", 1.0, Some(20.0));
    let three = with(&r, "max_messages", 3.0, Some(20.0));
    assert_eq!(u(one, "kms_calls"), 5_000, "10 bursts of 500 messages");
    let ratio = f(three, "cost_usd") / f(one, "cost_usd");
    assert!(
        ratio < 0.34,
        "max messages 3 costs {ratio} of max messages 1"
    );
    assert!(f(three, "max_data_key_age_s") <= 20.0, "{three}");
    assert_eq!(u(three, "max_bursts_per_data_key"), 1, "{three}");
    assert_eq!(u(three, "max_messages_per_data_key"), 3);
    // With a longer max age, the key left over from one burst serves the next one.
    let long = with(&r, "max_messages", 3.0, Some(120.0));
    assert_eq!(u(long, "max_bursts_per_data_key"), 2, "{long}");
    assert!(f(long, "max_data_key_age_s") > 20.0, "{long}");
}

#[test]
fn expensive_master_key_10gb_divides_calls_by_about_a_hundred() {
    let r = simulate(&["--scenario", "expensive-master-key", "--duration", "30m"]);
    let none = baseline(&r);
    assert_eq!(u(none, "kms_calls"), 1_800);
    let ten_gb = with(&r, "max_bytes", 1e10, None);
    // Messages average 100 MB, so a 10 GB key serves about 100 of them.
    let factor = u(none, "kms_calls") as f64 / u(ten_gb, "kms_calls") as f64;
    assert!((85.0..=101.0).contains(&factor), "calls fell by {factor}x");
    assert!(u(ten_gb, "max_bytes_per_data_key") <= 10_000_000_000);
    let one_gb = with(&r, "max_bytes", 1e9, None);
    let factor = u(none, "kms_calls") as f64 / u(one_gb, "kms_calls") as f64;
    assert!(
        (8.0..=10.1).contains(&factor),
        "calls fell by {factor}x at 1 GB"
    );
}

#[test]
fn json_has_every_field_and_a_sweep_gives_one_object_per_value() {
    let r = simulate(&[
        "--rate",
        "200",
        "--duration",
        "10s",
        "--max-messages",
        "1,3,10,100,275",
    ]);
    assert_eq!(r.len(), 5);
    for field in [
        "requests",
        "kms_calls",
        "throttled",
        "cost_usd",
        "cost_usd_per_month",
        "latency_p50_ms",
        "latency_p99_ms",
        "max_messages_per_data_key",
        "max_bytes_per_data_key",
        "max_data_key_age_s",
    ] {
        for v in &r {
            assert!(v[field].is_number(), "{field} missing in {v}");
        }
    }
    let limits: Vec<u64> = r
        .iter()
        .map(|v| v["thresholds"]["max_messages"].as_u64().unwrap())
        .collect();
    assert_eq!(limits, [1, 3, 10, 100, 275]);
    for v in &r {
        let limit = v["thresholds"]["max_messages"].as_u64().unwrap();
        assert!(u(v, "max_messages_per_data_key") <= limit, "{v}");
        assert_eq!(u(v, "requests"), 2_000);
    }
}

#[test]
fn a_sweep_over_two_thresholds_runs_every_combination_and_the_table_prints() {
    let r = simulate(&[
        "--duration",
        "5s",
        "--max-age",
        "1s,10s",
        "--max-bytes",
        "10KiB,none",
        "--baseline",
    ]);
    assert_eq!(r.len(), 5);
    let out = Command::new(env!("CARGO_BIN_EXE_sealbox"))
        .args(["simulate", "--scenario", "burst", "--duration", "2m"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("scenario burst"), "{table}");
    assert!(table.contains("kms calls"), "{table}");
    assert!(table.contains("age 20s msgs 3"), "{table}");
}

#[test]
fn bad_options_are_usage_errors() {
    for args in [
        &["--scenario", "nope"][..],
        &["--max-messages", "0"],
        &["--burst", "5s"],
        &["--size", "uniform:2MB-1MB"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_sealbox"))
            .arg("simulate")
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} was accepted");
    }
}

#[test]
fn a_reader_that_goes_away_ends_the_command_quietly() {
    // `sealbox simulate ... | head -1`: the pipe closes before sealbox writes. It must stop
    // without a panic (Rust ignores SIGPIPE, so an unchecked print would panic).
    let mut child = Command::new(env!("CARGO_BIN_EXE_sealbox"))
        .args([
            "simulate",
            "--scenario",
            "burst",
            "--duration",
            "1m",
            "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?}: {stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// The fleet configuration named `key`.
fn config<'a>(results: &'a [Value], key: &str) -> &'a Value {
    results
        .iter()
        .find(|r| r["configuration"] == key)
        .unwrap_or_else(|| panic!("no {key} configuration"))
}

#[test]
fn fleet_hierarchical_keyring_reads_once_per_host_tenant_and_ttl_period() {
    // 3 hosts, 5 tenants, 300 messages/s: every host sees every tenant in every period. A 10 s
    // branch-key TTL over 30 s is 3 periods; data-key caching at max age 5 s is 6.
    let r = simulate(&[
        "--scenario",
        "fleet",
        "--hosts",
        "3",
        "--sample-hosts",
        "3",
        "--tenants",
        "5",
        "--rate",
        "300",
        "--duration",
        "30s",
        "--branch-key-ttl",
        "10s",
        "--max-age",
        "5s",
    ]);
    assert_eq!(r.len(), 3, "no cache, data-key caching, hierarchical");
    let hier = config(&r, "hierarchical");
    let pairs = u(hier, "touched_host_tenants");
    assert_eq!(pairs, 3 * 5, "every host sees every tenant: {hier}");
    let periods = 3;
    assert_eq!(u(hier, "sampled_kms_calls"), pairs * periods, "{hier}");
    assert_eq!(u(hier, "sampled_ddb_reads"), pairs * periods, "{hier}");
    assert_eq!(f(hier, "kms_calls"), (pairs * periods) as f64);
    assert_eq!(u(hier, "failed"), 0, "{hier}");

    let dkc = config(&r, "data-key-caching");
    assert_eq!(u(dkc, "sampled_kms_calls"), pairs * 6, "{dkc}");
    assert_eq!(u(dkc, "sampled_ddb_reads"), 0, "{dkc}");
    assert!(f(hier, "kms_calls") < f(dkc, "kms_calls"));

    let none = config(&r, "no-cache");
    assert_eq!(u(none, "sampled_kms_calls"), u(none, "sampled_messages"));
    assert_eq!(u(none, "sampled_messages"), 9000);
    assert!(f(none, "latency_p50_ms") >= 10.0, "{none}");
    // A miss costs a DynamoDB read and a KMS call; the rest are free.
    let cost = f(hier, "kms_calls") * f(hier, "kms_cost_usd_per_call")
        + f(hier, "ddb_reads") * f(hier, "ddb_cost_usd_per_read");
    assert!((f(hier, "cost_usd") - cost).abs() < 1e-12, "{hier}");
}

#[test]
fn fleet_sampled_hosts_scale_to_the_fleet() {
    let r = simulate(&[
        "--hosts",
        "10",
        "--sample-hosts",
        "2",
        "--tenants",
        "4",
        "--rate",
        "500",
        "--duration",
        "20s",
        "--branch-key-ttl",
        "10s",
    ]);
    let hier = config(&r, "hierarchical");
    assert_eq!(u(hier, "sampled_messages"), 2000, "2 of 10 hosts: a fifth");
    assert_eq!(
        f(hier, "kms_calls"),
        u(hier, "sampled_kms_calls") as f64 * 5.0
    );
}

#[test]
fn fleet_bad_input_is_a_clear_error() {
    for (args, needle) in [
        (&["--hosts", "0"][..], "--hosts"),
        (
            &["--hosts", "2", "--sample-hosts", "3"][..],
            "--sample-hosts",
        ),
        (&["--tenants", "5", "--zipf=-1"][..], "--zipf"),
        (&["--scenario", "burst", "--hosts", "2"][..], "--hosts"),
        (&["--tenants", "5", "--max-age", "1m,2m"][..], "--max-age"),
        (
            &["--tenants", "5", "--branch-key-ttl", "0s"][..],
            "--branch-key-ttl",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_sealbox"))
            .arg("simulate")
            .args(args)
            .output()
            .expect("run sealbox simulate");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
