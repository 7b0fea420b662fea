//! A faithful local emulator of RAM, IMS, ResourceManager and STS on one port.
//!
//! It is a product feature (try the operator without an Alibaba account) and the test bed: it verifies
//! signatures, enforces the conflict rules, paginates, throttles and injects faults.
//!
//! Two halves meet at [`api`]: the HTTP front ([`server`], [`auth`], [`throttle`], [`faults`],
//! [`admin`], [`counters`]) and the domain model ([`world`] with [`ram`], [`ims`], [`ims_apps`],
//! [`ims_users`], [`slr`], [`rm`], [`sts`], built from a [`seed`]); [`catalog`] holds the action
//! tables of each product, [`tags`] the tag filters, [`policy`] the STS session policies and
//! [`patterns`] the `product:Action` patterns of `allow` lists, fault filters and policies.

pub mod admin;
pub mod api;
pub mod auth;
pub mod catalog;
pub mod counters;
pub mod faults;
pub mod ims;
pub mod ims_apps;
pub mod ims_users;
pub mod patterns;
pub mod policy;
pub mod ram;
pub mod rm;
pub mod seed;
pub mod server;
pub mod slr;
pub mod sts;
pub mod table;
pub mod tags;
pub mod throttle;
pub mod world;
