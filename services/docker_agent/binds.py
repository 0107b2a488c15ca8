"""A session's mounts as Docker bind mounts: storage is a folder of its own per session under the site's work
root (READWRITE: the results a site delivers, `outputs`); data is a host folder where the site maps it
(`data_paths`), read-only, or cannot be mounted here."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from srcnet_eb.shared import model as m
from srcnet_eb.shared.model.resources import READONLY, READWRITE
from srcnet_eb.shared.platform.mounts import Mount

MARKER = ".outputs"  # beside the session's storage folders, out of the container's reach


def data_location(item: object) -> str | None:
    """How the site names a data resource in `data_paths`: its URL, a Rucio DID (scope:name), s3://bucket/key."""
    if isinstance(item, m.SimpleDataResource):
        return item.location
    if callable(getattr(item, "did", None)):
        return str(item.did())
    if isinstance(item, m.S3DataResource) and item.bucket:
        return f"s3://{item.bucket}/{item.object or ''}"
    return None


def data_host_path(item: object, data_paths: dict[str, str]) -> str | None:
    """The host path of a data resource (longest matching prefix), or None when the site does not map it."""
    location = data_location(item)
    if location is None:
        return None
    prefixes = [p for p in data_paths if location.startswith(p)]
    if not prefixes:
        return None
    prefix = max(prefixes, key=len)
    return data_paths[prefix] + location[len(prefix):]


def unmapped(mounts: list[Mount], data_paths: dict[str, str], site: str) -> list[m.Message]:
    """The data mounts this site has no host folder for (check_mounts); storage it always makes."""
    return [m.error("{site}: {field}: data resource '{ref}' is not held on this Docker host; it mounts only data "
                    "under {prefixes}", site=site, field=mount.field, ref=mount.resource,
                    prefixes=", ".join(sorted(data_paths)) or "(none)")
            for mount in mounts if mount.source == "data" and data_host_path(mount.target, data_paths) is None]


def _folder(resource: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]", "_", resource)
    return slug if slug and not slug.startswith(".") else "r" + slug


@dataclass
class Binds:
    mounts: list[dict]  # the Engine API's HostConfig.Mounts
    outputs: Path | None  # the host folder of the first READWRITE storage mount
    outputs_at: str | None = None  # where the container sees it


def session_binds(session: m.ExecutionSession, work: Path, data_paths: dict[str, str],
                  results_at: str | None = None) -> Binds:
    """The bind mounts of an accepted session, its storage folders made (mode 0777: any user in the image
    may write its results); `work` is the session's own folder under the work root. `results_at`: a session
    that must leave results (a notebook run headless) and mounts no READWRITE storage gets a results folder
    of its own mounted there."""
    compute = session.compute if isinstance(session.compute, m.SimpleComputeResource) else None
    names: dict[str, tuple[str, object]] = {}
    for source, items in (("storage", session.storage), ("data", session.data)):
        for item in items:
            meta = getattr(item, "meta", None)
            for key in (meta.name, str(meta.uuid) if meta.uuid else None) if meta else ():
                if key:
                    names.setdefault(key, (source, item))
    mounts: list[dict] = []
    outputs: Path | None = None
    outputs_at: str | None = None
    for volume in compute.volumes if compute else []:
        if not isinstance(volume, m.SimpleVolumeMount) or not volume.resource or volume.resource not in names:
            continue  # (the runtime refused these before any offer was made)
        source, item = names[volume.resource]
        if source == "storage":
            host = work / _folder(volume.resource)
            host.mkdir(parents=True, exist_ok=True)
            host.chmod(0o777)
            if volume.mode != READONLY and outputs is None:
                outputs, outputs_at = host, volume.path
        else:
            found = data_host_path(item, data_paths)
            if found is None:
                continue  # refused by check_mounts when offered
            host = Path(found)
        mounts.append({"Type": "bind", "Source": str(host), "Target": volume.path,
                       "ReadOnly": (volume.mode or READWRITE) == READONLY})
    if outputs is None and results_at is not None:
        outputs, outputs_at = work / "results", results_at
        outputs.mkdir(parents=True, exist_ok=True)
        outputs.chmod(0o777)
        mounts.append({"Type": "bind", "Source": str(outputs), "Target": results_at, "ReadOnly": False})
    if outputs is not None:
        work.mkdir(parents=True, exist_ok=True)
        (work / MARKER).write_text(json.dumps({"outputs": str(outputs)}))
    return Binds(mounts, outputs, outputs_at)


def last_change(work: Path) -> float:
    """The latest modification in a session's folder and its storage folders (its results written)."""
    try:
        return max([work.stat().st_mtime, *(child.stat().st_mtime for child in work.iterdir())])
    except OSError:
        return 0.0


def outputs_of(work: Path) -> str | None:
    """The session's results folder, from the marker its launch left (the container may be gone by now)."""
    try:
        return json.loads((work / MARKER).read_text())["outputs"]
    except (OSError, ValueError, KeyError):
        return None
