//! The command line of `aliyun-emulator` and the run-time limits it sets: throttling rates, the
//! page limit, the throttling status and per-operation quotas (the admin API patches them later).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::faults::{FaultConfig, FaultError};
use crate::throttle;

/// Command line of `aliyun-emulator` (also used by tests that start the server in-process).
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "aliyun-emulator",
    version,
    about = "Local emulator of Alibaba Cloud RAM, IMS, ResourceManager and STS"
)]
pub struct Opts {
    /// Address to listen on (`127.0.0.1:0` picks a free port; the bound address is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Seed YAML describing the Resource Directory, keys and accounts.
    #[arg(long)]
    pub seed: PathBuf,
    /// Largest page handed out whatever MaxItems/PageSize asks (forces clients to paginate).
    #[arg(long)]
    pub page_limit: Option<u32>,
    /// Calls per second per (account, action) before `Throttling.User` (0 = unlimited).
    #[arg(long, default_value_t = 0)]
    pub qps_per_account_action: u32,
    /// Calls per second per account, all actions together, before `Throttling.User` (0 = unlimited).
    #[arg(long, default_value_t = 0)]
    pub qps_per_account: u32,
    /// A per-operation quota below the account's, e.g. `--quota ram:DeleteUser=20/1s` (answered
    /// with `Throttling.Api` like the service's per-API limits).
    #[arg(long = "quota", value_name = "PRODUCT:ACTION=COUNT/SECONDS", num_args = 1..)]
    pub quota: Vec<String>,
    /// HTTP status of throttling answers (400 or 429).
    #[arg(long, default_value_t = 400, value_parser = parse_throttle_status)]
    pub throttle_status: u16,
    /// Latency added to every API call, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Injected error rate by code, e.g. `--fault Throttling.User=0.1 --fault ServiceUnavailable=0.05`.
    #[arg(long = "fault", value_name = "CODE=RATE", num_args = 1..)]
    pub fault: Vec<String>,
    /// Probability of closing the connection without an answer.
    #[arg(long, default_value_t = 0.0)]
    pub drop_rate: f64,
    /// Probability of answering only after `--stall-ms`.
    #[arg(long, default_value_t = 0.0)]
    pub stall_rate: f64,
    /// Length of a stall in milliseconds (default 30000).
    #[arg(long)]
    pub stall_ms: Option<u64>,
    /// Seed of the fault injector's random source (default 0: runs are reproducible).
    #[arg(long)]
    pub fault_seed: Option<u64>,
}

/// `--throttle-status`: the two statuses the service throttles with.
fn parse_throttle_status(s: &str) -> Result<u16, String> {
    match s {
        "400" => Ok(400),
        "429" => Ok(429),
        _ => Err(format!("throttle status must be 400 or 429, not {s:?}")),
    }
}

impl Opts {
    /// The fault configuration the flags describe.
    ///
    /// # Errors
    /// A malformed `--fault` or a rate outside `[0, 1]`.
    pub fn fault_config(&self) -> Result<FaultConfig, FaultError> {
        let mut cfg = FaultConfig {
            latency_ms: self.latency_ms,
            drop_rate: self.drop_rate,
            stall_rate: self.stall_rate,
            stall_ms: self.stall_ms,
            seed: self.fault_seed,
            ..FaultConfig::default()
        };
        for spec in &self.fault {
            cfg.add_spec(spec)?;
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// The per-operation quotas the `--quota` flags describe.
    ///
    /// # Errors
    /// A flag that is not `product:Action=count/seconds`.
    pub fn quotas(&self) -> Result<Quotas, String> {
        let mut q = Quotas::new();
        for spec in &self.quota {
            let (label, quota) = spec
                .split_once('=')
                .ok_or_else(|| format!("--quota {spec:?}: write it as ram:DeleteUser=20/1s"))?;
            q.insert(label.trim().to_owned(), quota.parse()?);
        }
        Ok(q)
    }

    /// The limits the flags describe.
    #[must_use]
    pub fn limits(&self) -> Limits {
        Limits {
            qps_per_account_action: self.qps_per_account_action,
            qps_per_account: self.qps_per_account,
            page_limit: self.page_limit.filter(|&n| n > 0),
            throttle_status: self.throttle_status,
        }
    }
}

/// Per-operation quotas by action label (`ram:DeleteUser`), below the account's limit.
pub type Quotas = std::collections::BTreeMap<String, throttle::Quota>;

/// Run-time limits (`PUT /__emulator/limits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    /// Calls per second per (account, action); 0 = unlimited.
    pub qps_per_account_action: u32,
    /// Calls per second per account over all actions; 0 = unlimited.
    pub qps_per_account: u32,
    /// Largest page handed out (`None` = the API's own maximum).
    pub page_limit: Option<u32>,
    /// HTTP status of throttling answers.
    pub throttle_status: u16,
}

/// A partial update of [`Limits`]; absent fields keep their value, `pageLimit: 0` removes the limit.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LimitsPatch {
    /// New calls per second (0 = unlimited).
    #[serde(alias = "qps", alias = "qps_per_account_action")]
    pub qps_per_account_action: Option<u32>,
    /// New calls per second per account, all actions together (0 = unlimited).
    #[serde(alias = "qps_per_account")]
    pub qps_per_account: Option<u32>,
    /// New page limit (0 = none).
    #[serde(alias = "page_limit")]
    pub page_limit: Option<u32>,
    /// New throttling status (400 or 429).
    #[serde(alias = "throttle_status")]
    pub throttle_status: Option<u16>,
    /// Per-operation quotas by action label, replacing the previous ones:
    /// `{"ram:DeleteUser": "20/1 s"}` (`{}` removes them all).
    #[serde(default)]
    pub quotas: Option<std::collections::BTreeMap<String, String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_status_flag() {
        assert_eq!(parse_throttle_status("429"), Ok(429));
        assert!(parse_throttle_status("500").is_err());
    }
}
