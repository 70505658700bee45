//! The Lua that ao-deploy ships: the router process and the module loaded into
//! every deployed process, and the small snippets that configure them.

use ao_transport::{Address, ProcessId};

use crate::spec::ReleaseRef;

/// The router process (`lua/router.lua`): boot it with [`router_boot`].
pub const ROUTER_LUA: &str = include_str!("../lua/router.lua");

/// The process module (`lua/deploy.lua`): trust of forwarded senders, the
/// ledger, shadow traffic, stats, `Export-State` / `Import-State`.
pub const DEPLOY_LUA: &str = include_str!("../lua/deploy.lua");

/// `s` as a Lua long string literal whose brackets cannot clash with its content.
pub fn long_string(s: &str) -> String {
    let mut level = 0;
    loop {
        let close = format!("]{}]", "=".repeat(level));
        if !s.contains(&close) {
            let eq = "=".repeat(level);
            // A leading newline would be dropped by Lua: keep it with an escape-free prefix.
            return format!("[{eq}[\n{s}]{eq}]");
        }
        level += 1;
    }
}

/// How many messages a router buffers during a switch by default. While its
/// buffer is full, it refuses new messages: each sender gets a
/// `Deploy-Router-Busy` reply naming the message (`Refused-Id`) and may send
/// it again; nothing is dropped silently.
pub const ROUTER_MAX_BUFFER: usize = 10_000;

/// Boot code of a router forwarding to `active`, switched only by `authority`,
/// buffering at most [`ROUTER_MAX_BUFFER`] messages during a switch.
pub fn router_boot(active: &ProcessId, authority: &Address) -> String {
    router_boot_limited(active, authority, ROUTER_MAX_BUFFER)
}

/// [`router_boot`] with another buffer limit (at least 1).
pub fn router_boot_limited(active: &ProcessId, authority: &Address, max_buffer: usize) -> String {
    let max_buffer = max_buffer.max(1);
    format!("{ROUTER_LUA}\nDeployRouter.configure('{active}', '{authority}', {max_buffer})\n")
}

/// The Eval that configures the process module after a release's code is loaded.
pub fn configure(release: &ReleaseRef, router: Option<&ProcessId>, globals: &[String]) -> String {
    let router = router.map_or_else(|| "nil".to_owned(), |r| format!("'{r}'"));
    let globals: Vec<String> = globals.iter().map(|g| long_string(g)).collect();
    let config = serde_json::Value::Object(release.config.clone()).to_string();
    format!(
        "Deploy.configure({{ router = {router}, globals = {{ {} }}, release = '{}', version = {}, config = require('json').decode({}) }})",
        globals.join(", "),
        release.hash,
        long_string(&release.version),
        long_string(&config),
    )
}

/// The router's sticky bucket of a sender (0–99): the sender is mirrored to a
/// canary when its bucket is below the weight. Same function as in `router.lua`.
pub fn bucket(sender: &str) -> u8 {
    let mut h: u32 = 2_166_136_261;
    for b in sender.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(16_777_619);
    }
    (h % 100) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_strings_never_close_early() {
        assert_eq!(long_string("a"), "[[\na]]");
        assert_eq!(long_string("x]]y"), "[=[\nx]]y]=]");
        assert_eq!(long_string("]]]=]"), "[==[\n]]]=]]==]");
    }
}
