"""SCIM 2.0 users through the official, unmodified `twilio` package from PyPI.

twilio-python 9.13.0 splits the SCIM users resource the way it splits the others: `create`,
`list`, `stream` and `page` live on the Versionless version of the preview_iam domain
(`Versionless(client.preview_iam).users(OR)`), while `fetch`, `update` (PUT), `patch` and
`delete` live on `client.preview_iam.organization(OR).users(US)`. Everything below goes through
those generated classes, with the client set up as in test_sdk.py (organization credentials, the
base URLs pointed at orgiam), and checks both what the SDK sent and what it made of the answer.
"""

import json
import secrets

import pytest

from twilio.base.exceptions import TwilioRestException
from twilio.rest.preview_iam.versionless import Versionless
from twilio.rest.preview_iam.versionless.organization.user import UserContext, UserList
from twilio.rest.preview_iam.versionless.organization.user import UserInstance as OrgUserInstance
from twilio.rest.preview_iam.versionless.user import UserInstance

from test_sdk import ORG, URL, Wire, make_client

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"
USERS_URL = URL + "/Organizations/" + ORG + "/scim/Users"


@pytest.fixture
def wire():
    return Wire()


@pytest.fixture
def client(wire):
    return make_client(wire)


def users(client, org=ORG):
    """create / list / stream / page: on the Versionless version."""
    return Versionless(client.preview_iam).users(org)


def user(client, sid, org=ORG):
    """fetch / update / patch / delete: on the organization context."""
    return client.preview_iam.organization(org).users(sid)


def unique_name():
    return "sdk-" + secrets.token_hex(6) + "@example.com"


def scim_user(user_name, **extra):
    payload = {
        "schemas": [USER_SCHEMA],
        "userName": user_name,
        "externalId": "ext-" + user_name,
        "displayName": "Ada Lovelace",
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"value": user_name, "type": "work", "primary": True}],
        "active": True,
        "locale": "en-GB",
        "timezone": "Europe/London",
    }
    payload.update(extra)
    return UserList.ScimUser(payload)


def create(client, user_name=None, **extra):
    return users(client).create(scim_user(user_name or unique_name(), **extra))


def header(entry, name):
    """A response header, whatever the case the server wrote its name in."""
    return {k.lower(): v for k, v in entry["response_headers"].items()}.get(name.lower())


def sent_json(entry):
    body = entry["body"]
    return json.loads(body.decode() if isinstance(body, bytes) else body)


def test_create_sends_scim_json_and_reads_the_user_back(client, wire):
    name = unique_name()
    mark = wire.mark()
    created = create(client, name)
    [entry] = wire.since(mark)

    assert entry["method"] == "POST"
    assert entry["url"] == USERS_URL
    assert entry["headers"]["Content-Type"] == "application/scim+json"
    assert entry["headers"]["Accept"] == "application/scim+json"
    body = sent_json(entry)
    # ScimUser.to_dict() has every attribute, unset ones as None; the SDK drops those.
    assert "id" not in body and "meta" not in body
    assert body["userName"] == name
    assert entry["status"] == 201
    assert header(entry, "Location") == USERS_URL + "/" + created.id
    assert header(entry, "ETag").startswith('W/"')
    assert header(entry, "Content-Type").startswith("application/scim+json")

    assert isinstance(created, UserInstance)
    assert created.id.startswith("US") and len(created.id) == 34
    assert created.user_name == name
    assert created.external_id == "ext-" + name
    assert created.display_name == "Ada Lovelace"
    assert created.name["givenName"] == "Ada" and created.name["familyName"] == "Lovelace"
    assert created.emails[0]["value"] == name
    assert created.active is True
    assert created.locale == "en-GB" and created.timezone == "Europe/London"
    assert USER_SCHEMA in created.schemas
    assert created.meta["resourceType"] == "User"
    assert created.meta["location"] == USERS_URL + "/" + created.id
    assert created.meta["version"] == header(entry, "ETag")


def test_create_with_only_the_required_attributes_and_nulls_for_the_rest(client):
    # What a user of the SDK sends when they fill in the least: userName and schemas, every
    # other attribute null. Null means unassigned (RFC 7643 §2.5), never an error.
    name = unique_name()
    created = users(client).create(UserList.ScimUser({"schemas": [USER_SCHEMA], "userName": name}))
    assert created.user_name == name
    assert created.active is True
    assert created.external_id is None


def test_fetch_returns_the_same_user(client, wire):
    created = create(client)
    mark = wire.mark()
    fetched = user(client, created.id).fetch()
    [entry] = wire.since(mark)
    assert entry["method"] == "GET"
    assert entry["url"] == USERS_URL + "/" + created.id
    assert entry["headers"]["Accept"] == "application/scim+json"
    assert header(entry, "ETag") == created.meta["version"]
    assert isinstance(fetched, OrgUserInstance)
    assert fetched.id == created.id
    assert fetched.user_name == created.user_name
    assert fetched.meta["version"] == created.meta["version"]


def test_list_and_filter_by_user_name_and_external_id(client, wire):
    a = create(client)
    b = create(client)

    mark = wire.mark()
    found = users(client).list(filter=f'userName eq "{a.user_name}"')
    [entry] = wire.since(mark)
    assert entry["url"].startswith(USERS_URL + "?")
    answer = json.loads(entry["response_text"])
    assert LIST_SCHEMA in answer["schemas"]
    assert answer["totalResults"] == 1
    assert [u.id for u in found] == [a.id]
    assert isinstance(found[0], UserInstance)

    # userName is case-insensitive.
    found = users(client).list(filter=f'userName eq "{b.user_name.upper()}"')
    assert [u.id for u in found] == [b.id]

    found = users(client).list(filter=f'externalId eq "ext-{b.user_name}"')
    assert [u.id for u in found] == [b.id]

    found = users(client).list(filter='userName eq "nobody-' + secrets.token_hex(4) + '@example.com"')
    assert found == []

    everyone = {u.id for u in users(client).stream()}
    assert {a.id, b.id} <= everyone


def test_update_replaces_the_user(client, wire):
    created = create(client)
    name = created.user_name
    mark = wire.mark()
    replaced = user(client, created.id).update(
        UserList.ScimUser(
            {
                "schemas": [USER_SCHEMA],
                "userName": name,
                "displayName": "Ada King",
                "name": {"givenName": "Ada", "familyName": "King"},
                "emails": [{"value": name, "type": "work", "primary": True}],
                "active": True,
            }
        ),
        if_match=created.meta["version"],
    )
    [entry] = wire.since(mark)
    assert entry["method"] == "PUT"
    assert entry["headers"]["If-Match"] == created.meta["version"]
    assert entry["headers"]["Content-Type"] == "application/scim+json"
    assert entry["status"] == 200
    assert replaced.display_name == "Ada King"
    assert replaced.name["familyName"] == "King"
    # PUT replaces: what was not sent is gone.
    assert replaced.external_id is None
    assert replaced.locale is None
    assert replaced.meta["version"] != created.meta["version"]
    assert user(client, created.id).fetch().display_name == "Ada King"


def test_update_with_a_stale_version_is_412_and_changes_nothing(client):
    created = create(client)
    ctx = user(client, created.id)
    ctx.patch(
        UserList.ScimPatchRequest(
            {"schemas": [PATCH_SCHEMA], "Operations": [{"op": "replace", "path": "displayName", "value": "first"}]}
        )
    )
    with pytest.raises(TwilioRestException) as info:
        ctx.update(scim_user(created.user_name, displayName="second"), if_match=created.meta["version"])
    assert info.value.status == 412
    assert ctx.fetch().display_name == "first"


def test_patch_replace_and_deactivate(client, wire):
    created = create(client)
    mark = wire.mark()
    patched = user(client, created.id).patch(
        UserList.ScimPatchRequest(
            {
                "schemas": [PATCH_SCHEMA],
                "Operations": [
                    {"op": "replace", "path": "name.familyName", "value": "Byron"},
                    {"op": "Replace", "value": {"displayName": "Ada Byron", "active": False}},
                ],
            }
        ),
        if_match=created.meta["version"],
    )
    [entry] = wire.since(mark)
    assert entry["method"] == "PATCH"
    assert entry["headers"]["If-Match"] == created.meta["version"]
    body = sent_json(entry)
    assert body["schemas"] == [PATCH_SCHEMA]
    assert len(body["Operations"]) == 2
    assert entry["status"] == 200
    assert patched.name["familyName"] == "Byron"
    assert patched.name["givenName"] == "Ada"
    assert patched.display_name == "Ada Byron"
    assert patched.active is False
    assert user(client, created.id).fetch().active is False


def test_delete_then_fetch_is_404(client, wire):
    created = create(client)
    mark = wire.mark()
    assert user(client, created.id).delete() is True
    [entry] = wire.since(mark)
    assert entry["method"] == "DELETE"
    assert entry["status"] == 204
    with pytest.raises(TwilioRestException) as info:
        user(client, created.id).fetch()
    assert info.value.status == 404
    assert users(client).list(filter=f'userName eq "{created.user_name}"') == []


def test_duplicate_user_name_is_a_409_with_the_scim_error_body(client, wire):
    created = create(client)
    mark = wire.mark()
    with pytest.raises(TwilioRestException) as info:
        create(client, created.user_name.upper())
    assert info.value.status == 409
    assert info.value.code == 20409
    [entry] = wire.since(mark)
    body = json.loads(entry["response_text"])
    assert body["schemas"] == [ERROR_SCHEMA]
    assert body["status"] == "409"
    assert body["scimType"] == "uniqueness"
    assert body["moreInfo"] == "https://www.twilio.com/docs/errors/20409"
    assert header(entry, "Content-Type").startswith("application/scim+json")


def test_missing_user_name_is_a_400(client):
    with pytest.raises(TwilioRestException) as info:
        users(client).create(UserList.ScimUser({"schemas": [USER_SCHEMA], "displayName": "nobody"}))
    assert info.value.status == 400


def test_unknown_filter_attribute_is_a_400(client, wire):
    mark = wire.mark()
    with pytest.raises(Exception):
        users(client).list(filter='shoeSize eq "42"')
    [entry] = wire.since(mark)
    assert entry["status"] == 400
    assert json.loads(entry["response_text"])["scimType"] == "invalidFilter"


def test_users_of_another_organization_are_404(client):
    created = create(client)
    other = "OR" + secrets.token_hex(16)
    with pytest.raises(TwilioRestException) as info:
        user(client, created.id, org=other).fetch()
    assert info.value.status == 404
    with pytest.raises(TwilioRestException) as info:
        users(client, org=other).create(scim_user(unique_name()))
    assert info.value.status == 404


def test_the_context_class_is_the_generated_one(client):
    assert isinstance(user(client, "US" + "0" * 32), UserContext)
