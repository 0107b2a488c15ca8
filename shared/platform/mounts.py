"""Volume mounts and storage, checked and resolved the same way for every platform.

A request's mounts name the resource each one mounts: a storage resource (space the session may write)
or a data resource (input, read-only). `resolve` pairs every mount with what it names and says what
cannot be done, each reason naming the field; the agent runtime answers NO with those reasons before a
platform is asked, and the offer builder puts the resolved mounts (path, mode, resource) on every offer.
What a platform can mount where is the platform's part (`Platform.check_mounts`, optional).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Literal

from srcnet_eb.shared import model as m
from srcnet_eb.shared.model.resources import READONLY, READWRITE

Source = Literal["storage", "data"]


@dataclass(frozen=True)
class Mount:
    """One volume mount, resolved: where, how, and what it mounts."""

    field: str  # where the client wrote it, e.g. "compute.volumes[0]"
    path: str
    mode: str
    resource: str  # the name (or uuid) the client gave
    source: Source
    target: m.SimpleStorageResource | m.Component

    def volume(self, original: m.SimpleVolumeMount) -> m.SimpleVolumeMount:
        """The mount as offered: the client's, with its mode settled and a sentence saying what it is."""
        what = f"{self.source} resource '{self.resource}'"
        if isinstance(self.target, m.SimpleStorageResource) and self.target.size and self.target.size.min:
            what += f" ({self.target.size.min} GiB)"
        meta = original.meta.model_copy(update={"description": f"{what} at {self.path}, {self.mode.lower()}"})
        return original.model_copy(update={"mode": self.mode, "resource": self.resource, "resources": None,
                                           "path": self.path, "meta": meta})


@dataclass
class Resolved:
    mounts: list[Mount]
    problems: list[m.Message]
    volumes: list[m.SimpleVolumeMount]  # the mounts as offered, in the request's order


def _index(items: list, prefix: str) -> dict[str, tuple[str, object]]:
    """name and uuid -> (field, component), for the components that have them."""
    found: dict[str, tuple[str, object]] = {}
    for i, item in enumerate(items):
        if isinstance(item, m.UnknownComponent):
            continue
        for key in (item.meta.name, str(item.meta.uuid) if item.meta.uuid else None):
            if key:
                found.setdefault(key, (f"{prefix}[{i}]", item))
    return found


def resolve(request: m.ExecutionRequest, site: str, max_storage_gb: int | None) -> Resolved:
    storage = _index(request.storage, "storage")
    data = _index(request.data, "data")
    problems: list[m.Message] = []

    def no(field: str, reason: str, **values: object) -> None:
        problems.append(m.error("{site}: {field}: " + reason, site=site, field=field, **values))

    stores = [(f"storage[{i}]", s) for i, s in enumerate(request.storage) if isinstance(s, m.SimpleStorageResource)]
    for field, item in stores:
        for ref in item.resources:
            if ref not in data:
                no(field, "holds data resource '{ref}', which the request does not list", ref=ref)
    for i, item in enumerate(request.data):
        where = getattr(item, "storage", None)
        if where and where not in storage:
            no(f"data[{i}]", "is to be placed in storage '{ref}', which the request does not list", ref=where)

    mounts: list[Mount] = []
    volumes: list[m.SimpleVolumeMount] = []
    paths: dict[str, str] = {}
    for field, volume in request.mounts():
        if isinstance(volume, str):
            no(field, "names volume '{ref}', which the request does not list", ref=volume)
            continue
        if volume.resources:
            no(field, "mounts {count} resources at one path; a volume mount mounts one", count=len(volume.resources))
            continue
        if not volume.resource:
            no(field, "names no resource to mount")
            continue
        path = volume.path or ""
        if not path.startswith("/"):
            no(field, "path '{path}' is not an absolute path", path=path)
            continue
        path = posixpath.normpath(path)
        if path in paths:
            no(field, "mounts at {path}, as {other} does", path=path, other=paths[path])
            continue
        paths[path] = field
        if volume.resource in storage:
            source: Source = "storage"
            target = storage[volume.resource][1]
        elif volume.resource in data:
            source, target = "data", data[volume.resource][1]
        else:
            no(field, "mounts '{ref}', which is neither a storage nor a data resource of the request", ref=volume.resource)
            continue
        mode = volume.mode or (READWRITE if source == "storage" else READONLY)
        if source == "data" and mode == READWRITE:
            no(field, "mounts data resource '{ref}' READWRITE, but data resources are read-only "
                      "(place it in a storage resource and mount that)", ref=volume.resource)
            continue
        mount = Mount(field, path, mode, volume.resource, source, target)
        mounts.append(mount)
        volumes.append(mount.volume(volume))

    sized = [(item.meta.name or field, item.size.min) for field, item in stores if item.size and item.size.min]
    asked = sum(size for _, size in sized)
    if max_storage_gb is not None and asked > max_storage_gb:
        problems.append(m.error("{site}: storage asks for {asked} GiB ({names}), more than the {most} GiB a session "
                                "may have here", site=site, asked=asked, most=max_storage_gb,
                                names=", ".join(f"{name}: {size} GiB" for name, size in sized)))
    return Resolved(mounts, problems, volumes)


def undeliverable(request: m.ExecutionRequest, site: str, why: str) -> list[m.Message]:
    """The request's storage destinations, each refused: a site that keeps no results folder (a platform without
    `outputs`, or one set up without one) cannot deliver to them. `why` says what the site lacks."""
    return [m.error("{site}: {field}: {why}", site=site, field=f"storage[{i}].destination", why=why)
            for i, item in enumerate(request.storage)
            if isinstance(item, m.SimpleStorageResource) and item.destination is not None]
