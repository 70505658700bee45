//! Secrets are resolved only when asked and never printed: every output of the
//! crate is collected and searched for the secret values.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use ao_env::{
    Desired, FileStateStore, InfoLookup, MemoryCode, Project, Provisioner, Release, Releases, SecretRef,
    SecretResolver, SourceFile, SystemSecrets, consistency, observe, sync, sync_to_file,
};
use ao_local::LocalAo;

const WALLET: &str = "wallet-SECRET-7f3a9c1e-do-not-print";
const API: &str = "api-SECRET-55b0d2-do-not-print";
const MODULE: &str = "TQV426e5pgvLy8-tVGhLM4mviQ7HQroOMbC5mN3OHVk";
const SCHED: &str = "dCYq2BAm6lfcTUy-FryJc92xaKsji6B5GkyC1BMdKCE";

fn base() -> String {
    format!(
        "game = \"arena\"\n[defaults]\nmodule = \"{MODULE}\"\nscheduler = \"{SCHED}\"\n[processes.world]\ntarget = \"arena\"\n[processes.world.config]\nmotd = \"hi\"\n"
    )
}

fn files(dir: &Path) -> Project {
    std::fs::write(dir.join("dev-wallet.txt"), format!("{WALLET}\n")).unwrap();
    std::fs::write(dir.join("api.txt"), API).unwrap();
    // The same key under another name: only resolving can tell.
    std::fs::write(dir.join("staging-wallet.txt"), WALLET).unwrap();
    let base = format!(
        "game = \"arena\"\n[defaults]\nmodule = \"{MODULE}\"\nscheduler = \"{SCHED}\"\n[processes.world]\ntarget = \"arena\"\n[processes.world.config]\nmotd = \"hi\"\n"
    );
    let dev = "[environment]\nwallet = \"file:dev-wallet.txt\"\n[environment.secrets]\napi = \"file:api.txt\"\n[sync.staging]\nkeep = []\n";
    let staging = "[environment]\nwallet = \"file:staging-wallet.txt\"\n[environment.secrets]\napi = \"file:api.txt\"\nmissing = \"env:AO_ENV_TEST_SURELY_UNSET\"\n[processes.world.config]\nmotd = \"staging\"\n";
    Project::from_sources(
        SourceFile::new("ao-env.toml", base, 0),
        vec![
            ("dev".into(), SourceFile::new("ao-env.dev.toml", dev, 1)),
            ("staging".into(), SourceFile::new("ao-env.staging.toml", staging, 2)),
        ],
        None,
        dir,
    )
}

#[test]
fn no_secret_reaches_any_error_log_or_report() {
    let dir = tempfile::tempdir().unwrap();
    let project = files(dir.path());
    let mut out: Vec<String> = Vec::new();

    // Loading and checking never resolves: the unset variable is no error yet.
    let envs = project.check(&BTreeMap::new()).unwrap();
    out.push(format!("{project:?} {envs:?}"));
    let dev = project.environment("dev").unwrap();
    let staging = project.environment("staging").unwrap();
    for path in ["environment", "environment.wallet", "environment.secrets"] {
        out.push(dev.explain(path).unwrap().to_string());
        out.push(serde_json::to_string(&dev.explain(path).unwrap()).unwrap());
    }
    // Every field of every environment, explained.
    for env in &envs {
        out.push(format!("{env:?} {:?}", env.merged()));
        for (path, _) in env.merged().leaves() {
            let x = env.explain(&path.to_string()).unwrap();
            out.push(format!("{x}{x:?}{}", serde_json::to_string(&x).unwrap()));
        }
    }

    // Resolving works and the value prints redacted.
    let wallet = SystemSecrets.resolve(dev.wallet.as_ref().unwrap()).unwrap();
    assert_eq!(wallet.expose(), WALLET, "trailing newline trimmed");
    let api = SystemSecrets.resolve(&dev.secrets["api"]).unwrap();
    assert_eq!(api.expose(), API);
    out.push(format!("{wallet:?} {wallet} {api:?} {api}"));
    let err = SystemSecrets.resolve(&staging.secrets["missing"]).unwrap_err();
    assert_eq!(err.to_string(), "secret env:AO_ENV_TEST_SURELY_UNSET: is not set");
    out.push(format!("{err} {err:?}"));
    let err = SystemSecrets.resolve(&SecretRef::File(dir.path().join("nope.txt"))).unwrap_err();
    out.push(format!("{err} {err:?}"));

    // The same wallet under two references is found, and the error names only the references.
    let err = project.check_wallets(&envs, &SystemSecrets).unwrap_err();
    assert!(err.to_string().contains("use the same wallet under different references"), "{err}");
    out.push(format!("{err} {err:?}"));

    // A secret's value pasted into public config is found once secrets are
    // resolved, and named by its reference only.
    let leaky = Project::from_sources(
        SourceFile::new("ao-env.toml", base(), 0),
        vec![(
            "dev".into(),
            SourceFile::new(
                "ao-env.dev.toml",
                format!(
                    "[environment]\nwallet = \"file:dev-wallet.txt\"\n[environment.secrets]\napi = \"file:api.txt\"\n[processes.world.config]\nmotd = \"key {API} inside\"\n"
                ),
                1,
            ),
        )],
        None,
        dir.path(),
    );
    let leaky_envs = leaky.check(&BTreeMap::new()).unwrap();
    let err = leaky.check_secrets(&leaky_envs, &SystemSecrets).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("error: `processes.world.config.motd` of `dev` holds the value of secret file:"),
        "{text}"
    );
    assert!(text.contains("--> ao-env.dev.toml:6:1") && text.contains("motd = [redacted]"), "{text}");
    // (The environment itself holds the pasted value as config: not printed here.)
    out.push(format!("{text} {err:?} {leaky:?}"));
    assert!(project.check_secrets(&envs[..1], &SystemSecrets).is_ok(), "dev alone is clean");

    // Provisioning, drift, plan and state.
    let code = b"Handlers.add('Join', 'Join', function() end)";
    let mut releases = Releases::default();
    releases.0.insert("arena".into(), Release::of_code("arena", code));
    let mut held = MemoryCode::default();
    held.0.insert("arena".into(), code.to_vec());
    let desired = Desired::new(&dev, &releases).unwrap();
    let log_dir = dir.path().join("ao-local");
    let ao = LocalAo::builder().log_dir(&log_dir).build().unwrap();
    let state_dir = dir.path().join("state");
    let store = FileStateStore::new(&state_dir);
    let lookup = InfoLookup::new(&ao, Vec::new());
    let p = Provisioner::new(&ao, &held, &store).with_lookup(&lookup);
    let (report, applied) = p.reconcile(&dev, &desired, &[]).unwrap();
    out.push(format!(
        "{report}\n{report:?}\n{}\n{applied:?}\n{desired:?}\n{p:?}\n{lookup:?}",
        serde_json::to_string(&report).unwrap()
    ));
    // A change behind the tool's back, so the drift report and plan carry config.
    let world = ao.processes()[0].clone();
    ao.eval(&world, "AoEnv.Config.motd = 'changed'").unwrap();
    let (state, again) = p.drift(&desired).unwrap();
    assert!(!again.is_clean());
    out.push(format!("{again}\n{again:?}\n{}\n{}", serde_json::to_string(&again).unwrap(), state.to_json()));
    let observed = observe(&ao, &state).unwrap();
    out.push(format!("{observed:?}\n{}", serde_json::to_string(&observed).unwrap()));
    let (fixed, applied) = p.reconcile(&dev, &desired, &[]).unwrap();
    out.push(format!("{fixed}\n{applied:?}"));
    let down = p.teardown(&dev, &[]).unwrap();
    out.push(format!("{down:?}"));
    // Nothing secret went on chain, into ao-local's log or into a state file either.
    for pid in ao.processes() {
        out.push(String::from_utf8_lossy(&ao.export_state(&pid).unwrap()).into_owned());
    }
    drop(ao);
    let mut files = 0;
    for d in [&log_dir, &state_dir] {
        for entry in std::fs::read_dir(d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                out.push(String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned());
                files += 1;
            }
        }
    }
    assert!(files >= 2, "the log and the state file were read");

    // Consistency and sync.
    let c = consistency(&dev, &staging);
    out.push(format!("{c}\n{}", serde_json::to_string(&c).unwrap()));
    let s = sync(&project, "staging", "dev").unwrap();
    assert!(s.overlay.contains("file:dev-wallet.txt"), "the target keeps its own wallet:\n{}", s.overlay);
    assert!(!s.overlay.contains("staging-wallet"), "the source's wallet is not copied:\n{}", s.overlay);
    out.push(format!("{s}\n{}\n{s:?}", s.overlay));
    let overlay_file = dir.path().join("ao-env.dev.toml");
    std::fs::write(&overlay_file, project.overlay_source("dev").unwrap().text()).unwrap();
    let written = sync_to_file(&project, "staging", "dev", &overlay_file).unwrap();
    out.push(format!("{written}\n{}", std::fs::read_to_string(&overlay_file).unwrap()));

    // A config that fails validation.
    let bad = Project::from_sources(
        SourceFile::new(
            "ao-env.toml",
            format!(
                "game = \"arena\"\n[processes.w]\ntarget = \"t\"\nmodule = \"{MODULE}\"\nscheduler = \"{SCHED}\"\n[processes.w.config]\nkey = \"file:api.txt\"\n"
            ),
            0,
        ),
        vec![(
            "dev".into(),
            SourceFile::new("ao-env.dev.toml", format!("[environment]\nwallet = \"{WALLET}\"\n"), 1),
        )],
        None,
        dir.path(),
    );
    let err = bad.environment("dev").unwrap_err();
    out.push(format!("{err}\n{err:?}\n{}", serde_json::to_string(err.diagnostics().unwrap()).unwrap()));
    out.push(format!("{bad:?}"));
    // Pasted secrets under a misspelt key, with the wrong type, in the secrets table.
    for overlay in [
        format!("[environment]\nwalet = \"{WALLET}\"\n"),
        format!("[environment]\nwallet = [\"{WALLET}\"]\n"),
        format!("[environment.secrets]\napi = \"{API}\"\n"),
        format!("[environment.secrets]\napi = {{ value = \"{API}\" }}\n"),
        format!("[environment]\nprivate_key = \"{WALLET}\"\n"),
    ] {
        let p = Project::from_sources(
            SourceFile::new("ao-env.toml", base(), 0),
            vec![("dev".into(), SourceFile::new("ao-env.dev.toml", overlay, 1))],
            None,
            dir.path(),
        );
        let err = p.environment("dev").unwrap_err();
        let check = p.check(&BTreeMap::new()).unwrap_err();
        out.push(format!("{err}\n{err:?}\n{check}\n{p:?}"));
    }

    for (i, o) in out.iter().enumerate() {
        for secret in [WALLET, API] {
            if let Some(at) = o.find(secret) {
                let from = o[..at].char_indices().rev().nth(200).map_or(0, |(i, _)| i);
                panic!("output {i} holds a secret: ...{}", &o[from..at + secret.len()]);
            }
        }
    }
    let all = out.join("\n");
    assert!(all.len() > 5_000, "the outputs were collected");
    assert!(!all.contains(WALLET), "a wallet secret leaked");
    assert!(!all.contains(API), "an API secret leaked");
    assert!(all.contains("file:") && all.contains("[redacted]"), "references and redactions are there");
}
