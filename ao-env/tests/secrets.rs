//! Secrets are resolved only when asked and never printed: every output of the
//! crate is collected and searched for the secret values.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use ao_env::{
    Desired, MemoryCode, MemoryStateStore, Project, Provisioner, Release, Releases, SecretRef,
    SecretResolver, SourceFile, SystemSecrets, consistency, sync,
};
use ao_local::LocalAo;

const WALLET: &str = "wallet-SECRET-7f3a9c1e-do-not-print";
const API: &str = "api-SECRET-55b0d2-do-not-print";
const MODULE: &str = "TQV426e5pgvLy8-tVGhLM4mviQ7HQroOMbC5mN3OHVk";
const SCHED: &str = "dCYq2BAm6lfcTUy-FryJc92xaKsji6B5GkyC1BMdKCE";

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

    // Provisioning, drift, plan and state.
    let code = b"Handlers.add('Join', 'Join', function() end)";
    let mut releases = Releases::default();
    releases.0.insert("arena".into(), Release::of_code("arena", code));
    let mut held = MemoryCode::default();
    held.0.insert("arena".into(), code.to_vec());
    let desired = Desired::new(&dev, &releases).unwrap();
    let ao = LocalAo::new();
    let store = MemoryStateStore::default();
    let p = Provisioner::new(&ao, &held, &store);
    let (report, applied) = p.reconcile(&dev, &desired, &[]).unwrap();
    out.push(format!(
        "{report}\n{report:?}\n{}\n{applied:?}\n{desired:?}",
        serde_json::to_string(&report).unwrap()
    ));
    let (state, again) = p.drift(&desired).unwrap();
    out.push(format!("{again}\n{}", state.to_json()));
    // Nothing secret went on chain either.
    for pid in ao.processes() {
        out.push(String::from_utf8_lossy(&ao.export_state(&pid).unwrap()).into_owned());
    }

    // Consistency and sync.
    let c = consistency(&dev, &staging);
    out.push(format!("{c}\n{}", serde_json::to_string(&c).unwrap()));
    let s = sync(&project, "staging", "dev").unwrap();
    assert!(s.overlay.contains("file:dev-wallet.txt"), "the target keeps its own wallet:\n{}", s.overlay);
    assert!(!s.overlay.contains("staging-wallet"), "the source's wallet is not copied:\n{}", s.overlay);
    out.push(format!("{s}\n{}", s.overlay));

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

    let all = out.join("\n");
    assert!(all.len() > 5_000, "the outputs were collected");
    assert!(!all.contains(WALLET), "a wallet secret leaked");
    assert!(!all.contains(API), "an API secret leaked");
    assert!(all.contains("file:") && all.contains("[redacted]"), "references and redactions are there");
}
