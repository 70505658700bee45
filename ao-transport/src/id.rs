//! 43-character base64url identifiers (Arweave transaction ids and addresses).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{ValidationError, ValidationErrorKind};

/// Length in characters of every AO identifier: 32 bytes in unpadded base64url.
pub const ID_LEN: usize = 43;

fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// Checks that `s` is a 43-character base64url id that decodes to exactly 32 bytes.
fn validate(what: &'static str, s: &str) -> Result<(), ValidationError> {
    // Characters first: a non-ASCII character makes byte and character counts
    // differ, and "found 43 characters" would be a confusing length error.
    if let Some((index, ch)) = s.char_indices().find(|&(_, c)| !c.is_ascii() || !is_base64url(c as u8)) {
        return Err(ValidationError::new(what, ValidationErrorKind::IdCharacter { ch, index }));
    }
    let bytes = s.as_bytes();
    if bytes.len() != ID_LEN {
        return Err(ValidationError::new(what, ValidationErrorKind::IdLength { found: bytes.len() }));
    }
    // 43 chars carry 258 bits; the last char may only use its top 4 bits for a
    // canonical 32-byte value, so its 2 low bits must be zero.
    let last = bytes[ID_LEN - 1];
    let sextet = crate::b64::URL_ALPHABET.iter().position(|&a| a == last).unwrap_or(0);
    if sextet & 0b11 != 0 {
        return Err(ValidationError::new(
            what,
            ValidationErrorKind::IdCharacter { ch: last as char, index: ID_LEN - 1 },
        ));
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// Parses and validates an id: 43 base64url characters encoding 32 bytes.
            pub fn new(s: impl Into<String>) -> Result<Self, ValidationError> {
                let s = s.into();
                validate($what, &s)?;
                Ok(Self(s))
            }

            /// The id of 32 raw bytes (for example a hash), base64url-encoded.
            pub fn from_bytes(bytes: [u8; 32]) -> Self {
                Self(crate::b64::encode_url(&bytes))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = ValidationError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::new(s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = ValidationError;
            fn try_from(s: &str) -> Result<Self, Self::Error> {
                Self::new(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::new(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(
    /// The id of an AO process (the id of the message that spawned it).
    ProcessId,
    "process id"
);
id_type!(
    /// The id of a message, assigned when it is sent.
    MessageId,
    "message id"
);
id_type!(
    /// The id of a module: the WASM (or, on ao-local, Lua runtime) a process runs.
    ModuleId,
    "module id"
);
id_type!(
    /// A wallet or scheduler address.
    Address,
    "address"
);

macro_rules! id_conversions {
    ($($a:ident <-> $b:ident),*) => {$(
        impl From<$a> for $b {
            fn from(id: $a) -> $b {
                $b(id.0)
            }
        }
    )*};
}
// A process id is the id of its spawn message, and a process is also an address
// (it is the `From` of the messages it sends).
id_conversions!(ProcessId <-> MessageId, MessageId <-> ProcessId, ProcessId <-> Address);

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "ZTmNDGBvFmmJiMh1yYJyHGUXB6jl2aRgRqzEcxQvZhQ";

    #[test]
    fn accepts_a_real_process_id() {
        let id = ProcessId::new(GOOD).unwrap();
        assert_eq!(id.as_str(), GOOD);
        assert_eq!(id.to_string(), GOOD);
    }

    #[test]
    fn names_length_and_character_errors() {
        let err = ProcessId::new("short").unwrap_err();
        assert_eq!(err.to_string(), "invalid process id: expected 43 characters, found 5");
        let err = ProcessId::new(format!("{}é", &GOOD[..42])).unwrap_err();
        assert_eq!(err.to_string(), "invalid process id: character 'é' at index 42 is not base64url");
        let bad = format!("{}+", &GOOD[..42]);
        let err = MessageId::new(bad).unwrap_err();
        assert_eq!(err.to_string(), "invalid message id: character '+' at index 42 is not base64url");
    }

    #[test]
    fn rejects_non_canonical_last_character() {
        // 'B' has low bits 01, so 43 chars would carry stray bits past 32 bytes.
        let bad = format!("{}B", &GOOD[..42]);
        assert!(ProcessId::new(bad).is_err());
    }

    #[test]
    fn encodes_bytes_to_valid_ids() {
        let id = MessageId::from_bytes([0xff; 32]);
        assert_eq!(id.as_str().len(), ID_LEN);
        assert!(MessageId::new(id.as_str()).is_ok());
        assert_eq!(MessageId::from_bytes([0; 32]).as_str(), "A".repeat(43));
    }

    #[test]
    fn serde_round_trip_validates() {
        let id = ProcessId::new(GOOD).unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<ProcessId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<ProcessId>("\"nope\"").is_err());
    }
}
