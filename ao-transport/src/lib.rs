//! AO wire types and the [`AoTransport`] trait: the boundary between ao-ops and AO.
//!
//! Every ao-ops crate reaches AO only through [`AoTransport`], so a host plugs in
//! its own client (HTTP to a MU/CU/SU, `HyperBeam`, a test double) and `ao-local`
//! serves as the embedded default. This crate is deliberately tiny: wire types
//! with validated constructors, the trait, error classes, and a deterministic
//! retry helper. It does no IO and depends on no async runtime.
//!
//! - Ids ([`ProcessId`], [`MessageId`], [`ModuleId`], [`Address`]) are 43-character
//!   base64url strings, checked on parse.
//! - [`Message`] and [`SpawnRequest`] enforce the ANS-104 limits: at most 128
//!   tags, names of at most 1024 bytes, values of at most 3072 bytes.
//! - [`TransportError`] says whether a failure is retryable (timeout, 5xx, rate
//!   limit) or final (rejected, not found, unauthorized, evaluation error).
//! - [`retry::retry`] retries only retryable failures, with exponential backoff,
//!   jitter and a deadline; clock and randomness are injected.
//!
//! # Example
//!
//! ```
//! use ao_transport::{Message, ProcessId, ValidationErrorKind};
//!
//! let pid: ProcessId = "ZTmNDGBvFmmJiMh1yYJyHGUXB6jl2aRgRqzEcxQvZhQ".parse()?;
//! let eval = Message::builder(pid.clone())
//!     .tag("Action", "Eval")
//!     .data("Counter = (Counter or 0) + 1")
//!     .build()?;
//! assert_eq!(eval.tag("Action"), Some("Eval"));
//!
//! let err = Message::builder(pid).tag("Note", "x".repeat(4000)).build().unwrap_err();
//! assert!(matches!(err.kind(), ValidationErrorKind::TagValueTooLong { len: 4000, .. }));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod b64;
mod error;
mod id;
mod message;
pub mod retry;
mod transport;

pub use error::{TransportError, TransportErrorKind, ValidationError, ValidationErrorKind};
pub use id::{Address, ID_LEN, MessageId, ModuleId, ProcessId};
pub use message::{
    EvalResult, MAX_ANCHOR_BYTES, MAX_TAG_NAME_BYTES, MAX_TAG_VALUE_BYTES, MAX_TAGS, Message, MessageBuilder,
    OutboxMessage, OutboxSpawn, SpawnRequest, Tag, tag_value, validate_tags,
};
pub use transport::{AoTransport, TransportFuture};
