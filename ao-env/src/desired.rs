//! Desired state: what every instance of an environment should be, from its
//! config and the release manifests.

use std::collections::BTreeMap;

use ao_transport::{Address, ModuleId};
use serde::Serialize;

use crate::error::{Error, ErrorKind};
use crate::model::Environment;
use crate::release::{Release, Releases};
use crate::state::InstanceKey;

/// Spawn tags ao-env sets and checks; AO fixes them at spawn, so a change
/// means a new process.
pub const SPAWN_TAGS: [&str; 10] = [
    "Name",
    "AoEnv-Game",
    "AoEnv-Environment",
    "AoEnv-Process",
    "AoEnv-Shard",
    "Authority",
    "Memory-Limit",
    "Compute-Limit",
    "Cron-Interval",
    "Cron-Tag-Action",
];

/// One instance as it should be.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DesiredInstance {
    /// Which instance.
    pub instance: InstanceKey,
    /// The module to spawn.
    pub module: ModuleId,
    /// The scheduler to spawn on.
    pub scheduler: Address,
    /// Spawn tags (names from [`SPAWN_TAGS`]), in order.
    pub tags: Vec<(String, String)>,
    /// The bundle target it runs.
    pub target: String,
    /// BLAKE3 of that target's release: the code hash `Info` must report.
    pub code_hash: String,
    /// Handlers that must be registered.
    pub handlers: Vec<String>,
    /// Its config, as the JSON object it is sent as.
    pub config: serde_json::Map<String, serde_json::Value>,
}

impl DesiredInstance {
    /// The value of spawn tag `name`, if ao-env sets it.
    pub fn tag(&self, name: &str) -> Option<&str> {
        self.tags.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Every instance of an environment, as it should be.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Desired {
    /// The environment.
    pub environment: String,
    /// Instances in order.
    pub instances: BTreeMap<InstanceKey, DesiredInstance>,
    /// The releases the instances run, by target.
    #[serde(skip)]
    pub releases: BTreeMap<String, Release>,
}

impl Desired {
    /// The desired state of `env`, with code hashes from `releases`. Fails when
    /// a target a process needs has not been built.
    pub fn new(env: &Environment, releases: &Releases) -> Result<Self, Error> {
        let mut instances = BTreeMap::new();
        let mut used = BTreeMap::new();
        for (name, spec) in &env.processes {
            let release = releases.get(&spec.target).ok_or_else(|| {
                Error::new(ErrorKind::Release {
                    target: spec.target.clone(),
                    reason: format!(
                        "not built (no manifest); process `{name}` needs it: run `ao-ops bundle`"
                    ),
                })
            })?;
            used.insert(spec.target.clone(), release.clone());
            // Config values passed the schema's JSON check; a value that still cannot
            // be written is left out rather than sent wrong.
            let config: serde_json::Map<_, _> =
                spec.config.iter().filter_map(|(k, v)| Some((k.clone(), v.to_json()?))).collect();
            for shard in 0..spec.shards {
                let key = InstanceKey::new(name, shard);
                let mut tags = vec![
                    ("Name".to_owned(), format!("{}-{}-{name}-{shard}", env.game, env.name)),
                    ("AoEnv-Game".to_owned(), env.game.clone()),
                    ("AoEnv-Environment".to_owned(), env.name.clone()),
                    ("AoEnv-Process".to_owned(), name.clone()),
                    ("AoEnv-Shard".to_owned(), shard.to_string()),
                ];
                if let Some(a) = &env.authority {
                    tags.push(("Authority".into(), a.to_string()));
                }
                if let Some(m) = spec.memory_limit {
                    tags.push(("Memory-Limit".into(), m.to_string()));
                }
                if let Some(c) = spec.compute_limit {
                    tags.push(("Compute-Limit".into(), c.to_string()));
                }
                if let Some(cron) = &spec.cron {
                    tags.push(("Cron-Interval".into(), cron.interval.clone()));
                    tags.push(("Cron-Tag-Action".into(), cron.action.clone()));
                }
                instances.insert(
                    key.clone(),
                    DesiredInstance {
                        instance: key,
                        module: spec.module.clone(),
                        scheduler: spec.scheduler.clone(),
                        tags,
                        target: spec.target.clone(),
                        code_hash: release.hash.clone(),
                        handlers: spec.handlers.clone(),
                        config: config.clone(),
                    },
                );
            }
        }
        Ok(Self { environment: env.name.clone(), instances, releases: used })
    }
}
