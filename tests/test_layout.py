"""The house a learner reads: no import cycles, short files, a core that reads in one sitting,
and a reading order in README.md with every module on it, in the tree's order.

(pyproject.toml's import-linter contract checks the layers; `lint-imports` runs in CI.)
"""
import re
from pathlib import Path

import pytest

import tinyattn

PACKAGE = Path(tinyattn.__file__).parent
README = PACKAGE.parent / "README.md"
CORE = ["engine/tensor.py", "engine/autograd.py", "engine/ops"]
LAYERS = ["backend", "kernels", "engine", "functional", "attention", "nn", "optim"]


def _modules():
    return sorted(p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py"))


def _lines(relative):
    path = PACKAGE / relative
    files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return sum(len(f.read_text().splitlines()) for f in files)


def test_no_file_is_longer_than_400_lines():
    long = {m: _lines(m) for m in _modules() if _lines(m) > 400}
    assert not long, f"files over 400 lines: {long}"


def test_the_engine_core_reads_in_one_sitting():
    total = sum(_lines(part) for part in CORE)
    assert total <= 1100, f"tensor.py + autograd.py + ops/ are {total} lines (at most 1,100)"


def test_no_module_is_on_an_import_cycle():
    """Imports inside functions count too (grimp reads every import statement)."""
    grimp = pytest.importorskip("grimp", reason="grimp comes with import-linter (the dev extra)")
    graph = grimp.build_graph("tinyattn")
    imports = {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}
    cycles = [sorted(c) for c in _strongly_connected(imports) if len(c) > 1]
    assert not cycles, f"import cycles: {cycles}"


def _strongly_connected(edges):
    """Tarjan's strongly connected components, iteratively."""
    index, low, on_stack, stack, found, counter = {}, {}, set(), [], [], [0]
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges.get(child, ()))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                found.append(component)
    return found


def _reading_order():
    text = README.read_text()
    section = text.split("## Reading the code", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"`tinyattn/([\w/]+\.py)`", section)


def test_the_readme_reading_order_names_every_module_once():
    order = _reading_order()
    assert len(order) == len(set(order)), "a module is listed twice"
    assert set(order) == set(_modules()), (
        f"missing: {sorted(set(_modules()) - set(order))}; unknown: {sorted(set(order) - set(_modules()))}")


def test_the_readme_reading_order_follows_the_layers():
    packages = [m.split("/")[0] for m in _reading_order() if "/" in m]
    firsts = [p for i, p in enumerate(packages) if p not in packages[:i]]
    assert [p for p in firsts if p in LAYERS] == LAYERS
    assert all(packages[i] == packages[i - 1] or packages[i] not in packages[:i]
               for i in range(1, len(packages))), "a package's modules are split apart in the order"


@pytest.mark.parametrize("package", LAYERS + ["engine/ops"])
def test_every_package_says_what_it_holds_and_what_to_read_first(package):
    doc = (PACKAGE / package / "__init__.py").read_text()
    assert doc.startswith('"""') and "read" in doc.split('"""')[1].lower()
