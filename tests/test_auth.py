"""Identity at the gateway, over real HTTP: OIDC bearer tokens checked against a local issuer stand-in
(discovery + JWKS on loopback, RS256 keys, rotation, outages), and the static development tokens."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid

import httpx
import jwt
import pytest

from tests.oidc_issuer import SigningKey, running_issuer

from .broker import Broker, bearer

AUDIENCE = "ebroker"
JSON = {"Accept": "application/json"}


@pytest.fixture
async def issuer():
    async with running_issuer() as found:
        yield found


async def oidc_gateway(nats_url, store, issuer, **settings) -> Broker:
    b = Broker(nats_url, store)
    await b.start_planner()
    await b.start_gateway(**({"auth_mode": "oidc", "oidc_issuer": issuer.url, "oidc_audience": AUDIENCE,
                              "operator_role": "ska/eb-operators", "oidc_jwks_refetch": 0.5} | settings))
    return b


@pytest.fixture
async def gateway(nats_url, sqlite_store, issuer):
    b = await oidc_gateway(nats_url, sqlite_store, issuer)
    yield b
    await b.close()


async def get(b: Broker, token: str | None, path: str = "/agents", **headers: str) -> httpx.Response:
    """GET as the holder of `token` (None: no Authorization header at all)."""
    async with httpx.AsyncClient(base_url=b.base_url, timeout=30) as http:
        return await http.get(path, headers=JSON | (bearer(token) if token else {}) | headers)


def refused(got: httpx.Response, reason: str) -> None:
    """A 401 in the problem form, naming the reason, with an RFC 6750 challenge."""
    assert got.status_code == 401, got.text
    assert got.headers["www-authenticate"].startswith('Bearer realm="srcnet-execution-broker"')
    body = got.json()
    assert body["status"] == 401 and body["title"] == "Unauthorized"
    message = body["messages"][0]
    assert message["values"]["field"] == "Authorization" and reason in message["values"]["reason"], message


async def test_a_valid_token_is_let_in_and_its_groups_make_the_operator(gateway, issuer):
    user = issuer.mint("1b3f-user", AUDIENCE, groups=["/ska", "/ska/users"])
    assert (await get(gateway, user)).status_code == 200
    assert (await get(gateway, user, "/accounting")).status_code == 403  # a user, not an operator
    wlcg = issuer.mint("op-1", AUDIENCE, groups=["/ska", "/ska/eb-operators"])  # WLCG profile: wlcg.groups
    iam = issuer.mint("op-2", [AUDIENCE, "other"], groups=["ska/eb-operators"], groups_claim="groups")  # IAM profile
    for token in (wlcg, iam):
        assert (await get(gateway, token, "/accounting")).status_code == 200


async def test_no_token_or_another_scheme_is_401_with_a_challenge(gateway):
    refused(await get(gateway, None), "no bearer token")
    assert got_challenge(await get(gateway, None, Authorization="Basic YTpi"))


def got_challenge(got: httpx.Response) -> bool:
    return got.status_code == 401 and got.headers["www-authenticate"] == 'Bearer realm="srcnet-execution-broker"'


async def test_wrong_signature_issuer_audience_and_time_are_each_named(gateway, issuer):
    stranger = SigningKey(issuer.current.kid, SigningKey.new().private)  # the published kid, another key
    cases = {
        "signature does not verify": issuer.mint("u", AUDIENCE, key=stranger),
        "issuer: the token is not from": issuer.mint("u", AUDIENCE, issuer="https://elsewhere.example/"),
        "audience: the token is not for 'ebroker'": issuer.mint("u", "another-service"),
        "token expired": issuer.mint("u", AUDIENCE, lifetime=-120),  # past the 30 s leeway
        "not yet valid": issuer.mint("u", AUDIENCE, not_before=600),
        "has no 'aud' claim": issuer.mint("u", None),
        "not a signed JWT": "not-a-jwt",
        "header is invalid": with_header(issuer.mint("u", AUDIENCE), {"alg": "RS256", "kid": 7}),
    }
    for reason, token in cases.items():
        got = await get(gateway, token)
        refused(got, reason)
        assert 'error="invalid_token"' in got.headers["www-authenticate"]
    assert (await get(gateway, issuer.mint("u", AUDIENCE, lifetime=-5))).status_code == 200  # within the leeway


def with_header(token: str, header: dict) -> str:
    """The token with another header (which jwt.encode would refuse to write)."""
    encoded = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
    return ".".join([encoded, *token.split(".")[1:]])


async def test_unsigned_and_symmetric_tokens_are_refused(gateway, issuer):
    claims = {"iss": issuer.url, "aud": AUDIENCE, "sub": "u", "exp": 4102444800}
    unsigned = jwt.encode(claims, None, algorithm="none")
    # HS256 keyed with the public key's text: the classic confusion attack.
    public = issuer.current.jwk()["n"]
    symmetric = jwt.encode(claims, public, algorithm="HS256", headers={"kid": issuer.current.kid})
    refused(await get(gateway, unsigned), "'none' is not accepted")
    refused(await get(gateway, symmetric), "'HS256' is not accepted")


async def test_keys_are_fetched_once_and_reused(gateway, issuer):
    tokens = [issuer.mint(f"user-{i}", AUDIENCE) for i in range(10)]
    answers = await asyncio.gather(*(get(gateway, t) for t in tokens))  # concurrently: one fetch serves all
    assert [a.status_code for a in answers] == [200] * 10
    for token in tokens:
        assert (await get(gateway, token)).status_code == 200
    assert issuer.fetches() == {"discovery": 1, "jwks": 1}


async def test_after_rotation_an_unknown_kid_fetches_the_keys_again(gateway, issuer):
    old = issuer.mint("u", AUDIENCE)
    assert (await get(gateway, old)).status_code == 200
    issuer.rotate()  # the old key is withdrawn, a new one signs
    new = issuer.mint("u", AUDIENCE)
    assert (await get(gateway, new)).status_code == 200
    assert issuer.fetches()["jwks"] == 2
    await asyncio.sleep(0.6)  # past the refetch interval
    refused(await get(gateway, old), "a key the issuer does not publish")
    assert issuer.fetches()["jwks"] == 3


async def test_tokens_naming_unknown_keys_cannot_make_the_gateway_hammer_the_issuer(nats_url, sqlite_store, issuer):
    b = await oidc_gateway(nats_url, sqlite_store, issuer, oidc_jwks_refetch=60)
    try:
        strangers = [issuer.mint("u", AUDIENCE, key=SigningKey.new(f"kid-{i}")) for i in range(3)]
        assert (await get(b, issuer.mint("u", AUDIENCE))).status_code == 200
        for _ in range(5):
            for token in strangers:
                refused(await get(b, token), "does not publish")
        assert issuer.fetches()["jwks"] == 2  # the first unknown kid looked once more; then no more for 60 s
    finally:
        await b.close()


async def test_keys_are_fetched_again_when_their_ttl_ends(nats_url, sqlite_store, issuer):
    b = await oidc_gateway(nats_url, sqlite_store, issuer, oidc_jwks_ttl=0.5, oidc_jwks_refetch=0.1)
    try:
        token = issuer.mint("u", AUDIENCE)
        assert (await get(b, token)).status_code == 200
        await asyncio.sleep(0.7)
        assert (await get(b, token)).status_code == 200
        assert issuer.fetches()["jwks"] == 2
    finally:
        await b.close()


async def test_issuer_down_is_503_not_500_and_keys_in_hand_keep_working(gateway, issuer):
    httpx.post(issuer.control("outage"), json={"down": True})
    got = await get(gateway, issuer.mint("u", AUDIENCE))
    assert got.status_code == 503, got.text
    body = got.json()
    assert body["title"] == "Identity provider unavailable"
    assert "openid-configuration answered 503" in body["messages"][0]["message"]
    httpx.post(issuer.control("outage"), json={"down": False})
    await asyncio.sleep(0.6)  # the failure is remembered for the refetch interval, then tried again
    assert (await get(gateway, issuer.mint("u", AUDIENCE))).status_code == 200
    httpx.post(issuer.control("outage"), json={"down": True})  # keys in hand: the issuer is not needed
    assert (await get(gateway, issuer.mint("v", AUDIENCE))).status_code == 200


async def test_issuer_unreachable_is_503(nats_url, sqlite_store):
    from srcnet_eb.services.embedded.ports import free_port

    async with running_issuer() as issuer:
        token = issuer.mint("u", AUDIENCE)
        gone = type(issuer)(url=f"http://127.0.0.1:{free_port()}/", keys=issuer.keys)  # nothing listens there
    b = await oidc_gateway(nats_url, sqlite_store, gone)
    try:
        got = await get(b, token)
        assert got.status_code == 503 and "cannot be reached" in got.json()["messages"][0]["message"]
    finally:
        await b.close()


async def test_static_tokens(broker):
    refused(await get(broker, "guessed"), "unknown token")
    refused(await get(broker, None, f"/offersets/{uuid.uuid4()}"), "no bearer token")
    assert (await get(broker, "alice-token", f"/offersets/{uuid.uuid4()}")).status_code == 404
    assert (await get(broker, "alice-token", "/accounting")).status_code == 403
    assert (await get(broker, "operator-token", "/accounting")).status_code == 200


async def test_openapi_declares_bearer_auth(broker):
    spec = (await broker.http.get("/openapi.json")).json()
    assert spec["components"]["securitySchemes"]["bearer"] == spec["components"]["securitySchemes"]["bearer"] | {
        "type": "http", "scheme": "bearer"}
    for path, method in (("/offersets", "post"), ("/sessions/{uuid}", "get"), ("/agents", "get")):
        operation = spec["paths"][path][method]
        assert operation["security"] == [{"bearer": []}] and "401" in operation["responses"]
    assert "403" in spec["paths"]["/accounting"]["get"]["responses"]
