//! Leader election on one `coordination.k8s.io/v1` Lease, so two replicas never call Alibaba Cloud
//! for the same account at once. The holder renews every `RENEW`; a standby takes over when the
//! lease has not been renewed for `LEASE`. On SIGTERM the leader lets in-flight reconciles finish,
//! then releases the lease so a standby takes over at once.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};

use crate::http::Readiness;
use crate::metrics::Metrics;

/// Lease duration: a standby waits this long after the last renewal.
pub const LEASE: Duration = Duration::from_secs(15);
/// Renewal interval of the holder.
pub const RENEW: Duration = Duration::from_secs(4);

/// A future the work must stop on (SIGTERM or lease lost).
pub type Halt = Pin<Box<dyn Future<Output = ()> + Send + Sync>>;

enum Attempt {
    Acquired,
    HeldBy(String),
}

fn now() -> MicroTime {
    MicroTime(jiff::Timestamp::now())
}

async fn try_acquire(api: &Api<Lease>, name: &str, identity: &str) -> Result<Attempt, kube::Error> {
    let lease_secs = LEASE.as_secs() as i32;
    match api.get_opt(name).await? {
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(name.to_string()),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(identity.to_string()),
                    lease_duration_seconds: Some(lease_secs),
                    acquire_time: Some(now()),
                    renew_time: Some(now()),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            api.create(&PostParams::default(), &lease).await?;
            Ok(Attempt::Acquired)
        }
        Some(mut lease) => {
            let spec = lease.spec.clone().unwrap_or_default();
            let holder = spec.holder_identity.clone().unwrap_or_default();
            let expired = match &spec.renew_time {
                None => true,
                Some(t) => {
                    let dur = spec.lease_duration_seconds.unwrap_or(lease_secs).max(1) as i64;
                    t.0.as_second() + dur < jiff::Timestamp::now().as_second()
                }
            };
            if holder == identity || holder.is_empty() || expired {
                let transitions = spec.lease_transitions.unwrap_or(0) + i32::from(holder != identity);
                lease.spec = Some(LeaseSpec {
                    holder_identity: Some(identity.to_string()),
                    lease_duration_seconds: Some(lease_secs),
                    acquire_time: if holder == identity {
                        spec.acquire_time
                    } else {
                        Some(now())
                    },
                    renew_time: Some(now()),
                    lease_transitions: Some(transitions),
                    ..Default::default()
                });
                // replace carries resourceVersion: a concurrent taker gets 409 and retries.
                api.replace(name, &PostParams::default(), &lease).await?;
                Ok(Attempt::Acquired)
            } else {
                Ok(Attempt::HeldBy(holder))
            }
        }
    }
}

async fn release(api: &Api<Lease>, name: &str, identity: &str) {
    if let Ok(Some(mut lease)) = api.get_opt(name).await {
        let mut spec = lease.spec.clone().unwrap_or_default();
        if spec.holder_identity.as_deref() == Some(identity) {
            spec.holder_identity = None;
            spec.renew_time = None;
            lease.spec = Some(spec);
            match api.replace(name, &PostParams::default(), &lease).await {
                Ok(_) => tracing::info!(lease = name, "lease released"),
                Err(e) => tracing::warn!(lease = name, error = %e, "releasing lease failed"),
            }
        }
    }
}

/// Waits for the lease, runs `work` while holding it, and returns when `stop` resolves (after
/// releasing the lease) or when the lease is lost (the work is stopped first).
#[allow(clippy::too_many_arguments)]
pub async fn run_as_leader<F, Fut>(
    client: Client,
    namespace: &str,
    name: &str,
    identity: &str,
    metrics: Arc<Metrics>,
    readiness: Arc<Readiness>,
    stop: impl Future<Output = ()> + Send + 'static,
    work: F,
) where
    F: FnOnce(Halt) -> Fut,
    Fut: Future<Output = ()>,
{
    let api: Api<Lease> = Api::namespaced(client, namespace);
    let (halt_tx, halt_rx) = tokio::sync::watch::channel(false);
    let stop_tx = halt_tx.clone();
    let stopping = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopping2 = stopping.clone();
    tokio::spawn(async move {
        stop.await;
        stopping2.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = stop_tx.send(true);
    });
    // Standby until acquired.
    let mut last_holder = String::new();
    loop {
        if *halt_rx.borrow() {
            return;
        }
        match try_acquire(&api, name, identity).await {
            Ok(Attempt::Acquired) => break,
            Ok(Attempt::HeldBy(h)) => {
                if h != last_holder {
                    tracing::info!(lease = name, holder = %h, "standby: another replica leads");
                    last_holder = h;
                }
                readiness.set(true, "standby: another replica holds the leader lease");
            }
            Err(e) => tracing::warn!(lease = name, error = %e, "leader election: lease not acquired"),
        }
        let mut rx = halt_rx.clone();
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = rx.wait_for(|v| *v) => return,
        }
    }
    tracing::info!(lease = name, identity, "leader lease acquired");
    metrics.leader.set(1);
    // Renew in the background; a failed renewal for longer than the lease stops the work.
    let renew_api = api.clone();
    let (name_s, id_s) = (name.to_string(), identity.to_string());
    let renew_halt = halt_tx.clone();
    let mut renew_rx = halt_rx.clone();
    let renewer = tokio::spawn(async move {
        let mut last_ok = std::time::Instant::now();
        loop {
            tokio::select! {
                () = tokio::time::sleep(RENEW) => {}
                _ = renew_rx.wait_for(|v| *v) => return,
            }
            match try_acquire(&renew_api, &name_s, &id_s).await {
                Ok(Attempt::Acquired) => last_ok = std::time::Instant::now(),
                Ok(Attempt::HeldBy(h)) => {
                    tracing::error!(lease = %name_s, holder = %h, "leader lease lost to another replica; stopping");
                    let _ = renew_halt.send(true);
                    return;
                }
                Err(e) => {
                    tracing::warn!(lease = %name_s, error = %e, "lease renewal failed");
                    if last_ok.elapsed() > LEASE - RENEW {
                        tracing::error!(lease = %name_s, "lease not renewed in time; stopping");
                        let _ = renew_halt.send(true);
                        return;
                    }
                }
            }
        }
    });
    let mut rx = halt_rx.clone();
    let halt: Halt = Box::pin(async move {
        let _ = rx.wait_for(|v| *v).await;
    });
    work(halt).await;
    let _ = halt_tx.send(true);
    let _ = renewer.await;
    metrics.leader.set(0);
    if stopping.load(std::sync::atomic::Ordering::SeqCst) {
        release(&api, name, identity).await;
    }
}
