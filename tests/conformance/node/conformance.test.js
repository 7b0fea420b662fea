'use strict';
// The conformance scenario of tests/conformance (Python) through the official Node.js SDKs, on the
// same seed (../seed.yaml, reloaded before every test). Each case runs once per flavour of lib.js;
// test names start with "[<flavour>]" so the reporter can count per SDK.

const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { test } = require('node:test');

const { FLAVOURS, loadSeed, advance, call, callGeneric, expectError, walkMarker } = require('./lib');

const SEED = fs.readFileSync(path.join(__dirname, '..', 'seed.yaml'), 'utf8');
// Facts of ../seed.yaml the cases rely on.
const MGMT_ID = '1000000000000001';
const MGMT = { accessKeyId: 'LTAI5tConfMgmtKey00000001', accessKeySecret: 'conf-mgmt-secret-0001' };
const ALICE_KEY = { accessKeyId: 'LTAI5tConfAliceApiKey0001', accessKeySecret: 'conf-alice-secret-0001' };
const AID = '2000000000000001';          // conf-ram
const OK_ID = '2000000000000002';        // conf-delete-ok
const SILENCE = '2000000000000004';      // conf-silence, tagged env=staging
const STRICT = '2000000000000006';       // conf-strict
const BULK = '2000000000000007';         // conf-bulk
const DOMAIN = 'conf-ram.onaliyun.com';
const ROLE = 'ResourceDirectoryAccountAccessRole';
const EXTERNAL = '4074268937527290001';

async function assume(f, accountId, extra = {}) {
  const { body } = await call(f, 'sts', MGMT, 'AssumeRole', {
    RoleArn: `acs:ram::${accountId}:role/${extra.role || ROLE}`,
    RoleSessionName: extra.session || 'node-conformance',
    DurationSeconds: extra.duration,
    Policy: extra.policy,
  });
  const c = body.Credentials;
  return {
    creds: { accessKeyId: c.AccessKeyId, accessKeySecret: c.AccessKeySecret, securityToken: c.SecurityToken },
    body,
  };
}

function cases(f) {
  const on = (name, fn) => test(`[${f}] ${name}`, async () => {
    await loadSeed(SEED);
    await fn();
  });

  on('AssumeRole, the token acts in the member, GetCallerIdentity shapes', async () => {
    const { creds, body } = await assume(f, AID, { session: 'node-who' });
    assert.match(body.Credentials.AccessKeyId, /^STS\./);
    assert.match(body.Credentials.Expiration, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const role = (await call(f, 'ram', creds, 'GetRole', { RoleName: ROLE })).body.Role;
    assert.equal(body.AssumedRoleUser.AssumedRoleId, `${role.RoleId}:node-who`);
    assert.equal(body.AssumedRoleUser.Arn, `acs:ram::${AID}:role/${ROLE.toLowerCase()}/node-who`);
    const who = (await call(f, 'sts', creds, 'GetCallerIdentity')).body;
    assert.deepEqual([who.IdentityType, who.AccountId, who.RoleId, who.PrincipalId],
      ['AssumedRoleUser', AID, role.RoleId, `${role.RoleId}:node-who`]);
    assert.equal(who.UserId, undefined);
    const root = (await call(f, 'sts', MGMT, 'GetCallerIdentity')).body;
    assert.deepEqual([root.IdentityType, root.UserId, root.PrincipalId, root.Arn],
      ['Account', MGMT_ID, MGMT_ID, `acs:ram::${MGMT_ID}:root`]);
    const me = (await call(f, 'sts', ALICE_KEY, 'GetCallerIdentity')).body;
    const alice = (await call(f, 'ram', creds, 'GetUser', { UserName: 'alice' })).body.User;
    assert.deepEqual([me.IdentityType, me.UserId, me.PrincipalId, me.Arn],
      ['RAMUser', alice.UserId, alice.UserId, `acs:ram::${AID}:user/alice`]);
    assert.match(alice.UserId, /^\d{16}$/);
    const users = (await call(f, 'ram', creds, 'ListUsers', { MaxItems: 100 })).body.Users.User;
    assert.ok(users.some((u) => u.UserName === 'alice'));
  });

  on('AssumeRole rules: DurationSeconds, RoleSessionName, session Policy', async () => {
    await expectError(assume(f, AID, { duration: 600 }), 'InvalidParameter.DurationSeconds', 400);
    await expectError(assume(f, AID, { duration: 7200 }), 'InvalidParameter.DurationSeconds', 400);
    await expectError(assume(f, AID, { session: 'a' }), 'InvalidParameter.RoleSessionName', 400);
    await expectError(assume(f, AID, { session: 'no spaces' }), 'InvalidParameter.RoleSessionName', 400);
    await expectError(assume(f, AID, { role: 'NoSuchRole' }), 'EntityNotExist.Role', 404);
    await assume(f, AID, { session: 'x'.repeat(64), duration: 900 });
    const deny = (await assume(f, AID, { policy: '{"Version":"1","Statement":[{"Effect":"Deny","Action":"*","Resource":"*"}]}' })).creds;
    await expectError(call(f, 'ram', deny, 'ListUsers'), 'NoPermission', 403);
    assert.equal((await call(f, 'sts', deny, 'GetCallerIdentity')).body.IdentityType, 'AssumedRoleUser');
    const narrow = (await assume(f, AID, { policy: '{"Version":"1","Statement":[{"Effect":"Allow","Action":"ram:List*","Resource":"*"}]}' })).creds;
    await call(f, 'ram', narrow, 'ListRoles');
    await call(f, 'ims', narrow, 'ListPasskeys', { UserPrincipalName: `alice@${DOMAIN}` });
    await expectError(call(f, 'ram', narrow, 'DeleteUser', { UserName: 'u-plain' }), 'NoPermission', 403);
    await expectError(call(f, 'ims', narrow, 'GetDefaultDomain'), 'NoPermission', 403);
    await expectError(assume(f, AID, { policy: 'not json' }), 'InvalidParameter.PolicyGrammar', 400);
  });

  on('every Marker listing with one-item pages equals the full list', async () => {
    const { creds } = await assume(f, AID);
    const kinds = [
      ['ram', 'ListUsers', 'Users', 'User', 'UserName', {}],
      ['ram', 'ListGroups', 'Groups', 'Group', 'GroupName', {}],
      ['ram', 'ListRoles', 'Roles', 'Role', 'RoleName', {}],
      ['ram', 'ListPolicies', 'Policies', 'Policy', 'PolicyName', { PolicyType: 'Custom' }],
      ['ims', 'ListUsers', 'Users', 'User', 'UserPrincipalName', { Status: 'active,freeze' }],
      ['ims', 'ListSAMLProviders', 'SAMLProviders', 'SAMLProvider', 'SAMLProviderName', {}],
      ['ims', 'ListOIDCProviders', 'OIDCProviders', 'OIDCProvider', 'OIDCProviderName', {}],
      ['ims', 'ListVirtualMFADevices', 'VirtualMFADevices', 'VirtualMFADevice', 'SerialNumber', {}],
      ['ims', 'ListUsersInRecycleBin', 'Users', 'User', 'UserPrincipalName', {}],
    ];
    for (const [product, action, container, item, key, params] of kinds) {
      const paged = await walkMarker(f, product, creds, action, container, item, params, 1);
      const full = await walkMarker(f, product, creds, action, container, item, params, 100);
      assert.equal(full.pages, 1, action);
      assert.deepEqual(paged.items.map((x) => x[key]), full.items.map((x) => x[key]), action);
      assert.equal(paged.pages, Math.max(full.items.length, 1), action);
    }
    const users = await walkMarker(f, 'ram', creds, 'ListUsers', 'Users', 'User', {}, 100);
    assert.equal(users.items.length, 8);
  });

  on('ListAccounts pages and filters by tag', async () => {
    const seen = [];
    let total;
    for (let page = 1; ; page++) {
      const b = (await call(f, 'rm', MGMT, 'ListAccounts', { PageNumber: page, PageSize: 1 })).body;
      total = b.TotalCount;
      seen.push(...(b.Accounts.Account || []));
      if (page * 1 >= total) break;
    }
    assert.equal(seen.length, total);
    assert.equal(new Set(seen.map((a) => a.AccountId)).size, total);
    const tagged = (await call(f, 'rm', MGMT, 'ListAccounts', {
      IncludeTags: true, PageSize: 1, Tag: [{ Key: 'env', Value: 'staging' }],
    })).body;
    assert.equal(tagged.TotalCount, 1);
    assert.deepEqual(tagged.Accounts.Account.map((a) => a.AccountId), [SILENCE]);
    assert.deepEqual(tagged.Accounts.Account[0].Tags.Tag.map((t) => t.Key).sort(), ['cost-center', 'env']);
  });

  on('filters apply before paging; tag filters; unimplemented filters refused', async () => {
    const { creds } = await assume(f, BULK);
    const upn = `gone-0120@${BULK}.onaliyun.com`;
    const bin = (await call(f, 'ims', creds, 'ListUsersInRecycleBin', { Filter: `UserPrincipalName eq ${upn}` })).body;
    assert.deepEqual(bin.Users.User.map((u) => u.UserPrincipalName), [upn]);
    assert.equal(bin.IsTruncated, false);
    const roles = (await call(f, 'ram', creds, 'ListRoles', { MaxItems: 5, Tag: [{ Key: 'env', Value: 'late' }] })).body;
    assert.deepEqual(roles.Roles.Role.map((r) => r.RoleName), ['late-role']);
    assert.deepEqual(roles.Roles.Role[0].Tags.Tag.map((t) => [t.TagKey, t.TagValue]), [['env', 'late']]);
    const pols = (await call(f, 'ram', creds, 'ListPolicies', { PolicyType: 'Custom', MaxItems: 5, Tag: [{ Key: 'env', Value: 'late' }] })).body;
    assert.deepEqual(pols.Policies.Policy.map((p) => p.PolicyName), ['late-policy']);
    const users = (await call(f, 'ims', creds, 'ListUsers', { MaxItems: 5, Tag: [{ Key: 'team', Value: 'late' }] })).body;
    assert.deepEqual(users.Users.User.map((u) => [u.UserPrincipalName, u.Status]), [[`late-user@${BULK}.onaliyun.com`, 'freeze']]);
    await expectError(callGeneric(f, 'ims', creds, 'ListUsersInRecycleBin', { Filter: 'DisplayName eq x' }), 'InvalidParameter.Filter', 400);
    await expectError(callGeneric(f, 'ram', creds, 'ListUsers', { QueryKeyword: 'b0' }), 'InvalidParameter.Unsupported', 400);
    await expectError(callGeneric(f, 'rm', MGMT, 'ListAccounts', { QueryKeyword: 'conf' }), 'InvalidParameter.Unsupported', 400);
  });

  on('RAM conflicts, then the prerequisite, then the delete', async () => {
    const { creds } = await assume(f, AID);
    const ram = (action, p) => call(f, 'ram', creds, action, p);
    await expectError(ram('DeleteUser', { UserName: 'u-group' }), 'DeleteConflict.User.Group', 409);
    await ram('RemoveUserFromGroup', { UserName: 'u-group', GroupName: 'team' });
    await ram('DeleteUser', { UserName: 'u-group' });
    await expectError(ram('DeleteUser', { UserName: 'u-login' }), 'DeleteConflict.User.LoginProfile', 409);
    await expectError(ram('DeleteUser', { UserName: 'u-mfa' }), 'DeleteConflict.User.MFADevice', 409);
    await expectError(ram('DeleteUser', { UserName: 'u-policy' }), 'DeleteConflict.User.Policy', 409);
    await expectError(ram('DeleteGroup', { GroupName: 'g-policy' }), 'DeleteConflict.Group.Policy', 409);
    await expectError(ram('DeleteRole', { RoleName: 'app-role' }), 'DeleteConflict.Role.Policy', 409);
    await expectError(ram('DeletePolicy', { PolicyName: 'spare-policy' }), 'DeleteConflict.Policy.Version', 409);
    await ram('DeletePolicy', { PolicyName: 'spare-policy', CascadingDelete: true });
    await expectError(ram('GetLoginProfile', { UserName: 'u-plain' }), 'EntityNotExist.User.LoginProfile', 404);
    const v = (await ram('GetPolicyVersion', { PolicyName: 'app-policy', PolicyType: 'Custom', VersionId: 'v3' })).body;
    assert.equal(v.PolicyVersion.IsDefaultVersion, true);
    const u = (await ram('UpdateUser', { UserName: 'u-plain', NewUserName: 'u-plain-2' })).body;
    assert.equal(u.User.UserName, 'u-plain-2');
  });

  on('OAuth applications: listed, deprovisioned and deleted in order', async () => {
    const { creds } = await assume(f, AID);
    const ims = (action, p) => call(f, 'ims', creds, action, p).then((r) => r.body);
    const apps = (await ims('ListApplications')).Applications.Application;
    assert.deepEqual(apps.map((a) => a.AppName).sort(), ['conf-native', 'conf-scim', 'conf-web']);
    const web = apps.find((a) => a.AppName === 'conf-web');
    assert.deepEqual([web.AppId, web.AppType, web.AccountId, web.IsMultiTenant], ['4720000000000000001', 'WebApp', AID, true]);
    assert.equal((await ims('ListAppSecretIds', { AppId: web.AppId })).AppSecrets.AppSecret.length, 2);
    await expectError(call(f, 'ims', creds, 'CreateAppSecret', { AppId: web.AppId }), 'LimitExceeded.Application.AppSecret', 409);
    const inner = (await ims('ListApplicationProvisionInfos', { SourceType: 'inner' })).ApplicationProvisionInfos.ApplicationProvisionInfo;
    assert.deepEqual(inner.map((i) => i.AppId), ['4720000000000000003']);
    assert.match(String(inner[0].CreateDate), /^\d{13}$/);
    const ext = (await ims('ListExternalApplications'));
    assert.equal(ext.IsTruncated, false);
    assert.deepEqual(ext.ExternalApplications.ExternalApplication.map((e) => [e.ForeignAppId, e.TenantId]), [[EXTERNAL, AID]]);
    await expectError(call(f, 'ims', creds, 'DeprovisionApplication', { AppId: web.AppId }), 'NotSupportedOperation.DeprovisionApplication', 409);
    // §10.8: external, provisioned ServerApps, secrets, applications
    for (const i of (await ims('ListApplicationProvisionInfos', { SourceType: 'external' })).ApplicationProvisionInfos.ApplicationProvisionInfo) {
      await ims('DeprovisionExternalApplication', { AppId: i.AppId });
    }
    for (const i of (await ims('ListApplicationProvisionInfos', { SourceType: 'inner' })).ApplicationProvisionInfos.ApplicationProvisionInfo) {
      await ims('DeprovisionApplication', { AppId: i.AppId });
    }
    for (const a of (await ims('ListApplications')).Applications.Application) {
      for (const s of (await ims('ListAppSecretIds', { AppId: a.AppId })).AppSecrets.AppSecret || []) {
        await ims('DeleteAppSecret', { AppId: a.AppId, AppSecretId: s.AppSecretId });
      }
      await ims('DeleteApplication', { AppId: a.AppId });
    }
    assert.deepEqual((await ims('ListApplications')).Applications.Application || [], []);
    await expectError(call(f, 'ims', creds, 'DeleteApplication', { AppId: web.AppId }), 'EntityNotExist.Application', 404);
    await expectError(call(f, 'ims', creds, 'DeprovisionExternalApplication', { AppId: EXTERNAL }), 'EntityNotExist.ExternalApplication', 404);
  });

  on('passkeys, service credentials, and both DeleteUser answers', async () => {
    const { creds } = await assume(f, AID);
    const ims = (action, p) => call(f, 'ims', creds, action, p).then((r) => r.body);
    const alice = `alice@${DOMAIN}`;
    const keys = (await ims('ListPasskeys', { UserPrincipalName: alice })).Passkeys;
    assert.deepEqual(keys.map((k) => [k.PasskeyId, k.PasskeyName]), [['PASSKEY-ConfAlice00000000001', 'alice-yubikey']]);
    assert.match(keys[0].CreateDate, /^\d{10}$/);
    await expectError(call(f, 'ims', creds, 'DeletePasskey', { UserPrincipalName: alice }), 'MissingPasskeyId', 400);
    const all = await ims('ListServiceCredentials', { AllUsers: true });
    assert.equal(all.MaxResults, 10);
    assert.deepEqual(all.ServiceCredentials.map((c) => c.ServiceCredentialId).sort(), ['SCConfAlice0000000001', 'SCConfPlain0000000001']);
    await expectError(call(f, 'ims', creds, 'DeleteServiceCredential', { ServiceCredentialId: 'SCConfAlice0000000001' }),
      'EntityNotExist.ServiceCredential', 404);
    const own = await call(f, 'ims', ALICE_KEY, 'ListServiceCredentials');
    assert.deepEqual(own.body.ServiceCredentials.map((c) => c.ServiceCredentialId), ['SCConfAlice0000000001']);
    // by default they go with the user
    await call(f, 'ram', creds, 'DeleteUser', { UserName: 'u-plain' });
    assert.deepEqual((await ims('ListServiceCredentials', { AllUsers: true })).ServiceCredentials.map((c) => c.ServiceCredentialId),
      ['SCConfAlice0000000001']);
    // conf-strict: DeleteUser names them
    const strict = (await assume(f, STRICT)).creds;
    const upn = `keyholder@${STRICT}.onaliyun.com`;
    await expectError(call(f, 'ram', strict, 'DeleteUser', { UserName: 'keyholder' }), 'DeleteConflict.User.Passkey', 409);
    for (const k of (await call(f, 'ims', strict, 'ListPasskeys', { UserPrincipalName: upn })).body.Passkeys) {
      await call(f, 'ims', strict, 'DeletePasskey', { UserPrincipalName: upn, PasskeyId: k.PasskeyId });
    }
    await expectError(call(f, 'ram', strict, 'DeleteUser', { UserName: 'keyholder' }), 'DeleteConflict.User.ServiceCredential', 409);
    for (const c of (await call(f, 'ims', strict, 'ListServiceCredentials', { AllUsers: true })).body.ServiceCredentials) {
      await call(f, 'ims', strict, 'DeleteServiceCredential', { ServiceCredentialId: c.ServiceCredentialId, UserPrincipalName: c.UserPrincipalName });
    }
    await call(f, 'ram', strict, 'DeleteUser', { UserName: 'keyholder' });
  });

  on('service credentials page with NextToken', async () => {
    const { creds } = await assume(f, BULK);
    const ids = [];
    let token;
    let pages = 0;
    do {
      const b = (await call(f, 'ims', creds, 'ListServiceCredentials', { AllUsers: true, MaxResults: 7, NextToken: token })).body;
      pages += 1;
      assert.ok(b.ServiceCredentials.length <= 7);
      ids.push(...b.ServiceCredentials.map((c) => c.ServiceCredentialId));
      token = b.IsTruncated ? b.NextToken : undefined;
    } while (token);
    assert.equal(new Set(ids).size, 30);
    assert.equal(pages, 5);
  });

  on('GetAccountSummary counts users, groups, roles, custom policies, MFA devices', async () => {
    const { creds } = await assume(f, AID);
    const m = (await call(f, 'ims', creds, 'GetAccountSummary')).body.SummaryMap;
    assert.deepEqual([m.Users, m.Groups, m.Roles, m.Policies, m.MFADevices, m.MFADevicesInUse], [8, 4, 6, 5, 3, 2]);
    assert.equal(m.AccessKeysPerUserQuota, 2);
    await call(f, 'ram', creds, 'DeleteRole', { RoleName: 'r-plain' });
    assert.equal((await call(f, 'ims', creds, 'GetAccountSummary')).body.SummaryMap.Roles, 5);
  });

  on('signature and key errors as the SDK sees them', async () => {
    await expectError(call(f, 'rm', { ...MGMT, accessKeySecret: 'wrong' }, 'ListAccounts'), 'SignatureDoesNotMatch', 400);
    await expectError(call(f, 'rm', { accessKeyId: 'LTAI5tNoSuchKey000000099', accessKeySecret: 'x' }, 'ListAccounts'),
      'InvalidAccessKeyId.NotFound', 404);
  });

  on('member deletion flow and a service-linked role task on the emulator clock', async () => {
    await call(f, 'rm', MGMT, 'CheckAccountDelete', { AccountId: OK_ID });
    await advance(3);
    const info = (await call(f, 'rm', MGMT, 'GetAccountDeletionCheckResult', { AccountId: OK_ID })).body.AccountDeletionCheckResultInfo;
    assert.deepEqual([info.Status, info.AllowDelete], ['PreCheckComplete', 'true']);
    const del = (await call(f, 'rm', MGMT, 'DeleteAccount', { AccountId: OK_ID, AbandonableCheckId: ['NON_SP_cs'] })).body;
    assert.equal(del.DeletionType, '0');
    await advance(4);
    const st = (await call(f, 'rm', MGMT, 'GetAccountDeletionStatus', { AccountId: OK_ID })).body.RdAccountDeletionStatus;
    assert.equal(st.Status, 'Success');
    assert.match(st.DeletionTime, /\+08:00$/);
    const { creds } = await assume(f, AID);
    const task = (await call(f, 'ram', creds, 'DeleteServiceLinkedRole', { RoleName: 'AliyunServiceRoleForHDR' })).body.DeletionTaskId;
    await advance(3);
    const s = (await call(f, 'rm', creds, 'GetServiceLinkedRoleDeletionStatus', { DeletionTaskId: task })).body;
    assert.equal(s.Status, 'FAILED');
    assert.deepEqual(s.Reason.RoleUsages.RoleUsage.map((u) => u.Region), ['global']);
  });
}

for (const f of FLAVOURS) cases(f);
