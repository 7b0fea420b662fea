//! The audit record: every mutating call the operator sends for an `AccountDeletion`, with time,
//! action, target, result and Alibaba RequestId, in ConfigMaps next to the object, for compliance
//! reviews and ActionTrail lookups. It implements [`Journal`] (write-ahead, see `plan::journal`):
//!
//! - `<name>-audit` (the head) holds the newest lines. A line is written with result `SENT`
//!   *before* its call is sent (intents are batched: one write per batch of ready calls), and
//!   rewritten with the result once it arrives: results are flushed at most
//!   [`JournalConfig::flush_interval`] later and at the end of every pass. A later pass turns
//!   `SENT` lines left by a process that died into `UNKNOWN` (the call may or may not have run; the
//!   next inventory shows the account as it is, and the operator's log has the RequestId of every
//!   answer, written the moment it arrived).
//! - When the head outgrows [`JournalConfig::chunk_bytes`], its finished lines move to a chunk
//!   ConfigMap `<name>-audit-<slot>`; slots form a ring of [`JournalConfig::max_chunks`]. When the
//!   ring is full, the oldest chunk is overwritten and its lines are kept as counts per action and
//!   result (`summarised`, `dropped` in the head): the record is bounded and says what it left out.
//! - The record outlives its `AccountDeletion` (auditors need it after the account is gone) unless
//!   `spec.audit.deleteWithObject` is true: then every ConfigMap carries an owner reference and the
//!   garbage collector removes it with the object.
//!
//! Writes are conditional (create-only, or replace at a resourceVersion); a conflict (another
//! writer, e.g. a replica that just lost leadership) reloads the head and merges by line id.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client, Resource, ResourceExt};
use serde::{Deserialize, Serialize};

use crate::crd::AccountDeletion;
use ado_core::execute::AuditEntry;
use ado_core::journal::{CallIntent, IntentId, Journal};

/// Result of an intent whose call was sent but whose answer was never recorded.
pub const UNKNOWN: &str = "UNKNOWN";
/// Result of an intent whose answer is not in yet.
pub const SENT: &str = "SENT";
/// Column names of `audit.log`.
pub const FORMAT: &str = "time action target result requestId lineId";

/// Sizes and timing of the record.
#[derive(Debug, Clone)]
pub struct JournalConfig {
    /// Bytes of lines in the head before finished lines move to a chunk.
    pub chunk_bytes: usize,
    /// Chunk ConfigMaps kept (a ring); older lines are summarised as counts.
    pub max_chunks: usize,
    /// Longest delay before a result is written.
    pub flush_interval: Duration,
}

impl Default for JournalConfig {
    fn default() -> Self {
        JournalConfig {
            chunk_bytes: 32 * 1024,
            max_chunks: 256,
            flush_interval: Duration::from_secs(1),
        }
    }
}

/// The head ConfigMap's name for an object.
#[must_use]
pub fn name_for(obj: &AccountDeletion) -> String {
    format!("{}-audit", obj.name_any())
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Line {
    id: String,
    time: String,
    action: String,
    target: String,
    result: String,
    request_id: Option<String>,
}

impl Line {
    /// Bytes of [`Line::render`], without rendering.
    fn rendered_len(&self) -> usize {
        let rid = self.request_id.as_deref().map_or(1, str::len);
        self.time.len() + self.action.len() + self.target.len() + self.result.len() + rid + self.id.len() + 6
    }

    fn render(&self) -> String {
        format!(
            "{} {} {} {} {} {}\n",
            self.time,
            self.action,
            self.target,
            self.result,
            self.request_id.as_deref().unwrap_or("-"),
            self.id
        )
    }

    fn parse(text: &str) -> Option<Line> {
        let f: Vec<&str> = text.split(' ').collect();
        if f.len() < 5 {
            return None;
        }
        // Lines written before line ids existed have five fields.
        let id = f.get(5).map_or_else(String::new, |s| (*s).to_string());
        Some(Line {
            time: f[0].into(),
            action: f[1].into(),
            target: f[2].into(),
            result: f[3].into(),
            request_id: Some(f[4]).filter(|r| *r != "-").map(str::to_string),
            id,
        })
    }
}

/// One chunk slot of the ring, as the head describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ChunkInfo {
    name: String,
    seq: u64,
    lines: u64,
    counts: BTreeMap<String, u64>,
}

#[derive(Debug, Default)]
struct State {
    exists: bool,
    resource_version: Option<String>,
    lines: Vec<Line>,
    index: HashMap<String, usize>,
    calls: u64,
    dropped: u64,
    unknown: u64,
    summarised: BTreeMap<String, u64>,
    chunks: Vec<ChunkInfo>,
    next_chunk: u64,
    dirty: bool,
}

impl State {
    fn reindex(&mut self) {
        self.index = self
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| (l.id.clone(), i))
            .collect();
    }

    fn load(&mut self, cm: &ConfigMap) {
        let data = cm.data.clone().unwrap_or_default();
        let num = |k: &str| data.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        self.exists = true;
        self.resource_version = cm.resource_version();
        self.lines = data
            .get("audit.log")
            .map(|l| l.lines().filter_map(Line::parse).collect())
            .unwrap_or_default();
        self.calls = num("calls");
        self.dropped = num("dropped");
        self.unknown = num("unknown");
        self.next_chunk = num("nextChunk");
        self.summarised = data
            .get("summarised")
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default();
        self.chunks = data
            .get("chunks")
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default();
        self.reindex();
    }

    fn head_bytes(&self) -> usize {
        self.lines.iter().map(Line::rendered_len).sum()
    }
}

fn count_key(l: &Line) -> String {
    format!("{} {}", l.action, l.result)
}

struct Inner {
    api: Api<ConfigMap>,
    head: String,
    account_id: String,
    uid: String,
    owner: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference>,
    pass: String,
    next_id: AtomicU64,
    cfg: JournalConfig,
    state: Mutex<State>,
    write: tokio::sync::Mutex<()>,
    writes: prometheus_client::metrics::counter::Counter,
}

/// The ConfigMap-backed [`Journal`] of one `AccountDeletion`; flushes results in the background
/// every [`JournalConfig::flush_interval`] while it lives.
pub struct KubeJournal {
    inner: Arc<Inner>,
    ticker: tokio::task::JoinHandle<()>,
}

impl Drop for KubeJournal {
    fn drop(&mut self) {
        self.ticker.abort();
    }
}

fn is_status(e: &kube::Error, code: u16) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == code)
}

impl KubeJournal {
    /// Opens the record of `obj` (creating nothing yet) and closes intents a dead process left
    /// open as `UNKNOWN`. `writes` counts every ConfigMap write.
    ///
    /// # Errors
    /// The API server refused the read.
    pub async fn open(
        client: &Client,
        obj: &AccountDeletion,
        cfg: JournalConfig,
        writes: prometheus_client::metrics::counter::Counter,
    ) -> Result<Arc<KubeJournal>, kube::Error> {
        let ns = obj.namespace().unwrap_or_else(|| "default".into());
        let api: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
        let head = name_for(obj);
        let mut state = State::default();
        if let Some(cm) = api.get_opt(&head).await? {
            state.load(&cm);
        }
        let mut closed = 0;
        for l in &mut state.lines {
            if l.result == SENT {
                l.result = UNKNOWN.into();
                closed += 1;
            }
        }
        if closed > 0 {
            state.unknown += closed;
            state.dirty = true;
            tracing::warn!(namespace = %ns, name = %obj.name_any(), calls = closed,
                "audit record: calls sent by a process that ended before their answer was recorded are marked UNKNOWN");
        }
        let inner = Arc::new(Inner {
            api,
            head,
            account_id: obj.spec.account_id.clone(),
            uid: obj.uid().unwrap_or_default(),
            owner: obj
                .spec
                .audit
                .delete_with_object
                .then(|| obj.controller_owner_ref(&()))
                .flatten(),
            pass: uuid::Uuid::new_v4().simple().to_string()[..8].to_string(),
            next_id: AtomicU64::new(1),
            cfg,
            state: Mutex::new(state),
            write: tokio::sync::Mutex::new(()),
            writes,
        });
        let weak: Weak<Inner> = Arc::downgrade(&inner);
        let interval = inner.cfg.flush_interval;
        let ticker = tokio::spawn(async move {
            loop {
                tokio::time::sleep(interval).await;
                let Some(inner) = weak.upgrade() else { return };
                let dirty = inner.state.lock().map(|s| s.dirty).unwrap_or(false);
                if dirty && let Err(e) = inner.flush().await {
                    tracing::warn!(record = %inner.head, error = %e, "audit record flush failed; retrying");
                }
            }
        });
        Ok(Arc::new(KubeJournal { inner, ticker }))
    }
}

impl Inner {
    fn meta(&self, name: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.to_string()),
            labels: Some(BTreeMap::from([
                (
                    "app.kubernetes.io/managed-by".to_string(),
                    "account-deletion-operator".to_string(),
                ),
                (
                    "accountdeletion.dev/account-id".to_string(),
                    self.account_id.clone(),
                ),
            ])),
            owner_references: self.owner.clone().map(|o| vec![o]),
            ..ObjectMeta::default()
        }
    }

    fn head_data(&self, s: &State) -> BTreeMap<String, String> {
        let log: String = s.lines.iter().map(Line::render).collect();
        BTreeMap::from([
            ("audit.log".to_string(), log),
            ("format".to_string(), FORMAT.to_string()),
            ("accountId".to_string(), self.account_id.clone()),
            ("uid".to_string(), self.uid.clone()),
            ("calls".to_string(), s.calls.to_string()),
            ("dropped".to_string(), s.dropped.to_string()),
            ("unknown".to_string(), s.unknown.to_string()),
            ("nextChunk".to_string(), s.next_chunk.to_string()),
            (
                "summarised".to_string(),
                serde_json::to_string(&s.summarised).unwrap_or_default(),
            ),
            (
                "chunks".to_string(),
                serde_json::to_string(&s.chunks).unwrap_or_default(),
            ),
        ])
    }

    /// Creates or replaces one ConfigMap; counts the write.
    async fn put(
        &self,
        name: &str,
        data: BTreeMap<String, String>,
        rv: Option<String>,
    ) -> Result<ConfigMap, kube::Error> {
        self.writes.inc();
        let mut cm = ConfigMap {
            metadata: self.meta(name),
            data: Some(data),
            ..ConfigMap::default()
        };
        match rv {
            Some(rv) => {
                cm.metadata.resource_version = Some(rv);
                self.api.replace(name, &PostParams::default(), &cm).await
            }
            None => self.api.create(&PostParams::default(), &cm).await,
        }
    }

    /// Moves finished lines of an oversized head into the next chunk slot.
    async fn seal(&self) -> Result<(), kube::Error> {
        let (slot_name, seq, lines, old) = {
            let s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            if s.head_bytes() <= self.cfg.chunk_bytes {
                return Ok(());
            }
            let finished: Vec<Line> = s.lines.iter().filter(|l| l.result != SENT).cloned().collect();
            if finished.is_empty() {
                return Ok(());
            }
            let slot = s.next_chunk % self.cfg.max_chunks.max(1) as u64;
            let name = format!("{}-{slot}", self.head);
            let old = s.chunks.iter().find(|c| c.name == name).cloned();
            (name, s.next_chunk, finished, old)
        };
        let data = BTreeMap::from([
            (
                "audit.log".to_string(),
                lines.iter().map(Line::render).collect::<String>(),
            ),
            ("format".to_string(), FORMAT.to_string()),
            ("accountId".to_string(), self.account_id.clone()),
            ("sequence".to_string(), seq.to_string()),
            ("head".to_string(), self.head.clone()),
        ]);
        let existing = self.api.get_opt(&slot_name).await?;
        self.put(&slot_name, data, existing.and_then(|c| c.resource_version()))
            .await?;
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(old) = old {
            // The ring was full: the overwritten chunk's lines live on as counts.
            s.dropped += old.lines;
            for (k, v) in old.counts {
                *s.summarised.entry(k).or_insert(0) += v;
            }
            s.chunks.retain(|c| c.name != slot_name);
        }
        let mut counts = BTreeMap::new();
        for l in &lines {
            *counts.entry(count_key(l)).or_insert(0) += 1;
        }
        s.chunks.push(ChunkInfo {
            name: slot_name,
            seq,
            lines: lines.len() as u64,
            counts,
        });
        let moved: std::collections::HashSet<String> = lines.into_iter().map(|l| l.id).collect();
        s.lines.retain(|l| !moved.contains(&l.id));
        s.reindex();
        s.next_chunk = seq + 1;
        s.dirty = true;
        Ok(())
    }

    /// Writes the head (sealing first when it grew too big); one writer at a time.
    async fn flush(&self) -> Result<(), String> {
        let _one = self.write.lock().await;
        self.seal()
            .await
            .map_err(|e| format!("writing an audit chunk: {e}"))?;
        for _ in 0..4 {
            let (data, rv, exists) = {
                let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                if !s.dirty && s.exists {
                    return Ok(());
                }
                s.dirty = false;
                (self.head_data(&s), s.resource_version.clone(), s.exists)
            };
            match self.put(&self.head, data, if exists { rv } else { None }).await {
                Ok(cm) => {
                    let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                    s.exists = true;
                    s.resource_version = cm.resource_version();
                    return Ok(());
                }
                Err(e) if is_status(&e, 409) => {
                    // Someone else wrote (or created) it: take their lines, keep ours.
                    let latest = self.api.get_opt(&self.head).await.map_err(|e| e.to_string())?;
                    let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                    s.dirty = true;
                    if let Some(cm) = latest {
                        let mut theirs = State::default();
                        theirs.load(&cm);
                        let ours: Vec<Line> = s
                            .lines
                            .iter()
                            .filter(|l| l.id.starts_with(&self.pass))
                            .cloned()
                            .collect();
                        let mut lines: Vec<Line> = theirs
                            .lines
                            .into_iter()
                            .filter(|l| !l.id.starts_with(&self.pass))
                            .collect();
                        lines.extend(ours);
                        let calls = s.calls.max(theirs.calls);
                        *s = State {
                            lines,
                            calls,
                            dirty: true,
                            ..theirs
                        };
                        s.reindex();
                    }
                }
                Err(e) => {
                    self.state.lock().unwrap_or_else(PoisonError::into_inner).dirty = true;
                    return Err(format!("writing the audit record {}: {e}", self.head));
                }
            }
        }
        Err(format!(
            "the audit record {} kept changing under another writer",
            self.head
        ))
    }
}

impl Journal for KubeJournal {
    fn intend<'a>(&'a self, calls: &'a [CallIntent]) -> BoxFuture<'a, Result<Vec<IntentId>, String>> {
        Box::pin(async move {
            let time = jiff::Timestamp::now().to_string();
            let ids: Vec<IntentId> = calls
                .iter()
                .map(|_| self.inner.next_id.fetch_add(1, Ordering::Relaxed))
                .collect();
            {
                let mut s = self.inner.state.lock().unwrap_or_else(PoisonError::into_inner);
                for (c, id) in calls.iter().zip(&ids) {
                    let line = Line {
                        id: format!("{}.{id}", self.inner.pass),
                        time: time.clone(),
                        action: c.action.clone(),
                        target: c.target.replace(' ', "_"),
                        result: SENT.into(),
                        request_id: None,
                    };
                    let at = s.lines.len();
                    s.index.insert(line.id.clone(), at);
                    s.lines.push(line);
                }
                s.calls += calls.len() as u64;
                s.dirty = true;
            }
            self.inner.flush().await?;
            Ok(ids)
        })
    }

    fn record(&self, id: IntentId, entry: &AuditEntry) {
        let key = format!("{}.{id}", self.inner.pass);
        let mut s = self.inner.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(&i) = s.index.get(&key)
            && let Some(l) = s.lines.get_mut(i)
        {
            l.time = entry.time.clone();
            l.result = entry.result.clone();
            l.request_id = entry.request_id.clone();
            s.dirty = true;
        }
    }

    fn flush(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(self.inner.flush())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_and_old_lines_parse() {
        let l = Line {
            id: "ab12cd34.7".into(),
            time: "2026-12-01T10:00:00Z".into(),
            action: "DeleteUser".into(),
            target: "alice".into(),
            result: "OK".into(),
            request_id: Some("4F2A".into()),
        };
        assert_eq!(l.rendered_len(), l.render().len());
        assert_eq!(Line::parse(l.render().trim_end()), Some(l));
        let old = Line::parse("2026-12-01T10:00:00Z DeleteGroup ops OK -").unwrap();
        assert_eq!(old.request_id, None);
        assert_eq!(old.id, "");
        assert_eq!(Line::parse("garbage"), None);
    }
}
