"""The benchmarks run to the end in their quick modes. Nothing here checks a speed: the
benchmarks measure, on a machine they describe; this only keeps their scripts from rotting."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(script, *arguments):
    paths = [str(ROOT), os.environ.get("PYTHONPATH", "")]      # this checkout's tinyattn first
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, paths)))
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *arguments],
                         capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    return run.stdout


def test_gpt2_generate_quick_mode_compares_the_same_model_in_both_libraries():
    for module in ("torch", "transformers", "threadpoolctl"):
        pytest.importorskip(module)
    out = _run("gpt2_generate.py", "--quick")
    assert "same model: largest |logit difference| on the prompt" in out and "(within 0.001)" in out
    assert "same 16 greedy tokens:" in out
    for row in ("| tinyattn |", "| transformers |", "| tinyattn / transformers |"):
        assert row in out
    if sys.platform.startswith("linux"):
        assert "peak MB = VmHWM" in out
