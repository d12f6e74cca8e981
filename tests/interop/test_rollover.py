"""A CA rollover without an outage, proved by the real consumers.

The property (SPEC.md, "Rotating a CA without an outage"): for every step k → k+1, every service
with its files as they were after step k completes mutual TLS with every peer with its files after
step k+1, and the other way round. out/ is copied after each step and the copies are crossed:
  - a Kafka-style JSSE broker and client (stores loaded as Kafka loads them),
  - OpenSSL s_server -Verify (MongoDB's PEM and CA file) and s_client (the client's PEM files),
  - the Connect worker's JVM configured only by its KAFKA_OPTS stores, against MongoDB's PEM.
A negative control shows the matrix can fail: a client never restarted since before the rollover
against a broker after the retire step.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import REPO, tlsgen
from cryptography import x509

from interop.consumers import JavaStores, java_client, java_default_client, java_server, openssl_client, openssl_server
from tlsgen.crypto import pki

BASE = """\
version: 1
output: out
defaults: {{key: ec-p256, subject: {{organization: Rollover Test}}}}
cas:
{cas}
brokers:
  kafka: {{issuer: {issuer}, hostnames: [localhost], ip_addresses: [127.0.0.1]{trust}}}
clients:
  app: {{issuer: {issuer}, brokers: [kafka], keystore: jks, truststore: jks{trust}}}
workers:
  sink: {{issuer: {issuer}, brokers: [kafka], connects_to: [mongodb]{trust}}}
servers:
  mongodb: {{issuer: {issuer}, hostnames: [localhost], ip_addresses: [127.0.0.1]{trust}}}
"""
GENERATED = "  root: {}\n  issuing: {issuer: root, path_length: 0}"


def write(project: Path, cas: str = GENERATED, issuer: str = "issuing", trust: str = "") -> None:
    (project / "tls.yaml").write_text(BASE.format(cas=cas, issuer=issuer, trust=trust))


def apply(project: Path, *args: str) -> subprocess.CompletedProcess:
    result = tlsgen("apply", "tls.yaml", *args, cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def snapshot(project: Path, step: int) -> Path:
    copy = project / f"step{step}"
    shutil.copytree(project / "out", copy, symlinks=True)
    return copy


@dataclass(frozen=True)
class Pair:
    """A server side and a client side, each from one copy of out/."""

    server: Path
    client: Path


def handshakes(pair: Pair) -> dict[str, bool]:
    """Every kind of handshake the topology has, server from one copy and client from the other."""
    broker, app = pair.server / "brokers/kafka", pair.client / "clients/app"
    mongodb, sink = pair.server / "servers/mongodb", pair.client / "workers/sink"
    results = {}
    with java_server(JavaStores.of_entity_dir(broker)) as server:
        results["jsse broker <- client"] = bool(java_client(server.port, "localhost", JavaStores.of_entity_dir(app)))
    with openssl_server(mongodb / "mongodb.pem", mongodb / "mongodb.pem", mongodb / "ca.pem",
                        chain=mongodb / "chain.pem") as server:
        results["openssl mongodb <- client"] = bool(openssl_client(
            server.port, ca=app / "ca.pem", cert=app / "app.crt", key=app / "app.key", chain=app / "chain.pem",
            hostname="localhost"))
        results["worker KAFKA_OPTS -> mongodb"] = bool(java_default_client(
            server.port, "localhost", JavaStores.of_entity_dir(sink)))
    return results


def crossed(steps: list[Path]) -> dict[str, bool]:
    """Each step against the next, both ways round."""
    results = {}
    for k in range(len(steps) - 1):
        for name, pair in ((f"{k}->{k + 1}", Pair(steps[k], steps[k + 1])), (f"{k + 1}->{k}", Pair(steps[k + 1], steps[k]))):
            for kind, ok in handshakes(pair).items():
                results[f"server@{name.split('->')[0]} client@{name.split('->')[1]}: {kind}"] = ok
    return results


def test_a_generated_root_rolls_over_without_an_outage(tmp_path):
    write(tmp_path)
    apply(tmp_path)
    steps = [snapshot(tmp_path, 0)]
    started = apply(tmp_path, "--rotate-key", "root")
    assert "step 1 of 3 (trust) done" in started.stdout
    assert "restart app, kafka, mongodb, sink; then `tlsgen apply tls.yaml --continue root`" in started.stdout
    steps.append(snapshot(tmp_path, 1))
    before = {p: p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()}
    assert "no changes" in apply(tmp_path).stdout  # a plain apply never skips ahead
    assert {p: p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()} == before
    apply(tmp_path, "--continue", "root")
    steps.append(snapshot(tmp_path, 2))
    apply(tmp_path, "--continue", "root")
    steps.append(snapshot(tmp_path, 3))
    assert not (tmp_path / "out/cas/root/previous.crt").exists()

    results = crossed(steps)
    assert all(results.values()), [name for name, ok in results.items() if not ok]
    # Negative control: a client never restarted since before the rollover, against a broker after it.
    never_restarted = handshakes(Pair(steps[3], steps[0]))
    assert not any(never_restarted.values()), never_restarted
    assert not any(handshakes(Pair(steps[0], steps[3])).values())


def test_the_steps_change_what_they_say(tmp_path):
    write(tmp_path)
    apply(tmp_path)
    leaf = (tmp_path / "out/clients/app/app.crt").read_bytes()
    old_root = (tmp_path / "out/cas/root/ca.crt").read_bytes()
    apply(tmp_path, "--rotate-key", "root")
    assert (tmp_path / "out/clients/app/app.crt").read_bytes() == leaf  # trust: no leaf changes
    assert (tmp_path / "out/cas/root/ca.crt").read_bytes() == old_root
    assert (tmp_path / "out/clients/app/ca.pem").read_bytes().count(b"BEGIN CERTIFICATE") == 2
    key = (tmp_path / "out/clients/app/app.key").read_bytes()
    apply(tmp_path, "--continue", "root")
    assert (tmp_path / "out/clients/app/app.crt").read_bytes() != leaf  # issue: reissued, key kept
    assert (tmp_path / "out/clients/app/app.key").read_bytes() == key
    assert (tmp_path / "out/cas/root/previous.crt").read_bytes() == old_root
    assert (tmp_path / "out/clients/app/ca.pem").read_bytes().count(b"BEGIN CERTIFICATE") == 2
    apply(tmp_path, "--continue", "root")
    assert (tmp_path / "out/clients/app/ca.pem").read_bytes().count(b"BEGIN CERTIFICATE") == 1  # retire
    assert old_root not in (tmp_path / "out/clients/app/ca.pem").read_bytes()


def imported_root(directory: Path, name: str, key_type: str = "ec-p256") -> tuple[Path, Path]:
    key = pki.generate_key(key_type)
    cert = pki.issue_ca(subject=(("O", "Corp"), ("CN", "Corp Root")), key=key, path_length=None,
                        validity=timedelta(days=3650), now=datetime.now(timezone.utc))
    cert_file, key_file = directory / f"{name}.crt", directory / f"{name}.key"
    cert_file.write_bytes(pki.cert_pem(cert))
    key_file.write_bytes(pki.key_pem(key))
    return cert_file, key_file


def test_an_imported_root_replaced_by_another_key_rolls_over_without_an_outage(tmp_path):
    (tmp_path / "pki").mkdir()
    imported_root(tmp_path / "pki", "old")
    cas = "  corp: {import: {cert: pki/corp.crt, key: {file: pki/corp.key}}}\n  issuing: {issuer: corp, path_length: 0}"
    for suffix in ("crt", "key"):
        shutil.copy(tmp_path / f"pki/old.{suffix}", tmp_path / f"pki/corp.{suffix}")
    write(tmp_path, cas=cas)
    apply(tmp_path)
    steps = [snapshot(tmp_path, 0)]
    imported_root(tmp_path / "pki", "new")
    for suffix in ("crt", "key"):  # the user brings the new CA in place of the old one
        shutil.copy(tmp_path / f"pki/new.{suffix}", tmp_path / f"pki/corp.{suffix}")
    started = apply(tmp_path)
    assert "rollover of CA corp: step 1 of 3 (trust) done" in started.stdout
    steps.append(snapshot(tmp_path, 1))
    assert "no changes" in apply(tmp_path).stdout
    apply(tmp_path, "--continue", "corp")
    steps.append(snapshot(tmp_path, 2))
    apply(tmp_path, "--continue", "corp")
    steps.append(snapshot(tmp_path, 3))
    results = crossed(steps)
    assert all(results.values()), [name for name, ok in results.items() if not ok]
    assert not any(handshakes(Pair(steps[3], steps[0])).values())


def test_an_intermediate_that_truststores_hold_rolls_over_too(tmp_path):
    # With the root beside it: OpenSSL (MongoDB, librdkafka) accepts a chain only up to a self-signed
    # root, so a truststore of the intermediate alone works for Java peers only.
    write(tmp_path, trust=", trust: [root, issuing]")
    apply(tmp_path)
    steps = [snapshot(tmp_path, 0)]
    assert "step 1 of 3" in apply(tmp_path, "--rotate-key", "issuing").stdout
    steps.append(snapshot(tmp_path, 1))
    apply(tmp_path, "--continue", "issuing")
    steps.append(snapshot(tmp_path, 2))
    apply(tmp_path, "--continue", "issuing")
    steps.append(snapshot(tmp_path, 3))
    results = crossed(steps)
    assert all(results.values()), [name for name, ok in results.items() if not ok]
    assert (steps[1] / "clients/app/ca.pem").read_bytes().count(b"BEGIN CERTIFICATE") == 3  # root, issuing and its next
    assert (steps[3] / "clients/app/ca.pem").read_bytes().count(b"BEGIN CERTIFICATE") == 2


def test_an_intermediate_no_truststore_holds_needs_one_apply(tmp_path):
    write(tmp_path)
    apply(tmp_path)
    before = snapshot(tmp_path, 0)
    result = apply(tmp_path, "--rotate-key", "issuing")
    assert "rollover" not in result.stdout and "--continue" not in result.stdout
    after = snapshot(tmp_path, 1)
    assert not (tmp_path / "out/cas/issuing/next.crt").exists()
    assert all(handshakes(Pair(before, after)).values()) and all(handshakes(Pair(after, before)).values())


def test_now_is_a_flag_day_and_says_so(tmp_path):
    write(tmp_path)
    apply(tmp_path)
    before = snapshot(tmp_path, 0)
    result = apply(tmp_path, "--rotate-key", "root", "--now")
    assert "will not talk to each other until all have restarted" in result.stdout
    after = snapshot(tmp_path, 1)
    assert not any(handshakes(Pair(after, before)).values())  # what --now warns about, really


@pytest.mark.parametrize("kill_at", [2, 7, 15])
@pytest.mark.parametrize("step", ["trust", "issue", "retire"])
def test_a_killed_step_is_completed_by_the_next_apply(tmp_path, step, kill_at):
    write(tmp_path)
    apply(tmp_path)
    args = {"trust": ["--rotate-key", "root"], "issue": ["--continue", "root"], "retire": ["--continue", "root"]}
    for earlier in ("trust", "issue", "retire")[:("trust", "issue", "retire").index(step)]:
        apply(tmp_path, *args[earlier])
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    killed = subprocess.run([sys.executable, str(REPO / "tests/crashpoint.py"), str(kill_at), "apply", "tls.yaml",
                             *args[step]], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL
    apply(tmp_path, *args[step])  # the same command again completes the step
    assert "no changes" in apply(tmp_path).stdout
    verify = tlsgen("verify", "tls.yaml", cwd=tmp_path)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_status_json_shows_the_rollover_in_progress(tmp_path):
    import json
    write(tmp_path)
    apply(tmp_path)
    apply(tmp_path, "--rotate-key", "root")
    doc = json.loads(tlsgen("status", "tls.yaml", "--json", cwd=tmp_path).stdout)
    [rollover] = doc["rollovers"]
    old = x509.load_pem_x509_certificate((tmp_path / "out/cas/root/ca.crt").read_bytes())
    new = x509.load_pem_x509_certificate((tmp_path / "out/cas/root/next.crt").read_bytes())
    assert rollover["ca"] == "root" and rollover["step"] == "trust"
    assert rollover["old"] == old.fingerprint(pki.hashes.SHA256()).hex()
    assert rollover["new"] == new.fingerprint(pki.hashes.SHA256()).hex()
    assert datetime.fromisoformat(rollover["started"]) <= datetime.now(timezone.utc)
