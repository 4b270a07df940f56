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

/// A file in a fresh directory of the test's own, removed when it ends.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("sealbox-simulate-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create a scratch directory");
        Scratch(dir)
    }

    fn file(&self, name: &str, text: &str) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, text).expect("write a scratch file");
        path.display().to_string()
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn a_small_trace_makes_the_master_key_calls_counted_by_hand() {
    let dir = Scratch::new("hand");
    let trace = dir.file(
        "trace.csv",
        "time,op,context,size\n\
         0,encrypt,a,100\n\
         1,encrypt,a,100\n\
         2,encrypt,a,100\n\
         3,decrypt,a,100\n\
         4,decrypt,a,100\n\
         5,encrypt,b,100\n\
         6,decrypt,b,100\n\
         20,decrypt,a,100\n\
         20.5,decrypt,c,100\n",
    );
    let r = simulate(&["--trace", &trace, "--max-age", "10s", "--max-messages", "2"]);
    assert_eq!(r.len(), 1);
    let o = &r[0];
    // Encrypts, at most 2 messages per data key:
    //   0 s  a: miss, generate key A (call 1)       1 s  a: hit, key A's second message
    //   2 s  a: a third message would exceed 2: miss, generate key B (call 2)
    //   5 s  b: a new context: miss, generate key C (call 3)                 => 3 calls.
    // Decrypts read back the latest message written under their context; a data key's
    // decryption materials are cached for max age (10 s) from the unwrap:
    //   3 s  a: the 2 s message, key B: miss, unwrap (call 1), cached until 13 s
    //   4 s  a: the same message: hit
    //   6 s  b: the 5 s message, key C: miss, unwrap (call 2)
    //  20 s  a: the 2 s message again, but key B's entry expired at 13 s: unwrap (call 3)
    //  20.5 s c: nothing was ever written under c: a message from before the trace, under a
    //        key of its own: unwrap (call 4)                                  => 4 calls.
    assert_eq!(u(o, "encrypts"), 4);
    assert_eq!(u(o, "decrypts"), 5);
    assert_eq!(u(o, "kms_encrypt_calls"), 3, "{o}");
    assert_eq!(u(o, "kms_decrypt_calls"), 4, "{o}");
    assert_eq!(u(o, "kms_calls"), 3 + 4);
    assert_eq!(u(o, "decrypts_of_older_messages"), 1);
    assert_eq!(u(o, "failed"), 0);
    // Costs: 7 calls at $0.000003 over a 20.5 s window, extrapolated to 30 days, split 3 : 4.
    let month = 30.0 * 86_400.0 / 20.5;
    assert!((f(o, "encrypt_cost_usd_per_month") - 3.0 * 0.000_003 * month).abs() < 1e-9);
    assert!((f(o, "decrypt_cost_usd_per_month") - 4.0 * 0.000_003 * month).abs() < 1e-9);
    assert!((f(o, "cost_usd_per_month") - 7.0 * 0.000_003 * month).abs() < 1e-9);
    // A decrypt that missed waited one 10 ms call; the one that hit, none: p50 of 5 is a miss.
    assert_eq!(f(o, "decrypt_latency_p50_ms"), 10.0);

    // The same trace as JSON lines, with RFC 3339 times, gives the same counts.
    let mut json = String::new();
    for line in std::fs::read_to_string(&trace).unwrap().lines().skip(1) {
        let v: Vec<&str> = line.split(',').collect();
        let t: f64 = v[0].parse().unwrap();
        json.push_str(&format!(
            "{{\"time\": \"2024-05-01T12:00:{:06.3}Z\", \"op\": \"{}\", \"context\": \"{}\", \"size\": \"{}B\"}}\n",
            t, v[1], v[2], v[3]
        ));
    }
    let jtrace = dir.file("trace.jsonl", &json);
    let j = simulate(&[
        "--trace",
        &jtrace,
        "--max-age",
        "10s",
        "--max-messages",
        "2",
    ]);
    for field in [
        "kms_encrypt_calls",
        "kms_decrypt_calls",
        "encrypts",
        "decrypts",
    ] {
        assert_eq!(u(&j[0], field), u(o, field), "{field}");
    }
}

#[test]
fn synthetic_decrypts_read_back_their_own_message() {
    let run = |ratio: &str| {
        simulate(&[
            "--rate",
            "10",
            "--duration",
            "10s",
            "--max-messages",
            "5",
            "--decrypt-ratio",
            ratio,
            "--decrypt-delay",
            "1s",
        ])
        .remove(0)
    };
    // 10 messages/s for 10 s, 5 messages per data key: 100 messages, 20 data keys, 20 generate
    // calls. Each message is read back 1 s after it was written (the last second's reads
    // arrive after the window, and count). The first read of a key's messages unwraps it; the
    // other reads of that key hit (max age 5 min): 20 unwrap calls.
    let all = run("1");
    assert_eq!(u(&all, "encrypts"), 100);
    assert_eq!(u(&all, "decrypts"), 100);
    assert_eq!(u(&all, "kms_encrypt_calls"), 20, "{all}");
    assert_eq!(u(&all, "kms_decrypt_calls"), 20, "{all}");
    assert_eq!(u(&all, "decrypts_of_older_messages"), 0);
    assert_eq!(u(&all, "failed"), 0);
    // Half of them: messages 1, 3, 5, ... Every key's five messages hold one or two odd ones,
    // so every key is still unwrapped once: 50 reads, 20 unwrap calls.
    let half = run("0.5");
    assert_eq!(u(&half, "decrypts"), 50);
    assert_eq!(u(&half, "kms_decrypt_calls"), 20, "{half}");
    // None: the encrypt side alone, as without the option.
    let none = run("0");
    assert_eq!(u(&none, "decrypts"), 0);
    assert_eq!(u(&none, "kms_decrypt_calls"), 0);
    assert_eq!(u(&none, "kms_calls"), 20);
}

/// Write a scenario's synthetic traffic as a trace, replay it, and compare with the synthetic
/// run: the same requests at the same times make the same calls.
fn replays_like_the_synthetic_run(scenario: &str, duration: &str, dir: &Scratch) {
    let trace = dir.path(&format!("{scenario}.csv"));
    let out = Command::new(env!("CARGO_BIN_EXE_sealbox"))
        .args(["simulate", "--scenario", scenario, "--duration", duration])
        .args(["--write-trace", &trace])
        .output()
        .expect("run sealbox simulate --write-trace");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let synthetic = simulate(&["--scenario", scenario, "--duration", duration]);
    let replayed = simulate(&[
        "--scenario",
        scenario,
        "--trace",
        &trace,
        "--duration",
        duration,
    ]);
    assert_eq!(synthetic.len(), replayed.len());
    for (s, r) in synthetic.iter().zip(&replayed) {
        assert_eq!(s["thresholds"], r["thresholds"]);
        assert!(r["traffic"]["trace"].is_string(), "{r}");
        for field in [
            "requests",
            "succeeded",
            "failed",
            "retries",
            "kms_calls",
            "throttled",
            "cost_usd",
            "cost_usd_per_month",
            "within_budget",
            "latency_p50_ms",
            "latency_p99_ms",
            "latency_max_ms",
            "data_keys",
            "max_messages_per_data_key",
            "max_bytes_per_data_key",
            "max_data_key_age_s",
        ] {
            assert_eq!(s[field], r[field], "{scenario} {field}: {s}\n{r}");
        }
    }
}

#[test]
fn the_four_worked_examples_replay_as_traces() {
    let dir = Scratch::new("examples");
    // The durations of the tests above, whose stated results these runs then reproduce.
    replays_like_the_synthetic_run("slow-master-key", "20s", &dir);
    replays_like_the_synthetic_run("high-volume", "30s", &dir);
    replays_like_the_synthetic_run("burst", "10m", &dir);
    replays_like_the_synthetic_run("expensive-master-key", "30m", &dir);
}

#[test]
fn a_malformed_trace_is_an_error_with_its_line_number() {
    let dir = Scratch::new("malformed");
    for (text, needle) in [
        ("time,op,context,size\n0,encrypt,a,1\n1,encrypt,a\n", "line 3:"),
        ("time,op,context,size\n0,encrypt,a,1\n0.5,peek,a,1\n", "line 3:"),
        ("{\"time\": 0, \"op\": \"encrypt\", \"context\": \"a\", \"size\": 1}\n{\"time\": \"x\"}\n", "line 2:"),
        ("time,op,context,size\n2,encrypt,a,1\n1,encrypt,a,1\n", "line 3:"),
        ("time,op,context,size\n", "no request"),
        ("time,op,context,size\n0,encrypt,a,1\n", "spans no time"),
    ] {
        let trace = dir.file("bad.csv", text);
        let out = Command::new(env!("CARGO_BIN_EXE_sealbox"))
            .args(["simulate", "--trace", &trace])
            .output()
            .expect("run sealbox simulate");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{text:?} was accepted");
        assert!(stderr.contains(needle), "{text:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{text:?}: {stderr}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_sealbox"))
        .args(["simulate", "--trace", "/nonexistent/trace.csv"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let out = Command::new(env!("CARGO_BIN_EXE_sealbox"))
        .args([
            "simulate",
            "--trace",
            &dir.file(
                "ok.csv",
                "time,op,context,size\n0,encrypt,a,1\n1,encrypt,a,1\n",
            ),
        ])
        .args(["--rate", "5"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "--rate with --trace was accepted");
}

/// Where the plots go: `$SEALBOX_ARTIFACTS`, or `artifacts/` in the target directory
/// (`$CARGO_TARGET_DIR`, or the workspace's `target/`), which CI keeps.
fn artifacts() -> std::path::PathBuf {
    let dir = std::env::var_os("SEALBOX_ARTIFACTS")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("CARGO_TARGET_DIR")
                .map(|t| std::path::PathBuf::from(t).join("artifacts"))
        })
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/artifacts")
        });
    std::fs::create_dir_all(&dir).expect("create the artifacts directory");
    dir
}

#[test]
fn plots_are_drawn_as_svg_and_png() {
    let dir = artifacts();
    let sweep_svg = dir.join("simulate-sweep.svg");
    let sweep_png = dir.join("simulate-sweep.png");
    let one_svg = dir.join("simulate-over-time.svg");
    let one_png = dir.join("simulate-over-time.png");
    for (path, args) in [
        (
            &sweep_svg,
            &[
                "--scenario",
                "high-volume",
                "--duration",
                "20s",
                "--max-messages",
                "1,10,100,275,1000",
            ][..],
        ),
        (
            &sweep_png,
            &[
                "--scenario",
                "high-volume",
                "--duration",
                "20s",
                "--max-messages",
                "1,10,100,275,1000",
            ][..],
        ),
        (
            &one_svg,
            &[
                "--scenario",
                "slow-master-key",
                "--duration",
                "20s",
                "--max-messages",
                "10",
                "--no-baseline",
                "--decrypt-ratio",
                "0.5",
                "--decrypt-delay",
                "5s",
            ][..],
        ),
        (
            &one_png,
            &[
                "--scenario",
                "slow-master-key",
                "--duration",
                "20s",
                "--max-messages",
                "10",
                "--no-baseline",
                "--decrypt-ratio",
                "0.5",
                "--decrypt-delay",
                "5s",
            ][..],
        ),
    ] {
        let _ = std::fs::remove_file(path);
        let out = Command::new(env!("CARGO_BIN_EXE_sealbox"))
            .arg("simulate")
            .args(args)
            .arg("--plot")
            .arg(path)
            .output()
            .expect("run sealbox simulate --plot");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for (svg, texts) in [
        (
            &sweep_svg,
            &[
                "monthly cost",
                "p99 latency",
                "budget $100,000",
                "no cache",
                "max messages per data key",
                "275",
            ][..],
        ),
        (
            &one_svg,
            &[
                "master-key calls per second",
                "cache hit rate",
                "rate limit 100/s",
                "decrypt calls (unwrap)",
            ][..],
        ),
    ] {
        let text = std::fs::read_to_string(svg).expect("read the SVG");
        assert!(text.starts_with("<svg"), "{}", &text[..text.len().min(200)]);
        assert!(
            text.len() > 10_000,
            "{} is only {} bytes",
            svg.display(),
            text.len()
        );
        // A line has a point per configuration or per sample: polylines with many points.
        assert!(text.matches("<polyline").count() >= 2, "{}", svg.display());
        for t in texts {
            assert!(text.contains(t), "{} lacks {t:?}", svg.display());
        }
    }
    for png in [&sweep_png, &one_png] {
        let bytes = std::fs::read(png).expect("read the PNG");
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", png.display());
        // The width and height in the IHDR chunk.
        let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
        let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
        assert_eq!((width, height), (960, 720));
        assert!(
            bytes.len() > 20_000,
            "{} is only {} bytes",
            png.display(),
            bytes.len()
        );
    }
    // A trace draws as synthetic traffic does: the sample trace, one configuration over time.
    let trace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/sample-trace.csv");
    let png = dir.join("simulate-sample-trace-over-time.png");
    let out = Command::new(env!("CARGO_BIN_EXE_sealbox"))
        .arg("simulate")
        .arg("--trace")
        .arg(&trace)
        .args(["--max-age", "30s", "--max-messages", "10", "--plot"])
        .arg(&png)
        .output()
        .expect("run sealbox simulate --trace --plot");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&png).expect("read the PNG");
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 20_000,
        "{}",
        png.display()
    );
    let out = Command::new(env!("CARGO_BIN_EXE_sealbox"))
        .args(["simulate", "--duration", "1s", "--plot", "chart.pdf"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "a .pdf plot was accepted");
}

#[test]
fn recommend_finds_the_fewest_messages_per_key_within_budget_and_quota() {
    // high-volume: 1,000 messages/s at $0.01 a call, budget $100,000 a month. Over 30 s,
    // max messages m makes ceil(30,000 / m) calls, each $0.01 × 86,400 (30 days / 30 s) = $864
    // a month: within budget for at most 115 calls, so m >= 30,000 / 115 = 260.9: 261.
    let r = simulate(&[
        "--scenario",
        "high-volume",
        "--duration",
        "30s",
        "--recommend",
    ]);
    let rec = &r.last().expect("a recommendation")["recommendation"];
    assert_eq!(rec["max_messages"], 261, "{rec}");
    assert_eq!(rec["max_age_s"], 60.0);
    assert_eq!(rec["kms_calls"], 115);
    assert!(
        rec["reason"]
            .as_str()
            .unwrap()
            .contains("max messages 260 costs $100,224"),
        "{rec}"
    );
    // Every run of the search is printed before the recommendation.
    assert_eq!(r.len() - 1, rec["runs"].as_u64().unwrap() as usize);

    // slow-master-key: 1,000 messages/s against a 100 calls/s quota, with money no object.
    // Max messages 10 makes exactly 100 calls/s; 9 would need 111 and is throttled.
    let r = simulate(&[
        "--scenario",
        "slow-master-key",
        "--duration",
        "20s",
        "--recommend",
        "--budget",
        "1000000",
    ]);
    let rec = &r.last().unwrap()["recommendation"];
    assert_eq!(rec["max_messages"], 10, "{rec}");
    assert_eq!(rec["throttled"], 0);
    assert!(
        rec["reason"].as_str().unwrap().contains("max messages 9 "),
        "{rec}"
    );

    // The table form says it in words. Over 10 s a call is $2,592 a month: at most 38 calls,
    // so m >= 10,000 / 38 = 263.2: 264. No budget, or a sweep of max ages, is a usage error.
    let out = Command::new(env!("CARGO_BIN_EXE_sealbox"))
        .args([
            "simulate",
            "--scenario",
            "high-volume",
            "--duration",
            "10s",
            "--recommend",
        ])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(table.contains("recommended: age 1m msgs 264"), "{table}");
    // Nothing fits: even one call in 5 s at $0.01 is $5,184 a month. One run says so, and the
    // command fails.
    let out = Command::new(env!("CARGO_BIN_EXE_sealbox"))
        .args(["simulate", "--scenario", "high-volume", "--duration", "5s"])
        .args(["--recommend", "--budget", "1", "--json"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let last: Value =
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).lines().last().unwrap()).unwrap();
    assert!(last["recommendation"].is_null(), "{last}");
    assert_eq!(last["runs"], 1);
    assert!(
        last["reason"]
            .as_str()
            .unwrap()
            .contains("over the $1.00 budget"),
        "{last}"
    );
    for args in [
        &["--duration", "5s", "--recommend"][..],
        &[
            "--duration",
            "5s",
            "--recommend",
            "--budget",
            "10",
            "--max-age",
            "1m,5m",
        ],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_sealbox"))
            .arg("simulate")
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} was accepted");
    }
}
