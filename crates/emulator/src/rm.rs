//! ResourceManager (2020-03-31): the directory, its accounts, and the member deletion flow
//! `CheckAccountDelete` → `GetAccountDeletionCheckResult` → `DeleteAccount` → `GetAccountDeletionStatus`,
//! driven by the emulator's clock and the account's `deletion:` seed (alibaba-api.md §6).

use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use super::api::ActionClass::{Mutating, PreCheck, Read};
use super::api::{ApiError, CallContext, Params, only, param, required};
use super::catalog::Action;
use super::seed::{CheckSeed, FailReasonSeed, is_account_id};
use super::table::max_items;
use super::tags::{self, TagFilter};
use super::world::{Account, World};

/// A deletion accepted by `DeleteAccount`.
#[derive(Debug, Clone)]
pub struct Deletion {
    /// When `DeleteAccount` was accepted.
    pub created: Timestamp,
    /// 0 = direct, 1 = silence period.
    pub kind: u8,
    /// When it finishes.
    pub due: Timestamp,
    /// `Deleting`, `Success`, `CheckFailed`, `DeleteFailed`.
    pub status: &'static str,
    /// When it finished.
    pub finished: Option<Timestamp>,
    /// Why it failed.
    pub fail_reasons: Vec<FailReasonSeed>,
    /// Check IDs the caller waived.
    pub abandoned: Vec<String>,
}

impl Deletion {
    /// JSON for the admin dump.
    #[must_use]
    pub fn dump(&self) -> Value {
        json!({
            "status": self.status, "deletionType": self.kind, "createTime": rm_time(self.created),
            "deletionTime": self.finished.map(rm_time), "abandonedCheckIds": self.abandoned,
            "failReasons": self.fail_reasons.iter().map(|r| json!({"name": r.name, "description": r.description})).collect::<Vec<_>>(),
        })
    }
}

/// ResourceManager times are in `+08:00`, as the real service answers.
#[must_use]
pub fn rm_time(t: Timestamp) -> String {
    let china = t.to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)));
    china.strftime("%Y-%m-%dT%H:%M:%S+08:00").to_string()
}

/// Finishes a deletion that is due.
pub(crate) fn settle(a: &mut Account, now: Timestamp) {
    let Some(d) = &mut a.deletion else { return };
    if d.status != "Deleting" || d.due > now {
        return;
    }
    d.finished = Some(d.due);
    if a.deletion_seed.fail_reasons.is_empty() {
        d.status = "Success";
        a.deleted = true;
    } else {
        d.status = "DeleteFailed";
        d.fail_reasons.clone_from(&a.deletion_seed.fail_reasons);
    }
}

fn no_account() -> ApiError {
    ApiError::new(
        404,
        "EntityNotExists.Account",
        "The specified account does not exist.",
    )
}

fn no_check() -> ApiError {
    ApiError::new(
        409,
        "EntityNotExists.CheckAccount",
        "There is no check task for this account.",
    )
}

fn account_json(w: &World, a: &Account) -> Value {
    json!({
        "AccountId": a.id, "DisplayName": a.display_name, "AccountName": format!("{}@{}.onaliyun.com", a.display_name.replace(' ', "-"), a.id),
        "Type": a.kind, "Status": a.status, "FolderId": w.root_folder, "ResourceDirectoryId": w.rd_id,
        "ResourceDirectoryPath": format!("{}/{}/{}", w.rd_id, w.root_folder, a.id),
        "JoinMethod": if a.kind == "CloudAccount" { "invited" } else { "created" },
        "JoinTime": rm_time(a.joined), "ModifyTime": rm_time(a.joined), "IdentityInformation": "", "EmailStatus": "", "Location": "",
        "Tags": tags::rm_list(&a.tags),
    })
}

/// `IncludeTags` (`true`/`false` in any case; default false).
fn include_tags(p: &Params) -> Result<bool, ApiError> {
    match param(p, "IncludeTags").filter(|s| !s.is_empty()) {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
        Some(_) => Err(ApiError::new(
            400,
            "InvalidParameter.IncludeTags",
            "The parameter IncludeTags must be true or false.",
        )),
    }
}

/// The member an `AccountId` names, checked for the deletion actions.
fn member<'a>(w: &'a mut World, p: &Params) -> Result<&'a mut Account, ApiError> {
    let id = account_id(p)?;
    w.accounts
        .get_mut(id)
        .filter(|a| !a.deleted)
        .ok_or_else(no_account)
}

/// `AccountId`, present and 16 digits.
fn account_id(p: &Params) -> Result<&str, ApiError> {
    let id = required(p, "AccountId").map_err(|_| {
        ApiError::new(
            400,
            "MissingParameter.AccountId",
            "The parameter AccountId is required.",
        )
    })?;
    if !is_account_id(id) {
        return Err(ApiError::new(
            400,
            "InvalidParameter.AccountId",
            "The specified AccountId is invalid.",
        ));
    }
    Ok(id)
}

/// Refuses deletion calls that are not from the management account.
fn management_only(w: &World, ctx: &CallContext) -> Result<(), ApiError> {
    if ctx.caller.account_id == w.management {
        Ok(())
    } else {
        Err(ApiError::new(
            409,
            "CallerIdentityError.DeleteAccount",
            "The operation must be called by the management account of the resource directory.",
        ))
    }
}

fn deletable((management, member_deletion): &(String, String), a: &Account) -> Result<(), ApiError> {
    if &a.id == management {
        return Err(ApiError::new(
            409,
            "AccountTypeOrStatusMismatch",
            "The management account cannot be deleted.",
        ));
    }
    if a.kind != "ResourceAccount" {
        return Err(ApiError::new(
            409,
            "MemberTypeError.DeleteAccount",
            "Only resource accounts created in the resource directory can be deleted.",
        ));
    }
    if member_deletion != "Enabled" {
        return Err(ApiError::new(
            409,
            "NoLicense.ResourceDirectory",
            "Member deletion is not enabled for this resource directory (SetMemberDeletionPermission).",
        ));
    }
    Ok(())
}

fn checks(list: &[CheckSeed]) -> Vec<Value> {
    list.iter()
        .map(|c| json!({"CheckId": c.check_id, "CheckName": c.check_name, "Description": c.description}))
        .collect()
}

/// Every ResourceManager action except the service-linked role ones ([`super::slr`]).
pub const ACTIONS: &[Action] = &[
    Action::world("GetResourceDirectory", Read, |w, _ctx, _p| {
        Ok(json!({"ResourceDirectory": {
            "ResourceDirectoryId": w.rd_id, "RootFolderId": w.root_folder, "MasterAccountId": w.management,
            "MasterAccountName": w.management_name, "MemberDeletionStatus": w.member_deletion,
            "ControlPolicyStatus": "Disabled", "CreateTime": rm_time(w.created), "IdentityInformation": "",
        }}))
    }),
    Action::world("SetMemberDeletionPermission", Mutating, |w, ctx, p| {
        management_only(w, ctx)?;
        let s = required(p, "Status")?;
        if !matches!(s, "Enabled" | "Disabled") {
            return Err(ApiError::new(
                400,
                "InvalidParameter.Status",
                "The parameter Status must be Enabled or Disabled.",
            ));
        }
        w.member_deletion = s.to_owned();
        Ok(
            json!({"ManagementAccountId": w.management, "MemberDeletionStatus": s, "ResourceDirectoryId": w.rd_id}),
        )
    }),
    Action::world("ListAccounts", Read, |w, ctx, p| {
        only(
            p,
            "ListAccounts",
            &["IncludeTags", "PageNumber", "PageSize", "Tag.*"],
        )?;
        let size = max_items(p, "PageSize", 100, 10, ctx.page_limit)?;
        let number = match param(p, "PageNumber").filter(|s| !s.is_empty()) {
            None => 1,
            Some(s) => s.parse::<usize>().ok().filter(|n| *n >= 1).ok_or_else(|| {
                ApiError::new(
                    400,
                    "InvalidParameter.PageNumber",
                    "The parameter PageNumber must be at least 1.",
                )
            })?,
        };
        let with_tags = include_tags(p)?;
        let filter = TagFilter::from_repeat_list(p)?;
        // The tag filter applies before paging: TotalCount counts the matching accounts.
        let live: Vec<&Account> = w
            .accounts
            .values()
            .filter(|a| !a.deleted && tags::passes(filter.as_ref(), &a.tags))
            .collect();
        let items: Vec<Value> = live
            .iter()
            .skip((number - 1) * size)
            .take(size)
            .map(|a| {
                let mut v = json!({
                    "AccountId": a.id, "DisplayName": a.display_name, "Type": a.kind, "Status": a.status,
                    "FolderId": w.root_folder, "ResourceDirectoryId": w.rd_id,
                    "ResourceDirectoryPath": format!("{}/{}/{}", w.rd_id, w.root_folder, a.id),
                    "JoinMethod": if a.kind == "CloudAccount" { "invited" } else { "created" },
                    "JoinTime": rm_time(a.joined), "ModifyTime": rm_time(a.joined),
                });
                if let (true, Some(o)) = (with_tags, v.as_object_mut()) {
                    o.insert("Tags".into(), json!({ "Tag": tags::rm_list(&a.tags) }));
                }
                v
            })
            .collect();
        Ok(
            json!({"Accounts": {"Account": items}, "PageNumber": number, "PageSize": size, "TotalCount": live.len()}),
        )
    }),
    Action::world("GetAccount", Read, |w, _ctx, p| {
        let id = account_id(p)?;
        let a = w.accounts.get(id).filter(|a| !a.deleted).ok_or_else(no_account)?;
        Ok(json!({ "Account": account_json(w, a) }))
    }),
    Action::world("CheckAccountDelete", PreCheck, |w, ctx, p| {
        management_only(w, ctx)?;
        let mgmt_view = (w.management.clone(), w.member_deletion.clone());
        let a = member(w, p)?;
        deletable(&mgmt_view, a)?;
        if let Some(code) = &a.deletion_seed.check_error {
            return Err(ApiError::new(
                409,
                code,
                format!("The deletion check cannot run: {code}."),
            ));
        }
        if a.deletion.as_ref().is_some_and(|d| d.status == "Deleting") {
            return Err(ApiError::new(
                409,
                "NotSupportedOperation.DeletingAccount",
                "The account is being deleted.",
            ));
        }
        a.check_started = Some(ctx.now);
        Ok(json!({}))
    }),
    Action::world("GetAccountDeletionCheckResult", PreCheck, |w, ctx, p| {
        management_only(w, ctx)?;
        let a = member(w, p)?;
        let started = a.check_started.ok_or_else(no_check)?;
        let s = &a.deletion_seed;
        if ctx.now < started + secs(s.check_seconds) {
            return Ok(
                json!({"AccountDeletionCheckResultInfo": {"Status": "PreChecking", "AllowDelete": "false"}}),
            );
        }
        Ok(json!({"AccountDeletionCheckResultInfo": {
            "Status": "PreCheckComplete",
            "AllowDelete": if s.blocking.is_empty() { "true" } else { "false" },
            "NotAllowReason": checks(&s.blocking),
            "AbandonableChecks": checks(&s.abandonable),
        }}))
    }),
    Action::world("DeleteAccount", Mutating, |w, ctx, p| {
        management_only(w, ctx)?;
        let abandoned: Vec<String> = match param(p, "AbandonableCheckId").filter(|s| !s.is_empty()) {
            None => vec![],
            Some(s) => serde_json::from_str(s).map_err(|_| {
                ApiError::new(
                    400,
                    "InvalidParameter.AbandonableCheckId",
                    "The parameter AbandonableCheckId must be a JSON array of check IDs.",
                )
            })?,
        };
        let mgmt_view = (w.management.clone(), w.member_deletion.clone());
        let a = member(w, p)?;
        deletable(&mgmt_view, a)?;
        if a.deletion.as_ref().is_some_and(|d| d.status == "Deleting") {
            return Err(ApiError::new(
                409,
                "NotSupportedOperation.DeletingAccount",
                "The account is being deleted.",
            ));
        }
        let started = a.check_started.ok_or_else(no_check)?;
        let s = a.deletion_seed.clone();
        if ctx.now < started + secs(s.check_seconds) {
            return Err(ApiError::new(
                409,
                "NotSupportedOperation.CheckingAccount",
                "The deletion check of the account is in progress.",
            ));
        }
        if let Some(code) = &s.delete_error {
            return Err(ApiError::new(
                409,
                code,
                format!("The account cannot be deleted: {code}."),
            ));
        }
        // Blocking checks, and abandonable ones the caller did not waive, fail the deletion.
        let mut reasons: Vec<FailReasonSeed> = s
            .blocking
            .iter()
            .chain(s.abandonable.iter().filter(|c| !abandoned.contains(&c.check_id)))
            .map(|c| FailReasonSeed {
                name: c.check_name.clone(),
                description: format!("{} ({})", c.description, c.check_id),
            })
            .collect();
        reasons.dedup();
        let kind = s.deletion_type;
        let length = if kind == 1 {
            s.silence_seconds
        } else {
            s.deleting_seconds
        };
        a.deletion = Some(if reasons.is_empty() {
            Deletion {
                created: ctx.now,
                kind,
                due: ctx.now + secs(length),
                status: "Deleting",
                finished: None,
                fail_reasons: vec![],
                abandoned,
            }
        } else {
            Deletion {
                created: ctx.now,
                kind,
                due: ctx.now,
                status: "CheckFailed",
                finished: Some(ctx.now),
                fail_reasons: reasons,
                abandoned,
            }
        });
        a.check_started = None;
        Ok(json!({ "DeletionType": kind.to_string() }))
    }),
    Action::world("GetAccountDeletionStatus", Read, |w, _ctx, p| {
        let id = account_id(p)?;
        let a = w.accounts.get(id).ok_or_else(no_account)?;
        let d = a.deletion.as_ref().ok_or_else(no_check)?;
        let mut st = json!({
            "AccountId": a.id, "Status": d.status, "DeletionType": d.kind.to_string(), "CreateTime": rm_time(d.created),
            "FailReasonList": d.fail_reasons.iter().map(|r| json!({"Name": r.name, "Description": r.description})).collect::<Vec<_>>(),
        });
        if let (Some(f), Some(o)) = (d.finished, st.as_object_mut()) {
            o.insert("DeletionTime".into(), Value::String(rm_time(f)));
        }
        Ok(json!({ "RdAccountDeletionStatus": st }))
    }),
];

fn secs(n: u64) -> SignedDuration {
    SignedDuration::from_secs(i64::try_from(n).unwrap_or(i64::MAX / 2))
}
