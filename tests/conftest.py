"""Shared fixtures: the backends every backend-parametrised test runs on, and the PyTorch oracle.

`backend` runs a test on numpy, on array_api_strict (its emulated device, CI's stand-in for a
GPU), and on cupy where CuPy and a CUDA device exist; elsewhere the cupy case is skipped with
the reason CuPy gave. `torch` is the PyTorch module, or the test is skipped without it.
"""
from collections import Counter

import numpy as np
import pytest
from function_coverage import recording_gradcheck, unchecked

import tinyattn
from tinyattn.backend import BackendUnavailable, get_backend

BACKENDS = ["numpy", "array_api_strict", "cupy"]


def _available(name):
    try:
        get_backend(name)
    except (BackendUnavailable, ImportError) as e:
        return str(e)
    return None


@pytest.fixture(params=BACKENDS)
def backend(request):
    """The name of a backend; the test runs inside `use_backend(name)`."""
    reason = _available(request.param)
    if reason:
        pytest.skip(reason)
    with tinyattn.use_backend(request.param):
        yield request.param


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


tinyattn.gradcheck = recording_gradcheck       # notes what each gradient check covered


def pytest_sessionfinish(session, exitstatus):
    """After a run of the whole suite (no test deselected, every test file collected), fail it
    if some Function of the package was never gradient-checked (tests/function_coverage.py)."""
    files = {item.path.name for item in session.items}
    whole = len(session.items) == session.testscollected and \
        files >= {p.name for p in session.path.joinpath("tests").glob("test_*.py")}
    if exitstatus == 0 and whole and unchecked():
        session.config.get_terminal_writer().line(
            f"no gradcheck covered these Functions: {', '.join(unchecked())}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter):
    """Skips as one line, counted by reason: "255 skipped: 253 backend 'cupy': CuPy is not
    installed (...), 2 ..." (pyproject's -r option leaves them out of the short summary)."""
    skipped = terminalreporter.stats.get("skipped", [])
    if skipped:
        reasons = Counter(_first_sentence(report.longrepr[2].removeprefix("Skipped: ")) for report in skipped)
        terminalreporter.write_line(f"{len(skipped)} skipped: "
                                    + ", ".join(f"{n} {reason}" for reason, n in reasons.most_common()))


def _first_sentence(reason):
    return reason.split(". ")[0].rstrip(".")
