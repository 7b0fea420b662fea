//! Polling with a deadline and a useful failure message.

use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;

use account_deletion_operator::crd::{AccountDeletion, AccountDeletionStatus, Phase};

/// What one poll of [`wait_for`] observed: done with a value, or not yet (with a description of what
/// was seen, shown in the panic if time runs out).
///
/// Implemented for `Option<T>` (`None` = not yet) and `Result<T, E: Debug>` (`Err(observed)` = not
/// yet), so a closure can return `Err(obj.status)` to have the last status in the failure message.
pub trait Check<T> {
    /// `Ok(value)` when done, `Err(description of the last observation)` otherwise.
    fn check(self) -> Result<T, String>;
}

impl<T> Check<T> for Option<T> {
    fn check(self) -> Result<T, String> {
        self.ok_or_else(|| "None".to_string())
    }
}

impl<T, E: Debug> Check<T> for Result<T, E> {
    fn check(self) -> Result<T, String> {
        self.map_err(|e| format!("{e:#?}"))
    }
}

/// Calls `f` every `poll` until it reports done, and returns that value. Panics after `timeout`
/// with `what` and the last observation. Each attempt is itself bounded by the remaining time (at
/// least 2 s), so a request hanging on a dead server cannot outlive the deadline by much.
pub async fn wait_for<T, O, F, Fut>(what: &str, timeout: Duration, poll: Duration, mut f: F) -> T
where
    O: Check<T>,
    F: FnMut() -> Fut,
    Fut: Future<Output = O>,
{
    let start = tokio::time::Instant::now();
    let deadline = start + timeout;
    let mut last = String::from("(no attempt finished)");
    let mut attempts = 0u32;
    loop {
        let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
        attempts += 1;
        // The last attempt still gets a fair 2 s even when the deadline is nearer.
        match tokio::time::timeout(remaining.max(Duration::from_secs(2)), f()).await {
            Ok(o) => match o.check() {
                Ok(v) => return v,
                Err(seen) => last = seen,
            },
            Err(_) => last = format!("attempt {attempts} still running at the deadline; before: {last}"),
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            panic!(
                "timed out after {:?} ({attempts} attempts) waiting for {what}; last observed:\n{last}",
                start.elapsed()
            );
        }
        tokio::time::sleep(poll.min(deadline - now)).await;
    }
}

/// Polls the `AccountDeletion` `name` until its typed status satisfies `pred` (`what` names the
/// wait in the failure message, with the last status seen), and returns that status.
pub async fn wait_status(
    api: &kube::Api<AccountDeletion>,
    name: &str,
    what: &str,
    secs: u64,
    pred: impl Fn(&AccountDeletionStatus) -> bool,
) -> AccountDeletionStatus {
    wait_for(
        what,
        Duration::from_secs(secs),
        Duration::from_millis(200),
        || {
            let (api, pred) = (api.clone(), &pred);
            async move {
                match api.get(name).await {
                    Err(e) => Err(format!("GET {name}: {e}")),
                    Ok(o) => match o.status {
                        None => Err(format!("{name} has no status yet")),
                        Some(s) if pred(&s) => Ok(s),
                        Some(s) => Err(format!("{s:#?}")),
                    },
                }
            }
        },
    )
    .await
}

/// [`wait_status`] until `name` is in `phase`.
pub async fn wait_phase(
    api: &kube::Api<AccountDeletion>,
    name: &str,
    phase: Phase,
    secs: u64,
) -> AccountDeletionStatus {
    wait_status(api, name, &format!("{name} in phase {phase:?}"), secs, |s| {
        s.phase == Some(phase)
    })
    .await
}

/// [`wait_phase`] `Deleted`, then asserts that ResourceManager reported the deletion a `Success`.
pub async fn wait_deleted(api: &kube::Api<AccountDeletion>, name: &str, secs: u64) -> AccountDeletionStatus {
    let st = wait_phase(api, name, Phase::Deleted, secs).await;
    assert_deletion_success(&st);
    st
}

/// Panics unless `status.deletion.status` is `Success`.
pub fn assert_deletion_success(st: &AccountDeletionStatus) {
    assert_eq!(
        st.deletion.as_ref().map(|d| d.status.as_str()),
        Some("Success"),
        "{st:#?}"
    );
}
