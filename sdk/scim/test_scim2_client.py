"""A full SCIM 2.0 round trip with scim2-client (PyPI), a client library nobody here wrote.

scim2-client builds every request from scim2-models objects and validates every response
against the models (status codes, content type, payload, in the context of the request): a
response that departs from RFC 7643/7644 fails the call. `sdk/run` starts the server and exports
ORGIAM_URL, ORGIAM_CLIENT_ID, ORGIAM_CLIENT_SECRET and ORGIAM_ORG.

The round trip: discovery (ServiceProviderConfig, ResourceTypes, Schemas), create, get, a
conditional get (304), list with filters, POST .search, replace, patch, delete, then the 404.
"""

import os
import secrets

import httpx2
import pytest
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_models import (
    Error,
    ListResponse,
    PatchOp,
    PatchOperation,
    SCIMException,
    ScimPolicy,
    ScimProvider,
    SearchRequest,
)

URL = os.environ["ORGIAM_URL"].rstrip("/")
CLIENT_ID = os.environ["ORGIAM_CLIENT_ID"]
CLIENT_SECRET = os.environ["ORGIAM_CLIENT_SECRET"]
ORG = os.environ["ORGIAM_ORG"]
BASE = f"{URL}/Organizations/{ORG}/scim"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"

PINNED = "0.13.2"


def bearer_token():
    answer = httpx2.post(
        URL + "/v2/token",
        data={"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
    )
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


@pytest.fixture(scope="module")
def http():
    with httpx2.Client(base_url=BASE, headers={"Authorization": "Bearer " + bearer_token()}) as client:
        yield client


@pytest.fixture(scope="module")
def scim(http):
    """A client that knows nothing of the server but what discovery tells it.

    One departure from scim2-models' defaults: Twilio's SCIM error body carries two members
    beyond RFC 7644 §3.12 (`code`, `moreInfo`), and scim2-models' Error forbids unknown members
    unless the policy keeps them. Everything else is validated as by default.
    """
    client = SyncSCIMClient(http, provider=ScimProvider(policy=ScimPolicy(unknown=ScimPolicy.Unknown.keep)))
    client.discover()
    return client


@pytest.fixture(scope="module")
def UserModel(scim):
    model = scim.get_resource_model("User")
    assert model is not None, "discovery found no User resource type"
    return model


def new_user(model, **extra):
    name = "scim2-" + secrets.token_hex(6) + "@example.com"
    fields = dict(
        user_name=name,
        external_id="ext-" + name,
        display_name="Barbara Jensen",
        name={"givenName": "Barbara", "familyName": "Jensen"},
        emails=[{"value": name, "type": "work", "primary": True}],
        active=True,
        locale="en-US",
        timezone="America/Los_Angeles",
    )
    fields.update(extra)
    return model(**fields)


def test_the_installed_client_is_the_pinned_one():
    from importlib.metadata import version

    assert version("scim2-client") == PINNED


def test_discovery_is_truthful(scim):
    config = scim.service_provider_config
    assert config is not None
    assert config.patch.supported is True
    assert config.filter.supported is True
    assert config.filter.max_results and config.filter.max_results >= 1
    assert config.etag.supported is True
    assert config.sort.supported is True
    assert config.bulk.supported is False
    assert config.change_password.supported is False

    types = {t.name: t for t in scim.resource_types}
    assert "User" in types
    assert types["User"].schema_ == USER_SCHEMA
    assert types["User"].endpoint.rstrip("/").endswith("/Users")


def test_round_trip(scim, UserModel):
    # create
    created = scim.create(new_user(UserModel))
    assert isinstance(created, UserModel)
    assert created.id.startswith("US")
    assert created.meta.resource_type == "User"
    assert created.meta.version.startswith('W/"')
    assert str(created.meta.location).endswith("/scim/Users/" + created.id)
    assert created.emails[0].value == created.user_name

    # get, then a conditional get with the version it carries: 304, the same object back
    fetched = scim.query(UserModel, created.id)
    assert fetched.id == created.id
    assert fetched.user_name == created.user_name
    assert fetched.meta.version == created.meta.version
    assert scim.query(fetched) is fetched

    # list with filters: the index lookups identity providers send, and a value path
    for flt in (
        f'userName eq "{created.user_name}"',
        f'userName eq "{created.user_name.upper()}"',
        f'externalId eq "{created.external_id}"',
        f'emails.value eq "{created.user_name}"',
        f'emails[type eq "work" and value eq "{created.user_name}"]',
        f'userName eq "{created.user_name}" and active eq true',
    ):
        found = scim.query(UserModel, query_parameters=SearchRequest(filter=flt))
        assert isinstance(found, ListResponse), flt
        assert found.total_results == 1, flt
        assert [u.id for u in found.resources] == [created.id], flt

    # a page, sorted
    page = scim.query(UserModel, query_parameters=SearchRequest(count=1, start_index=1, sort_by="userName"))
    assert page.items_per_page == 1 and page.start_index == 1
    assert page.total_results >= 1

    # POST .search
    found = scim.search(UserModel, SearchRequest(filter=f'userName eq "{created.user_name}"'))
    assert [u.id for u in found.resources] == [created.id]

    # replace
    fetched.display_name = "Babs Jensen"
    fetched.name = type(fetched.name)(given_name="Babs", family_name="Jensen")
    replaced = scim.replace(fetched)
    assert replaced.display_name == "Babs Jensen"
    assert replaced.name.given_name == "Babs"
    assert replaced.meta.version != created.meta.version

    # patch
    patch = PatchOp[UserModel](
        operations=[
            PatchOperation[UserModel](op=PatchOperation.Op.replace_, path="displayName", value="B. Jensen"),
            PatchOperation[UserModel](op=PatchOperation.Op.replace_, path="active", value=False),
        ]
    )
    patched = scim.modify(UserModel, created.id, patch)
    if patched is not None:  # 200 with the user, or 204
        assert patched.display_name == "B. Jensen"
        assert patched.active is False
    again = scim.query(UserModel, created.id)
    assert again.display_name == "B. Jensen"
    assert again.active is False

    # delete, then the user is gone
    assert scim.delete(UserModel, created.id) is None
    gone = scim.query(UserModel, created.id, raise_scim_errors=False)
    assert isinstance(gone, Error)
    assert gone.status == 404
    none = scim.query(UserModel, query_parameters=SearchRequest(filter=f'userName eq "{created.user_name}"'))
    assert none.total_results == 0


def test_a_duplicate_user_name_is_a_uniqueness_error(scim, UserModel):
    created = scim.create(new_user(UserModel))
    twin = new_user(UserModel, user_name=created.user_name.upper())
    error = scim.create(twin, raise_scim_errors=False)
    assert isinstance(error, Error)
    assert error.status == 409
    assert error.scim_type == "uniqueness"
    with pytest.raises(SCIMException):
        scim.create(twin)


def test_an_unknown_filter_attribute_is_an_invalid_filter(scim, UserModel):
    error = scim.query(UserModel, query_parameters=SearchRequest(filter='shoeSize eq "42"'), raise_scim_errors=False)
    assert isinstance(error, Error)
    assert error.status == 400
    assert error.scim_type == "invalidFilter"


def test_a_stale_version_is_a_precondition_failure(scim, UserModel):
    # scim2-client sends the version a resource carries as If-Match on PUT (the server
    # announces etag support): after another change, that version is stale.
    created = scim.create(new_user(UserModel))
    scim.modify(
        UserModel,
        created.id,
        PatchOp[UserModel](
            operations=[PatchOperation[UserModel](op=PatchOperation.Op.replace_, path="displayName", value="x")]
        ),
    )
    created.display_name = "y"
    error = scim.replace(created, raise_scim_errors=False)
    assert isinstance(error, Error)
    assert error.status == 412
