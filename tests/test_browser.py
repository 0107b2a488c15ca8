"""The dashboard and the API docs in a real browser: Debian's headless Chromium driven by Selenium through
Debian's chromedriver (never a downloaded one), against a whole broker on loopback with the OIDC stand-in as
its issuer. The browser cannot reach the internet: names other than loopback do not resolve and every other
address goes to a dead proxy; the test also checks that no request left loopback.

Skipped when Chromium is missing, unless EB_REQUIRE_BROWSER=1 (CI installs it and sets that)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from srcnet_eb.shared.settings import DEV_IDENTITY, DEV_TOKEN
from tests.oidc_issuer import running_issuer
from tests.oidc_issuer.codeflow import PublicClient, User

from .broker import Broker

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "var" / "screenshots"
AUDIENCE, CLIENT = "ebroker", "eb-dashboard"
FAST = {"session_pending_seconds": 0.3, "session_run_seconds": 30.0, "session_terminating_seconds": 0.2}
AGENT = {"poll_interval": 0.1, "prepare_seconds": 1.0, "release_seconds": 1.0, "grace": 5.0}
PATIENCE = 30  # seconds a condition may take to hold (each wait ends as soon as it holds)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1440,1200",
         # No internet: host names other than loopback do not resolve, other addresses go to a closed port.
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1", "--proxy-server=http://127.0.0.1:9"]

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def webdriver_module():
    """Selenium's webdriver, or a skip (a failure when EB_REQUIRE_BROWSER=1) without Debian's Chromium."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        if os.environ.get("EB_REQUIRE_BROWSER") == "1":
            pytest.fail(f"EB_REQUIRE_BROWSER=1 but {', '.join(missing)} missing (apt-get install chromium chromium-driver)")
        pytest.skip(f"no {', '.join(missing)}")
    from selenium import webdriver

    return webdriver


@contextmanager
def chromium(webdriver, profile: Path) -> Iterator[object]:
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [*FLAGS, f"--user-data-dir={profile}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})  # every request, to check none left
    # The driver path is given, so Selenium Manager never looks for (or downloads) one.
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    try:
        yield driver
    finally:
        driver.quit()


def requested(driver) -> list[str]:
    """The URLs the browser sent requests for since the last call (from its performance log); those its
    Content-Security-Policy stopped never leave the browser and are not counted."""
    sent, blocked = [], set()  # a redirect is sent under the same requestId
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            sent.append((message["params"]["requestId"], message["params"]["request"]["url"]))
        elif message["method"] == "Network.loadingFailed" and message["params"].get("blockedReason") == "csp":
            blocked.add(message["params"]["requestId"])
    return [url for rid, url in sent if rid not in blocked]


def off_loopback(urls: list[str]) -> list[str]:
    return [u for u in urls if urlsplit(u).scheme in ("http", "https", "ws", "wss")
            and urlsplit(u).hostname not in ("127.0.0.1", "localhost", "::1")]


@pytest.fixture
async def oidc_broker(nats_url, sqlite_store, site_config):
    """Planner, gateway (OIDC: the stand-in, the dashboard's public client) and two CANFAR sites."""
    async with running_issuer() as issuer:
        issuer.flow.register(PublicClient(CLIENT, AUDIENCE))
        issuer.flow.user = User("carol", ("/ska/users",))
        broker = Broker(nats_url, sqlite_store)
        try:
            await broker.start_planner()
            broker.planner.tracker.sweep_interval = 0.2
            await broker.start_gateway(auth_mode="oidc", oidc_issuer=issuer.url, oidc_audience=AUDIENCE,
                                       oidc_client_id=CLIENT)
            for name in ("site-a", "site-b"):
                await broker.add_site(name, site_config(name, **FAST), **AGENT)
            await broker.wait_for_agents(2)
            yield broker, issuer
        finally:
            await broker.close()


def _the_dashboard_session(webdriver, base: str, issuer: str, profile: Path) -> Path:
    """Sign in, post the prefilled request, accept an offer, follow its phases; the screenshot's path."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    # The page uses the lists and the session's event stream where the gateway has them, and falls back
    # (what this browser made; polling) where it has not: either way, the test knows which to expect.
    paths = httpx.get(f"{base}/openapi.json", timeout=10).json()["paths"]
    streams, lists = "/sessions/{uuid}/events" in paths, "get" in paths.get("/offersets", {})

    with chromium(webdriver, profile) as driver:
        wait = WebDriverWait(driver, PATIENCE)
        driver.get(f"{base}/ui")
        wait.until(ec.element_to_be_clickable((By.ID, "oidc-sign-in"))).click()
        # To the issuer's /authorize (auto-consent), back with a code, redeemed with the PKCE verifier.
        wait.until(ec.text_to_be_present_in_element((By.ID, "who"), "signed in as carol"))
        assert "code=" not in driver.current_url  # the spent code is off the address bar
        rows = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#agents tr.agent.live")
                          if len(d.find_elements(By.CSS_SELECTOR, "#agents tr.agent.live")) >= 2 else False)
        assert {r.find_element(By.CSS_SELECTOR, "td").text for r in rows} >= {"site-a", "site-b"}

        assert "astroml" in driver.find_element(By.ID, "request").get_attribute("value")  # the example
        driver.find_element(By.ID, "post-request").click()
        wait.until(lambda d: d.find_element(By.ID, "offerset-status").get_attribute("data-value") == "COMPLETE")
        offers = driver.find_elements(By.CSS_SELECTOR, "#timeline svg g.offer")
        assert len(offers) >= 2, driver.find_element(By.ID, "offerset").text
        assert driver.find_elements(By.CSS_SELECTOR, "#timeline g.offer rect.block.available")
        assert driver.find_elements(By.CSS_SELECTOR, "#timeline g.offer path.expiry")
        assert {t.text for t in driver.find_elements(By.CSS_SELECTOR, "#timeline text.site")} >= {
            "site-a (canfar)", "site-b (canfar)"}

        driver.execute_script("window.__sameLoad = true")  # gone if the page reloads
        driver.find_element(By.CSS_SELECTOR, "#offers button[data-value=ACCEPTED]").click()
        wait.until(lambda d: d.find_element(By.ID, "session-phase").get_attribute("data-value") == "RUNNING")
        assert driver.execute_script("return window.__sameLoad === true"), "the page reloaded"
        mode = driver.find_element(By.ID, "session-live").get_attribute("data-mode")
        assert mode == ("stream" if streams else "polling"), mode
        history = [li.get_attribute("data-phase") for li in driver.find_elements(By.CSS_SELECTOR, "#session-history > li")]
        assert history[0] == "ACCEPTED" and history[-1] == "RUNNING" and len(history) >= 3, history
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#session-access a[href^='http']"))
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#offers .badge.rejected")) == len(offers) - 1)
        listed = wait.until(lambda d: [r.text for r in d.find_elements(By.CSS_SELECTOR, "#offersets tbody tr")
                                       if "astroml notebook COMPLETE YES" in r.text])
        assert len(listed) == 1 and driver.find_element(By.ID, "offersets-note").is_displayed() is not lists
        wait.until(lambda d: [r for r in d.find_elements(By.CSS_SELECTOR, "#sessions tbody tr") if "RUNNING" in r.text])
        assert driver.find_element(By.ID, "problem").get_attribute("hidden") is not None, \
            driver.find_element(By.ID, "problem").text
        SHOTS.mkdir(parents=True, exist_ok=True)
        shot = SHOTS / f"dashboard-{time.strftime('%Y%m%dT%H%M%S')}.png"
        driver.save_screenshot(str(shot))
        assert off_loopback(requested(driver)) == []
    return shot


async def test_sign_in_ask_accept_and_follow_a_session_in_the_browser(webdriver_module, oidc_broker, tmp_path, capsys):
    broker, issuer = oidc_broker
    shot = await asyncio.to_thread(_the_dashboard_session, webdriver_module, broker.base_url, issuer.url,
                                   tmp_path / "profile")
    with capsys.disabled():  # shown by a plain `pytest -q` too: the run's record of what the page looked like
        print(f"\nscreenshot of the dashboard: {shot}")
    assert shot.stat().st_size > 10_000
    fetched = issuer.fetches()
    assert fetched["authorize"] == 1 and fetched["token"] == 1, fetched


def _the_docs(webdriver, base: str, profile: Path) -> Path:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    with chromium(webdriver, profile) as driver:
        wait = WebDriverWait(driver, PATIENCE)
        driver.get(f"{base}/docs")
        operations = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock-summary-path"))
        paths = {o.get_attribute("data-path") or o.text for o in operations}
        assert {"/requests", "/sessions/{uuid}", "/agents"} <= {p.replace("\u200b", "") for p in paths}, paths
        SHOTS.mkdir(parents=True, exist_ok=True)
        shot = SHOTS / "docs.png"
        driver.save_screenshot(str(shot))
        driver.get(f"{base}/redoc")
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "[data-section-id*='operation/']"))
        assert "SRCNet Execution Broker" in driver.find_element(By.TAG_NAME, "h1").text
        assert off_loopback(requested(driver)) == []
    return shot


async def test_the_api_docs_render_with_no_internet(webdriver_module, broker, tmp_path, capsys):
    shot = await asyncio.to_thread(_the_docs, webdriver_module, broker.base_url, tmp_path / "profile")
    with capsys.disabled():
        print(f"\nscreenshot of /docs: {shot}")



def _static_sign_in_and_problems(webdriver, base: str, profile: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    with chromium(webdriver, profile) as driver:
        wait = WebDriverWait(driver, PATIENCE)
        driver.get(f"{base}/ui")
        token = wait.until(ec.visibility_of_element_located((By.ID, "token")))
        assert token.get_attribute("value") == DEV_TOKEN  # the hint of the development broker
        token.clear()
        token.send_keys("not-a-token\n")
        problem = wait.until(ec.visibility_of_element_located((By.ID, "problem")))
        wait.until(lambda d: "401 Unauthorized" in problem.text)
        assert "Authorization" in problem.text, problem.text  # the Problem's message, naming the field
        token = wait.until(ec.visibility_of_element_located((By.ID, "token")))  # asked again
        token.clear()
        token.send_keys(f"{DEV_TOKEN}\n")
        wait.until(ec.text_to_be_present_in_element((By.ID, "who"), "signed in as token"))
        request = driver.find_element(By.ID, "request")
        request.clear()
        request.send_keys("meta: {name: no executable}\n")
        driver.find_element(By.ID, "post-request").click()
        wait.until(lambda d: "422" in problem.text and problem.is_displayed())
        assert "executable" in problem.text, problem.text
        assert not driver.find_element(By.ID, "offerset").is_displayed()
        # The timeline's reading of schedules, in the page itself: ISO 8601 durations and interval starts.
        read = driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "import('./ui/assets/timeline.js').then((m) => done([['PT1M', 'P1DT2H30M', 'PT0.5S', 'P', 'soon']"
            ".map(m.duration), m.blocks({schedule: {available: {start: '2026-01-01T00:00:00Z/PT1M', duration: 'PT2H'},"
            " releasing: {start: '2026-01-01T02:00:00Z'}}})]))")
        assert read == [[60_000, 95_400_000, 500, None, None],
                        [{"part": "available", "start": 1767225600000, "end": 1767232800000},
                         {"part": "releasing", "start": 1767232800000, "end": 1767232800000}]], read


async def test_a_development_token_signs_in_and_problems_are_shown_naming_the_field(webdriver_module, nats_url,
                                                                                     sqlite_store, tmp_path):
    broker = Broker(nats_url, sqlite_store)
    try:
        await broker.start_planner()
        await broker.start_gateway(auth_tokens={DEV_TOKEN: DEV_IDENTITY})
        await asyncio.to_thread(_static_sign_in_and_problems, webdriver_module, broker.base_url, tmp_path / "profile")
    finally:
        await broker.close()
