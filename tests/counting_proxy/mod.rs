//! A counting proxy in front of the local AWS server: it forwards every byte unchanged and counts
//! requests by operation, as read from their `X-Amz-Target` header (`TrentService.Decrypt`,
//! `DynamoDB_20120810.GetItem`).
//!
//! A stand-in for what AWS itself records (CloudTrail, CloudWatch metrics): moto keeps no count
//! of the calls it serves, and an SDK interceptor would count only what one process sends. Every
//! process pointed at [`CountingProxy::endpoint`] is counted, so a test can check what a fleet of
//! processes cost at the server. It serves plain HTTP/1.1 on 127.0.0.1 only.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

/// The proxy's endpoint and its counts. The listening thread lives as long as the test process.
pub(crate) struct CountingProxy {
    pub(crate) endpoint: String,
    counts: Arc<Mutex<HashMap<String, usize>>>,
}

const HEADER: &[u8] = b"\r\nx-amz-target:";

impl CountingProxy {
    /// A proxy on a free loopback port forwarding to `upstream` (`http://127.0.0.1:PORT`).
    pub(crate) fn start(upstream: &str) -> CountingProxy {
        let upstream = upstream
            .strip_prefix("http://")
            .expect("an http:// upstream")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let endpoint = format!("http://{}", listener.local_addr().expect("proxy address"));
        let counts: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let c = counts.clone();
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let (c, client2, server2) = (c.clone(), client.try_clone(), server.try_clone());
                let (Ok(client2), Ok(server2)) = (client2, server2) else {
                    continue;
                };
                thread::spawn(move || pipe(client, server, Some(c)));
                thread::spawn(move || pipe(server2, client2, None));
            }
        });
        CountingProxy { endpoint, counts }
    }

    /// Requests for `operation` (the whole header value, e.g. `TrentService.Decrypt`, in any
    /// case) so far.
    pub(crate) fn count(&self, operation: &str) -> usize {
        let counts = self.counts.lock().unwrap();
        counts
            .get(&operation.to_ascii_lowercase())
            .copied()
            .unwrap_or(0)
    }

    /// Every count so far (operations lowercased), for messages.
    pub(crate) fn counts(&self) -> HashMap<String, usize> {
        self.counts.lock().unwrap().clone()
    }

    pub(crate) fn reset(&self) {
        self.counts.lock().unwrap().clear();
    }
}

/// Copy `from` to `to`; when `counts` is given, count the `X-Amz-Target` header lines that pass
/// (lowercased, however the stream is split into reads).
fn pipe(
    mut from: TcpStream,
    mut to: TcpStream,
    counts: Option<Arc<Mutex<HashMap<String, usize>>>>,
) {
    let mut buf = [0u8; 16 * 1024];
    // The lowercased tail not yet scanned: a header line may straddle two reads.
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(counts) = &counts {
            pending.extend(buf[..n].iter().map(u8::to_ascii_lowercase));
            loop {
                let Some(at) = find(&pending, HEADER) else {
                    let keep = pending.len().saturating_sub(HEADER.len());
                    pending.drain(..keep);
                    break;
                };
                let value_start = at + HEADER.len();
                let Some(end) = find(&pending[value_start..], b"\r\n") else {
                    pending.drain(..at);
                    break;
                };
                let value = String::from_utf8_lossy(&pending[value_start..value_start + end])
                    .trim()
                    .to_owned();
                *counts.lock().unwrap().entry(value).or_default() += 1;
                pending.drain(..value_start + end);
            }
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
