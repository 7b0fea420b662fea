//! The audit journal seam: what the executor needs so that no mutating call is ever sent without a
//! durable trace. Write-ahead: the intent of a batch of calls is made durable *before* any of them
//! is sent; each result is recorded when it arrives (and flushed within a bounded delay). If the
//! process dies between a call and the flush of its result, the intent survives and a later pass
//! marks it `UNKNOWN`; the per-call log line written at once carries the RequestId.
//!
//! The Kubernetes implementation (ConfigMaps) lives in `controller::audit`; this module knows no
//! Kubernetes.

use futures::future::BoxFuture;

use super::execute::AuditEntry;

/// A call about to be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallIntent {
    /// API action (`DeleteUser`).
    pub action: String,
    /// Target in plain words (`alice`, `alice/LTAI…`).
    pub target: String,
}

/// Identifies one intent line, to record its result.
pub type IntentId = u64;

/// The result written for an intent whose call was never sent (the pass stopped first).
pub const NOT_SENT: &str = "NOT_SENT";

/// A durable record of mutating calls.
pub trait Journal: Send + Sync {
    /// Makes the intent of `calls` durable; returns their ids once it is. An error means nothing
    /// may be sent.
    fn intend<'a>(&'a self, calls: &'a [CallIntent]) -> BoxFuture<'a, Result<Vec<IntentId>, String>>;

    /// Records how the call `id` ended; durable within the journal's flush interval, at the latest
    /// at [`Journal::flush`].
    fn record(&self, id: IntentId, entry: &AuditEntry);

    /// Makes everything recorded so far durable.
    fn flush(&self) -> BoxFuture<'_, Result<(), String>>;
}
