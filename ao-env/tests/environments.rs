//! The arena's real environment files: all valid, isolated, consistent where
//! they say so; approval gates; consistency against running code; sync.

mod common;

use std::collections::BTreeMap;

use ao_env::{
    Desired, ErrorKind, ExitCode, MapSecrets, MemoryStateStore, Observation, Project, Provisioner, SecretRef,
    SourceFile, consistency, gate, observe, sync_to_file,
};
use ao_local::LocalAo;

#[test]
fn the_arena_environments_are_valid_and_isolated() {
    let project = common::project();
    assert_eq!(project.environments(), ["dev", "prod", "staging"]);
    let envs = project.check(&BTreeMap::new()).unwrap();
    let prod = envs.iter().find(|e| e.name == "prod").unwrap();
    assert!(prod.protected, "prod is protected by its name");
    assert_eq!(prod.approvals.required, 2);
    assert_eq!(prod.processes["world"].shards, 4);
    assert_eq!(prod.processes["world"].cron.as_ref().unwrap().interval, "1-minute");
    let secrets = MapSecrets::new()
        .with(SecretRef::Env("AO_DEV_WALLET".into()), "dev-key")
        .with(SecretRef::Env("AO_STAGING_WALLET".into()), "staging-key")
        .with(prod.wallet.clone().unwrap(), "prod-key");
    project.check_wallets(&envs, &secrets).unwrap();
    // The same key behind two references is caught.
    let same = MapSecrets::new()
        .with(SecretRef::Env("AO_DEV_WALLET".into()), "k")
        .with(SecretRef::Env("AO_STAGING_WALLET".into()), "k")
        .with(prod.wallet.clone().unwrap(), "p");
    let err = project.check_wallets(&envs, &same).unwrap_err();
    assert_eq!(err.diagnostics().unwrap().len(), 1, "{err}");
}

#[test]
fn prod_changes_need_two_listed_approvers() {
    let dir = tempfile::tempdir().unwrap();
    let project = common::project();
    let releases = common::build_releases(&project, &dir.path().join("dist"));
    let prod = project.environment("prod").unwrap();
    let desired = Desired::new(&prod, &releases).unwrap();
    let ao = LocalAo::new();
    let store = MemoryStateStore::default();
    let p = Provisioner::new(&ao, &ao_env::FsCode, &store);
    let names = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    for refused in [&[][..], &["alice"], &["alice", "alice"], &["alice", "mallory"]] {
        let err = p.reconcile(&prod, &desired, &names(refused)).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Approval { required: 2, .. }), "{refused:?}: {err}");
        assert!(ao.processes().is_empty(), "nothing ran without approval");
    }
    let (_, applied) = p.reconcile(&prod, &desired, &names(&["carol", "alice"])).unwrap();
    assert_eq!(applied.spawned.len(), 5);
    // Nothing to do needs no approval.
    let (report, _) = p.reconcile(&prod, &desired, &[]).unwrap();
    assert!(report.is_clean());
    let dev = project.environment("dev").unwrap();
    gate(&dev, &report.plan, &[]).unwrap();
}

#[test]
fn undeclared_differences_and_running_code_are_reported() {
    let project = common::project();
    let staging = project.environment("staging").unwrap();
    let prod = project.environment("prod").unwrap();
    assert_eq!(consistency(&staging, &prod).exit_code(), ExitCode::Clean);

    // Prod raises max_players without declaring it.
    let p2 = project_with(&project, "prod", "max_players = 64\n"); // lands in the last table, [processes.world.config]
    let prod2 = p2.environment("prod").unwrap();
    let report = consistency(&staging, &prod2);
    assert_eq!(report.exit_code(), ExitCode::Drift);
    let bad: Vec<String> = report.disallowed().map(|d| d.path.to_string()).collect();
    assert_eq!(bad, ["processes.world.config.max_players"]);

    // Staging runs an older build than prod will load.
    let dir = tempfile::tempdir().unwrap();
    let releases = common::build_releases(&project, &dir.path().join("dist"));
    let ao = LocalAo::new();
    let store = MemoryStateStore::default();
    let prov = Provisioner::new(&ao, &ao_env::FsCode, &store);
    let staged = Desired::new(&staging, &releases).unwrap();
    prov.reconcile(&staging, &staged, &[]).unwrap();
    let state = ao_env::StateStore::load(&store, "staging").unwrap();
    let running = observe(&ao, &state).unwrap();
    assert!(running.values().all(|o| matches!(o, Observation::Running(_))));
    let prod_desired = Desired::new(&prod, &releases).unwrap();
    assert!(consistency(&staging, &prod).with_running(&running, &prod_desired).is_consistent());
    let mut newer = releases.clone();
    newer.0.insert("arena".into(), ao_env::Release::of_code("arena", b"-- a newer arena"));
    let prod_newer = Desired::new(&prod, &newer).unwrap();
    let r = consistency(&staging, &prod).with_running(&running, &prod_newer);
    assert_eq!(r.code.len(), 2, "both staging world shards: {r}");
    assert_eq!(r.exit_code(), ExitCode::Drift);
}

fn project_with(project: &Project, env: &str, extra: &str) -> Project {
    let src = project.overlay_source(env).unwrap();
    let mut overlays = Vec::new();
    for name in project.environments() {
        let s = project.overlay_source(name).unwrap();
        let text = if name == env { format!("{}\n{extra}", src.text()) } else { s.text().to_owned() };
        overlays.push((name.to_owned(), SourceFile::new(s.name(), text, 0)));
    }
    let base = std::fs::read_to_string(common::arena_dir().join("ao-env.toml")).unwrap();
    Project::from_sources(
        SourceFile::new("ao-env.toml", base, 0),
        overlays,
        project.bundle().cloned(),
        project.base_dir(),
    )
}

#[test]
fn sync_copies_processes_with_rewrites_and_keeps_what_the_target_owns() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["ao-env.toml", "ao-env.dev.toml", "ao-env.staging.toml", "ao-env.prod.toml", "ao-bundle.toml"] {
        std::fs::copy(common::arena_dir().join(f), dir.path().join(f)).unwrap();
    }
    let project = Project::load(&dir.path().join("ao-env.toml")).unwrap();
    let before = project.environment("dev").unwrap();
    let outcome = sync_to_file(&project, "staging", "dev", &dir.path().join("ao-env.dev.toml")).unwrap();
    let changed: Vec<String> = outcome.changes.iter().map(|c| c.path.to_string()).collect();
    assert_eq!(changed, ["processes.world.shards"], "{outcome}");

    let after = Project::load(&dir.path().join("ao-env.toml")).unwrap();
    let dev = after.environment("dev").unwrap();
    let staging = after.environment("staging").unwrap();
    assert_eq!(dev.processes["world"].shards, 2, "copied from staging");
    assert_eq!(
        dev.processes["world"].config["motd"],
        ao_env::Value::String("welcome to dev.arena".into()),
        "rewritten"
    );
    assert_eq!(dev.processes["world"].config["max_players"], ao_env::Value::Integer(4), "kept");
    assert_eq!(
        (dev.authority.clone(), dev.wallet.clone()),
        (before.authority.clone(), before.wallet.clone())
    );
    assert_eq!(dev.sync, before.sync, "the sync rule survives the rewrite of the file");
    assert_ne!(dev.authority, staging.authority);
    let text = std::fs::read_to_string(dir.path().join("ao-env.dev.toml")).unwrap();
    assert!(!text.contains("AO_STAGING_WALLET") && text.contains("AO_DEV_WALLET"), "{text}");
    // Syncing again changes nothing.
    let again = sync_to_file(&after, "staging", "dev", &dir.path().join("ao-env.dev.toml")).unwrap();
    assert!(again.changes.is_empty(), "{again}");
    assert_eq!(std::fs::read_to_string(dir.path().join("ao-env.dev.toml")).unwrap(), text);
    // Only declared syncs run.
    let err = ao_env::sync(&after, "dev", "prod").unwrap_err();
    assert_eq!(err.to_string(), "environment \"prod\" declares no [sync.dev] rule");
}

#[test]
fn sync_keeps_the_target_files_comments_and_layout_outside_processes() {
    let dir = tempfile::tempdir().unwrap();
    for f in ["ao-env.toml", "ao-env.dev.toml", "ao-env.staging.toml", "ao-env.prod.toml", "ao-bundle.toml"] {
        std::fs::copy(common::arena_dir().join(f), dir.path().join(f)).unwrap();
    }
    let file = dir.path().join("ao-env.dev.toml");
    let original = std::fs::read_to_string(&file).unwrap();
    let project = Project::load(&dir.path().join("ao-env.toml")).unwrap();
    let outcome = sync_to_file(&project, "staging", "dev", &file).unwrap();
    assert!(outcome.layout_kept, "{outcome}");
    assert!(outcome.to_string().contains("the rest of the file is kept as written"), "{outcome}");
    let text = std::fs::read_to_string(&file).unwrap();
    // Every line outside [processes] is still there, in order, comments included.
    let mut in_processes = false;
    let outside: Vec<&str> = original
        .lines()
        .filter(|l| {
            if l.starts_with('[') {
                in_processes = l.starts_with("[processes");
            }
            !in_processes
        })
        .collect();
    let mut rest = text.as_str();
    for line in outside.iter().filter(|l| !l.is_empty()) {
        let at = rest.find(line).unwrap_or_else(|| panic!("{line:?} lost or out of order:\n{text}"));
        rest = &rest[at + line.len()..];
    }
    assert!(text.starts_with("# Developers' copy"), "{text}");
    assert!(
        text.contains(
            "# `ao-ops env sync --from staging --to dev` copies staging's processes here.\n[sync.staging]"
        ),
        "{text}"
    );
    // And the values are those of a full rewrite.
    let after = Project::load(&dir.path().join("ao-env.toml")).unwrap().environment("dev").unwrap();
    assert_eq!(after.processes["world"].shards, 2);

    // A layout that cannot be cut safely (a multi-line string holding a line
    // that looks like a header) is rewritten whole, every value kept.
    let tricky = original.replace(
        "motd = \"welcome to dev.arena\"\n",
        "motd = \"welcome to dev.arena\"\nnote = \"\"\"\n[environment]\nnot a header\n\"\"\"\n",
    );
    assert_ne!(tricky, original);
    std::fs::write(&file, &tricky).unwrap();
    let project = Project::load(&dir.path().join("ao-env.toml")).unwrap();
    let before = project.environment("dev").unwrap();
    assert!(before.processes["world"].config.contains_key("note"));
    let outcome = sync_to_file(&project, "staging", "dev", &file).unwrap();
    assert!(!outcome.layout_kept);
    assert!(outcome.to_string().contains("rewritten whole from its values"), "{outcome}");
    let after = Project::load(&dir.path().join("ao-env.toml")).unwrap().environment("dev").unwrap();
    assert_eq!(
        (after.authority, after.wallet, after.sync, after.allow),
        (before.authority, before.wallet, before.sync, before.allow)
    );
    assert_eq!(after.processes["world"].shards, 2);
}
