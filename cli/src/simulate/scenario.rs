//! The four worked examples of the ESDK data-key caching announcement, as named scenarios.
//!
//! Each is a set of defaults for `sealbox simulate`; any option given on the command line
//! overrides the scenario's value. What each is expected to show is in docs/simulate.md and is
//! checked by cli/tests/simulate.rs.

/// A scenario's settings, in the command line's own syntax.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scenario {
    pub(crate) name: &'static str,
    pub(crate) about: &'static str,
    pub(crate) rate: f64,
    pub(crate) burst: Option<&'static str>,
    pub(crate) size: &'static str,
    pub(crate) duration: &'static str,
    pub(crate) latency: &'static str,
    pub(crate) rate_limit: Option<f64>,
    pub(crate) cost: f64,
    pub(crate) max_age: &'static str,
    pub(crate) max_messages: &'static str,
    pub(crate) max_bytes: &'static str,
    pub(crate) baseline: bool,
    pub(crate) budget: Option<f64>,
}

/// The defaults when no scenario is named.
pub(crate) const CUSTOM: Scenario = Scenario {
    name: "custom",
    about: "",
    rate: 100.0,
    burst: None,
    size: "1KiB",
    duration: "5m",
    latency: "10ms",
    rate_limit: None,
    // AWS KMS: $0.03 per 10,000 requests.
    cost: 0.000_003,
    max_age: "5m",
    max_messages: "none",
    max_bytes: "none",
    baseline: false,
    budget: None,
};

pub(crate) const SCENARIOS: [Scenario; 4] = [
    Scenario {
        name: "slow-master-key",
        about: "the master key serves 100 calls/s, the application needs 1,000 messages/s: \
                max messages 10 sustains it with no throttling",
        rate: 1000.0,
        burst: None,
        size: "1KiB",
        duration: "1m",
        latency: "5ms",
        rate_limit: Some(100.0),
        cost: 0.000_003,
        max_age: "1m",
        max_messages: "1,10",
        max_bytes: "none",
        baseline: true,
        budget: None,
    },
    Scenario {
        name: "high-volume",
        about: "1,000 messages/s steadily, $0.01 per master-key call, a budget of $100,000 a \
                month: max messages 275 stays under it",
        rate: 1000.0,
        burst: None,
        size: "1KiB",
        duration: "5m",
        latency: "10ms",
        rate_limit: None,
        cost: 0.01,
        max_age: "1m",
        max_messages: "1,275",
        max_bytes: "none",
        baseline: true,
        budget: Some(100_000.0),
    },
    Scenario {
        name: "burst",
        about: "bursts of 100 messages/s for 5 s in each minute, $0.01 per call: max messages 3 \
                saves two thirds of the cost, and max age 20 s keeps any data key from serving \
                two bursts",
        rate: 100.0,
        burst: Some("5s/60s"),
        size: "1KiB",
        duration: "1h",
        latency: "10ms",
        rate_limit: None,
        cost: 0.01,
        max_age: "20s,2m",
        max_messages: "1,3",
        max_bytes: "none",
        baseline: true,
        budget: None,
    },
    Scenario {
        name: "expensive-master-key",
        about: "$1.00 per call, messages of 50 MB to 150 MB, a 10 GB max-bytes limit: about one \
                call per hundred messages",
        rate: 1.0,
        burst: None,
        size: "uniform:50MB-150MB",
        duration: "1h",
        latency: "10ms",
        rate_limit: None,
        cost: 1.0,
        max_age: "5m",
        max_messages: "none",
        max_bytes: "1GB,10GB",
        baseline: true,
        budget: None,
    },
];

/// The fleet scenario: its traffic, KMS and data-key caching settings (the fleet's own options,
/// --hosts, --tenants, --branch-key-ttl and the DynamoDB ones, have their defaults on the command
/// line).
pub(crate) const FLEET: Scenario = Scenario {
    name: "fleet",
    about: "100 hosts, 1,000 tenants (Zipf 1.0), 50,000 messages/s in all: no cache, data-key \
            caching (max age 1 min) and the hierarchical keyring (branch-key TTL 5 min), each \
            host with caches of its own",
    rate: 50_000.0,
    burst: None,
    size: "1KiB",
    duration: "10m",
    latency: "10ms",
    rate_limit: None,
    cost: 0.000_003,
    max_age: "1m",
    max_messages: "none",
    max_bytes: "none",
    baseline: true,
    budget: None,
};

pub(crate) fn find(name: &str) -> anyhow::Result<&'static Scenario> {
    SCENARIOS.iter().find(|s| s.name == name).ok_or_else(|| {
        let names: Vec<&str> = SCENARIOS
            .iter()
            .map(|s| s.name)
            .chain([FLEET.name])
            .collect();
        anyhow::anyhow!(
            "no scenario {name:?}; the scenarios are {}",
            names.join(", ")
        )
    })
}
