#!/usr/bin/env bash
# Runs the ao-bundle bench beside darklua, installing darklua first if it is
# missing (it is a peer to measure against, never a dependency).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v darklua >/dev/null || cargo install darklua --locked
cargo bench -p ao-ops-benches --bench bundle "$@"
