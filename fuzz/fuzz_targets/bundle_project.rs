//! Arbitrary projects: the input is split at NUL bytes into up to five files
//! (`main.lua`, `a.lua`, `a/b.lua`, `lib/init.lua`, `c-d.lua`), the first
//! byte choosing dead-code elimination, minification and strict mode.
//! Bundling never panics; and when every file compiles under real Lua 5.3,
//! the bundle does too.
#![no_main]

use ao_bundle::{BundleOptions, Define, MemoryLoader, bundle};
use ao_local::LocalAo;
use libfuzzer_sys::fuzz_target;

const FILES: [&str; 5] = ["main.lua", "a.lua", "a/b.lua", "lib/init.lua", "c-d.lua"];

fn compiles(ao: &LocalAo, pid: &ao_transport::ProcessId, code: &str) -> bool {
    let mut level = 0;
    while code.contains(&format!("]{}]", "=".repeat(level))) {
        level += 1;
    }
    let eq = "=".repeat(level);
    let probe = format!("return load([{eq}[\n{code}]{eq}]) ~= nil");
    ao.eval(pid, &probe).is_ok_and(|r| r.output == "true")
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let mut project = MemoryLoader::new();
    let mut sources = Vec::new();
    for (name, source) in FILES.iter().zip(text.split('\0')) {
        project.set(*name, source);
        sources.push(source);
    }
    let options = BundleOptions::new("main")
        .define("DEBUG", Define::Bool(false))
        .dce(flags & 1 != 0)
        .minify(flags & 2 != 0)
        .strict(flags & 4 != 0);
    let Ok(built) = bundle(&project, &options) else { return };
    assert!(built.code.ends_with("require(\"main\")\n"));
    let ao = LocalAo::new();
    let Ok(pid) = ao.spawn_aos("") else { return };
    if sources.iter().all(|s| compiles(&ao, &pid, s)) {
        assert!(compiles(&ao, &pid, &built.code), "the bundle does not compile:\n{}", built.code);
    }
});
