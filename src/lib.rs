//! account-deletion-operator: empties and deletes Alibaba Cloud Resource Directory member accounts
//! because an `AccountDeletion` manifest says so.
//!
//! This crate is the Kubernetes side only: the CRDs ([`crd`]), the reconciler ([`controller`]),
//! the HTTP surface ([`http`], [`metrics`]) and the command line ([`cli`]). What it drives lives
//! below it in the workspace: `ado-core` (inventory, retain rules, plan, executor; no Kubernetes),
//! `ado-aliyun` (the signed client) and `ado-signing` (the signatures the emulator checks too).

pub mod cli;
pub mod controller;
pub mod crd;
pub mod http;
pub mod metrics;
