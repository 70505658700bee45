//! Per-message instruction budget, enforced with a Lua count hook.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use mlua::{HookTriggers, Lua, VmState};

/// Instructions between two hook calls: gas is counted in blocks of this size.
/// Small enough to stop a loop quickly, large enough to cost about 1%.
pub(crate) const GAS_STEP: u32 = 1000;

#[derive(Debug, Default)]
pub(crate) struct Budget {
    used: AtomicU64,
    limit: AtomicU64,
    exhausted: AtomicBool,
}

impl Budget {
    pub(crate) fn new(limit: u64) -> Arc<Self> {
        Arc::new(Self { limit: AtomicU64::new(limit), ..Self::default() })
    }

    pub(crate) fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    pub(crate) fn limit(&self) -> u64 {
        self.limit.load(Ordering::Relaxed)
    }

    pub(crate) fn exhausted(&self) -> bool {
        self.exhausted.load(Ordering::Relaxed)
    }

    /// Arms the budget for the next message. The hook is reinstalled every
    /// time: that restarts Lua's instruction countdown, so gas depends only on
    /// the message's own work, not on where the previous message left the count.
    pub(crate) fn reset(self: &Arc<Self>, lua: &Lua) -> mlua::Result<()> {
        self.used.store(0, Ordering::Relaxed);
        self.exhausted.store(false, Ordering::Relaxed);
        install(lua, self)
    }
}

/// Installs the budget hook as a *global* hook, so coroutines created from Lua
/// inherit it (a per-thread hook would let `coroutine.wrap` escape the budget).
pub(crate) fn install(lua: &Lua, budget: &Arc<Budget>) -> mlua::Result<()> {
    let b = Arc::clone(budget);
    lua.set_global_hook(HookTriggers::new().every_nth_instruction(GAS_STEP), move |lua, _| {
        let used = b.used.fetch_add(u64::from(GAS_STEP), Ordering::Relaxed) + u64::from(GAS_STEP);
        let limit = b.limit.load(Ordering::Relaxed);
        if used <= limit {
            return Ok(VmState::Continue);
        }
        b.exhausted.store(true, Ordering::Relaxed);
        // From here on fail at every instruction: a `pcall` in a loop would
        // otherwise catch each error and keep spinning.
        lua.set_global_hook(HookTriggers::new().every_nth_instruction(1), move |_, _| {
            Err(mlua::Error::runtime(format!("instruction budget of {limit} exceeded")))
        })?;
        Err(mlua::Error::runtime(format!("instruction budget of {limit} exceeded")))
    })
}
