"""Standard OAuth and JWT clients against a real orgiam server: authlib fetches tokens
(client_secret_basic and client_secret_post), introspects (RFC 7662) and revokes (RFC 7009)
them; PyJWT verifies them through the JWKS as a resource server would (RFC 9068: `typ`,
`aud`, `iss`).

`sdk/run` starts the server and exports ORGIAM_URL, ORGIAM_CLIENT_ID and ORGIAM_CLIENT_SECRET
(the bootstrap app), and ORGIAM_AUDIENCE with ORGIAM_AUD_CLIENT_ID and ORGIAM_AUD_CLIENT_SECRET
(an app created with `orgiam apps create --audience`).
"""

import os
import time

import jwt
import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session

URL = os.environ["ORGIAM_URL"].rstrip("/")
CLIENT_ID = os.environ["ORGIAM_CLIENT_ID"]
CLIENT_SECRET = os.environ["ORGIAM_CLIENT_SECRET"]
AUDIENCE = os.environ["ORGIAM_AUDIENCE"]
AUD_CLIENT_ID = os.environ["ORGIAM_AUD_CLIENT_ID"]
AUD_CLIENT_SECRET = os.environ["ORGIAM_AUD_CLIENT_SECRET"]

METHODS = ["client_secret_basic", "client_secret_post"]


def metadata():
    r = requests.get(f"{URL}/.well-known/oauth-authorization-server", timeout=10)
    r.raise_for_status()
    return r.json()


def session(method, client_id=AUD_CLIENT_ID, secret=AUD_CLIENT_SECRET):
    return OAuth2Session(client_id, secret, token_endpoint_auth_method=method)


def verify(token, audience):
    """What a resource server does with PyJWT: keys from the JWKS, then typ, aud, iss, exp."""
    header = jwt.get_unverified_header(token)
    assert header["typ"] == "at+jwt", header
    meta = metadata()
    key = jwt.PyJWKClient(meta["jwks_uri"]).get_signing_key_from_jwt(token)
    return jwt.decode(
        token,
        key.key,
        algorithms=["EdDSA"],
        audience=audience,
        issuer=meta["issuer"],
        options={"require": ["iss", "exp", "aud", "sub", "iat", "jti"]},
    )


def test_metadata_names_the_endpoints_authlib_uses():
    meta = metadata()
    assert meta["token_endpoint"] == f"{URL}/v2/token"
    assert meta["introspection_endpoint"] == f"{URL}/v2/token/introspect"
    assert meta["revocation_endpoint"] == f"{URL}/v2/token/revoke"
    for key in (
        "token_endpoint_auth_methods_supported",
        "introspection_endpoint_auth_methods_supported",
        "revocation_endpoint_auth_methods_supported",
    ):
        assert meta[key] == METHODS
    assert meta["grant_types_supported"] == ["client_credentials"]
    assert meta["response_types_supported"] == []


@pytest.mark.parametrize("method", METHODS)
def test_authlib_fetches_a_token_for_an_audience_that_pyjwt_verifies(method):
    client = session(method)
    token = client.fetch_token(
        metadata()["token_endpoint"], grant_type="client_credentials", audience=AUDIENCE
    )
    assert token["token_type"] == "Bearer"
    claims = verify(token["access_token"], AUDIENCE)
    assert claims["aud"] == AUDIENCE
    assert claims["client_id"] == AUD_CLIENT_ID == claims["sub"]
    # Another audience is refused by the verifier ...
    with pytest.raises(jwt.InvalidAudienceError):
        verify(token["access_token"], "https://elsewhere.example")
    # ... and orgiam's own API refuses a token meant for another service.
    r = client.get(f"{URL}/v2/Organizations/Roles")
    assert r.status_code == 401, r.text


@pytest.mark.parametrize("method", METHODS)
def test_a_client_sending_no_audience_gets_a_token_for_orgiam(method):
    client = session(method, CLIENT_ID, CLIENT_SECRET)
    token = client.fetch_token(f"{URL}/v2/token", grant_type="client_credentials")
    claims = verify(token["access_token"], metadata()["issuer"])
    assert claims["client_id"] == CLIENT_ID
    r = client.get(f"{URL}/v2/Organizations/Roles")
    assert r.status_code == 200, r.text


def test_an_audience_the_app_may_not_ask_for_is_invalid_target():
    r = requests.post(
        f"{URL}/v2/token",
        data={"grant_type": "client_credentials", "audience": "https://elsewhere.example"},
        auth=(AUD_CLIENT_ID, AUD_CLIENT_SECRET),
        timeout=10,
    )
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "invalid_target"


@pytest.mark.parametrize("method", METHODS)
def test_authlib_introspects_and_revokes(method):
    meta = metadata()
    client = session(method)
    token = client.fetch_token(
        meta["token_endpoint"], grant_type="client_credentials", audience=AUDIENCE
    )["access_token"]
    r = client.introspect_token(meta["introspection_endpoint"], token=token)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["active"] is True
    assert body["client_id"] == AUD_CLIENT_ID
    assert body["aud"] == AUDIENCE
    assert body["exp"] > time.time()
    r = client.revoke_token(meta["revocation_endpoint"], token=token, token_type_hint="access_token")
    assert r.status_code == 200, r.text
    r = client.introspect_token(meta["introspection_endpoint"], token=token)
    assert r.json() == {"active": False}
    # The signature still verifies: a resource server that must honour revocation before
    # expiry introspects.
    verify(token, AUDIENCE)


def test_revoked_tokens_stop_working_on_the_api():
    client = session("client_secret_basic", CLIENT_ID, CLIENT_SECRET)
    token = client.fetch_token(f"{URL}/v2/token", grant_type="client_credentials")
    assert client.get(f"{URL}/v2/Organizations/Roles").status_code == 200
    r = client.revoke_token(f"{URL}/v2/token/revoke", token=token["access_token"])
    assert r.status_code == 200, r.text
    assert client.get(f"{URL}/v2/Organizations/Roles").status_code == 401


def test_bad_requests_get_rfc_error_bodies():
    auth = (AUD_CLIENT_ID, AUD_CLIENT_SECRET)
    r = requests.post(
        f"{URL}/v2/token/introspect",
        data={"token": "x", "token_type_hint": "id_token"},
        auth=auth,
        timeout=10,
    )
    assert (r.status_code, r.json()["error"]) == (400, "unsupported_token_type")
    r = requests.post(f"{URL}/v2/token/revoke", data={}, auth=auth, timeout=10)
    assert (r.status_code, r.json()["error"]) == (400, "invalid_request")
    r = requests.post(f"{URL}/v2/token/introspect", data={"token": "x"}, timeout=10)
    assert (r.status_code, r.json()["error"]) == (401, "invalid_client")
    r = requests.post(
        f"{URL}/v2/token/introspect", data={"token": "not.a.jwt"}, auth=auth, timeout=10
    )
    assert (r.status_code, r.json()) == (200, {"active": False})
