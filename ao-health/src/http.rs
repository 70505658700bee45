//! The embeddable `/metrics` responder (feature `http`): `std::net` only.
//!
//! [`parse_request`] and [`respond`] are pure (bytes in, bytes out) and
//! tested as such; [`MetricsServer`] is the thin driver around a
//! `TcpListener`: an accept thread, a thread per connection (at most
//! `max_connections`), and deadlines per connection.

use std::fmt::{self, Write as _};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{Error, ErrorKind};
use crate::expo::Format;
use crate::probe::Status;
use crate::registry::Registry;

/// The largest request head accepted (request line and headers).
pub const MAX_REQUEST_HEAD: usize = 8 * 1024;

/// The parts of an HTTP request the responder looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The method (`GET`, `HEAD`, ...).
    pub method: String,
    /// The path, without the query string.
    pub path: String,
    /// The `Accept` header, if sent.
    pub accept: Option<String>,
}

fn bad(offset: usize, reason: &'static str) -> Error {
    Error::new(ErrorKind::BadRequest { offset, reason })
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Parses a request head from the start of `buf`.
///
/// `Ok(None)`: the head is not complete yet, read more. `Ok(Some((request,
/// len)))`: the head takes `len` bytes. Errors name the byte offset.
pub fn parse_request(buf: &[u8]) -> Result<Option<(Request, usize)>, Error> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if buf.len() > MAX_REQUEST_HEAD {
            return Err(bad(MAX_REQUEST_HEAD, "request head larger than 8 KiB"));
        }
        return Ok(None);
    };
    if end > MAX_REQUEST_HEAD {
        return Err(bad(MAX_REQUEST_HEAD, "request head larger than 8 KiB"));
    }
    let head = &buf[..end];
    let line_end = head.windows(2).position(|w| w == b"\r\n").unwrap_or(head.len());
    let line = &head[..line_end];

    let method_len =
        line.iter().position(|&b| b == b' ').ok_or_else(|| bad(0, "no space after the method"))?;
    if method_len == 0 || !line[..method_len].iter().all(|&b| is_tchar(b)) {
        return Err(bad(0, "the method is not a token"));
    }
    let target_start = method_len + 1;
    let target_len = line[target_start..]
        .iter()
        .position(|&b| b == b' ')
        .ok_or_else(|| bad(target_start, "no space after the request target"))?;
    let target = &line[target_start..target_start + target_len];
    if target.first() != Some(&b'/') {
        return Err(bad(target_start, "the request target does not start with '/'"));
    }
    if let Some(i) = target.iter().position(|&b| !(0x21..0x7f).contains(&b)) {
        return Err(bad(target_start + i, "the request target has a byte outside visible ASCII"));
    }
    let version_start = target_start + target_len + 1;
    let version = &line[version_start..];
    if version != b"HTTP/1.1" && version != b"HTTP/1.0" {
        return Err(bad(version_start, "the version is not HTTP/1.0 or HTTP/1.1"));
    }
    // Both are ASCII by now.
    let method = String::from_utf8_lossy(&line[..method_len]).into_owned();
    let target = String::from_utf8_lossy(target);
    let path = target.split('?').next().unwrap_or("/").to_owned();

    let mut accept = None;
    let mut at = line_end + 2;
    while at < head.len() {
        let rest = &head[at..];
        let len = rest.windows(2).position(|w| w == b"\r\n").unwrap_or(rest.len());
        let header = &rest[..len];
        let colon =
            header.iter().position(|&b| b == b':').ok_or_else(|| bad(at, "a header line has no ':'"))?;
        if colon == 0 || !header[..colon].iter().all(|&b| is_tchar(b)) {
            return Err(bad(at, "a header name is not a token"));
        }
        if header[..colon].eq_ignore_ascii_case(b"accept") {
            let value = String::from_utf8_lossy(&header[colon + 1..]);
            accept = Some(value.trim_matches([' ', '\t']).to_owned());
        }
        at += len + 2;
    }
    Ok(Some((Request { method, path, accept }, end + 4)))
}

/// An HTTP response, ready to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
    /// Body (empty for `HEAD`, but `Content-Length` still tells its size).
    pub body: Vec<u8>,
    content_length: usize,
}

impl Response {
    fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
        let body = body.into();
        Self { status, content_type, headers: Vec::new(), content_length: body.len(), body }
    }

    fn text(status: u16, body: &str) -> Self {
        Self::new(status, "text/plain; charset=utf-8", format!("{body}\n"))
    }

    /// The response as bytes on the wire (`Connection: close`).
    pub fn to_bytes(&self) -> Vec<u8> {
        let reason = match self.status {
            200 => "OK",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            408 => "Request Timeout",
            503 => "Service Unavailable",
            _ => "Unknown",
        };
        let mut out = format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.status, self.content_type, self.content_length
        );
        for (k, v) in &self.headers {
            let _ = write!(out, "{k}: {v}\r\n");
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

/// A health source for `/healthz`: called on each request.
pub type HealthFn = Arc<dyn Fn() -> Status + Send + Sync>;

/// Answers one request: `GET`/`HEAD /metrics` with the registry encoded as
/// the `Accept` header asks, `/healthz` with the health source's status (503
/// when unhealthy), 404 and 405 otherwise.
pub fn respond(request: &Request, registry: &Registry, health: Option<&HealthFn>) -> Response {
    let head = request.method == "HEAD";
    if !head && request.method != "GET" {
        let mut r = Response::text(405, "method not allowed");
        r.headers.push(("Allow", "GET, HEAD".into()));
        return r;
    }
    let mut r = match (request.path.as_str(), health) {
        ("/metrics", _) => {
            let format = Format::from_accept(request.accept.as_deref());
            Response::new(200, format.content_type(), registry.encode(format))
        }
        ("/healthz", Some(h)) => {
            let status = h();
            Response::text(if status == Status::Unhealthy { 503 } else { 200 }, status.as_str())
        }
        _ => Response::text(404, "not found: try /metrics"),
    };
    if head {
        r.body.clear();
    }
    r
}

/// Serves `/metrics` (and `/healthz` if given a health source): an accept
/// thread and one short-lived thread per connection.
///
/// ```no_run
/// let registry = ao_health::Registry::new();
/// let _ecs = ao_health::EcsMetrics::register(&registry)?;
/// let _server = ao_health::MetricsServer::start("127.0.0.1:9464", registry.clone())?;
/// # Ok::<(), ao_health::Error>(())
/// ```
///
/// A slow or stalled client cannot hold it up: each connection has a
/// deadline for its whole request head ([`read_timeout`](MetricsServerBuilder::read_timeout),
/// answered `408` when it passes) and one for its whole response
/// ([`write_timeout`](MetricsServerBuilder::write_timeout)), not per read or
/// write, so trickling bytes does not extend them; the head is at most
/// [`MAX_REQUEST_HEAD`] bytes; and connections are served side by side, so an
/// idle one does not delay a scrape. At most
/// [`max_connections`](MetricsServerBuilder::max_connections) are served at
/// once; more are answered `503` and closed at once, so a flood of idle
/// connections costs scrapes for at most the two deadlines, and no thread
/// or memory beyond that bound. Dropping the server stops it.
#[derive(Debug)]
pub struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    stats: Arc<Stats>,
    thread: Option<JoinHandle<()>>,
}

/// What a [`MetricsServer`] has done with its connections so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Requests answered in full (any status but `408`).
    pub served: u64,
    /// Connections closed because a deadline passed (request head or response).
    pub timed_out: u64,
    /// Connections refused with `503` because `max_connections` were being served.
    pub refused: u64,
    /// Connections closed by the client before a request was complete, or failed.
    pub dropped: u64,
}

#[derive(Debug, Default)]
struct Stats {
    served: AtomicU64,
    timed_out: AtomicU64,
    refused: AtomicU64,
    dropped: AtomicU64,
    active: AtomicUsize,
}

/// The deadlines a connection is served under.
#[derive(Debug, Clone, Copy)]
struct Limits {
    read: Duration,
    write: Duration,
}

/// Configures a [`MetricsServer`]: [`MetricsServer::builder`], then [`bind`](Self::bind).
#[must_use]
pub struct MetricsServerBuilder {
    registry: Registry,
    health: Option<HealthFn>,
    read_timeout: Duration,
    write_timeout: Duration,
    max_connections: usize,
}

impl fmt::Debug for MetricsServerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MetricsServerBuilder")
            .field("health", &self.health.is_some())
            .field("read_timeout", &self.read_timeout)
            .field("write_timeout", &self.write_timeout)
            .field("max_connections", &self.max_connections)
            .finish_non_exhaustive()
    }
}

impl MetricsServerBuilder {
    /// Also serve `/healthz` from `health`.
    pub fn health(mut self, health: HealthFn) -> Self {
        self.health = Some(health);
        self
    }

    /// The whole request head must arrive within this (default 5 s).
    pub fn read_timeout(mut self, d: Duration) -> Self {
        self.read_timeout = d;
        self
    }

    /// The whole response must be written within this (default 10 s).
    pub fn write_timeout(mut self, d: Duration) -> Self {
        self.write_timeout = d;
        self
    }

    /// Connections served at once (default 8); more are refused with `503`.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n;
        self
    }

    /// Checks the settings, binds `addr` and starts serving.
    pub fn bind(self, addr: impl ToSocketAddrs) -> Result<MetricsServer, Error> {
        let bad = |field, reason: &str| {
            Err(Error::new(ErrorKind::InvalidServerConfig { field, reason: reason.to_owned() }))
        };
        if self.read_timeout.is_zero() {
            return bad("read_timeout", "must be more than zero");
        }
        if self.write_timeout.is_zero() {
            return bad("write_timeout", "must be more than zero");
        }
        if self.max_connections == 0 {
            return bad("max_connections", "must be at least 1");
        }
        let listener = TcpListener::bind(addr).map_err(|e| Error::io("binding the /metrics listener", e))?;
        let addr = listener.local_addr().map_err(|e| Error::io("reading the listener's address", e))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(Stats::default());
        let (flag, counters) = (stop.clone(), stats.clone());
        let limits = Limits { read: self.read_timeout, write: self.write_timeout };
        let (registry, health, max) = (self.registry, self.health, self.max_connections);
        let thread = std::thread::Builder::new()
            .name("ao-health-metrics".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if flag.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    accept(stream, &registry, health.as_ref(), limits, max, &counters);
                }
            })
            .map_err(|e| Error::io("spawning the /metrics thread", e))?;
        Ok(MetricsServer { addr, stop, stats, thread: Some(thread) })
    }
}

impl MetricsServer {
    /// Binds `addr` and serves `registry` on `/metrics`, with the default limits.
    pub fn start(addr: impl ToSocketAddrs, registry: Registry) -> Result<Self, Error> {
        Self::builder(registry).bind(addr)
    }

    /// Also serves `/healthz` from `health`.
    pub fn start_with_health(
        addr: impl ToSocketAddrs,
        registry: Registry,
        health: Option<HealthFn>,
    ) -> Result<Self, Error> {
        let b = Self::builder(registry);
        match health {
            Some(h) => b.health(h).bind(addr),
            None => b.bind(addr),
        }
    }

    /// A server of `registry` to configure: deadlines, connection limit, `/healthz`.
    pub fn builder(registry: Registry) -> MetricsServerBuilder {
        MetricsServerBuilder {
            registry,
            health: None,
            read_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
            max_connections: 8,
        }
    }

    /// The address bound (useful after binding port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// What the server has done with its connections so far.
    pub fn stats(&self) -> ServerStats {
        let s = &self.stats;
        ServerStats {
            served: s.served.load(Ordering::SeqCst),
            timed_out: s.timed_out.load(Ordering::SeqCst),
            refused: s.refused.load(Ordering::SeqCst),
            dropped: s.dropped.load(Ordering::SeqCst),
        }
    }

    /// Stops accepting and waits for the accept thread; connections being
    /// served finish within their deadlines.
    pub fn shutdown(mut self) {
        self.stop_thread();
    }

    fn stop_thread(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(if wake.is_ipv4() {
                [127, 0, 0, 1].into()
            } else {
                std::net::Ipv6Addr::LOCALHOST.into()
            });
        }
        // Unblock accept(); if the connect fails the listener is already gone.
        let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

/// Gives back a connection slot when a connection's thread ends (or never starts).
struct Slot(Arc<Stats>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Hands a new connection to its own thread, or refuses it when `max` are being served.
fn accept(
    stream: TcpStream,
    registry: &Registry,
    health: Option<&HealthFn>,
    limits: Limits,
    max: usize,
    stats: &Arc<Stats>,
) {
    if stats.active.fetch_add(1, Ordering::SeqCst) >= max {
        stats.active.fetch_sub(1, Ordering::SeqCst);
        stats.refused.fetch_add(1, Ordering::SeqCst);
        // Never block the accept loop on a client: one non-blocking write, then close.
        let _ = stream.set_nonblocking(true);
        let _ = (&stream).write(&Response::text(503, "too many connections").to_bytes());
        return;
    }
    let slot = Slot(stats.clone());
    let (registry, health) = (registry.clone(), health.cloned());
    let spawned = std::thread::Builder::new().name("ao-health-scrape".into()).spawn(move || {
        let outcome = serve(stream, &registry, health.as_ref(), limits);
        let s = &slot.0;
        let counter = match outcome {
            Outcome::Served => &s.served,
            Outcome::TimedOut => &s.timed_out,
            Outcome::Dropped => &s.dropped,
        };
        counter.fetch_add(1, Ordering::SeqCst);
    });
    if spawned.is_err() {
        // The closure, its stream and its slot are dropped: the connection is closed.
        stats.refused.fetch_add(1, Ordering::SeqCst);
    }
}

enum Outcome {
    Served,
    TimedOut,
    Dropped,
}

fn timed_out(e: &std::io::Error) -> bool {
    matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)
}

/// Reads one request head by `limits.read` and writes its response by `limits.write`.
fn serve(mut stream: TcpStream, registry: &Registry, health: Option<&HealthFn>, limits: Limits) -> Outcome {
    let deadline = deadline_after(limits.read);
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    let (response, outcome) = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            break (Response::text(408, "request head not received in time"), Outcome::TimedOut);
        }
        // parse_request refuses a head longer than MAX_REQUEST_HEAD, so this never reaches zero.
        let room = (MAX_REQUEST_HEAD + 4).saturating_sub(buf.len()).clamp(1, chunk.len());
        match stream.read(&mut chunk[..room]) {
            Ok(0) => return Outcome::Dropped,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if timed_out(&e) => {
                break (Response::text(408, "request head not received in time"), Outcome::TimedOut);
            }
            Err(_) => return Outcome::Dropped,
        }
        match parse_request(&buf) {
            Ok(Some((req, _))) => break (respond(&req, registry, health), Outcome::Served),
            Ok(None) => {}
            Err(e) => break (Response::text(400, &e.to_string()), Outcome::Served),
        }
    };
    let bytes = response.to_bytes();
    let deadline = deadline_after(limits.write);
    let mut at = 0;
    while at < bytes.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_write_timeout(Some(left)).is_err() {
            return Outcome::TimedOut;
        }
        // Small writes, so the deadline is checked often against a slow reader.
        match stream.write(&bytes[at..bytes.len().min(at + 64 * 1024)]) {
            Ok(0) => return Outcome::Dropped,
            Ok(n) => at += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if timed_out(&e) => return Outcome::TimedOut,
            Err(_) => return Outcome::Dropped,
        }
    }
    let _ = stream.flush();
    if matches!(response.status, 400 | 408) {
        linger(&mut stream);
    }
    outcome
}

/// `d` from now; a `d` too long for the platform's clock is as good as a year.
fn deadline_after(d: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(d).unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600))
}

/// After an error answer to a request that may still be arriving: closes
/// our side and reads a little more, so the close does not reset the
/// connection (which can discard the answer before the client reads it).
/// At most 64 KiB and 200 ms.
fn linger(stream: &mut TcpStream) {
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let until = Instant::now() + Duration::from_millis(200);
    let mut sink = [0u8; 4096];
    let mut drained = 0;
    while drained < 64 * 1024 {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() || stream.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match stream.read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(n) => drained += n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Option<(Request, usize)>, Error> {
        parse_request(s.as_bytes())
    }

    #[test]
    fn parses_a_scrape() {
        let raw =
            "GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nACCEPT:  application/openmetrics-text \r\n\r\nrest";
        let (req, len) = parse(raw).unwrap().unwrap();
        assert_eq!(req.method, "GET");
        assert_eq!(req.path, "/metrics");
        assert_eq!(req.accept.as_deref(), Some("application/openmetrics-text"));
        assert_eq!(&raw[len..], "rest");
        assert_eq!(parse("GET /metrics HTTP/1.1\r\nHost: a\r\n").unwrap(), None);
    }

    #[test]
    fn bad_requests_name_the_offset() {
        for (raw, offset, why) in [
            ("GET\r\n\r\n", 0, "no space after the method"),
            ("G(T / HTTP/1.1\r\n\r\n", 0, "not a token"),
            ("GET metrics HTTP/1.1\r\n\r\n", 4, "does not start with '/'"),
            ("GET /a\u{7f} HTTP/1.1\r\n\r\n", 6, "outside visible ASCII"),
            ("GET / HTTP/2\r\n\r\n", 6, "not HTTP/1.0"),
            ("GET / HTTP/1.1\r\nbroken\r\n\r\n", 16, "no ':'"),
            ("GET / HTTP/1.1\r\nA b: c\r\n\r\n", 16, "not a token"),
        ] {
            match parse(raw).unwrap_err().kind() {
                ErrorKind::BadRequest { offset: o, reason } => {
                    assert_eq!(*o, offset, "{raw:?}");
                    assert!(reason.contains(why), "{raw:?}: {reason}");
                }
                other => panic!("{other:?}"),
            }
        }
        let huge = format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(MAX_REQUEST_HEAD));
        assert!(parse(&huge).is_err());
    }

    #[test]
    fn routes() {
        let r = Registry::new();
        r.counter("c", "A counter.").unwrap().inc();
        let req = |method: &str, path: &str, accept: Option<&str>| Request {
            method: method.into(),
            path: path.into(),
            accept: accept.map(Into::into),
        };
        let ok = respond(&req("GET", "/metrics", None), &r, None);
        assert_eq!((ok.status, ok.content_type), (200, Format::Prometheus.content_type()));
        assert!(String::from_utf8(ok.body).unwrap().contains("c_total 1\n"));
        let om = respond(&req("GET", "/metrics", Some("application/openmetrics-text")), &r, None);
        assert!(String::from_utf8(om.body).unwrap().ends_with("# EOF\n"));
        let head = respond(&req("HEAD", "/metrics", None), &r, None);
        assert!(head.body.is_empty());
        let wire = String::from_utf8(head.to_bytes()).unwrap();
        assert!(
            wire.contains(&format!(
                "Content-Length: {}\r\n",
                "# HELP c_total A counter.\n# TYPE c_total counter\nc_total 1\n".len()
            )),
            "{wire}"
        );
        assert_eq!(respond(&req("POST", "/metrics", None), &r, None).status, 405);
        assert_eq!(respond(&req("GET", "/", None), &r, None).status, 404);
        assert_eq!(respond(&req("GET", "/healthz", None), &r, None).status, 404);
        let sick: HealthFn = Arc::new(|| Status::Unhealthy);
        let h = respond(&req("GET", "/healthz", None), &r, Some(&sick));
        assert_eq!((h.status, h.body.as_slice()), (503, &b"unhealthy\n"[..]));
    }
}
