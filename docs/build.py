"""Build the tinyattn site: the README, every tutorial executed as a notebook, the benchmarks.

    pip install -e ".[docs]"
    python docs/build.py            # tutorials in quick mode (a few steps each); site in build/site
    python docs/build.py --full     # the tutorials' full runs (minutes each)

Open build/site/index.html. The configuration, and why Sphinx with MyST-NB, is docs/conf.py.
"""
import argparse
import os
import sys
import time
from pathlib import Path

from sphinx.cmd.build import build_main

ROOT = Path(__file__).resolve().parent.parent


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="run the tutorials' full modes")
    parser.add_argument("--out", default=str(ROOT / "build" / "site"), help="where the site goes")
    args = parser.parse_args()
    if not args.full:
        os.environ["TINYATTN_QUICK"] = "1"          # the notebook kernels inherit it
    began = time.perf_counter()
    # -W: a warning (a broken link, a missing image, a failing cell) fails the build.
    # -E: every source read again, so every tutorial runs afresh (a quick build keeps no full run's
    # outputs, nor the reverse).
    status = build_main(["-W", "--keep-going", "-E", "-q", "-b", "html", "-c", str(ROOT / "docs"),
                         str(ROOT), args.out])
    if status == 0:
        index = Path(args.out) / "index.html"
        index.write_text('<!doctype html><meta charset="utf-8"><title>tinyattn</title>'
                         '<meta http-equiv="refresh" content="0; url=README.html">'
                         '<a href="README.html">tinyattn</a>\n')
        print(f"site built in {time.perf_counter() - began:.0f} s: {index}")
    return status


if __name__ == "__main__":
    sys.exit(main())
