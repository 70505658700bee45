//! Embedded AO: an in-process, aos-compatible Lua 5.3 runtime that implements
//! [`AoTransport`](ao_transport::AoTransport).
//!
//! Each process is a sandboxed Lua 5.3 state (real Lua, vendored through mlua)
//! running a prelude written here that behaves like `aos`: `Handlers`, `ao.send`,
//! `Send`, `Spawn`, `msg.reply`, `Owner`, a bounded `Inbox`, `print` captured into
//! the result's output, an owner-only `Eval` handler, and the runtime modules
//! AO code requires (`json`, `.utils`, `.base64`, `.bint`). Messages are
//! scheduled deterministically on a virtual clock; outboxes are delivered
//! between local processes in FIFO order.
//!
//! What it gives a host:
//! - [`LocalAo`], cheap to clone, usable as `Arc<dyn AoTransport>`;
//! - per-process [`Limits`] (memory, instructions per message, inbox size): a
//!   runaway handler gets an error result and the process keeps working;
//! - dry runs that provably change nothing ([`LocalAo::simulate`]);
//! - an optional message log ([`LocalAoBuilder::log_dir`]) replayed on reopen
//!   to the same state, as AO rebuilds state from its log;
//! - seeded fault injection ([`FaultPlan`]): latency, dropped replies, retryable
//!   errors, process crashes with restart.
//!
//! What it deliberately does not do: run WASM modules, verify signatures,
//! fetch code from Arweave (`On-Boot` must be `Data`), or talk to the network.
//!
//! # Example
//!
//! ```
//! use ao_local::LocalAo;
//! use ao_transport::Message;
//!
//! let ao = LocalAo::new();
//! let pid = ao.spawn_aos(r#"
//!     Count = 0
//!     Handlers.add("Ping", { Action = "Ping" }, function(msg)
//!         Count = Count + 1
//!         msg.reply({ Action = "Pong", Data = tostring(Count) })
//!     end)
//! "#)?;
//! let (_, result) = ao.call(Message::builder(pid.clone()).tag("Action", "Ping").build()?)?;
//! assert_eq!(result.messages[0].tag("Action"), Some("Pong"));
//! assert_eq!(result.messages[0].data_str(), Some("1"));
//! assert_eq!(ao.eval(&pid, "Count")?.output, "1");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod budget;
mod error;
mod faults;
mod log;
mod modules;
mod process;
mod runtime;
mod state;

pub use error::{Error, ErrorKind};
pub use faults::{FaultPlan, FaultStats};
pub use log::{DecodedLog, Durability, decode_log};
pub use process::Limits;
pub use runtime::{LocalAo, LocalAoBuilder, ProcessInfo, ReplayReport, Stats, aos_module, local_scheduler};
