//! The pass in order: observe what the next decision needs, let [`super::decide`] choose, act on
//! the one step it chose, and render it ([`super::report`]). Every Alibaba call of a pass is made
//! here or in [`super::purge`] / [`super::deletion`]; every choice is made in `decide`.

use std::collections::BTreeSet;

use ado_core::{CallError, Plan, PlanApi};

use crate::crd::{Mode, ObservedAccount, Phase};

use super::super::block::BlockReason;
use super::super::claim::ClaimOutcome;
use super::super::conditions::{Cond, Truth};
use super::super::converge;
use super::super::directory::Directory;
use super::super::validate::{Block, Validated};
use super::decide::{self, Emptiness, Gate, Missing, Start};
use super::report::{Halt, Pass, plan_status, ts, update_progress};
use super::{EventKind, StatusSink, approval, deletion, purge};

/// Runs the pass to its one concluding step.
pub(super) async fn drive<D: Directory, S: StatusSink>(
    p: &mut Pass<'_>,
    dir: &D,
    v: &Validated,
    sink: &S,
) -> Halt {
    let spec = &p.obj.spec;
    let id = spec.account_id.as_str();
    match decide::start(&p.st, spec.suspend) {
        Start::Deleted => {
            return p.settled(
                Phase::Deleted,
                "Deleted",
                format!("account {id} is deleted"),
                None,
            );
        }
        Start::Suspended => return suspended(p),
        // Deletion already accepted: only ResourceManager can tell us more.
        Start::FollowDeletion => return deletion::follow(p, dir).await,
        Start::Verify => {}
    }

    // 1. The target: the right directory, the right account, the right kind of member.
    let rd = match dir.resource_directory().await {
        Ok(rd) => rd,
        Err(e) => {
            return p.call_failed(
                "GetResourceDirectory",
                &e,
                BlockReason::ResourceDirectoryUnavailable,
            );
        }
    };
    if let Err(b) = decide::verify_directory(id, &rd) {
        return p.blocked(b, "Verify");
    }
    let acc = match dir.get_account(id).await {
        Ok(a) => a,
        Err(e) if e.is_not_found() => match decide::account_missing(id, &p.st, v.mode, &rd) {
            Missing::AlreadyDeleted => {
                return deletion::already_gone(p, "the account is no longer in the resource directory");
            }
            Missing::NotInDirectory(b) => {
                p.record_error("GetAccount", &e);
                return p.blocked(b, "Verify");
            }
        },
        Err(e) => return p.call_failed("GetAccount", &e, BlockReason::AccountLookupFailed),
    };
    p.st.account = Some(ObservedAccount {
        display_name: acc.display_name.clone(),
        account_type: acc.account_type.to_string(),
        status: acc.status.clone(),
    });
    if let Err(b) = decide::verify_account(id, &spec.account_display_name, v.mode, &acc) {
        return p.blocked(b, "Verify");
    }

    // One owner per account: before anything can change, this object must own the account's
    // claim. Objects waiting for it are honoured: what they retain is kept too, and the account is
    // not deleted while one of them wants it kept.
    let mut waiters = Vec::new();
    if v.mode != Mode::Plan {
        match sink.claim().await {
            Ok(ClaimOutcome::Owned { waiters: w }) => waiters = w,
            Ok(ClaimOutcome::Refused { owner }) => {
                return p.blocked(
                    Block::new(
                        BlockReason::AccountClaimed,
                        format!(
                            "account {id} is owned by AccountDeletion {} (since {}); this object makes no change \
                             until that one is deleted or its account is deleted. Meanwhile the owner also keeps \
                             what this object retains. To hand over, delete {}",
                            owner.key(),
                            owner.since,
                            owner.key()
                        ),
                    ),
                    "Claim",
                );
            }
            Err(e) => {
                let phase = p.st.phase.unwrap_or(Phase::Planned);
                p.result = "error";
                p.reason = Some("ClaimUnavailable".into());
                let after = p.opts.error_retry;
                return p.progressing(
                    phase,
                    "Retrying",
                    format!("cannot read the account claim ({e}); retrying"),
                    after,
                );
            }
        }
    }

    // 2. Inventory and plan, through the member's access role.
    let member = match dir.member(id, &spec.access_role_name).await {
        Ok(m) => m,
        Err(e) => return p.call_failed("AssumeRole", &e, BlockReason::AccessRoleUnavailable),
    };
    // Which role the session really is: that role is never planned for change, whatever
    // spec.accessRoleName says, and the session must be in the account we were asked to empty.
    let session = match member.session_role().await {
        Ok(s) => s,
        Err(e) => return p.call_failed("GetCallerIdentity", &e, BlockReason::AccessRoleUnavailable),
    };
    let mut plan_options = v.plan_options.clone();
    for w in &waiters {
        plan_options.retain.extend(&w.retain);
    }
    match decide::verify_session(id, session.as_ref(), v.mode, &plan_options.kinds) {
        Ok(role_id) => {
            if role_id.is_some() {
                plan_options.access_role_id = role_id;
            }
        }
        Err(b) => return p.blocked(b, "AssumeRole"),
    }
    // A later look at an account found empty: GetAccountSummary plus the few listings it does not
    // cover, instead of the whole inventory (controller::converge). Any difference: full inventory.
    let cheap = decide::cheap_check(&p.st, v.mode, &plan_options.kinds, p.now, p.opts.empty_confirm)
        && match converge::still_empty(member.as_ref(), &p.st.inventory, &plan_options, id).await {
            Ok(same) => same,
            Err(e) => return p.call_failed("GetAccountSummary", &e, BlockReason::InventoryFailed),
        };
    if cheap {
        tracing::debug!(account = %id, check = converge::CHECK_CALLS, "RAM still empty");
        p.st.inventory_time = Some(ts(p.now));
    } else {
        // Discovery fans out as wide as execution does (the rate budget paces both). Users whose
        // deletion the service refused because of passkeys: list theirs (one call each).
        let passkeys_for: BTreeSet<String> = p.st.users_with_passkeys.iter().cloned().collect();
        let inv = match ado_core::inventory::discover_with(
            member.as_ref(),
            &plan_options.kinds,
            id,
            p.opts.concurrency,
            decide::attachments(p.st.last_error.as_ref()),
            &passkeys_for,
        )
        .await
        {
            Ok(i) => i,
            Err(e) => return p.call_failed("Inventory", &e, BlockReason::InventoryFailed),
        };
        p.st.users_with_passkeys
            .retain(|u| inv.users.iter().any(|x| &x.name == u));
        let plan = match ado_core::build(&inv, &plan_options) {
            Ok(plan) => plan,
            Err(e) => {
                return p.blocked(
                    Block::new(BlockReason::InvalidRetainPattern, e.to_string()),
                    "Plan",
                );
            }
        };
        record_plan(p, &inv, &plan);

        if v.mode == Mode::Plan {
            return deletion::plan_mode(p, dir, &rd, &acc, &plan).await;
        }

        // 3. Guards before the first mutating call.
        match decide::before_first_change(v.mode, &rd, v.not_before, p.now, p.opts.resync, &plan.hash) {
            Gate::Open => {}
            Gate::Blocked(b) => return p.blocked(b, "DeleteAccount"),
            Gate::NotBefore { message, after } => return not_before(p, &message, after),
        }
        if let Some(approved) = &spec.approved_plan_hash
            && let Err(block) = approval::check_approval(&mut p.st, approved, &plan)
        {
            return p.blocked(block, "Plan");
        }

        // 4. Empty RAM. Tasks of service-linked roles that no longer appear in the inventory are not
        // in the plan any more, so the executor will not poll them: settle them here.
        purge::settle_finished_slr_tasks(p, member.as_ref(), &inv).await;
        // The plan holds what the purge needs; the inventory (policy documents, every listing)
        // would otherwise stay in memory for the whole purge, once per object in flight.
        drop(inv);
        let in_flight =
            p.st.service_linked_role_tasks
                .iter()
                .any(|t| decide::slr_in_flight(&t.status));
        if !plan.is_empty() || in_flight {
            return start_purge(p, member.as_ref(), &plan, sink).await;
        }
    }
    // Empty once is not enough: eventual consistency and concurrent creators are real.
    match decide::emptiness(&p.st, p.now, p.opts.empty_confirm) {
        Emptiness::FirstSeen => {
            // To the millisecond, unlike the other times: rounded to the second it could lie up to
            // half a second ahead, and the confirming pass would find the window not yet over and
            // take one more full inventory.
            p.st.empty_observed_time =
                Some(p.now.round(jiff::Unit::Millisecond).unwrap_or(p.now).to_string());
            let after = p.opts.empty_confirm;
            return verifying_empty(p, after);
        }
        Emptiness::Verifying(after) => return verifying_empty(p, after),
        Emptiness::Confirmed => {}
    }
    p.cond(
        Cond::RamEmpty,
        Truth::True,
        "Empty",
        "the selected RAM kinds are empty except what is retained",
    );
    update_progress(p, 0);

    if v.mode == Mode::PurgeRam {
        let msg = format!(
            "RAM of account {id} is empty except {} retained object(s)",
            p.st.retained.len()
        );
        let after = Some(p.opts.resync);
        return p.settled(Phase::RamEmpty, "RamEmpty", msg, after);
    }

    // 5. Delete the account (member deletion was checked before the first mutating call).
    deletion::delete(p, dir, sink, &waiters).await
}

fn suspended(p: &mut Pass<'_>) -> Halt {
    let phase = p.st.phase.unwrap_or(Phase::Planned);
    let msg = "spec.suspend is true: no calls to Alibaba Cloud until it is cleared".to_string();
    p.st.phase = Some(phase);
    p.cond(Cond::Reconciling, Truth::False, "Suspended", &msg);
    p.cond(Cond::Stalled, Truth::False, "Suspended", "");
    p.cond(Cond::Ready, Truth::False, "Suspended", &msg);
    p.st.message = Some(msg);
    Halt
}

fn not_before(p: &mut Pass<'_>, msg: &str, after: std::time::Duration) -> Halt {
    p.st.phase = Some(Phase::Planned);
    p.cond(Cond::Ready, Truth::False, "WaitingForNotBefore", msg);
    p.cond(Cond::Reconciling, Truth::True, "WaitingForNotBefore", msg);
    p.cond(Cond::Stalled, Truth::False, "WaitingForNotBefore", "");
    p.st.message = Some(msg.to_string());
    p.requeue = Some(after);
    Halt
}

fn verifying_empty(p: &mut Pass<'_>, after: std::time::Duration) -> Halt {
    let id = p.obj.spec.account_id.clone();
    p.progressing(
        Phase::PurgingRam,
        "VerifyingEmpty",
        format!("RAM of account {id} looks empty; verifying with a second inventory"),
        after,
    )
}

/// The inventory and the plan, as status shows them.
fn record_plan(p: &mut Pass<'_>, inv: &ado_core::Inventory, plan: &Plan) {
    p.st.inventory = inv
        .counts()
        .into_iter()
        .map(|(k, n)| (k.as_str().to_string(), n as u64))
        .collect();
    p.st.inventory_time = Some(ts(p.now));
    p.st.plan = Some(plan_status(plan, p.opts.plan_entries));
    update_progress(p, plan.remaining().values().sum::<usize>() as u64);
    p.st.retained = plan
        .retained
        .iter()
        .map(|(k, n)| format!("{}/{n}", k.as_str()))
        .chain(
            plan.kept
                .iter()
                .map(|k| format!("{}/{} ({})", k.kind.as_str(), k.name, k.reason)),
        )
        .collect();
}

/// Something to delete: record that work started (durably, before the first mutating call), then
/// run the plan unless a stop was asked for meanwhile.
async fn start_purge<M: PlanApi, S: StatusSink>(p: &mut Pass<'_>, member: &M, plan: &Plan, sink: &S) -> Halt {
    let id = p.obj.spec.account_id.clone();
    let was_empty = decide::reappeared(&p.st, plan);
    p.st.empty_observed_time = None;
    if was_empty {
        let objects: usize = plan.remaining().values().sum();
        p.event(
            EventKind::Warning,
            "ResourcesReappeared",
            "Inventory",
            format!(
                "{objects} RAM object(s) appeared in account {id} after it was found empty ({}); purging again",
                plan.first_entries(3).join("; ")
            ),
        );
    }
    if p.st.started_account_id.is_none() {
        p.st.started_account_id = Some(id.clone());
    }
    p.st.phase = Some(Phase::PurgingRam);
    p.cond(Cond::RamEmpty, Truth::False, "Purging", "RAM objects remain");
    if let Err(e) = sink.save(&p.st).await {
        let after = p.opts.error_retry;
        return p.progressing(
            Phase::PurgingRam,
            "StatusWriteFailed",
            format!("could not record progress before deleting ({e}); retrying"),
            after,
        );
    }
    if let Some(why) = p.stop.requested() {
        return p.stopped(&why);
    }
    purge::purge(p, member, plan, sink).await
}
