//! Any bytes as `Message` JSON: never panics; what decodes obeys the ANS-104 limits
//! and re-serializes and re-parses equal.
//!
//! `check_message_json` is a copy of the one in `ao-transport/tests/fuzz_regressions.rs`,
//! which replays `fuzz/regressions/transport_message_json/`: keep the two in step.
#![no_main]

use ao_transport::{MAX_ANCHOR_BYTES, MAX_TAGS, Message, validate_tags};
use libfuzzer_sys::fuzz_target;

fn check_message_json(data: &[u8]) {
    if let Ok(msg) = serde_json::from_slice::<Message>(data) {
        assert!(msg.tags().len() <= MAX_TAGS, "{} tags", msg.tags().len());
        assert!(validate_tags(msg.tags()).is_ok());
        assert!(msg.anchor().is_none_or(|a| a.len() <= MAX_ANCHOR_BYTES), "{:?}", msg.anchor());
        let again = serde_json::to_vec(&msg).expect("a valid message serializes");
        assert_eq!(serde_json::from_slice::<Message>(&again).expect("and parses back"), msg);
    }
}

fuzz_target!(|data: &[u8]| check_message_json(data));
