//! A fault-injecting HTTP proxy in front of the local Kinesis (moto_server), on 127.0.0.1: a
//! stand-in for the failures a real stream shows under load, which moto never does.
//!
//! Every request other than `PutRecords` is forwarded unchanged. Each `PutRecords` request draws
//! the next fault of a fixed, repeating schedule (or, after [`FaultProxy::faults_only_for`]
//! requests, none):
//!
//! - [`Fault::Throttle`]: the whole request is refused with HTTP 400
//!   `ProvisionedThroughputExceededException`; nothing reaches moto.
//! - [`Fault::InternalFailure`]: the whole request is refused with HTTP 500 `InternalFailure`;
//!   nothing reaches moto.
//! - [`Fault::Partial`]: every third entry is refused (`ProvisionedThroughputExceededException`
//!   and `InternalFailure` in turn) and only the others are forwarded; the response merges moto's
//!   results with the refused entries in request order and counts them in `FailedRecordCount`,
//!   as the service does.
//! - [`Fault::LostResponse`]: the request is forwarded and applied by moto, then the connection
//!   is closed without a response: the caller cannot know whether the records were written.
//!
//! With [`FaultProxy::expire_get_records_every`], every n-th `GetRecords` request is answered
//! with `ExpiredIteratorException` instead, as the service does for an iterator older than five
//! minutes.
//!
//! It speaks just enough HTTP/1.1 for the AWS SDK: requests with a `Content-Length` body,
//! keep-alive towards the client, one fresh upstream connection per request.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;

use serde_json::{json, Value};

/// What happens to one `PutRecords` request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fault {
    None,
    Throttle,
    InternalFailure,
    Partial,
    LostResponse,
}

/// How many of each fault the proxy injected.
#[derive(Debug, Default)]
pub(crate) struct FaultCounts {
    pub(crate) put_records_requests: AtomicUsize,
    pub(crate) throttled_requests: AtomicUsize,
    pub(crate) failed_requests: AtomicUsize,
    pub(crate) partial_requests: AtomicUsize,
    pub(crate) refused_entries: AtomicUsize,
    pub(crate) lost_responses: AtomicUsize,
    /// Entries of requests whose response was lost: written by moto, unknown to the caller.
    pub(crate) lost_entries: AtomicUsize,
    pub(crate) get_records_requests: AtomicUsize,
    pub(crate) expired_iterators: AtomicUsize,
}

impl FaultCounts {
    pub(crate) fn summary(&self) -> String {
        let g = |a: &AtomicUsize| a.load(Ordering::Relaxed);
        format!(
            "put_records_requests={} throttled_requests={} failed_requests={} \
             partial_requests={} refused_entries={} lost_responses={} lost_entries={}",
            g(&self.put_records_requests),
            g(&self.throttled_requests),
            g(&self.failed_requests),
            g(&self.partial_requests),
            g(&self.refused_entries),
            g(&self.lost_responses),
            g(&self.lost_entries)
        )
    }
}

pub(crate) struct FaultProxy {
    pub(crate) endpoint: String,
    pub(crate) counts: Arc<FaultCounts>,
    shared: Arc<Shared>,
}

struct Shared {
    upstream: String,
    schedule: Vec<Fault>,
    counts: Arc<FaultCounts>,
    expire_every: AtomicUsize,
    /// `PutRecords` requests from this one on get no fault (0: the schedule never ends).
    faults_until: AtomicUsize,
}

impl FaultProxy {
    /// A proxy on a free loopback port in front of `upstream` (`http://127.0.0.1:PORT`); the
    /// n-th `PutRecords` request gets `schedule[n % len]`.
    pub(crate) fn start(upstream: &str, schedule: Vec<Fault>) -> FaultProxy {
        assert!(!schedule.is_empty());
        let upstream = upstream
            .strip_prefix("http://")
            .expect("an http:// upstream")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let endpoint = format!("http://{}", listener.local_addr().expect("proxy address"));
        let counts = Arc::new(FaultCounts::default());
        let shared = Arc::new(Shared {
            upstream,
            schedule,
            counts: counts.clone(),
            expire_every: AtomicUsize::new(0),
            faults_until: AtomicUsize::new(0),
        });
        let s = shared.clone();
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let shared = s.clone();
                thread::spawn(move || serve(client, &shared));
            }
        });
        FaultProxy {
            endpoint,
            counts,
            shared,
        }
    }

    /// Apply the schedule to the first `n` `PutRecords` requests only, and forward the rest
    /// untouched: for a test whose point is what the first faults do, and which a schedule
    /// repeating forever could, by the timing of retries against the cycle, keep refusing one
    /// record until its attempts run out.
    pub(crate) fn faults_only_for(self, n: usize) -> Self {
        self.shared.faults_until.store(n, Ordering::Relaxed);
        self
    }

    /// Answer every `n`-th `GetRecords` request with `ExpiredIteratorException`.
    pub(crate) fn expire_get_records_every(self, n: usize) -> Self {
        self.shared.expire_every.store(n, Ordering::Relaxed);
        self
    }
}

struct Message {
    /// The request or status line.
    start: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Message {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The message as bytes, without hop-by-hop headers, with `extra` headers and the body's
    /// length.
    fn to_bytes(&self, extra: &[(&str, &str)]) -> Vec<u8> {
        let mut out = format!("{}\r\n", self.start);
        for (n, v) in &self.headers {
            if ![
                "connection",
                "content-length",
                "keep-alive",
                "transfer-encoding",
            ]
            .iter()
            .any(|h| n.eq_ignore_ascii_case(h))
            {
                out.push_str(&format!("{n}: {v}\r\n"));
            }
        }
        for (n, v) in extra {
            out.push_str(&format!("{n}: {v}\r\n"));
        }
        out.push_str(&format!("content-length: {}\r\n\r\n", self.body.len()));
        let mut out = out.into_bytes();
        out.extend_from_slice(&self.body);
        out
    }
}

/// Read one HTTP/1.1 message with a `Content-Length` body (or none); `None` at end of stream.
fn read_message(r: &mut impl BufRead) -> Option<Message> {
    let mut start = String::new();
    if r.read_line(&mut start).ok()? == 0 {
        return None;
    }
    let start = start.trim_end().to_owned();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (n, v) = line.split_once(':')?;
        headers.push((n.trim().to_owned(), v.trim().to_owned()));
    }
    let mut msg = Message {
        start,
        headers,
        body: Vec::new(),
    };
    let len: usize = msg
        .header("content-length")
        .map_or(Some(0), |v| v.parse().ok())?;
    msg.body = vec![0; len];
    r.read_exact(&mut msg.body).ok()?;
    Some(msg)
}

/// Send `request` to moto on a fresh connection and read its response.
fn forward(shared: &Shared, request: &Message) -> Option<Message> {
    let mut up = TcpStream::connect(&shared.upstream).ok()?;
    up.write_all(&request.to_bytes(&[("connection", "close")]))
        .ok()?;
    read_message(&mut BufReader::new(up))
}

fn json_response(status: &str, body: &Value) -> Message {
    Message {
        start: format!("HTTP/1.1 {status}"),
        headers: vec![("content-type".into(), "application/x-amz-json-1.1".into())],
        body: body.to_string().into_bytes(),
    }
}

fn serve(client: TcpStream, shared: &Shared) {
    let Ok(mut writer) = client.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(client);
    while let Some(request) = read_message(&mut reader) {
        let is_put_records = request
            .header("x-amz-target")
            .is_some_and(|t| t.eq_ignore_ascii_case("Kinesis_20131202.PutRecords"));
        let target = request.header("x-amz-target").unwrap_or_default();
        let expire_every = shared.expire_every.load(Ordering::Relaxed);
        let response = if target.eq_ignore_ascii_case("Kinesis_20131202.GetRecords")
            && expire_every > 0
            && (shared
                .counts
                .get_records_requests
                .fetch_add(1, Ordering::Relaxed)
                + 1)
            .is_multiple_of(expire_every)
        {
            shared
                .counts
                .expired_iterators
                .fetch_add(1, Ordering::Relaxed);
            json_response(
                "400 Bad Request",
                &json!({"__type": "ExpiredIteratorException",
                        "message": "Iterator expired (injected)"}),
            )
        } else if is_put_records {
            let n = shared
                .counts
                .put_records_requests
                .fetch_add(1, Ordering::Relaxed);
            let until = shared.faults_until.load(Ordering::Relaxed);
            let fault = if until != 0 && n >= until {
                Fault::None
            } else {
                shared.schedule[n % shared.schedule.len()]
            };
            match put_records(shared, &request, fault) {
                Some(r) => r,
                // The response is lost: close the connection without one.
                None => return,
            }
        } else {
            match forward(shared, &request) {
                Some(r) => r,
                None => return,
            }
        };
        if writer.write_all(&response.to_bytes(&[])).is_err() {
            return;
        }
    }
}

/// The response to one `PutRecords` request under `fault`; `None` when it is to be lost.
fn put_records(shared: &Shared, request: &Message, fault: Fault) -> Option<Message> {
    let c = &shared.counts;
    match fault {
        Fault::None => forward(shared, request),
        Fault::Throttle => {
            c.throttled_requests.fetch_add(1, Ordering::Relaxed);
            Some(json_response(
                "400 Bad Request",
                &json!({"__type": "ProvisionedThroughputExceededException",
                        "message": "Rate exceeded for stream (injected)"}),
            ))
        }
        Fault::InternalFailure => {
            c.failed_requests.fetch_add(1, Ordering::Relaxed);
            Some(json_response(
                "500 Internal Server Error",
                &json!({"__type": "InternalFailure", "message": "injected"}),
            ))
        }
        Fault::LostResponse => {
            let body: Value = serde_json::from_slice(&request.body).ok()?;
            let entries = body["Records"].as_array().map_or(0, Vec::len);
            let applied = forward(shared, request)?;
            if applied.start.contains(" 200 ") {
                c.lost_responses.fetch_add(1, Ordering::Relaxed);
                c.lost_entries.fetch_add(entries, Ordering::Relaxed);
                None
            } else {
                Some(applied)
            }
        }
        Fault::Partial => {
            let mut body: Value = serde_json::from_slice(&request.body).ok()?;
            let entries = body["Records"].as_array().cloned().unwrap_or_default();
            let refuse: Vec<bool> = (0..entries.len()).map(|i| i % 3 == 0).collect();
            let kept: Vec<Value> = entries
                .iter()
                .zip(&refuse)
                .filter(|(_, &r)| !r)
                .map(|(e, _)| e.clone())
                .collect();
            let mut moto_results = Vec::new();
            let mut moto_failed = 0;
            if !kept.is_empty() {
                body["Records"] = Value::Array(kept);
                let forwarded = Message {
                    start: request.start.clone(),
                    headers: request.headers.clone(),
                    body: body.to_string().into_bytes(),
                };
                let response = forward(shared, &forwarded)?;
                if !response.start.contains(" 200 ") {
                    return Some(response);
                }
                let parsed: Value = serde_json::from_slice(&response.body).ok()?;
                moto_failed = parsed["FailedRecordCount"].as_u64().unwrap_or(0);
                moto_results = parsed["Records"].as_array().cloned().unwrap_or_default();
            }
            c.partial_requests.fetch_add(1, Ordering::Relaxed);
            let mut moto = moto_results.into_iter();
            let mut results = Vec::new();
            let mut failed = moto_failed;
            for (i, &refused) in refuse.iter().enumerate() {
                if refused {
                    c.refused_entries.fetch_add(1, Ordering::Relaxed);
                    failed += 1;
                    let code = if i % 2 == 0 {
                        "ProvisionedThroughputExceededException"
                    } else {
                        "InternalFailure"
                    };
                    results.push(json!({"ErrorCode": code, "ErrorMessage": "injected"}));
                } else {
                    results.push(moto.next()?);
                }
            }
            Some(json_response(
                "200 OK",
                &json!({"FailedRecordCount": failed, "Records": results}),
            ))
        }
    }
}
