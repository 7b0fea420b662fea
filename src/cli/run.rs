//! `run`: logging, the HTTP surface, leader election and the controller.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::controller::pass::PassOptions;
use crate::controller::runtime::RunOptions;
use crate::controller::validate::Guards;
use crate::http::Readiness;
use crate::metrics::Metrics;
use ado_aliyun::egress::AllowedEndpoints;

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line (for log pipelines).
    Json,
    /// Human-readable.
    Text,
}

/// Flags of `run`; every one also reads an `ADO_*` environment variable (the chart sets those).
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Watch only these namespaces (comma-separated); empty = cluster-wide.
    #[arg(long, env = "ADO_NAMESPACES", value_delimiter = ',')]
    pub namespaces: Vec<String>,
    /// Only reconcile objects matching this label selector (split a fleet across releases).
    #[arg(long, env = "ADO_SELECTOR")]
    pub selector: Option<String>,
    /// Comma-separated account ids that are never touched.
    #[arg(long, env = "ADO_PROTECTED_ACCOUNT_IDS", value_delimiter = ',')]
    pub protected_account_ids: Vec<String>,
    /// Comma-separated base URLs (`scheme://host[:port]`) that `spec.endpoint` and
    /// `spec.endpoints.*` may name; empty = only the public Alibaba Cloud endpoints. Link-local and
    /// metadata addresses are refused even when listed.
    #[arg(long, env = "ADO_ALLOWED_ENDPOINTS", value_delimiter = ',')]
    pub allowed_endpoints: Vec<String>,
    /// Address of /metrics, /healthz and /readyz.
    #[arg(long, env = "ADO_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,
    /// `json` or `text`.
    #[arg(long, env = "ADO_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Log filter (`info`, `debug`, `account_deletion_operator=debug`).
    #[arg(long, env = "ADO_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
    /// Objects reconciled at once.
    #[arg(long, env = "ADO_CONCURRENCY", default_value_t = 4)]
    pub concurrency: u16,
    /// Requests per second to Alibaba Cloud across all accounts (0 = unlimited).
    #[arg(long, env = "ADO_GLOBAL_QPS", default_value_t = 0.0)]
    pub global_qps: f64,
    /// Alibaba Cloud calls in flight per account.
    #[arg(long, env = "ADO_ACCOUNT_CONCURRENCY", default_value_t = 8)]
    pub account_concurrency: usize,
    /// Requests per second per account (0 = unlimited).
    #[arg(long, env = "ADO_ACCOUNT_QPS", default_value_t = 0.0)]
    pub account_qps: f64,
    /// Seconds between polls of asynchronous Alibaba Cloud operations.
    #[arg(long, env = "ADO_POLL_SECONDS", default_value_t = 3)]
    pub poll_seconds: u64,
    /// Seconds between re-inventories of a settled account.
    #[arg(long, env = "ADO_RESYNC_SECONDS", default_value_t = 600)]
    pub resync_seconds: u64,
    /// Seconds before retrying an object blocked on something the user must fix.
    #[arg(long, env = "ADO_BLOCKED_RETRY_SECONDS", default_value_t = 120)]
    pub blocked_retry_seconds: u64,
    /// Seconds before retrying after a transient error.
    #[arg(long, env = "ADO_ERROR_RETRY_SECONDS", default_value_t = 15)]
    pub error_retry_seconds: u64,
    /// RAM counts as empty only when two inventories this many seconds apart agree.
    #[arg(long, env = "ADO_EMPTY_CONFIRM_SECONDS", default_value_t = 5)]
    pub empty_confirm_seconds: u64,
    /// Bytes of lines in the `<name>-audit` ConfigMap before finished lines move to a chunk.
    #[arg(long, env = "ADO_AUDIT_CHUNK_BYTES", default_value_t = 32 * 1024)]
    pub audit_chunk_bytes: usize,
    /// Chunk ConfigMaps kept per object (a ring); older lines are kept as counts.
    #[arg(long, env = "ADO_AUDIT_MAX_CHUNKS", default_value_t = 256)]
    pub audit_max_chunks: usize,
    /// Longest delay, in milliseconds, before a call's result reaches the audit record (its intent
    /// is always recorded before the call is sent).
    #[arg(long, env = "ADO_AUDIT_FLUSH_MILLIS", default_value_t = 1000)]
    pub audit_flush_millis: u64,
    /// Use a coordination.k8s.io Lease so only one replica acts.
    #[arg(long, env = "ADO_LEADER_ELECTION", default_value_t = false)]
    pub leader_election: bool,
    /// Lease name.
    #[arg(long, env = "ADO_LEASE_NAME", default_value = "account-deletion-operator")]
    pub lease_name: String,
    /// Lease namespace (default: the pod's namespace, else `default`).
    #[arg(long, env = "ADO_LEASE_NAMESPACE")]
    pub lease_namespace: Option<String>,
    /// Pod name (downward API), used as leader identity and Event reporter instance.
    #[arg(long, env = "POD_NAME")]
    pub pod_name: Option<String>,
    /// Pod namespace (downward API).
    #[arg(long, env = "POD_NAMESPACE")]
    pub pod_namespace: Option<String>,
}

fn init_tracing(format: LogFormat, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().flatten_event(true).init(),
        LogFormat::Text => builder.init(),
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Runs the controller until SIGTERM.
pub async fn run(args: RunArgs) -> std::process::ExitCode {
    init_tracing(args.log_format, &args.log_level);
    let metrics = Metrics::new();
    let readiness = Readiness::new("starting");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = {
        let rx = stop_rx.clone();
        async move {
            let mut rx = rx;
            let _ = rx.wait_for(|v| *v).await;
        }
    };
    let (addr, http) =
        match crate::http::serve(args.metrics_addr, metrics.clone(), readiness.clone(), stopped).await {
            Ok(x) => x,
            Err(e) => {
                eprintln!(
                    "error: cannot listen on --metrics-addr {}: {e}",
                    args.metrics_addr
                );
                return std::process::ExitCode::FAILURE;
            }
        };
    tracing::info!(%addr, "serving /metrics, /healthz, /readyz");
    // Printed on stdout too, so tests and scripts using port 0 find the address.
    println!("metrics listening on http://{addr}");
    let client = match kube::Client::try_default().await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "no Kubernetes client configuration (in-cluster or KUBECONFIG)");
            return std::process::ExitCode::FAILURE;
        }
    };
    let allowed_endpoints = match AllowedEndpoints::parse(&args.allowed_endpoints) {
        Ok(a) => a,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("error: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if !allowed_endpoints.entries().is_empty() {
        tracing::info!(allowed = %allowed_endpoints.entries().join(","), "endpoint overrides allowed");
    }
    let opts = RunOptions {
        namespaces: args
            .namespaces
            .iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        selector: args.selector.clone().filter(|s| !s.is_empty()),
        guards: Guards {
            protected: args
                .protected_account_ids
                .iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect::<BTreeSet<_>>(),
            allowed_endpoints,
        },
        pass: PassOptions {
            poll: Duration::from_secs(args.poll_seconds.max(1)),
            resync: Duration::from_secs(args.resync_seconds.max(10)),
            blocked_retry: Duration::from_secs(args.blocked_retry_seconds.max(1)),
            error_retry: Duration::from_secs(args.error_retry_seconds.max(1)),
            concurrency: args.account_concurrency.max(1),
            empty_confirm: Duration::from_secs(args.empty_confirm_seconds),
            ..PassOptions::default()
        },
        journal: crate::controller::audit::JournalConfig {
            chunk_bytes: args.audit_chunk_bytes.max(4096),
            max_chunks: args.audit_max_chunks.max(1),
            flush_interval: Duration::from_millis(args.audit_flush_millis.clamp(50, 60_000)),
        },
        concurrency: args.concurrency,
        reporter: "account-deletion-operator".into(),
        instance: args.pod_name.clone(),
    };
    let connector =
        crate::controller::aliyun_directory::AliyunConnector::new(args.account_qps, args.global_qps)
            .with_observer(metrics.clone());
    let shutdown = {
        let tx = stop_tx.clone();
        async move {
            shutdown_signal().await;
            tracing::info!("SIGTERM: finishing in-flight work");
            let _ = tx.send(true);
        }
    };
    tokio::spawn(shutdown);
    let stop = {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|v| *v).await;
        }
    };
    if args.leader_election {
        let ns = args
            .lease_namespace
            .clone()
            .or(args.pod_namespace.clone())
            .unwrap_or_else(|| "default".into());
        let identity = args
            .pod_name
            .clone()
            .unwrap_or_else(|| format!("ado-{}", uuid::Uuid::new_v4()));
        crate::controller::leader::run_as_leader(
            client.clone(),
            &ns,
            &args.lease_name,
            &identity,
            metrics.clone(),
            readiness.clone(),
            stop,
            move |lost| {
                crate::controller::runtime::run(
                    client,
                    connector,
                    opts,
                    metrics.clone(),
                    readiness.clone(),
                    lost,
                )
            },
        )
        .await;
    } else {
        crate::controller::runtime::run(client, connector, opts, metrics, readiness, stop).await;
    }
    let _ = stop_tx.send(true);
    let _ = http.await;
    tracing::info!("stopped");
    std::process::ExitCode::SUCCESS
}
