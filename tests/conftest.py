"""Shared test helpers: run the real CLI, and require the real consumers the interop tests talk to."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def need(tool: str) -> str:
    """The path of a consumer program; missing it fails under CI=true (.ci/run installs it), else skips."""
    path = shutil.which(tool)
    if path:
        return path
    if os.environ.get("CI") == "true":
        pytest.fail(f"{tool} is not installed; .ci/run should have installed it")
    pytest.skip(f"{tool} is not installed")


def tlsgen(*args: str, cwd: Path, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `python -m tlsgen ARGS` in `cwd` as a user would, capturing text output."""
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = str(REPO) + os.pathsep + full_env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "tlsgen", *map(str, args)], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def run_tlsgen():
    return tlsgen
