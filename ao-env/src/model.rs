//! The typed environment, built from the merged layers, and the checks that
//! need the whole environment (required fields, bundle targets and handlers,
//! approvals, what may go into a process's config).

use std::collections::BTreeMap;
use std::path::Path;

use ao_transport::{Address, ModuleId, ProcessId};
use serde::Serialize;

use crate::error::Diagnostic;
use crate::merge::Merged;
use crate::path::{FieldPath, PathPattern};
use crate::release::BundleTargets;
use crate::secret::SecretRef;
use crate::suggest::did_you_mean;
use crate::value::{Origin, Value};

/// A cron schedule: AO sends `action` every `interval`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cron {
    /// `1-minute`, `10-blocks`, ...
    pub interval: String,
    /// The `Action` of the cron messages.
    pub action: String,
}

/// One process of the game, as an environment wants it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProcessSpec {
    /// Its name in the config (`world`).
    pub name: String,
    /// What it does in the game (`world`, `lobby`, `leaderboard`).
    pub role: String,
    /// The module it runs.
    pub module: ModuleId,
    /// Its scheduler unit.
    pub scheduler: Address,
    /// The ao-bundle target whose release it loads.
    pub target: String,
    /// Handlers it must have once its code is loaded.
    pub handlers: Vec<String>,
    /// How many copies (shards) run.
    pub shards: u32,
    /// Memory limit in bytes (`Memory-Limit` spawn tag).
    pub memory_limit: Option<u64>,
    /// Compute limit in instructions per message (`Compute-Limit` spawn tag).
    pub compute_limit: Option<u64>,
    /// Cron ticks.
    pub cron: Option<Cron>,
    /// Config values handed to the process (`AoEnv.Config` in Lua).
    pub config: BTreeMap<String, Value>,
    /// Other processes it talks to, by id.
    pub refs: BTreeMap<String, ProcessId>,
}

/// Who must approve changes to an environment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Approvals {
    /// How many distinct approvers.
    pub required: u32,
    /// Who may approve.
    pub approvers: Vec<String>,
}

/// What an environment may share with, or differ from, others.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Allow {
    /// Fields that may differ from another environment in a consistency check.
    #[serde(serialize_with = "patterns")]
    pub differences: Vec<PathPattern>,
    /// Environments whose authority this one may share.
    pub share_authority_with: Vec<String>,
    /// Environments whose wallet this one may share.
    pub share_wallet_with: Vec<String>,
    /// Environments whose process ids this one may reference.
    pub reference_processes_of: Vec<String>,
}

fn patterns<S: serde::Serializer>(p: &[PathPattern], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(p.iter().map(PathPattern::as_str))
}

/// A declared rewrite for syncing: in string values at `path`, replace `replace` with `with`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rewrite {
    /// Which fields.
    pub path: PathPattern,
    /// Text to find.
    pub replace: String,
    /// Text to put instead.
    pub with: String,
}

/// How this environment takes config from another (`[sync.staging]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncRule {
    /// Rewrites applied to what is copied.
    pub rewrites: Vec<Rewrite>,
    /// Fields this environment keeps as they are.
    pub keep: Vec<PathPattern>,
}

/// One environment: the base file merged with its overlay, checked and typed.
///
/// Every value keeps its provenance; see [`explain`](Self::explain).
#[derive(Debug, Clone)]
pub struct Environment {
    /// Its name (`dev`, `staging`, `prod`, ...).
    pub name: String,
    /// The game.
    pub game: String,
    /// Processes by name (disabled ones left out).
    pub processes: BTreeMap<String, ProcessSpec>,
    /// The authority address its processes trust (`Authority` spawn tag).
    pub authority: Option<Address>,
    /// The wallet that signs for it, by reference.
    pub wallet: Option<SecretRef>,
    /// Whether changes need approvals.
    pub protected: bool,
    /// Approval rules.
    pub approvals: Approvals,
    /// Allowed sharing and differences.
    pub allow: Allow,
    /// Other secrets, by reference.
    pub secrets: BTreeMap<String, SecretRef>,
    /// Sync rules by source environment.
    pub sync: BTreeMap<String, SyncRule>,
    pub(crate) merged: Merged,
}

impl Environment {
    /// The merged config.
    pub fn merged(&self) -> &Merged {
        &self.merged
    }

    /// Where the value at `path` (`processes.world.shards`) comes from, with what it overrides.
    pub fn explain(&self, path: &str) -> Option<crate::merge::Explanation> {
        self.merged.explain(&FieldPath::parse(path)?)
    }

    /// Where the value at `path` was set.
    pub fn origin(&self, path: &FieldPath) -> Option<&Origin> {
        self.merged.origin(path)
    }

    /// Whether the name alone makes it production.
    pub fn is_production_name(name: &str) -> bool {
        matches!(name, "prod" | "production")
    }
}

struct Builder<'a> {
    m: &'a Merged,
    diags: Vec<Diagnostic>,
}

fn key(p: &str) -> FieldPath {
    FieldPath::parse(p).unwrap_or_default()
}

impl Builder<'_> {
    fn error(&mut self, path: &FieldPath, message: impl Into<String>) -> &mut Diagnostic {
        self.diags.push(Diagnostic::new(self.m.origin(path).cloned(), Some(path.clone()), message));
        self.diags.last_mut().expect("just pushed")
    }

    fn str(&self, path: &FieldPath) -> Option<String> {
        self.m.get(path).and_then(Value::as_str).map(str::to_owned)
    }

    fn int(&self, path: &FieldPath) -> Option<i64> {
        match self.m.get(path) {
            Some(Value::Integer(n)) => Some(*n),
            _ => None,
        }
    }

    fn bool(&self, path: &FieldPath) -> Option<bool> {
        match self.m.get(path) {
            Some(Value::Boolean(b)) => Some(*b),
            _ => None,
        }
    }

    fn strs(&self, path: &FieldPath) -> Vec<String> {
        match self.m.get(path) {
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
            _ => Vec::new(),
        }
    }

    fn patterns(&self, path: &FieldPath) -> Vec<PathPattern> {
        self.strs(path).iter().filter_map(|s| PathPattern::parse(s)).collect()
    }

    fn table(&self, path: &FieldPath) -> BTreeMap<String, Value> {
        self.m.get(path).and_then(Value::as_table).cloned().unwrap_or_default()
    }

    fn secret(&self, path: &FieldPath, base: &Path) -> Option<SecretRef> {
        SecretRef::parse(&self.str(path)?, base).ok()
    }

    fn required<T>(&mut self, got: Option<T>, path: &FieldPath, what: &str, help: &str) -> Option<T> {
        if got.is_none() {
            let origin = self.m.origin(&path.parent().unwrap_or_default()).cloned();
            self.diags.push(
                Diagnostic::new(origin, Some(path.clone()), format!("`{path}` is missing: {what}"))
                    .help(help),
            );
        }
        got
    }
}

/// Builds and checks one environment from its merged layers. Returns the
/// environment (as far as it could be built) and every problem found.
#[allow(clippy::many_single_char_names)] // m, b: the merged tree and its builder, throughout
pub(crate) fn build(
    name: &str,
    merged: Merged,
    bundle: Option<&BundleTargets>,
    base_dir: &Path,
) -> (Environment, Vec<Diagnostic>) {
    let m = merged;
    let mut b = Builder { m: &m, diags: Vec::new() };
    let game = b.str(&key("game"));
    let game = b
        .required(game, &key("game"), "the game's name", "add `game = \"<name>\"` to the base file")
        .unwrap_or_default();

    let mut processes = BTreeMap::new();
    for pname in b.table(&key("processes")).keys() {
        let p = key("processes").key(pname);
        if b.bool(&p.key("enabled")) == Some(false) {
            continue;
        }
        if let Some(spec) = process(&mut b, pname, &p, bundle) {
            processes.insert(pname.clone(), spec);
        }
    }

    let env = key("environment");
    let protected_set = b.bool(&env.key("protected"));
    let production = Environment::is_production_name(name);
    if production && protected_set == Some(false) {
        b.error(
            &env.key("protected"),
            format!("environment `{name}` is production and cannot be unprotected"),
        )
        .help = Some("remove `protected = false`; production changes always need approvals".into());
    }
    let protected = protected_set.unwrap_or(false) || production;
    let approvals = Approvals {
        required: b.int(&env.key("approvals").key("required")).unwrap_or(0) as u32,
        approvers: b.strs(&env.key("approvals").key("approvers")),
    };
    let ap = env.key("approvals");
    if protected && approvals.required == 0 {
        let what = if production { "production" } else { "protected" };
        let d = Diagnostic::new(
            b.m.origin(&ap.key("required")).cloned(),
            Some(ap.key("required")),
            format!("environment `{name}` is {what} and requires approvals"),
        )
        .help("set `[environment.approvals] required = N` (N ≥ 1) and list the `approvers`");
        b.diags.push(d);
    }
    if approvals.required as usize > approvals.approvers.len() {
        b.error(
            &ap.key("required"),
            format!(
                "{} approvals required but only {} approver(s) listed",
                approvals.required,
                approvals.approvers.len()
            ),
        );
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, a) in approvals.approvers.iter().enumerate() {
        if !seen.insert(a) {
            b.error(&ap.key("approvers").index(i), format!("approver {a:?} is listed twice"));
        }
    }
    let al = env.key("allow");
    let allow = Allow {
        differences: b.patterns(&al.key("differences")),
        share_authority_with: b.strs(&al.key("share_authority_with")),
        share_wallet_with: b.strs(&al.key("share_wallet_with")),
        reference_processes_of: b.strs(&al.key("reference_processes_of")),
    };
    let secrets = b
        .table(&env.key("secrets"))
        .keys()
        .filter_map(|k| Some((k.clone(), b.secret(&env.key("secrets").key(k), base_dir)?)))
        .collect();
    let mut sync = BTreeMap::new();
    for from in b.table(&key("sync")).keys() {
        let s = key("sync").key(from);
        let rewrites = match b.m.get(&s.key("rewrite")) {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|item| {
                    let t = item.as_table()?;
                    Some(Rewrite {
                        path: PathPattern::parse(t.get("path")?.as_str()?)?,
                        replace: t.get("replace")?.as_str()?.to_owned(),
                        with: t.get("with").and_then(Value::as_str).unwrap_or("").to_owned(),
                    })
                })
                .collect(),
            _ => Vec::new(),
        };
        if let Some(Value::Array(items)) = b.m.get(&s.key("rewrite")) {
            for (i, item) in items.iter().enumerate() {
                let t = item.as_table();
                for need in ["path", "replace"] {
                    if t.is_some_and(|t| !t.contains_key(need)) {
                        let p = s.key("rewrite").index(i).key(need);
                        b.required(None::<()>, &p, "a rewrite needs `path` and `replace`", "add it");
                    }
                }
            }
        }
        sync.insert(from.clone(), SyncRule { rewrites, keep: b.patterns(&s.key("keep")) });
    }
    let authority = b.str(&env.key("authority")).and_then(|s| Address::new(s).ok());
    let wallet = b.secret(&env.key("wallet"), base_dir);
    let diags = b.diags;
    let environment = Environment {
        name: name.to_owned(),
        game,
        processes,
        authority,
        wallet,
        protected,
        approvals,
        allow,
        secrets,
        sync,
        merged: m,
    };
    (environment, diags)
}

fn process(
    b: &mut Builder<'_>,
    name: &str,
    p: &FieldPath,
    bundle: Option<&BundleTargets>,
) -> Option<ProcessSpec> {
    let defaults = key("defaults");
    let pick = |b: &Builder<'_>, k: &str| b.str(&p.key(k)).or_else(|| b.str(&defaults.key(k)));
    let module = pick(b, "module").and_then(|s| ModuleId::new(s).ok());
    let module = b.required(
        module,
        &p.key("module"),
        "the module the process runs",
        "set `module` here or in `[defaults]`",
    );
    let scheduler = pick(b, "scheduler").and_then(|s| Address::new(s).ok());
    let scheduler = b.required(
        scheduler,
        &p.key("scheduler"),
        "its scheduler",
        "set `scheduler` here or in `[defaults]`",
    );
    let target = b.str(&p.key("target"));
    let target = b.required(
        target,
        &p.key("target"),
        "the bundle target it loads",
        "set `target` to a target of the bundle config",
    );
    let handlers = b.strs(&p.key("handlers"));
    if let (Some(bundle), Some(target)) = (bundle, &target) {
        match bundle.targets.get(target) {
            None => {
                let help = did_you_mean(target, bundle.targets.keys().map(String::as_str)).map_or_else(
                    || {
                        format!(
                            "targets in {}: {}",
                            bundle.file,
                            bundle.targets.keys().cloned().collect::<Vec<_>>().join(", ")
                        )
                    },
                    |s| format!("did you mean `{s}`?"),
                );
                b.error(
                    &p.key("target"),
                    format!("bundle target `{target}` does not exist in {}", bundle.file),
                )
                .help = Some(help);
            }
            Some(t) => {
                for (i, h) in handlers.iter().enumerate() {
                    if !t.handlers.contains(h) {
                        let help = did_you_mean(h, t.handlers.iter().map(String::as_str)).map_or_else(
                            || format!("target `{target}` declares: {}", t.handlers.join(", ")),
                            |s| format!("did you mean `{s}`?"),
                        );
                        b.error(
                            &p.key("handlers").index(i),
                            format!("handler `{h}` is not declared by bundle target `{target}`"),
                        )
                        .help = Some(help);
                    }
                }
            }
        }
    }
    let config = b.table(&p.key("config"));
    for (k, v) in &config {
        check_config_value(b, &p.key("config").key(k), Some(v));
    }
    let cron = match (b.str(&p.key("cron").key("interval")), b.str(&p.key("cron").key("action"))) {
        (Some(interval), Some(action)) => Some(Cron { interval, action }),
        (None, None) => None,
        (i, _) => {
            let missing = if i.is_none() { "interval" } else { "action" };
            b.required(
                None::<()>,
                &p.key("cron").key(missing),
                "a cron needs `interval` and `action`",
                "add it",
            );
            None
        }
    };
    let pick_int = |b: &Builder<'_>, k: &str| b.int(&p.key(k)).or_else(|| b.int(&defaults.key(k)));
    let refs = b
        .table(&p.key("refs"))
        .into_iter()
        .filter_map(|(k, v)| Some((k, ProcessId::new(v.as_str()?).ok()?)))
        .collect();
    Some(ProcessSpec {
        name: name.to_owned(),
        role: b.str(&p.key("role")).unwrap_or_else(|| name.to_owned()),
        module: module?,
        scheduler: scheduler?,
        target: target?,
        handlers,
        shards: b.int(&p.key("shards")).unwrap_or(1) as u32,
        memory_limit: pick_int(b, "memory_limit").map(|n| n as u64),
        compute_limit: pick_int(b, "compute_limit").map(|n| n as u64),
        cron,
        config,
        refs,
    })
}

fn check_config_value(b: &mut Builder<'_>, path: &FieldPath, v: Option<&Value>) {
    match v {
        Some(Value::String(s)) if SecretRef::looks_like(s) => {
            b.error(path, format!("`{path}` looks like a secret reference; process config is public on AO"))
                .help = Some(
                "keep secrets out of processes: put the reference in `[environment.secrets]` and use it off-chain"
                    .into(),
            );
        }
        Some(Value::Float(f)) if !f.is_finite() => {
            b.error(path, format!("`{path}` is {f}, which a process's JSON config cannot hold"));
        }
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                check_config_value(b, &path.index(i), Some(item));
            }
        }
        Some(Value::Table(t)) => {
            for (k, item) in t {
                check_config_value(b, &path.key(k), Some(item));
            }
        }
        _ => {}
    }
}
