//! The plan hash a user approves (`spec.approvedPlanHash`): stable for equal inventories, changed
//! by any action that appears, disappears or changes.

use sha2::{Digest, Sha256};

use super::action::PlannedAction;

/// Hex characters kept from the SHA-256 digest: short enough to paste into a manifest, long
/// enough (64 bits) that an accidental collision is not a concern.
pub const HASH_LEN: usize = 16;

/// SHA-256 over one canonical line per action (`<index> <JSON of the action> <deps>`), in
/// execution order, truncated to [`HASH_LEN`] hex characters.
#[must_use]
pub fn plan_hash(actions: &[PlannedAction]) -> String {
    let mut h = Sha256::new();
    for (i, pa) in actions.iter().enumerate() {
        // Serializing a plain enum of strings cannot fail; fall back to Debug just in case.
        let json = serde_json::to_string(&pa.action).unwrap_or_else(|_| format!("{:?}", pa.action));
        h.update(format!("{i} {json} {:?}\n", pa.deps).as_bytes());
    }
    let digest = h.finalize();
    let mut s = hex::encode(digest);
    s.truncate(HASH_LEN);
    s
}
