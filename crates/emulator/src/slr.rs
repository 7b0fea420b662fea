//! Service-linked role deletion: `DeleteServiceLinkedRole` (RAM and ResourceManager) starts a task,
//! ResourceManager `GetServiceLinkedRoleDeletionStatus` reports it. Tasks finish on the emulator's
//! clock; a role that is in use fails with the resources that use it (alibaba-api.md §6).

use serde_json::{Value, json};

use super::api::{ActionClass, ApiError, CallContext, Params, required};
use super::catalog::Action;
use super::ram::RamState;

/// RAM's copy of `DeleteServiceLinkedRole`.
pub const RAM_ACTIONS: &[Action] = &[Action::account(
    "DeleteServiceLinkedRole",
    ActionClass::Mutating,
    delete_slr,
)];

/// ResourceManager's `DeleteServiceLinkedRole` and `GetServiceLinkedRoleDeletionStatus`.
pub const RM_ACTIONS: &[Action] = &[
    Action::account("DeleteServiceLinkedRole", ActionClass::Mutating, delete_slr),
    Action::account(
        "GetServiceLinkedRoleDeletionStatus",
        ActionClass::Read,
        deletion_status,
    ),
];

/// Starts (or returns the running) deletion task of a service-linked role.
fn delete_slr(st: &mut RamState, ctx: &CallContext, p: &Params) -> Result<Value, ApiError> {
    st.settle(ctx.now);
    let role = required(p, "RoleName")?;
    let id = st.start_slr_deletion(role, ctx.now)?;
    Ok(json!({ "DeletionTaskId": id }))
}

/// Reports a deletion task: `IN_PROGRESS`, `SUCCEEDED`, or `FAILED` with the resources in use.
fn deletion_status(st: &mut RamState, ctx: &CallContext, p: &Params) -> Result<Value, ApiError> {
    st.settle(ctx.now);
    let id = required(p, "DeletionTaskId")?;
    if !(26..=255).contains(&id.len()) {
        return Err(ApiError::new(
            400,
            "InvalidParameter.DeletionTaskId.Length",
            "The length of the parameter - \"DeletionTaskId\" MUST be in the range of 26 and 255.",
        ));
    }
    let task = st.tasks.get(id).ok_or_else(|| {
        ApiError::new(
            404,
            "EntityNotExist.ServiceLinkedRole.DeletionTask",
            "The deletion task of the service-linked role does not exist.",
        )
    })?;
    Ok(match &task.outcome {
        None => json!({ "Status": "IN_PROGRESS" }),
        Some(Ok(())) => json!({ "Status": "SUCCEEDED" }),
        Some(Err(usages)) => {
            let service = id.split('/').nth(2).unwrap_or("the service");
            let usage: Vec<Value> = usages
                .iter()
                .map(|u| json!({ "Region": u.region, "Resources": { "Resource": u.resources } }))
                .collect();
            json!({
                "Status": "FAILED",
                "Reason": {
                    "Message": format!(
                        "Service-Linked Role acs:ram::{}:role/{} cannot be deleted as it is in use by {service}.",
                        st.account_id(),
                        task.role.to_lowercase()
                    ),
                    "RoleUsages": { "RoleUsage": usage },
                }
            })
        }
    })
}
