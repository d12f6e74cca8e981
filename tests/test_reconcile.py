"""The reconciler on real files: idempotence, minimal change, keys, renewal, cascade, drift, removal, safety."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from conftest import REPO, tlsgen
from tlsgen.reconcile.apply import apply_plan
from tlsgen.reconcile.outdir import OutDir
from tlsgen.reconcile.planner import Options, make_plan
from tlsgen.model.read import read_spec

SPEC = """\
version: 1
output: out
defaults:
  key: ec-p256
  subject: {organization: Test, country: GB}
cas:
  root: {validity: 3650d}
  issuing: {issuer: root, path_length: 0, validity: 1825d}
brokers:
  kafka: {issuer: issuing, hostnames: [kafka, localhost], ip_addresses: [127.0.0.1]}
clients:
  app: {issuer: issuing, brokers: [kafka]}
  other: {issuer: issuing, brokers: [kafka], keystore: jks, truststore: jks}
workers:
  sink: {issuer: issuing, brokers: [kafka], connects_to: [mongodb]}
servers:
  mongodb: {issuer: issuing, mount: /etc/tls}
"""


def write_spec(project: Path, text: str = SPEC) -> Path:
    spec = project / "tls.yaml"
    spec.write_text(textwrap.dedent(text))
    return spec


def snapshot(out: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under out/ with its bytes and mtime (ns)."""
    result = {}
    for path in sorted(out.rglob("*")):
        if path.is_file() and not path.is_symlink():
            result[str(path.relative_to(out))] = (path.read_bytes(), path.stat().st_mtime_ns)
    return result


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    return result


def apply(project: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return tlsgen("apply", "tls.yaml", *args, cwd=project, env=env)


def changed(before: dict, after: dict) -> set[str]:
    return {p for p in set(before) | set(after) if before.get(p) != after.get(p)}


def public_key(path: Path) -> bytes:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    return cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture(scope="module")
def applied_once(tmp_path_factory) -> Path:
    """A project applied once; tests copy it so the expensive first apply runs once per module."""
    project = tmp_path_factory.mktemp("base")
    write_spec(project)
    ok(apply(project))
    return project


@pytest.fixture
def project(applied_once, tmp_path) -> Path:
    subprocess.run(["cp", "-a", f"{applied_once}/.", str(tmp_path)], check=True)
    return tmp_path


def test_first_apply_writes_the_tree_with_safe_modes(project):
    out = project / "out"
    assert (out / ".gitignore").read_text() == "*\n"
    for rel in ["cas/root/ca.crt", "cas/root/ca.key", "brokers/kafka/kafka.key", "brokers/kafka/keystore.p12",
                "clients/other/keystore.jks", "servers/mongodb/mongodb.pem", "workers/sink/truststore.p12"]:
        assert (out / rel).is_file(), rel
    for path in out.rglob("*"):
        mode = path.stat().st_mode & 0o777
        if path.is_dir():
            assert mode == 0o700, path
        elif path.suffix in (".key", ".password", ".p12", ".jks") or path.name.endswith(".properties"):
            assert mode == 0o600, path
    state = json.loads((out / ".tlsgen/state.json").read_text())
    assert state["format"] == 2 and "brokers/kafka/kafka.crt" in state["files"]
    text = (out / ".tlsgen/state.json").read_text()
    for pw in out.rglob("*.password"):
        assert pw.read_text() not in text  # no secrets in the state


def test_second_apply_changes_nothing_not_even_mtimes(project):
    before = snapshot(project / "out")
    result = ok(apply(project))
    assert "no changes" in result.stdout
    assert snapshot(project / "out") == before
    plan = tlsgen("plan", "tls.yaml", "--detailed-exitcode", cwd=project)
    assert plan.returncode == 0, plan.stdout + plan.stderr


def test_plan_writes_nothing_and_reports_pending_changes(tmp_path):
    write_spec(tmp_path)
    result = tlsgen("plan", "tls.yaml", "--detailed-exitcode", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert not (tmp_path / "out").exists()
    assert "to create, 0 to update, 0 to delete" in result.stdout
    doc = json.loads(tlsgen("plan", "tls.yaml", "--json", cwd=tmp_path).stdout)
    assert {c["action"] for c in doc["changes"]} == {"create"}
    assert any(r["code"] == "new_entity" for c in doc["changes"] for r in c["reasons"])


def test_editing_one_clients_hostnames_touches_only_that_client(project):
    before = snapshot(project / "out")
    write_spec(project, SPEC.replace("app: {issuer: issuing, brokers: [kafka]}",
                                     "app: {issuer: issuing, brokers: [kafka], hostnames: [app.internal]}"))
    plan = ok(tlsgen("plan", "tls.yaml", cwd=project))
    assert "SANs changed: +app.internal" in plan.stdout
    ok(apply(project))
    touched = changed(before, snapshot(project / "out"))
    assert touched - {".tlsgen/state.json"}, "the client's certificate must change"
    assert all(p.startswith("clients/app/") or p == ".tlsgen/state.json" for p in touched), touched
    assert "clients/app/app.key" not in touched  # the key persists across a reissue


def test_renew_keeps_the_key_and_rotate_key_replaces_it(project):
    crt = project / "out/clients/app/app.crt"
    key_before, cert_before = public_key(crt), crt.read_bytes()
    result = ok(apply(project, "--renew", "app"))
    assert "requested with --renew" in result.stdout
    assert crt.read_bytes() != cert_before and public_key(crt) == key_before
    result = ok(apply(project, "--rotate-key", "app"))
    assert "requested with --rotate-key" in result.stdout
    assert public_key(crt) != key_before


def test_unknown_name_for_renew_is_an_error_with_a_suggestion(project):
    before = snapshot(project / "out")
    result = apply(project, "--renew", "ap")
    assert result.returncode == 1
    assert "--renew ap: no CA or entity of that name (did you mean 'app'?)" in result.stderr
    assert snapshot(project / "out") == before


def test_reissued_ca_reissues_everything_below_it(project):
    before = snapshot(project / "out")
    result = ok(apply(project, "--renew", "issuing"))
    assert "issuer issuing was reissued" in result.stdout
    after = snapshot(project / "out")
    touched = changed(before, after)
    for name in ["brokers/kafka/kafka.crt", "clients/app/app.crt", "workers/sink/sink.crt", "servers/mongodb/mongodb.crt"]:
        assert name in touched
    assert "cas/root/ca.crt" not in touched and "cas/issuing/ca.key" not in touched
    # trust holds the root only, so truststores are untouched by an intermediate's reissue
    assert "clients/app/truststore.p12" not in touched


def test_renewal_inside_renew_before_with_an_injected_clock(project):
    spec = read_spec(project / "tls.yaml")
    out = OutDir(spec.output)
    later = datetime.now(timezone.utc) + timedelta(days=365 - 12)
    plan = make_plan(spec, out, Options(now=later))
    texts = {c.path: "; ".join(r.text for r in c.reasons) for c in plan.changes}
    assert texts["clients/app/app.crt"].startswith("expires in 11 days (renew_before 30d)") or \
        texts["clients/app/app.crt"].startswith("expires in 12 days (renew_before 30d)"), texts
    assert "cas/root/ca.crt" not in texts
    apply_plan(plan, out)
    cert = x509.load_pem_x509_certificate((project / "out/clients/app/app.crt").read_bytes())
    assert cert.not_valid_after_utc > later + timedelta(days=300)
    assert make_plan(read_spec(project / "tls.yaml"), out, Options(now=later)).empty


def test_drift_is_shown_and_repaired(project):
    out = project / "out"
    crt = out / "brokers/kafka/kafka.crt"
    original = crt.read_bytes()
    crt.write_text("edited\n")
    (out / "clients/app/keystore.p12").unlink()
    (out / "clients/app/client.properties").write_text("security.protocol=PLAINTEXT\n")
    plan = json.loads(ok(tlsgen("plan", "tls.yaml", "--json", cwd=project)).stdout)
    said = {c["path"]: (c["action"], [r["message"] for r in c["reasons"]]) for c in plan["changes"]}
    assert said == {"brokers/kafka/kafka.crt": ("repair", ["edited by hand"]),
                    "clients/app/keystore.p12": ("repair", ["deleted by hand"]),
                    "clients/app/client.properties": ("repair", ["edited by hand"])}
    text = ok(tlsgen("plan", "tls.yaml", cwd=project)).stdout
    assert "brokers/kafka  (edited by hand)\n  ~ repair  kafka.crt\n" in text
    ok(apply(project))
    assert crt.read_bytes() == original  # restored exactly, not reissued
    assert (out / "clients/app/keystore.p12").is_file()
    assert "security.protocol=SSL" in (out / "clients/app/client.properties").read_text()
    assert "no changes" in ok(apply(project)).stdout


def test_unmanaged_files_are_never_touched(project):
    extra = project / "out/brokers/kafka/notes.txt"
    extra.write_text("mine")
    ok(apply(project, "--renew", "kafka"))
    assert extra.read_text() == "mine"


def test_removed_entity_is_deleted_after_the_plan_says_so(project):
    write_spec(project, SPEC.replace("  other: {issuer: issuing, brokers: [kafka], keystore: jks, truststore: jks}\n", ""))
    plan = ok(tlsgen("plan", "tls.yaml", cwd=project)).stdout
    assert "clients/other  (removed from the spec)" in plan and "~ update  compose.tls.yaml" in plan
    assert "0 to create, 1 to update, 12 to delete" in plan
    ok(apply(project))
    assert not (project / "out/clients/other").exists()
    assert (project / "out/clients/app").is_dir()


def test_a_changed_store_format_repackages_without_reissuing(project):
    crt = project / "out/clients/app/app.crt"
    cert_before = crt.read_bytes()
    write_spec(project, SPEC.replace("app: {issuer: issuing, brokers: [kafka]}",
                                     "app: {issuer: issuing, brokers: [kafka], keystore: jks}"))
    result = ok(apply(project))
    assert "store format changed" in result.stdout or "no longer produced" in result.stdout
    assert (project / "out/clients/app/keystore.jks").is_file()
    assert not (project / "out/clients/app/keystore.p12").exists()
    assert crt.read_bytes() == cert_before


def test_symlink_inside_out_is_not_written_through(project, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside") / "victim.pem"
    outside.write_text("do not touch")
    link = project / "out/clients/app/ca.pem"
    link.unlink()
    link.symlink_to(outside)
    result = ok(apply(project))
    assert "symlink" in result.stdout
    assert outside.read_text() == "do not touch"
    assert not link.is_symlink() and b"BEGIN CERTIFICATE" in link.read_bytes()


def test_symlinked_directory_inside_out_is_refused(project, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    app = project / "out/clients/app"
    subprocess.run(["cp", "-a", f"{app}/.", str(elsewhere)], check=True)
    subprocess.run(["rm", "-r", str(app)], check=True)
    app.symlink_to(elsewhere, target_is_directory=True)
    before = {p.name: p.read_bytes() for p in elsewhere.iterdir()}
    result = apply(project, "--renew", "app")
    assert result.returncode == 1 and "symlink" in result.stderr and "Traceback" not in result.stderr
    assert {p.name: p.read_bytes() for p in elsewhere.iterdir()} == before


def test_out_naming_a_file_is_an_error(tmp_path):
    write_spec(tmp_path)
    (tmp_path / "afile").write_text("x")
    result = tlsgen("apply", "tls.yaml", "--out", "afile", cwd=tmp_path)
    assert result.returncode == 1 and "is a file, not a directory" in result.stderr
    assert (tmp_path / "afile").read_text() == "x"


def test_an_unmanaged_file_in_the_way_is_an_error_and_nothing_is_written(tmp_path):
    write_spec(tmp_path)
    (tmp_path / "out/clients/app").mkdir(parents=True)
    (tmp_path / "out/clients/app/app.key").write_text("someone else's")
    result = apply(tmp_path)
    assert result.returncode == 1 and "exists but tlsgen did not make it" in result.stderr
    assert sorted(str(p.relative_to(tmp_path)) for p in (tmp_path / "out").rglob("*")) == \
        ["out/clients", "out/clients/app", "out/clients/app/app.key"]


def test_second_concurrent_apply_waits_then_fails_clearly(project):
    spec = read_spec(project / "tls.yaml")
    with OutDir(spec.output).lock(timeout=1):
        result = apply(project, "--lock-timeout", "1")
    assert result.returncode == 1
    assert "waiting for another tlsgen apply" in result.stderr
    assert "locked by another tlsgen apply" in result.stderr


def test_concurrent_applies_both_finish_consistently(tmp_path):
    write_spec(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-m", "tlsgen", "apply", "tls.yaml"], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert sum("no changes" in o for o, _ in outputs) == 1  # the second saw the first's result
    assert "no changes" in ok(apply(tmp_path)).stdout


def crashed_apply(project: Path, kill_at: int, *args: str) -> subprocess.CompletedProcess:
    """`tlsgen apply` killed with SIGKILL just before its kill_at-th fsync, rename or unlink."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, str(REPO / "tests/crashpoint.py"), str(kill_at), "apply", "tls.yaml", *args],
                          cwd=project, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("kill_at", [1, 2, 3, 5, 20, 45, 90, 140])
def test_sigkill_during_apply_is_completed_by_the_next(tmp_path, kill_at):
    write_spec(tmp_path)
    result = crashed_apply(tmp_path, kill_at)
    assert result.returncode == -signal.SIGKILL
    ok(apply(tmp_path))
    assert "no changes" in ok(apply(tmp_path)).stdout
    assert not list((tmp_path / "out").rglob("*.tlsgen-tmp-*"))
    assert not (tmp_path / "out/.tlsgen/journal.json").exists()
    verify = tlsgen("verify", "tls.yaml", cwd=tmp_path)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_sigkill_at_a_random_moment_of_a_slow_apply(tmp_path):
    write_spec(tmp_path, SPEC.replace("key: ec-p256", "key: rsa-4096"))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "tlsgen", "apply", "tls.yaml"], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    proc.kill()
    proc.wait()
    ok(apply(tmp_path))
    assert "no changes" in ok(apply(tmp_path)).stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_owner_is_applied_and_a_changed_owner_re_chowns(tmp_path):
    write_spec(tmp_path, SPEC.replace("mount: /etc/tls}", "mount: /etc/tls, owner: '999:999'}"))
    ok(apply(tmp_path))
    d = tmp_path / "out/servers/mongodb"
    assert {(p.stat().st_uid, p.stat().st_gid) for p in [d, *d.iterdir()]} == {(999, 999)}
    assert (tmp_path / "out/clients/app/app.key").stat().st_uid == 0
    write_spec(tmp_path, SPEC.replace("mount: /etc/tls}", "mount: /etc/tls, owner: '1000'}"))
    result = ok(apply(tmp_path))
    assert "owner 999:999 → 1000" in result.stdout
    assert {p.stat().st_uid for p in [d, *d.iterdir()]} == {1000}
    assert "no changes" in ok(apply(tmp_path)).stdout


def test_imported_cas_issue_or_only_add_trust_and_their_keys_stay_out_of_out(tmp_path):
    from tlsgen.crypto import pki

    now = datetime.now(timezone.utc)
    corp_key, other_key = pki.generate_key("ec-p256"), pki.generate_key("ec-p256")
    corp = pki.issue_ca(subject=(("CN", "Corp CA"),), key=corp_key, path_length=None, validity=timedelta(days=900), now=now)
    other = pki.issue_ca(subject=(("CN", "Partner CA"),), key=other_key, path_length=None, validity=timedelta(days=900), now=now)
    (tmp_path / "corp.pem").write_bytes(pki.cert_pem(corp))
    (tmp_path / "corp.key").write_bytes(pki.key_pem(corp_key))
    (tmp_path / "partner.pem").write_bytes(pki.cert_pem(other))
    write_spec(tmp_path, """\
        version: 1
        output: out
        defaults: {key: ec-p256}
        cas:
          corp: {import: {cert: corp.pem, key: {file: corp.key}}}
          partner: {import: {cert: partner.pem}}
        clients:
          app: {issuer: corp, trust: [corp, partner]}
        """)
    ok(apply(tmp_path))
    out = tmp_path / "out"
    assert (out / "cas/corp/ca.crt").read_bytes() == pki.cert_pem(corp)
    assert not (out / "cas/corp/ca.key").exists()
    key_text = pki.key_pem(corp_key)
    assert not [p for p in out.rglob("*") if p.is_file() and key_text in p.read_bytes()]
    leaf = x509.load_pem_x509_certificate((out / "clients/app/app.crt").read_bytes())
    leaf.verify_directly_issued_by(corp)
    assert leaf.not_valid_after_utc <= corp.not_valid_after_utc
    bundle = x509.load_pem_x509_certificates((out / "clients/app/ca.pem").read_bytes())
    assert [c.subject.rfc4514_string() for c in bundle] == ["CN=Corp CA", "CN=Partner CA"]
    result = apply(tmp_path, "--renew", "partner")
    assert result.returncode == 1 and "an imported CA is not tlsgen's to reissue" in result.stderr


def test_ctrl_c_during_apply_exits_130_and_the_next_apply_completes(tmp_path):
    write_spec(tmp_path, SPEC.replace("key: ec-p256", "key: rsa-4096"))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "tlsgen", "apply", "tls.yaml"], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode in (130, 0), err  # 0 only if it had already finished
    assert "Traceback" not in err
    ok(apply(tmp_path))
    assert "no changes" in ok(apply(tmp_path)).stdout


def test_progress_shows_on_a_terminal_and_not_in_a_pipe(tmp_path):
    write_spec(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    leader, follower = os.openpty()
    try:
        proc = subprocess.run([sys.executable, "-m", "tlsgen", "apply", "tls.yaml"], cwd=tmp_path, env=env,
                              stdout=subprocess.DEVNULL, stderr=follower, timeout=120)
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(leader)
    assert proc.returncode == 0
    assert b"tlsgen: generating 7 keys" in b"".join(chunks)  # 2 CAs + 5 entities
    piped = tlsgen("apply", "tls.yaml", "--renew", "app", cwd=tmp_path)
    assert piped.returncode == 0 and piped.stderr == ""


# --- the state and journal, streamed to disk --------------------------------------------------------

def test_state_and_journal_are_written_in_pieces_and_read_back_whole(tmp_path):
    """Many records (more than one 1 MiB piece), special characters in paths, and the empty cases:
    written through OutDir as the apply writes them, parsed by json and read back equal."""
    from tlsgen.diagnostics import UserError
    from tlsgen.reconcile.state import JOURNAL, STATE, FileRecord, Journal, Rollover, State, load, write_journal, \
        write_state

    out = OutDir(tmp_path / "out")
    records = {f'clients/c-{n}/"q\\u\u00e9".pem': FileRecord(f"clients/c-{n}", "certificate", f"sha256:{n:064x}",
                                                          {"issuer": "x" * 40, "n": n}, "-----BEGIN CERT" + "A" * 900)
               for n in range(3000)}
    rollover = Rollover("root", "trust", "2026-01-01T00:00:00+00:00", "aa", "bb", "PEM", ("kafka",), "rotate-key")
    for state, journal in ((State(7, records, {"root": rollover}, shortcut={"spec": "x"}),
                            Journal(frozenset(records), frozenset({"m1", "m2"}))),
                           (State(), Journal())):
        write_state(out, state)
        write_journal(out, journal)
        data = (tmp_path / "out" / STATE).read_bytes()
        assert json.loads(data)["serial"] == state.serial
        assert len(data) > (2 << 20) or not state.files  # the big one spans several pieces
        stored = load(out)
        assert stored.state == state
        assert stored.journal == Journal(journal.paths, journal.marks, present=True)
    # the control: the same bytes cut short are refused, not half-read
    (tmp_path / "out" / STATE).write_bytes(State(7, records).to_json()[:-20])
    with pytest.raises(UserError, match="state file is damaged"):
        load(out)
    assert (tmp_path / "out" / JOURNAL).exists()


def cold_plan(project: Path):
    write_spec(project)
    spec = read_spec(project / "tls.yaml")
    out = OutDir(spec.output)
    return make_plan(spec, out, Options(now=datetime.now(timezone.utc))), out


def test_files_are_built_and_staged_a_batch_at_a_time_into_the_same_tree(tmp_path, monkeypatch):
    """A large apply never holds every file's bytes: each batch is staged before the next is built.
    With batches of 3 files the tree is the one a single batch writes (same files, same modes), and
    verify passes on it."""
    import tlsgen.reconcile.apply as applying

    built_at_once = []
    build_files = applying.build_files
    monkeypatch.setattr(applying, "build_files", lambda w, m: built_at_once.append(len(w)) or build_files(w, m))
    trees = {}
    for name, batch in (("batched", 3), ("whole", 100_000)):
        monkeypatch.setattr(applying, "WRITE_BATCH", batch)
        (tmp_path / name).mkdir()
        plan, out = cold_plan(tmp_path / name)
        apply_plan(plan, out)
        trees[name] = {str(p.relative_to(tmp_path / name / "out")): p.stat().st_mode
                       for p in sorted((tmp_path / name / "out").rglob("*")) if ".tlsgen" not in p.parts}
        ok(tlsgen("verify", "tls.yaml", cwd=tmp_path / name))
    assert max(built_at_once[:-1]) == 3 and built_at_once[-1] > 30  # the control: one batch holds them all
    assert trees["batched"] == trees["whole"] and len(trees["whole"]) > 40


def test_stores_are_built_by_workers_while_the_other_files_are_built_and_staged(tmp_path, monkeypatch):
    """With workers for the stores (the bound lowered for a small spec), they are started before the
    first other file is built; the tree and state are those of an apply that builds everything here."""
    import tlsgen.reconcile.apply as applying
    from tlsgen.crypto import stores, workers

    events = []
    in_background, build = workers.map_in_background, applying.content.build
    monkeypatch.setattr(workers, "map_in_background", lambda *a: events.append("stores started") or in_background(*a))
    monkeypatch.setattr(applying.content, "build", lambda *a: events.append("file built") or build(*a))
    results = {}
    for name, bound in (("workers", 0.0), ("here", float("inf"))):
        monkeypatch.setattr(stores, "_PARALLEL_MIN_SECONDS", bound)
        (tmp_path / name).mkdir()
        plan, out = cold_plan(tmp_path / name)
        apply_plan(plan, out)
        ok(tlsgen("verify", "tls.yaml", cwd=tmp_path / name))
        state = json.loads((tmp_path / name / "out/.tlsgen/state.json").read_text())
        results[name] = (list(state["files"]), events[:])
        events.clear()
    assert results["workers"][1][0] == "stores started" and "file built" in results["workers"][1]
    assert "stores started" not in results["here"][1]  # the control: no workers, stores built when asked
    assert results["workers"][0] == results["here"][0] and len(results["here"][0]) > 40  # files in the plan's order


def rsa_project(project: Path, monkeypatch, cas: str, issuer: str, clients: int) -> tuple:
    """An rsa-2048 spec in `project` (the working directory from now on): CAs, a broker and clients."""
    monkeypatch.chdir(project)
    entries = "".join(f"  app-{i}: {{issuer: {issuer}, brokers: [kafka]}}\n" for i in range(clients))
    write_spec(project, f"version: 1\ndefaults: {{key: rsa-2048}}\ncas: {cas}\n"
               f"brokers: {{kafka: {{issuer: {issuer}}}}}\nclients:\n" + entries)
    spec = read_spec(project / "tls.yaml")
    return spec, OutDir(spec.output)


def test_the_next_batchs_rsa_keys_are_made_while_this_batch_is_signed_and_each_lands_with_its_entity(
        tmp_path, monkeypatch):
    """RSA keys for batch i+1 are started before batch i's certificates are issued (they are made in
    threads while this batch is signed, built and staged); every key still goes to its own entity:
    verify passes (each keystore's key matches its certificate) and no two entities share a key."""
    import tlsgen.reconcile.apply as applying
    from tlsgen.crypto import pki

    events = []
    start, issue = pki.start_generate_keys, applying.issue_certificates
    monkeypatch.setattr(pki, "start_generate_keys",
                        lambda types, ahead=None: events.append(("keys", len(types))) or start(types, ahead))
    monkeypatch.setattr(applying, "issue_certificates",
                        lambda steps, m, plan: events.append(("sign", len(steps))) or issue(steps, m, plan))
    monkeypatch.setattr(applying, "WRITE_BATCH", 24)
    spec, out = rsa_project(tmp_path, monkeypatch, "{root: {}}", "root", clients=6)
    apply_plan(make_plan(spec, out, Options(now=datetime.now(timezone.utc))), out)
    batches = [e for e in events if e[0] == "keys"]
    assert len(batches) >= 4 and sum(n for _, n in batches) == 8  # the CA's key, then each batch's
    signings = [i for i, e in enumerate(events) if e[0] == "sign" and e[1]]  # the CA's, then each batch's
    key_starts = [i for i, e in enumerate(events) if e[0] == "keys"]
    assert key_starts[2] < signings[1]  # batch 2's keys were under way before batch 1 was signed
    ok(tlsgen("verify", "tls.yaml", cwd=tmp_path))
    keys = {p.read_bytes() for p in (tmp_path / "out").rglob("*.key")}
    assert len(keys) == len(list((tmp_path / "out").rglob("*.key"))) == 8  # 7 entities and the CA


def test_a_first_apply_uses_the_rsa_keys_made_while_it_planned_and_later_applies_make_none_ahead(
        tmp_path, monkeypatch):
    import tlsgen.reconcile.apply as applying
    from tlsgen.crypto import pki

    if not pki._KEYGEN_RELEASES_GIL:
        pytest.skip("cryptography < 47: nothing is made ahead")
    spec, out = rsa_project(tmp_path, monkeypatch, "{root: {}, issuing: {issuer: root}}", "issuing", clients=3)
    ahead = applying.keys_ahead(spec, out)
    made_ahead = {pki.spki_fingerprint(f.result()) for queue in ahead._queues.values() for f in queue}
    assert len(made_ahead) == 6  # two CAs, a broker, three clients
    apply_plan(make_plan(spec, out, Options(now=datetime.now(timezone.utc))), out, ahead=ahead)
    written = {pki.spki_fingerprint(pki.load_key(p.read_bytes(), None)) for p in (tmp_path / "out").rglob("*.key")}
    assert written == made_ahead  # every key in out/ is one made ahead
    ok(tlsgen("verify", "tls.yaml", cwd=tmp_path))
    # The control: once out/ has a state, an apply makes only what its plan names, and nothing ahead.
    assert applying.keys_ahead(spec, out)._queues == {}


def test_keys_guessed_before_the_spec_was_read_are_kept_as_far_as_the_spec_needs_them(tmp_path, monkeypatch):
    """apply starts a few keys of the RSA type the spec's text names most before it reads the spec
    (shortcut.first_apply_rsa, pki.keys_guessed); keys_ahead keeps those the spec needs and the apply
    writes them. The controls: no guess for a spec that names no RSA type, or once out/ has a state."""
    import tlsgen.reconcile.apply as applying
    from tlsgen.crypto import pki
    from tlsgen.reconcile.shortcut import first_apply_rsa

    if not pki._KEYGEN_RELEASES_GIL:
        pytest.skip("cryptography < 47: nothing is made ahead")
    spec, out = rsa_project(tmp_path, monkeypatch, "{root: {}}", "root", clients=1)  # 3 keys
    assert first_apply_rsa(tmp_path / "tls.yaml", None) == "rsa-2048"
    ahead = pki.KeysAhead(pki.keys_guessed("rsa-2048"))
    guessed = list(ahead._queues["rsa-2048"])
    assert len(guessed) == 8
    applying.keys_ahead(spec, out, ahead)
    assert list(ahead._queues["rsa-2048"]) == guessed[:3] and all(f.cancelled() or f.running() or f.done()
                                                                 for f in guessed[3:])
    apply_plan(make_plan(spec, out, Options(now=datetime.now(timezone.utc))), out, ahead=ahead)
    written = {pki.spki_fingerprint(pki.load_key(p.read_bytes(), None)) for p in (tmp_path / "out").rglob("*.key")}
    assert written == {pki.spki_fingerprint(f.result()) for f in guessed[:3]}
    assert first_apply_rsa(tmp_path / "tls.yaml", None) is None  # out/ has a state now
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.chdir(other)
    (other / "ec.yaml").write_text("version: 1\ncas: {root: {}}  # not rsa-4096\nbrokers: {kafka: {issuer: root}}\n")
    assert first_apply_rsa(other / "ec.yaml", None) == "rsa-4096"  # a comment can mislead it: a guess
    (other / "ec.yaml").write_text("version: 1\ncas: {root: {}}\nbrokers: {kafka: {issuer: root}}\n")
    assert first_apply_rsa(other / "ec.yaml", None) is None
    assert first_apply_rsa(other / "missing.yaml", None) is None
    assert pki.keys_guessed(None) == pki.keys_guessed("rsa-1024") == []  # no guess; a size tlsgen never makes


def test_a_file_in_a_later_batch_unlike_the_plan_stops_apply_before_anything_is_in_place(tmp_path, monkeypatch):
    """Files of earlier batches are only staged: when a later one is not what the plan showed (a bug
    in tlsgen), apply raises InconsistentPlan, no file of the plan is in place and no temp file is left."""
    import dataclasses

    import tlsgen.reconcile.apply as applying
    from tlsgen.reconcile.outdir import TMP_MARK
    from tlsgen.reconcile.plan import WriteFile

    monkeypatch.setattr(applying, "WRITE_BATCH", 3)
    for broken in (True, False):  # the control: the same plan, unbroken, puts every file in place
        project = tmp_path / str(broken)
        project.mkdir()
        plan, out = cold_plan(project)
        steps = list(plan.steps)
        last = max(i for i, s in enumerate(steps) if isinstance(s, WriteFile))
        if broken:
            steps[last] = dataclasses.replace(steps[last], check=bytes(16))
            with pytest.raises(applying.InconsistentPlan, match=steps[last].artifact.path):
                apply_plan(dataclasses.replace(plan, steps=tuple(steps)), out)
        else:
            apply_plan(plan, out)
        files = [p for p in (project / "out").rglob("*") if p.is_file() and ".tlsgen" not in p.parts]
        assert not [p for p in (project / "out").rglob("*") if TMP_MARK in p.name]  # nor the state's own
        wanted = {s.artifact.path for s in steps if isinstance(s, WriteFile)}
        in_place = {str(p.relative_to(project / "out")) for p in files}
        assert in_place == (set() if broken else wanted)
        assert (project / "out/.tlsgen/state.json").exists() is not broken  # written as it went, put in place last


@pytest.mark.parametrize("in_the_way", ["symlink", "file", None])  # None: the control
def test_staging_refuses_a_symlink_or_a_file_where_a_directory_goes(tmp_path, in_the_way):
    """Staging checks each directory once for many files (out/clients/ once for every client), and still
    refuses a symlink or a file in a directory's place, writing nothing through it."""
    from tlsgen.diagnostics import UserError

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = OutDir(tmp_path / "out")
    (tmp_path / "out/clients").mkdir(parents=True)
    if in_the_way == "symlink":
        (tmp_path / "out/clients/b").symlink_to(elsewhere, target_is_directory=True)
    elif in_the_way == "file":
        (tmp_path / "out/clients/b").write_text("x")
    with out.staging() as staging:
        staging.add("clients/a/key.pem", b"a", 0o600)
        if in_the_way is None:
            staging.add("clients/b/key.pem", b"b", 0o600)
            staging.commit()
        else:
            with pytest.raises(UserError, match="symlink" if in_the_way == "symlink" else "is a file where"):
                staging.add("clients/b/key.pem", b"b", 0o600)
    assert list(elsewhere.iterdir()) == []
    written = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*.pem"))
    assert written == (["clients/a/key.pem", "clients/b/key.pem"] if in_the_way is None else [])
    if in_the_way is None:
        assert oct((tmp_path / "out/clients/b").stat().st_mode & 0o777) == "0o700"


@pytest.mark.parametrize("files", [10, 200])  # one thread, and shared among threads
def test_a_commit_puts_every_file_in_place_and_a_failed_rename_loses_nothing(tmp_path, files):
    """Every file in place; when one rename fails, commit raises once no rename is running any more,
    and each file is either in place or still in its temp file (for the next apply to finish)."""
    import threading

    from tlsgen.diagnostics import UserError

    for blocked in (False, True):  # the control: nothing in the way, every file in place
        out = OutDir(tmp_path / str(blocked))
        with out.staging() as staging:
            for i in range(files):
                staging.add(f"e{i % 20}/f{i}", b"%d" % i, 0o644)
            if blocked:  # a non-empty directory where file 7 goes: its rename fails
                (out.path("e7/f7") / "x").mkdir(parents=True)
                with pytest.raises(UserError, match="cannot write .*f7"):
                    staging.commit()
                assert not [t for t in threading.enumerate() if t.name == "tlsgen-rename"]
                temps = {str(p) for p in out.root.rglob(f"*{out.mark}")}
            else:
                staging.commit()
        rels = [f"e{i % 20}/f{i}" for i in range(files)]
        in_place = [rel for rel in rels if out.path(rel).is_file()]
        assert all(out.path(rel).read_bytes() == rel.rsplit("f", 1)[1].encode() for rel in in_place)
        if blocked:
            assert "e7/f7" not in in_place
            assert all(rel in in_place or out.temp_path(out._os_path(rel)) in temps for rel in rels)
        else:
            assert in_place == rels


def test_without_syncfs_every_staged_file_and_directory_is_fsynced(tmp_path, monkeypatch):
    """Where the kernel lacks syncfs(2), durability falls back to an fsync of each temp file before
    the renames and of each directory after them; with syncfs (the control) none of them is needed.
    (The journal, salt and state are written one by one, each with its own fsyncs, either way.)"""
    import tlsgen.reconcile.outdir as outdir

    synced = []
    fsync_path = outdir._fsync_path
    monkeypatch.setattr(outdir, "_fsync_path", lambda path, *a: synced.append(str(path)) or fsync_path(path, *a))
    for has_syncfs in (True, False):
        if not has_syncfs:
            monkeypatch.setattr(outdir, "_syncfs", lambda path: False)
        synced.clear()
        project = tmp_path / str(has_syncfs)
        project.mkdir()
        plan, out = cold_plan(project)
        apply_plan(plan, out)
        files = [p for p in (project / "out").rglob("*") if p.is_file() and ".tlsgen" not in p.parts]
        temps = [s for s in synced if outdir.TMP_MARK in s]
        dirs = [s for s in synced if os.path.isdir(s) and not s.endswith("/.tlsgen")]  # the state's own writes
        if has_syncfs:
            assert temps == [] and dirs == []
        else:
            assert len(temps) == len(files) > 40
            assert {str(p.parent) for p in files} <= set(dirs)


def test_the_state_written_record_by_record_is_the_state_written_whole(tmp_path):
    """apply writes the state as it goes (StateWriter): the same records, rollovers and shortcut read
    back as the State that write_state writes whole; a block left with an error leaves the old state."""
    from tlsgen.reconcile.state import STATE, FileRecord, Rollover, State, load, state_writer, write_state

    out = OutDir(tmp_path / "out")
    records = {f"clients/c-{n}/c-{n}.crt": FileRecord(f"clients/c-{n}", "certificate", f"sha256:{n:064x}",
                                                       {"issuer": "x", "n": n}, "PEM") for n in range(2000)}
    rollover = Rollover("root", "trust", "2026-01-01T00:00:00+00:00", "aa", "bb", "PEM", ("kafka",), "rotate-key")
    whole = State(3, records, {"root": rollover}, shortcut={"spec": "x"})
    with state_writer(out) as state:
        for path, record in records.items():
            state.add(path, record)
        state.finish(3, {"root": rollover}, {}, {"spec": "x"})
    assert load(out).state == whole and json.loads((tmp_path / "out" / STATE).read_bytes())["shortcut"] == {"spec": "x"}
    write_state(out, whole)
    assert load(out).state == whole
    before = (tmp_path / "out" / STATE).read_bytes()
    with pytest.raises(ValueError):
        with state_writer(out) as state:
            state.add("a", records["clients/c-1/c-1.crt"])
            raise ValueError("apply failed half-way")
    assert (tmp_path / "out" / STATE).read_bytes() == before
    assert [p.name for p in (tmp_path / "out/.tlsgen").iterdir() if "tmp" in p.name] == []
    with pytest.raises(RuntimeError, match="unfinished"):  # the control for a bug: never a state without its head
        with state_writer(out):
            pass
    assert (tmp_path / "out" / STATE).read_bytes() == before


@pytest.mark.parametrize("files", [0, 1, 31, 33, 640, 2048, 2049, 3639, 9000])
def test_batches_cover_every_file_once_and_end_small_when_rsa_keys_are_made(files):
    """Batches of at most WRITE_BATCH files, in order, each file in one; when the apply makes RSA keys
    the last batch holds at most LAST_BATCH files, so that little is left to do once the last key is
    made (the control: without RSA keys the batches stay whole)."""
    from tlsgen.reconcile.apply import LAST_BATCH, WRITE_BATCH, batches

    for slow_keys in (True, False):
        bounds = batches(files, slow_keys)
        assert [i for start, stop in bounds for i in range(start, stop)] == list(range(files))
        assert all(0 < stop - start <= WRITE_BATCH for start, stop in bounds)
        if files > LAST_BATCH and slow_keys:
            assert bounds[-1][1] - bounds[-1][0] <= LAST_BATCH
        if not slow_keys:
            assert len(bounds) == -(-files // WRITE_BATCH)
            assert files % WRITE_BATCH <= LAST_BATCH or bounds[-1][1] - bounds[-1][0] > LAST_BATCH


def test_a_plan_renders_only_the_files_it_compares(tmp_path, monkeypatch):
    """A new file is created whatever it holds: the plan of a cold apply renders none (apply builds
    each once). Over an applied tree it renders each existing file to compare with what it holds,
    and a file it finds edited is planned, and written back, as the spec renders it."""
    import tlsgen.reconcile.content as content_module
    from tlsgen.reconcile.plan import WriteFile

    rendered = []
    render_config = content_module.render_config
    monkeypatch.setattr(content_module, "render_config", lambda *a: rendered.append(a[2]) or render_config(*a))
    plan, out = cold_plan(tmp_path)
    assert rendered == [] and not any(s.knew_bytes for s in plan.steps if isinstance(s, WriteFile))
    apply_plan(plan, out)
    configs = len(rendered)
    assert configs > 0  # apply rendered them, once each
    edited = next((tmp_path / "out").rglob("client.properties"))
    good = edited.read_bytes()
    edited.write_bytes(good + b"ssl.endpoint.identification.algorithm=\n")
    rendered.clear()
    plan = make_plan(read_spec(tmp_path / "tls.yaml"), out, Options(now=datetime.now(timezone.utc)))
    assert len(rendered) == configs  # the control: every existing file rendered to be compared
    assert [s.artifact.path for s in plan.steps if isinstance(s, WriteFile)] == \
        [str(edited.relative_to(tmp_path / "out"))]
    apply_plan(plan, out)
    assert edited.read_bytes() == good


def test_a_planned_file_matches_only_what_the_plan_knew():
    """Apply's check of each file against its 16-byte plan entry: inputs still to be made (None when it
    planned) may be anything, everything known must be equal, and the bytes too where the plan knew them."""
    from tlsgen.layout import Artifact, Role
    from tlsgen.reconcile.plan import WriteFile
    from tlsgen.reconcile.reasons import Action

    a = Artifact("clients/c/keystore.p12", "clients/c", Role.KEYSTORE, "c")
    planned = {"chain": [None, "sha256:ca"], "key": None, "password": "hmac:1", "format": "pkcs12"}
    made = {"chain": ["sha256:leaf", "sha256:ca"], "key": "sha256:k", "password": "hmac:1", "format": "pkcs12"}
    step = WriteFile.planned(a, Action.CREATE, (), planned, None, None)
    assert step.matches(made, "sha256:any bytes")
    assert not step.matches({**made, "password": "hmac:2"}, "sha256:any bytes")  # a known input differs
    assert not step.matches({**made, "chain": ["sha256:leaf", "sha256:ca", "sha256:root"]}, "sha256:x")  # its shape
    assert not step.matches({k: v for k, v in made.items() if k != "format"}, "sha256:x")
    known = WriteFile.planned(a, Action.CREATE, (), {"password": "hmac:1"}, "sha256:bytes", None)
    assert known.matches({"password": "hmac:1"}, "sha256:bytes")
    assert not known.matches({"password": "hmac:1"}, "sha256:other bytes")  # the control: bytes the plan knew
