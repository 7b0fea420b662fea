//! Why the operator will not act: one typed reason per way a pass can be stopped, so the
//! condition reason, the Event reason and the metric label cannot drift apart or be misspelt, and
//! a test can match on the variant.

use std::fmt;

macro_rules! block_reasons {
    ($($(#[$doc:meta])* $name:ident,)*) => {
        /// Why a pass stopped before (or instead of) changing anything; the variant's name is the
        /// `Stalled` condition's reason, the Warning Event's reason and the `reason` metric label.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum BlockReason {
            $($(#[$doc])* $name,)*
        }

        impl BlockReason {
            /// Every reason, for documentation and tests.
            pub const ALL: &'static [BlockReason] = &[$(BlockReason::$name,)*];

            /// The CamelCase reason as `status`, Events and metrics show it.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(BlockReason::$name => stringify!($name),)*
                }
            }
        }
    };
}

block_reasons! {
    // The spec (validate.rs).
    /// `spec.accountId` is not a 16-digit account id.
    InvalidAccountId,
    /// `spec.accountId` changed after work started on another account.
    AccountIdChanged,
    /// The account is in the operator's `--protected-account-ids`.
    ProtectedAccount,
    /// `spec.accountDisplayName` is empty or malformed.
    InvalidDisplayName,
    /// `spec.accessRoleName` is malformed.
    InvalidAccessRole,
    /// `spec.notBefore` is not an RFC 3339 time.
    InvalidNotBefore,
    /// `spec.approvedPlanHash` is malformed.
    InvalidApprovedPlanHash,
    /// `spec.deletion.abandonableCheckIds` holds a malformed id.
    InvalidAbandonableCheckId,
    /// `spec.ram.kinds` selects nothing.
    NoKindsSelected,
    /// Mode Delete with `spec.ram.kinds` narrowed: RAM would not be empty.
    KindsNarrowedForDelete,
    /// A `spec.ram.retain` pattern does not compile.
    InvalidRetainPattern,
    /// `spec.endpoint(s)` is not a URL the client can use.
    InvalidEndpoint,
    /// `spec.endpoint(s)` is outside `--allowed-endpoints`.
    EndpointNotAllowed,
    /// `spec.credentialsSecretRef` is malformed.
    InvalidSecretRef,
    // The credentials Secret (secret.rs).
    /// The Secret does not exist.
    SecretNotFound,
    /// The operator may not read the Secret.
    SecretForbidden,
    /// The Secret lacks a key.
    SecretKeyMissing,
    // The target (pass).
    /// The account is the directory's management account.
    ManagementAccount,
    /// The account is not a member of the directory.
    AccountNotInDirectory,
    /// `spec.accountDisplayName` does not match the account.
    DisplayNameMismatch,
    /// Mode Delete on an invited member.
    NotDeletableMemberType,
    /// Another `AccountDeletion` owns the account.
    AccountClaimed,
    /// The member session is in another account.
    WrongAccount,
    /// The member session did not say which role it is.
    AccessRoleUnidentified,
    // Before the first change.
    /// Mode Delete while member deletion is disabled for the directory.
    MemberDeletionDisabled,
    /// The live plan is not the approved one.
    PlanNotApproved,
    // Calls Alibaba refused (by the call that failed).
    /// `GetResourceDirectory` failed.
    ResourceDirectoryUnavailable,
    /// `GetAccount` failed.
    AccountLookupFailed,
    /// `AssumeRole` / `GetCallerIdentity` into the member failed.
    AccessRoleUnavailable,
    /// The inventory failed.
    InventoryFailed,
    /// `GetAccountDeletionStatus` failed.
    DeletionStatusUnavailable,
    /// The deletion pre-check was refused.
    DeletionCheckRejected,
    /// `DeleteAccount` was refused.
    DeleteAccountRejected,
    /// A RAM call of the plan was refused for good.
    RamCallRejected,
    /// The management credentials were rejected (any call).
    CredentialsRejected,
    /// The management identity lacks a permission (any call).
    PermissionDenied,
    // The purge and the deletion.
    /// A service-linked role's deletion task failed: the role is in use.
    ServiceLinkedRoleInUse,
    /// ResourceManager's pre-check has blocking items.
    DeletionBlocked,
    /// Deleting abandons resources whose check ids are not waived.
    AbandonableChecksNotWaived,
    /// Another object naming the account does not want it deleted.
    ConflictingAccountDeletion,
    /// ResourceManager could not delete the account.
    DeleteFailed,
}

impl fmt::Display for BlockReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why the operator will not act, in words for `status`, Events and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// The typed reason.
    pub reason: BlockReason,
    /// What is wrong and how to fix it.
    pub message: String,
}

impl Block {
    /// Builds a block.
    #[must_use]
    pub fn new(reason: BlockReason, message: impl Into<String>) -> Block {
        Block {
            reason,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_unique_camel_case_names() {
        let mut seen = std::collections::BTreeSet::new();
        for r in BlockReason::ALL {
            let s = r.as_str();
            assert!(s.chars().next().is_some_and(|c| c.is_ascii_uppercase()), "{s}");
            assert!(s.chars().all(|c| c.is_ascii_alphanumeric()), "{s}");
            assert!(seen.insert(s), "{s} twice");
        }
    }
}
