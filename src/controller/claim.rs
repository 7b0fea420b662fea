//! One owner per account: the [`AccountClaim`] protocol (see `crate::crd::claim`).
//!
//! - **Acquire** before the first mutating call of a pass (modes PurgeRam and Delete): create
//!   `account-<id>`; the API server refuses a second creation, so two objects (or two operator
//!   releases) cannot both own it. The owner confirms it at every pass.
//! - **Refused** objects make no mutating call and record themselves in `spec.waiting`; the owner
//!   keeps what they retain and does not delete the account while one of them wants it kept.
//! - **Stale** claims (owner deleted, re-created under the same name, or done) are taken over by the
//!   next object that needs the account; a claim whose owner cannot be read (RBAC) is respected.
//!   No finalizer is involved: deleting an `AccountDeletion` never hangs, and the pass in flight
//!   stops as soon as the object is gone (`runtime::watch_for_stop`).
//! - **Release** when the owner's account is deleted (a claim left by a deleted owner stays until
//!   someone needs the account; `kubectl get accountclaims` lists them).
//!
//! Every write is conditional (create-only, or replace/delete at a resourceVersion), so races end
//! in a retry, never in two owners.

use kube::api::{DeleteParams, PostParams, Preconditions};
use kube::{Api, Client, ResourceExt};

use crate::crd::{
    AccountClaim, AccountClaimSpec, AccountDeletion, ClaimHolder, ClaimWaiter, Phase, claim_name,
};

/// What the claim says for one object.
#[derive(Debug, Clone, PartialEq)]
pub enum ClaimOutcome {
    /// This object owns the account; these objects wait for it.
    Owned {
        /// Live waiters (stale ones were dropped).
        waiters: Vec<ClaimWaiter>,
    },
    /// Another object owns it.
    Refused {
        /// The owner.
        owner: ClaimHolder,
    },
}

/// Why the claim could not be read or written (the API server: retried with backoff).
#[derive(Debug, thiserror::Error)]
#[error("account claim {name}: {source}")]
pub struct ClaimError {
    /// Claim name.
    pub name: String,
    /// Cause.
    #[source]
    pub source: kube::Error,
}

fn holder(obj: &AccountDeletion, since: &str) -> ClaimHolder {
    ClaimHolder {
        namespace: obj.namespace().unwrap_or_default(),
        name: obj.name_any(),
        uid: obj.uid().unwrap_or_default(),
        since: since.to_string(),
    }
}

fn is_status(e: &kube::Error, code: u16) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == code)
}

/// Whether `who` still exists as the same object and still needs the account. `None` when it
/// cannot be told (no permission to read its namespace): then it counts as alive.
async fn alive(client: &Client, who: &ClaimHolder) -> Result<Option<bool>, kube::Error> {
    let api: Api<AccountDeletion> = Api::namespaced(client.clone(), &who.namespace);
    match api.get_opt(&who.name).await {
        Ok(None) => Ok(Some(false)),
        Ok(Some(o)) => {
            let same = o.uid().as_deref() == Some(who.uid.as_str());
            let done = o.status.as_ref().and_then(|s| s.phase) == Some(Phase::Deleted);
            Ok(Some(same && !done))
        }
        Err(e) if is_status(&e, 403) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Acquires (or confirms) the claim of `obj`'s account, or records `obj` as waiting.
///
/// # Errors
/// The API server failed (transient: the caller retries with backoff).
pub async fn acquire(client: &Client, obj: &AccountDeletion, now: &str) -> Result<ClaimOutcome, ClaimError> {
    let name = claim_name(&obj.spec.account_id);
    let err = |source| ClaimError {
        name: name.clone(),
        source,
    };
    let api: Api<AccountClaim> = Api::all(client.clone());
    let me = holder(obj, now);
    for _ in 0..5 {
        let Some(mut claim) = api.get_opt(&name).await.map_err(err)? else {
            let fresh = AccountClaim::new(
                &name,
                AccountClaimSpec {
                    account_id: obj.spec.account_id.clone(),
                    owner: me.clone(),
                    waiting: Vec::new(),
                },
            );
            match api.create(&PostParams::default(), &fresh).await {
                Ok(_) => {
                    tracing::info!(claim = %name, owner = %me.key(), "account claimed");
                    return Ok(ClaimOutcome::Owned { waiters: Vec::new() });
                }
                Err(e) if is_status(&e, 409) => continue,
                Err(e) => return Err(err(e)),
            }
        };
        if claim.spec.owner.uid == me.uid {
            // Ours: drop waiters that are gone (and ourselves, should we have waited before).
            let mut live = Vec::new();
            for w in &claim.spec.waiting {
                if w.object.uid != me.uid && alive(client, &w.object).await.map_err(err)? != Some(false) {
                    live.push(w.clone());
                }
            }
            if live != claim.spec.waiting {
                claim.spec.waiting = live.clone();
                match api.replace(&name, &PostParams::default(), &claim).await {
                    Ok(_) => {}
                    Err(e) if is_status(&e, 409) => continue,
                    Err(e) => return Err(err(e)),
                }
            }
            return Ok(ClaimOutcome::Owned { waiters: live });
        }
        if alive(client, &claim.spec.owner).await.map_err(err)? == Some(false) {
            // The owner is gone, was re-created, or is done: take the claim over.
            let owner = claim.spec.owner.key();
            let pre = Preconditions {
                uid: claim.uid(),
                resource_version: claim.resource_version(),
            };
            match api
                .delete(&name, &DeleteParams::default().preconditions(pre))
                .await
            {
                Ok(_) => tracing::info!(claim = %name, stale_owner = %owner, "stale account claim removed"),
                Err(e) if is_status(&e, 409) || is_status(&e, 404) => {}
                Err(e) => return Err(err(e)),
            }
            continue;
        }
        // Somebody else owns it: say so in the claim (the owner keeps what we retain).
        let entry = ClaimWaiter {
            object: ClaimHolder {
                since: claim
                    .spec
                    .waiting
                    .iter()
                    .find(|w| w.object.uid == me.uid)
                    .map_or_else(|| me.since.clone(), |w| w.object.since.clone()),
                ..me.clone()
            },
            mode: obj.spec.mode,
            retain: obj.spec.ram.retain.clone(),
        };
        let mut waiting: Vec<ClaimWaiter> = claim
            .spec
            .waiting
            .iter()
            .filter(|w| w.object.uid != me.uid)
            .cloned()
            .collect();
        waiting.push(entry);
        if waiting != claim.spec.waiting {
            claim.spec.waiting = waiting;
            match api.replace(&name, &PostParams::default(), &claim).await {
                Ok(_) => {}
                Err(e) if is_status(&e, 409) => continue,
                Err(e) => return Err(err(e)),
            }
        }
        return Ok(ClaimOutcome::Refused {
            owner: claim.spec.owner.clone(),
        });
    }
    Err(err(kube::Error::Service(
        "the claim kept changing under concurrent writers; retrying later".into(),
    )))
}

/// Releases what `obj` holds: deletes the claim it owns, or removes it from the waiters.
///
/// # Errors
/// The API server failed.
pub async fn release(client: &Client, obj: &AccountDeletion) -> Result<(), ClaimError> {
    let name = claim_name(&obj.spec.account_id);
    let err = |source| ClaimError {
        name: name.clone(),
        source,
    };
    let api: Api<AccountClaim> = Api::all(client.clone());
    let uid = obj.uid().unwrap_or_default();
    for _ in 0..5 {
        let Some(mut claim) = api.get_opt(&name).await.map_err(err)? else {
            return Ok(());
        };
        if claim.spec.owner.uid == uid {
            let pre = Preconditions {
                uid: claim.uid(),
                resource_version: claim.resource_version(),
            };
            match api
                .delete(&name, &DeleteParams::default().preconditions(pre))
                .await
            {
                Ok(_) => {
                    tracing::info!(claim = %name, owner = %claim.spec.owner.key(), "account claim released");
                    return Ok(());
                }
                Err(e) if is_status(&e, 409) => continue,
                Err(e) if is_status(&e, 404) => return Ok(()),
                Err(e) => return Err(err(e)),
            }
        }
        let before = claim.spec.waiting.len();
        claim.spec.waiting.retain(|w| w.object.uid != uid);
        if claim.spec.waiting.len() == before {
            return Ok(());
        }
        match api.replace(&name, &PostParams::default(), &claim).await {
            Ok(_) => return Ok(()),
            Err(e) if is_status(&e, 409) => continue,
            Err(e) if is_status(&e, 404) => return Ok(()),
            Err(e) => return Err(err(e)),
        }
    }
    Err(err(kube::Error::Service(
        "the claim kept changing; retrying later".into(),
    )))
}
