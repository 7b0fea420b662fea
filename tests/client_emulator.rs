//! The signed client against the real `aliyun-emulator` binary: AssumeRole into a member, every
//! listing with one-item pages, a full discover → plan → execute that empties a seeded member
//! (V1 and V3 signatures), and the ResourceManager deletion flow.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ado_testkit as support;

use std::collections::BTreeSet;
use std::time::Duration;

use ado_aliyun::client::{AliyunClient, DEFAULT_ACCESS_ROLE};
use ado_aliyun::config::{ClientConfig, ParamPlacement, RetryConfig, SignatureVersion};
use ado_aliyun::credentials::Credentials;
use ado_aliyun::error::ErrorClass;
use ado_core::execute::ExecOptions;
use ado_core::{self as plan, Kind, PlanApi, PlanOptions, PolicyType};
use support::Emulator;

const MGMT_KEY: &str = "LTAI5tClientMgmtKey00001";
const MGMT_SECRET: &str = "client-mgmt-secret-0001";
const MEMBER: &str = "3000000000000001";
const DELETE_ME: &str = "3000000000000002";

const SEED: &str = r#"
resourceDirectory:
  id: rd-Cl0001
  rootFolderId: r-Cl0001
  managementAccountId: "1000000000000001"
  managementAccountName: mgmt@client.example.com
  memberDeletionStatus: Enabled
accessKeys:
  - accessKeyId: LTAI5tClientMgmtKey00001
    accessKeySecret: client-mgmt-secret-0001
    accountId: "1000000000000001"
    active: true
    allow: ["*"]
accounts:
  - accountId: "3000000000000001"
    displayName: client-ram
    type: ResourceAccount
    status: CreateSuccess
    accessRole: { name: ResourceDirectoryAccountAccessRole, present: true, maxSessionDuration: 3600 }
    ram:
      defaultDomain: client-ram.onaliyun.com
      users:
        - name: alice
          displayName: Alice
          accessKeys: [{ id: LTAI5tClientAlice0000001, status: Active }]
          loginProfile: true
          mfaDevice: alice-mfa
          groups: [admins]
          policies: [{ name: ReadOnlyAccess, type: System }, { name: app-policy, type: Custom }]
        - name: bob
          accessKeys: [{ id: LTAI5tClientBob000000001 }, { id: LTAI5tClientBob000000002, status: Inactive }]
          groups: [admins, team]
        - name: carol
          status: freeze
        - name: dave
          loginProfile: true
      groups:
        - { name: admins, policies: [{ name: app-policy, type: Custom }] }
        - { name: team }
        - { name: empty }
      roles:
        - { name: app-role, policies: [{ name: AdministratorAccess, type: System }, { name: role-policy, type: Custom }] }
        - { name: plain-role }
      serviceLinkedRoles:
        - { name: AliyunServiceRoleForECS, service: ecs.aliyuncs.com, deletionSeconds: 2 }
      policies:
        - { name: app-policy, versions: 3 }
        - { name: role-policy, versions: 1 }
        - { name: spare-policy, versions: 2 }
      virtualMfaDevices: [{ name: alice-mfa }, { name: orphan-mfa }]
      samlProviders: [{ name: okta }, { name: azure-ad }]
      oidcProviders:
        - { name: github, issuerUrl: "https://token.actions.githubusercontent.com", clientIds: [sts.aliyuncs.com] }
      recycleBin: { users: [{ name: erin, accessKeys: [{ id: LTAI5tClientErin00000001 }] }] }
    deletion: { checkSeconds: 2, deletionType: 0, deletingSeconds: 3 }
  - accountId: "3000000000000002"
    displayName: client-delete-me
    type: ResourceAccount
    status: CreateSuccess
    accessRole: { name: ResourceDirectoryAccountAccessRole, present: true, maxSessionDuration: 3600 }
    deletion:
      checkSeconds: 2
      blocking: []
      abandonable: [{ checkId: NON_SP_cs, checkName: Container Service for Kubernetes, description: "ACK clusters exist." }]
      deletionType: 0
      deletingSeconds: 3
"#;

fn client(
    emu: &Emulator,
    signature: SignatureVersion,
    params: ParamPlacement,
    page: Option<u32>,
) -> AliyunClient {
    support::ensure_crypto();
    let cfg = ClientConfig {
        signature,
        params,
        max_page_size: page,
        retry: RetryConfig {
            base_delay: Duration::from_millis(20),
            ..RetryConfig::default()
        },
        ..ClientConfig::for_emulator(emu.url())
    };
    AliyunClient::new(cfg, Credentials::new(MGMT_KEY, MGMT_SECRET)).unwrap()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[tokio::test]
async fn assume_role_and_list_every_kind_with_one_item_pages() {
    let emu = Emulator::start(SEED, &[]).await;
    for sig in [SignatureVersion::V1, SignatureVersion::V3] {
        let mgmt = client(&emu, sig, ParamPlacement::Query, Some(1));
        let who = mgmt.sts().get_caller_identity().await.unwrap();
        assert_eq!(who.account_id, "1000000000000001");

        let m = mgmt
            .assume_role_client(MEMBER, DEFAULT_ACCESS_ROLE, "ado-client-test")
            .await
            .unwrap();
        let who = m.sts().get_caller_identity().await.unwrap();
        assert_eq!(who.account_id, MEMBER, "{who:?}");

        let users = m.list_users().await.unwrap();
        let names: Vec<String> = users.iter().map(|u| u.name.clone()).collect();
        assert_eq!(sorted(names), ["alice", "bob", "carol", "dave"]);
        assert!(users.iter().any(|u| u.name == "carol" && u.frozen));
        assert!(users.iter().all(|u| u.id.is_some() && u.upn.is_some()));

        assert_eq!(sorted(m.list_access_keys("bob").await.unwrap()).len(), 2);
        assert!(m.has_login_profile("alice").await.unwrap());
        assert!(!m.has_login_profile("bob").await.unwrap());
        assert_eq!(m.list_policies_for_user("alice").await.unwrap().len(), 2);
        assert_eq!(
            sorted(m.list_groups().await.unwrap()),
            ["admins", "empty", "team"]
        );
        assert_eq!(
            sorted(m.list_users_for_group("admins").await.unwrap()),
            ["alice", "bob"]
        );
        assert_eq!(m.list_policies_for_group("admins").await.unwrap().len(), 1);
        let roles = m.list_roles().await.unwrap();
        for r in [
            "app-role",
            "plain-role",
            "AliyunServiceRoleForECS",
            DEFAULT_ACCESS_ROLE,
        ] {
            assert!(roles.iter().any(|x| x.name == r), "{r} missing from {roles:?}");
        }
        assert_eq!(m.list_policies_for_role("app-role").await.unwrap().len(), 2);
        let policies = m.list_custom_policies().await.unwrap();
        let mut pnames: Vec<String> = policies.iter().map(|p| p.name.clone()).collect();
        pnames.sort();
        assert_eq!(pnames, ["app-policy", "role-policy", "spare-policy"]);
        assert_eq!(
            policies
                .iter()
                .find(|p| p.name == "app-policy")
                .unwrap()
                .default_version,
            "v3"
        );
        assert_eq!(
            m.list_entities_for_policy("app-policy", PolicyType::Custom)
                .await
                .unwrap()
                .len(),
            2
        );
        // System policies carry a real AttachmentCount, and their holders can be listed.
        let mut system = m.list_system_policy_attachments().await.unwrap();
        system.sort();
        assert_eq!(
            system,
            [
                ("AdministratorAccess".to_string(), 1),
                ("ReadOnlyAccess".to_string(), 1)
            ]
        );
        assert_eq!(
            m.list_entities_for_policy("AdministratorAccess", PolicyType::System)
                .await
                .unwrap(),
            [(plan::model::PrincipalKind::Role, "app-role".to_string())]
        );
        let mfa = m.list_virtual_mfa_devices().await.unwrap();
        assert_eq!(mfa.len(), 2);
        assert!(mfa.iter().any(|d| d.user.as_deref() == Some("alice")));
        assert_eq!(
            sorted(m.list_saml_providers().await.unwrap()),
            ["azure-ad", "okta"]
        );
        assert_eq!(m.list_oidc_providers().await.unwrap(), ["github"]);
        assert_eq!(m.get_default_domain().await.unwrap(), "client-ram.onaliyun.com");
        let bin = m.list_users_in_recycle_bin().await.unwrap();
        assert_eq!(bin.len(), 1);
        assert_eq!(
            m.list_access_keys_in_recycle_bin(&bin[0].id).await.unwrap().len(),
            1
        );

        // Errors come back classified.
        let e = m.ram().delete_user("nobody").await.unwrap_err();
        assert_eq!(e.class, ErrorClass::NotFound, "{e}");
        let e = m.ram().delete_user("alice").await.unwrap_err();
        assert_eq!(e.class, ErrorClass::Conflict, "{e}");
        assert!(e.code.starts_with("DeleteConflict.User."), "{e}");
        assert!(e.request_id.is_some());
        assert!(
            mgmt.assume_role_client(MEMBER, "NoSuchRole", "x-test")
                .await
                .is_err()
        );
    }
}

async fn empty_member(signature: SignatureVersion, params: ParamPlacement) {
    let emu = Emulator::start(SEED, &[]).await;
    let mgmt = client(&emu, signature, params, Some(2));
    let m = mgmt
        .assume_role_client(MEMBER, DEFAULT_ACCESS_ROLE, "ado-client-test")
        .await
        .unwrap();
    let kinds: BTreeSet<Kind> = Kind::ALL.into_iter().collect();
    let opts = PlanOptions::default();

    let inv = plan::discover(&m, &kinds, MEMBER).await.unwrap();
    assert_eq!(inv.users.len(), 4);
    assert_eq!(inv.recycled_users(), 1);
    let p = plan::build(&inv, &opts).unwrap();
    assert!(!p.is_empty());
    let report = plan::execute::run(&m, &p, &ExecOptions::default()).await;
    assert!(report.failures.is_empty(), "{:#?}", report.failures);
    assert!(
        report
            .audit
            .iter()
            .all(|a| !format!("{a:?}").contains(MGMT_SECRET))
    );
    let tasks: Vec<(String, String)> = report
        .slr_tasks
        .iter()
        .map(|t| (t.role.clone(), t.task_id.clone()))
        .collect();
    assert_eq!(tasks.len(), 1, "{:?}", report.slr_tasks);

    // The service-linked role task finishes on the emulator clock.
    emu.advance_clock(5).await;
    let st = m.slr_deletion_status(&tasks[0].1).await.unwrap();
    assert_eq!(st.status, ado_core::api::SlrPhase::Succeeded, "{st:?}");

    // Users deleted in this pass were purged from the IMS recycle bin right after their
    // DeleteUser (the user that was already there too): the next inventory is empty.
    let after = plan::discover(&m, &kinds, MEMBER).await.unwrap();
    let p3 = plan::build(&after, &opts).unwrap();
    assert!(p3.is_empty(), "left over: {:#?}", p3.actions);
    assert!(after.users.is_empty() && after.groups.is_empty());
    assert!(
        after.roles.iter().all(|r| r.name == DEFAULT_ACCESS_ROLE),
        "{:?}",
        after.roles
    );
    assert!(after.recycle_bin.is_empty(), "{:?}", after.recycle_bin);
    assert_eq!(
        m.get_default_domain().await.unwrap(),
        format!("{MEMBER}.onaliyun.com")
    );
    // The access role survives (it is what we came in through).
    assert!(
        m.list_roles()
            .await
            .unwrap()
            .iter()
            .any(|r| r.name == DEFAULT_ACCESS_ROLE)
    );
}

#[tokio::test]
async fn discover_plan_execute_empties_a_member_v1() {
    empty_member(SignatureVersion::V1, ParamPlacement::Query).await;
}

#[tokio::test]
async fn discover_plan_execute_empties_a_member_v3_form_body() {
    empty_member(SignatureVersion::V3, ParamPlacement::FormBody).await;
}

#[tokio::test]
async fn resource_manager_deletion_flow() {
    let emu = Emulator::start(SEED, &[]).await;
    let mgmt = client(&emu, SignatureVersion::V1, ParamPlacement::Query, Some(1));
    let rm = mgmt.rm();

    let rd = rm.get_resource_directory().await.unwrap();
    assert_eq!(rd.member_deletion_status, "Enabled");
    assert_eq!(rd.master_account_id, "1000000000000001");
    let acc = rm.get_account(DELETE_ME).await.unwrap();
    assert_eq!(acc.account_type, "ResourceAccount");
    let ids: Vec<String> = rm
        .list_accounts_all()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.account_id)
        .collect();
    assert!(
        ids.contains(&MEMBER.to_string()) && ids.contains(&DELETE_ME.to_string()),
        "{ids:?}"
    );
    let e = rm.get_account("3999999999999999").await.unwrap_err();
    assert_eq!(e.class, ErrorClass::NotFound, "{e}");

    let e = rm.get_account_deletion_check_result(DELETE_ME).await.unwrap_err();
    assert_eq!(e.code, "EntityNotExists.CheckAccount", "{e}");
    rm.check_account_delete(DELETE_ME).await.unwrap();
    assert_eq!(
        rm.get_account_deletion_check_result(DELETE_ME)
            .await
            .unwrap()
            .status,
        "PreChecking"
    );
    emu.advance_clock(3).await;
    let check = rm.get_account_deletion_check_result(DELETE_ME).await.unwrap();
    assert_eq!(check.status, "PreCheckComplete");
    assert!(check.not_allow_reason.0.is_empty());
    assert_eq!(check.abandonable_checks.0[0].check_id, "NON_SP_cs");

    let d = rm
        .delete_account(DELETE_ME, &["NON_SP_cs".to_string()])
        .await
        .unwrap();
    assert_eq!(d.deletion_type, Some(0));
    let s = rm.get_account_deletion_status(DELETE_ME).await.unwrap();
    assert!(["Checking", "Deleting"].contains(&s.status.as_str()), "{s:?}");
    emu.advance_clock(10).await;
    let s = rm.get_account_deletion_status(DELETE_ME).await.unwrap();
    assert_eq!(s.status, "Success", "{s:?}");
}

#[tokio::test]
async fn listing_survives_injected_throttling_and_dropped_connections() {
    let emu = Emulator::start(SEED, &[]).await;
    support::ensure_crypto();
    let cfg = ClientConfig {
        max_page_size: Some(1),
        retry: RetryConfig {
            max_attempts: 10,
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(50),
            max_server_delay: Duration::from_millis(200),
        },
        ..ClientConfig::for_emulator(emu.url())
    };
    let mgmt = AliyunClient::new(cfg, Credentials::new(MGMT_KEY, MGMT_SECRET)).unwrap();
    let m = mgmt
        .assume_role_client(MEMBER, DEFAULT_ACCESS_ROLE, "ado-client-test")
        .await
        .unwrap();
    emu.put_faults(&serde_json::json!({
        "errors": {"Throttling.User": 0.2, "ServiceUnavailable": 0.05},
        "dropRate": 0.05,
        "seed": 7,
        "actions": ["ram:List*", "ims:List*"]
    }))
    .await;
    let kinds: BTreeSet<Kind> = Kind::ALL.into_iter().collect();
    let inv = plan::discover(&m, &kinds, MEMBER).await.unwrap();
    assert_eq!(inv.users.len(), 4);
    assert_eq!(inv.groups.len(), 3);
    let calls = emu.calls().await;
    let throttled = calls["byCode"]["Throttling.User"].as_u64().unwrap_or(0);
    assert!(throttled > 0, "no throttling was injected: {calls}");
}

#[tokio::test]
async fn a_per_api_limit_answers_throttling_api_and_the_client_paces_that_action() {
    use futures::StreamExt;

    let emu = Emulator::start(SEED, &[]).await;
    support::ensure_crypto();
    // Each API of an account: 5 calls/s; the account as a whole is not limited.
    emu.put_limits(&serde_json::json!({"qpsPerAccountAction": 5}))
        .await;
    let m = paced_member(&emu, 50.0).await;
    let results: Vec<_> = futures::stream::iter(0..30)
        .map(|_| m.list_access_keys("alice"))
        .buffer_unordered(8)
        .collect()
        .await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let calls = emu.calls().await;
    let per_api = calls["byCode"]["Throttling.Api"].as_u64().unwrap_or(0);
    assert!(per_api > 0, "the per-API limit never answered: {calls}");
    assert_eq!(
        calls["byCode"]["Throttling.User"].as_u64().unwrap_or(0),
        0,
        "{calls}"
    );
}

#[tokio::test]
async fn a_stated_per_operation_quota_is_kept_after_its_first_answer_and_other_apis_are_untouched() {
    use futures::StreamExt;

    let emu = Emulator::start(SEED, &[]).await;
    support::ensure_crypto();
    // One operation with its own quota the way Alibaba writes them; the account itself unlimited.
    let limits = emu
        .put_limits(&serde_json::json!({"quotas": {"ram:ListAccessKeys": "4/1 s"}}))
        .await;
    assert_eq!(limits["quotas"]["ram:ListAccessKeys"], "4/1 s", "{limits}");
    let (status, body) = emu
        .request(
            "PUT",
            "/__emulator/limits",
            Some(br#"{"quotas": {"ram:ListUsers": "fast"}}"#.to_vec()),
            Some("application/json"),
        )
        .await;
    let body = String::from_utf8_lossy(&body);
    assert!(
        status == 400 && body.contains("200/60 s"),
        "a malformed quota is refused with the format: {status} {body}"
    );

    let m = paced_member(&emu, 50.0).await;
    emu.request("DELETE", "/__emulator/calls", None, None).await;
    let keys = futures::stream::iter(0..24)
        .map(|_| m.list_access_keys("alice"))
        .buffer_unordered(8)
        .collect::<Vec<_>>();
    let groups = futures::stream::iter(0..24)
        .map(|_| m.ram().list_groups_for_user("alice"))
        .buffer_unordered(8)
        .collect::<Vec<_>>();
    let (keys, groups) = tokio::join!(keys, groups);
    assert!(keys.iter().all(Result::is_ok), "{keys:?}");
    assert!(groups.iter().all(Result::is_ok), "{groups:?}");
    let calls = emu.calls().await;
    let code = |action: &str, code: &str| -> u64 {
        calls["calls"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["action"] == action && c["code"] == code)
            .map(|c| c["count"].as_u64().unwrap_or(0))
            .sum()
    };
    // The bucket's 4 tokens, then throttled answers only for calls sent before the first one
    // came back with `Limit:4` (at most the 8 in flight): after that the client keeps to 4/s.
    let throttled = code("ListAccessKeys", "Throttling.Api");
    assert!((1..=8).contains(&throttled), "{throttled} throttled: {calls}");
    assert_eq!(code("ListAccessKeys", "OK"), 24, "{calls}");
    assert_eq!(code("ListGroupsForUser", "OK"), 24, "{calls}");
    assert_eq!(
        code("ListGroupsForUser", "Throttling.Api") + code("ListGroupsForUser", "Throttling.User"),
        0,
        "the other API is never throttled: {calls}"
    );
}

/// The member's client through a transport paced at `account_qps` per account, like the operator's.
async fn paced_member(emu: &Emulator, account_qps: f64) -> AliyunClient {
    use ado_aliyun::credentials::CredentialProvider;
    use ado_aliyun::ratelimit::RateLimits;
    use ado_aliyun::transport::Transport;
    use std::sync::Arc;

    let transport = Transport::new(ClientConfig::for_emulator(emu.url()))
        .unwrap()
        .with_limits(Arc::new(RateLimits::new(account_qps, 0.0)));
    let mgmt = AliyunClient::from_parts(
        Arc::new(transport),
        CredentialProvider::fixed(Credentials::new(MGMT_KEY, MGMT_SECRET)),
    );
    mgmt.assume_role_client(MEMBER, DEFAULT_ACCESS_ROLE, "ado-client-test")
        .await
        .unwrap()
}
