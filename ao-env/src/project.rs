//! A game's environment files: the base and one overlay per environment,
//! discovered beside each other, checked together.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Diagnostic, Diagnostics, Error, ErrorKind};
use crate::layer::Layer;
use crate::merge::Merged;
use crate::model::{self, Environment};
use crate::path::FieldPath;
use crate::release::BundleTargets;
use crate::schema::{self, NAME_RULE, is_name};
use crate::secret::{SecretRef, SecretResolver};
use crate::state::State;
use crate::value::{SourceFile, Value};

/// The base file and the overlays of every environment.
///
/// [`Project::load`] reads `ao-env.toml` and every `ao-env.<env>.toml` beside it
/// (any base name works: `game.toml` with `game.dev.toml`, ...), plus the
/// ao-bundle config the base names. [`Project::from_sources`] does the same
/// from text, touching no file.
///
/// `Debug` lists the files and environments, not their contents (a file may
/// hold a secret pasted by mistake).
#[derive(Clone)]
pub struct Project {
    base_dir: PathBuf,
    base: Layer,
    overlays: BTreeMap<String, Layer>,
    bundle: Option<BundleTargets>,
    /// Problems found while parsing and schema-checking each file, by layer.
    file_diags: BTreeMap<Option<String>, Vec<Diagnostic>>,
}

impl std::fmt::Debug for Project {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Project")
            .field("base_dir", &self.base_dir)
            .field("base", &self.base.source)
            .field("overlays", &self.overlays.iter().map(|(k, l)| (k, &l.source)).collect::<BTreeMap<_, _>>())
            .field("bundle", &self.bundle)
            .field("problems", &self.file_diags.values().map(Vec::len).sum::<usize>())
            .finish()
    }
}

impl Project {
    /// Builds a project from file texts. `overlays` are `(environment, file)`;
    /// `bundle` is the ao-bundle config's targets (without it, bundle targets
    /// and handlers are not checked); `base_dir` resolves `file:` secrets.
    pub fn from_sources(
        base: SourceFile,
        overlays: Vec<(String, SourceFile)>,
        bundle: Option<BundleTargets>,
        base_dir: &Path,
    ) -> Self {
        let mut file_diags = BTreeMap::new();
        let (base, mut d) = Layer::parse(base.with_layer(0));
        if d.is_empty() {
            d = schema::check_layer(&base, false);
        }
        file_diags.insert(None, d);
        let mut layers = BTreeMap::new();
        for (i, (name, src)) in overlays.into_iter().enumerate() {
            let (layer, mut d) = Layer::parse(src.with_layer(i + 1));
            if d.is_empty() {
                d = schema::check_layer(&layer, true);
            }
            if !is_name(&name) {
                d.insert(
                    0,
                    Diagnostic::new(
                        Some(layer.source.origin(0)),
                        None,
                        format!("environment name {name:?} (from the file name) is not valid ({NAME_RULE})"),
                    ),
                );
            }
            file_diags.insert(Some(name.clone()), d);
            layers.insert(name, layer);
        }
        Self { base_dir: base_dir.to_path_buf(), base, overlays: layers, bundle, file_diags }
    }

    /// Reads `base` and the overlays beside it (`<stem>.<env>.toml`), and the
    /// ao-bundle config named by `bundle_config`.
    pub fn load(base: &Path) -> Result<Self, Error> {
        let text = std::fs::read_to_string(base).map_err(|e| Error::io(base, e))?;
        let dir = base.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let stem = base.file_stem().and_then(|s| s.to_str()).unwrap_or("ao-env").to_owned();
        let mut overlays = Vec::new();
        let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
        let mut names: Vec<(String, PathBuf)> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter_map(|p| {
                let file = p.file_name()?.to_str()?;
                let env = file.strip_prefix(&stem)?.strip_prefix('.')?.strip_suffix(".toml")?;
                // Named like the base (same directory prefix), so messages read alike.
                (!env.is_empty() && !env.contains('.')).then(|| (env.to_owned(), base.with_file_name(file)))
            })
            .collect();
        names.sort();
        for (env, path) in names {
            let t = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
            overlays.push((env, SourceFile::new(display(&path), t, 0)));
        }
        let base_src = SourceFile::new(display(base), text, 0);
        let mut project = Self::from_sources(base_src, overlays, None, dir);
        // The bundle config, if the base names one: read it, or report why not at the key.
        let key = FieldPath::root().key("bundle_config");
        if let Some(Value::String(rel)) = project.base.root.get("bundle_config") {
            let path = dir.join(rel);
            let origin = project.base.origin(&key);
            let diag = match std::fs::read_to_string(&path) {
                Ok(t) => {
                    let bdir = path.parent().unwrap_or(Path::new("."));
                    match BundleTargets::from_toml(&t, bdir, &display(&path)) {
                        Ok(b) => {
                            project.bundle = Some(b);
                            None
                        }
                        Err(d) => Some(*d),
                    }
                }
                Err(e) => Some(Diagnostic::new(
                    Some(origin),
                    Some(key),
                    format!("bundle config {} cannot be read: {e}", path.display()),
                )),
            };
            if let Some(d) = diag {
                project.file_diags.entry(None).or_default().push(d);
            }
        }
        Ok(project)
    }

    /// The environments, by name.
    pub fn environments(&self) -> Vec<&str> {
        self.overlays.keys().map(String::as_str).collect()
    }

    /// The ao-bundle targets, if known.
    pub fn bundle(&self) -> Option<&BundleTargets> {
        self.bundle.as_ref()
    }

    /// The directory `file:` secrets are relative to.
    pub fn base_dir(&self) -> &Path {
        &self.base_dir
    }

    /// The overlay file of `environment`: its name and text.
    pub fn overlay_source(&self, environment: &str) -> Option<&SourceFile> {
        self.overlays.get(environment).map(|l| &l.source)
    }

    fn layers(&self, environment: &str) -> Result<(&Layer, &Layer), Error> {
        let overlay = self.overlays.get(environment).ok_or_else(|| {
            Error::new(ErrorKind::UnknownEnvironment {
                name: environment.to_owned(),
                known: self.overlays.keys().cloned().collect(),
            })
        })?;
        Ok((&self.base, overlay))
    }

    /// The base file alone, merged.
    pub(crate) fn base_merged(&self) -> Merged {
        Merged::new([&self.base])
    }

    /// The overlay of `environment` as parsed.
    pub(crate) fn overlay_root(&self, environment: &str) -> Option<&BTreeMap<String, Value>> {
        self.overlays.get(environment).map(|l| &l.root)
    }

    /// The same project with `environment`'s overlay replaced by `source`.
    pub(crate) fn with_overlay(&self, environment: &str, source: SourceFile) -> Self {
        let mut source = Some(source);
        let overlays = self
            .overlays
            .iter()
            .map(|(n, l)| {
                let s = if n == environment { source.take() } else { None };
                (n.clone(), s.unwrap_or_else(|| l.source.clone()))
            })
            .collect();
        let mut p =
            Self::from_sources(self.base.source.clone(), overlays, self.bundle.clone(), &self.base_dir);
        // Keep what loading found about the base (bundle config problems).
        p.file_diags.insert(None, self.file_diags.get(&None).cloned().unwrap_or_default());
        p
    }

    /// The base merged with `environment`'s overlay, unchecked.
    pub fn merged(&self, environment: &str) -> Result<Merged, Error> {
        let (base, overlay) = self.layers(environment)?;
        Ok(Merged::new([base, overlay]))
    }

    fn build(&self, environment: &str) -> Result<(Environment, Vec<Diagnostic>), Error> {
        let merged = self.merged(environment)?;
        let mut diags = self.file_diags.get(&None).cloned().unwrap_or_default();
        let own = self.file_diags.get(&Some(environment.to_owned())).cloned().unwrap_or_default();
        let files_ok = diags.is_empty() && own.is_empty();
        diags.extend(own);
        let (env, semantic) = model::build(environment, merged, self.bundle.as_ref(), &self.base_dir);
        // Whole-environment checks read typed values: only run them on files that passed the schema.
        if files_ok {
            diags.extend(semantic);
        }
        Ok((env, diags))
    }

    /// One environment, checked: every problem of its two files at once.
    pub fn environment(&self, environment: &str) -> Result<Environment, Error> {
        let (env, diags) = self.build(environment)?;
        if diags.is_empty() {
            Ok(env)
        } else {
            Err(Error::new(ErrorKind::Config(Diagnostics(diags).sorted())))
        }
    }

    /// Checks every environment and the isolation between them: every problem
    /// of every file. `states` are the environments' state files (for process
    /// ids); environments without one are checked on config alone.
    pub fn check(&self, states: &BTreeMap<String, State>) -> Result<Vec<Environment>, Error> {
        let mut all = Vec::new();
        let mut envs = Vec::new();
        for name in self.overlays.keys() {
            let (env, diags) = self.build(name)?;
            all.extend(diags);
            envs.push(env);
        }
        all.extend(crate::isolation::check(&envs, states));
        if all.is_empty() { Ok(envs) } else { Err(Error::new(ErrorKind::Config(Diagnostics(all).sorted()))) }
    }

    /// After [`check`](Self::check): resolves every environment's wallet and
    /// secrets, and checks that no two environments use the same wallet under
    /// different references and that no config value anywhere (a process's
    /// public config above all) holds a secret's value, which ao-env would
    /// otherwise send to the process and print in plans and drift reports.
    /// Secrets never leave this call: the errors name references and places,
    /// and their excerpts are redacted.
    pub fn check_secrets(&self, envs: &[Environment], secrets: &dyn SecretResolver) -> Result<(), Error> {
        let mut diags = match self.check_wallets(envs, secrets) {
            Ok(()) => Vec::new(),
            Err(e) => match e.kind() {
                ErrorKind::Config(d) => d.0.clone(),
                _ => return Err(e),
            },
        };
        let mut resolved = Vec::new();
        for env in envs {
            for r in env.wallet.iter().chain(env.secrets.values()) {
                if !resolved.iter().any(|(seen, _)| seen == r) {
                    resolved.push((r.clone(), secrets.resolve(r)?));
                }
            }
        }
        let references = FieldPath::root().key("environment");
        for env in envs {
            for (path, history) in env.merged.leaves() {
                let Some(last) = history.last() else { continue };
                if path.starts_with(&references.key("wallet")) || path.starts_with(&references.key("secrets"))
                {
                    continue;
                }
                // Short values (a PIN) would match ordinary text; a real secret is longer.
                let Some((r, _)) = resolved
                    .iter()
                    .find(|(_, s)| s.expose().len() >= 6 && contains_text(&last.value, s.expose()))
                else {
                    continue;
                };
                let mut origin = last.origin.clone();
                origin.redact_value();
                diags.push(
                    Diagnostic::new(
                        Some(origin),
                        Some(path.clone()),
                        format!("`{path}` of `{}` holds the value of secret {r}", env.name),
                    )
                    .help(
                        "name the secret by reference in `[environment.secrets]`; config values are public",
                    ),
                );
            }
        }
        if diags.is_empty() {
            Ok(())
        } else {
            Err(Error::new(ErrorKind::Config(Diagnostics(diags).sorted())))
        }
    }

    /// Resolves every environment's wallet to make sure no two are the same key
    /// under different references (part of [`check_secrets`](Self::check_secrets)).
    /// Secrets are compared by keyed digest and never leave this call.
    pub fn check_wallets(&self, envs: &[Environment], secrets: &dyn SecretResolver) -> Result<(), Error> {
        let mut seen: Vec<(&Environment, &SecretRef, [u8; 32])> = Vec::new();
        let mut diags = Vec::new();
        for env in envs {
            let Some(wallet) = &env.wallet else { continue };
            let digest = secrets.resolve(wallet)?.fingerprint();
            let key = FieldPath::root().key("environment").key("wallet");
            for (other, other_ref, d) in &seen {
                let allowed = env.allow.share_wallet_with.contains(&other.name)
                    || other.allow.share_wallet_with.contains(&env.name);
                if *d == digest && !allowed && *other_ref != wallet {
                    let mut diag = Diagnostic::new(
                        env.origin(&key).cloned(),
                        Some(key.clone()),
                        format!(
                            "environments `{}` and `{}` use the same wallet under different references ({other_ref} and {wallet})",
                            other.name, env.name
                        ),
                    )
                    .help(format!("give each environment its own wallet, or allow it with `share_wallet_with = [\"{}\"]`", other.name));
                    if let Some(o) = other.origin(&key) {
                        diag = diag.note(o.clone(), format!("`{}` names its wallet here", other.name));
                    }
                    diags.push(diag);
                }
            }
            seen.push((env, wallet, digest));
        }
        if diags.is_empty() {
            Ok(())
        } else {
            Err(Error::new(ErrorKind::Config(Diagnostics(diags).sorted())))
        }
    }
}

/// Whether any string in `v` contains `needle`.
fn contains_text(v: &Value, needle: &str) -> bool {
    match v {
        Value::String(s) => s.contains(needle),
        Value::Array(items) => items.iter().any(|i| contains_text(i, needle)),
        Value::Table(t) => t.iter().any(|(k, i)| k.contains(needle) || contains_text(i, needle)),
        _ => false,
    }
}

fn display(p: &Path) -> String {
    p.display().to_string()
}
