//! `spec.approvedPlanHash`: a human approved one plan; execution goes on while the live plan is
//! part of it. What was approved is kept in status as digests of the objects it touched, so a plan
//! that shrinks as work proceeds stays approved and one that grows does not. Pure.

use ado_core::Plan;
use ado_core::api::SlrPhase;

use crate::crd::{AccountDeletionStatus, ApprovedPlan};

use super::super::block::{Block, BlockReason};

/// Digests of the objects a plan touches (`kind/name`), sorted and deduplicated.
pub fn object_digests(plan: &Plan) -> Vec<u32> {
    use sha2::Digest;
    let mut v: Vec<u32> = plan
        .actions
        .iter()
        .map(|a| {
            let (kind, name, _) = a.action.sort_key();
            // Recycle-bin leftovers belong to the user whose deletion was approved.
            let name = match &a.action {
                ado_core::Action::DeleteAccessKeyInRecycleBin { .. }
                | ado_core::Action::DeleteUserInRecycleBin { .. } => {
                    ado_core::model::user_name_from_upn(name)
                }
                _ => name,
            };
            let h = sha2::Sha256::digest(format!("{}/{name}", kind.as_str()).as_bytes());
            u32::from_be_bytes([h[0], h[1], h[2], h[3]])
        })
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Execution under `spec.approvedPlanHash` continues only while the live plan is part of the
/// approved one: nothing new appeared and no deleted service-linked role came back.
pub fn check_approval(st: &mut AccountDeletionStatus, approved: &str, plan: &Plan) -> Result<(), Block> {
    use base64::Engine;
    let engine = base64::engine::general_purpose::STANDARD;
    let live = object_digests(plan);
    let grew = |what: String| {
        Block::new(
            BlockReason::PlanNotApproved,
            format!(
                "{what}; review status.plan and set spec.approvedPlanHash to {} to go on",
                plan.hash
            ),
        )
    };
    if plan.hash == approved {
        if st.approved_plan.as_ref().is_none_or(|a| a.hash != approved) {
            let bytes: Vec<u8> = live.iter().flat_map(|d| d.to_be_bytes()).collect();
            st.approved_plan = Some(ApprovedPlan {
                hash: approved.to_string(),
                objects: live.len() as u64,
                digest: engine.encode(bytes),
            });
        }
        return Ok(());
    }
    let Some(rec) = st.approved_plan.as_ref().filter(|a| a.hash == approved) else {
        if plan.is_empty() {
            return Ok(());
        }
        return Err(grew(format!(
            "the live plan hashes to {} but spec.approvedPlanHash is {approved}: the account is not what was approved",
            plan.hash
        )));
    };
    let known: Vec<u32> = engine
        .decode(&rec.digest)
        .unwrap_or_default()
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    let new_objects = live.iter().filter(|d| known.binary_search(d).is_err()).count();
    if new_objects > 0 {
        return Err(grew(format!(
            "{new_objects} object(s) appeared that the approved plan {approved} did not contain"
        )));
    }
    for a in &plan.actions {
        if let ado_core::Action::DeleteServiceLinkedRole { role } = &a.action
            && st
                .service_linked_role_tasks
                .iter()
                .any(|t| &t.role == role && SlrPhase::parse(&t.status) == SlrPhase::Succeeded)
        {
            return Err(grew(format!(
                "service-linked role {role} was deleted and has been recreated"
            )));
        }
    }
    Ok(())
}
