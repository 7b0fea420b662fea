//! Plain-words advice for Alibaba Cloud error codes, shown in `status.lastError.hint`, Events and
//! logs next to the code, message and RequestId.

/// Codes that are worth retrying soon although the HTTP status says client error.
#[must_use]
pub fn is_retryable(code: &str) -> bool {
    matches!(
        code,
        "NotSupportedOperation.CheckingAccount"
            | "UnknownError.Account"
            | "InvalidControlPolicyEnablementStatus"
    )
}

/// What the user can do about `code`, when there is something to say.
#[must_use]
pub fn hint(code: &str) -> Option<&'static str> {
    let h = match code {
        "SignatureDoesNotMatch" | "IncompleteSignature" => {
            "the accessKeySecret in the credentials Secret does not match the accessKeyId; fix the Secret (it is re-read on every pass)"
        }
        "InvalidAccessKeyId.NotFound" => {
            "the accessKeyId in the credentials Secret does not exist; create a key for the management account and update the Secret"
        }
        "InvalidAccessKeyId.Inactive" => {
            "the AccessKey is disabled; enable it or put an active key into the Secret"
        }
        "InvalidSecurityToken.Expired"
        | "InvalidSecurityToken.MismatchWithAccessKey"
        | "InvalidSecurityToken.Malformed" => {
            "the securityToken in the Secret is expired or does not belong to the key; refresh it or remove it for a long-term key"
        }
        "NoPermission" | "Forbidden.RAM" | "Forbidden" => {
            "the management identity lacks a RAM permission for this action; grant it (see README: required permissions)"
        }
        "EntityNotExist.Role" => "the role does not exist in the member account; check spec.accessRoleName",
        "NoPermission.AssumeRole" | "AccessDenied.AssumeRole" => {
            "the access role does not trust the management account, or the caller may not assume it; check the role's trust policy"
        }
        "EntityNotExists.Account" => {
            "the account is not a member of this Resource Directory; check spec.accountId"
        }
        "NoLicense.ResourceDirectory" => {
            "member deletion is disabled for the Resource Directory; enable it (SetMemberDeletionPermission Status=Enabled)"
        }
        "MemberTypeError.DeleteAccount" => {
            "only members created in the Resource Directory can be deleted; an invited CloudAccount must be removed from the directory instead"
        }
        "NotSupport.HasPayerAccount" => {
            "the account has a payer (financial) relationship; remove it in the Billing console, then the operator retries"
        }
        "CallerIdentityError.DeleteAccount" => {
            "DeleteAccount must be called by a RAM user or role of the management account"
        }
        "Throttling" | "Throttling.User" | "Throttling.Api" => {
            "Alibaba Cloud rate limit; the operator backs off and retries"
        }
        _ => return None,
    };
    Some(h)
}
