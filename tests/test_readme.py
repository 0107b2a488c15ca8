"""The README's worked example, run as written against `ebroker up` on a free port: every `sh` block's
commands (their port and the uuids the README elides put back), then the `$ ebroker …` session, then
`examples/client.py`. Each command's outcome is checked against what the README says it shows, so a
README that drifts from the broker fails here."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from srcnet_eb.services.embedded.ports import free_port

from .embedded import Up

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
DOCUMENTED = "http://127.0.0.1:8080"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
PHASES = ("ACCEPTED", "WAITING", "PREPARING", "AVAILABLE", "RUNNING", "RELEASING", "COMPLETED")


def worked_example() -> list[tuple[str, str]]:
    """(language, text) of each fenced block of the section "A worked example"."""
    section = README.split("\n## A worked example\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^```(\w*)\n(.*?)^```", section, re.M | re.S)


def commands(block: str) -> list[str]:
    return [c.strip() for c in block.replace("\\\n", " ").splitlines() if c.strip()]


# What each curl command of the example must answer (a command the README adds needs a line here).
CURL = [
    ("curl -si -X POST", ["HTTP/1.1 303 See Other", "location: {base}/offersets/"]),
    ("Prefer: wait=10' {base}/offersets/", ["status: COMPLETE", "result: 'YES'", "phase: OFFERED"]),
    ("curl -sL {base}/requests", ["status: COMPLETE", "result: 'YES'", "phase: OFFERED"]),
    ('"value": "ACCEPTED"', ["phase: "]),
    ("curl -s -H \"$AUTH\" {base}/sessions/", ["\nphase: ", "\nhistory:\n", "\nsite:\n"]),
]


def test_the_worked_example_runs_as_written(tmp_path):
    blocks = worked_example()
    shells = [text for lang, text in blocks if lang == "sh"]
    session_log = next(text for lang, text in blocks if lang == "" and text.startswith("$ ebroker"))
    assert len(shells) >= 3, blocks
    up = Up(tmp_path / "state", free_port())
    env = {k: v for k, v in os.environ.items() if k not in ("EB_URL", "EB_TOKEN")}
    try:
        up.start(timeout=45)
        base, found = up.base, {}
        exports = []
        checked = 0
        for text in shells:
            for command in commands(text):
                if command.startswith("export "):
                    exports.append(command)
                    continue
                ran = _bash("; ".join(exports + [_filled(command, base, found)]), env)
                assert ran.returncode == 0, (command, ran.stderr)
                expected = next(want for start, want in CURL if start.replace("{base}", DOCUMENTED) in command)
                for text_ in expected:
                    assert text_.replace("{base}", base) in ran.stdout, (command, ran.stdout[:2000])
                checked += 1
                _learn(ran.stdout, base, found)
        assert checked == len(CURL)

        # The `ebroker` session: the same commands, the same kind of answer, the same phases in order.
        lines = session_log.splitlines()
        steps = [(i, line[2:]) for i, line in enumerate(lines) if line.startswith("$ ")]
        session = None
        for n, (i, command) in enumerate(steps):
            shown = lines[i + 1: steps[n + 1][0] if n + 1 < len(steps) else len(lines)]
            if session:
                command = re.sub(r"\S+/sessions/8269…", session, command)
            argv = command.replace("ebroker", f"{sys.executable} -m srcnet_eb.services.ebroker", 1).split()
            ran = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=ROOT,
                                 env=env | {"EB_URL": base})
            assert ran.returncode == 0, (command, ran.stdout, ran.stderr)
            if command.startswith("ebroker ask"):
                assert re.match(rf"OfferSet {base}/offersets/{UUID}: YES$", ran.stdout.splitlines()[0]), ran.stdout
                for line in shown[1:3]:  # the first message and offer line, as the README prints them
                    assert any(got.startswith(line[:14]) for got in ran.stdout.splitlines()), (line, ran.stdout)
                session = re.search(rf"{base}/sessions/{UUID}", ran.stdout).group(0)
            elif command.startswith("ebroker watch"):
                assert [line.split()[1] for line in ran.stdout.splitlines()] == [line.split()[1] for line in shown]
                assert set(PHASES) <= {line.split()[1] for line in shown}
        assert session, "the README's ebroker session never asked"

        # The Python client's example runs: offers, the earliest accepted, watched until RUNNING.
        ran = subprocess.run([sys.executable, str(ROOT / "examples" / "client.py")], capture_output=True, text=True,
                             timeout=60, env=env | {"EB_URL": base})
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert ": YES" in ran.stdout and " RUNNING " in ran.stdout and "  open: https://" in ran.stdout, ran.stdout
    finally:
        assert up.stop() == 0


def _filled(command: str, base: str, found: dict[str, str]) -> str:
    """The README's command on this broker: its base URL, and each elided uuid (`6f0c…`) the one learnt."""
    command = command.replace(DOCUMENTED, base)
    for elided in re.findall(r"/(offersets|sessions)/([0-9a-f]{4})…", command):
        assert elided[0] in found, (command, found)
        command = command.replace(f"/{elided[0]}/{elided[1]}…", f"/{elided[0]}/{found[elided[0]]}")
    return command


def _learn(output: str, base: str, found: dict[str, str]) -> None:
    """The first OfferSet and the first offer the example's answers name, for the commands after."""
    for kind in ("offersets", "sessions"):
        hit = re.search(rf"{re.escape(base)}/{kind}/({UUID})", output)
        if hit and kind not in found:
            found[kind] = hit.group(1)


def _bash(script: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30, cwd=ROOT, env=env)


pytestmark = pytest.mark.timeout(90)
