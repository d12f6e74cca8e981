"""The no-op shortcut: a plain apply whose inputs and out/ are as the last apply left them stops before
importing the heavy libraries; anything that could change the plan sends it down the ordinary path.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, tlsgen

SPEC = """\
version: 1
output: out
defaults: {key: ec-p256}
cas: {root: {}}
brokers:
  kafka: {issuer: root}
clients:
  app: {issuer: root, brokers: [kafka], password: {file: app.pw}}
  env-app: {issuer: root, brokers: [kafka], password: {env: APP_PW}}
"""
ENV = {"APP_PW": "Env-password-1"}


def apply(root: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    result = tlsgen("apply", "tls.yaml", *args, cwd=root, env={**ENV, **(env or {})})
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def heavy_imported(root: Path, changes: str = "no changes") -> bool:
    """Whether a plain apply imported pydantic (the ordinary path parses the spec with it); the apply
    must end with `changes`."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "tlsgen", "apply", "tls.yaml"], cwd=root,
                            env={**os.environ, **ENV, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0 and changes in result.stdout, result.stdout + result.stderr
    return "pydantic" in result.stderr


@pytest.fixture
def project(tmp_path) -> Path:
    (tmp_path / "tls.yaml").write_text(SPEC)
    (tmp_path / "app.pw").write_text("File-password-1")
    apply(tmp_path)
    return tmp_path


def test_a_plain_apply_after_an_apply_takes_the_shortcut(project):
    assert not heavy_imported(project)
    assert "no changes" in apply(project).stdout


@pytest.mark.parametrize("edit", ["spec", "referenced file", "environment", "managed file", "mode", "deleted file"])
def test_whatever_could_change_the_plan_takes_the_ordinary_path(project, edit):
    env = None
    if edit == "spec":
        (project / "tls.yaml").write_text(SPEC.replace("kafka: {issuer: root}", "kafka: {issuer: root, validity: 200d}"))
    elif edit == "referenced file":
        (project / "app.pw").write_text("File-password-2")
    elif edit == "environment":
        env = {"APP_PW": "Env-password-2"}
    elif edit == "managed file":
        (project / "out/clients/app/client.properties").write_text("edited\n")
    elif edit == "mode":
        os.chmod(project / "out/clients/app/app.key", 0o644)
    else:
        (project / "out/brokers/kafka/ca.pem").unlink()
    result = apply(project, env=env)
    assert "no changes" not in result.stdout, result.stdout  # the change was seen, and applied
    assert "no changes" in apply(project, env=env).stdout


def test_a_certificate_falling_due_takes_the_ordinary_path(tmp_path):
    (tmp_path / "tls.yaml").write_text(SPEC.replace("cas: {root: {}}", "cas: {root: {}}\nservers:\n"
                                                    "  soon: {issuer: root, validity: 2h, renew_before: 1h}"))
    (tmp_path / "app.pw").write_text("File-password-1")
    apply(tmp_path)
    # The record says when the first certificate falls due; move it into the past, as time would.
    state = tmp_path / "out/.tlsgen/state.json"
    doc = json.loads(state.read_text())
    doc["shortcut"]["due"] = "2000-01-01T00:00:00+00:00"
    state.write_text(json.dumps(doc))
    assert heavy_imported(tmp_path)  # planned the ordinary way (which then found nothing due yet)


def test_a_state_whose_files_are_not_the_specs_takes_the_ordinary_path(project):
    """The shortcut records the spec's files as a digest of their paths: a state that lists another
    set is planned the ordinary way. Here the extra record is of a real file whose bytes, mode and
    role match it, so only the list of paths tells; the ordinary apply deletes it as not in the spec."""
    state = project / "out/.tlsgen/state.json"
    doc = json.loads(state.read_text())
    doc["files"]["clients/app/extra.properties"] = dict(doc["files"]["clients/app/client.properties"])
    state.write_text(json.dumps(doc))
    shutil.copy2(project / "out/clients/app/client.properties", project / "out/clients/app/extra.properties")
    assert heavy_imported(project, changes="1 deleted")
    assert "clients/app/extra.properties" not in json.loads(state.read_text())["files"]
    assert not (project / "out/clients/app/extra.properties").exists()
    assert not heavy_imported(project)  # the control: the state the ordinary apply wrote takes the shortcut
