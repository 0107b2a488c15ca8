"""A private Docker engine for the Docker platform's tests, and a tiny image made here (no registry).

The engine is Debian's dockerd (docker.io; scripts/docker/install.sh installs it and busybox-static when
missing), run as root with everything of its own under one fresh /tmp folder: --data-root, --exec-root
(where it also starts its own containerd, or, beside a system containerd, uses a containerd namespace of
its own), --pidfile and its unix socket; no bridge and no iptables rules, so it changes nothing of the
machine's network and never meets the system engine. The image `eb-test/busybox:1` is Debian's static
busybox and its applet links, imported through the Engine API (`docker import`), about 2 MB.

    def test_x(docker_engine):
        docker_engine.host    # unix:///tmp/ebd-…/docker.sock, the plug-in's docker_host
        docker_engine.image   # eb-test/busybox:1

Without root or the packages, tests using the fixture are skipped -- unless EB_REQUIRE_DOCKER=1 (CI), then
they fail. The engine is stopped (SIGTERM by its pid; its containers go with it) and the folder removed at
the end of the session.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from .processes import run_group
from .required import unavailable

REPO = Path(__file__).resolve().parents[1]
INSTALL = REPO / "scripts" / "docker" / "install.sh"
IMAGE = "eb-test/busybox:1"
BUSYBOX = Path("/bin/busybox")
APPLETS = ("sh", "sleep", "echo", "cat", "ls", "true", "false", "env", "printf", "id", "mkdir", "touch", "yes")


class DockerUnavailable(RuntimeError):
    """The private engine could not be started here."""


@dataclass
class DockerEngine:
    base: Path
    socket: Path
    process: subprocess.Popen
    netns: str  # the network namespace it runs in
    watchdog: subprocess.Popen | None = None
    image: str = IMAGE

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    def api(self) -> httpx.Client:
        return httpx.Client(base_url="http://docker/v1.41", transport=httpx.HTTPTransport(uds=str(self.socket)),
                            timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # dockerd stops its containers and its containerd
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        _unmount_under(self.base)
        shutil.rmtree(self.base, ignore_errors=True)
        subprocess.run(["ip", "netns", "delete", self.netns], check=False, capture_output=True)
        if self.watchdog is not None and self.watchdog.poll() is None:
            self.watchdog.kill()
            self.watchdog.wait(10)


# Should the test session die without its teardown (SIGKILL, a lost CI runner), this stops its engine.
WATCHDOG = """
while kill -0 "$1" 2>/dev/null; do sleep 1; done
kill -TERM "$2" 2>/dev/null
for _ in $(seq 30); do kill -0 "$2" 2>/dev/null || break; sleep 1; done
kill -KILL -- "-$2" 2>/dev/null
grep -o " $3/[^ ]*" /proc/self/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null
rm -rf "$3"
ip netns delete "$4" 2>/dev/null
"""


def _unmount_under(base: Path) -> None:
    """Mounts a killed engine may leave behind (overlay, netns, shm) -- deepest first."""
    mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    for point in sorted((p for p in mounts if p.startswith(str(base) + "/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)


def _rootfs() -> bytes:
    """A tarball of /bin/busybox, its applets as symlinks, and /tmp."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for folder, mode in (("bin", 0o755), ("tmp", 0o1777)):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)
        tar.add(str(BUSYBOX), arcname="bin/busybox")
        for applet in APPLETS:
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname, info.mode = tarfile.SYMTYPE, "busybox", 0o777
            tar.addfile(info)
    return buffer.getvalue()


def _static_busybox() -> bool:
    if not BUSYBOX.exists():
        return False
    probe = subprocess.run(["ldd", str(BUSYBOX)], capture_output=True, text=True)
    return "not a dynamic" in probe.stdout + probe.stderr


def start_engine(timeout: float = 60.0) -> DockerEngine:
    if os.geteuid() != 0:
        raise DockerUnavailable("the private Docker engine needs root (dockerd)")
    if not shutil.which("dockerd") or not _static_busybox():
        try:
            run_group(["bash", str(INSTALL)], timeout=1200)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            raise DockerUnavailable(f"{INSTALL.name} failed: {getattr(exc, 'stderr', '') or exc}") from exc
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        raise DockerUnavailable("dockerd is not installed (apt-get install docker.io)")
    if shutil.which("ip") is None or shutil.which("nsenter") is None:
        raise DockerUnavailable("ip (iproute2) or nsenter (util-linux) is missing: the private engine runs in a "
                                "network namespace of its own")
    # Short: a unix socket's path (the containerd ones under exec-root too) must fit in 108 bytes.
    base = Path(tempfile.mkdtemp(prefix="ebd-", dir="/tmp"))
    socket = base / "docker.sock"
    tag = base.name.replace("-", "")
    # In a network namespace of its own: a dockerd without a bridge deletes the host's docker0 at its start
    # (moby removes the default bridge interface when --bridge=none), which would cut the system engine's
    # containers (the compose stage, image builds) running beside these tests off the network.
    netns = tag
    try:
        subprocess.run(["ip", "netns", "add", netns], check=True, capture_output=True, timeout=10)
        subprocess.run(["ip", "-n", netns, "link", "set", "lo", "up"], check=True, capture_output=True, timeout=10)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        shutil.rmtree(base, ignore_errors=True)
        raise DockerUnavailable(f"cannot make a network namespace: {getattr(exc, 'stderr', exc)}") from exc
    log = open(base / "dockerd.log", "wb")  # noqa: SIM115 - the engine writes it till it stops
    process = subprocess.Popen(
        # (nsenter, not `ip netns exec`: that also mounts a sysfs of its own, hiding the host's cgroups from dockerd)
        ["nsenter", f"--net=/run/netns/{netns}", "--", dockerd, "--data-root", str(base / "data"), "--exec-root", str(base / "exec"),
         "--pidfile", str(base / "dockerd.pid"), "--host", f"unix://{socket}",
         "--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false",
         "--containerd-namespace", f"eb-{tag}", "--containerd-plugins-namespace", f"eb-{tag}-plugins",
         "--shutdown-timeout", "2", "--storage-driver", "overlay2"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
    engine = DockerEngine(base, socket, process, netns)
    engine.watchdog = subprocess.Popen(["sh", "-c", WATCHDOG, "watchdog", str(os.getpid()), str(process.pid), str(base),
                                        netns],
                                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                       start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise DockerUnavailable(f"dockerd exited ({process.returncode}): "
                                        + (base / "dockerd.log").read_text(errors="replace")[-1500:])
            if socket.exists():
                try:
                    with engine.api() as api:
                        if api.get("/_ping").status_code == 200:
                            break
                except httpx.HTTPError:
                    pass
            if time.monotonic() > deadline:
                raise DockerUnavailable(f"dockerd did not answer within {timeout:.0f} s")
            time.sleep(0.1)
        with engine.api() as api:
            name, _, version = IMAGE.partition(":")
            answer = api.post("/images/create", params=[("fromSrc", "-"), ("repo", name), ("tag", version),
                                                         ("changes", 'CMD ["sh"]'), ("changes", "ENV PATH=/bin")],
                              content=_rootfs(), headers={"Content-Type": "application/x-tar"})
            if answer.status_code != 200 or '"error"' in answer.text:
                raise DockerUnavailable(f"importing {IMAGE} failed: {answer.status_code} {answer.text[-500:]}")
        return engine
    except BaseException:
        engine.stop()
        raise


@pytest.fixture(scope="session")
def docker_engine():
    try:
        engine = start_engine()
    except DockerUnavailable as exc:
        unavailable("EB_REQUIRE_DOCKER", "a private Docker engine", exc)
    try:
        yield engine
    finally:
        engine.stop()
