"""Tutorial 5's `--download tinyshakespeare` path, run against a local file:// URL: the file is
fetched into the cache, its SHA-256 checked, and the model trains on it; a wrong checksum stops
the tutorial with an error that names SHA-256."""
import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")
ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tutorials" / "05_char_gpt.py"


@pytest.fixture
def stand_in(tmp_path):
    """A small text standing in for tiny Shakespeare, and its SHA-256."""
    source = tmp_path / "input.txt"
    source.write_text("First Citizen:\nBefore we proceed any further, hear me speak.\n\n" * 150,
                      encoding="utf-8")
    return source, hashlib.sha256(source.read_bytes()).hexdigest()


def run_tutorial(tmp_path, url, sha256, url_from_environment=False):
    """Run the quick mode with --download; the URL comes from --url or from the environment."""
    command = [sys.executable, str(SCRIPT), "--quick", "--steps", "20", "--out", str(tmp_path / "out"),
               "--download", "tinyshakespeare", "--sha256", sha256, "--cache-dir", str(tmp_path / "cache")]
    env = dict(os.environ)
    if url_from_environment:
        env["TINYATTN_TINYSHAKESPEARE_URL"] = url
    else:
        command += ["--url", url]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)


def test_download_fetches_into_the_cache_verifies_and_trains(tmp_path, stand_in):
    source, sha256 = stand_in
    run = run_tutorial(tmp_path, source.as_uri(), sha256, url_from_environment=True)
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "cache" / "tinyshakespeare.txt").read_bytes() == source.read_bytes()
    assert "corpus: tinyshakespeare" in run.stdout and "vocabulary of 27" in run.stdout
    start, end = map(float, re.search(r"loss ([\d.]+) -> ([\d.]+)", run.stdout).groups())
    assert end < 0.8 * start
    assert (tmp_path / "out" / "sample.txt").exists()


def test_download_with_a_wrong_checksum_stops_with_a_clear_error(tmp_path, stand_in):
    source, _ = stand_in
    run = run_tutorial(tmp_path, source.as_uri(), "0" * 64)
    assert run.returncode != 0
    assert "SHA-256" in run.stderr and "expected " + "0" * 64 in run.stderr
