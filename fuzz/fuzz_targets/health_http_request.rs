//! Any bytes as an HTTP request head for ao-health's `/metrics` responder:
//! never panics; a parsed head is consistent and parses the same on its own;
//! the response to it is well formed.
//!
//! `check_request` is a copy of the one in `ao-health/tests/fuzz_regressions.rs`,
//! which replays `fuzz/regressions/health_http_request/`: keep the two in step.
#![no_main]

use ao_health::{ErrorKind, MAX_REQUEST_HEAD, Registry, parse_request, respond};
use libfuzzer_sys::fuzz_target;

fn check_request(bytes: &[u8]) {
    match parse_request(bytes) {
        Ok(None) => {
            assert!(bytes.len() <= MAX_REQUEST_HEAD + 3 && !bytes.windows(4).any(|w| w == b"\r\n\r\n"));
        }
        Ok(Some((req, len))) => {
            assert!(len <= bytes.len() && bytes[..len].ends_with(b"\r\n\r\n"));
            assert!(req.path.starts_with('/') && !req.path.contains('?'));
            assert!(!req.method.is_empty() && req.method.is_ascii());
            let again = parse_request(&bytes[..len]).expect("a parsed head parses alone").expect("complete");
            assert_eq!(again, (req.clone(), len));
            let r = respond(&req, &Registry::new(), None);
            let wire = r.to_bytes();
            assert!(wire.starts_with(b"HTTP/1.1 "));
            assert!([200, 404, 405].contains(&r.status));
        }
        Err(e) => match e.kind() {
            ErrorKind::BadRequest { offset, .. } => assert!(*offset <= bytes.len().max(MAX_REQUEST_HEAD)),
            other => panic!("unexpected error kind {other:?}"),
        },
    }
}

fuzz_target!(|data: &[u8]| check_request(data));
