//! The `/metrics` responder over a real socket on the loopback interface.
#![allow(clippy::float_cmp, clippy::many_single_char_names)] // exact values and short names read better here
#![cfg(feature = "http")]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ao_health::{EcsMetrics, ErrorKind, HealthFn, MetricsServer, Registry, ServerStats, Status};

fn get(server: &MetricsServer, request: &str) -> String {
    let mut s = TcpStream::connect(server.local_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn a_host_exposes_metrics_in_three_lines() {
    let registry = Registry::new();
    let ecs = EcsMetrics::register(&registry).unwrap();
    let server = MetricsServer::start("127.0.0.1:0", registry.clone()).unwrap();

    ecs.process("arena-1").action("Move").messages.inc_by(5);
    let prom = get(&server, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(
        prom.starts_with("HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
        "{prom}"
    );
    assert!(prom.contains("\r\n\r\n# HELP ao_ecs_entities "), "{prom}");
    assert!(prom.contains("ao_messages_total{process=\"arena-1\",action=\"Move\"} 5\n"));
    let body_len = prom.split_once("\r\n\r\n").unwrap().1.len();
    assert!(prom.contains(&format!("Content-Length: {body_len}\r\n")));

    let om =
        get(&server, "GET /metrics HTTP/1.1\r\nAccept: application/openmetrics-text;version=1.0.0\r\n\r\n");
    assert!(om.contains("Content-Type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\n"));
    assert!(om.ends_with("# EOF\n"));

    // A request split across writes, and a bad one.
    let mut s = TcpStream::connect(server.local_addr()).unwrap();
    s.write_all(b"GET /metr").unwrap();
    s.flush().unwrap();
    s.write_all(b"ics HTTP/1.0\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
    let bad = get(&server, "BREW /pot HTCPCP/1.0\r\n\r\n");
    assert!(bad.starts_with("HTTP/1.1 400 Bad Request"), "{bad}");
    assert!(bad.ends_with("bad http request at byte 10: the version is not HTTP/1.0 or HTTP/1.1\n"), "{bad}");
    assert!(get(&server, "GET /nope HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 404"));
    server.shutdown();
}

#[test]
fn healthz_follows_the_health_source_and_shutdown_frees_the_port() {
    let status = Arc::new(std::sync::Mutex::new(Status::Healthy));
    let s2 = status.clone();
    let health: HealthFn = Arc::new(move || *s2.lock().unwrap());
    let server = MetricsServer::start_with_health("127.0.0.1:0", Registry::new(), Some(health)).unwrap();
    let addr = server.local_addr();
    assert!(get(&server, "GET /healthz HTTP/1.1\r\n\r\n").ends_with("\r\n\r\nhealthy\n"));
    *status.lock().unwrap() = Status::Unhealthy;
    assert!(get(&server, "GET /healthz HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 503 Service Unavailable"));
    drop(server);
    // The listener is closed: the port can be bound again.
    let again = MetricsServer::start(addr, Registry::new()).unwrap();
    assert_eq!(again.local_addr(), addr);
}

/// Reads until the server closes, or fails the test when `within` passes first.
fn read_all(s: &mut TcpStream, within: Duration) -> Vec<u8> {
    s.set_read_timeout(Some(within)).unwrap();
    let mut out = Vec::new();
    match s.read_to_end(&mut out) {
        Ok(_) => out,
        // A reset after the server gave up on a client that never read is a close too.
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => out,
        Err(e) => panic!("no close within {within:?}: {e} after {} bytes", out.len()),
    }
}

/// Waits (bounded) for the server's own account of what it did.
fn wait_for(server: &MetricsServer, what: impl Fn(ServerStats) -> bool) -> ServerStats {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let s = server.stats();
        if what(s) {
            return s;
        }
        assert!(Instant::now() < until, "not reached: {s:?}");
        std::thread::yield_now();
    }
}

/// A client that connects and sends nothing does not hold up a scrape: the
/// server's read deadline is long (60 s), the scraper gives up after 5 s, so
/// only serving connections side by side lets the scrape through.
#[test]
fn an_idle_connection_does_not_block_a_scrape() {
    let registry = Registry::new();
    registry.counter("c", "A counter.").unwrap().inc();
    let server =
        MetricsServer::builder(registry).read_timeout(Duration::from_secs(60)).bind("127.0.0.1:0").unwrap();
    let _idle = TcpStream::connect(server.local_addr()).unwrap();
    let _half = {
        let mut s = TcpStream::connect(server.local_addr()).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\n").unwrap();
        s
    };
    for _ in 0..3 {
        let mut s = TcpStream::connect(server.local_addr()).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").unwrap();
        let out = String::from_utf8(read_all(&mut s, Duration::from_secs(5))).unwrap();
        assert!(out.starts_with("HTTP/1.1 200 OK") && out.ends_with("c_total 1\n"), "{out}");
    }
    // Counted after the last byte is written: wait for the count, not a time.
    assert_eq!(wait_for(&server, |s| s.served == 3).timed_out, 0);
}

/// The read deadline is for the whole head: an idle client, and one that
/// trickles a header a byte at a time (each gap far below the deadline),
/// both get `408` once it passes, and not before.
#[test]
fn the_read_deadline_covers_the_whole_head() {
    let deadline = Duration::from_millis(300);
    let server = MetricsServer::builder(Registry::new()).read_timeout(deadline).bind("127.0.0.1:0").unwrap();

    let start = Instant::now();
    let mut idle = TcpStream::connect(server.local_addr()).unwrap();
    let out = String::from_utf8(read_all(&mut idle, Duration::from_secs(10))).unwrap();
    assert!(out.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{out}");
    assert!(start.elapsed() >= deadline, "closed before its deadline: {:?}", start.elapsed());

    let mut slow = TcpStream::connect(server.local_addr()).unwrap();
    let mut writer = slow.try_clone().unwrap();
    let start = Instant::now();
    // Up to 10 s of trickling (a header that never ends), unless the server closes first.
    let trickle = std::thread::spawn(move || {
        let _ = writer.write_all(b"GET /metrics HTTP/1.1\r\nX-Slow: ");
        for _ in 0..500 {
            if writer.write_all(b"a").is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    let out = String::from_utf8(read_all(&mut slow, Duration::from_secs(10))).unwrap();
    let took = start.elapsed();
    assert!(out.starts_with("HTTP/1.1 408 Request Timeout\r\n"), "{out}");
    assert!(took >= deadline && took < Duration::from_secs(10), "{took:?}");
    drop(slow);
    trickle.join().unwrap();
    assert_eq!(wait_for(&server, |s| s.timed_out == 2).served, 0);
}

/// A head larger than `MAX_REQUEST_HEAD` is refused with `400`, not buffered.
#[test]
fn the_request_head_is_bounded() {
    let server = MetricsServer::start("127.0.0.1:0", Registry::new()).unwrap();
    let mut s = TcpStream::connect(server.local_addr()).unwrap();
    let mut writer = s.try_clone().unwrap();
    // Written from a thread: the server stops reading at the bound and closes.
    let big = std::thread::spawn(move || {
        let header = format!("GET /metrics HTTP/1.1\r\nX: {}", "a".repeat(ao_health::MAX_REQUEST_HEAD * 4));
        let _ = writer.write_all(header.as_bytes());
    });
    // A clean close, not a reset: the server reads on a little after its
    // answer, so the unread rest of the head does not make it reset the connection.
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).expect("closed cleanly");
    let out = String::from_utf8(out).unwrap();
    assert!(out.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{out}");
    assert!(out.contains("larger than 8 KiB"), "{out}");
    big.join().unwrap();
}

/// A client that asks for a large exposition and never reads it: the write
/// deadline ends it, and scrapes go on meanwhile.
#[test]
fn a_client_that_never_reads_is_cut_off_by_the_write_deadline() {
    let registry = Registry::new();
    let big = registry.gauge_family("big", "Big.", &["k"]).unwrap();
    // About 16 MB: more than the loopback socket buffers hold.
    let pad = "x".repeat(4000);
    for i in 0..4000 {
        big.with(&[&format!("{i}{pad}")]).set(1.0);
    }
    let server = MetricsServer::builder(registry)
        .write_timeout(Duration::from_millis(500))
        .bind("127.0.0.1:0")
        .unwrap();
    let mut stalled = TcpStream::connect(server.local_addr()).unwrap();
    stalled.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").unwrap();

    let mut s = TcpStream::connect(server.local_addr()).unwrap();
    s.write_all(b"HEAD /metrics HTTP/1.1\r\n\r\n").unwrap();
    let out = String::from_utf8(read_all(&mut s, Duration::from_secs(10))).unwrap();
    assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
    let length: usize =
        out.lines().find_map(|l| l.strip_prefix("Content-Length: ")).unwrap().parse().unwrap();
    assert!(length > 16_000_000, "{length}");

    let stats = wait_for(&server, |s| s.timed_out == 1);
    assert_eq!(stats.served, 1, "{stats:?}");
    let got = read_all(&mut stalled, Duration::from_secs(10));
    assert!(got.len() < length, "the stalled client got all {length} bytes");
}

/// Past `max_connections`, a connection gets `503` at once instead of a slot.
#[test]
fn connections_past_the_limit_are_refused_at_once() {
    let server = MetricsServer::builder(Registry::new())
        .max_connections(1)
        .read_timeout(Duration::from_secs(60))
        .bind("127.0.0.1:0")
        .unwrap();
    let _idle = TcpStream::connect(server.local_addr()).unwrap();
    let mut extra = TcpStream::connect(server.local_addr()).unwrap();
    let out = String::from_utf8(read_all(&mut extra, Duration::from_secs(5))).unwrap();
    assert!(out.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{out}");
    assert_eq!(server.stats().refused, 1, "counted before the refusal is written");
}

/// Deadlines too long for the platform's clock are accepted and do not panic a connection.
#[test]
fn endless_deadlines_are_fine() {
    let server = MetricsServer::builder(Registry::new())
        .read_timeout(Duration::MAX)
        .write_timeout(Duration::MAX)
        .bind("127.0.0.1:0")
        .unwrap();
    assert!(get(&server, "GET /metrics HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 200 OK"));
    assert_eq!(wait_for(&server, |s| s.served == 1).dropped, 0);
}

#[test]
fn bad_server_settings_are_typed_errors() {
    for (builder, want) in [
        (MetricsServer::builder(Registry::new()).read_timeout(Duration::ZERO), "read_timeout"),
        (MetricsServer::builder(Registry::new()).write_timeout(Duration::ZERO), "write_timeout"),
        (MetricsServer::builder(Registry::new()).max_connections(0), "max_connections"),
    ] {
        match builder.bind("127.0.0.1:0").unwrap_err().kind() {
            ErrorKind::InvalidServerConfig { field, .. } => assert_eq!(*field, want),
            other => panic!("{other:?}"),
        }
    }
}
