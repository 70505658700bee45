//! The typed schema every config file is checked against, one file at a time:
//! unknown keys (with a suggestion), wrong types, malformed ids, references and
//! patterns, values out of range. Every problem of a file is reported.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::Diagnostic;
use crate::layer::Layer;
use crate::path::{FieldPath, PathPattern};
use crate::secret::SecretRef;
use crate::suggest::did_you_mean;
use crate::value::Value;

/// Most shards of one process.
pub const MAX_SHARDS: i64 = 64;
/// Smallest and largest memory limit, in bytes (1 MiB, 16 GiB as on AO's wasm64).
pub const MEMORY_LIMITS: (i64, i64) = (1 << 20, 16 << 30);
/// Smallest and largest compute limit, in instructions per message.
pub const COMPUTE_LIMITS: (i64, i64) = (1_000, 9_000_000_000_000);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// Any file.
    Any,
    /// Only the base file.
    Base,
    /// Only an environment's overlay.
    Overlay,
}

#[derive(Debug, Clone, Copy)]
enum Ty {
    Str,
    /// A lowercase name: `[a-z][a-z0-9-]*`, at most 32 characters.
    Name,
    Bool,
    Int(i64, i64),
    StrList,
    Module,
    Address,
    Process,
    Secret,
    Cron,
    Pattern,
    PatternList,
    Table(&'static [Field]),
    /// Free keys (checked as names when `names` is set) with values of one type.
    Map {
        names: bool,
        value: &'static Ty,
    },
    /// Anything TOML can hold (process config values).
    Any,
    TableList(&'static [Field]),
}

#[derive(Debug, Clone, Copy)]
struct Field {
    name: &'static str,
    ty: Ty,
    scope: Scope,
}

const fn f(name: &'static str, ty: Ty) -> Field {
    Field { name, ty, scope: Scope::Any }
}

static CRON: &[Field] = &[f("interval", Ty::Cron), f("action", Ty::Str)];
static PROCESS: &[Field] = &[
    f("enabled", Ty::Bool),
    f("role", Ty::Str),
    f("module", Ty::Module),
    f("scheduler", Ty::Address),
    f("target", Ty::Str),
    f("handlers", Ty::StrList),
    f("shards", Ty::Int(1, MAX_SHARDS)),
    f("memory_limit", Ty::Int(MEMORY_LIMITS.0, MEMORY_LIMITS.1)),
    f("compute_limit", Ty::Int(COMPUTE_LIMITS.0, COMPUTE_LIMITS.1)),
    f("cron", Ty::Table(CRON)),
    f("config", Ty::Map { names: false, value: &Ty::Any }),
    f("refs", Ty::Map { names: false, value: &Ty::Process }),
];
static DEFAULTS: &[Field] = &[
    f("module", Ty::Module),
    f("scheduler", Ty::Address),
    f("memory_limit", Ty::Int(MEMORY_LIMITS.0, MEMORY_LIMITS.1)),
    f("compute_limit", Ty::Int(COMPUTE_LIMITS.0, COMPUTE_LIMITS.1)),
];
static APPROVALS: &[Field] = &[f("required", Ty::Int(0, 16)), f("approvers", Ty::StrList)];
static ALLOW: &[Field] = &[
    f("differences", Ty::PatternList),
    f("share_authority_with", Ty::StrList),
    f("share_wallet_with", Ty::StrList),
    f("reference_processes_of", Ty::StrList),
];
static ENVIRONMENT: &[Field] = &[
    f("authority", Ty::Address),
    f("wallet", Ty::Secret),
    f("protected", Ty::Bool),
    f("approvals", Ty::Table(APPROVALS)),
    f("allow", Ty::Table(ALLOW)),
    f("secrets", Ty::Map { names: false, value: &Ty::Secret }),
];
static REWRITE: &[Field] = &[f("path", Ty::Pattern), f("replace", Ty::Str), f("with", Ty::Str)];
static SYNC: &[Field] = &[f("rewrite", Ty::TableList(REWRITE)), f("keep", Ty::PatternList)];
static ROOT: &[Field] = &[
    Field { name: "game", ty: Ty::Name, scope: Scope::Base },
    Field { name: "bundle_config", ty: Ty::Str, scope: Scope::Base },
    f("defaults", Ty::Table(DEFAULTS)),
    f("processes", Ty::Map { names: true, value: &Ty::Table(PROCESS) }),
    f("environment", Ty::Table(ENVIRONMENT)),
    Field { name: "sync", ty: Ty::Map { names: true, value: &Ty::Table(SYNC) }, scope: Scope::Overlay },
];

/// Whether `s` is a well-formed name for a process, environment or game.
pub(crate) fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && s.len() <= 32
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

pub(crate) const NAME_RULE: &str =
    "a lowercase letter, then lowercase letters, digits or '-', at most 32 characters";

/// Checks a cron interval such as `1-minute` or `10-blocks`.
pub(crate) fn check_cron(s: &str) -> Result<(), String> {
    const UNITS: [&str; 8] = ["millisecond", "second", "minute", "hour", "day", "week", "month", "block"];
    let (n, unit) =
        s.split_once('-').ok_or_else(|| format!("cron interval {s:?} is not `<count>-<unit>`"))?;
    let n: u64 = n.parse().map_err(|_| format!("cron interval {s:?} does not start with a count"))?;
    if n == 0 {
        return Err(format!("cron interval {s:?} is zero"));
    }
    let singular = unit.strip_suffix('s').unwrap_or(unit);
    if !UNITS.contains(&singular) {
        let hint =
            did_you_mean(singular, UNITS).map_or(String::new(), |u| format!("; did you mean `{n}-{u}s`?"));
        return Err(format!("cron interval {s:?} has unknown unit {unit:?}{hint}"));
    }
    Ok(())
}

/// Checks one file against the schema. `overlay` says whether it is an
/// environment's overlay (true) or the base file.
pub(crate) fn check_layer(layer: &Layer, overlay: bool) -> Vec<Diagnostic> {
    let mut c = Checker { layer, overlay, diags: Vec::new() };
    c.table(ROOT, &layer.root, &FieldPath::root());
    c.diags
}

struct Checker<'a> {
    layer: &'a Layer,
    overlay: bool,
    diags: Vec<Diagnostic>,
}

fn where_(path: &FieldPath) -> String {
    if path.is_root() { "at the top level".to_owned() } else { format!("in `{path}`") }
}

fn article(ty: &Ty) -> &'static str {
    match ty {
        Ty::Str | Ty::Name | Ty::Module | Ty::Address | Ty::Process | Ty::Secret | Ty::Cron | Ty::Pattern => {
            "a string"
        }
        Ty::Bool => "a boolean",
        Ty::Int(..) => "an integer",
        Ty::StrList | Ty::PatternList => "an array of strings",
        Ty::Table(_) | Ty::Map { .. } => "a table",
        Ty::TableList(_) => "an array of tables",
        Ty::Any => "a value",
    }
}

impl Checker<'_> {
    fn error(&mut self, path: &FieldPath, message: String) -> &mut Diagnostic {
        self.diags.push(Diagnostic::new(Some(self.layer.origin(path)), Some(path.clone()), message));
        self.diags.last_mut().expect("just pushed")
    }

    fn table(&mut self, fields: &[Field], t: &BTreeMap<String, Value>, path: &FieldPath) {
        for (k, v) in t {
            let p = path.key(k);
            let Some(field) = fields.iter().find(|f| f.name == k) else {
                let names = fields.iter().map(|f| f.name);
                let meant = did_you_mean(k, names.clone());
                let help = match meant {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("known keys here: {}", names.collect::<Vec<_>>().join(", ")),
                };
                // A misspelt `wallet` or `secrets` may hold a pasted secret: no excerpt of it.
                let secret = meant
                    .and_then(|m| fields.iter().find(|f| f.name == m))
                    .is_some_and(|f| holds_secret(&f.ty))
                    || looks_secret(k);
                let d = self.error(&p, format!("unknown key `{k}` {}", where_(path)));
                d.help = Some(help);
                if secret && let Some(o) = &mut d.origin {
                    o.redact_value();
                }
                continue;
            };
            match (field.scope, self.overlay) {
                (Scope::Base, true) => {
                    let d = self.error(&p, format!("`{k}` can only be set in the base file"));
                    d.help = Some("move it to the base file; it is the same in every environment".into());
                    continue;
                }
                (Scope::Overlay, false) => {
                    let d = self.error(&p, format!("`{k}` can only be set in an environment's overlay"));
                    d.help = Some("move it to the overlay of the environment it is for".into());
                    continue;
                }
                _ => {}
            }
            self.value(&field.ty, v, &p);
        }
    }

    fn mismatch(&mut self, ty: &Ty, v: &Value, path: &FieldPath) {
        let d = self.error(path, format!("`{path}` must be {}, found {}", article(ty), article_of(v)));
        if holds_secret(ty)
            && let Some(o) = &mut d.origin
        {
            o.redact_value();
        }
    }

    fn string<'v>(&mut self, ty: &Ty, v: &'v Value, path: &FieldPath) -> Option<&'v str> {
        if let Value::String(s) = v {
            Some(s)
        } else {
            self.mismatch(ty, v, path);
            None
        }
    }

    fn value(&mut self, ty: &Ty, v: &Value, path: &FieldPath) {
        match ty {
            Ty::Any => {}
            Ty::Str => {
                self.string(ty, v, path);
            }
            Ty::Name => {
                if let Some(s) = self.string(ty, v, path)
                    && !is_name(s)
                {
                    self.error(path, format!("{s:?} is not a valid name ({NAME_RULE})"));
                }
            }
            Ty::Bool => {
                if !matches!(v, Value::Boolean(_)) {
                    self.mismatch(ty, v, path);
                }
            }
            Ty::Int(min, max) => match v {
                Value::Integer(n) if n < min || n > max => {
                    self.error(path, format!("`{path}` is {n}, outside {min}..={max}"));
                }
                Value::Integer(_) => {}
                _ => self.mismatch(ty, v, path),
            },
            Ty::StrList | Ty::PatternList => match v {
                Value::Array(items) => {
                    let item_ty = if matches!(ty, Ty::StrList) { Ty::Str } else { Ty::Pattern };
                    for (i, item) in items.iter().enumerate() {
                        self.value(&item_ty, item, &path.index(i));
                    }
                }
                _ => self.mismatch(ty, v, path),
            },
            Ty::Module => {
                if let Some(s) = self.string(ty, v, path)
                    && let Err(e) = ao_transport::ModuleId::new(s)
                {
                    self.error(path, e.to_string());
                }
            }
            Ty::Address => {
                if let Some(s) = self.string(ty, v, path)
                    && let Err(e) = ao_transport::Address::new(s)
                {
                    self.error(path, e.to_string());
                }
            }
            Ty::Process => {
                if let Some(s) = self.string(ty, v, path)
                    && let Err(e) = ao_transport::ProcessId::new(s)
                {
                    self.error(path, e.to_string());
                }
            }
            Ty::Secret => {
                if let Some(s) = self.string(ty, v, path)
                    && let Err(e) = SecretRef::parse(s, Path::new("."))
                {
                    // Neither the message nor the excerpt repeats the text: it may be a pasted secret.
                    let d = self.error(path, format!("`{path}` is not a secret reference: {e}"));
                    if let Some(o) = &mut d.origin {
                        o.redact_value();
                    }
                }
            }
            Ty::Cron => {
                if let Some(s) = self.string(ty, v, path)
                    && let Err(e) = check_cron(s)
                {
                    self.error(path, e);
                }
            }
            Ty::Pattern => {
                if let Some(s) = self.string(ty, v, path)
                    && PathPattern::parse(s).is_none()
                {
                    self.error(
                        path,
                        format!("{s:?} is not a field path pattern (like `processes.*.config.**`)"),
                    );
                }
            }
            Ty::Table(fields) => match v {
                Value::Table(t) => self.table(fields, t, path),
                _ => self.mismatch(ty, v, path),
            },
            Ty::Map { names, value } => match v {
                Value::Table(t) => {
                    for (k, item) in t {
                        let p = path.key(k);
                        if *names && !is_name(k) {
                            self.error(&p, format!("{k:?} is not a valid name ({NAME_RULE})"));
                        }
                        self.value(value, item, &p);
                    }
                }
                _ => self.mismatch(ty, v, path),
            },
            Ty::TableList(fields) => match v {
                Value::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        match item {
                            Value::Table(t) => self.table(fields, t, &path.index(i)),
                            _ => self.mismatch(&Ty::Table(fields), item, &path.index(i)),
                        }
                    }
                }
                _ => self.mismatch(ty, v, path),
            },
        }
    }
}

/// Whether a field of type `ty` holds secret references (its value may be a pasted secret).
fn holds_secret(ty: &Ty) -> bool {
    matches!(ty, Ty::Secret) || matches!(ty, Ty::Map { value, .. } if matches!(value, Ty::Secret))
}

/// Whether a key's name says it is secret.
fn looks_secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["secret", "wallet", "password", "passwd", "token", "private", "api_key", "apikey"]
        .iter()
        .any(|w| k.contains(w))
}

fn article_of(v: &Value) -> String {
    let name = v.type_name();
    let a = if matches!(name, "integer" | "array") { "an" } else { "a" };
    format!("{a} {name}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::SourceFile;

    fn diags(text: &str, overlay: bool) -> Vec<String> {
        let (layer, d) = Layer::parse(SourceFile::new("t.toml", text, 0));
        assert!(d.is_empty(), "{d:?}");
        check_layer(&layer, overlay).into_iter().map(|d| d.message).collect()
    }

    #[test]
    fn schema_errors_table() {
        let cases: &[(&str, bool, &str)] = &[
            ("[processes.world]\nshard = 2\n", false, "unknown key `shard` in `processes.world`"),
            ("[processes.world]\nshards = 0\n", false, "`processes.world.shards` is 0, outside 1..=64"),
            ("[processes.world]\nshards = \"2\"\n", false, "must be an integer, found a string"),
            ("[processes.World]\n", false, "\"World\" is not a valid name"),
            ("[defaults]\nmodule = \"x\"\n", false, "invalid module id: expected 43 characters, found 1"),
            ("[environment]\nwallet = \"hunter2\"\n", true, "is not a secret reference"),
            ("[processes.w.cron]\ninterval = \"5-minits\"\n", false, "did you mean `5-minutes`?"),
            ("game = \"arena\"\n", true, "`game` can only be set in the base file"),
            ("[sync.dev]\n", false, "can only be set in an environment's overlay"),
            ("[environment.allow]\ndifferences = [\"a..b\"]\n", true, "is not a field path pattern"),
            ("[[sync.dev.rewrite]]\npath = \"a\"\nreplac = \"x\"\n", true, "unknown key `replac`"),
        ];
        for (text, overlay, expected) in cases {
            let got = diags(text, *overlay);
            assert!(got.iter().any(|m| m.contains(expected)), "{text:?}: {got:?}");
        }
        assert!(diags("[processes.world.config]\nanything = { goes = [1, \"x\"] }\n", false).is_empty());
    }

    #[test]
    fn secrets_pasted_by_mistake_are_not_echoed() {
        let got = diags("[environment]\nwallet = \"hunter2-super-secret\"\n", true);
        assert_eq!(got.len(), 1);
        assert!(!got[0].contains("hunter2"), "{got:?}");
        // Nor in the excerpt, when the key is misspelt or the value has the wrong type.
        for text in [
            "[environment]\nwalet = \"hunter2-super-secret\"\n",
            "[environment]\nwallet = [\"hunter2-super-secret\"]\n",
            "[environment.secrets]\napi = [\"hunter2-super-secret\"]\n",
            "[environment]\napi_token = \"hunter2-super-secret\"\n",
        ] {
            let (layer, d) = Layer::parse(SourceFile::new("t.toml", text, 0));
            assert!(d.is_empty());
            let out = crate::error::Diagnostics(check_layer(&layer, true)).to_string();
            assert!(out.contains("error: ") && out.contains("[redacted]"), "{out}");
            assert!(!out.contains("hunter2"), "{text:?}: {out}");
        }
    }

    #[test]
    fn cron_intervals() {
        for ok in ["1-minute", "10-seconds", "2-blocks", "1-hour"] {
            assert!(check_cron(ok).is_ok(), "{ok}");
        }
        for bad in ["minute", "0-minutes", "x-minutes", "5-fortnights"] {
            assert!(check_cron(bad).is_err(), "{bad}");
        }
    }
}
