//! Any bytes as a process's Info reply or an ao-env state file: never panics;
//! what parses is well formed and a state file round-trips.
#![no_main]

use ao_env::{Observed, State};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(o) = Observed::from_info_json(text) {
        assert!(o.code_hash.iter().chain(o.evals.iter().map(|e| &e.hash)).all(|h| h.len() == 64));
    }
    if let Ok(s) = State::from_json(text, "fuzz.json".as_ref()) {
        assert_eq!(State::from_json(&s.to_json(), "fuzz.json".as_ref()).unwrap(), s);
    }
});
