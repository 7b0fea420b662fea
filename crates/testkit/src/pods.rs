//! Watching the operator's own Deployment and pods on a [`super::KubeNode`]: rollouts, the Lease
//! holder, and each pod's /metrics (hostNetwork pods serve on their node's loopback address).

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use kube::api::{Api, ListParams};

use super::wait_for;

pub use crate::metrics::metric_sum;

/// Pods of Helm release `release` (label `app.kubernetes.io/instance`), terminating ones included.
pub async fn release_pods(client: &Client, ns: &str, release: &str) -> Vec<Pod> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    api.list(&ListParams::default().labels(&format!("app.kubernetes.io/instance={release}")))
        .await
        .map(|l| l.items)
        .unwrap_or_default()
}

/// Whether `pod` is Running with every container ready and not being deleted.
pub fn is_ready(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none()
        && pod.status.as_ref().is_some_and(|s| {
            s.phase.as_deref() == Some("Running")
                && s.conditions
                    .as_ref()
                    .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        })
}

/// The image of a pod's first container.
pub fn image_of(pod: &Pod) -> String {
    pod.spec
        .as_ref()
        .and_then(|s| s.containers.first())
        .and_then(|c| c.image.clone())
        .unwrap_or_default()
}

/// Waits until Deployment `ns/name` has rolled out completely: its controller saw the latest
/// spec, `replicas` pods are updated, ready and available (condition Available=True), and the
/// release's pods are exactly `replicas` ready pods running `image` (no old pod left, not even a
/// terminating one). Returns those pods.
pub async fn wait_rollout(
    client: &Client,
    ns: &str,
    name: &str,
    release: &str,
    image: &str,
    replicas: i32,
    timeout: Duration,
) -> Vec<Pod> {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    wait_for(
        &format!("Deployment {ns}/{name} rolled out with {replicas} ready pod(s) of {image}"),
        timeout,
        Duration::from_millis(500),
        || {
            let deployments = deployments.clone();
            async move {
                let d = deployments.get(name).await.map_err(|e| e.to_string())?;
                let st = d.status.clone().unwrap_or_default();
                let generation = d.metadata.generation.unwrap_or(0);
                let available = st
                    .conditions
                    .as_ref()
                    .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Available" && c.status == "True"));
                let pods = release_pods(client, ns, release).await;
                let ready_new = pods
                    .iter()
                    .filter(|p| is_ready(p) && image_of(p) == image)
                    .count();
                let done = st.observed_generation.unwrap_or(0) >= generation
                    && st.updated_replicas == Some(replicas)
                    && st.ready_replicas == Some(replicas)
                    && st.available_replicas == Some(replicas)
                    && st.unavailable_replicas.unwrap_or(0) == 0
                    && available
                    && pods.len() == replicas as usize
                    && ready_new == replicas as usize;
                if done {
                    Ok(pods)
                } else {
                    let seen: Vec<String> = pods
                        .iter()
                        .map(|p| {
                            format!(
                                "{} ready={} image={} deleting={}",
                                p.metadata.name.clone().unwrap_or_default(),
                                is_ready(p),
                                image_of(p),
                                p.metadata.deletion_timestamp.is_some()
                            )
                        })
                        .collect();
                    Err(format!("deployment status {st:?}; pods {seen:?}"))
                }
            }
        },
    )
    .await
}

/// The holder of Lease `ns/name`, if any.
pub async fn lease_holder(client: &Client, ns: &str, name: &str) -> Option<String> {
    let api: Api<Lease> = Api::namespaced(client.clone(), ns);
    api.get(name).await.ok()?.spec?.holder_identity
}

/// `http://<pod IP>:<port>/metrics` of a hostNetwork pod (its node's loopback address).
pub async fn metrics_of(pod: &Pod, port: u16) -> String {
    let ip = pod
        .status
        .as_ref()
        .and_then(|s| s.pod_ip.clone())
        .unwrap_or_else(|| panic!("pod {:?} has no IP", pod.metadata.name));
    assert!(
        ip.starts_with("127."),
        "a hostNetwork pod on a test node has a loopback IP, not {ip}"
    );
    let (status, body) = super::http_get(&format!("http://{ip}:{port}/metrics")).await;
    assert_eq!(status, 200, "GET /metrics of {:?}: {body}", pod.metadata.name);
    body
}
