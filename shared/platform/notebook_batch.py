"""A jupyter-notebook run headless, as HPC centres run notebooks (nbconvert, papermill): for the platforms that
run batch work (Docker, Slurm), "can you run this notebook?" means executing it top to bottom, not opening it.

At launch the notebook is fetched into the session's results folder (from the site's filesystem, or downloaded
from an http(s) URL: bounded in size and time, since the job itself runs without network), and the command runs
it there: its cells' files land beside it, and the executed notebook (with its outputs) is written as
`<name>.executed.ipynb`. The job fails when a cell raises; `cell_error` names that cell's error from the log.
"""

from __future__ import annotations

import asyncio
import json
import posixpath
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated
from urllib.parse import unquote, urlsplit

import httpx
from pydantic import BaseModel, Field, field_validator
from pydantic_settings import NoDecode

from srcnet_eb.shared import model as m

from .notebooks import path_of

DEFAULT_COMMAND = "jupyter nbconvert --to notebook --execute --output-dir {outputs} --output {executed} {notebook}"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_RULE = "------------------"


class NotebookBatchSettings(BaseModel):
    """A batch site's notebook settings (EB_NOTEBOOK_*), mixed into its platform settings."""

    notebook_command: str = Field(DEFAULT_COMMAND, description="how a notebook runs headless; {notebook} (its "
                                  "path), {outputs} (the results folder) and {executed} (the executed notebook's "
                                  "file name) are filled in, each shell-quoted")
    notebook_root: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="folders whose notebooks (absolute paths, or file:// URLs) the site runs, "
        "colon-separated like PATH (or a JSON list); empty: none from the site's filesystem")
    notebook_max_mb: float = Field(16.0, gt=0, description="largest notebook fetched (MB)")
    notebook_fetch_timeout: float = Field(20.0, gt=0, description="seconds to download a notebook at launch "
                                          "(http(s) locations; the offer checks it answers within a tenth of that)")

    @field_validator("notebook_root", mode="before")
    @classmethod
    def _folders(cls, value: object) -> object:
        if isinstance(value, str):  # EB_NOTEBOOK_ROOT=/srv/notebooks:/project/shared (or a JSON list)
            value = json.loads(value) if value.lstrip().startswith("[") else value.split(":")
        return [f.strip() for f in value if f.strip()] if isinstance(value, list) else value


@dataclass(frozen=True)
class Source:
    """Where the notebook is fetched from at launch: a file on this host, or a URL."""

    location: str
    name: str  # its file name in the session's folder
    path: Path | None = None
    url: str | None = None

    @property
    def executed(self) -> str:
        return self.name.removesuffix(".ipynb") + ".executed.ipynb"


class FetchError(RuntimeError):
    """The notebook could not be brought into the session's folder."""


def _name(path: str) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]", "_", posixpath.basename(path.rstrip("/")))
    base = base if base and not base.startswith(".") else "notebook"
    return base if base.endswith(".ipynb") else base + ".ipynb"


def _unreachable(site: str, location: str, why: str) -> m.Message:
    return m.error("{site}: executable.location: {location} {why}", site=site, location=location, why=why)


def _local(path: Path, location: str, settings: NotebookBatchSettings, site: str) -> Source | m.Message:
    try:
        size = path.stat().st_size if path.is_file() else None
    except OSError:
        size = None
    if size is None:
        return _unreachable(site, location, "is not a file on this site")
    if size > settings.notebook_max_mb * 1e6:
        return _unreachable(site, location, f"is larger than this site's {settings.notebook_max_mb:g} MB")
    return Source(location, _name(path.name), path=path)


async def source_of(notebook: m.JupyterNotebook, settings: NotebookBatchSettings, site: str,
                    mapped: dict[str, str] | None = None, probe: bool = True) -> Source | m.Message:
    """Where the site gets the notebook (checked now: a NO naming executable.location when it cannot).
    `mapped`: location prefixes the site holds as host folders (a Docker site's data_paths). `probe`: ask a
    URL whether it answers (when offering; at launch `fetch` says so itself, with its bounds)."""
    location = notebook.location.strip()
    prefixes = [p for p in mapped or {} if location.startswith(p)]
    if prefixes:
        prefix = max(prefixes, key=len)
        root = Path(mapped[prefix]).resolve()
        found = Path(mapped[prefix] + location[len(prefix):]).resolve()
        if not found.is_relative_to(root):
            return _unreachable(site, location, f"leaves the folder this site holds {prefix} in")
        return _local(found, location, settings, site)
    path = path_of(location)
    if path is not None:
        if not path.startswith("/"):
            return _unreachable(site, location, "is relative: a batch site has no user's home; give an absolute "
                                "path under " + (", ".join(settings.notebook_root) or "(none here)") + " or a URL")
        real = Path(path).resolve()
        if not any(real.is_relative_to(Path(root).resolve()) for root in settings.notebook_root):
            return _unreachable(site, location, "is outside the folders this site runs notebooks from ("
                                + (", ".join(settings.notebook_root) or "none") + ")")
        return _local(real, location, settings, site)
    parts = urlsplit(location)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return _unreachable(site, location, "is neither a path on this site nor an http(s) URL")
    why = await _answers(location, settings) if probe else None
    if why is not None:
        return _unreachable(site, location, why)
    return Source(location, _name(unquote(parts.path) or "notebook"), url=location)


async def _answers(url: str, settings: NotebookBatchSettings) -> str | None:
    """None when the URL answers 2xx within a tenth of the fetch time (the body is not read), else why not."""
    try:
        async with httpx.AsyncClient(timeout=max(1.0, settings.notebook_fetch_timeout / 10),
                                     follow_redirects=True) as client, client.stream("GET", url) as answer:
            if answer.status_code >= 300:
                return f"answers HTTP {answer.status_code}"
            size = answer.headers.get("content-length")
            if size and size.isdigit() and int(size) > settings.notebook_max_mb * 1e6:
                return f"is larger than this site's {settings.notebook_max_mb:g} MB"
    except httpx.HTTPError as exc:
        return f"cannot be reached from this site ({type(exc).__name__}: {exc})"
    return None


async def fetch(source: Source, folder: Path, settings: NotebookBatchSettings) -> Path:
    """The notebook copied or downloaded into `folder` (readable by any user: the job may run as another)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / source.name
    limit = int(settings.notebook_max_mb * 1e6)
    if source.path is not None:
        try:
            await asyncio.to_thread(shutil.copyfile, source.path, target)
        except OSError as exc:
            raise FetchError(f"notebook {source.location} could not be copied: {exc}") from exc
    else:
        try:
            async with asyncio.timeout(settings.notebook_fetch_timeout):
                await _download(source.url or "", target, limit)
        except (TimeoutError, httpx.HTTPError) as exc:
            raise FetchError(f"notebook {source.location} could not be downloaded: {exc!r}") from exc
    target.chmod(0o644)
    return target


async def _download(url: str, target: Path, limit: int) -> None:
    async with httpx.AsyncClient(follow_redirects=True) as client, client.stream("GET", url) as answer:
        answer.raise_for_status()
        got = bytearray()
        async for chunk in answer.aiter_bytes():
            got += chunk
            if len(got) > limit:
                raise FetchError(f"notebook {url} is larger than {limit / 1e6:g} MB")
    await asyncio.to_thread(target.write_bytes, bytes(got))


def command(template: str, notebook: str, outputs: str, executed: str) -> str:
    """The site's command for one notebook (paths as the job sees them)."""
    return template.format(notebook=shlex.quote(notebook), outputs=shlex.quote(outputs),
                           executed=shlex.quote(executed))


def description(site: str, where: str, source: Source | None = None) -> str:
    """The offer's words: run headless, not opened; what the result is."""
    executed = source.executed if source else "<name>.executed.ipynb"
    return (f"Notebook run headless (batch, not interactive) at {site}: executed top to bottom, unattended, in "
            f"{where}; the result is the executed notebook {executed} with its outputs, and the files its cells "
            f"write, in the session's results folder")


def cell_error(log: str) -> str | None:
    """The failing cell and its error, from nbconvert's/nbclient's CellExecutionError in a job's log."""
    text = _ANSI.sub("", log)
    at = text.rfind("An error occurred while executing the following cell:")
    if at < 0:
        return None
    tail = text[at:]
    cell = tail.split(_RULE)[1].strip().splitlines() if tail.count(_RULE) >= 2 else []
    raised = [line.strip() for line in tail.splitlines()
              if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit|Warning)\b:?", line.strip())]
    what = raised[-1] if raised else "an error"
    first = cell[0][:120] if cell else "?"
    return f"the notebook's cell `{first}` raised {what}"
