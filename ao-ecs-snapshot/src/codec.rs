//! bincode 2 (serde) with the one configuration every snapshot uses, and decoding whose
//! allocations are bounded by the input: a length field can claim at most 16× the bytes
//! being decoded, so a hostile `String` length cannot make the decoder allocate gigabytes.

use serde::Serialize;
use serde::de::{Deserialize, DeserializeOwned};

/// The encoding configuration: standard (little endian, varint integers), no limit.
pub(crate) fn config() -> bincode::config::Configuration {
    bincode::config::standard()
}

macro_rules! limited {
    ($len:expr, $call:ident, $bytes:expr, [$($shift:literal),*]) => {{
        let len = $len;
        $(
            if len <= (1usize << ($shift - 4)) {
                return bincode::serde::$call($bytes, config().with_limit::<{ 1usize << $shift }>());
            }
        )*
        bincode::serde::$call($bytes, config().with_limit::<{ usize::MAX }>())
    }};
}

/// Decodes an owned value from `bytes`; returns it and the bytes used.
pub(crate) fn decode_owned<T: DeserializeOwned>(
    bytes: &[u8],
) -> Result<(T, usize), bincode::error::DecodeError> {
    limited!(bytes.len(), decode_from_slice, bytes, [12, 16, 20, 24, 28, 32, 36, 40])
}

/// Decodes a value that may borrow from `bytes`; returns it and the bytes used.
pub(crate) fn decode_borrowed<'a, T: Deserialize<'a>>(
    bytes: &'a [u8],
) -> Result<(T, usize), bincode::error::DecodeError> {
    limited!(bytes.len(), borrow_decode_from_slice, bytes, [12, 16, 20, 24, 28, 32, 36, 40])
}

/// Encodes a value into a new vector.
pub(crate) fn encode_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, bincode::error::EncodeError> {
    bincode::serde::encode_to_vec(value, config())
}
