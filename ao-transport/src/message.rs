//! Messages, tags, spawn requests and evaluation results.

use serde::{Deserialize, Serialize};

use crate::error::{ValidationError, ValidationErrorKind};
use crate::id::{ModuleId, ProcessId};

/// ANS-104: at most this many tags on a data item.
pub const MAX_TAGS: usize = 128;
/// ANS-104: a tag name is at most this many bytes.
pub const MAX_TAG_NAME_BYTES: usize = 1024;
/// ANS-104: a tag value is at most this many bytes.
pub const MAX_TAG_VALUE_BYTES: usize = 3072;
/// ANS-104: an anchor is at most this many bytes.
pub const MAX_ANCHOR_BYTES: usize = 32;

/// A name/value pair attached to a message; AO routes on tags such as `Action`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawTag", into = "RawTag")]
pub struct Tag {
    name: String,
    value: String,
}

#[derive(Serialize, Deserialize)]
struct RawTag {
    name: String,
    value: String,
}

impl TryFrom<RawTag> for Tag {
    type Error = ValidationError;
    fn try_from(raw: RawTag) -> Result<Self, ValidationError> {
        Tag::new(raw.name, raw.value)
    }
}

impl From<Tag> for RawTag {
    fn from(tag: Tag) -> RawTag {
        RawTag { name: tag.name, value: tag.value }
    }
}

impl Tag {
    /// A validated tag: a non-empty name of at most 1024 bytes, a value of at most 3072 bytes.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Result<Self, ValidationError> {
        let (name, value) = (name.into(), value.into());
        check_tag(0, &name, &value)?;
        Ok(Self { name, value })
    }

    /// The tag's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tag's value.
    pub fn value(&self) -> &str {
        &self.value
    }
}

fn check_tag(index: usize, name: &str, value: &str) -> Result<(), ValidationError> {
    let kind = if name.is_empty() {
        ValidationErrorKind::EmptyTagName { index }
    } else if name.len() > MAX_TAG_NAME_BYTES {
        ValidationErrorKind::TagNameTooLong { index, len: name.len(), limit: MAX_TAG_NAME_BYTES }
    } else if value.len() > MAX_TAG_VALUE_BYTES {
        ValidationErrorKind::TagValueTooLong {
            index,
            name: name.to_owned(),
            len: value.len(),
            limit: MAX_TAG_VALUE_BYTES,
        }
    } else {
        return Ok(());
    };
    Err(ValidationError::new("tag", kind))
}

/// Validates a whole tag list against the ANS-104 limits, naming the first offending tag.
pub fn validate_tags(tags: &[Tag]) -> Result<(), ValidationError> {
    if tags.len() > MAX_TAGS {
        return Err(ValidationError::new(
            "tags",
            ValidationErrorKind::TooManyTags { count: tags.len(), limit: MAX_TAGS },
        ));
    }
    // Each Tag was validated alone; re-check to report the index within this list.
    for (index, tag) in tags.iter().enumerate() {
        check_tag(index, &tag.name, &tag.value)?;
    }
    Ok(())
}

/// The value of the last tag called `name` (later tags win, as in aos's `msg.Tags` map).
pub fn tag_value<'a>(tags: &'a [Tag], name: &str) -> Option<&'a str> {
    tags.iter().rev().find(|t| t.name == name).map(Tag::value)
}

fn check_anchor(anchor: Option<&str>) -> Result<(), ValidationError> {
    match anchor {
        Some(a) if a.len() > MAX_ANCHOR_BYTES => {
            Err(ValidationError::new("anchor", ValidationErrorKind::AnchorTooLong { len: a.len() }))
        }
        _ => Ok(()),
    }
}

/// A message to a process, as a client signs and sends it.
///
/// Built with [`Message::builder`]; `build` checks the ANS-104 limits.
///
/// ```
/// use ao_transport::{Message, ProcessId};
/// let pid: ProcessId = "ZTmNDGBvFmmJiMh1yYJyHGUXB6jl2aRgRqzEcxQvZhQ".parse()?;
/// let msg = Message::builder(pid).tag("Action", "Ping").data("hello").build()?;
/// assert_eq!(msg.tag("Action"), Some("Ping"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawMessage")]
pub struct Message {
    target: ProcessId,
    tags: Vec<Tag>,
    #[serde(with = "data_serde")]
    data: Vec<u8>,
    anchor: Option<String>,
}

/// A decoded message before the checks of [`MessageBuilder::build`], which decoding
/// goes through too: tag count and anchor length are limits of the list, not of one tag.
#[derive(Deserialize)]
struct RawMessage {
    target: ProcessId,
    tags: Vec<RawTag>,
    #[serde(with = "data_serde")]
    data: Vec<u8>,
    anchor: Option<String>,
}

impl TryFrom<RawMessage> for Message {
    type Error = ValidationError;
    fn try_from(raw: RawMessage) -> Result<Self, ValidationError> {
        let tags = raw.tags.into_iter().map(|t| (t.name, t.value)).collect();
        MessageBuilder { target: raw.target, tags, data: raw.data, anchor: raw.anchor }.build()
    }
}

impl Message {
    /// Starts a message to `target`.
    pub fn builder(target: ProcessId) -> MessageBuilder {
        MessageBuilder { target, tags: Vec::new(), data: Vec::new(), anchor: None }
    }

    /// The process the message is for.
    pub fn target(&self) -> &ProcessId {
        &self.target
    }

    /// The tags, in order.
    pub fn tags(&self) -> &[Tag] {
        &self.tags
    }

    /// The value of the last tag called `name`.
    pub fn tag(&self, name: &str) -> Option<&str> {
        tag_value(&self.tags, name)
    }

    /// The data payload.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The anchor, if any.
    pub fn anchor(&self) -> Option<&str> {
        self.anchor.as_deref()
    }

    /// Takes the message apart: target, tags, data, anchor.
    pub fn into_parts(self) -> (ProcessId, Vec<Tag>, Vec<u8>, Option<String>) {
        (self.target, self.tags, self.data, self.anchor)
    }

    /// The same message addressed to another process.
    #[must_use]
    pub fn retarget(mut self, target: ProcessId) -> Self {
        self.target = target;
        self
    }
}

/// Builds a [`Message`]; validation happens once, in [`build`](Self::build).
#[derive(Debug, Clone)]
pub struct MessageBuilder {
    target: ProcessId,
    tags: Vec<(String, String)>,
    data: Vec<u8>,
    anchor: Option<String>,
}

impl MessageBuilder {
    /// Appends a tag.
    #[must_use]
    pub fn tag(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.tags.push((name.into(), value.into()));
        self
    }

    /// Appends already-validated tags.
    #[must_use]
    pub fn tags(mut self, tags: impl IntoIterator<Item = Tag>) -> Self {
        self.tags.extend(tags.into_iter().map(|t| (t.name, t.value)));
        self
    }

    /// Sets the data payload.
    #[must_use]
    pub fn data(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.data = data.into();
        self
    }

    /// Sets the anchor (at most 32 bytes).
    #[must_use]
    pub fn anchor(mut self, anchor: impl Into<String>) -> Self {
        self.anchor = Some(anchor.into());
        self
    }

    /// Validates the tags and anchor and returns the message.
    pub fn build(self) -> Result<Message, ValidationError> {
        let tags = build_tags(self.tags)?;
        check_anchor(self.anchor.as_deref())?;
        Ok(Message { target: self.target, tags, data: self.data, anchor: self.anchor })
    }
}

fn build_tags(raw: Vec<(String, String)>) -> Result<Vec<Tag>, ValidationError> {
    if raw.len() > MAX_TAGS {
        return Err(ValidationError::new(
            "tags",
            ValidationErrorKind::TooManyTags { count: raw.len(), limit: MAX_TAGS },
        ));
    }
    raw.into_iter()
        .enumerate()
        .map(|(i, (name, value))| check_tag(i, &name, &value).map(|()| Tag { name, value }))
        .collect()
}

/// A request to spawn a new process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawSpawnRequest")]
pub struct SpawnRequest {
    module: ModuleId,
    scheduler: crate::Address,
    tags: Vec<Tag>,
    #[serde(with = "data_serde")]
    data: Vec<u8>,
}

/// A decoded spawn request before the tag-list checks of [`SpawnRequest::new`].
#[derive(Deserialize)]
struct RawSpawnRequest {
    module: ModuleId,
    scheduler: crate::Address,
    tags: Vec<RawTag>,
    #[serde(with = "data_serde")]
    data: Vec<u8>,
}

impl TryFrom<RawSpawnRequest> for SpawnRequest {
    type Error = ValidationError;
    fn try_from(raw: RawSpawnRequest) -> Result<Self, ValidationError> {
        let tags = build_tags(raw.tags.into_iter().map(|t| (t.name, t.value)).collect())?;
        Ok(Self { module: raw.module, scheduler: raw.scheduler, tags, data: raw.data })
    }
}

impl SpawnRequest {
    /// A spawn of `module` on `scheduler` with the given tags and data.
    ///
    /// With the tag `On-Boot = Data`, aos runs the data as Lua when the process starts.
    pub fn new(
        module: ModuleId,
        scheduler: crate::Address,
        tags: Vec<Tag>,
        data: impl Into<Vec<u8>>,
    ) -> Result<Self, ValidationError> {
        validate_tags(&tags)?;
        Ok(Self { module, scheduler, tags, data: data.into() })
    }

    /// The module to run.
    pub fn module(&self) -> &ModuleId {
        &self.module
    }

    /// The scheduler unit that orders the process's messages.
    pub fn scheduler(&self) -> &crate::Address {
        &self.scheduler
    }

    /// The spawn tags.
    pub fn tags(&self) -> &[Tag] {
        &self.tags
    }

    /// The value of the last tag called `name`.
    pub fn tag(&self, name: &str) -> Option<&str> {
        tag_value(&self.tags, name)
    }

    /// The spawn data.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Takes the request apart: module, scheduler, tags, data.
    pub fn into_parts(self) -> (ModuleId, crate::Address, Vec<Tag>, Vec<u8>) {
        (self.module, self.scheduler, self.tags, self.data)
    }
}

/// A message a process emitted while handling another (its outbox).
///
/// The target is kept as the process wrote it: a process may address anything,
/// and whether that is a valid id is the network's business, not the evaluator's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxMessage {
    /// Where the process sent it.
    pub target: String,
    /// Its tags, in order.
    pub tags: Vec<Tag>,
    /// Its data.
    #[serde(with = "data_serde")]
    pub data: Vec<u8>,
    /// Its anchor, if any.
    pub anchor: Option<String>,
}

impl OutboxMessage {
    /// The value of the last tag called `name`.
    pub fn tag(&self, name: &str) -> Option<&str> {
        tag_value(&self.tags, name)
    }

    /// The data as UTF-8 text, if it is.
    pub fn data_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.data).ok()
    }
}

/// A spawn a process requested while handling a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxSpawn {
    /// The module to spawn, as the process wrote it.
    pub module: String,
    /// The spawn tags.
    pub tags: Vec<Tag>,
    /// The spawn data.
    #[serde(with = "data_serde")]
    pub data: Vec<u8>,
}

/// What evaluating one message produced: outbox messages and spawns, printed
/// output, an error if a handler failed, and the gas (instructions) it used.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvalResult {
    /// Messages the process sent.
    pub messages: Vec<OutboxMessage>,
    /// Processes the process asked to spawn.
    pub spawns: Vec<OutboxSpawn>,
    /// Everything printed (`print`, Eval results).
    pub output: String,
    /// The handler error, if evaluation failed. State changes made before the
    /// error stand, as on AO.
    pub error: Option<String>,
    /// Work done, in Lua VM instructions (approximate, counted in blocks).
    pub gas_used: u64,
}

impl EvalResult {
    /// Whether the evaluation succeeded.
    pub fn is_ok(&self) -> bool {
        self.error.is_none()
    }

    /// The first outbox message with `name = value` among its tags.
    pub fn message_with_tag(&self, name: &str, value: &str) -> Option<&OutboxMessage> {
        self.messages.iter().find(|m| m.tag(name) == Some(value))
    }
}

/// Data is bytes; in human-readable formats it is written as a string when it is
/// UTF-8 and as `{"base64": "..."}` otherwise, so JSON stays readable and lossless.
mod data_serde {
    use serde::de::{self, Deserializer, MapAccess, Visitor};
    use serde::ser::{SerializeMap, Serializer};
    use std::fmt;

    pub(super) fn serialize<S: Serializer>(data: &[u8], s: S) -> Result<S::Ok, S::Error> {
        if !s.is_human_readable() {
            return s.serialize_bytes(data);
        }
        if let Ok(text) = std::str::from_utf8(data) {
            s.serialize_str(text)
        } else {
            let mut map = s.serialize_map(Some(1))?;
            map.serialize_entry("base64", &crate::b64::encode_std(data))?;
            map.end()
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, bytes, or {\"base64\": string}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<u8>, E> {
                Ok(v.as_bytes().to_vec())
            }
            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
                let mut out = Vec::new();
                while let Some(b) = seq.next_element::<u8>()? {
                    out.push(b);
                }
                Ok(out)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Vec<u8>, A::Error> {
                let key: String = map.next_key()?.ok_or_else(|| de::Error::missing_field("base64"))?;
                if key != "base64" {
                    return Err(de::Error::unknown_field(&key, &["base64"]));
                }
                let text: String = map.next_value()?;
                crate::b64::decode_std(&text).ok_or_else(|| de::Error::custom("invalid base64 in data"))
            }
        }
        if d.is_human_readable() { d.deserialize_any(V) } else { d.deserialize_byte_buf(V) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pid() -> ProcessId {
        ProcessId::from_bytes([7; 32])
    }

    #[test]
    fn builder_enforces_ans104_limits() {
        let too_many = (0..=MAX_TAGS).fold(Message::builder(pid()), |b, i| b.tag(format!("T{i}"), "v"));
        let err = too_many.build().unwrap_err();
        assert_eq!(err.to_string(), "invalid tags: 129 tags, more than the ANS-104 limit of 128");

        let err = Message::builder(pid()).tag("A", "x").tag("B", "v".repeat(3073)).build().unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid tag: tag 1 (\"B\") value is 3073 bytes, more than the ANS-104 limit of 3072"
        );
        let err = Message::builder(pid()).tag("n".repeat(1025), "x").build().unwrap_err();
        assert!(matches!(err.kind(), ValidationErrorKind::TagNameTooLong { index: 0, len: 1025, .. }));
        assert!(Message::builder(pid()).tag("", "x").build().is_err());
        assert!(Message::builder(pid()).anchor("a".repeat(33)).build().is_err());

        let at_limit = (0..MAX_TAGS).fold(Message::builder(pid()), |b, i| b.tag(format!("T{i}"), "v"));
        assert_eq!(at_limit.build().unwrap().tags().len(), MAX_TAGS);
    }

    #[test]
    fn later_tags_win_lookups() {
        let msg = Message::builder(pid()).tag("Action", "A").tag("Action", "B").build().unwrap();
        assert_eq!(msg.tag("Action"), Some("B"));
        assert_eq!(msg.tag("Missing"), None);
    }

    #[test]
    fn data_round_trips_through_json_text_and_binary() {
        for data in [b"plain text".to_vec(), vec![0xff, 0x00, 0x80]] {
            let msg = Message::builder(pid()).data(data.clone()).build().unwrap();
            let json = serde_json::to_string(&msg).unwrap();
            let back: Message = serde_json::from_str(&json).unwrap();
            assert_eq!(back.data(), &data[..], "{json}");
        }
        let json = serde_json::to_string(&Message::builder(pid()).data("hi").build().unwrap()).unwrap();
        assert!(json.contains("\"data\":\"hi\""), "{json}");
    }

    #[test]
    fn deserialising_checks_tags() {
        let json =
            format!(r#"{{"target":"{}","tags":[{{"name":"","value":"x"}}],"data":"","anchor":null}}"#, pid());
        assert!(serde_json::from_str::<Message>(&json).is_err());
    }
}
