//! The reconciler: watches `AccountDeletion` objects and drives each member account from its
//! inventory to the state its spec asks for.

pub mod aliyun_directory;
pub mod audit;
pub mod block;
pub mod claim;
pub mod conditions;
pub mod converge;
pub mod directory;
pub mod hints;
pub mod leader;
pub mod pass;
pub mod runtime;
pub mod secret;
pub mod validate;

#[cfg(test)]
mod tests;
