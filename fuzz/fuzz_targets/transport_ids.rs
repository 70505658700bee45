//! Any string parsed as an AO id: never panics; what parses prints back unchanged.
#![no_main]

use ao_transport::{Address, MessageId, ProcessId};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|s: &str| {
    if let Ok(id) = ProcessId::new(s) {
        assert_eq!(id.to_string(), s);
        assert_eq!(id.as_str().len(), 43);
        assert_eq!(MessageId::new(s).map(|m| m.to_string()).as_deref(), Ok(s));
        assert!(Address::new(s).is_ok());
    }
});
