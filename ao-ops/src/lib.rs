//! The `ao-ops` command line, as a library so tests and other tools reuse its parts.
//!
//! - [`arena`]: the example arena game (`examples/arena`), embedded, and how to
//!   load it into a process module by module.
//! - [`demo`]: `ao-ops demo`, which plays the arena on the embedded `ao-local`.
//! - [`bundling`]: `ao-ops bundle` and `ao-ops verify` over `ao-bundle`.
//! - [`deploying`]: `ao-ops deploy|rollback|promote|pause|resume|abort|history` over `ao-deploy`.
//! - [`environments`]: `ao-ops env check|explain|drift|plan|apply|teardown|consistency|sync` over `ao-env`.

pub mod arena;
pub mod bundling;
pub mod demo;
pub mod deploying;
pub mod environments;
