//! Replays `fuzz/regressions/deploy_*/*` through the fuzz targets' checks (the
//! fuzz crate keeps a copy of each: change both together).

use std::path::Path;

use ao_deploy::{CanaryStep, DeployConfig, ErrorKind, MAGIC, decode, decode_journal, encode, encode_record};

fn replay(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions").join(target);
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap())
        })
        .collect();
    files.sort();
    files
}

/// The `deploy_journal` target's check; the decoded contents, if any.
fn check_journal(data: &[u8]) -> Result<ao_deploy::Contents, ao_deploy::Error> {
    let path = Path::new("fuzz.journal");
    let c = decode_journal(path, data)?;
    assert!(c.valid_len as usize <= data.len());
    if let Some(t) = &c.torn {
        assert_eq!(t.offset, c.valid_len);
        assert_eq!(t.offset + t.bytes, data.len() as u64);
    } else {
        assert_eq!(c.valid_len as usize, data.len());
    }
    let mut again = MAGIC.to_vec();
    for r in &c.records {
        again.extend(encode_record(r));
    }
    if !c.records.is_empty() {
        assert_eq!(decode_journal(path, &again).unwrap().records, c.records);
    }
    Ok(c)
}

#[test]
fn deploy_journal_regressions() {
    for (name, bytes) in replay("deploy_journal") {
        let got = check_journal(&bytes);
        match name.as_str() {
            "three_records" => assert_eq!(got.unwrap().records.len(), 3),
            "torn_tail" => {
                let c = got.unwrap();
                assert_eq!((c.records.len(), c.torn.unwrap().reason.as_str()), (2, "record cut short"));
            }
            "corrupt_middle" => assert!(matches!(
                got.unwrap_err().kind(),
                ErrorKind::JournalCorrupt { record: 0, offset: 8, .. }
            )),
            "huge_length" => assert!(got.unwrap_err().to_string().contains("over the 67108864-byte limit")),
            other => {
                // A crash input found by fuzzing: it must only not panic.
                let _ = (other, got);
            }
        }
    }
}

#[test]
fn deploy_state_regressions() {
    for (name, bytes) in replay("deploy_state") {
        let got = decode(&bytes);
        if let Ok(v) = &got {
            assert_eq!(encode(v), bytes, "{name}");
        }
        match name.as_str() {
            "arena_like" => assert!(got.is_ok()),
            "out_of_order" => assert!(got.unwrap_err().to_string().contains("canonical order")),
            "deep" => assert!(got.unwrap_err().to_string().contains("nested deeper than 100")),
            _ => {}
        }
    }
}

#[test]
fn deploy_config_regressions() {
    for (name, bytes) in replay("deploy_config") {
        let Ok(text) = std::str::from_utf8(&bytes) else { continue };
        let Ok(c) = DeployConfig::from_toml(text, "fuzz.toml") else {
            assert_ne!(name, "arena.toml", "the arena's config loads");
            continue;
        };
        for p in c.processes.values() {
            assert!(p.chunk_bytes >= 16 && p.health.interval_ms > 0 && p.max_unavailable >= 1);
            for s in &p.canary_steps {
                match s {
                    CanaryStep::SetWeight(w) => assert!(*w <= 100),
                    CanaryStep::Analysis(a) => {
                        assert!(a.count > 0 && a.interval_ms > 0 && !a.checks.is_empty());
                    }
                    CanaryStep::Pause(_) => {}
                }
            }
        }
    }
}
