//! Any string parsed as each AO id type: never panics; all types agree; what parses
//! prints back unchanged; what does not names the id kind.
//!
//! `check_id` is a copy of the one in `ao-transport/tests/fuzz_regressions.rs`,
//! which replays `fuzz/regressions/transport_ids/`: keep the two in step.
#![no_main]

use ao_transport::{Address, MessageId, ModuleId, ProcessId, ValidationError};
use libfuzzer_sys::fuzz_target;

fn check_id(s: &str) {
    fn one<T: std::fmt::Display>(s: &str, what: &str, parsed: Result<T, ValidationError>) -> bool {
        match parsed {
            Ok(id) => {
                assert_eq!(id.to_string(), s, "{what}");
                assert_eq!(s.len(), 43, "{what}");
                true
            }
            Err(e) => {
                assert_eq!(e.what(), what);
                assert!(e.to_string().starts_with(&format!("invalid {what}: ")), "{e}");
                false
            }
        }
    }
    let ok = one(s, "process id", ProcessId::new(s));
    assert_eq!(one(s, "message id", MessageId::new(s)), ok);
    assert_eq!(one(s, "module id", ModuleId::new(s)), ok);
    assert_eq!(one(s, "address", Address::new(s)), ok);
}

fuzz_target!(|s: &str| check_id(s));
