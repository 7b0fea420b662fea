//! The planner: inventory of a member account, desired-state diff against `spec.ram`, a
//! dependency-ordered plan, and the executor that runs it.
//!
//! - [`model`]: [`Kind`] and the lean [`Inventory`].
//! - [`inventory`]: discovery with the cheapest calls (`discover`).
//! - [`retain`]: `spec.ram.retain` glob patterns, validated up front.
//! - [`build()`]: the diff as a per-object dependency graph in deterministic order ([`Plan`]).
//! - [`hash`]: the plan hash a user approves.
//! - [`execute`]: runs a plan concurrently as prerequisites complete, with an audit entry per call.

pub mod action;
pub mod api;
pub mod build;
pub mod client;
pub mod execute;
pub mod hash;
pub mod inventory;
pub mod journal;
pub mod model;
pub mod retain;
pub mod wire;

pub use action::{Action, Kept, Plan, PlannedAction};
pub use ado_aliyun::error::ErrorClass;
pub use api::{AppSource, CallError, PlanApi, SummaryCounts};
pub use build::{PlanOptions, build, build_with};
pub use execute::{ExecOptions, ExecutionReport};
pub use inventory::discover;
pub use model::{Inventory, Kind, PolicyRef, PolicyType};
pub use retain::{DEFAULT_ACCESS_ROLE, Retain, RetainError, RetainSpec};
