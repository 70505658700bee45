//! Golden files: error messages, explanations and reports are the user
//! interface, so they are checked byte for byte. After an intended change,
//! regenerate them with `UPDATE_GOLDEN=1 cargo test -p ao-env --test golden`
//! and review the diff.

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use ao_env::{
    BundleTargets, Desired, FieldPath, MemoryCode, MemoryStateStore, Project, Provisioner, Release, Releases,
    SourceFile, State, consistency,
};
use ao_local::LocalAo;

fn check(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        expected == actual,
        "{} differs:\n--- expected\n{expected}\n--- actual\n{actual}\nsee UPDATE_GOLDEN in this file",
        path.display()
    );
}

const BUNDLE: &str = r#"
root = "src"
out_dir = "dist"
[targets.arena]
entries = ["main"]
out = "arena.lua"
handlers = ["Join", "Move", "Tick"]
[targets.lobby]
entries = ["lobby"]
out = "lobby.lua"
handlers = ["Queue"]
"#;

const MODULE: &str = "TQV426e5pgvLy8-tVGhLM4mviQ7HQroOMbC5mN3OHVk";
const SCHED: &str = "dCYq2BAm6lfcTUy-FryJc92xaKsji6B5GkyC1BMdKCE";

fn project(base: &str, overlays: &[(&str, &str)]) -> Project {
    let bundle = BundleTargets::from_toml(BUNDLE, Path::new("."), "ao-bundle.toml").unwrap();
    let overlays = overlays
        .iter()
        .enumerate()
        .map(|(i, (name, text))| {
            ((*name).to_owned(), SourceFile::new(format!("ao-env.{name}.toml"), *text, i + 1))
        })
        .collect();
    Project::from_sources(SourceFile::new("ao-env.toml", base, 0), overlays, Some(bundle), Path::new("."))
}

fn base() -> String {
    format!(
        "game = \"arena\"\n\n[defaults]\nmodule = \"{MODULE}\"\nscheduler = \"{SCHED}\"\n\n[processes.world]\ntarget = \"arena\"\nhandlers = [\"Join\", \"Move\"]\n"
    )
}

fn errors(p: &Project, env: Option<&str>) -> String {
    let err = match env {
        Some(e) => p.environment(e).unwrap_err(),
        None => p.check(&BTreeMap::new()).unwrap_err(),
    };
    assert!(err.diagnostics().is_some());
    format!("{err}\n")
}

#[test]
fn unknown_keys_are_all_reported_with_suggestions() {
    let overlay = "[environment]\nauthorty = \"x\"\n\n[processes.world]\nshard = 2\ntraget = \"arena\"\ncolour = \"red\"\n\n[processes.world.cron]\nintervl = \"1-minute\"\naction = \"Tick\"\n";
    check("unknown_keys.txt", &errors(&project(&base(), &[("dev", overlay)]), Some("dev")));
}

#[test]
fn types_ranges_and_ids() {
    let overlay = format!(
        "[processes.world]\nshards = 100\nmemory_limit = \"lots\"\nmodule = \"{}x\"\nhandlers = \"Join\"\ncron = {{ interval = \"5-minits\", action = \"Tick\" }}\n\n[processes.Big-World]\ntarget = \"arena\"\n",
        &MODULE[..42]
    );
    check("types_ranges_ids.txt", &errors(&project(&base(), &[("dev", &overlay)]), Some("dev")));
}

#[test]
fn syntax_errors_name_line_and_column() {
    let overlay = "[processes.world]\nshards = \nmotd = \"unterminated\n";
    check("syntax.txt", &errors(&project(&base(), &[("dev", overlay)]), Some("dev")));
}

#[test]
fn semantic_errors_targets_handlers_secrets_approvals() {
    let base = format!(
        "game = \"arena\"\n\n[defaults]\nmodule = \"{MODULE}\"\nscheduler = \"{SCHED}\"\n\n[processes.world]\ntarget = \"arena\"\nhandlers = [\"Join\", \"Mvoe\", \"Chat\"]\n\n[processes.world.config]\napi_key = \"env:GAME_API_KEY\"\n\n[processes.queue]\ntarget = \"lobbby\"\n\n[processes.ranks]\nhandlers = []\n"
    );
    let prod = "[environment]\nwallet = \"env:PROD_WALLET\"\n\n[environment.approvals]\napprovers = [\"alice\", \"alice\"]\n";
    check("semantic.txt", &errors(&project(&base, &[("prod", prod)]), Some("prod")));
}

#[test]
fn isolation_between_environments() {
    let a = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE";
    let dev = format!(
        "[environment]\nauthority = \"{a}\"\nwallet = \"env:SHARED_WALLET\"\n\n[processes.world.refs]\nleaderboard = \"{}\"\n",
        ao_transport::ProcessId::from_bytes([9; 32])
    );
    let staging = format!(
        "[environment]\nauthority = \"{a}\"\nwallet = \"env:SHARED_WALLET\"\n\n[environment.allow]\nshare_wallet_with = [\"dve\"]\n"
    );
    let p = project(&base(), &[("dev", &dev), ("staging", &staging)]);
    let mut states = BTreeMap::new();
    let mut s = State::new("staging");
    s.instances.insert(
        ao_env::InstanceKey::new("world", 0),
        ao_env::Record {
            instance: ao_env::InstanceKey::new("world", 0),
            process: ao_transport::ProcessId::from_bytes([9; 32]),
            code_hash: None,
            baseline_handlers: vec![],
            eval_count: None,
            retired: false,
        },
    );
    states.insert("staging".to_owned(), s);
    let err = p.check(&states).unwrap_err();
    check("isolation.txt", &format!("{err}\n"));
}

#[test]
fn a_pasted_secret_is_not_echoed() {
    let overlay = "[environment]\nwallet = \"sk-live-0123456789abcdef\"\n";
    let text = errors(&project(&base(), &[("dev", overlay)]), Some("dev"));
    assert!(!text.contains("sk-live"), "{text}");
    check("pasted_secret.txt", &text);
}

#[test]
fn pasted_secrets_in_misspelt_fields_and_in_config() {
    // A misspelt `wallet` and a secrets entry of the wrong type: no excerpt shows the value.
    let overlay = "[environment]\nwalet = \"sk-live-0123456789abcdef\"\n\n[environment.secrets]\napi = [\"sk-live-fedcba9876543210\"]\n";
    let mut text = errors(&project(&base(), &[("dev", overlay)]), Some("dev"));
    // A resolved secret's value found in public config.
    let overlay = "[environment]\nwallet = \"env:DEV_WALLET\"\n\n[environment.secrets]\napi = \"env:DEV_API\"\n\n[processes.world.config]\nmotd = \"use sk-live-0123456789abcdef\"\n";
    let p = project(&base(), &[("dev", overlay)]);
    let envs = p.check(&BTreeMap::new()).unwrap();
    let secrets = ao_env::MapSecrets::new()
        .with(ao_env::SecretRef::Env("DEV_WALLET".into()), "wallet-0123456789")
        .with(ao_env::SecretRef::Env("DEV_API".into()), "sk-live-0123456789abcdef");
    let err = p.check_secrets(&envs, &secrets).unwrap_err();
    let _ = write!(text, "$ check_secrets\n{err}\n");
    assert!(!text.contains("sk-live"), "{text}");
    check("pasted_secret_fields.txt", &text);
}

#[test]
fn explain_names_every_layer() {
    let p = common::project();
    let prod = p.environment("prod").unwrap();
    let mut out = String::new();
    for path in ["processes.world.shards", "processes.world.config", "defaults.module"] {
        let _ = write!(out, "$ explain prod {path}\n{}\n", prod.explain(path).unwrap());
    }
    // File names as the test loaded them, relative to the crate.
    let root = common::arena_dir().display().to_string();
    check("explain.txt", &out.replace(&root, "examples/arena"));
    assert!(prod.explain("processes.nope").is_none());
    assert!(prod.origin(&FieldPath::parse("processes.world.shards").unwrap()).unwrap().line > 0);
}

#[test]
fn drift_report_and_plan() {
    let p = project(&base(), &[("dev", "[processes.world.config]\nmotd = \"hi\"\nmax_players = 4\n")]);
    let env = p.environment("dev").unwrap();
    let code = "Handlers.add('Join', 'Join', function() end)\nHandlers.add('Move', 'Move', function() end)\n";
    let mut releases = Releases::default();
    releases.0.insert("arena".into(), Release::of_code("arena", code.as_bytes()));
    let desired = Desired::new(&env, &releases).unwrap();
    let mut held = MemoryCode::default();
    held.0.insert("arena".into(), code.as_bytes().to_vec());
    let ao = LocalAo::new();
    let store = MemoryStateStore::default();
    let prov = Provisioner::new(&ao, &held, &store);
    let (first, _) = prov.reconcile(&env, &desired, &[]).unwrap();
    let pid = ao.processes()[0].clone();
    ao.eval(
        &pid,
        "Handlers.remove('Move'); Handlers.add('Cheat', 'Cheat', function() end); AoEnv.Config.motd = nil",
    )
    .unwrap();
    let (_, second) = prov.drift(&desired).unwrap();
    check(
        "drift.txt",
        &format!("$ first drift check\n{first}\n$ after an Eval behind the tool's back\n{second}"),
    );
}

#[test]
fn consistency_staging_vs_prod() {
    let p = common::project();
    let staging = p.environment("staging").unwrap();
    let prod = p.environment("prod").unwrap();
    let dev = p.environment("dev").unwrap();
    let root = common::arena_dir().display().to_string();
    let out = format!("{}\n{}", consistency(&staging, &prod), consistency(&dev, &staging));
    check("consistency.txt", &out.replace(&root, "examples/arena"));
}
