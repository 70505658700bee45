//! Criterion benches for the ao-ops workspace; see `benches/`.
//!
//! Run them with `cargo bench -p ao-ops-benches`. Each bench times an ao-ops
//! operation beside a named peer or a physical floor in the same run, so the
//! figures can be compared on any machine.
