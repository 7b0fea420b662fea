//! The operator's HTTP surface: `/healthz` (liveness), `/readyz` (readiness) and `/metrics`.
//!
//! Readiness is false until the CRD is served and the watch runs, and says why in the body, so a
//! missing CRD shows up as a pod that is not ready with a reason instead of a crash loop.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::metrics::Metrics;

/// Shared readiness flag with the reason it is not ready.
#[derive(Debug, Default)]
pub struct Readiness {
    state: Mutex<(bool, String)>,
}

impl Readiness {
    /// Starts not ready with `reason`.
    #[must_use]
    pub fn new(reason: &str) -> Arc<Readiness> {
        Arc::new(Readiness {
            state: Mutex::new((false, reason.to_string())),
        })
    }

    /// Marks ready or not, with a reason shown by `/readyz`.
    pub fn set(&self, ready: bool, reason: &str) {
        if let Ok(mut s) = self.state.lock() {
            *s = (ready, reason.to_string());
        }
    }

    /// Current state.
    #[must_use]
    pub fn get(&self) -> (bool, String) {
        self.state
            .lock()
            .map(|s| s.clone())
            .unwrap_or((false, "readiness lock poisoned".into()))
    }
}

#[derive(Clone)]
struct AppState {
    metrics: Arc<Metrics>,
    readiness: Arc<Readiness>,
}

/// The router, separate from [`serve`] so tests can call it in-process.
pub fn router(metrics: Arc<Metrics>, readiness: Arc<Readiness>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_handler))
        .with_state(AppState { metrics, readiness })
}

async fn readyz(State(s): State<AppState>) -> impl IntoResponse {
    let (ready, reason) = s.readiness.get();
    if ready {
        (StatusCode::OK, format!("ok: {reason}\n"))
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {reason}\n"))
    }
}

/// OpenMetrics for scrapers that ask for it (Prometheus does), the classic text format 0.0.4
/// otherwise (curl, `promtool check metrics`, older agents).
async fn metrics_handler(State(s): State<AppState>, headers: axum::http::HeaderMap) -> impl IntoResponse {
    let openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/openmetrics-text"));
    match s.metrics.render() {
        Ok(body) if openmetrics => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Ok(body) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
            openmetrics_to_text(&body),
        )
            .into_response(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "metrics encoding failed\n").into_response(),
    }
}

/// Converts OpenMetrics text to the classic format: counter families are named with their
/// `_total` suffix there, and `# UNIT` / `# EOF` do not exist.
#[must_use]
pub fn openmetrics_to_text(om: &str) -> String {
    let counters: std::collections::HashSet<&str> = om
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(om.len());
    for line in om.lines() {
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|p| line.strip_prefix(p).map(|rest| (p, rest)));
        match meta {
            Some((prefix, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                if counters.contains(name) {
                    out.push_str(&format!("{prefix}{name}_total {tail}"));
                } else {
                    out.push_str(line);
                }
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// Binds `addr` and serves until `shutdown` resolves; returns the bound address through `bound`.
///
/// # Errors
/// The address cannot be bound.
pub async fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    readiness: Arc<Readiness>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let app = router(metrics, readiness);
    let handle = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
            tracing::error!(error = %e, "metrics/health server stopped");
        }
    });
    Ok((bound, handle))
}

#[cfg(test)]
mod tests {
    use super::openmetrics_to_text;

    #[test]
    fn counters_get_their_total_name_and_openmetrics_markers_go() {
        let om = "# HELP ado_reconciles Reconcile passes.\n# TYPE ado_reconciles counter\nado_reconciles_total{result=\"ok\"} 3\n# HELP ado_leader Leader.\n# TYPE ado_leader gauge\nado_leader 1\n# UNIT ado_x seconds\n# EOF\n";
        assert_eq!(
            openmetrics_to_text(om),
            "# HELP ado_reconciles_total Reconcile passes.\n# TYPE ado_reconciles_total counter\nado_reconciles_total{result=\"ok\"} 3\n# HELP ado_leader Leader.\n# TYPE ado_leader gauge\nado_leader 1\n"
        );
    }
}
