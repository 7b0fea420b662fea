//! Service-linked role deletion: `DeleteServiceLinkedRole` (RAM and ResourceManager) starts a task,
//! ResourceManager `GetServiceLinkedRoleDeletionStatus` reports it. Tasks finish on the emulator's
//! clock; a role that is in use fails with the resources that use it (alibaba-api.md §6).

use serde_json::{Value, json};

use super::api::{ActionClass, ApiError, CallContext, Params, required};
use super::ram::RamState;

/// Class of the two service-linked role actions; `None` for anything else.
#[must_use]
pub fn classify(action: &str) -> Option<ActionClass> {
    match action {
        "DeleteServiceLinkedRole" => Some(ActionClass::Mutating),
        "GetServiceLinkedRoleDeletionStatus" => Some(ActionClass::Read),
        _ => None,
    }
}

/// Runs one of the two actions on the caller's account.
///
/// # Errors
/// `EntityNotExist.Role`, `EntityNotExist.ServiceLinkedRole`, task-id validation and lookup errors.
pub fn dispatch(st: &mut RamState, ctx: &CallContext, action: &str, p: &Params) -> Result<Value, ApiError> {
    st.settle(ctx.now);
    match action {
        "DeleteServiceLinkedRole" => {
            let role = required(p, "RoleName")?;
            let id = st.start_slr_deletion(role, ctx.now)?;
            Ok(json!({ "DeletionTaskId": id }))
        }
        "GetServiceLinkedRoleDeletionStatus" => {
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
        _ => Err(ApiError::new(
            404,
            "InvalidAction.NotFound",
            format!("Specified api {action} is not found."),
        )),
    }
}
