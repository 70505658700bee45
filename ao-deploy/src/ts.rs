//! Serde for [`Timestamp`](ao_health::Timestamp) as Unix milliseconds (journal records).

use ao_health::Timestamp;
use serde::{Deserialize, Deserializer, Serializer};

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's `serialize_with` signature
pub(crate) fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(t.as_millis())
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
    u64::deserialize(d).map(Timestamp::from_millis)
}

pub(crate) mod option {
    use super::{Deserialize, Deserializer, Serializer, Timestamp};

    #[allow(clippy::ref_option)]
    pub(crate) fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_some(&t.as_millis()),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
        Option::<u64>::deserialize(d).map(|o| o.map(Timestamp::from_millis))
    }
}
