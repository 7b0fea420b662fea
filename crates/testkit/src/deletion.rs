//! `AccountDeletion` objects as the tests see them: the manifest users write, creating it, its
//! typed status (`account_deletion_operator::crd::AccountDeletionStatus`) and conditions, its
//! Events and audit record, and a background [`Recorder`] of the phases and errors it shows.
//!
//! ```text
//! let api = deletion::create(&k, "ns", "legacy", deletion::spec(ID, "legacy", Mode::Plan, emu.url(), json!({}))).await;
//! let st = support::wait::wait_phase(&api, "legacy", Phase::Planned, 60).await;
//! assert_eq!(deletion::truth(&st, "Ready"), Some(Truth::True));
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use account_deletion_operator::controller::conditions::Truth;
use account_deletion_operator::crd::{
    AccountDeletion, AccountDeletionStatus, AlibabaErrorStatus, Mode, Phase,
};
use k8s_openapi::api::core::v1::{ConfigMap, Event};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::api::{Api, ListParams, PostParams};
use serde_json::{Value, json};

use crate::KubeCluster;

/// `apiVersion` of the project's custom resources.
pub const API_VERSION: &str = "accountdeletion.dev/v1alpha1";

/// The spec most tests write: member `account` whose display name is `display`, the credentials
/// Secret `mgmt`, `mode`, `endpoint`; `extra` is merged on top ([`merge`]).
pub fn spec(account: &str, display: &str, mode: Mode, endpoint: &str, extra: Value) -> Value {
    let mut s = json!({
        "accountId": account, "accountDisplayName": display, "mode": mode.as_str(),
        "credentialsSecretRef": { "name": "mgmt" }, "endpoint": endpoint,
    });
    merge(&mut s, extra);
    s
}

/// The whole manifest of `name` with `spec`, as JSON (for objects the typed spec cannot hold).
pub fn manifest(name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": API_VERSION, "kind": "AccountDeletion",
        "metadata": { "name": name }, "spec": spec,
    })
}

/// Creates `ns/name` with `spec` through the typed API; the typed API of `ns`. Panics when the
/// spec does not fit the type or the API server refuses the object.
pub async fn create(k: &KubeCluster, ns: &str, name: &str, spec: Value) -> Api<AccountDeletion> {
    let api = k.deletions(ns);
    let obj: AccountDeletion = serde_json::from_value(manifest(name, spec))
        .unwrap_or_else(|e| panic!("AccountDeletion {ns}/{name} from JSON: {e}"));
    api.create(&PostParams::default(), &obj)
        .await
        .unwrap_or_else(|e| panic!("create AccountDeletion {ns}/{name}: {e}"));
    api
}

/// Deep merge: objects key by key, anything else replaced by `over`.
pub fn merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                merge(b.entry(k).or_insert(Value::Null), v);
            }
        }
        (b, o) => *b = o,
    }
}

/// The typed status of `name`; `None` while it has none or the API server cannot be reached.
pub async fn status(api: &Api<AccountDeletion>, name: &str) -> Option<AccountDeletionStatus> {
    api.get(name).await.ok()?.status
}

/// Condition `type_` (`Ready`, `Stalled`, `RamEmpty`, `DeletionAllowed`, `Deleted`, ...).
pub fn condition<'a>(st: &'a AccountDeletionStatus, type_: &str) -> Option<&'a Condition> {
    st.conditions.iter().find(|c| c.type_ == type_)
}

/// The status of condition `type_` as the operator's [`Truth`]; `None` when it is absent (or says
/// something Kubernetes does not define).
pub fn truth(st: &AccountDeletionStatus, type_: &str) -> Option<Truth> {
    match condition(st, type_)?.status.as_str() {
        "True" => Some(Truth::True),
        "False" => Some(Truth::False),
        "Unknown" => Some(Truth::Unknown),
        _ => None,
    }
}

/// The reason of condition `type_`.
pub fn reason<'a>(st: &'a AccountDeletionStatus, type_: &str) -> Option<&'a str> {
    condition(st, type_).map(|c| c.reason.as_str())
}

/// Whether the ResourceManager deletion pre-check has finished (`deletionCheck.status`
/// `PreCheckComplete`).
pub fn pre_check_complete(st: &AccountDeletionStatus) -> bool {
    st.deletion_check
        .as_ref()
        .is_some_and(|c| c.status == "PreCheckComplete")
}

/// The Events of namespace `ns` about the object `name`.
pub async fn events_for(k: &KubeCluster, ns: &str, name: &str) -> Result<Vec<Event>, kube::Error> {
    let api: Api<Event> = Api::namespaced(k.client(), ns);
    Ok(api
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|e| e.involved_object.name.as_deref() == Some(name))
        .collect())
}

/// Every line of `ns/name`'s audit record, oldest first: its chunk ConfigMaps in the order the
/// head lists them, then the head's own `audit.log`; and the head's data (counts, `chunks`).
/// Empty when there is no record yet.
pub async fn audit_record(k: &KubeCluster, ns: &str, name: &str) -> (Vec<String>, BTreeMap<String, String>) {
    let api: Api<ConfigMap> = Api::namespaced(k.client(), ns);
    let head = api
        .get_opt(&format!("{name}-audit"))
        .await
        .unwrap_or_else(|e| panic!("audit ConfigMap {ns}/{name}-audit: {e}"));
    let Some(head) = head else {
        return (Vec::new(), BTreeMap::new());
    };
    let data = head.data.unwrap_or_default();
    let chunks: Vec<Value> = serde_json::from_str(data.get("chunks").map_or("[]", String::as_str))
        .unwrap_or_else(|e| panic!("audit ConfigMap {ns}/{name}-audit: unreadable chunks: {e}"));
    let mut lines = Vec::new();
    for c in &chunks {
        let chunk = c["name"].as_str().unwrap_or_default();
        let cm = api
            .get(chunk)
            .await
            .unwrap_or_else(|e| panic!("audit chunk {ns}/{chunk}: {e}"));
        let log = cm
            .data
            .unwrap_or_default()
            .remove("audit.log")
            .unwrap_or_default();
        lines.extend(log.lines().map(str::to_string));
    }
    lines.extend(
        data.get("audit.log")
            .map_or("", String::as_str)
            .lines()
            .map(str::to_string),
    );
    (lines, data)
}

/// The whole audit record of `ns/name` ([`audit_record`]) as `audit.log` text; panics when the
/// head ConfigMap `ns/<name>-audit` is missing.
pub async fn audit_log(k: &KubeCluster, ns: &str, name: &str) -> String {
    let (lines, head) = audit_record(k, ns, name).await;
    assert!(!head.is_empty(), "audit ConfigMap {ns}/{name}-audit is missing");
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// Rank of `phase` on the way to `Deleted` (`Planned` 0 ... `Deleted` 5, as
/// [`Phase::rank`]); `None` for the side states a deletion need not pass (`Blocked`, `Failed`,
/// `SilencePeriod`).
pub fn walk_rank(phase: Phase) -> Option<u8> {
    match phase {
        Phase::Blocked | Phase::Failed | Phase::SilencePeriod => None,
        p => Some(p.rank()),
    }
}

/// Panics unless every recorded phase is on the way to `Deleted` ([`walk_rank`]) and the status
/// never moved backwards.
pub fn assert_monotonic(phases: &[Phase]) {
    let mut last = 0;
    for &p in phases {
        let r = walk_rank(p).unwrap_or_else(|| panic!("unexpected phase {p:?} in {phases:?}"));
        assert!(r >= last, "status went backwards to {p:?}: {phases:?}");
        last = r;
    }
}

/// Records, in the background, every phase and every `lastError` the status of one object shows
/// (each once per change); stops when dropped.
pub struct Recorder {
    phases: Arc<Mutex<Vec<Phase>>>,
    errors: Arc<Mutex<Vec<AlibabaErrorStatus>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Recorder {
    /// Starts polling the status of `name` every 100 ms.
    pub fn start(api: &Api<AccountDeletion>, name: &str) -> Recorder {
        let phases = Arc::new(Mutex::new(Vec::new()));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let (p, e, api, name) = (phases.clone(), errors.clone(), api.clone(), name.to_string());
        let task = tokio::spawn(async move {
            loop {
                if let Ok(Some(st)) = tokio::time::timeout(Duration::from_secs(3), status(&api, &name)).await
                {
                    if let Some(ph) = st.phase {
                        let mut v = p.lock().unwrap();
                        if v.last() != Some(&ph) {
                            v.push(ph);
                        }
                    }
                    if let Some(err) = st.last_error {
                        let mut v = e.lock().unwrap();
                        if v.last() != Some(&err) {
                            v.push(err);
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Recorder { phases, errors, task }
    }

    /// The phases seen so far, in order.
    pub fn phases(&self) -> Vec<Phase> {
        self.phases.lock().unwrap().clone()
    }

    /// The `lastError`s seen so far, in order.
    pub fn errors(&self) -> Vec<AlibabaErrorStatus> {
        self.errors.lock().unwrap().clone()
    }

    /// The phase seen last.
    pub fn latest(&self) -> Option<Phase> {
        self.phases.lock().unwrap().last().copied()
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}
