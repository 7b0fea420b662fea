"""IMS OAuth applications (alibaba-api.md §10.2) through the official SDKs: enterprise applications
and their secrets, provisioned internal ServerApps, installed third-party applications; the wire
shapes the SDK models parse (wrappers, epoch-millisecond strings), the deletion order of §10.8, the
404s for unknown IDs, and the optional conflicts a seed can switch on."""

from __future__ import annotations

import re

from conftest import account, assume, expect_error

A = account("conf-ram")
AID = A["accountId"]
STRICT = account("conf-strict")["accountId"]
EXTERNAL = "4074268937527290001"


def _ims(flavour, mgmt, aid=AID):
    creds, _ = assume(flavour, mgmt, aid)
    return lambda action, **p: flavour.call("ims", creds, action, p)


def test_list_and_get_applications(flavour, mgmt):
    ims = _ims(flavour, mgmt)
    apps = {a.app_name: a for a in ims("ListApplications").body.applications.application}
    assert set(apps) == {"conf-web", "conf-native", "conf-scim"}
    web = apps["conf-web"]
    assert web.app_id == "4720000000000000001" and web.app_type == "WebApp" and web.display_name == "Conf Web"
    assert web.account_id == AID and web.is_multi_tenant is True and isinstance(web.access_token_validity, int)
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", web.create_date)
    assert [s.name for s in web.delegated_scope.predefined_scopes.predefined_scope][0] == "openid"
    got = ims("GetApplication", AppId="4720000000000000003").body.application
    assert got.app_name == "conf-scim" and got.app_type == "ServerApp"
    expect_error(lambda: ims("GetApplication", AppId="4720000000000000999"), "EntityNotExist.Application", 404)


def test_secrets(flavour, mgmt):
    ims = _ims(flavour, mgmt)
    secrets = ims("ListAppSecretIds", AppId="4720000000000000001").body.app_secrets.app_secret
    assert len(secrets) == 2 and all(s.app_id == "4720000000000000001" for s in secrets)
    expect_error(lambda: ims("CreateAppSecret", AppId="4720000000000000001"), "LimitExceeded.Application.AppSecret", 409)
    sid = secrets[0].app_secret_id
    got = ims("GetAppSecret", AppId="4720000000000000001", AppSecretId=sid).body.app_secret
    assert got.app_secret_id == sid and got.app_secret_value.startswith("****")
    ims("DeleteAppSecret", AppId="4720000000000000001", AppSecretId=sid)
    expect_error(lambda: ims("DeleteAppSecret", AppId="4720000000000000001", AppSecretId=sid), "EntityNotExist.AppSecret", 404)
    created = ims("CreateAppSecret", AppId="4720000000000000001").body.app_secret
    assert created.app_secret_value and not created.app_secret_value.startswith("****")
    assert not ims("ListAppSecretIds", AppId="4720000000000000002").body.app_secrets.app_secret


def test_provision_infos_and_external_applications(flavour, mgmt):
    ims = _ims(flavour, mgmt)
    inner = ims("ListApplicationProvisionInfos", SourceType="inner").body.application_provision_infos.application_provision_info
    assert [(i.app_id, i.app_name, i.account_id) for i in inner] == [("4720000000000000003", "conf-scim", AID)]
    assert re.match(r"^\d{13}$", inner[0].create_date), "epoch milliseconds as a string"
    ext = ims("ListApplicationProvisionInfos", SourceType="external").body.application_provision_infos.application_provision_info
    assert [(i.app_id, i.account_id, i.app_category) for i in ext] == [(EXTERNAL, "1730827404200001", "ThirdParty")]
    both = ims("ListApplicationProvisionInfos").body.application_provision_infos.application_provision_info
    assert {i.app_id for i in both} == {"4720000000000000003", EXTERNAL}
    expect_error(lambda: ims("ListApplicationProvisionInfos", SourceType="all"), "InvalidParameter.SourceType", 400)

    r = ims("ListExternalApplications").body
    assert r.is_truncated is False
    (e,) = r.external_applications.external_application
    assert e.foreign_app_id == EXTERNAL and e.tenant_id == AID and e.display_name == "GiteeAliyun"
    assert e.app_principal_name == "GiteePrd@app.1730827404200001.onaliyun.com"
    assert re.match(r"^\d{13}$", e.update_date)
    assert ims("GetExternalApplication", AppId=EXTERNAL).body.external_application.foreign_app_id == EXTERNAL


def test_deprovision_rules(flavour, mgmt):
    ims = _ims(flavour, mgmt)
    expect_error(lambda: ims("DeprovisionApplication", AppId="4720000000000000001"),
                 "NotSupportedOperation.DeprovisionApplication", 409)
    expect_error(lambda: ims("DeprovisionApplication", AppId="4720000000000000999"), "EntityNotExist.Application", 404)
    ims("DeprovisionApplication", AppId="4720000000000000003")
    expect_error(lambda: ims("DeprovisionApplication", AppId="4720000000000000003"),
                 "EntityNotExist.ApplicationProvisionInfo", 404)
    ims("DeprovisionExternalApplication", AppId=EXTERNAL)
    expect_error(lambda: ims("DeprovisionExternalApplication", AppId=EXTERNAL), "EntityNotExist.ExternalApplication", 404)
    assert not ims("ListApplicationProvisionInfos").body.application_provision_infos.application_provision_info
    assert not ims("ListExternalApplications").body.external_applications.external_application


def test_delete_in_documented_order_to_empty(flavour, mgmt):
    """§10.8: external apps, provisioned ServerApps, secrets, then the applications."""
    ims = _ims(flavour, mgmt)
    for i in ims("ListApplicationProvisionInfos", SourceType="external").body.application_provision_infos.application_provision_info:
        ims("DeprovisionExternalApplication", AppId=i.app_id)
    for i in ims("ListApplicationProvisionInfos", SourceType="inner").body.application_provision_infos.application_provision_info:
        ims("DeprovisionApplication", AppId=i.app_id)
    for a in ims("ListApplications").body.applications.application:
        for s in ims("ListAppSecretIds", AppId=a.app_id).body.app_secrets.app_secret or []:
            ims("DeleteAppSecret", AppId=a.app_id, AppSecretId=s.app_secret_id)
        ims("DeleteApplication", AppId=a.app_id)
    assert not ims("ListApplications").body.applications.application
    expect_error(lambda: ims("DeleteApplication", AppId="4720000000000000001"), "EntityNotExist.Application", 404)
    raw = ims("ListApplications").raw
    assert raw.get("Applications") in ({"Application": []}, {}), raw


def test_delete_application_takes_secrets_by_default(flavour, mgmt):
    ims = _ims(flavour, mgmt)
    ims("DeleteApplication", AppId="4720000000000000001")   # two secrets, no conflict
    ims("DeleteApplication", AppId="4720000000000000003")   # provisioned ServerApp
    assert not ims("ListApplicationProvisionInfos", SourceType="inner").body.application_provision_infos.application_provision_info


def test_optional_application_conflicts(flavour, mgmt):
    ims = _ims(flavour, mgmt, STRICT)
    expect_error(lambda: ims("DeleteApplication", AppId="4720000000000000061"), "DeleteConflict.Application.AppSecret", 409)
    for s in ims("ListAppSecretIds", AppId="4720000000000000061").body.app_secrets.app_secret:
        ims("DeleteAppSecret", AppId="4720000000000000061", AppSecretId=s.app_secret_id)
    ims("DeleteApplication", AppId="4720000000000000061")
    expect_error(lambda: ims("DeleteApplication", AppId="4720000000000000062"), "DeleteConflict.Application.Provision", 409)
    ims("DeprovisionApplication", AppId="4720000000000000062")
    ims("DeleteApplication", AppId="4720000000000000062")


def test_create_provision_and_delete(flavour, mgmt):
    ims = _ims(flavour, mgmt, STRICT)
    app = ims("CreateApplication", AppName="made-here", DisplayName="Made here", AppType="ServerApp").body.application
    assert re.match(r"^\d{19}$", app.app_id) and app.app_name == "made-here"
    expect_error(lambda: ims("CreateApplication", AppName="made-here", DisplayName="x", AppType="WebApp"),
                 "EntityAlreadyExists.Application", 409)
    ims("ProvisionApplication", AppId=app.app_id)
    info = ims("GetApplicationProvisionInfo", AppId=app.app_id).body.application_provision_info
    assert info.app_name == "made-here"
    ims("DeprovisionApplication", AppId=app.app_id)
    ims("DeleteApplication", AppId=app.app_id)
