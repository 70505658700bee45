//! Any bytes as `Message` JSON: never panics; what decodes satisfies ANS-104 and round-trips.
#![no_main]

use ao_transport::{MAX_TAGS, Message, validate_tags};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = serde_json::from_slice::<Message>(data) {
        assert!(msg.tags().len() <= MAX_TAGS);
        assert!(validate_tags(msg.tags()).is_ok());
        let again = serde_json::to_vec(&msg).expect("a valid message serializes");
        assert_eq!(serde_json::from_slice::<Message>(&again).expect("and parses back"), msg);
    }
});
