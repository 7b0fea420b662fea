//! Prometheus metrics of the operator, in one registry rendered at `/metrics`.
//!
//! Label values are bounded (products, actions, error codes, kinds, phases): never an account
//! secret, and never a free-form message.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// `result` of a reconcile.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    /// `ok`, `blocked` or `error`.
    pub result: String,
}

/// Reason label for errors and blocks.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    /// Condition reason (`DisplayNameMismatch`) or Alibaba error code.
    pub reason: String,
}

/// One Alibaba Cloud call.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    /// `ram`, `ims`, `resourcemanager`, `sts`.
    pub product: String,
    /// API action.
    pub action: String,
    /// `OK` or the Alibaba error code.
    pub code: String,
}

/// Product and action.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    /// `ram`, `ims`, `resourcemanager`, `sts`.
    pub product: String,
    /// API action.
    pub action: String,
}

/// RAM kind.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    /// `users`, `groups`, ...
    pub kind: String,
}

/// Phase.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabel {
    /// `Planned`, `PurgingRam`, ...
    pub phase: String,
}

/// Every metric the operator exports.
pub struct Metrics {
    /// Reconciles by result.
    pub reconciles: Family<ResultLabel, Counter>,
    /// Reconcile duration.
    pub reconcile_duration: Histogram,
    /// Failed or blocked reconciles by reason.
    pub reconcile_errors: Family<ReasonLabel, Counter>,
    /// HTTP calls to Alibaba Cloud (each attempt) by product, action and result code.
    pub alibaba_calls: Family<CallLabels, Counter>,
    /// Throttled answers by product and action.
    pub alibaba_throttled: Family<ActionLabels, Counter>,
    /// Retried attempts by product and action.
    pub alibaba_retries: Family<ActionLabels, Counter>,
    /// RAM objects deleted by kind.
    pub resources_deleted: Family<KindLabel, Counter>,
    /// AccountDeletion objects by phase.
    pub accounts: Family<PhaseLabel, Gauge>,
    /// 1 while this replica holds the leader lease.
    pub leader: Gauge,
    /// Writes of the audit record (ConfigMap creates and updates): its cost to the API server.
    pub audit_writes: Counter,
    registry: Registry,
}

impl Metrics {
    /// Creates and registers every metric under the `ado` prefix.
    #[must_use]
    pub fn new() -> Arc<Metrics> {
        let mut registry = Registry::with_prefix("ado");
        let reconciles = Family::<ResultLabel, Counter>::default();
        let reconcile_duration = Histogram::new(exponential_buckets(0.01, 2.0, 14));
        let reconcile_errors = Family::<ReasonLabel, Counter>::default();
        let alibaba_calls = Family::<CallLabels, Counter>::default();
        let alibaba_throttled = Family::<ActionLabels, Counter>::default();
        let alibaba_retries = Family::<ActionLabels, Counter>::default();
        let resources_deleted = Family::<KindLabel, Counter>::default();
        let accounts = Family::<PhaseLabel, Gauge>::default();
        let leader = Gauge::default();
        let audit_writes = Counter::default();
        registry.register(
            "audit_writes",
            "Writes of the audit record ConfigMaps (creates and updates)",
            audit_writes.clone(),
        );
        registry.register("reconciles", "Reconcile passes by result", reconciles.clone());
        registry.register_with_unit(
            "reconcile_duration",
            "Duration of one reconcile pass",
            prometheus_client::registry::Unit::Seconds,
            reconcile_duration.clone(),
        );
        registry.register(
            "reconcile_errors",
            "Reconciles that stopped on a block or an error, by reason",
            reconcile_errors.clone(),
        );
        registry.register(
            "alibaba_calls",
            "HTTP attempts to Alibaba Cloud APIs by product, action and result code",
            alibaba_calls.clone(),
        );
        registry.register(
            "alibaba_throttled",
            "Throttled answers from Alibaba Cloud by product and action",
            alibaba_throttled.clone(),
        );
        registry.register(
            "alibaba_retries",
            "Retried attempts to Alibaba Cloud by product and action",
            alibaba_retries.clone(),
        );
        registry.register(
            "resources_deleted",
            "RAM objects deleted, by kind",
            resources_deleted.clone(),
        );
        registry.register("accounts", "AccountDeletion objects by phase", accounts.clone());
        registry.register(
            "leader",
            "1 while this replica holds the leader lease",
            leader.clone(),
        );
        Arc::new(Metrics {
            reconciles,
            reconcile_duration,
            reconcile_errors,
            alibaba_calls,
            alibaba_throttled,
            alibaba_retries,
            resources_deleted,
            accounts,
            leader,
            audit_writes,
            registry,
        })
    }

    /// The text exposition format (OpenMetrics text, accepted by Prometheus and promtool).
    ///
    /// # Errors
    /// Formatting failure (not expected).
    pub fn render(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// Every attempt the Alibaba client makes lands in `ado_alibaba_calls_total` (and the throttled and
/// retried counters), labelled by product, action and result code only.
impl ado_aliyun::transport::CallObserver for Metrics {
    fn on_call(&self, e: &ado_aliyun::transport::CallEvent<'_>) {
        let product = e.product.name().to_owned();
        let action = e.action.to_owned();
        let code = e.code.unwrap_or("OK").to_owned();
        self.alibaba_calls
            .get_or_create(&CallLabels {
                product: product.clone(),
                action: action.clone(),
                code,
            })
            .inc();
        let labels = ActionLabels { product, action };
        if e.class == Some(ado_aliyun::error::ErrorClass::Throttled) {
            self.alibaba_throttled.get_or_create(&labels).inc();
        }
        if e.will_retry {
            self.alibaba_retries.get_or_create(&labels).inc();
        }
    }
}
