"""Sphinx configuration of the tinyattn site: the README, the tutorials run as notebooks, and the
benchmark results, one page each.

Build it with `python docs/build.py` (quick mode) from the top of the repository.

Why Sphinx with MyST-NB: both are actively maintained, MyST-NB reads the tutorials as they are
(jupytext percent scripts, no .ipynb kept beside them) and executes them at build time, so every
output and figure on a page is one the code next to it just made; a failing cell fails the build.
"""
import os
from pathlib import Path

project = "tinyattn"
author = "the tinyattn authors"
copyright = "2026, the tinyattn authors"

# The source is the repository itself (docs/build.py passes it), so README.md and the tutorials
# are read where they are, their links and images resolve as on GitHub, and nothing is copied.
root_doc = "README"
include_patterns = ["README.md", "benchmarks/README.md", "tutorials/[0-9]*.py"]

extensions = ["myst_nb"]
myst_heading_anchors = 3                       # links like README.md#reading-the-code work

# The tutorials: jupytext's percent format, one page each, executed top to bottom on every build
# (docs/build.py sets TINYATTN_QUICK=1 unless asked for --full; the kernel inherits it).
nb_custom_formats = {".py": ["jupytext.reads", {"fmt": "py:percent"}]}
nb_execution_mode = "force"
nb_execution_timeout = 1800                    # per tutorial; quick mode takes seconds
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True                        # a cell's printed lines as one block
nb_kernel_rgx_aliases = {".*": "python3"}       # the scripts name no kernel: this Python's

html_theme = "furo"
html_title = "tinyattn"
html_static_path = ["_static"]
html_css_files = ["tinyattn.css"]
if os.environ.get("TINYATTN_QUICK", "") not in ("", "0"):
    html_theme_options = {"announcement": "These pages ran each tutorial in quick mode (a few steps), "
                                          "so the models are barely trained: the first page lists what "
                                          "the full runs reach."}

TUTORIALS = sorted(p.stem for p in (Path(__file__).parent.parent / "tutorials").glob("[0-9]*.py"))


def add_contents(app, docname, source):
    """README.md stays plain Markdown for GitHub; on the site it also holds the table of contents
    (a hidden toctree: the sidebar lists the tutorials, then the benchmarks)."""
    if docname == root_doc:
        entries = "\n".join([f"tutorials/{name}" for name in TUTORIALS] + ["benchmarks/README"])
        source[0] += f"\n\n```{{toctree}}\n:hidden:\n:maxdepth: 1\n\n{entries}\n```\n"


def setup(app):
    app.connect("source-read", add_contents)
