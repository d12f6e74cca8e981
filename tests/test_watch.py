"""`tlsgen watch` as a user runs it: a subprocess on a spec directory, edited on disk."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from cryptography import x509

from conftest import REPO

SPEC = """\
version: 1
output: ../out
defaults: {key: ec-p256}
cas:
  root: {}
servers:
  svc: {issuer: root, hostnames: [HOST]}
"""
WAIT = 20  # seconds: the bound on every wait below


class Watch:
    """The watch process with its output collected on background threads."""

    def __init__(self, project: Path):
        env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen([sys.executable, "-m", "tlsgen", "watch", "specs"], cwd=project, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.out: list[str] = []
        self.err: list[str] = []
        for stream, sink in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=lambda s=stream, k=sink: [k.append(line) for line in s], daemon=True).start()

    def wait_for(self, predicate, what: str) -> None:
        deadline = time.time() + WAIT
        while time.time() < deadline:
            if predicate():
                return
            assert self.proc.poll() is None, f"watch exited: {''.join(self.err)}"
            time.sleep(0.1)
        pytest.fail(f"timed out waiting for {what}; stdout={''.join(self.out)!r} stderr={''.join(self.err)!r}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def sans(crt: Path) -> list[str]:
    try:
        cert = x509.load_pem_x509_certificate(crt.read_bytes())
    except (FileNotFoundError, ValueError):
        return []
    return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)


@pytest.fixture
def project(tmp_path) -> Path:
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs/tls.yaml").write_text(SPEC.replace("HOST", "first"))
    return tmp_path


def test_watch_applies_edits_survives_bad_ones_and_ignores_unrelated_files(project):
    crt = project / "out/servers/svc/svc.crt"
    spec = project / "specs/tls.yaml"
    watch = Watch(project)
    try:
        watch.wait_for(lambda: "first" in sans(crt), "the first apply")
        cycles = lambda: sum("] changed: " in line for line in watch.out + watch.err)  # noqa: E731

        spec.write_text(SPEC.replace("HOST", "second"))
        watch.wait_for(lambda: "second" in sans(crt), "the edited hostname as a SAN")
        watch.wait_for(lambda: any("SANs changed: +second, -first" in line for line in watch.out), "the reason")

        before = crt.read_bytes()
        spec.write_text(SPEC.replace("HOST", "third").replace("servers:", "servers:\n  bad: [unclosed"))
        watch.wait_for(lambda: any("tls.yaml:" in line and "YAML syntax error" in line for line in watch.err),
                       "the located YAML error")
        assert watch.proc.poll() is None and crt.read_bytes() == before

        spec.write_text(SPEC.replace("HOST", "fourth"))
        watch.wait_for(lambda: "fourth" in sans(crt), "recovery after the bad edit")
        watch.wait_for(lambda: any("SANs changed: +fourth" in line for line in watch.out), "the recovery's plan")

        seen = cycles()
        (project / "specs/notes.txt").write_text("unrelated")
        (project / "out/servers/svc/extra.txt").write_text("inside out/")
        time.sleep(2)
        assert cycles() == seen, watch.out
    finally:
        code = watch.stop()
    assert code == 0


def test_sigterm_stops_cleanly(project):
    crt = project / "out/servers/svc/svc.crt"
    watch = Watch(project)
    try:
        watch.wait_for(lambda: "first" in sans(crt), "the first apply")
        watch.proc.send_signal(signal.SIGTERM)
        watch.proc.wait(WAIT)
        assert watch.proc.returncode == 0
    finally:
        watch.stop()


def test_the_users_compose_file_is_watched_too(project):
    """compose.services_from is an input: removing the service an entity mounts into is an error at once."""
    (project / "specs/tls.yaml").write_text(SPEC.replace("HOST", "first") + "compose: {services_from: ../compose.yaml}\n")
    compose = project / "compose.yaml"
    compose.write_text("services:\n  svc: {image: nginx}\n")
    override = project / "out/compose.tls.yaml"
    watch = Watch(project)
    try:
        watch.wait_for(lambda: override.exists() and "  svc:" in override.read_text(), "the first apply")
        compose.write_text("services:\n  web: {image: nginx}\n")
        watch.wait_for(lambda: any("compose.yaml defines no service 'svc'" in line for line in watch.err),
                       "the error about the service compose.yaml no longer defines")
        compose.write_text("services:\n  web: {image: nginx}\n  svc: {image: nginx}\n")
        watch.wait_for(lambda: any("changed: compose.yaml: no changes" in line for line in watch.out),
                       "an apply after the fix")
    finally:
        code = watch.stop()
    assert code == 0
