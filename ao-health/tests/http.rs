//! The `/metrics` responder over a real socket on the loopback interface.
#![allow(clippy::float_cmp, clippy::many_single_char_names)] // exact values and short names read better here
#![cfg(feature = "http")]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use ao_health::{EcsMetrics, HealthFn, MetricsServer, Registry, Status};

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
