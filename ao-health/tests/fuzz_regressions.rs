//! Replays every input under `fuzz/regressions/health_*` through the same
//! checks as the fuzz targets, so a crash found once stays fixed.
#![allow(clippy::float_cmp, clippy::many_single_char_names)] // exact values and short names read better here
#![cfg(feature = "http")]

use std::path::{Path, PathBuf};

use ao_health::{ErrorKind, MAX_REQUEST_HEAD, Registry, parse_request, respond};

fn cases(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions").join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else { return Vec::new() };
    let mut paths: Vec<_> =
        entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect();
    paths.sort();
    paths
}

/// The check of the `health_http_request` fuzz target.
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

#[test]
fn health_http_request_regressions() {
    let mut outcomes = Vec::new();
    for path in cases("health_http_request") {
        let bytes = std::fs::read(&path).unwrap();
        check_request(&bytes);
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        outcomes.push((
            name,
            parse_request(&bytes).map(|r| r.map(|(req, _)| req.path)).map_err(|e| e.to_string()),
        ));
    }
    assert!(outcomes.len() >= 6, "the seed corpus under fuzz/regressions/health_http_request is replayed");
    let find = |n: &str| outcomes.iter().find(|(name, _)| name == n).map(|(_, o)| o.clone()).unwrap();
    assert_eq!(find("scrape"), Ok(Some("/metrics".into())));
    assert_eq!(find("head_with_query"), Ok(Some("/healthz".into())));
    assert_eq!(find("incomplete"), Ok(None));
    assert_eq!(find("non_utf8_header"), Ok(Some("/".into())));
    assert!(find("double_space").unwrap_err().contains("byte 4"), "{:?}", find("double_space"));
}
