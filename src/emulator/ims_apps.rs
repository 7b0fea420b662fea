//! IMS OAuth applications (placeholder).
use super::catalog::Action;
/// Application actions.
pub const ACTIONS: &[Action] = &[];
