"""The layers docs/architecture.md draws, held against the code: what may import what, every path the
page names exists, and no module grows past ~300 lines without saying why in its docstring."""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROCESSES = ("gateway", "planner", "canfar_agent", "slurm_agent", "rucio_agent", "broker_agent", "docker_agent")
LIBRARIES = ("s3_data",)  # services/ packages that are no process: processes may use them; they use no process
MOST_LINES = 300
WHY_LONGER = "Longer than 300 lines because"


def _modules(folder: str):
    return sorted((ROOT / folder).rglob("*.py"))


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            found.add(node.module)
    return found


def _offending(folder: str, forbidden) -> list[str]:
    return [f"{p.relative_to(ROOT)} imports {name}" for p in _modules(folder) for name in sorted(_imports(p))
            if forbidden(p, name)]


def test_shared_imports_no_process_and_no_stand_in():
    assert _offending("shared", lambda p, n: n.startswith(("srcnet_eb.services", "srcnet_eb.standins"))) == []


def test_processes_do_not_import_each_other():
    def crosses(path: Path, name: str) -> bool:
        own = path.relative_to(ROOT / "services").parts[0]
        other = name.split(".")[2] if name.startswith("srcnet_eb.services.") else None
        return own in PROCESSES and other is not None and other != own and other not in LIBRARIES
    assert _offending("services", crosses) == []


def test_libraries_import_no_process():
    def uses_process(path: Path, name: str) -> bool:
        own = path.relative_to(ROOT / "services").parts[0]
        return own in LIBRARIES and name.startswith("srcnet_eb.services.") and name.split(".")[2] != own
    assert _offending("services", uses_process) == []


def test_the_client_library_speaks_only_http():
    """srcnet_eb.client is what a user's script imports: the wire model and settings, never a process."""
    assert _offending("client", lambda p, n: n.startswith(("srcnet_eb.services", "srcnet_eb.standins"))) == []


def test_stand_ins_stay_apart_from_what_they_stand_in_for():
    assert _offending("standins", lambda p, n: n.startswith("srcnet_eb.services")) == []


def test_every_path_the_page_names_exists():
    page = (ROOT / "docs" / "architecture.md").read_text()
    named = set(re.findall(r"`((?:shared|services|standins|client|srcnet_eb|tests|bench|examples|docs)/[\w./-]*)`", page))
    assert named, "the page names no module"
    assert sorted(p for p in named if not (ROOT / p).exists()) == []


def test_no_module_over_300_lines_without_a_reason():
    long = [f"{p.relative_to(ROOT)}: {n} lines" for folder in ("shared", "services", "standins", "client", "srcnet_eb")
            for p in _modules(folder) if (n := len(p.read_text().splitlines())) > MOST_LINES
            and WHY_LONGER not in (ast.get_docstring(ast.parse(p.read_text())) or "")]
    assert long == []
