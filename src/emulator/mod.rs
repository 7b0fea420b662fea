//! A faithful local emulator of RAM, IMS, ResourceManager and STS on one port.
//!
//! It is a product feature (try the operator without an Alibaba account) and the test bed: it verifies
//! signatures, enforces the conflict rules, paginates, throttles and injects faults.
//!
//! Two halves meet at [`api`]: the HTTP front (auth, throttling, faults, admin) and the domain model
//! (the Resource Directory, its accounts and their RAM state).

pub mod api;
pub mod auth;
pub mod counters;
pub mod faults;
pub mod throttle;
