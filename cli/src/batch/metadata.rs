//! Metadata records: one JSON object per line for each file, with the fields and the encoding
//! `aws-encryption-cli` writes (`json.dumps(..., sort_keys=True)`).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use sealbox::format::ContentType;
use sealbox::{AlgorithmSuite, MessageHeader};
use serde_json::{json, Map, Value};

/// Where metadata records go: standard output or a file, appended to unless told to overwrite.
pub(crate) struct MetadataSink {
    out: Mutex<Box<dyn Write + Send>>,
}

impl MetadataSink {
    /// `-` is standard output. A file is appended to, or truncated first with `overwrite`.
    pub(crate) fn open(target: &Path, overwrite: bool) -> anyhow::Result<Self> {
        let out: Box<dyn Write + Send> = if target.as_os_str() == "-" {
            Box::new(std::io::stdout())
        } else {
            let f: File = OpenOptions::new()
                .create(true)
                .write(true)
                .append(!overwrite)
                .truncate(overwrite)
                .open(target)
                .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", target.display()))?;
            Box::new(f)
        };
        Ok(MetadataSink {
            out: Mutex::new(out),
        })
    }

    /// Write one record as a line, whole, even when files are processed concurrently.
    pub(crate) fn write(&self, record: &Value) -> anyhow::Result<()> {
        let mut line = python_json(record);
        line.push('\n');
        let mut out = self
            .out
            .lock()
            .map_err(|_| anyhow::anyhow!("metadata lock poisoned"))?;
        out.write_all(line.as_bytes())?;
        out.flush()?;
        Ok(())
    }
}

/// The Python ESDK's name of a suite (`aws_encryption_sdk.Algorithm`).
pub(crate) fn suite_name(suite: AlgorithmSuite) -> &'static str {
    match suite.id() {
        0x0014 => "AES_128_GCM_IV12_TAG16",
        0x0046 => "AES_192_GCM_IV12_TAG16",
        0x0078 => "AES_256_GCM_IV12_TAG16",
        0x0114 => "AES_128_GCM_IV12_TAG16_HKDF_SHA256",
        0x0146 => "AES_192_GCM_IV12_TAG16_HKDF_SHA256",
        0x0178 => "AES_256_GCM_IV12_TAG16_HKDF_SHA256",
        0x0214 => "AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256",
        0x0346 => "AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384",
        0x0378 => "AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384",
        0x0478 => "AES_256_GCM_HKDF_SHA512_COMMIT_KEY",
        _ => "AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384",
    }
}

/// The suite a Python ESDK name stands for.
pub(crate) fn suite_by_name(name: &str) -> Option<AlgorithmSuite> {
    AlgorithmSuite::ALL
        .iter()
        .copied()
        .find(|s| suite_name(*s) == name)
}

/// The `header` field: the header as the Python ESDK's `MessageHeader`, bytes in base64, encrypted
/// data keys sorted by provider ID and key info.
pub(crate) fn header_json(h: &MessageHeader) -> Value {
    let mut edks: Vec<_> = h.encrypted_data_keys.iter().collect();
    edks.sort_by(|a, b| {
        let ka = [a.provider_id.as_bytes(), &a.provider_info[..]].concat();
        let kb = [b.provider_id.as_bytes(), &b.provider_info[..]].concat();
        ka.cmp(&kb)
    });
    let edks: Vec<Value> = edks
        .iter()
        .map(|e| {
            json!({
                "encrypted_data_key": B64.encode(&e.ciphertext),
                "key_provider": {
                    "key_info": B64.encode(&e.provider_info),
                    "provider_id": B64.encode(e.provider_id.as_bytes()),
                },
            })
        })
        .collect();
    let v1 = h.version == 1;
    json!({
        "algorithm": suite_name(h.suite),
        "commitment_key": h.commitment.map(|c| B64.encode(c)),
        "content_type": match h.content_type { ContentType::NonFramed => 1, ContentType::Framed => 2 },
        "encrypted_data_keys": edks,
        "encryption_context": h.encryption_context,
        "frame_length": h.frame_length,
        "header_iv_length": if v1 { Some(12) } else { None },
        "message_id": B64.encode(&h.message_id),
        // v1's object type: 128, customer authenticated encrypted data.
        "type": if v1 { Some(128) } else { None },
        "version": if v1 { "1.0" } else { "2.0" },
    })
}

/// The `header_auth` field (decrypt only).
pub(crate) fn header_auth_json(h: &MessageHeader) -> Value {
    json!({ "iv": B64.encode(h.auth.iv), "tag": B64.encode(h.auth.tag) })
}

/// A record's `input` and `output`: an absolute path, `<stdin>` or `<stdout>`.
pub(crate) fn stream_name(path: Option<&Path>, std_name: &str) -> String {
    match path {
        None => std_name.to_owned(),
        Some(p) => std::path::absolute(p)
            .unwrap_or_else(|_| PathBuf::from(p))
            .to_string_lossy()
            .into_owned(),
    }
}

/// A record with `mode`, `input`, `output` and `header` (and `header_auth` on decrypt).
pub(crate) fn record(
    mode: &str,
    input: String,
    output: String,
    h: &MessageHeader,
) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("mode".into(), mode.into());
    m.insert("input".into(), input.into());
    m.insert("output".into(), output.into());
    m.insert("header".into(), header_json(h));
    if mode != "encrypt" {
        m.insert("header_auth".into(), header_auth_json(h));
    }
    m
}

/// JSON as Python's `json.dumps(value, sort_keys=True)` writes it: `", "` and `": "` separators,
/// keys sorted, non-ASCII escaped.
pub(crate) fn python_json(v: &Value) -> String {
    let mut s = String::new();
    write_value(v, &mut s);
    s
}

fn write_value(v: &Value, s: &mut String) {
    match v {
        Value::Null => s.push_str("null"),
        Value::Bool(b) => s.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => s.push_str(&n.to_string()),
        Value::String(t) => write_str(t, s),
        Value::Array(a) => {
            s.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                write_value(x, s);
            }
            s.push(']');
        }
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            s.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    s.push_str(", ");
                }
                write_str(k, s);
                s.push_str(": ");
                write_value(&o[k.as_str()], s);
            }
            s.push('}');
        }
    }
}

fn write_str(t: &str, s: &mut String) {
    s.push('"');
    for c in t.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            '\u{8}' => s.push_str("\\b"),
            '\u{c}' => s.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    s.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => s.push(c),
        }
    }
    s.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_separators_sorted_keys_and_ascii_escapes() {
        let v = json!({"b": [1, null], "a": "é\n"});
        assert_eq!(python_json(&v), r#"{"a": "\u00e9\n", "b": [1, null]}"#);
    }

    #[test]
    fn every_suite_has_a_python_name_that_maps_back() {
        for s in AlgorithmSuite::ALL {
            assert_eq!(suite_by_name(suite_name(s)), Some(s));
        }
    }
}
