"""A session's results into Rucio (blocking: run on a thread): each file uploaded into the destination's
scope (rucio-clients' UploadClient, registered once its bytes are on the RSE), gathered in its dataset
when it names one, and kept on its RSEs by a replication rule.

Empty files are left out: the upload client checks a file's size on the RSE, and takes 0 for a race it
waits out (a minute). Names are `eb-<session>/<path in the folder>`: two sessions writing `out.fits` into one scope never
collide. Done again (the data agent restarted, the driver asked again) it does only what is missing:
the upload client skips a file already registered on the RSE, and an existing rule is found, not doubled.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from uuid import UUID

from rucio.client import Client
from rucio.client.uploadclient import UploadClient
from rucio.common import config
from rucio.common.exception import ConfigNotFound, DataIdentifierAlreadyExists, DataIdentifierNotFound, DuplicateRule

from srcnet_eb.shared.model.results import ResultLocation, RucioDestination

from .outputs import OutFile
from .settings import RucioSettings

log = logging.getLogger(__name__)
_CONFIG_LOCK = threading.Lock()


class UploadFailed(Exception):
    """One file's upload failed: what the client said; the client's own exception is its cause."""


def did_name(session: UUID, file: OutFile) -> str:
    return f"eb-{session.hex[:12]}/{file.relative}"


def _configured(settings: RucioSettings) -> None:
    """Rucio's protocol layer (the RSE's file names, its policy) reads a configuration file. A data agent set
    up by its settings alone may have none: then this process gets one naming the same server."""
    try:
        config.get_config()
        return
    except ConfigNotFound:
        pass
    with _CONFIG_LOCK:
        if "RUCIO_CONFIG" in os.environ:
            return
        path = Path(tempfile.mkdtemp(prefix="eb-rucio-")) / "rucio.cfg"
        path.write_text(f"[client]\nrucio_host = {settings.rucio_host}\n"
                        f"auth_host = {settings.rucio_auth_host or settings.rucio_host}\n"
                        f"account = {settings.rucio_account}\nauth_type = {settings.rucio_auth_type}\n")
        os.environ["RUCIO_CONFIG"] = str(path)
        config.clean_cached_config()


def deliver(client: Client, files: list[OutFile], target: RucioDestination, storage: str, session: UUID,
            settings: RucioSettings, done: Callable[[OutFile], None]) -> list[ResultLocation]:
    _configured(settings)
    scope, expression = target.rucio.scope, target.rse_expression
    rse = settings.results_rse or target.rucio.rses[0]
    said: list[str] = []  # the upload client's warnings: its exceptions alone say little ("no files uploaded")

    def note(level: int, message: str, *args: object, **_: object) -> None:
        log.log(level, message, *args)
        if level >= logging.WARNING:
            said.append(str(message) % args if args else str(message))

    note.log = note  # the client calls both `logger(...)` and `logger.log(...)`
    uploader = UploadClient(_client=client, logger=note, tracing=False)
    # The RSE's protocols through this client: left to itself the upload client asks with a client of the
    # configuration file's, which a data agent configured by its settings does not have.
    uploader.rses[rse] = client.get_rse(rse)
    kept = [f for f in files if f.bytes]  # an empty file never passes the upload's check of its size on the RSE
    for file in files:
        if not file.bytes:
            log.info("%s is empty: not uploaded to Rucio", file.path)
            done(file)
    files = kept
    names = [did_name(session, f) for f in files]
    for file, name in zip(files, names, strict=True):
        item = {"path": str(file.path), "rse": rse, "did_scope": scope, "did_name": name,
                "register_after_upload": True}
        if rse not in target.rucio.rses and settings.results_rse_lifetime:
            item["lifetime"] = settings.results_rse_lifetime  # the site's copy is a stop on the way
        try:
            if not _registered(client, scope, name, file):
                uploader.upload([item])
        except Exception as exc:
            raise UploadFailed(f"{file.relative} to {rse}: {str(exc).strip() or type(exc).__name__}"
                               + (f" ({said[-1]})" if said else "")) from exc
        done(file)
    dids = [{"scope": scope, "name": name} for name in names]
    comment = f"results of execution broker session {session}"
    if target.rucio.object:
        _gather(client, scope, target.rucio.object, dids)
        rule = _rule(client, {"scope": scope, "name": target.rucio.object}, expression, comment)
        rules = {name: rule for name in names}
    else:
        rules = {d["name"]: _rule(client, d, expression, comment) for d in dids}
    return [ResultLocation(storage=storage, location=f"rucio://{scope}:{name}@{expression}", bytes=file.bytes,
                           rule=rules[name]) for file, name in zip(files, names, strict=True)]


def _registered(client: Client, scope: str, name: str, file: OutFile) -> bool:
    """Uploaded before (a delivery done again): registered only once its bytes were on the RSE. (The upload
    client would skip it too, but then says it uploaded nothing: a failure.)"""
    try:
        found = client.get_did(scope, name)
    except DataIdentifierNotFound:
        return False
    if found.get("bytes") != file.bytes:
        raise UploadFailed(f"{scope}:{name} exists with {found.get('bytes')} bytes, not the {file.bytes} of {file.relative}")
    return True


def _gather(client: Client, scope: str, dataset: str, dids: list[dict[str, str]]) -> None:
    """The files attached to the dataset (made when missing); those attached before are left alone."""
    try:
        client.add_dataset(scope, dataset)
    except DataIdentifierAlreadyExists:
        pass
    there = {item["name"] for item in client.list_content(scope, dataset)}
    missing = [d for d in dids if d["name"] not in there]
    if missing:
        client.attach_dids(scope, dataset, missing)


def _rule(client: Client, did: dict[str, str], expression: str, comment: str) -> str:
    """A rule keeping the DID on the destination's RSEs; the one that exists already, if it does."""
    try:
        return client.add_replication_rule([did], 1, expression, comment=comment)[0]
    except DuplicateRule:
        for rule in client.list_did_rules(did["scope"], did["name"]):
            if rule["rse_expression"] == expression and rule["account"] == client.account:
                return rule["id"]
        raise
