//! Any bytes as `ao-deploy.toml`: never panics; a loaded config keeps its
//! invariants (chunks of at least 16 bytes, probes at a positive interval,
//! weights up to 100, analyses with checks).
#![no_main]

use ao_deploy::{CanaryStep, DeployConfig};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(c) = DeployConfig::from_toml(text, "fuzz.toml") else { return };
    for p in c.processes.values() {
        assert!(p.chunk_bytes >= 16 && p.health.interval_ms > 0 && p.max_unavailable >= 1);
        for s in &p.canary_steps {
            match s {
                CanaryStep::SetWeight(w) => assert!(*w <= 100),
                CanaryStep::Analysis(a) => assert!(a.count > 0 && a.interval_ms > 0 && !a.checks.is_empty()),
                CanaryStep::Pause(_) => {}
            }
        }
    }
});
