"""One import root: a real wheel installs exactly `srcnet_eb` (plus the `ebroker` script), leaves the
test harnesses out, and neither it nor the editable install can be shadowed by a folder called
`shared/`, `services/`, `standins/` or `client/` elsewhere on sys.path. No module imports the old bare roots."""
from __future__ import annotations

import ast
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OLD_ROOTS = {"shared", "services", "standins", "client"}
PROBE = ("import srcnet_eb.plugin, srcnet_eb.shared.model, srcnet_eb.services.gateway.app, srcnet_eb.standins.skaha, srcnet_eb.client;"
         "from importlib.metadata import entry_points;"
         "[e.load() for e in entry_points(group='srcnet_eb.platforms') if e.name in ('canfar', 'slurm')];"
         "print(srcnet_eb.shared.model.__file__)")


def _decoys(where: Path) -> Path:
    """Folders named like the old roots, whose import fails loudly."""
    where.mkdir(exist_ok=True)
    for name in OLD_ROOTS:
        (where / name).mkdir()
        (where / name / "__init__.py").write_text(f"raise ImportError('decoy {name} was imported')\n")
    return where


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(ROOT)],
                   check=True, timeout=300, cwd=out)
    return next(out.glob("*.whl"))


def test_the_wheel_holds_one_top_level_package_and_no_test_harness(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert tops == {"srcnet_eb"}
    top_level = next(n for n in names if n.endswith(".dist-info/top_level.txt"))
    assert zipfile.ZipFile(wheel).read(top_level).decode().split() == ["srcnet_eb"]
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "ebroker = srcnet_eb.services." in entry_points
    assert not [n for n in names if "/tests/" in n or n.endswith(("nats_cluster.py", "conftest.py"))]
    assert "srcnet_eb/standins/skaha/sites/site-a.yaml" in names  # the embedded default's stand-in data
    dashboard = "srcnet_eb/services/gateway/dashboard/static/"  # the page /ui serves, with its scripts
    assert {f"{dashboard}{f}" for f in ("index.html", "app.js", "api.js", "auth.js", "timeline.js", "style.css")} <= set(names)


def test_the_installed_wheel_is_not_shadowed_by_folders_of_the_old_names(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                    str(wheel)], check=True, timeout=300)
    decoys = _decoys(tmp_path / "elsewhere")
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(decoys), str(target)])}
    ran = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=decoys, capture_output=True, text=True,
                         timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip().startswith(str(target))  # the wheel's copy, not the checkout's


def test_the_editable_install_is_not_shadowed_either(tmp_path):
    decoys = _decoys(tmp_path)
    env = os.environ | {"PYTHONPATH": str(decoys)}
    ran = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=decoys, capture_output=True, text=True,
                         timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip().startswith(str(ROOT / "shared"))


def _python_files():
    for folder in ("shared", "services", "standins", "client", "srcnet_eb", "tests", "bench", "examples", "scripts"):
        yield from (ROOT / folder).rglob("*.py")


def test_nothing_imports_the_old_bare_roots():
    bare = []
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            bare += [f"{path.relative_to(ROOT)}:{node.lineno} {n}" for n in names if n.split(".")[0] in OLD_ROOTS]
    assert bare == []


def test_rucio_clients_only_with_the_rucio_extra(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    rucio = [line for line in metadata.splitlines() if line.startswith("Requires-Dist: rucio")]
    assert rucio and all('extra == "rucio"' in line for line in rucio), rucio
    # A data agent without EB_RUCIO_HOST (URLs only, as in `make up`) starts without the extra.
    ran = subprocess.run([sys.executable, "-c", "import sys; sys.modules['rucio'] = None;"
                          "import srcnet_eb.services.rucio_agent.service, srcnet_eb.services.rucio_agent.__main__"],
                         capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
