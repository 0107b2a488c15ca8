"""A network namespace joined to this host by a veth pair: a site behind its firewall, for tests.

The namespace gets its own loopback and one private address on the veth; the host side gets the other
address of a /30. `cut()` takes the link down (silence, no reset, as a failed link), `heal()` brings it
back. Needs root and iproute2's `ip netns`.
"""

from __future__ import annotations

import ipaddress
import os
import random
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path


def unusable() -> str | None:
    """Why namespaces cannot be made here, or None."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    if shutil.which("ip") is None:
        return "iproute2's `ip` is not installed"
    probe = f"ebprobe{uuid.uuid4().hex[:6]}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode != 0:
        return f"`ip netns add` failed: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)
    return None


def _ip(*args: str, netns: str | None = None) -> None:
    command = ["ip", *(["netns", "exec", netns, "ip"] if netns else []), *args]
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=10)


@dataclass
class Netns:
    name: str
    host_if: str
    netns_if: str
    host_ip: str
    netns_ip: str

    @classmethod
    def create(cls) -> Netns:
        tag = uuid.uuid4().hex[:6]
        base = ipaddress.ip_address(f"10.{random.randint(200, 250)}.{random.randint(0, 255)}.0")
        ns = cls(f"eb{tag}", f"eb{tag}h", f"eb{tag}n", str(base + 1), str(base + 2))
        try:
            _ip("netns", "add", ns.name)
            _ip("link", "add", ns.host_if, "type", "veth", "peer", "name", ns.netns_if)
            _ip("link", "set", ns.netns_if, "netns", ns.name)
            _ip("addr", "add", f"{ns.host_ip}/30", "dev", ns.host_if)
            _ip("link", "set", ns.host_if, "up")
            _ip("addr", "add", f"{ns.netns_ip}/30", "dev", ns.netns_if, netns=ns.name)
            _ip("link", "set", ns.netns_if, "up", netns=ns.name)
            _ip("link", "set", "lo", "up", netns=ns.name)
        except BaseException:
            ns.delete()
            raise
        return ns

    def command(self, *args: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *args]

    def spawn(self, args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
        with open(log, "ab") as out:
            return subprocess.Popen(self.command(*args), env=env, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)

    def listeners(self) -> set[tuple[str, int]]:
        """(address, port) of every listening TCP socket inside the namespace."""
        found = set()
        for table, width in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
            done = subprocess.run(self.command("cat", table), capture_output=True, text=True, timeout=10)
            for line in done.stdout.splitlines()[1:]:
                fields = line.split()
                if fields[3] != "0A":  # LISTEN
                    continue
                address, port = fields[1].split(":")
                raw = bytes.fromhex(address)
                if width == 4:
                    ip = ipaddress.IPv4Address(raw[::-1])
                else:  # four little-endian 32-bit words
                    ip = ipaddress.IPv6Address(b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4)))
                found.add((str(ip), int(port, 16)))
        return found

    def cut(self) -> None:
        _ip("link", "set", self.host_if, "down")

    def heal(self) -> None:
        _ip("link", "set", self.host_if, "up")

    def delete(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
        subprocess.run(["ip", "link", "del", self.host_if], capture_output=True)  # gone with the namespace, usually
