"""Drive a real orgiam server with the official, unmodified `twilio` package from PyPI.

`sdk/run` starts the server and exports ORGIAM_URL, ORGIAM_CLIENT_ID, ORGIAM_CLIENT_SECRET,
ORGIAM_ORG, ORGIAM_USER, ORGIAM_ACCOUNT and ORGIAM_SUBACCOUNT. The SDK is pointed at the server
only by overriding the `base_url` of its `oauth`, `iam` and `preview_iam` domains (and of the
`oauth` domain of the token manager's own client); no edge or region is set.

Every request the SDK puts on the wire is recorded through a `requests` response hook (the
prepared request is exactly what was sent), so the tests also pin down what the SDK sends.
"""

import json
import os
import secrets
import urllib.parse

import pytest

import twilio
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.base.page import Page
from twilio.base.version import Version
from twilio.credential.orgs_credential_provider import OrgsCredentialProvider
from twilio.http.http_client import TwilioHttpClient
from twilio.http.orgs_token_manager import OrgTokenManager
from twilio.rest import Client
from twilio.rest.preview_iam.versionless import Versionless
from twilio.rest.iam.v1.o_auth_app import OAuthAppContext, OAuthAppList
from twilio.rest.preview_iam.versionless.role_assignment import RoleAssignmentList

URL = os.environ["ORGIAM_URL"].rstrip("/")
CLIENT_ID = os.environ["ORGIAM_CLIENT_ID"]
CLIENT_SECRET = os.environ["ORGIAM_CLIENT_SECRET"]
ORG = os.environ["ORGIAM_ORG"]
USER = os.environ["ORGIAM_USER"]
ACCOUNT = os.environ["ORGIAM_ACCOUNT"]
SUBACCOUNT = os.environ["ORGIAM_SUBACCOUNT"]

PINNED_VERSION = "9.13.0"


class Wire:
    """Everything the SDK sent, as `requests` prepared it, with the answer's status and body."""

    def __init__(self):
        self.log = []

    def _hook(self, response, *args, **kwargs):
        req = response.request
        self.log.append(
            {
                "method": req.method,
                "url": req.url,
                "headers": dict(req.headers),
                "body": req.body,
                "status": response.status_code,
                "response_headers": dict(response.headers),
                "response_text": response.text,
            }
        )
        return response

    def http_client(self):
        return TwilioHttpClient(request_hooks={"response": [self._hook]})

    def mark(self):
        return len(self.log)

    def since(self, mark, *, api_only=True):
        entries = self.log[mark:]
        if api_only:
            entries = [e for e in entries if not is_token_request(e)]
        return entries


def is_token_request(entry):
    return urllib.parse.urlsplit(entry["url"]).path in ("/v1/token", "/v2/token")


def query(entry):
    return urllib.parse.parse_qs(urllib.parse.urlsplit(entry["url"]).query, keep_blank_values=True)


def body_text(entry):
    body = entry["body"]
    return body.decode() if isinstance(body, bytes) else body


def make_client(wire, client_id=CLIENT_ID, client_secret=CLIENT_SECRET):
    """The SDK as a user would set it up for orgiam: organization credentials, three base URLs."""
    token_manager = OrgTokenManager("client_credentials", client_id, client_secret)
    # OrgTokenManager builds its own Client() to call oauth.v2.token.create: point that one too.
    token_manager.client.oauth.base_url = URL
    token_manager.client.http_client = wire.http_client()
    provider = OrgsCredentialProvider(client_id, client_secret, token_manager=token_manager)
    client = Client(credential_provider=provider, http_client=wire.http_client())
    client.oauth.base_url = URL
    client.iam.base_url = URL
    client.preview_iam.base_url = URL
    return client


class RawPage(Page):
    """A generic page whose records are the JSON objects themselves."""

    def get_instance(self, payload):
        return payload


def iam_v2(client):
    # The Python SDK has no resource for /v2/Organizations/Roles: use the generic Version on iam.
    return Version(client.iam, "v2")


def roles_page(client, params):
    version = iam_v2(client)
    response = version.page(method="GET", uri="/Organizations/Roles", params=params)
    return RawPage(version, response, {})


def list_roles(client, params, limit=None):
    version = iam_v2(client)
    return list(version.stream(roles_page(client, params), limit=limit))


def assignments(client):
    # In twilio 9.13.0 `client.preview_iam.organization(OR).role_assignments` only has `(sid).delete()`;
    # create/list live on the Versionless version of the preview_iam domain.
    return Versionless(client.preview_iam).role_assignments(ORG)


def accounts(client):
    # Same split: list on Versionless, fetch on client.preview_iam.organization(OR).accounts(AC).
    return Versionless(client.preview_iam).accounts(ORG)


def create_request(role_sid, scope, identity=USER):
    return RoleAssignmentList.PublicApiCreateRoleAssignmentRequest(
        {"role_sid": role_sid, "scope": scope, "identity": identity}
    )


@pytest.fixture
def wire():
    return Wire()


@pytest.fixture
def client(wire):
    return make_client(wire)


@pytest.fixture(scope="module")
def all_roles():
    return list_roles(make_client(Wire()), {"PageSize": 1000})


@pytest.fixture(scope="module")
def sub_account_roles(all_roles):
    roles = [r for r in all_roles if r["lowest_level"] == "SUB_ACCOUNT" and r["resource_types"] is None]
    assert len(roles) >= 2, "need two built-in roles grantable at any scope"
    return roles


def test_installed_sdk_is_the_pinned_one():
    assert twilio.__version__ == PINNED_VERSION


# --- OAuth through the organization credential provider ---------------------------------------


def test_token_is_fetched_once_through_the_orgs_credential_provider(client, wire):
    accounts(client).list()
    accounts(client).list()
    tokens = [e for e in wire.log if is_token_request(e)]
    assert len(tokens) == 1, "the Python SDK caches the token until its exp"
    token = tokens[0]
    assert token["method"] == "POST"
    assert token["url"] == URL + "/v2/token"
    assert token["status"] == 200
    assert token["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert token["headers"]["Accept"] == "application/json"
    assert "Authorization" not in token["headers"]
    form = urllib.parse.parse_qs(body_text(token), keep_blank_values=True)
    assert form == {
        "grant_type": ["client_credentials"],
        "client_id": [CLIENT_ID],
        "client_secret": [CLIENT_SECRET],
    }
    answer = json.loads(token["response_text"])
    assert answer["token_type"] == "Bearer"
    assert answer["access_token"].count(".") == 2
    for entry in wire.since(0):
        assert entry["headers"]["Authorization"] == "Bearer " + answer["access_token"]
        assert entry["headers"]["User-Agent"].startswith("twilio-python/" + PINNED_VERSION)
        assert entry["headers"]["X-Twilio-Client"] == "python-" + PINNED_VERSION


def test_token_request_with_twilio_env_credentials_set(monkeypatch):
    # OrgTokenManager's own Client() reads TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN from the
    # environment, so a user who has them set sends HTTP Basic (Account SID + Auth Token) on the
    # token request alongside the client credentials in the form.
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "1" * 32)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "an-auth-token")
    wire = Wire()
    client = make_client(wire)
    account = client.preview_iam.organization(ORG).accounts(ACCOUNT).fetch()
    assert account.account_sid == ACCOUNT
    token = wire.log[0]
    assert is_token_request(token)
    assert token["headers"]["Authorization"].startswith("Basic ")
    assert token["status"] == 200
    # the API request itself carries the bearer token, not the env credentials
    assert wire.log[1]["headers"]["Authorization"].startswith("Bearer ")


def test_wrong_client_secret_surfaces_as_a_rest_exception(wire):
    client = make_client(wire, client_secret="not-the-secret")
    with pytest.raises(TwilioRestException) as info:
        accounts(client).list()
    assert info.value.status == 401
    assert info.value.code == 20003
    assert [e["status"] for e in wire.log] == [401]


def test_account_sid_and_auth_token_are_refused_on_organization_apis():
    wire = Wire()
    client = Client("AC" + "0" * 32, "auth-token", http_client=wire.http_client())
    client.preview_iam.base_url = URL
    with pytest.raises(TwilioRestException) as info:
        client.preview_iam.organization(ORG).accounts(ACCOUNT).fetch()
    assert type(info.value) is TwilioRestException
    assert info.value.status == 401
    assert info.value.code == 20003
    assert "bearer" in info.value.msg.lower()
    assert wire.log[0]["headers"]["Authorization"].startswith("Basic ")


# --- Roles through the generic paging -------------------------------------------------------------


@pytest.mark.parametrize(
    "filters",
    [
        {"Search": "a"},
        {"RoleProductGroup": "messaging"},
        {"Search": "viewer", "Expand": "true"},
    ],
    ids=["search", "product-group", "search-expand"],
)
def test_roles_stream_follows_next_page_url_and_keeps_filters(client, wire, filters):
    unpaged = list_roles(client, {**filters, "PageSize": 1000})
    assert unpaged, "the filter must match something"
    page_size = max(1, len(unpaged) // 4)
    mark = wire.mark()
    paged = list_roles(client, {**filters, "PageSize": page_size})
    sent = wire.since(mark)

    assert paged == unpaged
    assert len({r["sid"] for r in paged}) == len(paged)
    assert len(sent) >= 3
    for i, entry in enumerate(sent):
        assert entry["method"] == "GET"
        assert entry["status"] == 200
        assert entry["headers"]["Accept"] == "application/json"
        q = query(entry)
        for name, value in filters.items():
            assert q[name] == [value], f"page {i} lost {name}"
        assert q["PageSize"] == [str(page_size)]
        meta = json.loads(entry["response_text"])["meta"]
        assert meta["key"] == "roles"
        assert meta["page"] == i
        if i + 1 < len(sent):
            # the SDK follows meta.next_page_url verbatim
            assert sent[i + 1]["url"] == meta["next_page_url"]
            assert meta["next_page_url"].startswith(URL + "/v2/Organizations/Roles?")
        else:
            assert meta["next_page_url"] is None
    if filters.get("Expand") == "true":
        assert all("permissions" in r for r in paged)


def test_roles_previous_page_url_goes_back(client):
    first = roles_page(client, {"Search": "a", "PageSize": 3})
    first_records = list(first)
    second = first.next_page()
    second_records = list(second)
    third = second.next_page()
    back = third.previous_page()
    assert list(back) == second_records
    assert list(second.previous_page()) == first_records
    assert first.previous_page_url is None


def test_roles_stream_limit_stops_early(client, wire):
    mark = wire.mark()
    got = list_roles(client, {"PageSize": 4}, limit=6)
    assert len(got) == 6
    assert len(wire.since(mark)) == 2


def test_roles_page_size_above_the_maximum_is_clamped(client, wire, all_roles):
    mark = wire.mark()
    got = list_roles(client, {"PageSize": 5000})
    sent = wire.since(mark)
    assert got == all_roles
    assert query(sent[0])["PageSize"] == ["5000"]
    assert json.loads(sent[0]["response_text"])["meta"]["page_size"] == 1000


def test_role_fetch_through_the_generic_version(client, all_roles):
    role = all_roles[0]
    fetched = iam_v2(client).fetch(method="GET", uri="/Organizations/Roles/" + role["sid"])
    assert fetched == role


def test_generic_page_does_not_parse_error_bodies(client):
    # Page.process_response raises a bare TwilioException("Unable to fetch page", response).
    with pytest.raises(TwilioException) as info:
        roles_page(client, {"PageSize": 0})
    assert not isinstance(info.value, TwilioRestException)
    response = info.value.args[1]
    assert response.status_code == 400
    body = json.loads(response.text)
    assert set(body) == {"code", "message", "more_info", "status"}
    assert body["code"] == 20001 and body["status"] == 400
    assert "PageSize" in body["message"]


# --- Role assignments through the preview_iam organization client -------------------------------


def test_role_assignments_create_list_filter_delete(client, wire, sub_account_roles):
    ra = assignments(client)
    created = []
    try:
        for role in sub_account_roles[:2]:
            for scope in (ORG, ACCOUNT, SUBACCOUNT):
                mark = wire.mark()
                item = ra.create(create_request(role["sid"], scope))
                [sent] = wire.since(mark)
                assert sent["method"] == "POST"
                assert sent["url"] == f"{URL}/Organizations/{ORG}/RoleAssignments"
                assert sent["headers"]["Content-Type"] == "application/json"
                assert sent["headers"]["Accept"] == "application/json"
                assert json.loads(body_text(sent)) == {
                    "role_sid": role["sid"],
                    "scope": scope,
                    "identity": USER,
                }
                assert sent["status"] == 201
                assert item.sid.startswith("IY") and len(item.sid) == 34
                assert (item.role_sid, item.scope, item.identity) == (role["sid"], scope, USER)
                assert item.resource_type is None and item.resource_id is None
                created.append(item)
        sids = {a.sid for a in created}

        mine = ra.list(identity=USER)
        assert sids <= {a.sid for a in mine}
        assert all(a.identity == USER for a in mine)

        # paging: Identity is kept on every page, and paged == unpaged
        mark = wire.mark()
        paged = ra.list(identity=USER, page_size=2)
        sent = wire.since(mark)
        assert [a.sid for a in paged] == [a.sid for a in mine]
        assert len(sent) >= 3
        for i, entry in enumerate(sent):
            assert query(entry)["Identity"] == [USER]
            assert query(entry)["PageSize"] == ["2"]
            meta = json.loads(entry["response_text"])["meta"]
            assert meta["key"] == "content"
            if i + 1 < len(sent):
                assert sent[i + 1]["url"] == meta["next_page_url"]

        at_account = ra.list(identity=USER, scope=ACCOUNT)
        assert {a.sid for a in at_account} == {a.sid for a in created if a.scope == ACCOUNT}
        at_sub = ra.list(scope=SUBACCOUNT)
        assert {a.sid for a in created if a.scope == SUBACCOUNT} <= {a.sid for a in at_sub}
        assert all(a.scope == SUBACCOUNT for a in at_sub)

        # limit without page_size: the SDK sends PageSize=limit, above the maximum of 100
        mark = wire.mark()
        limited = ra.list(identity=USER, limit=500)
        [sent] = wire.since(mark)
        assert query(sent)["PageSize"] == ["500"]
        assert json.loads(sent["response_text"])["meta"]["page_size"] == 100
        assert [a.sid for a in limited] == [a.sid for a in mine]

        # duplicate
        with pytest.raises(TwilioRestException) as info:
            ra.create(create_request(created[0].role_sid, created[0].scope))
        assert type(info.value) is TwilioRestException
        assert (info.value.status, info.value.code) == (409, 20409)

        # delete through client.preview_iam.organization(OR).role_assignments(IY)
        for item in list(created):
            mark = wire.mark()
            assert client.preview_iam.organization(ORG).role_assignments(item.sid).delete() is True
            [sent] = wire.since(mark)
            assert sent["method"] == "DELETE"
            assert sent["url"] == f"{URL}/Organizations/{ORG}/RoleAssignments/{item.sid}"
            # the SDK drops its Accept on DELETE (even the scim+json one the resource sets);
            # requests then sends its default
            assert sent["headers"]["Accept"] == "*/*"
            assert sent["status"] == 204
            assert sent["response_text"] == ""
            created.remove(item)
        with pytest.raises(TwilioRestException) as info:
            client.preview_iam.organization(ORG).role_assignments(next(iter(sids))).delete()
        assert (info.value.status, info.value.code) == (404, 20404)
        assert not sids & {a.sid for a in ra.list(identity=USER)}
    finally:
        for item in created:
            try:
                client.preview_iam.organization(ORG).role_assignments(item.sid).delete()
            except TwilioRestException:
                pass


@pytest.mark.parametrize(
    "field,value,code",
    [
        ("role_sid", "IXnot-a-sid", 20001),
        ("scope", "AC" + "0" * 32, 20001),
        ("identity", "US" + "0" * 32, 20001),
    ],
)
def test_role_assignment_create_errors_name_the_field(client, sub_account_roles, field, value, code):
    payload = {"role_sid": sub_account_roles[0]["sid"], "scope": ACCOUNT, "identity": USER, field: value}
    with pytest.raises(TwilioRestException) as info:
        assignments(client).create(RoleAssignmentList.PublicApiCreateRoleAssignmentRequest(payload))
    assert type(info.value) is TwilioRestException
    assert (info.value.status, info.value.code) == (400, code)
    assert field in info.value.msg


def test_organization_role_is_refused_at_an_account_scope(client, all_roles):
    org_role = next(r for r in all_roles if r["lowest_level"] == "ORGANIZATION")
    with pytest.raises(TwilioRestException) as info:
        assignments(client).create(create_request(org_role["sid"], ACCOUNT))
    assert (info.value.status, info.value.code) == (400, 20001)
    assert "scope" in info.value.msg


def test_role_assignments_of_another_organization_are_404(client):
    other = "OR" + secrets.token_hex(16)
    with pytest.raises(TwilioException) as info:
        Versionless(client.preview_iam).role_assignments(other).list()
    assert info.value.args[1].status_code == 404
    with pytest.raises(TwilioRestException) as info:
        client.preview_iam.organization(other).role_assignments("IY" + "0" * 32).delete()
    assert (info.value.status, info.value.code) == (404, 20404)


# --- Accounts through the preview_iam organization client ----------------------------------------


def test_accounts_list_and_page(client, wire):
    listed = accounts(client).list()
    sids = [a.account_sid for a in listed]
    assert ACCOUNT in sids and SUBACCOUNT in sids
    assert len(set(sids)) == len(sids)

    mark = wire.mark()
    paged = accounts(client).list(page_size=1)
    sent = wire.since(mark)
    assert [a.account_sid for a in paged] == sids
    assert len(sent) == len(sids)
    for entry in sent:
        assert entry["status"] == 200
        assert query(entry)["PageSize"] == ["1"]

    mark = wire.mark()
    assert [a.account_sid for a in accounts(client).list(limit=1000)] == sids
    [sent] = wire.since(mark)
    assert query(sent)["PageSize"] == ["1000"]
    assert json.loads(sent["response_text"])["meta"]["page_size"] == 100


def test_account_fetch(client, wire):
    mark = wire.mark()
    account = client.preview_iam.organization(ORG).accounts(ACCOUNT).fetch()
    [sent] = wire.since(mark)
    assert sent["url"] == f"{URL}/Organizations/{ORG}/Accounts/{ACCOUNT}"
    assert sent["headers"]["Accept"] == "application/json"
    assert account.account_sid == ACCOUNT
    assert account.friendly_name == "Prod"
    assert account.status == "active"
    # the CLI creates accounts without an owner: null, which the SDK maps to None
    assert account.owner_sid is None or account.owner_sid.startswith("US")
    assert account.date_created.tzinfo is not None, "date_created must parse as ISO 8601 with Z"

    sub = client.preview_iam.organization(ORG).accounts(SUBACCOUNT).fetch()
    assert sub.account_sid == SUBACCOUNT

    listed = {a.account_sid: a for a in accounts(client).list()}
    assert listed[ACCOUNT].friendly_name == account.friendly_name
    assert listed[ACCOUNT].date_created == account.date_created


def test_unknown_account_is_a_404(client):
    with pytest.raises(TwilioRestException) as info:
        client.preview_iam.organization(ORG).accounts("AC" + secrets.token_hex(16)).fetch()
    assert type(info.value) is TwilioRestException
    assert (info.value.status, info.value.code) == (404, 20404)


def test_malformed_account_sid_is_a_400(client):
    with pytest.raises(TwilioRestException) as info:
        client.preview_iam.organization(ORG).accounts("ACnope").fetch()
    assert (info.value.status, info.value.code) == (400, 20001)


# --- Role permissions through iam v1 --------------------------------------------------------------


def test_role_permissions_match_the_expanded_role(client, wire, all_roles):
    version = iam_v2(client)
    expanded = None
    for role in all_roles:
        candidate = version.fetch(
            method="GET", uri="/Organizations/Roles/" + role["sid"], params={"Expand": "true"}
        )
        if 5 <= len(candidate["permissions"]) <= 200:
            expanded = candidate
            break
    assert expanded is not None, "no built-in role with 5..200 permissions"

    permissions = client.iam.v1.role_permission(expanded["sid"]).list()
    want = {
        (p["sid"], p["namespace"], p["product"], p["resource"], p["action"], p["external_description"])
        for p in expanded["permissions"]
    }
    got = {(p.sid, p.namespace, p.product, p.resource, p.action, p.external_description) for p in permissions}
    assert got == want
    assert all(p.sid.startswith("IZ") for p in permissions)

    mark = wire.mark()
    paged = client.iam.v1.role_permission(expanded["sid"]).list(page_size=2)
    sent = wire.since(mark)
    assert [p.sid for p in paged] == [p.sid for p in permissions]
    assert len(sent) >= 3
    assert sent[0]["url"].startswith(f"{URL}/v1/Roles/{expanded['sid']}/Permissions?")
    for i, entry in enumerate(sent):
        meta = json.loads(entry["response_text"])["meta"]
        assert meta["key"] == "permissions"
        if i + 1 < len(sent):
            assert sent[i + 1]["url"] == meta["next_page_url"]


def test_permissions_of_an_unknown_role_are_a_404(client):
    with pytest.raises(TwilioException) as info:
        client.iam.v1.role_permission("IX" + secrets.token_hex(16)).list()
    response = info.value.args[1]
    assert response.status_code == 404
    assert json.loads(response.text)["code"] == 20404


def test_oauth_apps_create_update_delete(client, wire):
    mark = wire.mark()
    app = client.iam.v1.o_auth_apps.create(
        OAuthAppList.IamV1AccountVendorOauthAppCreateRequest(
            {
                "type": "client_credentials",
                "friendly_name": "made by the PyPI SDK",
                "description": "sdk/python",
                "policy": {"allow": ["/twilio/iam/role-assignments/list"], "deny": None},
                "access_token_ttl": 600,
            }
        )
    )
    sent = wire.since(mark)
    assert [(e["method"], urllib.parse.urlsplit(e["url"]).path, e["status"]) for e in sent] == [
        ("POST", "/v1/Account/OAuthApps", 201)
    ]
    assert app.sid.startswith("OQ") and len(app.sid) == 34
    assert app.status == "active"
    assert app.access_token_ttl == 600
    assert app.friendly_name == "made by the PyPI SDK"
    assert app.secret and len(app.secret) >= 32

    # The new app's credentials work at once.
    created = make_client(Wire(), client_id=app.sid, client_secret=app.secret)
    assert list_roles(created, {"PageSize": 5}, limit=5)

    updated = client.iam.v1.o_auth_apps(app.sid).update(
        OAuthAppContext.IamV1AccountVendorOauthAppUpdateRequest(
            {"friendly_name": "renamed by the PyPI SDK", "access_token_ttl": 900}
        )
    )
    assert updated.sid == app.sid
    assert updated.friendly_name == "renamed by the PyPI SDK"
    assert updated.access_token_ttl == 900
    assert updated.description == "sdk/python"
    assert updated.secret is None

    # No escalation: the new app cannot create one more powerful than itself.
    with pytest.raises(TwilioRestException) as info:
        created.iam.v1.o_auth_apps.create(
            OAuthAppList.IamV1AccountVendorOauthAppCreateRequest(
                {"type": "client_credentials", "friendly_name": "too much", "policy": {"allow": ["/twilio/*"]}}
            )
        )
    assert info.value.status == 403

    assert client.iam.v1.o_auth_apps(app.sid).delete() is True
    with pytest.raises(TwilioRestException) as info:
        client.iam.v1.o_auth_apps(app.sid).update(
            OAuthAppContext.IamV1AccountVendorOauthAppUpdateRequest({"friendly_name": "x"})
        )
    assert info.value.status == 404
