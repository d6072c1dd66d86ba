//! Fetching images from http(s) URLs (object storage thumbnails) for URL-kind backfill sources.
//!
//! The server must not become a proxy into its own network: after DNS resolution, and again on every
//! redirect, addresses that are loopback, private, link-local (incl. the 169.254.169.254 metadata
//! service), multicast, unspecified or otherwise non-global are refused unless the URL's host is named in
//! `clip.http_allow_hosts`. The body limit is enforced while streaming, so a lying or absent
//! Content-Length cannot make the backend buffer more than the limit. No pgrx here: the caller passes
//! an `interrupted` probe, polled while waiting, so query cancel stops a slow download.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct FetchPolicy {
    pub connect_timeout: Duration,
    pub total_timeout: Duration,
    pub max_bytes: usize,
    pub max_redirects: usize,
    /// Entries of clip.http_allow_hosts: a bare host (name or IP literal, exempt whole) or a URL prefix
    /// `scheme://host[:port]/path/` (exempt only for that scheme, port and path prefix).
    pub allow_hosts: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FetchError {
    InvalidUrl(String),
    Refused { host: String, addr: String },
    Timeout,
    TooLarge { limit: usize },
    TooManyRedirects { limit: usize },
    Status { code: u16, reason: String },
    Network(String),
    Interrupted,
    /// The host is allowlisted only under other scheme/port/path prefixes.
    OutsideAllowlist { host: String },
    /// The body does not fit in memory (fallible allocation refused).
    OutOfMemory { bytes: usize },
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::InvalidUrl(m) => write!(f, "invalid image URL: {m}"),
            // The resolved address is kept out of the message: a tenant could otherwise map internal
            // names through it. The SQL layer logs it at DEBUG1 for the DBA.
            FetchError::Refused { host, .. } => write!(
                f,
                "refusing to fetch from {host}: it is or resolves to a non-public address (allowlist it in clip.http_allow_hosts)"
            ),
            FetchError::OutsideAllowlist { host } => write!(
                f,
                "refusing to fetch from {host}: clip.http_allow_hosts allows it only under other scheme, port or path prefixes"
            ),
            FetchError::Timeout => f.write_str("image fetch timed out"),
            FetchError::TooLarge { limit } => write!(f, "image body exceeds clip.http_max_bytes ({limit} bytes)"),
            FetchError::TooManyRedirects { limit } => write!(f, "more than clip.http_max_redirects ({limit}) redirects"),
            FetchError::Status { code, reason } => write!(f, "image fetch failed: HTTP {code} {reason}"),
            FetchError::Network(m) => write!(f, "image fetch failed: {m}"),
            FetchError::Interrupted => f.write_str("interrupted"),
            FetchError::OutOfMemory { bytes } => write!(f, "cannot allocate {bytes} bytes for the image body"),
        }
    }
}

impl std::error::Error for FetchError {}

/// Globally routable unicast only: everything a tenant's URL must never reach inside our network.
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64/10 carrier-grade NAT
                || (o[0] == 192 && o[1] == 0 && o[2] == 0) // 192.0.0/24 IETF protocol assignments
                || (o[0] == 198 && (o[1] & 0xfe) == 18) // 198.18/15 benchmarking
                || o[0] >= 240 // reserved
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_forbidden(IpAddr::V4(v4));
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local, incl. fd00:ec2::254 metadata
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x0064 && s[1] == 0xff9b) // NAT64 can reach private v4
                || (s[0] == 0 && s[1] == 0 && s[2] == 0 && s[3] == 0 && s[4] == 0 && s[5] == 0) // v4-compatible
        }
    }
}

/// One clip.http_allow_hosts entry, parsed.
#[derive(Debug, PartialEq)]
struct AllowEntry {
    host: String,
    /// None: the whole host, any scheme, port and path.
    prefix: Option<(String, u16, String)>,
}

/// A host as entries and URLs are compared: without IPv6 brackets, in lower case (host names are
/// case-insensitive; paths are not, so only the host is folded).
fn bare_host(host: &str) -> String {
    host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase()
}

fn parse_entry(entry: &str) -> Result<AllowEntry, FetchError> {
    let bad = |why: &str| FetchError::InvalidUrl(format!("clip.http_allow_hosts entry \"{entry}\" {why}"));
    if !entry.contains("://") {
        return Ok(AllowEntry { host: bare_host(entry), prefix: None });
    }
    let url = reqwest::Url::parse(entry).map_err(|e| bad(&format!("is not a URL prefix ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.query().is_some() || url.fragment().is_some() {
        return Err(bad("must be http(s)://host[:port]/path-prefix"));
    }
    let host = url.host_str().ok_or_else(|| bad("has no host"))?;
    let host = bare_host(host);
    let port = url.port_or_known_default().ok_or_else(|| bad("has no port"))?;
    Ok(AllowEntry { host, prefix: Some((url.scheme().to_owned(), port, url.path().to_owned())) })
}

/// Whether `path` lies under `prefix` at a segment boundary (`/a` covers `/a` and `/a/x`, not `/ab` nor
/// `/a%2F..`).
fn under(path: &str, prefix: &str) -> bool {
    if prefix.ends_with('/') {
        path.starts_with(prefix)
    } else {
        path == prefix || path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/'))
    }
}

enum Exemption {
    /// No entry names the host: the address rules apply.
    None,
    /// An entry covers this URL: its address is not checked.
    Exempt,
    /// The host is allowlisted only for other schemes, ports or paths: refused, whatever it resolves to.
    Outside,
}

fn exemption(policy: &FetchPolicy, url: &reqwest::Url) -> Result<Exemption, FetchError> {
    let host = bare_host(url.host_str().unwrap_or(""));
    let mut listed = false;
    for entry in &policy.allow_hosts {
        let e = parse_entry(entry)?;
        if e.host != host {
            continue;
        }
        listed = true;
        match &e.prefix {
            None => return Ok(Exemption::Exempt),
            Some((scheme, port, path)) => {
                if url.scheme() == scheme && url.port_or_known_default() == Some(*port) && under(url.path(), path) {
                    return Ok(Exemption::Exempt);
                }
            }
        }
    }
    Ok(if listed { Exemption::Outside } else { Exemption::None })
}

/// The resolver's view: the host has an entry. Which scheme, port and path it may be fetched with was
/// checked by [`check_url`] for the URL and for every redirect target before any name is resolved.
fn allowed(policy: &FetchPolicy, host: &str) -> bool {
    let host = bare_host(host);
    policy.allow_hosts.iter().any(|entry| parse_entry(entry).is_ok_and(|e| e.host == host))
}

/// Checks the scheme and, for IP-literal hosts (which skip DNS), the address itself.
fn check_url(policy: &FetchPolicy, url: &reqwest::Url) -> Result<(), FetchError> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(FetchError::InvalidUrl(format!("scheme \"{}\" is not http or https", url.scheme())));
    }
    let host = url.host_str().ok_or_else(|| FetchError::InvalidUrl("no host".into()))?;
    match exemption(policy, url)? {
        Exemption::Exempt => return Ok(()),
        Exemption::Outside => {
            return Err(FetchError::OutsideAllowlist { host: host.into() })
        }
        Exemption::None => {}
    }
    let literal = match url.host() {
        Some(url::Host::Ipv4(v4)) => Some(IpAddr::V4(v4)),
        Some(url::Host::Ipv6(v6)) => Some(IpAddr::V6(v6)),
        _ => None,
    };
    match literal {
        Some(ip) if is_forbidden(ip) => Err(FetchError::Refused { host: host.into(), addr: ip.to_string() }),
        _ => Ok(()),
    }
}

/// Resolves with the system resolver, then drops forbidden addresses unless the host is allowlisted.
/// Because reqwest connects only to what this returns, the check cannot be raced by a second lookup
/// (DNS rebinding).
struct GuardedResolver {
    policy: Arc<FetchPolicy>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let boxed = |e: FetchError| -> Box<dyn std::error::Error + Send + Sync> { Box::new(e) };
            let addrs = resolve(&host, policy.connect_timeout).await.map_err(boxed)?;
            if allowed(&policy, &host) {
                return Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs);
            }
            if let Some(bad) = addrs.iter().find(|a| is_forbidden(a.ip())) {
                // Refuse the whole name if any address is internal: a name that mixes public and private
                // answers is a rebinding setup, not a CDN.
                return Err(boxed(FetchError::Refused { host: host.clone(), addr: bad.ip().to_string() }));
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Lookups still running on resolver threads in this process (a black-holed name keeps its thread in
/// getaddrinfo for the resolver's own timeouts, long after the call gave up on it).
static LOOKUPS_IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
/// More than this and a new lookup is refused instead of adding a thread.
pub const MAX_LOOKUPS_IN_FLIGHT: usize = 4;

/// The system resolver (getaddrinfo: /etc/hosts, nsswitch, resolv.conf) on a helper thread with every
/// signal blocked, awaited here with a deadline: getaddrinfo cannot be interrupted, but the call waiting
/// for it can, so neither a cancel nor clip.http_connect_timeout_ms has to wait for a slow DNS server.
async fn resolve(host: &str, timeout: Duration) -> Result<Vec<SocketAddr>, FetchError> {
    resolve_with(host, timeout, system_lookup, &LOOKUPS_IN_FLIGHT).await
}

fn system_lookup(host: &str) -> std::io::Result<Vec<SocketAddr>> {
    (host, 0).to_socket_addrs().map(|a| a.collect())
}

async fn resolve_with(
    host: &str,
    timeout: Duration,
    lookup: fn(&str) -> std::io::Result<Vec<SocketAddr>>,
    in_flight: &'static AtomicUsize,
) -> Result<Vec<SocketAddr>, FetchError> {
    if in_flight.fetch_add(1, Ordering::SeqCst) >= MAX_LOOKUPS_IN_FLIGHT {
        in_flight.fetch_sub(1, Ordering::SeqCst);
        return Err(FetchError::Network(format!(
            "cannot resolve {host}: {MAX_LOOKUPS_IN_FLIGHT} earlier lookups of this backend are still unanswered"
        )));
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let name = host.to_owned();
    let spawned = crate::threads::spawn_signal_blocked("pg_clip-dns", move || {
        let result = lookup(&name);
        in_flight.fetch_sub(1, Ordering::SeqCst);
        let _ = tx.send(result);
    });
    if let Err(e) = spawned {
        in_flight.fetch_sub(1, Ordering::SeqCst);
        return Err(FetchError::Network(format!("cannot resolve {host}: no resolver thread ({e})")));
    }
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match rx.try_recv() {
            Ok(Ok(addrs)) => return Ok(addrs),
            Ok(Err(e)) => return Err(FetchError::Network(format!("cannot resolve {host}: {e}"))),
            Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                return Err(FetchError::Network(format!("cannot resolve {host}: resolver thread failed")))
            }
            Err(std::sync::mpsc::TryRecvError::Empty) => {}
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(FetchError::Timeout);
        }
        // The caller's select! polls the interrupt probe between these naps.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Digs our own error back out of reqwest's error chain, so refusals are reported as refusals.
fn classify(e: &reqwest::Error) -> FetchError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(fe) = s.downcast_ref::<FetchError>() {
            return fe.clone();
        }
        source = s.source();
    }
    if e.is_timeout() {
        FetchError::Timeout
    } else {
        let mut msg = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            msg = format!("{msg}: {s}");
            source = s.source();
        }
        FetchError::Network(msg)
    }
}

/// Fetches `url`; `interrupted` is polled every 20 ms and aborts the transfer when it returns true.
/// Parses `url` and applies every check that needs no network: scheme, allowlist prefixes, and the
/// address rules for IP-literal hosts. What `fetch` does before it resolves anything; public for the
/// URL-policy fuzz target.
pub fn vet_url(url: &str, policy: &FetchPolicy) -> Result<reqwest::Url, FetchError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| FetchError::InvalidUrl(e.to_string()))?;
    check_url(policy, &parsed)?;
    Ok(parsed)
}

pub fn fetch(url: &str, policy: &FetchPolicy, interrupted: &dyn Fn() -> bool) -> Result<Vec<u8>, FetchError> {
    fetch_with_validators(url, policy, interrupted).map(|f| f.body)
}

/// A fetched body with the response's cache validators: what a backfill records beside the body's
/// sha256 so that a DBA (or a later conditional fetch) can tell which version of a remote object a
/// vector was computed from.
#[derive(Debug, Clone, PartialEq)]
pub struct Fetched {
    pub body: Vec<u8>,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

/// Longest validator kept. Real ETags are quoted hashes (S3: 34 bytes, multipart 40-ish; GCS, Azure
/// similar) and an HTTP date is 29 bytes; a server-controlled header must not grow every row's metadata.
pub const MAX_VALIDATOR_BYTES: usize = 256;

/// A header value as a validator: visible ASCII and spaces only (RFC 9110 field values; obs-text is
/// dropped rather than guessed at), trimmed, non-empty and at most MAX_VALIDATOR_BYTES, else none.
fn validator(headers: &reqwest::header::HeaderMap, name: reqwest::header::HeaderName) -> Option<String> {
    // Several values (a misbehaving proxy) make the validator ambiguous: record none.
    let mut values = headers.get_all(name).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let text = value.to_str().ok()?.trim();
    (!text.is_empty() && text.len() <= MAX_VALIDATOR_BYTES && text.bytes().all(|b| (0x20..0x7f).contains(&b)))
        .then(|| text.to_string())
}

/// `fetch`, keeping the ETag and Last-Modified of the final response (after redirects).
pub fn fetch_with_validators(
    url: &str,
    policy: &FetchPolicy,
    interrupted: &dyn Fn() -> bool,
) -> Result<Fetched, FetchError> {
    let parsed = vet_url(url, policy)?;
    let shared = Arc::new(policy.clone());
    let redirect_policy = {
        let policy = shared.clone();
        reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > policy.max_redirects {
                return attempt.error(FetchError::TooManyRedirects { limit: policy.max_redirects });
            }
            match check_url(&policy, attempt.url()) {
                Ok(()) => attempt.follow(),
                Err(e) => attempt.error(e),
            }
        })
    };
    let client = reqwest::Client::builder()
        .connect_timeout(policy.connect_timeout)
        .timeout(policy.total_timeout)
        .redirect(redirect_policy)
        .dns_resolver(Arc::new(GuardedResolver { policy: shared }))
        .no_proxy()
        .user_agent(concat!("pg_clip/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| FetchError::Network(e.to_string()))?;
    // A current-thread runtime on the backend's own thread: no worker threads, and the interrupt
    // probe runs between I/O events.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| FetchError::Network(e.to_string()))?;
    let max_bytes = policy.max_bytes;
    let transfer = async move {
        let mut resp = client.get(parsed).send().await.map_err(|e| classify(&e))?;
        let status = resp.status();
        if !status.is_success() {
            return Err(FetchError::Status {
                code: status.as_u16(),
                reason: status.canonical_reason().unwrap_or("").to_string(),
            });
        }
        if resp.content_length().is_some_and(|n| n > max_bytes as u64) {
            return Err(FetchError::TooLarge { limit: max_bytes });
        }
        let etag = validator(resp.headers(), reqwest::header::ETAG);
        let last_modified = validator(resp.headers(), reqwest::header::LAST_MODIFIED);
        let mut body: Vec<u8> = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| classify(&e))? {
            if body.len() + chunk.len() > max_bytes {
                return Err(FetchError::TooLarge { limit: max_bytes });
            }
            body.try_reserve(chunk.len())
                .map_err(|_| FetchError::OutOfMemory { bytes: body.len() + chunk.len() })?;
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched { body, etag, last_modified })
    };
    runtime.block_on(async {
        tokio::pin!(transfer);
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        loop {
            tokio::select! {
                result = &mut transfer => return result,
                _ = tick.tick() => if interrupted() { return Err(FetchError::Interrupted) },
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(f)
    }

    fn black_hole(_: &str) -> std::io::Result<Vec<SocketAddr>> {
        std::thread::sleep(Duration::from_secs(3));
        Ok(vec![])
    }

    // This test's own count of lookups in flight: the other tests resolve names at the same time.
    static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

    #[test]
    fn a_black_holed_lookup_times_out_and_lookups_in_flight_are_bounded() {
        // getaddrinfo stuck for seconds: the call gives up at its own deadline, not the resolver's.
        let started = std::time::Instant::now();
        assert_eq!(block_on(resolve_with("slow.example", Duration::from_millis(100), black_hole, &IN_FLIGHT)), Err(FetchError::Timeout));
        assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
        // The stuck threads count against the bound until they return; past it, no new thread is made.
        for _ in 1..MAX_LOOKUPS_IN_FLIGHT {
            let _ = block_on(resolve_with("slow.example", Duration::from_millis(1), black_hole, &IN_FLIGHT));
        }
        let refused = block_on(resolve_with("slow.example", Duration::from_millis(1), black_hole, &IN_FLIGHT));
        assert!(matches!(refused, Err(FetchError::Network(ref m)) if m.contains("still unanswered")), "{refused:?}");
        std::thread::sleep(Duration::from_millis(3500));
        assert_eq!(IN_FLIGHT.load(Ordering::SeqCst), 0);
        let ok = block_on(resolve_with("localhost", Duration::from_secs(5), system_lookup, &IN_FLIGHT)).unwrap();
        assert!(ok.iter().all(|a| a.ip().is_loopback()), "{ok:?}");
    }

    #[test]
    fn allowlist_prefixes_narrow_a_host_to_a_scheme_port_and_path() {
        let p = policy(&["https://store.example/thumbs/tenant-a/", "http://10.0.0.5:9000/bucket", "cdn.internal"]);
        let check = |u: &str| check_url(&p, &reqwest::Url::parse(u).unwrap());
        assert_eq!(check("https://store.example/thumbs/tenant-a/x.jpg"), Ok(()));
        assert_eq!(check("https://STORE.example:443/thumbs/tenant-a/sub/x.jpg"), Ok(()));
        for outside in [
            "https://store.example/thumbs/tenant-b/x.jpg",          // another tenant's prefix
            "https://store.example/thumbs/tenant-a/../tenant-b/x",   // normalised by the URL parser first
            "https://store.example/thumbs/tenant-a%2F..%2Ftenant-b/x",
            "https://store.example/",                                 // the bucket listing
            "http://store.example/thumbs/tenant-a/x.jpg",            // another scheme
            "https://store.example:8443/thumbs/tenant-a/x.jpg",      // another port
            "http://10.0.0.5:9000/bucket-other/x",                   // not at a segment boundary
        ] {
            assert!(matches!(check(outside), Err(FetchError::OutsideAllowlist { .. })), "{outside}");
        }
        assert_eq!(check("http://10.0.0.5:9000/bucket"), Ok(()));
        assert_eq!(check("http://10.0.0.5:9000/bucket/x.jpg"), Ok(()));
        assert_eq!(check("http://cdn.internal:81/anything"), Ok(())); // a bare host is exempt whole
        // A host that is not listed goes through the address rules (here: an IP literal, refused).
        assert!(matches!(check("http://10.0.0.6/x"), Err(FetchError::Refused { .. })));
        let bad = policy(&["ftp://x/"]);
        assert!(matches!(check_url(&bad, &reqwest::Url::parse("http://x/").unwrap()), Err(FetchError::InvalidUrl(_))));
    }

    fn policy(allow: &[&str]) -> FetchPolicy {
        FetchPolicy {
            connect_timeout: Duration::from_secs(2),
            total_timeout: Duration::from_secs(2),
            max_bytes: 1000,
            max_redirects: 2,
            allow_hosts: allow.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Serves `responses` in order, one connection each, on a loopback port.
    fn serve(responses: Vec<Vec<u8>>) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for resp in responses {
                let Ok((mut s, _)) = listener.accept() else { return };
                let mut buf = [0u8; 2048];
                let _ = s.read(&mut buf);
                let _ = s.write_all(&resp);
            }
        });
        port
    }

    fn ok_body(body: &[u8]) -> Vec<u8> {
        let mut r = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).into_bytes();
        r.extend_from_slice(body);
        r
    }

    #[test]
    fn forbidden_ranges() {
        for ip in ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "0.0.0.0", "224.0.0.1",
                   "100.64.0.1", "::1", "fe80::1", "fd00:ec2::254", "::ffff:127.0.0.1", "ff02::1", "::"] {
            assert!(is_forbidden(ip.parse().unwrap()), "{ip} must be refused");
        }
        for ip in ["8.8.8.8", "151.101.1.69", "2606:4700::1111"] {
            assert!(!is_forbidden(ip.parse().unwrap()), "{ip} is public");
        }
    }

    #[test]
    fn loopback_refused_unless_allowlisted() {
        let port = serve(vec![ok_body(b"hello")]);
        let url = format!("http://127.0.0.1:{port}/x.jpg");
        assert!(matches!(fetch(&url, &policy(&[]), &|| false), Err(FetchError::Refused { .. })));
        assert_eq!(fetch(&url, &policy(&["127.0.0.1"]), &|| false).unwrap(), b"hello");
    }

    #[test]
    fn validators_of_the_final_response_are_kept_and_bounded() {
        let with = |headers: &str| {
            let mut r = format!("HTTP/1.1 200 OK\r\n{headers}Content-Length: 2\r\nConnection: close\r\n\r\n").into_bytes();
            r.extend_from_slice(b"ok");
            let port = serve(vec![r]);
            fetch_with_validators(&format!("http://127.0.0.1:{port}/x"), &policy(&["127.0.0.1"]), &|| false).unwrap()
        };
        let f = with("ETag: \"5d41402abc4b2a76b9719d911017c592\"\r\nLast-Modified: Tue, 01 Dec 2026 10:00:00 GMT\r\n");
        assert_eq!(f.body, b"ok");
        assert_eq!(f.etag.as_deref(), Some("\"5d41402abc4b2a76b9719d911017c592\""));
        assert_eq!(f.last_modified.as_deref(), Some("Tue, 01 Dec 2026 10:00:00 GMT"));
        assert_eq!(with("ETag: W/\"1-abc\"\r\n").etag.as_deref(), Some("W/\"1-abc\""));
        let none = with("");
        assert_eq!((none.etag, none.last_modified), (None, None));
        // Too long, not ASCII, empty, or repeated: nothing is recorded rather than something unbounded,
        // garbled or ambiguous.
        let long = format!("ETag: \"{}\"\r\n", "a".repeat(MAX_VALIDATOR_BYTES));
        assert_eq!(with(&long).etag, None);
        let at_limit = format!("ETag: {}\r\n", "b".repeat(MAX_VALIDATOR_BYTES));
        assert_eq!(with(&at_limit).etag.map(|e| e.len()), Some(MAX_VALIDATOR_BYTES));
        assert_eq!(with("ETag: \"caf\u{e9}\"\r\n").etag, None);
        assert_eq!(with("ETag: \r\n").etag, None);
        assert_eq!(with("ETag: \"a\"\r\nETag: \"b\"\r\n").etag, None);
    }

    #[test]
    fn validators_come_from_the_response_after_a_redirect() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for resp in [
                format!("HTTP/1.1 302 Found\r\nETag: \"redirect\"\r\nLocation: http://127.0.0.1:{port}/final\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
                "HTTP/1.1 200 OK\r\nETag: \"final\"\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx".to_string(),
            ] {
                let Ok((mut s, _)) = listener.accept() else { return };
                let mut buf = [0u8; 2048];
                let _ = s.read(&mut buf);
                let _ = s.write_all(resp.as_bytes());
            }
        });
        let f = fetch_with_validators(&format!("http://127.0.0.1:{port}/"), &policy(&["127.0.0.1"]), &|| false).unwrap();
        assert_eq!((f.body.as_slice(), f.etag.as_deref(), f.last_modified), (&b"x"[..], Some("\"final\""), None));
    }

    #[test]
    fn localhost_name_is_refused_after_resolution() {
        let err = fetch("http://localhost:9/x.jpg", &policy(&[]), &|| false).unwrap_err();
        assert!(matches!(err, FetchError::Refused { .. }), "{err:?}");
    }

    #[test]
    fn non_http_schemes_are_refused() {
        for url in ["file:///etc/passwd", "ftp://example.com/x", "gopher://x/"] {
            assert!(matches!(fetch(url, &policy(&[]), &|| false), Err(FetchError::InvalidUrl(_))), "{url}");
        }
    }

    #[test]
    fn http_errors_are_reported_with_status() {
        let port = serve(vec![b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()]);
        let err = fetch(&format!("http://127.0.0.1:{port}/"), &policy(&["127.0.0.1"]), &|| false).unwrap_err();
        assert_eq!(err, FetchError::Status { code: 404, reason: "Not Found".into() });
    }

    #[test]
    fn body_limit_is_enforced_while_streaming() {
        // No Content-Length: only the streaming check can stop it.
        let mut resp = b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".to_vec();
        resp.extend(vec![b'x'; 5000]);
        let port = serve(vec![resp]);
        let err = fetch(&format!("http://127.0.0.1:{port}/"), &policy(&["127.0.0.1"]), &|| false).unwrap_err();
        assert_eq!(err, FetchError::TooLarge { limit: 1000 });
    }

    #[test]
    fn redirect_to_internal_address_is_refused() {
        let redirect = b"HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/latest/meta-data\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec();
        let port = serve(vec![redirect]);
        let err = fetch(&format!("http://127.0.0.1:{port}/"), &policy(&["127.0.0.1"]), &|| false).unwrap_err();
        assert!(matches!(err, FetchError::Refused { ref addr, .. } if addr == "169.254.169.254"), "{err:?}");
    }

    #[test]
    fn redirect_limit() {
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            std::thread::spawn(move || {
                for _ in 0..5 {
                    let Ok((mut s, _)) = listener.accept() else { return };
                    let mut buf = [0u8; 2048];
                    let _ = s.read(&mut buf);
                    let resp = format!("HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{port}/next\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    let _ = s.write_all(resp.as_bytes());
                }
            });
            port
        };
        let err = fetch(&format!("http://127.0.0.1:{port}/"), &policy(&["127.0.0.1"]), &|| false).unwrap_err();
        assert_eq!(err, FetchError::TooManyRedirects { limit: 2 });
    }

    #[test]
    fn slow_server_times_out_and_interrupt_aborts() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for s in listener.incoming().take(2) {
                held.push(s); // accept, never answer
            }
            std::thread::sleep(Duration::from_secs(10));
        });
        let url = format!("http://127.0.0.1:{port}/");
        let mut p = policy(&["127.0.0.1"]);
        p.total_timeout = Duration::from_millis(300);
        let started = std::time::Instant::now();
        assert_eq!(fetch(&url, &p, &|| false).unwrap_err(), FetchError::Timeout);
        assert!(started.elapsed() < Duration::from_secs(2));
        p.total_timeout = Duration::from_secs(30);
        let started = std::time::Instant::now();
        let err = fetch(&url, &p, &|| started.elapsed() > Duration::from_millis(200)).unwrap_err();
        assert_eq!(err, FetchError::Interrupted);
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
