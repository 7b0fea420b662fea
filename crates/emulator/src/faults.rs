//! Fault injection: error answers by code and rate, added latency, stalls and dropped connections.
//!
//! The operator must survive an unreliable cloud; these faults let tests prove it. The random source is
//! seeded (`--fault-seed`, default 0), so a failing run can be replayed exactly.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use serde::{Deserialize, Serialize};

use super::api::ApiError;
use super::patterns::{self, ActionPatterns, PatternError};

/// Default length of a stall when the configuration does not say.
pub const DEFAULT_STALL_MS: u64 = 30_000;

/// The fault configuration, as given by flags and by `PUT /__emulator/faults` (JSON, camelCase):
/// `{"errors": {"Throttling.User": 0.2}, "latencyMs": 50, "dropRate": 0.1, "stallRate": 0.0,
/// "stallMs": 30000, "seed": 7, "actions": ["ram:Delete*"]}`. Every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct FaultConfig {
    /// Error code -> probability in `[0, 1]` of answering that error instead of the real answer.
    pub errors: BTreeMap<String, f64>,
    /// Latency added to every API call, in milliseconds.
    pub latency_ms: u64,
    /// Probability of closing the connection without an answer.
    pub drop_rate: f64,
    /// Probability of answering only after `stall_ms`.
    pub stall_rate: f64,
    /// Length of a stall (default [`DEFAULT_STALL_MS`]).
    pub stall_ms: Option<u64>,
    /// Seed of the random source (default 0); setting a configuration reseeds it.
    pub seed: Option<u64>,
    /// Only calls matching one of these `product:Action` patterns are faulted (empty: all calls);
    /// the syntax is [`super::patterns`]'.
    pub actions: Vec<String>,
}

/// Why a configuration is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultError {
    /// A rate outside `[0, 1]`.
    #[error("rate of {0} must be between 0 and 1")]
    BadRate(String),
    /// A `--fault` flag that is not `CODE=RATE`.
    #[error("fault {0:?} must look like CODE=RATE (e.g. Throttling.User=0.1)")]
    BadSpec(String),
    /// An `actions` pattern that is not a valid glob.
    #[error("actions: {0}")]
    BadPattern(#[from] PatternError),
}

impl FaultConfig {
    /// Checks every rate is a probability and every `actions` pattern a valid glob.
    ///
    /// # Errors
    /// [`FaultError::BadRate`] naming the offending field or code, [`FaultError::BadPattern`]
    /// naming the pattern.
    pub fn validate(&self) -> Result<(), FaultError> {
        let ok = |r: f64| (0.0..=1.0).contains(&r);
        for (code, &r) in &self.errors {
            if !ok(r) {
                return Err(FaultError::BadRate(code.clone()));
            }
        }
        if !ok(self.drop_rate) {
            return Err(FaultError::BadRate("dropRate".into()));
        }
        if !ok(self.stall_rate) {
            return Err(FaultError::BadRate("stallRate".into()));
        }
        patterns::check(&self.actions)?;
        Ok(())
    }

    /// Parses one `--fault CODE=RATE` flag into `errors`.
    ///
    /// # Errors
    /// [`FaultError::BadSpec`] when the flag is malformed, [`FaultError::BadRate`] when out of range.
    pub fn add_spec(&mut self, spec: &str) -> Result<(), FaultError> {
        let (code, rate) = spec
            .split_once('=')
            .ok_or_else(|| FaultError::BadSpec(spec.to_owned()))?;
        let rate: f64 = rate
            .trim()
            .parse()
            .map_err(|_| FaultError::BadSpec(spec.to_owned()))?;
        if code.trim().is_empty() {
            return Err(FaultError::BadSpec(spec.to_owned()));
        }
        if !(0.0..=1.0).contains(&rate) {
            return Err(FaultError::BadRate(code.to_owned()));
        }
        self.errors.insert(code.trim().to_owned(), rate);
        Ok(())
    }

    /// True when no fault of any kind is configured.
    #[must_use]
    pub fn is_off(&self) -> bool {
        self.latency_ms == 0
            && self.drop_rate <= 0.0
            && self.stall_rate <= 0.0
            && self.errors.values().all(|&r| r <= 0.0)
    }
}

/// What to do with one call.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Answer normally.
    None,
    /// Close the connection without an answer.
    Drop,
    /// Wait this long, then answer normally.
    Stall(Duration),
    /// Answer this error code (the front builds the body and status).
    Error(String),
}

/// The live fault injector: configuration, its compiled `actions` and its seeded random source.
#[derive(Debug)]
pub struct Faults {
    config: FaultConfig,
    actions: ActionPatterns,
    rng: StdRng,
}

impl Faults {
    /// An injector for `config` (reseeded from `config.seed`, default 0).
    ///
    /// # Errors
    /// What [`FaultConfig::validate`] refuses.
    pub fn new(config: FaultConfig) -> Result<Self, FaultError> {
        config.validate()?;
        let actions = ActionPatterns::new(&config.actions)?;
        let rng = StdRng::seed_from_u64(config.seed.unwrap_or(0));
        Ok(Self { config, actions, rng })
    }

    /// The current configuration.
    #[must_use]
    pub fn config(&self) -> &FaultConfig {
        &self.config
    }

    /// Replaces the configuration and reseeds; a refused configuration leaves the current one.
    ///
    /// # Errors
    /// What [`FaultConfig::validate`] refuses.
    pub fn set(&mut self, config: FaultConfig) -> Result<(), FaultError> {
        *self = Self::new(config)?;
        Ok(())
    }

    /// Added latency for a call to `label` (`product:Action`).
    #[must_use]
    pub fn latency(&self, label: &str) -> Duration {
        if self.applies(label) {
            Duration::from_millis(self.config.latency_ms)
        } else {
            Duration::ZERO
        }
    }

    fn applies(&self, label: &str) -> bool {
        self.config.actions.is_empty() || self.actions.is_match(label)
    }

    /// Rolls the dice for one call to `label` (`product:Action`): drop, then stall, then each error
    /// code in name order.
    pub fn decide(&mut self, label: &str) -> Fault {
        if self.config.is_off() || !self.applies(label) {
            return Fault::None;
        }
        if self.config.drop_rate > 0.0 && self.rng.random::<f64>() < self.config.drop_rate {
            return Fault::Drop;
        }
        if self.config.stall_rate > 0.0 && self.rng.random::<f64>() < self.config.stall_rate {
            return Fault::Stall(Duration::from_millis(
                self.config.stall_ms.unwrap_or(DEFAULT_STALL_MS),
            ));
        }
        for (code, &rate) in &self.config.errors {
            if rate > 0.0 && self.rng.random::<f64>() < rate {
                return Fault::Error(code.clone());
            }
        }
        Fault::None
    }
}

/// The error answered for an injected fault code: the usual status and message for the well-known
/// codes (`Throttling*` use the configured throttling status), 400 otherwise.
#[must_use]
pub fn fault_error(code: &str, throttle_status: u16) -> ApiError {
    match code {
        "Throttling.User" | "Throttling" => ApiError::new(
            throttle_status,
            code,
            "Request was denied due to user flow control.",
        ),
        "Throttling.Api" => ApiError::new(
            throttle_status,
            code,
            "Request was denied due to api flow control.",
        ),
        c if c.starts_with("Throttling") => {
            ApiError::new(throttle_status, code, "Request was denied due to flow control.")
        }
        "ServiceUnavailable" => ApiError::new(
            503,
            code,
            "The request has failed due to a temporary failure of the server.",
        ),
        "InternalError" | "UnknownError" => ApiError::new(
            500,
            code,
            "The request processing has failed due to some unknown error, exception or failure.",
        ),
        _ => ApiError::new(400, code, format!("Injected fault {code}.")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_one_and_zero_are_deterministic() {
        let mut f = Faults::new(FaultConfig::default()).unwrap();
        assert_eq!(f.decide("ram:ListUsers"), Fault::None);
        let mut cfg = FaultConfig::default();
        cfg.add_spec("ServiceUnavailable=1").unwrap();
        f.set(cfg.clone()).unwrap();
        assert_eq!(
            f.decide("ram:ListUsers"),
            Fault::Error("ServiceUnavailable".into())
        );
        cfg.actions = vec!["ram:Delete*".into()];
        f.set(cfg.clone()).unwrap();
        assert_eq!(f.decide("ram:ListUsers"), Fault::None);
        assert_eq!(
            f.decide("ram:DeleteUser"),
            Fault::Error("ServiceUnavailable".into())
        );
        cfg.actions = vec!["ram:{Delete".into()];
        let e = f.set(cfg).unwrap_err();
        assert!(e.to_string().contains("\"ram:{Delete\""), "{e}");
        assert_eq!(
            f.decide("ram:DeleteUser"),
            Fault::Error("ServiceUnavailable".into()),
            "a refused configuration leaves the current one"
        );
        f.set(FaultConfig {
            drop_rate: 1.0,
            ..FaultConfig::default()
        })
        .unwrap();
        assert_eq!(f.decide("x"), Fault::Drop);
    }

    #[test]
    fn same_seed_same_sequence() {
        let cfg = FaultConfig {
            drop_rate: 0.5,
            seed: Some(9),
            ..FaultConfig::default()
        };
        let mut a = Faults::new(cfg.clone()).unwrap();
        let mut b = Faults::new(cfg).unwrap();
        let sa: Vec<_> = (0..50).map(|_| a.decide("x")).collect();
        let sb: Vec<_> = (0..50).map(|_| b.decide("x")).collect();
        assert_eq!(sa, sb);
        assert!(sa.contains(&Fault::Drop) && sa.contains(&Fault::None));
    }

    #[test]
    fn specs_and_statuses() {
        let mut c = FaultConfig::default();
        assert!(c.add_spec("nope").is_err());
        assert!(c.add_spec("X=2").is_err());
        assert_eq!(fault_error("Throttling.User", 429).status, 429);
        assert_eq!(fault_error("ServiceUnavailable", 400).status, 503);
        assert_eq!(fault_error("InternalError", 400).status, 500);
    }
}
