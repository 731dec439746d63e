"""Every CuPy name tinyattn uses exists in the CuPy versions pyproject.toml allows, checked without
a GPU: CuPy's wheel imports without a CUDA driver, so its names can be looked up on any Linux.

The names are read from tinyattn's source (its syntax tree), so a new `xp.<name>` anywhere is
checked the day it is written:
- `xp.<chain>`: every use of the array namespace (a variable `xp`, any `<...>.xp`, or
  `namespace(x)`): on the CuPy backend the namespace is CuPy, completed by complete_namespace;
- `cupy.<chain>`, `cupyx.<chain>` (also `self._cupyx`) and `self.device_rng.<name>`, a
  cupy.random.Generator, in the CuPy backend.

The newest CuPy the range allows and its lower bound (13.0.0) are pip-installed, each with its
dependencies (CuPy 14 imports cuda-pathfinder), into ~/.cache/tinyattn-test-cupy/<version>
(under $XDG_CACHE_HOME if set), once per machine: delete the directory to look at a newer CuPy.
Where pip cannot install them (no network, no wheel for this platform) the test is skipped,
saying why. The lookup runs in a subprocess, so the CuPy (and the NumPy it brought) never reach
this test session.
"""
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

from tinyattn.backend import DTYPE_NAMES, complete_namespace

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "tinyattn"
# a use's root -> where it lives in CuPy: the namespace, the modules, the random generator's class
ROOTS = {"xp": "cupy", "cupy": "cupy", "cupyx": "cupyx", "_cupyx": "cupyx",
         "device_rng": "cupy.random.Generator"}


def _chain(node):
    """(base node, [names]) of an attribute chain: `a.b.c` is (Name a, ["b", "c"])."""
    names = []
    while isinstance(node, ast.Attribute):
        names.append(node.attr)
        node = node.value
    return node, names[::-1]


def _use(node):
    """(root, chain) when the attribute node is a use of CuPy or the namespace, else None."""
    base, names = _chain(node)
    if isinstance(base, ast.Call) and isinstance(base.func, ast.Name) and base.func.id == "namespace":
        return "xp", names
    if isinstance(base, ast.Name) and base.id in ROOTS:
        return base.id, names
    roots = [i for i, name in enumerate(names) if name in ROOTS]
    if roots and roots[-1] < len(names) - 1:                   # `backend.xp.sum`, `self._cupyx.x`
        return names[roots[-1]], names[roots[-1] + 1:]
    return None


def used_names():
    """{(where in CuPy, "dotted.chain")} for every use in tinyattn's source, and the dtypes every
    backend looks up by name (DTYPE_NAMES)."""
    uses = {("cupy", name) for name in DTYPE_NAMES}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and (use := _use(node)):
                uses.add((ROOTS[use[0]], ".".join(use[1])))
    return uses


def allowed_versions():
    """The pip requirements of the newest and the oldest CuPy the `gpu` extra allows."""
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")    # no tomllib on Python 3.10
    name, lower = re.search(r'^gpu = \["(cupy-cuda\d+x)>=([\d.]+)"\]', pyproject, re.MULTILINE).groups()
    oldest = ".".join((lower.split(".") + ["0", "0"])[:3])
    return [f"{name}>={lower}", f"{name}=={oldest}"]


def installed(requirement):
    """A directory holding CuPy for the requirement, installed on first use; or a skip."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tinyattn-test-cupy"
    target = cache / re.sub(r"[^\w.]+", "_", requirement)
    if not target.is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        partial = cache / (target.name + ".partial")        # renamed only once pip has finished
        shutil.rmtree(partial, ignore_errors=True)
        pip = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-warn-conflicts",
                              "--target", str(partial), requirement],
                             capture_output=True, text=True, timeout=900)
        if pip.returncode != 0:
            shutil.rmtree(partial, ignore_errors=True)
            pytest.skip(f"pip could not install {requirement}: {pip.stderr.strip()[-400:]}")
        partial.rename(target)
    return target


LOOKUP = """
import importlib, json, sys
import cupy, cupyx
places = {"cupy": cupy, "cupyx": cupyx, "cupy.random.Generator": cupy.random.Generator}
missing = []
for where, chain in json.loads(sys.argv[1]):
    obj = places[where]
    for name in chain.split("."):
        if not hasattr(obj, name):
            missing.append([where, chain])
            break
        obj = getattr(obj, name)
print(json.dumps({"version": cupy.__version__, "names": dir(cupy), "missing": missing}))
"""


def lookup(directory, uses):
    """CuPy's version, its top-level names, and the uses it lacks, from CuPy in `directory`."""
    env = dict(os.environ, PYTHONPATH=str(directory), CUDA_VISIBLE_DEVICES="")
    run = subprocess.run([sys.executable, "-s", "-c", LOOKUP, json.dumps(sorted(uses))],
                         capture_output=True, text=True, cwd=directory, env=env, timeout=300)
    assert run.returncode == 0, f"CuPy in {directory} did not import without a GPU:\n{run.stderr}"
    return json.loads(run.stdout)


def missing_names(found):
    """The uses CuPy lacks that the backend does not make up for: complete_namespace gives the
    namespace standard names from their old aliases (bool from bool_) and vecdot from sum."""
    as_namespace = complete_namespace(types.SimpleNamespace(
        __name__="cupy", **{name: object() for name in found["names"] if not name.startswith("__")}))
    return sorted(f"{where}.{chain}" for where, chain in found["missing"]
                  if not (where == "cupy" and "." not in chain and hasattr(as_namespace, chain)))


def test_the_source_is_read_for_every_kind_of_use():
    uses = used_names()
    for expected in [("cupy", "matmul"), ("cupy", "random.default_rng"), ("cupy", "cuda.Device"),
                     ("cupyx", "scatter_add"), ("cupy.random.Generator", "standard_normal"),
                     ("cupy", "vecdot"), ("cupy", "bool")]:
        assert expected in uses
    assert {where for where, _ in uses} == set(ROOTS.values())


@pytest.mark.parametrize("requirement", allowed_versions())
def test_every_cupy_name_tinyattn_uses_exists_in_the_wheel(requirement):
    found = lookup(installed(requirement), used_names())
    assert missing_names(found) == [], f"CuPy {found['version']} ({requirement}) lacks these"


def test_a_requirement_pip_cannot_install_is_a_skip_that_says_why(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(pytest.skip.Exception, match="pip could not install cupy-cuda12x==not.a.version"):
        installed("cupy-cuda12x==not.a.version")
    assert list((tmp_path / "tinyattn-test-cupy").iterdir()) == []      # nothing half-installed is kept
