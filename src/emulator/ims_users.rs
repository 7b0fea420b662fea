//! IMS per-user objects (placeholder).
use super::catalog::Action;
/// Passkey, service-credential and summary actions.
pub const ACTIONS: &[Action] = &[];
