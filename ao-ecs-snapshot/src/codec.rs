//! bincode 2 (serde) with the one configuration every snapshot uses, and decoding whose
//! allocations are bounded by the input: a length field can claim at most 16× the bytes
//! being decoded, so a hostile `String` length cannot make the decoder allocate gigabytes.

use serde::Serialize;
use serde::de::DeserializeOwned;

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

/// Encodes a value into a new vector.
pub(crate) fn encode_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, bincode::error::EncodeError> {
    bincode::serde::encode_to_vec(value, config())
}

/// A bincode reader over a column's data that knows where it is and stops at the end of
/// the value being decoded, so one decoder reads many values with the same checks as
/// decoding each value from its own slice.
struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
    end: usize,
}

impl bincode::de::read::Reader for Cursor<'_> {
    #[inline]
    fn read(&mut self, out: &mut [u8]) -> Result<(), bincode::error::DecodeError> {
        let to = self.pos + out.len();
        if to > self.end {
            return Err(bincode::error::DecodeError::UnexpectedEnd { additional: to - self.end });
        }
        out.copy_from_slice(&self.data[self.pos..to]);
        self.pos = to;
        Ok(())
    }

    /// Peeks as far as the column's data goes, so integers decode on bincode's fast path;
    /// a value that reads past its end is refused after decoding (`run_values`).
    #[inline]
    fn peek_read(&mut self, n: usize) -> Option<&[u8]> {
        self.data.get(self.pos..self.pos.checked_add(n)?)
    }

    #[inline]
    fn consume(&mut self, n: usize) {
        self.pos += n;
    }
}

fn run_values<C: bincode::config::Config, T: DeserializeOwned, F: FnMut(T)>(
    config: C,
    data: &[u8],
    start: usize,
    ends: &[usize],
    push: &mut F,
) -> Result<(), (usize, String)> {
    use bincode::de::{Decode, Decoder};
    let mut dec = bincode::de::DecoderImpl::new(Cursor { data, pos: start, end: start }, config, ());
    for (i, &end) in ends.iter().enumerate() {
        dec.reader().end = end;
        let bincode::serde::Compat(v) =
            bincode::serde::Compat::<T>::decode(&mut dec).map_err(|e| (i, e.to_string()))?;
        let pos = dec.reader().pos;
        if pos > end {
            return Err((i, format!("the value runs {} bytes past its end", pos - end)));
        }
        if pos != end {
            return Err((i, format!("{} bytes left over after the value", end - pos)));
        }
        push(v);
    }
    Ok(())
}

/// Decodes values stored back to back in `data` from `start`, value `i` ending at `ends[i]`,
/// each with the checks of [`decode_value`](crate::decode_value) (no trailing bytes, no
/// reading past its end). Length fields may claim at most 16× the bytes of the run in all.
/// On failure returns the failing value's index in `ends` and the message.
pub(crate) fn decode_values<T: DeserializeOwned, F: FnMut(T)>(
    data: &[u8],
    start: usize,
    ends: &[usize],
    push: &mut F,
) -> Result<(), (usize, String)> {
    let len = ends.last().map_or(0, |&e| e.saturating_sub(start));
    macro_rules! dispatch {
        ([$($shift:literal),*]) => {{
            $(
                if len <= (1usize << ($shift - 4)) {
                    return run_values(config().with_limit::<{ 1usize << $shift }>(), data, start, ends, push);
                }
            )*
            run_values(config().with_limit::<{ usize::MAX }>(), data, start, ends, push)
        }};
    }
    dispatch!([12, 16, 20, 24, 28, 32, 36, 40])
}

/// A bincode writer appending to a vector (no `io::Write` in between).
struct VecWriter<'a>(&'a mut Vec<u8>);

impl bincode::enc::write::Writer for VecWriter<'_> {
    #[inline]
    fn write(&mut self, bytes: &[u8]) -> Result<(), bincode::error::EncodeError> {
        self.0.extend_from_slice(bytes);
        Ok(())
    }
}

/// Appends the encoding of `value` to `out`.
#[inline]
pub(crate) fn encode_into<T: Serialize + ?Sized>(
    value: &T,
    out: &mut Vec<u8>,
) -> Result<(), bincode::error::EncodeError> {
    bincode::serde::encode_into_writer(value, VecWriter(out), config())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(values: &[&str]) -> (Vec<u8>, Vec<usize>) {
        let mut data = Vec::new();
        let mut ends = Vec::new();
        for v in values {
            encode_into(*v, &mut data).unwrap();
            ends.push(data.len());
        }
        (data, ends)
    }

    fn run(data: &[u8], start: usize, ends: &[usize]) -> Result<Vec<String>, (usize, String)> {
        let mut out = Vec::new();
        decode_values::<String, _>(data, start, ends, &mut |v| out.push(v))?;
        Ok(out)
    }

    #[test]
    fn values_decode_back_to_back_from_any_start() {
        let (data, ends) = encoded(&["a", "", "a longer name", "z"]);
        assert_eq!(run(&data, 0, &ends).unwrap(), ["a", "", "a longer name", "z"]);
        assert_eq!(run(&data, ends[1], &ends[2..]).unwrap(), ["a longer name", "z"]);
    }

    #[test]
    fn a_value_shorter_or_longer_than_its_length_is_refused_at_its_row() {
        let (data, ends) = encoded(&["abc", "defg", "h"]);
        // Row 1 claims one byte more than its encoding: bytes left over.
        let mut long = ends.clone();
        long[1] += 1;
        let (row, message) = run(&data, 0, &long).unwrap_err();
        assert_eq!(row, 1);
        assert!(message.contains("left over"), "{message}");
        // Row 0 claims one byte less: its string reads past its end.
        let mut short = ends.clone();
        short[0] -= 1;
        assert_eq!(run(&data, 0, &short).unwrap_err().0, 0);
        // A length field larger than the data: an error, not a huge allocation.
        let mut hostile = Vec::new();
        encode_into(&u64::MAX, &mut hostile).unwrap();
        assert!(run(&hostile, 0, &[hostile.len()]).is_err());
    }
}
