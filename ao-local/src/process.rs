//! One AO process: a sandboxed Lua 5.3 state running the aos prelude.

use std::sync::Arc;

use ao_transport::{EvalResult, MessageId, ModuleId, OutboxMessage, OutboxSpawn, ProcessId, Tag};
use mlua::{Function, Lua, LuaOptions, StdLib, Table, Value};
use serde::{Deserialize, Serialize};

use crate::budget::{self, Budget};
use crate::error::Error;
use crate::modules;

/// Resource limits for each process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Most memory a process's Lua state may hold, in bytes.
    pub memory_bytes: usize,
    /// Most Lua VM instructions one message may run (counted in blocks of 1000).
    pub instructions_per_message: u64,
    /// Most messages kept in `Inbox`; older ones are dropped first.
    pub inbox_max: usize,
}

impl Default for Limits {
    /// 256 MiB, 100 million instructions, 10 000 inbox messages.
    fn default() -> Self {
        Self { memory_bytes: 256 << 20, instructions_per_message: 100_000_000, inbox_max: 10_000 }
    }
}

/// A message as scheduled to a process: the client's message plus what the
/// scheduler assigns (id, sender, nonce, time). This is what the log stores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Envelope {
    pub(crate) id: MessageId,
    pub(crate) target: ProcessId,
    pub(crate) from: String,
    pub(crate) owner: String,
    pub(crate) nonce: u64,
    pub(crate) timestamp: u64,
    pub(crate) block_height: u64,
    pub(crate) tags: Vec<Tag>,
    #[serde(with = "crate::log::bytes")]
    pub(crate) data: Vec<u8>,
    pub(crate) anchor: Option<String>,
}

impl Envelope {
    pub(crate) fn tag(&self, name: &str) -> Option<&str> {
        ao_transport::tag_value(&self.tags, name)
    }
}

/// How a process came to be: the first record of its log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SpawnRecord {
    pub(crate) id: ProcessId,
    pub(crate) owner: String,
    pub(crate) module: ModuleId,
    pub(crate) scheduler: String,
    pub(crate) tags: Vec<Tag>,
    #[serde(with = "crate::log::bytes")]
    pub(crate) data: Vec<u8>,
    pub(crate) timestamp: u64,
    pub(crate) block_height: u64,
}

pub(crate) struct Process {
    pub(crate) spawn: SpawnRecord,
    lua: Lua,
    handle: Function,
    budget: Arc<Budget>,
    limits: Limits,
    /// Every message evaluated, in order: what dry runs and restarts replay.
    pub(crate) history: Vec<Envelope>,
    pub(crate) unauthorized_evals: u64,
}

impl std::fmt::Debug for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Process")
            .field("id", &self.spawn.id)
            .field("messages", &self.history.len())
            .finish_non_exhaustive()
    }
}

const PRELUDE: &str = include_str!("prelude.lua");
const SANDBOX: &str = include_str!("sandbox.lua");

fn lua_err(e: &mlua::Error) -> Error {
    Error::runtime(e)
}

impl Process {
    /// Creates the process state and runs its spawn (On-Boot code), returning the
    /// spawn's result.
    pub(crate) fn boot(spawn: SpawnRecord, limits: Limits) -> Result<(Self, EvalResult), Error> {
        let libs = StdLib::COROUTINE
            | StdLib::TABLE
            | StdLib::STRING
            | StdLib::UTF8
            | StdLib::MATH
            | StdLib::OS
            | StdLib::PACKAGE;
        let lua = Lua::new_with(libs, LuaOptions::default()).map_err(|e| lua_err(&e))?;
        lua.load(SANDBOX).set_name("=ao-local/sandbox").exec().map_err(|e| lua_err(&e))?;
        modules::install(&lua).map_err(|e| lua_err(&e))?;
        lua.globals().raw_set("__ao_local_max_inbox", limits.inbox_max).map_err(|e| lua_err(&e))?;
        let host: Table =
            lua.load(PRELUDE).set_name("=ao-local/prelude").call(()).map_err(|e| lua_err(&e))?;
        let handle: Function = host.get("handle").map_err(|e| lua_err(&e))?;
        let boot: Function = host.get("boot").map_err(|e| lua_err(&e))?;
        let boot_code: Function = host.get("boot_code").map_err(|e| lua_err(&e))?;

        let tags = tag_list(&lua, &spawn.tags).map_err(|e| lua_err(&e))?;
        boot.call::<()>((spawn.id.as_str(), spawn.owner.as_str(), spawn.module.as_str(), tags))
            .map_err(|e| lua_err(&e))?;

        let budget = Budget::new(limits.instructions_per_message);
        budget::install(&lua, &budget).map_err(|e| lua_err(&e))?;
        lua.set_memory_limit(limits.memory_bytes).map_err(|e| lua_err(&e))?;

        let mut process =
            Self { spawn, lua, handle, budget, limits, history: Vec::new(), unauthorized_evals: 0 };
        let result = process.run_boot(&boot_code);
        Ok((process, result))
    }

    fn run_boot(&mut self, boot_code: &Function) -> EvalResult {
        let mut result = EvalResult::default();
        match ao_transport::tag_value(&self.spawn.tags, "On-Boot") {
            None => {}
            Some("Data") => {
                if let Err(e) = self.budget.reset(&self.lua) {
                    result.error = Some(e.to_string());
                    return result;
                }
                let source = self.lua.create_string(&self.spawn.data);
                let outcome =
                    source.and_then(|s| boot_code.call::<(String, Option<String>)>((s, "=On-Boot")));
                match outcome {
                    Ok((output, error)) => {
                        result.output = output;
                        result.error = error;
                    }
                    Err(e) => result.error = Some(self.describe(&e)),
                }
                self.override_limit_error(&mut result);
                result.gas_used = self.budget.used();
            }
            Some(other) => {
                result.error = Some(format!(
                    "On-Boot = {other}: loading boot code from a transaction is not available on ao-local; \
                     use On-Boot = Data"
                ));
            }
        }
        result
    }

    /// Rebuilds a process by booting it and replaying `history`; returns the
    /// spawn's result first, then one result per message.
    pub(crate) fn replay(
        spawn: SpawnRecord,
        limits: Limits,
        history: &[Envelope],
    ) -> Result<(Self, Vec<EvalResult>), Error> {
        let (mut process, boot) = Self::boot(spawn, limits)?;
        let mut results = Vec::with_capacity(history.len() + 1);
        results.push(boot);
        for env in history {
            results.push(process.evaluate(env.clone()));
        }
        Ok((process, results))
    }

    pub(crate) fn owner(&self) -> &str {
        &self.spawn.owner
    }

    pub(crate) fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The nonce the next message gets (messages are numbered from 1; the spawn is 0).
    pub(crate) fn next_nonce(&self) -> u64 {
        self.history.len() as u64 + 1
    }

    /// Lua memory in use, in bytes.
    pub(crate) fn memory_used(&self) -> usize {
        self.lua.used_memory()
    }

    /// Evaluates one message and records it in the history.
    pub(crate) fn evaluate(&mut self, env: Envelope) -> EvalResult {
        let result = if env.tag("Action") == Some("Eval")
            && env.from != self.spawn.owner
            && env.from != self.spawn.id.as_str()
        {
            self.unauthorized_evals += 1;
            EvalResult {
                error: Some(format!(
                    "unauthorized: Eval from {} refused; only the owner {} may Eval",
                    env.from, self.spawn.owner
                )),
                ..EvalResult::default()
            }
        } else {
            self.run(&env)
        };
        self.history.push(env);
        result
    }

    /// Evaluates a message without recording it (the caller owns the state's fate).
    pub(crate) fn evaluate_detached(&mut self, env: &Envelope) -> EvalResult {
        self.run(env)
    }

    fn run(&mut self, env: &Envelope) -> EvalResult {
        if let Err(e) = self.budget.reset(&self.lua) {
            return EvalResult { error: Some(e.to_string()), ..EvalResult::default() };
        }
        // Fields go in as arguments and the prelude builds the table: one call
        // into Lua instead of one per field.
        let outcome = tag_list(&self.lua, &env.tags).and_then(|tags| {
            let data = self.lua.create_string(&env.data)?;
            self.handle.call::<(Table, Table, String, Option<String>)>((
                env.id.as_str(),
                env.from.as_str(),
                env.owner.as_str(),
                env.target.as_str(),
                data,
                env.timestamp,
                env.block_height,
                env.nonce,
                self.spawn.module.as_str(),
                env.anchor.as_deref(),
                tags,
            ))
        });
        let mut result = match outcome {
            Ok((messages, spawns, output, error)) => {
                let mut result = EvalResult { output, error, ..EvalResult::default() };
                if result.error.is_none()
                    && let Err(e) = collect_outbox(&messages, &spawns, &mut result)
                {
                    result.messages.clear();
                    result.spawns.clear();
                    result.error = Some(e);
                }
                result
            }
            Err(e) => EvalResult { error: Some(self.describe(&e)), ..EvalResult::default() },
        };
        self.override_limit_error(&mut result);
        result.gas_used = self.budget.used();
        result
    }

    /// Replaces a generic error with a clear one when a limit was hit.
    fn override_limit_error(&self, result: &mut EvalResult) {
        if self.budget.exhausted() {
            result.error = Some(format!("instruction budget of {} exceeded", self.budget.limit()));
            result.messages.clear();
            result.spawns.clear();
        } else if let Some(err) = &result.error
            && err.contains("not enough memory")
        {
            result.error =
                Some(format!("memory limit of {} bytes exceeded: {err}", self.limits.memory_bytes));
        }
    }

    fn describe(&self, e: &mlua::Error) -> String {
        match e {
            mlua::Error::MemoryError(_) => {
                format!("memory limit of {} bytes exceeded", self.limits.memory_bytes)
            }
            mlua::Error::CallbackError { cause, .. } => self.describe(cause),
            mlua::Error::RuntimeError(msg) => msg.clone(),
            other => other.to_string(),
        }
    }

    /// The names of the installed handlers, in evaluation order.
    pub(crate) fn handler_names(&self) -> Result<Vec<String>, Error> {
        // Raw access: no metamethod (no Lua code) runs, so this works even
        // right after a message exhausted its instruction budget.
        let handlers: Table = self.lua.globals().raw_get("Handlers").map_err(|e| lua_err(&e))?;
        let list: Table = handlers.raw_get("list").map_err(|e| lua_err(&e))?;
        list.sequence_values::<Table>()
            .map(|h| h.and_then(|h| h.raw_get::<String>("name")))
            .collect::<mlua::Result<Vec<_>>>()
            .map_err(|e| lua_err(&e))
    }

    /// A canonical dump of the process's data state (see [`crate::state`]).
    pub(crate) fn export_state(&self) -> Result<Vec<u8>, Error> {
        crate::state::export(&self.lua)
    }
}

fn tag_list(lua: &Lua, tags: &[Tag]) -> mlua::Result<Table> {
    let list = lua.create_table_with_capacity(tags.len(), 0)?;
    for (i, tag) in tags.iter().enumerate() {
        let t = lua.create_table_with_capacity(0, 2)?;
        t.raw_set("name", tag.name())?;
        t.raw_set("value", tag.value())?;
        list.raw_set(i + 1, t)?;
    }
    Ok(list)
}

fn lua_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.to_string_lossy()),
        Value::Integer(i) => Some(i.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn lua_bytes(v: &Value) -> Vec<u8> {
    match v {
        Value::String(s) => s.as_bytes().to_vec(),
        other => lua_text(other).unwrap_or_default().into_bytes(),
    }
}

fn read_tags(t: &Table, what: &str) -> Result<Vec<Tag>, String> {
    let list: Option<Table> = t.get("Tags").map_err(|e| format!("{what}: {e}"))?;
    let Some(list) = list else { return Ok(Vec::new()) };
    let mut tags = Vec::new();
    for (i, entry) in list.sequence_values::<Table>().enumerate() {
        let entry = entry.map_err(|e| format!("{what}: tag {}: {e}", i + 1))?;
        let name = lua_text(&entry.get::<Value>("name").map_err(|e| e.to_string())?).unwrap_or_default();
        let value = lua_text(&entry.get::<Value>("value").map_err(|e| e.to_string())?).unwrap_or_default();
        tags.push(Tag::new(name, value).map_err(|e| format!("{what}: {e}"))?);
    }
    ao_transport::validate_tags(&tags).map_err(|e| format!("{what}: {e}"))?;
    Ok(tags)
}

fn collect_outbox(messages: &Table, spawns: &Table, result: &mut EvalResult) -> Result<(), String> {
    for (i, m) in messages.sequence_values::<Table>().enumerate() {
        let what = format!("outbox message {}", i + 1);
        let m = m.map_err(|e| format!("{what}: {e}"))?;
        let target = m.get::<Value>("Target").ok().as_ref().and_then(lua_text).unwrap_or_default();
        let data = m.get::<Value>("Data").map(|v| lua_bytes(&v)).unwrap_or_default();
        let anchor = m.get::<Value>("Anchor").ok().as_ref().and_then(lua_text);
        let tags = read_tags(&m, &what)?;
        result.messages.push(OutboxMessage { target, tags, data, anchor });
    }
    for (i, s) in spawns.sequence_values::<Table>().enumerate() {
        let what = format!("outbox spawn {}", i + 1);
        let s = s.map_err(|e| format!("{what}: {e}"))?;
        let module = s.get::<Value>("Module").ok().as_ref().and_then(lua_text).unwrap_or_default();
        let data = s.get::<Value>("Data").map(|v| lua_bytes(&v)).unwrap_or_default();
        let tags = read_tags(&s, &what)?;
        result.spawns.push(OutboxSpawn { module, tags, data });
    }
    Ok(())
}
