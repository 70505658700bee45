//! Observed state: what a process says about itself when dry-run `Info`
//! (`lua/info.lua`) — the loaded code hash, config, handlers, spawn tags.

use std::collections::BTreeMap;

use ao_transport::{AoTransport, Message, ProcessId, TransportErrorKind};
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind};
use crate::state::{InstanceKey, State};

/// The Lua module every provisioned process boots with: records a BLAKE3 hash
/// of each Eval and answers `Info`. Source: `ao-env/lua/info.lua`.
pub const INFO_LUA: &str = include_str!("../lua/info.lua");

/// The `Info-Format` ao-env asks for and `info.lua` answers with.
pub const INFO_FORMAT: &str = "ao-env/1";

/// One recorded Eval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvalRecord {
    /// BLAKE3 of the Eval'ed source, hex.
    pub hash: String,
    /// Whether it ran without error.
    pub ok: bool,
    /// Its size in bytes.
    #[serde(default)]
    pub bytes: u64,
}

/// A process's answer to `Info`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Observed {
    /// Hash of the last Eval'ed code (`None` before the first Eval).
    pub code_hash: Option<String>,
    /// Evals since `info.lua` was loaded.
    pub eval_count: u64,
    /// The most recent Evals (at most 16), oldest first.
    pub evals: Vec<EvalRecord>,
    /// The config (`AoEnv.Config`).
    pub config: serde_json::Map<String, serde_json::Value>,
    /// Handler names in evaluation order.
    pub handlers: Vec<String>,
    /// The spawn tags.
    pub tags: BTreeMap<String, String>,
    /// Whether ao-env retired it.
    pub retired: bool,
}

#[derive(Deserialize)]
struct RawInfo {
    format: String,
    code: RawCode,
    config: String,
    #[serde(default, deserialize_with = "list_or_empty_object")]
    handlers: Vec<String>,
    #[serde(default, deserialize_with = "map_or_empty_array")]
    tags: BTreeMap<String, String>,
    #[serde(default)]
    retired: bool,
}

#[derive(Deserialize)]
struct RawCode {
    last: Option<String>,
    count: u64,
    #[serde(default, deserialize_with = "list_or_empty_object")]
    evals: Vec<EvalRecord>,
}

// Lua's json cannot tell an empty array from an empty object: accept both.
fn list_or_empty_object<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Vec<T>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either<T> {
        List(Vec<T>),
        Empty(serde_json::Map<String, serde_json::Value>),
    }
    // An empty object reads as an empty set of keys; anything else is refused.
    match Either::deserialize(d)? {
        Either::List(v) => Ok(v),
        Either::Empty(m) if m.is_empty() => Ok(Vec::new()),
        Either::Empty(_) => Err(serde::de::Error::custom("expected a list")),
    }
}

fn map_or_empty_array<'de, D: serde::Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Map(BTreeMap<String, String>),
        Empty(Vec<serde::de::IgnoredAny>),
    }
    match Either::deserialize(d)? {
        Either::Map(m) => Ok(m),
        Either::Empty(v) if v.is_empty() => Ok(BTreeMap::new()),
        Either::Empty(_) => Err(serde::de::Error::custom("expected a map of tags")),
    }
}

impl Observed {
    /// Parses the data of an `Info-Response`; the error says what is wrong.
    pub fn from_info_json(text: &str) -> Result<Self, String> {
        let raw: RawInfo = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if raw.format != INFO_FORMAT {
            return Err(format!("format {:?}, expected {INFO_FORMAT:?}", raw.format));
        }
        let config = match serde_json::from_str::<serde_json::Value>(&raw.config)
            .map_err(|e| format!("config: {e}"))?
        {
            serde_json::Value::Object(m) => m,
            serde_json::Value::Array(a) if a.is_empty() => serde_json::Map::new(),
            other => return Err(format!("config is {other}, not an object")),
        };
        let hex =
            |h: &str| h.len() == 64 && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if raw.code.last.as_deref().is_some_and(|h| !hex(h)) || raw.code.evals.iter().any(|e| !hex(&e.hash)) {
            return Err("a code hash is not 64 lowercase hex digits".into());
        }
        Ok(Self {
            code_hash: raw.code.last,
            eval_count: raw.code.count,
            evals: raw.code.evals,
            config,
            handlers: raw.handlers,
            tags: raw.tags,
            retired: raw.retired,
        })
    }
}

/// What ao-env found when it asked an instance's process.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Observation {
    /// It answered.
    Running(Observed),
    /// It exists but has no ao-env `Info` handler (spawned without `info.lua`).
    NoInfo,
    /// The transport does not know it.
    Missing,
}

/// The dry-run message that asks a process for its `Info`.
pub fn info_message(process: ProcessId) -> Message {
    Message::builder(process)
        .tag("Action", "Info")
        .tag("Info-Format", INFO_FORMAT)
        .build()
        .unwrap_or_else(|e| unreachable!("two short tags are valid: {e}"))
}

/// Asks one process for its `Info` (a dry run: nothing changes).
pub fn observe_process(
    transport: &dyn AoTransport,
    instance: &InstanceKey,
    process: &ProcessId,
) -> Result<Observation, Error> {
    let result = match pollster::block_on(transport.dry_run(info_message(process.clone()))) {
        Ok(r) => r,
        Err(e) if e.kind() == TransportErrorKind::NotFound => return Ok(Observation::Missing),
        Err(e) => return Err(Error::transport(instance.to_string(), e)),
    };
    let bad = |reason: String| Error::new(ErrorKind::Info { instance: instance.to_string(), reason });
    if let Some(err) = result.error {
        return Err(bad(format!("the process failed: {err}")));
    }
    let Some(reply) = result.message_with_tag("Action", "Info-Response") else {
        return Ok(Observation::NoInfo);
    };
    let data = reply.data_str().ok_or_else(|| bad("data is not UTF-8".into()))?;
    Observed::from_info_json(data).map(Observation::Running).map_err(bad)
}

/// Asks every live process of `state` for its `Info`.
pub fn observe(
    transport: &dyn AoTransport,
    state: &State,
) -> Result<BTreeMap<InstanceKey, Observation>, Error> {
    state.instances.iter().map(|(k, r)| Ok((k.clone(), observe_process(transport, k, &r.process)?))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_replies_parse_with_lua_json_quirks() {
        let h = "0".repeat(64);
        let text = format!(
            r#"{{"format":"ao-env/1","code":{{"last":"{h}","count":2,"evals":[{{"hash":"{h}","ok":true,"bytes":3}}]}},"config":"[]","handlers":["_eval"],"tags":{{"Name":"x"}},"retired":false}}"#
        );
        let o = Observed::from_info_json(&text).unwrap();
        assert_eq!((o.code_hash.as_deref(), o.eval_count, o.config.len()), (Some(h.as_str()), 2, 0));
        let empty = r#"{"format":"ao-env/1","code":{"count":0,"evals":{}},"config":"{\"a\":1}","handlers":{},"tags":[]}"#;
        let o = Observed::from_info_json(empty).unwrap();
        assert_eq!((o.code_hash, o.evals.len(), o.config["a"].as_i64()), (None, 0, Some(1)));
        for bad in [
            r#"{"format":"ao-env/2","code":{"count":0},"config":"{}"}"#,
            r#"{"format":"ao-env/1","code":{"count":0,"last":"zz"},"config":"{}"}"#,
            r#"{"format":"ao-env/1","code":{"count":0},"config":"5"}"#,
            "not json",
        ] {
            assert!(Observed::from_info_json(bad).is_err(), "{bad}");
        }
    }
}
