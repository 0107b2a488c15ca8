"""The files of a session's results folder, as a delivery sends them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class OutFile:
    path: Path
    relative: str  # its path inside the folder, with /: the name it gets at the destination
    bytes: int


def listed(folder: Path) -> list[OutFile]:
    """Every regular file under `folder`, in name order. Links are not followed: a link could point a
    delivery at files of the site the session does not own."""
    found = []
    for top, dirs, names in os.walk(folder, followlinks=False):
        dirs.sort()
        for name in sorted(names):
            path = Path(top, name)
            if not path.is_symlink() and path.is_file():
                found.append(OutFile(path, path.relative_to(folder).as_posix(), path.stat().st_size))
    return found
