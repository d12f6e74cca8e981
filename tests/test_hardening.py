"""Faults are input too: repeated kills, a closed pipe, the machine saying no, hand edits of modes and
password files, damaged records, files that merely look like tlsgen's. Each through the real CLI,
each ending in a clear exit 1 or a completed apply, never a traceback or a false success.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import REPO, tlsgen
from tlsgen.reconcile.outdir import TMP_MARK


def spec_text(clients: int = 8, brokers: int = 1) -> str:
    lines = ["version: 1", "output: out", "defaults: {key: ec-p256}", "cas:", "  root: {}",
             "  issuing: {issuer: root, path_length: 0}", "brokers:"]
    lines += [f"  kafka-{i}: {{issuer: issuing}}" for i in range(brokers)]
    lines += ["clients:"] + [f"  app-{i}: {{issuer: issuing, brokers: [kafka-0]}}" for i in range(clients)]
    lines += ["servers:", "  mongodb: {issuer: issuing}"]
    return "\n".join(lines) + "\n"


def project(tmp_path: Path, text: str | None = None) -> Path:
    (tmp_path / "tls.yaml").write_text(text or spec_text())
    return tmp_path


def apply(root: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return tlsgen("apply", "tls.yaml", *args, cwd=root, env=env)


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result


def failed(result: subprocess.CompletedProcess, *phrases: str) -> subprocess.CompletedProcess:
    """Exit 1, no traceback, and every phrase in what it said."""
    said = result.stdout + result.stderr
    assert result.returncode == 1, said
    assert "Traceback" not in said and "internal error" not in said, said
    for phrase in phrases:
        assert phrase in said, said
    return result


def verified(root: Path) -> None:
    result = tlsgen("verify", "tls.yaml", cwd=root)
    assert result.returncode == 0, result.stdout + result.stderr


def crashed(root: Path, kill_at: int, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run([sys.executable, str(REPO / "tests/crashpoint.py"), str(kill_at), "apply", "tls.yaml", *args],
                            cwd=root, env=env, capture_output=True, text=True, timeout=300)
    return result


def snapshot(out: Path) -> dict[str, tuple[bytes, int, int]]:
    return {str(p.relative_to(out)): (p.read_bytes(), p.stat().st_mtime_ns, p.stat().st_mode)
            for p in sorted(out.rglob("*")) if p.is_file() and not p.is_symlink()}


# --- 1, 2: kills in a row, and what an interrupted apply wrote ------------------------------------

@pytest.mark.parametrize("first, second", [(1, 1), (3, 3), (40, 40), (300, 300), (600, 30), (5, 900)])
def test_two_kills_in_a_row_still_end_in_a_tree_that_verifies(tmp_path, first, second):
    root = project(tmp_path, spec_text(clients=40))
    assert crashed(root, first).returncode == -signal.SIGKILL
    assert crashed(root, second).returncode == -signal.SIGKILL
    ok(apply(root))
    assert "no changes" in ok(apply(root)).stdout
    assert not list((root / "out").rglob("*.tlsgen-tmp-*"))
    verified(root)


def test_three_kills_then_a_spec_change_then_completion(tmp_path):
    root = project(tmp_path, spec_text(clients=20))
    for kill_at in (50, 50, 50):
        assert crashed(root, kill_at).returncode == -signal.SIGKILL
    project(tmp_path, spec_text(clients=25))
    ok(apply(root))
    assert "no changes" in ok(apply(root)).stdout
    verified(root)


def test_files_a_killed_apply_wrote_are_removed_when_the_spec_drops_their_entity(tmp_path):
    root = project(tmp_path, spec_text(clients=20))
    assert crashed(root, 500).returncode == -signal.SIGKILL  # among the renames: some files in place, not all
    files = [p for p in (root / "out").rglob("*") if p.is_file() and ".tlsgen" not in p.parts]
    # Which files are in place depends on how the rename threads took turns: any of the clients dropped
    # below will do (app-9.key alone was not in place in about one run of fifteen).
    placed = [p for p in files if TMP_MARK not in p.name and p.parent.parent.name == "clients"
              and p.parent.name not in ("app-0", "app-1")]
    assert [p for p in files if TMP_MARK in p.name] and placed
    project(tmp_path, spec_text(clients=2))
    result = ok(apply(root))
    assert "left by an interrupted apply" in result.stdout
    assert sorted(p.name for p in (root / "out/clients").iterdir()) == ["app-0", "app-1"]
    project(tmp_path, spec_text(clients=3))  # adding one back is no conflict
    ok(apply(root))
    verified(root)


def test_a_users_file_that_looks_like_a_temp_file_is_never_deleted(tmp_path):
    root = project(tmp_path)
    ok(apply(root))
    mine = root / "out/clients/app-0/.notes.tlsgen-tmp-4242"
    mine.write_text("mine")
    assert crashed(root, 4, "--rotate-key", "app-1").returncode == -signal.SIGKILL
    ok(apply(root))
    assert mine.read_text() == "mine"
    assert [p for p in (root / "out").rglob("*.tlsgen-tmp-*")] == [mine]


# --- 3: a closed pipe ---------------------------------------------------------------------------

def test_apply_into_a_pipe_closed_early_still_applies_and_says_so_by_its_status(tmp_path):
    root = project(tmp_path, spec_text(clients=30))  # a plan longer than a pipe buffer
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    script = f"{sys.executable} -m tlsgen apply tls.yaml | head -1; echo \"status=${{PIPESTATUS[0]}}\""
    result = subprocess.run(["bash", "-c", script], cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert result.stdout.splitlines()[-1] == "status=0", result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "Exception ignored" not in result.stderr, result.stderr
    assert "no changes" in ok(apply(root)).stdout  # the work was all done
    verified(root)


def test_plan_into_a_closed_pipe_keeps_its_detailed_exit_code(tmp_path):
    root = project(tmp_path, spec_text(clients=30))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    script = f"{sys.executable} -m tlsgen plan tls.yaml --detailed-exitcode | head -1; echo \"status=${{PIPESTATUS[0]}}\""
    result = subprocess.run(["bash", "-c", script], cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert result.stdout.splitlines()[-1] == "status=2", result.stdout + result.stderr


def run_into(stdout_path: str, *args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m tlsgen ARGS > stdout_path`, stderr captured; stdout buffered as a user's is (this
    machine sets PYTHONUNBUFFERED, under which every print is its own write)."""
    env = env or {**{k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}, "PYTHONPATH": str(REPO)}
    with open(stdout_path, "wb") as stdout:
        return subprocess.run([sys.executable, "-m", "tlsgen", *args], cwd=cwd, env=env, stdout=stdout,
                              stderr=subprocess.PIPE, text=True, timeout=300)


@pytest.mark.parametrize("args", [("apply", "tls.yaml"), ("plan", "tls.yaml"), ("--version",), ("status", "tls.yaml")])
def test_output_lost_to_a_full_device_is_exit_1_not_a_success_or_a_bug(tmp_path, args):
    root = project(tmp_path, spec_text(clients=30))  # a report longer than stdout's buffer
    if args[0] == "status":
        ok(apply(root))
    result = run_into("/dev/full", *args, cwd=root)
    assert result.returncode == 1, result.stderr
    assert "could not write to standard output (No space left on device)" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    if args[0] == "apply":  # the work itself was done
        assert "no changes" in ok(apply(root)).stdout
    # The control: the same command into /dev/null is a success.
    assert run_into(os.devnull, *args, cwd=root).returncode == 0


def test_everything_printed_reaches_a_file_although_tlsgen_skips_the_interpreters_teardown(tmp_path):
    """tlsgen exits with os._exit after flushing its streams (cli.entry): the report in a file is the
    one main() prints, byte for byte, and the exit code is main()'s."""
    root = project(tmp_path, spec_text(clients=30))
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}, "PYTHONPATH": str(REPO)}  # buffered
    in_process = subprocess.run([sys.executable, "-c", "import sys; from tlsgen.cli import main; "
                                 "sys.exit(main(sys.argv[1:]))", "plan", "tls.yaml", "-v", "--detailed-exitcode"],
                                cwd=root, env=env, capture_output=True)
    assert in_process.returncode == 2 and len(in_process.stdout) > 8192  # more than one buffer's worth
    result = run_into(str(tmp_path / "plan.txt"), "plan", "tls.yaml", "-v", "--detailed-exitcode", cwd=root, env=env)
    assert result.returncode == 2, result.stderr
    assert (tmp_path / "plan.txt").read_bytes() == in_process.stdout
    # The control: where nothing flushes stdout before os._exit (its flush made a no-op), the
    # end of the report is lost, and the comparison above would say so.
    lossy = subprocess.run([sys.executable, "-c", "import os, sys\nclass NoFlush:\n write = sys.stdout.write\n"
                            " def flush(self): pass\nsys.stdout = NoFlush()\nfrom tlsgen.cli import main\n"
                            "os._exit(main(sys.argv[1:]))", "plan", "tls.yaml", "-v"],
                           cwd=root, env=env, capture_output=True)
    assert lossy.stdout != in_process.stdout


# --- 7: the machine says no ------------------------------------------------------------------------

@contextmanager
def mounted_tmpfs(where: Path, size: str, *options: str):
    where.mkdir(parents=True, exist_ok=True)
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join([f"size={size}", *options]), "tmpfs", str(where)],
                           capture_output=True, text=True)
    if mount.returncode != 0:
        if os.environ.get("CI") == "true":
            pytest.fail(f"cannot mount a tmpfs for the disk-full test: {mount.stderr}")
        pytest.skip(f"cannot mount a tmpfs here: {mount.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def test_a_full_disk_is_exit_1_and_the_next_apply_with_room_completes(tmp_path):
    with mounted_tmpfs(tmp_path / "disk", "96k") as disk:
        root = project(tmp_path, spec_text(clients=30).replace("output: out", f"output: {disk}/out"))
        failed(apply(root), "No space left on device", "the disk is full")
        subprocess.run(["mount", "-o", "remount,size=8m", str(disk)], check=True)
        ok(apply(root))
        assert "no changes" in ok(apply(root)).stdout
        verified(root)


def test_a_read_only_out_is_exit_1_with_the_reason(tmp_path):
    with mounted_tmpfs(tmp_path / "ro", "1m", "ro") as disk:
        root = project(tmp_path, spec_text().replace("output: out", f"output: {disk}/out"))
        failed(apply(root), "Read-only file system", "read-only")


@pytest.mark.parametrize("shape", ["dangling symlink", "symlink loop", "below a file"])
def test_an_unusable_out_is_exit_1_with_a_clear_message(tmp_path, shape):
    root = project(tmp_path)
    if shape == "dangling symlink":
        (root / "out").symlink_to(root / "nowhere")
        expected = "symlink to nothing"
    elif shape == "symlink loop":
        (root / "out").symlink_to(root / "out")
        expected = "symlink to nothing (or a symlink loop)"
    else:
        (root / "file").write_text("x")
        project(tmp_path, spec_text().replace("output: out", "output: file/out"))
        expected = "file is a file, so file/out cannot be a directory"
    failed(apply(root), expected)


def test_permission_denied_is_exit_1_naming_the_path(tmp_path):
    root = project(tmp_path)
    os.chmod(tmp_path, 0o755)
    (root / "out").mkdir(mode=0o555)
    shutil.copy(root / "tls.yaml", root / "tls-copy.yaml")
    env = {**os.environ, "PYTHONPATH": str(REPO), "HOME": str(tmp_path)}
    result = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-m", "tlsgen",
                             "apply", "tls.yaml"], cwd=root, env=env, capture_output=True, text=True, timeout=120)
    failed(result, "Permission denied", "out")


# --- 8, 9: modes, owners and password files are drift ---------------------------------------------

def test_modes_are_drift_shown_by_plan_repaired_by_apply_and_checked_by_verify(tmp_path):
    root = project(tmp_path)
    ok(apply(root))
    out = root / "out"
    os.chmod(out / "clients/app-0/app-0.key", 0o644)
    os.chmod(out / "clients/app-0/keystore.password", 0o666)
    os.chmod(out / "clients/app-1", 0o755)
    problems = tlsgen("verify", "tls.yaml", cwd=root)
    assert problems.returncode == 1
    assert "app-0.key: mode 0644" in problems.stdout and "clients/app-1: mode 0755" in problems.stdout
    plan = ok(tlsgen("plan", "tls.yaml", cwd=root)).stdout
    assert "mode 0644 → 0600" in plan and "mode 0666 → 0600" in plan and "mode 0755 → 0700" in plan
    before = snapshot(out)
    ok(apply(root))
    after = snapshot(out)
    assert (out / "clients/app-0/app-0.key").stat().st_mode & 0o777 == 0o600
    assert (out / "clients/app-1").stat().st_mode & 0o777 == 0o700
    assert {p for p in before if before[p][:2] != after[p][:2]} == {".tlsgen/state.json"}  # no content rewritten
    verified(root)


@pytest.mark.parametrize("edit", [b"\xff\xfe not utf-8", b"pw -javaagent:/tmp/x.jar"], ids=["non-utf8", "space"])
def test_a_password_file_edited_into_something_unusable_is_replaced_not_adopted(tmp_path, edit):
    root = project(tmp_path)
    ok(apply(root))
    d = root / "out/clients/app-0"
    for name in ("keystore.password", "key.password", "truststore.password"):
        (d / name).write_bytes(edit)
    plan = tlsgen("plan", "tls.yaml", cwd=root)
    ok(plan)
    ok(apply(root))
    password = (d / "keystore.password").read_bytes()
    assert password != edit and len(password) == 32 and password.isalnum()
    assert b"javaagent" not in (d / "client.properties").read_bytes()
    verified(root)


# --- 14: damaged records, odd flags ----------------------------------------------------------------

@pytest.mark.parametrize("content", ['{"format": 2, "files": []}', '{"format": 2, "files": {"a": 1}}', "[1, 2]",
                                     '{"format": 2, "files": {"x": {"part": "", "role": "key"}}}', "{{{"],
                         ids=["files-list", "record-number", "not-object", "record-missing-digest", "not-json"])
def test_a_damaged_state_is_exit_1_naming_the_file(tmp_path, content):
    root = project(tmp_path)
    ok(apply(root))
    (root / "out/.tlsgen/state.json").write_text(content)
    failed(apply(root), "out/.tlsgen/state.json", "damaged")


def test_a_damaged_journal_is_exit_1_naming_the_file(tmp_path):
    root = project(tmp_path)
    ok(apply(root))
    (root / "out/.tlsgen/journal.json").write_text('{"paths": "everything"}')
    failed(apply(root), "out/.tlsgen/journal.json", "damaged")
    (root / "out/.tlsgen/journal.json").write_text('{"paths": [], "marks": []}')
    ok(apply(root))
    assert not (root / "out/.tlsgen/journal.json").exists()  # even a no-op apply clears a stale journal


@pytest.mark.parametrize("value", ["nan", "inf", "-1"])
def test_a_lock_timeout_that_is_not_a_duration_is_exit_1(tmp_path, value):
    root = project(tmp_path)
    failed(apply(root, f"--lock-timeout={value}"), "--lock-timeout")


def test_init_never_writes_through_a_dangling_symlink(tmp_path):
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs/tlsgen.schema.json").symlink_to(tmp_path / "victim.json")
    ok(tlsgen("init", cwd=tmp_path))
    assert not (tmp_path / "victim.json").exists()
    (tmp_path / "other").mkdir()
    (tmp_path / "other/tlsgen.yaml").symlink_to(tmp_path / "victim.yaml")
    failed(tlsgen("init", "other/tlsgen.yaml", cwd=tmp_path), "already exists")
    assert not (tmp_path / "victim.yaml").exists()


def test_a_state_written_by_tlsgen_v1_is_read_and_kept(tmp_path):
    root = project(tmp_path)
    ok(apply(root))
    state = root / "out/.tlsgen/state.json"
    doc = json.loads(state.read_text())
    doc["format"] = 1
    for record in doc["files"].values():
        record["owner"] = record.pop("part")
    state.write_text(json.dumps(doc))
    assert "no changes" in ok(apply(root)).stdout
    ok(apply(root, "--renew", "app-0"))
    assert json.loads(state.read_text())["format"] == 2
