//! Shared by the integration tests: the arena's real environment files and its
//! real bundles, built by ao-bundle into a temporary directory.

#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};

use ao_env::{Project, Releases};

pub fn arena_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/arena")
}

pub fn project() -> Project {
    Project::load(&arena_dir().join("ao-env.toml")).unwrap()
}

/// Builds both arena targets into `out` and returns their releases.
pub fn build_releases(project: &Project, out: &Path) -> Releases {
    let mut config = ao_bundle::Config::load(&arena_dir().join("ao-bundle.toml")).unwrap();
    config.out_dir = out.to_path_buf();
    config.cache_dir = None;
    ao_bundle::Bundler::new().build_targets(&config, &[]).unwrap();
    let mut targets = project.bundle().unwrap().clone();
    targets.out_dir = out.to_path_buf();
    targets.releases().unwrap()
}
