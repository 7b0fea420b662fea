//! Pure tests of the desired-state diff: dependency order, retention, kinds filter, plan hash.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeSet, HashMap};

use ado_core::model::{
    CustomPolicy, DefaultDomain, Group, PrincipalKind, RecycledUser, Role, ServiceLinkedRole, User,
    VirtualMfaDevice,
};
use ado_core::{Action, Inventory, Kind, Plan, PlanOptions, PolicyRef, PolicyType, RetainSpec, build};

const ACCT: &str = "1234567890123456";

fn pol(name: &str, t: PolicyType) -> PolicyRef {
    PolicyRef {
        name: name.into(),
        policy_type: t,
    }
}

fn rich() -> Inventory {
    let mut inv = Inventory::new(ACCT);
    inv.kinds = Kind::ALL.to_vec();
    inv.users = vec![
        User {
            name: "alice".into(),
            access_keys: vec![
                "LTAI5tAlice0000000000001".into(),
                "LTAI5tAlice0000000000002".into(),
            ],
            login_profile: Some(true),
            mfa_serial: Some(format!("acs:ram::{ACCT}:mfa/alice-mfa")),
            policies: vec![
                pol("ReadOnlyAccess", PolicyType::System),
                pol("app-policy", PolicyType::Custom),
            ],
            ..User::default()
        },
        User {
            name: "breakglass".into(),
            access_keys: vec!["LTAI5tBreak000000000001".into()],
            login_profile: Some(true),
            policies: vec![pol("bg-policy", PolicyType::Custom)],
            ..User::default()
        },
        User {
            name: "carol".into(),
            frozen: true,
            ..User::default()
        },
    ];
    inv.groups = vec![
        Group {
            name: "admins".into(),
            members: vec!["alice".into(), "carol".into()],
            policies: vec![pol("app-policy", PolicyType::Custom)],
        },
        Group {
            name: "ops".into(),
            members: vec!["alice".into(), "breakglass".into()],
            policies: vec![pol("ops-policy", PolicyType::Custom)],
        },
    ];
    inv.roles = vec![
        Role {
            name: "ResourceDirectoryAccountAccessRole".into(),
            id: None,
            policies: vec![pol("AdministratorAccess", PolicyType::System)],
        },
        Role {
            name: "app-role".into(),
            id: None,
            policies: vec![
                pol("AdministratorAccess", PolicyType::System),
                pol("role-policy", PolicyType::Custom),
            ],
        },
    ];
    inv.service_linked_roles = vec![ServiceLinkedRole {
        name: "AliyunServiceRoleForECS".into(),
        id: None,
    }];
    inv.custom_policies = ["app-policy", "bg-policy", "ops-policy", "role-policy", "unused"]
        .into_iter()
        .map(|n| CustomPolicy {
            name: n.into(),
            default_version: "v3".into(),
            ..CustomPolicy::default()
        })
        .collect();
    inv.virtual_mfa_devices = vec![
        VirtualMfaDevice {
            serial: format!("acs:ram::{ACCT}:mfa/alice-mfa"),
            user: Some("alice".into()),
        },
        VirtualMfaDevice {
            serial: format!("acs:ram::{ACCT}:mfa/orphan-mfa"),
            user: None,
        },
    ];
    inv.saml_providers = vec!["okta".into()];
    inv.oidc_providers = vec!["github".into()];
    inv.default_domain = Some(DefaultDomain {
        current: "legacy-prod.onaliyun.com".into(),
        initial: format!("{ACCT}.onaliyun.com"),
    });
    inv.recycle_bin = vec![RecycledUser {
        id: "2000000000000001".into(),
        upn: "bob@legacy-prod.onaliyun.com".into(),
        access_keys: vec!["LTAI5tBob00000000000001".into()],
    }];
    inv
}

/// Why each kept object stays, by (kind, name).
fn kept_reasons(plan: &Plan) -> HashMap<(Kind, &str), &str> {
    plan.kept
        .iter()
        .map(|k| ((k.kind, k.name.as_str()), k.reason.as_str()))
        .collect()
}

fn retain_breakglass() -> PlanOptions {
    PlanOptions {
        retain: RetainSpec {
            users: vec!["break*".into()],
            ..RetainSpec::default()
        },
        ..PlanOptions::default()
    }
}

fn apis(plan: &Plan) -> Vec<String> {
    plan.actions
        .iter()
        .map(|a| format!("{} {}", a.action.api_action(), a.action.target()))
        .collect()
}

fn index_of(plan: &Plan, api: &str, target: &str) -> usize {
    plan.actions
        .iter()
        .position(|a| a.action.api_action() == api && a.action.target() == target)
        .unwrap_or_else(|| panic!("{api} {target} not in plan: {:#?}", apis(plan)))
}

fn assert_topological(plan: &Plan) {
    for (i, a) in plan.actions.iter().enumerate() {
        for &d in &a.deps {
            assert!(d < i, "action {i} ({}) depends on later {d}", a.action);
        }
    }
}

#[test]
fn rich_member_plan_is_topological_and_complete() {
    let plan = build(&rich(), &retain_breakglass()).unwrap();
    assert_topological(&plan);
    let all = apis(&plan);
    // No duplicate calls.
    let uniq: BTreeSet<_> = all.iter().collect();
    assert_eq!(uniq.len(), all.len(), "{all:#?}");

    let del_alice = index_of(&plan, "DeleteUser", "alice");
    let deps: BTreeSet<usize> = plan.actions[del_alice].deps.iter().copied().collect();
    for (api, t) in [
        ("DeleteAccessKey", "alice/LTAI5tAlice0000000000001"),
        ("DeleteAccessKey", "alice/LTAI5tAlice0000000000002"),
        ("DeleteLoginProfile", "alice"),
        ("UnbindMFADevice", "alice"),
        ("RemoveUserFromGroup", "alice/admins"),
        ("RemoveUserFromGroup", "alice/ops"),
        ("DetachPolicyFromUser", "alice/ReadOnlyAccess"),
        ("DetachPolicyFromUser", "alice/app-policy"),
    ] {
        assert!(
            deps.contains(&index_of(&plan, api, t)),
            "DeleteUser alice misses {api} {t}"
        );
    }
    assert_eq!(deps.len(), 8);

    // The bound device waits for the unbind; the orphan has no prerequisite.
    let mfa = index_of(
        &plan,
        "DeleteVirtualMFADevice",
        &format!("acs:ram::{ACCT}:mfa/alice-mfa"),
    );
    assert_eq!(
        plan.actions[mfa].deps,
        vec![index_of(&plan, "UnbindMFADevice", "alice")]
    );
    let orphan = index_of(
        &plan,
        "DeleteVirtualMFADevice",
        &format!("acs:ram::{ACCT}:mfa/orphan-mfa"),
    );
    assert!(plan.actions[orphan].deps.is_empty());

    // admins: members alice and carol removed, policy detached.
    let admins = index_of(&plan, "DeleteGroup", "admins");
    let d: BTreeSet<usize> = plan.actions[admins].deps.iter().copied().collect();
    let want: BTreeSet<usize> = [
        index_of(&plan, "RemoveUserFromGroup", "alice/admins"),
        index_of(&plan, "RemoveUserFromGroup", "carol/admins"),
        index_of(&plan, "DetachPolicyFromGroup", "admins/app-policy"),
    ]
    .into();
    assert_eq!(d, want);

    // app-policy waits for both of its detaches; role-policy for the role's.
    let app = index_of(&plan, "DeletePolicy", "app-policy");
    let d: BTreeSet<usize> = plan.actions[app].deps.iter().copied().collect();
    let want: BTreeSet<usize> = [
        index_of(&plan, "DetachPolicyFromUser", "alice/app-policy"),
        index_of(&plan, "DetachPolicyFromGroup", "admins/app-policy"),
    ]
    .into();
    assert_eq!(d, want);
    let rp = index_of(&plan, "DeletePolicy", "role-policy");
    assert_eq!(
        plan.actions[rp].deps,
        vec![index_of(&plan, "DetachPolicyFromRole", "app-role/role-policy")]
    );
    assert!(
        plan.actions[index_of(&plan, "DeletePolicy", "unused")]
            .deps
            .is_empty()
    );

    // Everything else of the account.
    index_of(&plan, "DeleteRole", "app-role");
    let slr = index_of(&plan, "DeleteServiceLinkedRole", "AliyunServiceRoleForECS");
    assert!(plan.actions[slr].action.is_async());
    index_of(&plan, "DeleteSAMLProvider", "okta");
    index_of(&plan, "DeleteOIDCProvider", "github");
    index_of(&plan, "SetDefaultDomain", &format!("{ACCT}.onaliyun.com"));
    let bin = index_of(&plan, "DeleteUserInRecycleBin", "bob@legacy-prod.onaliyun.com");
    assert_eq!(
        plan.actions[bin].deps,
        vec![index_of(
            &plan,
            "DeleteAccessKeyInRecycleBin",
            "bob@legacy-prod.onaliyun.com/LTAI5tBob00000000000001"
        )]
    );
    // Frozen users are deleted like active ones.
    index_of(&plan, "DeleteUser", "carol");
    // Sorted by kind: every Users action precedes every DefaultDomain action, etc.
    let kinds: Vec<Kind> = plan.actions.iter().map(|a| a.action.kind()).collect();
    let mut sorted = kinds.clone();
    sorted.sort();
    assert_eq!(kinds, sorted, "actions are grouped by kind in execution order");
}

#[test]
fn retained_user_and_everything_of_it_is_untouched_and_dependents_are_kept_with_reasons() {
    let plan = build(&rich(), &retain_breakglass()).unwrap();
    for a in &plan.actions {
        let t = a.action.target();
        assert!(
            !t.starts_with("breakglass"),
            "touches retained user: {}",
            a.action
        );
        assert!(
            !t.contains("ResourceDirectoryAccountAccessRole"),
            "touches access role: {}",
            a.action
        );
    }
    assert!(plan.retained.contains(&(Kind::Users, "breakglass".into())));
    assert!(
        plan.retained
            .contains(&(Kind::Roles, "ResourceDirectoryAccountAccessRole".into()))
    );

    let kept = kept_reasons(&plan);
    assert_eq!(
        kept[&(Kind::Groups, "ops")],
        "group \"ops\" kept: it contains retained user \"breakglass\""
    );
    assert_eq!(
        kept[&(Kind::CustomPolicies, "bg-policy")],
        "custom policy \"bg-policy\" kept: it is attached to retained user \"breakglass\""
    );
    assert_eq!(
        kept[&(Kind::CustomPolicies, "ops-policy")],
        "custom policy \"ops-policy\" kept: it is attached to group \"ops\", which is kept"
    );
    assert_eq!(kept.len(), 3, "{:#?}", plan.kept);
    // The kept group is neither deleted nor stripped of its policy, but alice still leaves it.
    let all = apis(&plan);
    assert!(
        !all.iter()
            .any(|a| a == "DeleteGroup ops" || a == "DetachPolicyFromGroup ops/ops-policy")
    );
    index_of(&plan, "RemoveUserFromGroup", "alice/ops");
}

#[test]
fn unselected_kinds_are_left_alone_and_their_dependents_kept() {
    let opts = PlanOptions {
        kinds: [Kind::Groups, Kind::CustomPolicies, Kind::VirtualMfaDevices].into(),
        ..PlanOptions::default()
    };
    let plan = build(&rich(), &opts).unwrap();
    assert_topological(&plan);
    for a in &plan.actions {
        assert!(
            matches!(
                a.action.kind(),
                Kind::Groups | Kind::CustomPolicies | Kind::VirtualMfaDevices
            ),
            "unselected kind touched: {}",
            a.action
        );
    }
    let kept = kept_reasons(&plan);
    assert_eq!(
        kept[&(Kind::Groups, "admins")],
        "group \"admins\" kept: it contains user \"alice\" (and users are not selected)"
    );
    assert_eq!(
        kept[&(Kind::CustomPolicies, "role-policy")],
        "custom policy \"role-policy\" kept: it is attached to role \"app-role\" (and roles are not selected)"
    );
    assert!(
        kept[&(
            Kind::VirtualMfaDevices,
            &*format!("acs:ram::{ACCT}:mfa/alice-mfa")
        )]
            .contains("bound to user \"alice\" (and users are not selected)")
    );
    assert_eq!(
        apis(&plan),
        vec![
            "DeletePolicy unused".to_string(),
            format!("DeleteVirtualMFADevice acs:ram::{ACCT}:mfa/orphan-mfa")
        ]
    );
}

#[test]
fn users_without_custom_policies_kind_still_detach_custom_policies_from_deleted_users() {
    let opts = PlanOptions {
        kinds: [Kind::Users].into(),
        ..retain_breakglass()
    };
    let plan = build(&rich(), &opts).unwrap();
    index_of(&plan, "DetachPolicyFromUser", "alice/app-policy");
    index_of(&plan, "RemoveUserFromGroup", "alice/admins");
    index_of(&plan, "DeleteUser", "alice");
    assert!(
        !apis(&plan)
            .iter()
            .any(|a| a.starts_with("DeletePolicy ") || a.starts_with("DeleteGroup "))
    );
    // The MFA device kind is not selected: the binding goes with the user, the device stays.
    index_of(&plan, "UnbindMFADevice", "alice");
    assert!(
        !apis(&plan)
            .iter()
            .any(|a| a.starts_with("DeleteVirtualMFADevice"))
    );
}

#[test]
fn policy_attachments_from_list_entities_are_used_when_principals_were_not_discovered() {
    let mut inv = Inventory::new(ACCT);
    inv.kinds = vec![Kind::CustomPolicies];
    inv.custom_policies = vec![
        CustomPolicy {
            name: "p1".into(),
            attachment_count: 1,
            attached_to: Some(vec![(PrincipalKind::Role, "app-role".into())]),
            ..CustomPolicy::default()
        },
        CustomPolicy {
            name: "p2".into(),
            attachment_count: 2,
            attached_to: None,
            ..CustomPolicy::default()
        },
        CustomPolicy {
            name: "p3".into(),
            ..CustomPolicy::default()
        },
    ];
    let opts = PlanOptions {
        kinds: [Kind::CustomPolicies].into(),
        ..PlanOptions::default()
    };
    let plan = build(&inv, &opts).unwrap();
    assert_eq!(apis(&plan), vec!["DeletePolicy p3"]);
    assert_eq!(plan.kept.len(), 2);
    assert!(
        plan.kept[0]
            .reason
            .contains("role \"app-role\" (and roles are not selected)")
    );
    assert!(
        plan.kept[1]
            .reason
            .contains("2 principal(s) that were not inventoried")
    );
}

#[test]
fn default_domain_only_when_custom_and_access_role_name_is_configurable() {
    let mut inv = rich();
    inv.default_domain = Some(DefaultDomain {
        current: format!("{ACCT}.onaliyun.com"),
        initial: format!("{ACCT}.onaliyun.com"),
    });
    let opts = PlanOptions {
        access_role: "app-role".into(),
        ..PlanOptions::default()
    };
    let plan = build(&inv, &opts).unwrap();
    assert!(!apis(&plan).iter().any(|a| a.starts_with("SetDefaultDomain")));
    assert!(!apis(&plan).iter().any(|a| a.contains("app-role")));
    // The default access role name is just a role when another one is configured.
    index_of(&plan, "DeleteRole", "ResourceDirectoryAccountAccessRole");
}

#[test]
fn hash_is_stable_and_changes_with_any_new_object() {
    let opts = retain_breakglass();
    let a = build(&rich(), &opts).unwrap();
    let b = build(&rich(), &opts).unwrap();
    assert_eq!(a.hash, b.hash);
    assert_eq!(a.hash.len(), 16);
    assert!(a.hash.chars().all(|c| c.is_ascii_hexdigit()));

    // Shuffled discovery order gives the same plan.
    let mut inv = rich();
    inv.users.reverse();
    inv.groups.reverse();
    inv.custom_policies.reverse();
    let c = build(&inv, &opts).unwrap();
    assert_eq!(apis(&a), apis(&c));
    assert_eq!(a.hash, c.hash);

    let mut inv = rich();
    inv.service_linked_roles.push(ServiceLinkedRole {
        name: "AliyunServiceRoleForHDR".into(),
        id: None,
    });
    assert_ne!(build(&inv, &opts).unwrap().hash, a.hash);

    let mut inv = rich();
    inv.users[0].access_keys.push("LTAI5tAlice0000000000003".into());
    assert_ne!(build(&inv, &opts).unwrap().hash, a.hash);

    // A new retained object changes nothing that will be done: same hash.
    let mut inv = rich();
    inv.users.push(User {
        name: "breakglass2".into(),
        ..User::default()
    });
    assert_eq!(build(&inv, &opts).unwrap().hash, a.hash);
}

#[test]
fn empty_account_gives_empty_plan() {
    let mut inv = Inventory::new(ACCT);
    inv.kinds = Kind::ALL.to_vec();
    inv.roles.push(Role {
        name: "ResourceDirectoryAccountAccessRole".into(),
        id: None,
        policies: vec![pol("AdministratorAccess", PolicyType::System)],
    });
    inv.default_domain = Some(DefaultDomain {
        current: format!("{ACCT}.onaliyun.com"),
        initial: format!("{ACCT}.onaliyun.com"),
    });
    let plan = build(&inv, &PlanOptions::default()).unwrap();
    assert!(plan.is_empty(), "{:#?}", apis(&plan));
    assert!(plan.kept.is_empty());
    assert!(inv.counts().values().all(|&n| n <= 1));
}

#[test]
fn malformed_retain_pattern_fails_the_build_with_its_place() {
    let opts = PlanOptions {
        retain: RetainSpec {
            groups: vec!["ok".into(), "[oops".into()],
            ..RetainSpec::default()
        },
        ..PlanOptions::default()
    };
    let err = build(&rich(), &opts).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("spec.ram.retain.groups[1]: invalid pattern \"[oops\""),
        "{err}"
    );
}

#[test]
fn display_is_plain_words() {
    let a = Action::DetachPolicyFromUser {
        user: "alice".into(),
        policy: "ReadOnlyAccess".into(),
        policy_type: PolicyType::System,
    };
    assert_eq!(
        a.to_string(),
        "detach system policy \"ReadOnlyAccess\" from user \"alice\""
    );
    assert_eq!(a.api_action(), "DetachPolicyFromUser");
    assert_eq!(a.kind(), Kind::Users);
    assert!(!a.is_async());
}

#[test]
fn first_entries_follow_execution_order_in_plain_words() {
    let plan = build(&rich(), &retain_breakglass()).unwrap();
    let first = plan.first_entries(3);
    assert_eq!(first.len(), 3);
    assert_eq!(first[0], plan.actions[0].action.to_string());
    assert_eq!(
        first[0],
        "delete AccessKey LTAI5tAlice0000000000001 of user \"alice\""
    );
    assert_eq!(plan.first_entries(10_000).len(), plan.actions.len());
    let remaining = plan.remaining();
    assert_eq!(remaining[&Kind::Users], 2);
    assert_eq!(remaining[&Kind::Groups], 1);
    assert_eq!(remaining[&Kind::CustomPolicies], 3);
}

/// Many users, groups and policies with names that share prefixes, so ready actions often tie on
/// their kind and object and the order rests on the step and the target.
fn crowded() -> Inventory {
    let mut inv = rich();
    let names = ["u", "u-1", "u1", "u-10", "ua", "u.b"];
    for (i, n) in names.iter().enumerate() {
        inv.users.push(User {
            name: (*n).into(),
            access_keys: vec![format!("LTAI5t{n}B"), format!("LTAI5t{n}A"), format!("LTAI5t{n}")],
            login_profile: Some(i % 2 == 0),
            policies: vec![
                pol(&format!("p{}", i % 3), PolicyType::Custom),
                pol("ReadOnlyAccess", PolicyType::System),
                pol(&format!("p{}-x", i % 2), PolicyType::Custom),
            ],
            ..User::default()
        });
    }
    for g in ["g", "g-1", "g1"] {
        inv.groups.push(Group {
            name: g.into(),
            members: names.iter().rev().map(|n| (*n).into()).collect(),
            policies: vec![pol("p1", PolicyType::Custom), pol("p0-x", PolicyType::Custom)],
        });
    }
    for p in ["p0", "p1", "p2", "p0-x", "p1-x"] {
        inv.custom_policies.push(CustomPolicy {
            name: p.into(),
            default_version: "v1".into(),
            ..CustomPolicy::default()
        });
    }
    inv
}

#[test]
fn plan_order_is_always_the_ready_action_with_the_smallest_key() {
    // The definition the plan hash rests on: at each position, of the actions whose prerequisites
    // all came earlier, the one with the smallest (kind, object, step, target) comes next.
    for inv in [rich(), crowded()] {
        let plan = build(&inv, &PlanOptions::default()).unwrap();
        assert_topological(&plan);
        let key = |a: &Action| {
            let (kind, obj, step) = a.sort_key();
            (kind, obj.to_string(), step, a.target())
        };
        for (k, chosen) in plan.actions.iter().enumerate() {
            let ready_later = plan.actions[k..].iter().filter(|a| a.deps.iter().all(|&d| d < k));
            for other in ready_later {
                assert!(
                    key(&chosen.action) <= key(&other.action),
                    "position {k}: {} came before the ready {}",
                    chosen.action,
                    other.action
                );
            }
        }
        assert!(plan.actions.len() > 30, "{} actions", plan.actions.len());
    }
}
