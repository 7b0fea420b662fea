//! account-deletion-operator: empties and deletes Alibaba Cloud Resource Directory member accounts
//! because an `AccountDeletion` manifest says so.
//!
//! Layout: [`aliyun`] is the signed client, [`emulator`] the local stand-in for Alibaba Cloud.

pub mod aliyun;
pub mod cli;
pub mod controller;
pub mod crd;
pub mod emulator;
pub mod http;
pub mod metrics;
pub mod plan;
