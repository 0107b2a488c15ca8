"""The dashboard's server side over real HTTP: its page and assets, `GET /ui/config.json` in both identity
modes, the offline `/docs` and `/redoc` pages, and the OIDC stand-in's authorization code flow with PKCE
that the page signs in through (the browser itself: tests/test_browser.py)."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from srcnet_eb.shared.settings import DEV_IDENTITY, DEV_TOKEN
from tests.oidc_issuer import running_issuer
from tests.oidc_issuer.codeflow import PublicClient, User

from .broker import Broker

AUDIENCE, CLIENT = "ebroker", "eb-dashboard"
JSON = {"Accept": "application/json"}
IDENTIFIERS = ("http://www.w3.org/2000/svg", "https://www.purl.org/ivoa.net/EB/")  # SVG's namespace, IVOA kinds


class References(HTMLParser):
    """Every src and href of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.found += [v for k, v in attrs if k in ("src", "href") and v]


def references(html: str) -> list[str]:
    parser = References()
    parser.feed(html)
    return parser.found


@pytest.fixture
async def issuer():
    async with running_issuer() as found:
        found.flow.register(PublicClient(CLIENT, AUDIENCE))
        found.flow.user = User("carol", ("/ska/users",))
        yield found


@pytest.fixture
async def oidc_broker(nats_url, sqlite_store, issuer):
    b = Broker(nats_url, sqlite_store)
    await b.start_planner()
    await b.start_gateway(auth_mode="oidc", oidc_issuer=issuer.url, oidc_audience=AUDIENCE, oidc_client_id=CLIENT)
    yield b
    await b.close()


async def test_the_page_and_every_asset_it_names_are_served_from_the_gateway(broker):
    async with httpx.AsyncClient(base_url=broker.base_url, timeout=10) as http:
        page = await http.get("/ui")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "connect-src 'self'" in policy
        names = references(page.text)
        assert names and not [n for n in names if "://" in n or n.startswith("//")]  # nothing from elsewhere
        scripts = {"ui/assets/app.js"}
        while scripts:  # the module graph: every import is a file the gateway serves
            name = scripts.pop()
            got = await http.get(f"/{name}")
            assert got.status_code == 200, name
            assert "javascript" in got.headers["content-type"]
            urls = set(re.findall(r"\w+://[^\s\"'`]+", got.text))
            assert {u for u in urls if not u.startswith(IDENTIFIERS)} == set(), name  # names, never fetched
            scripts |= {f"ui/assets/{m}" for m in re.findall(r'from "\./([\w.]+\.js)"', got.text)}
        for name in names:
            assert (await http.get(f"/{name}")).status_code == 200, name
        assert (await http.get("/ui/", follow_redirects=True)).url.path == "/ui"
        assert (await http.get("/ui/assets/missing.js")).status_code == 404


BROWSER = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"}


async def test_a_browser_opening_an_api_url_gets_a_page_that_points_to_the_dashboard(broker):
    """A browser sends no token: the 401 is a page saying so, with links to /ui and /docs; clients still
    get the Problem document in the type they ask for."""
    async with httpx.AsyncClient(base_url=broker.base_url, timeout=10) as http:
        page = await http.get("/agents", headers=BROWSER)
        assert page.status_code == 401 and page.headers["content-type"].startswith("text/html")
        assert "WWW-Authenticate" in page.headers
        assert f'href="{broker.base_url}/ui"' in page.text and f'href="{broker.base_url}/docs"' in page.text
        assert "Authorization" in page.text  # the Problem's message, naming the field
        missing = await http.get("/offersets/<script>", headers=BROWSER | {"Authorization": f"Bearer {DEV_TOKEN}"})
        assert missing.status_code in (401, 422) and "<script>" not in missing.text  # escaped, never echoed raw
        for accept, kind in [("application/json", "application/json"), ("application/xml", "application/xml"),
                             ("*/*", "application/yaml"), ("text/html;q=0.5,application/json", "application/json")]:
            answer = await http.get("/agents", headers={"Accept": accept})
            assert answer.status_code == 401 and answer.headers["content-type"].startswith(kind), accept
        posted = await http.post("/requests", headers=BROWSER)  # a program posting: the document, not a page
        assert posted.status_code == 401 and posted.headers["content-type"].startswith("application/xml")


async def test_config_in_static_mode_names_the_development_token_only_when_the_gateway_takes_it(broker, nats_url,
                                                                                             sqlite_store):
    async with httpx.AsyncClient(base_url=broker.base_url, timeout=10) as http:
        got = await http.get("/ui/config.json", headers=JSON)  # no token needed
        assert got.status_code == 200 and got.json() == {"mode": "static"}
        assert (await http.get("/ui/config.json")).headers["content-type"].startswith("application/yaml")
        assert (await http.get("/ui/config.json", headers={"Accept": "image/png"})).status_code == 406
    dev = Broker(nats_url, sqlite_store)
    try:
        await dev.start_gateway(auth_tokens={DEV_TOKEN: DEV_IDENTITY})
        got = await dev.client(None).get("/ui/config.json", headers=JSON)
        assert got.json() == {"mode": "static", "token_hint": DEV_TOKEN}
    finally:
        await dev.close()


async def test_config_in_oidc_mode_names_the_issuer_and_the_public_client(oidc_broker, issuer):
    got = await oidc_broker.client(None).get("/ui/config.json", headers=JSON)
    assert got.json() == {"mode": "oidc", "issuer": issuer.url, "client_id": CLIENT, "audience": AUDIENCE,
                          "scope": "openid profile wlcg.groups"}
    page = await oidc_broker.client(None).get("/ui")
    assert f"connect-src 'self' {issuer.url.rstrip('/')};" in page.headers["content-security-policy"]


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
async def test_the_api_docs_load_only_packaged_assets(broker, path):
    async with httpx.AsyncClient(base_url=broker.base_url, timeout=10) as http:
        page = await http.get(path)
        assert page.status_code == 200 and "default-src 'self'" in page.headers["content-security-policy"]
        names = references(page.text)
        assert names and all(n.startswith("/docs/assets/") for n in names), names
        assert "cdn" not in page.text and "fonts.googleapis" not in page.text
        for name in names:
            got = await http.get(name)
            assert got.status_code == 200 and len(got.content) > 1000, name
        schema = (await http.get("/openapi.json")).json()
        assert "/ui/config.json" in schema["paths"] and "DashboardConfig" in schema["components"]["schemas"]
        assert not [p for p in schema["paths"] if p in ("/ui", "/docs", "/redoc")]


# --- The stand-in's code flow with PKCE: what the page does, by hand ----------------------------------------

def challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def authorize(issuer, redirect: str, verifier: str, **changes: str) -> httpx.Response:
    params = {"response_type": "code", "client_id": CLIENT, "redirect_uri": redirect, "scope": "openid profile",
              "state": "s-1", "code_challenge": challenge(verifier), "code_challenge_method": "S256"} | changes
    return httpx.get(f"{issuer.url}authorize", params=params, timeout=10)


def redeem(issuer, code: str, redirect: str, verifier: str) -> httpx.Response:
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(redirect))  # the page's: a cross-origin fetch
    return httpx.post(f"{issuer.url}token", timeout=10, headers={"Origin": origin}, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect, "client_id": CLIENT,
        "code_verifier": verifier})


async def test_a_code_redeemed_with_its_verifier_gives_a_token_the_gateway_takes(oidc_broker, issuer):
    found = httpx.get(f"{issuer.url}.well-known/openid-configuration", timeout=10).json()
    assert found["code_challenge_methods_supported"] == ["S256"]
    redirect, verifier = f"{oidc_broker.base_url}/ui", secrets.token_urlsafe(48)
    sent = authorize(issuer, redirect, verifier)
    assert sent.status_code == 302
    back = urlsplit(sent.headers["location"])
    query = parse_qs(back.query)
    assert f"{back.scheme}://{back.netloc}{back.path}" == redirect and query["state"] == ["s-1"]
    tokens = redeem(issuer, query["code"][0], redirect, verifier)
    assert tokens.status_code == 200, tokens.text
    assert tokens.headers["access-control-allow-origin"] == "*"  # the page may read the answer
    access = tokens.json()["access_token"]
    got = await oidc_broker.client(access).get("/agents", headers=JSON)
    assert got.status_code == 200, got.text
    refused = await oidc_broker.client(access).get("/accounting", headers=JSON)
    assert refused.status_code == 403  # carol is a user, not an operator
    again = redeem(issuer, query["code"][0], redirect, verifier)  # a code is good once
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_a_wrong_verifier_another_redirect_or_no_pkce_gets_no_token(issuer):
    redirect, verifier = "http://127.0.0.1:9/ui", secrets.token_urlsafe(48)
    code = parse_qs(urlsplit(authorize(issuer, redirect, verifier).headers["location"]).query)["code"][0]
    wrong = redeem(issuer, code, redirect, secrets.token_urlsafe(48))
    assert wrong.status_code == 400 and "code_verifier" in wrong.json()["error_description"]
    assert redeem(issuer, code, redirect, verifier).json()["error"] == "invalid_grant"  # spent by the failure
    code = parse_qs(urlsplit(authorize(issuer, redirect, verifier).headers["location"]).query)["code"][0]
    moved = redeem(issuer, code, "http://127.0.0.1:9/elsewhere", verifier)
    assert moved.status_code == 400 and "redirect_uri" in moved.json()["error_description"]
    plain = authorize(issuer, redirect, verifier, code_challenge_method="plain")
    assert parse_qs(urlsplit(plain.headers["location"]).query)["error"] == ["invalid_request"]
    assert authorize(issuer, "https://attacker.example/cb", verifier).status_code == 400  # never sent there
    assert authorize(issuer, redirect, verifier, client_id="stranger").status_code == 400
