//! Any bytes as an ao-deploy journal: never panics; a torn tail lies inside the
//! file after the good records; what decodes encodes again to a journal that
//! decodes to the same records.
#![no_main]

use ao_deploy::{MAGIC, decode_journal, encode_record};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = std::path::Path::new("fuzz.journal");
    let Ok(c) = decode_journal(path, data) else { return };
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
});
