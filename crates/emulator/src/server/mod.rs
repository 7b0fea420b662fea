//! The emulator's HTTP front: one port for RAM, IMS, ResourceManager and STS plus the admin API.
//!
//! Per API request: merge query and form parameters, route by version and action, authenticate
//! ([`super::auth`]), check the key's `allow` patterns, throttle ([`super::throttle`]), inject faults
//! ([`super::faults`]), run the action on the [`World`] (a synchronous state machine behind a std
//! mutex, never held across an `.await`), add the `RequestId` and count the call
//! ([`super::counters`]).
//!
//! [`opts`] is the command line and the limits, [`pipeline`] the request pipeline, [`render`] the
//! answers on the wire and [`listen`] the listener and the running server; this file holds the shared
//! state ([`Emulator`]) and its clock.

mod listen;
mod opts;
mod pipeline;
mod render;

use std::io;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde_json::Value;

use super::auth::NonceStore;
use super::counters::Counters;
use super::faults::{FaultConfig, FaultError, Faults};
use super::seed::Seed;
use super::throttle::Throttle;
use super::world::World;

pub use listen::{ConnHandle, KillableListener, KillableStream, Running, router, serve, start};
pub use opts::{Limits, LimitsPatch, Opts, Quotas};
pub use render::{error_body, request_id};

/// Why the emulator could not start or reload.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The seed file could not be read or is invalid.
    #[error("seed: {0}")]
    Seed(String),
    /// Binding or serving failed.
    #[error("io: {0}")]
    Io(#[from] io::Error),
    /// A bad fault flag.
    #[error("fault: {0}")]
    Fault(#[from] FaultError),
    /// A bad `--quota` flag.
    #[error("{0}")]
    Quota(String),
}

/// The emulator clock: real time plus an offset the admin API advances, so asynchronous flows and
/// STS expiry can be tested without sleeping.
#[derive(Debug, Default)]
pub struct Clock {
    offset_secs: AtomicI64,
}

impl Clock {
    /// The emulator's current time.
    #[must_use]
    pub fn now(&self) -> jiff::Timestamp {
        let real = jiff::Timestamp::now();
        let off = jiff::SignedDuration::from_secs(self.offset_secs.load(Ordering::SeqCst));
        real.checked_add(off).unwrap_or(real)
    }

    /// Seconds the clock is ahead of real time.
    #[must_use]
    pub fn offset_secs(&self) -> i64 {
        self.offset_secs.load(Ordering::SeqCst)
    }

    /// Moves the clock forward (or back, with a negative value).
    pub fn advance(&self, secs: i64) {
        self.offset_secs.fetch_add(secs, Ordering::SeqCst);
    }

    /// Back to real time.
    pub fn reset(&self) {
        self.offset_secs.store(0, Ordering::SeqCst);
    }
}

/// `YYYY-MM-DDThh:mm:ssZ`, the form SDK timestamps use.
#[must_use]
pub fn format_utc(t: jiff::Timestamp) -> String {
    crate::ram::utc(t)
}

/// Locks a mutex, recovering the data of a poisoned one (a panicking request must not wedge the
/// emulator).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Shared state of one emulator: the world and everything the front keeps around it.
pub struct Emulator {
    world: Mutex<World>,
    clock: Clock,
    nonces: Mutex<NonceStore>,
    counters: Mutex<Counters>,
    throttle: Mutex<Throttle>,
    faults: Mutex<Faults>,
    limits: Mutex<Limits>,
    quotas: Mutex<Quotas>,
}

impl Emulator {
    /// An emulator over the world of `seed` with these limits and faults.
    ///
    /// # Errors
    /// [`ServerError::Seed`] when the seed is invalid.
    pub fn new(seed: Seed, limits: Limits, faults: FaultConfig) -> Result<Self, ServerError> {
        let clock = Clock::default();
        let world = World::from_seed(seed, clock.now()).map_err(|e| ServerError::Seed(e.to_string()))?;
        Ok(Self {
            world: Mutex::new(world),
            clock,
            nonces: Mutex::new(NonceStore::new()),
            counters: Mutex::new(Counters::new()),
            throttle: Mutex::new(Throttle::new()),
            faults: Mutex::new(Faults::new(faults)?),
            limits: Mutex::new(limits),
            quotas: Mutex::new(Quotas::new()),
        })
    }

    /// Builds the emulator the command line describes (reads the seed file).
    ///
    /// # Errors
    /// Unreadable or invalid seed, bad fault flags.
    pub fn from_opts(opts: &Opts) -> Result<Self, ServerError> {
        let seed = Seed::from_file(&opts.seed).map_err(|e| ServerError::Seed(e.to_string()))?;
        let emu = Self::new(seed, opts.limits(), opts.fault_config()?)?;
        *lock(&emu.quotas) = opts.quotas().map_err(ServerError::Quota)?;
        Ok(emu)
    }

    /// The per-operation quotas in force.
    #[must_use]
    pub fn quotas(&self) -> Quotas {
        lock(&self.quotas).clone()
    }

    /// The emulator clock.
    #[must_use]
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Replaces the world with a new seed (YAML) and resets the clock, nonces, throttling buckets and
    /// counters; faults and limits stay (they are run configuration, not world state).
    ///
    /// # Errors
    /// The seed's parse or validation message.
    pub fn reload_seed(&self, yaml: &str) -> Result<(), String> {
        let seed = Seed::from_yaml(yaml).map_err(|e| e.to_string())?;
        let world = World::from_seed(seed, jiff::Timestamp::now()).map_err(|e| e.to_string())?;
        let mut w = lock(&self.world);
        *w = world;
        self.clock.reset();
        lock(&self.nonces).reset();
        lock(&self.throttle).reset();
        lock(&self.counters).reset();
        Ok(())
    }

    /// `GET /__emulator/accounts/{id}`.
    #[must_use]
    pub fn dump_account(&self, account_id: &str) -> Option<Value> {
        lock(&self.world).dump_account(account_id)
    }

    /// `GET /__emulator/calls`.
    #[must_use]
    pub fn calls(&self) -> Value {
        lock(&self.counters).to_json()
    }

    /// `DELETE /__emulator/calls`.
    pub fn reset_calls(&self) {
        lock(&self.counters).reset();
    }

    /// The current fault configuration.
    #[must_use]
    pub fn faults(&self) -> FaultConfig {
        lock(&self.faults).config().clone()
    }

    /// Replaces the fault configuration (reseeds the random source).
    ///
    /// # Errors
    /// A rate outside `[0, 1]`.
    pub fn set_faults(&self, cfg: FaultConfig) -> Result<(), FaultError> {
        let faults = Faults::new(cfg)?;
        *lock(&self.faults) = faults;
        Ok(())
    }

    /// The current limits.
    #[must_use]
    pub fn limits(&self) -> Limits {
        *lock(&self.limits)
    }

    /// Applies a partial limits update; empties the throttling buckets.
    ///
    /// # Errors
    /// A throttling status other than 400 or 429.
    pub fn patch_limits(&self, p: &LimitsPatch) -> Result<Limits, String> {
        if let Some(s) = p.throttle_status
            && s != 400
            && s != 429
        {
            return Err(format!("throttleStatus must be 400 or 429, not {s}"));
        }
        if let Some(q) = &p.quotas {
            let mut parsed = Quotas::new();
            for (label, quota) in q {
                parsed.insert(label.clone(), quota.parse()?);
            }
            *lock(&self.quotas) = parsed;
        }
        let mut l = lock(&self.limits);
        if let Some(q) = p.qps_per_account_action {
            l.qps_per_account_action = q;
        }
        if let Some(q) = p.qps_per_account {
            l.qps_per_account = q;
        }
        if let Some(pl) = p.page_limit {
            l.page_limit = (pl > 0).then_some(pl);
        }
        if let Some(s) = p.throttle_status {
            l.throttle_status = s;
        }
        lock(&self.throttle).reset();
        Ok(*l)
    }
}
