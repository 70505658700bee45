//! The [`AoTransport`] trait: the one door through which every crate reaches AO.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::error::TransportError;
use crate::id::{MessageId, ProcessId};
use crate::message::{EvalResult, Message, SpawnRequest};

/// The future every transport call returns: boxed so the trait works behind
/// `dyn`, `Send` so it runs on any executor, tied to no runtime.
pub type TransportFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, TransportError>> + Send + 'a>>;

/// A client of AO: spawns processes, sends messages, reads results, dry-runs.
///
/// Implement it over HTTP to a MU/CU/SU, `HyperBeam`, or a test double;
/// `ao-local` implements it in-process. Errors say whether a retry may help
/// ([`TransportError::is_retryable`]); see [`retry`](crate::retry) for a helper.
///
/// ```
/// use ao_transport::{AoTransport, Message, ProcessId, TransportError};
///
/// /// Pings a process and returns the reply's data.
/// async fn ping(ao: &dyn AoTransport, pid: ProcessId) -> Result<Option<String>, TransportError> {
///     let msg = Message::builder(pid).tag("Action", "Ping").build()?;
///     let (_id, result) = ao.send_and_wait(msg).await?;
///     Ok(result.messages.first().and_then(|m| m.data_str()).map(str::to_owned))
/// }
/// ```
pub trait AoTransport: Send + Sync {
    /// Spawns a process and returns its id.
    fn spawn(&self, request: SpawnRequest) -> TransportFuture<'_, ProcessId>;

    /// Sends a message (signed by the transport's wallet) and returns its id.
    fn send(&self, message: Message) -> TransportFuture<'_, MessageId>;

    /// What `message` produced when `process` evaluated it.
    fn result(&self, process: ProcessId, message: MessageId) -> TransportFuture<'_, EvalResult>;

    /// Evaluates `message` against the process's current state without keeping
    /// any effect: no state change, no outbox delivery, no new message id.
    fn dry_run(&self, message: Message) -> TransportFuture<'_, EvalResult>;

    /// Sends a message and waits for its result.
    fn send_and_wait(&self, message: Message) -> TransportFuture<'_, (MessageId, EvalResult)> {
        Box::pin(async move {
            let process = message.target().clone();
            let id = self.send(message).await?;
            let result = self.result(process, id.clone()).await?;
            Ok((id, result))
        })
    }

    /// Loads Lua code into a process with an `Action = Eval` message and returns its result.
    ///
    /// Only the process owner may Eval; the process reports anyone else's attempt as an error.
    fn eval(&self, process: ProcessId, source: String) -> TransportFuture<'_, (MessageId, EvalResult)> {
        Box::pin(async move {
            let msg = Message::builder(process).tag("Action", "Eval").data(source).build()?;
            self.send_and_wait(msg).await
        })
    }
}

macro_rules! forward {
    ($($ty:ty),*) => {$(
        impl<T: AoTransport + ?Sized> AoTransport for $ty {
            fn spawn(&self, request: SpawnRequest) -> TransportFuture<'_, ProcessId> {
                (**self).spawn(request)
            }
            fn send(&self, message: Message) -> TransportFuture<'_, MessageId> {
                (**self).send(message)
            }
            fn result(&self, process: ProcessId, message: MessageId) -> TransportFuture<'_, EvalResult> {
                (**self).result(process, message)
            }
            fn dry_run(&self, message: Message) -> TransportFuture<'_, EvalResult> {
                (**self).dry_run(message)
            }
        }
    )*};
}
forward!(&T, Box<T>, Arc<T>);
