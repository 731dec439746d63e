"""Execute every tutorial as a notebook in quick mode; fail unless each figure it writes is inline.

    python .ci/notebooks.py                    # every tutorial
    python .ci/notebooks.py 03_reverse         # some of them

Each script is opened by jupytext, as a learner's `jupytext --to ipynb` would, and executed top
to bottom by nbclient in tutorials/ with TINYATTN_QUICK=1. The figures a tutorial writes are
the PNG files its run left in its figure directory (out/<tutorial>, newer than the run's start).
Each must appear byte for byte as an image/png output of the executed notebook, and each inline
image must be one of them: a figure saved but not shown, or shown but not saved, fails.
Needs `pip install -e ".[tutorials,notebooks]"`.
"""
import base64
import os
import sys
import time
from pathlib import Path

import jupytext
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
TUTORIALS = sorted(p.stem for p in (ROOT / "tutorials").glob("[0-9]*.py"))


def inline_images(notebook):
    """The PNG bytes of every image/png output of an executed notebook."""
    return [base64.b64decode(output["data"]["image/png"])
            for cell in notebook.cells if cell.cell_type == "code"
            for output in cell.outputs if "image/png" in output.get("data", {})]


def check(name):
    """Run one tutorial as a notebook; return the problems found (none: it passed)."""
    notebook = jupytext.read(ROOT / "tutorials" / f"{name}.py")
    began = time.time()
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT / "tutorials")}}).execute()
    figures = {path.name: path.read_bytes() for path in (ROOT / "out" / name).glob("*.png")
               if path.stat().st_mtime >= began}
    shown = inline_images(notebook)
    problems = [f"{figure} was written but is not shown inline"
                for figure, content in sorted(figures.items()) if content not in shown]
    unsaved = sum(content not in figures.values() for content in shown)
    if unsaved:
        problems.append(f"{unsaved} inline image(s) match no figure written to out/{name}")
    if not figures:
        problems.append(f"no figure was written to out/{name}")
    print(f"{name}: {len(figures)} figures written, {len(shown)} shown inline "
          f"({time.time() - began:.0f} s){'' if problems else ', all inline'}", flush=True)
    return problems


def main(names):
    os.environ["TINYATTN_QUICK"] = "1"              # the kernel inherits it: quick mode
    failed = {}
    for name in names or TUTORIALS:
        problems = check(name)
        if problems:
            failed[name] = problems
    for name, problems in failed.items():
        print(f"FAILED {name}: " + "; ".join(problems), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
