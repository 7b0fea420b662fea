//! The Alibaba Cloud layer: a signed, retrying client for RAM, IMS, ResourceManager and STS.
//!
//! Everything that knows the wire format lives here, behind typed requests and responses, so the
//! reconciler only sees Rust types and a classified [`error::AliyunError`].

pub mod client;
pub mod config;
pub mod credentials;
pub mod egress;
pub mod error;
pub mod http_pool;
pub mod ims;
pub mod ims_apps;
pub mod pagination;
pub mod ram;
pub mod ratelimit;
pub mod rm;
pub mod sts;
pub mod transport;
pub use ado_signing::{product, sign};
