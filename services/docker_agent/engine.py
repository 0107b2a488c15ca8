"""A small typed client of the Docker Engine API (the calls this platform makes, nothing else).

Why httpx and not aiodocker: httpx is already the project's HTTP client (its timeouts, errors and tracing
instrumentation apply here too) and speaks to a unix socket through its own transport (`uds=`), so the
Engine API costs no second HTTP stack (aiodocker brings aiohttp) for the eight endpoints used; aiodocker
would hand back the same untyped dicts, which the models below type once.
"""

from __future__ import annotations

import json
import struct
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

# The engine's API version this client speaks: Debian bookworm's docker.io 20.10; newer engines serve it too.
API = "/v1.41"


class EngineError(Exception):
    """The engine answered with an error (status and its message)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"Docker engine {status}: {message}")
        self.status, self.message = status, message


class NotFound(EngineError):
    pass


class Conflict(EngineError):
    pass


class _Read(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class ImageSummary(_Read):
    id: str = Field(alias="Id")
    repo_tags: list[str] | None = Field(None, alias="RepoTags")
    repo_digests: list[str] | None = Field(None, alias="RepoDigests")


class ContainerState(_Read):
    status: str = Field(alias="Status")  # created, running, paused, restarting, removing, exited, dead
    exit_code: int = Field(0, alias="ExitCode")
    oom_killed: bool = Field(False, alias="OOMKilled")
    error: str = Field("", alias="Error")
    finished_at: str = Field("", alias="FinishedAt")


class ContainerSummary(_Read):
    id: str = Field(alias="Id")
    names: list[str] = Field(default_factory=list, alias="Names")
    state: str = Field("", alias="State")
    labels: dict[str, str] = Field(default_factory=dict, alias="Labels")


class Container(_Read):
    id: str = Field(alias="Id")
    name: str = Field(alias="Name")
    state: ContainerState = Field(alias="State")
    host_config: dict[str, Any] = Field(default_factory=dict, alias="HostConfig")
    config: dict[str, Any] = Field(default_factory=dict, alias="Config")
    mounts: list[dict[str, Any]] = Field(default_factory=list, alias="Mounts")

    @property
    def labels(self) -> dict[str, str]:
        return self.config.get("Labels") or {}


def transport_for(host: str) -> tuple[str, httpx.AsyncBaseTransport | None]:
    """The base URL and transport for DOCKER_HOST-style addresses (unix:// or tcp://)."""
    if host.startswith("unix://"):
        return "http://docker", httpx.AsyncHTTPTransport(uds=host.removeprefix("unix://"))
    if host.startswith("tcp://"):
        return "http://" + host.removeprefix("tcp://"), None
    if host.startswith(("http://", "https://")):
        return host, None
    raise ValueError(f"docker_host {host!r}: give unix:///path/to/docker.sock or tcp://host:port")


def demux(raw: bytes) -> str:
    """A non-TTY container's log stream: frames of [stream, 0, 0, 0, size (big-endian u32)] + payload."""
    out, i = [], 0
    while i + 8 <= len(raw):
        (size,) = struct.unpack(">I", raw[i + 4:i + 8])
        out.append(raw[i + 8:i + 8 + size])
        i += 8 + size
    return b"".join(out).decode("utf-8", "replace")


class Engine:
    def __init__(self, host: str, timeout: float = 30.0) -> None:
        base, transport = transport_for(host)
        self.timeout = timeout
        self.http = httpx.AsyncClient(base_url=base + API, transport=transport, timeout=timeout)

    async def close(self) -> None:
        await self.http.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        answer = await self.http.request(method, path, **kwargs)
        if answer.status_code < 400:
            return answer
        try:
            message = answer.json().get("message", answer.text)
        except ValueError:
            message = answer.text
        kind = {404: NotFound, 409: Conflict}.get(answer.status_code, EngineError)
        raise kind(answer.status_code, message.strip())

    async def ping(self) -> bool:
        try:
            return (await self.http.get("/_ping", timeout=min(self.timeout, 5.0))).status_code == 200
        except httpx.HTTPError:
            return False

    async def images(self) -> list[ImageSummary]:
        return [ImageSummary.model_validate(i) for i in (await self._call("GET", "/images/json")).json()]

    async def pull(self, reference: str) -> None:
        """`docker pull`: the engine streams progress; an error arrives as a line of the stream."""
        if "@" in reference:  # by digest: the engine takes the whole reference, no tag
            name, tag = reference, None
        elif ":" in reference.rsplit("/", 1)[-1]:
            name, _, tag = reference.rpartition(":")
        else:
            name, tag = reference, "latest"
        answer = await self._call("POST", "/images/create", params={"fromImage": name} | ({"tag": tag} if tag else {}),
                                  timeout=self.timeout * 10)
        for line in answer.text.splitlines():
            if line.strip() and "error" in (event := json.loads(line)):
                raise EngineError(500, str(event["error"]))

    async def create(self, name: str, body: dict[str, Any]) -> str:
        return (await self._call("POST", "/containers/create", params={"name": name}, json=body)).json()["Id"]

    async def start(self, ref: str) -> None:
        await self._call("POST", f"/containers/{ref}/start")  # 304 when already started: not an error

    async def inspect(self, ref: str) -> Container:
        return Container.model_validate((await self._call("GET", f"/containers/{ref}/json")).json())

    async def containers(self, label: str) -> list[ContainerSummary]:
        found = await self._call("GET", "/containers/json",
                                 params={"all": "1", "filters": json.dumps({"label": [label]})})
        return [ContainerSummary.model_validate(c) for c in found.json()]

    async def logs(self, ref: str, tail: int = 20) -> str:
        raw = await self._call("GET", f"/containers/{ref}/logs", params={"stdout": "1", "stderr": "1", "tail": tail})
        return demux(raw.content)

    async def stop(self, ref: str, timeout: int) -> None:
        await self._call("POST", f"/containers/{ref}/stop", params={"t": timeout}, timeout=self.timeout + timeout)

    async def remove(self, ref: str) -> None:
        await self._call("DELETE", f"/containers/{ref}", params={"force": "1", "v": "1"})
