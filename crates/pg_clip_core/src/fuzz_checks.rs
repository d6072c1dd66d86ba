//! The properties the fuzz targets check, shared with the stable test suite: `fuzz/` calls these on
//! libFuzzer's inputs, and `replay_committed_regressions` below calls them on every file in
//! `fuzz/regressions/<target>/`, so an input that once crashed or exceeded the memory cap is re-checked
//! on every CI run without nightly or libFuzzer.

use std::time::Duration;

use crate::clip::{CONTEXT_LENGTH, EOT_TOKEN, SOT_TOKEN, TENSOR_LEN};
use crate::fetch::{self, FetchError, FetchPolicy};
use crate::preprocess::{self, Limits, PreprocessError};
use crate::tokenizer;

/// Limits for fuzzing decode: small enough that libFuzzer's -malloc_limit_mb (512) is never reached by
/// an input that respects them, so any allocation over the cap is a missing bound, not a big image.
pub const FUZZ_LIMITS: Limits = Limits { max_bytes: 1 << 20, max_pixels: 4_000_000 };

/// Any bytes: a tensor of finite values, or an error with a message. Never a panic that escapes, never
/// an allocation beyond what the limits allow.
pub fn decode_preprocess(data: &[u8]) {
    match preprocess::preprocess(data, &FUZZ_LIMITS) {
        Ok(t) => {
            assert_eq!(t.len(), TENSOR_LEN);
            assert!(t.iter().all(|v| v.is_finite()), "non-finite value in the tensor");
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
            if let PreprocessError::TooManyPixels { width, height, limit } = e {
                assert!(u64::from(width) * u64::from(height) > limit);
            }
        }
    }
}

/// Any text (bytes taken as lossy UTF-8): 77 ids framed by start and end of text, all in the vocabulary.
pub fn tokenize(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let ids = tokenizer::global().tokenize(&text);
    assert_eq!(ids.len(), CONTEXT_LENGTH);
    assert_eq!(ids[0], i64::from(SOT_TOKEN));
    assert!(ids.iter().all(|&id| (0..=i64::from(EOT_TOKEN)).contains(&id)), "id outside the vocabulary");
    // The last id before the zero padding is the framing end of text (the text itself may spell
    // "<end_of_text>" earlier, as it may in open_clip).
    let last = ids.iter().rposition(|&id| id != 0).unwrap();
    assert_eq!(ids[last], i64::from(EOT_TOKEN), "the ids do not end with end of text");
}

/// Any input, read as allowlist entries (lines before the last) and a URL (the last line): vetting never
/// panics, and a URL it accepts whose host is a forbidden IP literal must be one an entry names.
pub fn url_policy(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let mut lines: Vec<&str> = text.split('\n').collect();
    let url = lines.pop().unwrap_or("");
    let policy = FetchPolicy {
        connect_timeout: Duration::from_secs(1),
        total_timeout: Duration::from_secs(1),
        max_bytes: 1,
        max_redirects: 0,
        allow_hosts: lines.iter().map(|s| s.to_string()).collect(),
    };
    match fetch::vet_url(url, &policy) {
        Ok(parsed) => {
            assert!(matches!(parsed.scheme(), "http" | "https"));
            let literal = match parsed.host() {
                Some(url::Host::Ipv4(v4)) => Some(std::net::IpAddr::V4(v4)),
                Some(url::Host::Ipv6(v6)) => Some(std::net::IpAddr::V6(v6)),
                _ => None,
            };
            if let Some(ip) = literal.filter(|ip| fetch::is_forbidden(*ip)) {
                let host = parsed.host_str().unwrap_or("").trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
                // An entry names the host as the URL parser normalises it: "http://1/" is 0.0.0.1 (the
                // WHATWG IPv4 shorthand), so compare parsed hosts, not strings (fuzzing found this).
                let names = |e: &str| {
                    let h = if e.contains("://") {
                        url::Url::parse(e).ok().and_then(|u| u.host_str().map(str::to_owned)).unwrap_or_default()
                    } else {
                        e.to_owned()
                    };
                    h.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase() == host
                };
                assert!(
                    policy.allow_hosts.iter().any(|e| names(e)),
                    "forbidden address {ip} accepted without an allowlist entry naming {host}"
                );
            }
        }
        Err(FetchError::Refused { host, .. }) => assert!(!host.is_empty()),
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    // An IPv4-mapped IPv6 address is exactly as forbidden as the IPv4 address it maps.
    if data.len() >= 4 {
        let v4 = std::net::Ipv4Addr::new(data[0], data[1], data[2], data[3]);
        assert_eq!(
            fetch::is_forbidden(std::net::IpAddr::V4(v4)),
            fetch::is_forbidden(std::net::IpAddr::V6(v4.to_ipv6_mapped()))
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every committed regression input of every target, through the same checks the fuzzer runs.
    #[test]
    fn replay_committed_regressions() {
        let root = crate::repo_root().join("fuzz/regressions");
        let targets: [(&str, fn(&[u8])); 3] =
            [("decode_preprocess", decode_preprocess), ("tokenize", tokenize), ("url_policy", url_policy)];
        for (target, check) in targets {
            let dir = root.join(target);
            let mut n = 0;
            for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
                let path = entry.unwrap().path();
                if path.file_name().is_some_and(|f| f.to_string_lossy().starts_with('.')) {
                    continue;
                }
                let data = std::fs::read(&path).unwrap();
                let outcome = std::panic::catch_unwind(|| check(&data));
                assert!(outcome.is_ok(), "{target}: {} fails its fuzz check", path.display());
                n += 1;
            }
            assert!(n > 0, "{target}: no regression inputs in {}", dir.display());
        }
    }
}
