"""Gates for pipelines: verify sees every managed file, expiry windows, one exit-code scheme, JSON
documents of one shape, GitHub annotations, and big plans that read in a screenful. Through the CLI.
"""

from __future__ import annotations

import io
import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from conftest import tlsgen
from tlsgen.commands import common
from tlsgen.crypto import pki

SPEC = """\
version: 1
output: out
defaults: {key: ec-p256}
cas:
  root: {}
  issuing: {issuer: root, path_length: 0}
brokers:
  kafka: {issuer: issuing, hostnames: [kafka]}
clients:
  app: {issuer: issuing, brokers: [kafka]}
  java: {issuer: issuing, brokers: [kafka], keystore: jks, truststore: jks}
  pem: {issuer: issuing, brokers: [kafka], keystore: pem, truststore: pem}
workers:
  sink: {issuer: issuing, brokers: [kafka], connects_to: [mongodb]}
servers:
  mongodb: {issuer: issuing}
"""


def run(root: Path, *args: str):
    return tlsgen(*args, cwd=root)


@pytest.fixture(scope="module")
def applied(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("gates")
    (root / "tls.yaml").write_text(SPEC)
    assert run(root, "apply", "tls.yaml").returncode == 0
    return root


@pytest.fixture
def tree(applied, tmp_path) -> Path:
    """A fresh copy of the applied project for a test that damages it."""
    shutil.copytree(applied, tmp_path / "p", symlinks=True)
    return tmp_path / "p"


# --- verify sees every managed file, and apply repairs what it reports ------------------------------

EDITS = [
    "cas/root/ca.key", "cas/root/ca.crt", "brokers/kafka/kafka.key", "brokers/kafka/kafka.crt",
    "brokers/kafka/chain.pem", "brokers/kafka/ca.pem", "servers/mongodb/mongodb.pem", "brokers/kafka/keystore.p12",
    "clients/java/keystore.jks", "clients/pem/keystore.pem", "clients/java/truststore.jks",
    "brokers/kafka/truststore.p12", "clients/app/keystore.password", "brokers/kafka/server.properties",
    "brokers/kafka/kafka.env", "clients/app/client.properties", "clients/app/librdkafka.properties",
    "workers/sink/worker.properties", "workers/sink/sink.env", "servers/mongodb/mongodb.env", "compose.tls.yaml",
    ".gitignore",
]


@pytest.mark.parametrize("rel", EDITS)
def test_an_edit_to_any_managed_file_is_a_verify_problem_that_apply_repairs(tree, rel):
    path = tree / "out" / rel
    data = path.read_bytes()
    # Stores are compared by what they hold (salts differ every write), so damage them; any other file
    # differs from tlsgen's bytes by a comment added by hand.
    path.write_bytes(data[:len(data) // 2] if "keystore" in rel or "truststore" in rel else data + b"\n# edited\n")
    found = run(tree, "verify", "tls.yaml", "--json")
    assert found.returncode == 1, found.stdout + found.stderr
    problems = json.loads(found.stdout)["problems"]
    assert any(p["path"].endswith(rel) for p in problems), problems
    assert run(tree, "apply", "tls.yaml").returncode == 0
    again = run(tree, "verify", "tls.yaml")
    assert again.returncode == 0, again.stdout


def test_a_config_edited_to_plaintext_is_caught(tree):
    path = tree / "out/clients/app/client.properties"
    path.write_text(path.read_text().replace("security.protocol=SSL", "security.protocol=PLAINTEXT"))
    found = run(tree, "verify", "tls.yaml")
    assert found.returncode == 1 and "client.properties: edited by hand (tlsgen apply repairs it)" in found.stdout


@pytest.mark.parametrize("damage", ["delete", "chmod", "symlink", "directory mode"])
def test_other_damage_is_caught_too(tree, damage):
    path = tree / "out/clients/app/app.key"
    if damage == "delete":
        path.unlink()
    elif damage == "chmod":
        path.chmod(0o640)
    elif damage == "symlink":
        path.unlink()
        path.symlink_to(tree / "out/clients/java/java.key")
    else:
        (tree / "out/clients/app").chmod(0o750)
    found = run(tree, "verify", "tls.yaml")
    assert found.returncode == 1, found.stdout
    assert run(tree, "apply", "tls.yaml").returncode == 0
    assert run(tree, "verify", "tls.yaml").returncode == 0


def test_an_untouched_tree_verifies(applied):
    result = run(applied, "verify", "tls.yaml")
    assert result.returncode == 0 and "no problems" in result.stdout, result.stdout


# --- expiry windows -------------------------------------------------------------------------------

def short_lived(root: Path) -> Path:
    """A tree whose client certificate ends in ~20 days, and a trusted certificate that ends in ~50."""
    now = datetime.now(timezone.utc)
    key = pki.generate_key("ec-p256")
    partner = pki.issue_ca(subject=(("CN", "Partner"),), key=key, path_length=None, validity=timedelta(days=50),
                           now=now)
    (root / "partner.pem").write_bytes(pki.cert_pem(partner))
    (root / "tls.yaml").write_text(SPEC.replace("app: {issuer: issuing, brokers: [kafka]}",
                                                "app: {issuer: issuing, brokers: [kafka], validity: 20d, renew_before: 2d}")
                                   + "trusted:\n  partner: {file: partner.pem}\n")
    assert run(root, "apply", "tls.yaml").returncode == 0
    return root


@pytest.mark.parametrize("command", ["verify", "status"])
def test_expiring_within_fails_for_what_ends_inside_the_window_and_names_it(tmp_path, command):
    root = short_lived(tmp_path)
    outside = run(root, command, "tls.yaml", "--expiring-within", "10d")
    assert outside.returncode == 0, outside.stdout + outside.stderr
    inside = run(root, command, "tls.yaml", "--expiring-within", "30d")
    assert inside.returncode == 1
    said = inside.stdout + inside.stderr
    assert "client app ends on" in said and "partner" not in said
    ending = (datetime.now(timezone.utc) + timedelta(days=20)).strftime("%Y-%m-%d")
    assert ending in said or (datetime.now(timezone.utc) + timedelta(days=19)).strftime("%Y-%m-%d") in said
    wide = run(root, command, "tls.yaml", "--expiring-within", "60d", "--json")
    assert wide.returncode == 1
    doc = json.loads(wide.stdout)
    names = {p["message"].split(" ends on")[0] for p in doc["problems"]} if command == "verify" else \
        {f"{e['kind']} {e['name']}" for e in doc["expiring"]}
    assert names >= {"client app", "trusted partner"}


# --- one exit-code scheme -------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["validate", "plan", "apply", "watch", "status", "verify", "schema", "init"])
def test_a_usage_error_is_exit_1_for_every_command(tmp_path, command):
    result = run(tmp_path, command, "--typo")
    assert result.returncode == 1, result.stderr
    assert "unrecognized arguments: --typo" in result.stderr


def test_plan_detailed_exitcode_with_a_typo_is_1_not_2(applied):
    assert run(applied, "plan", "tls.yaml", "--detailed-exitcode", "--typo").returncode == 1


def test_no_command_is_exit_1(tmp_path):
    assert run(tmp_path).returncode == 1


# --- JSON documents of one shape ------------------------------------------------------------------

JSON_COMMANDS = ["validate", "plan", "apply", "status", "verify"]


@pytest.mark.parametrize("command", JSON_COMMANDS)
def test_json_has_the_same_keys_on_success_and_on_failure(tree, command):
    good = run(tree, command, "tls.yaml", "--json")
    assert good.returncode == 0, good.stdout + good.stderr
    (tree / "bad.yaml").write_text(SPEC.replace("issuer: issuing, hostnames", "issuer: nowhere, hostnames"))
    bad = run(tree, command, "bad.yaml", "--json")
    assert bad.returncode == 1
    good_doc, bad_doc = json.loads(good.stdout), json.loads(bad.stdout)
    assert sorted(good_doc) == sorted(bad_doc), (good_doc.keys(), bad_doc.keys())
    assert good_doc["errors"] == [] and bad_doc["errors"][0]["message"].startswith("no CA named 'nowhere'")


# --- GitHub annotations ---------------------------------------------------------------------------

@pytest.mark.parametrize("command", ["validate", "plan", "apply"])
def test_spec_errors_as_github_annotations(tmp_path, command):
    (tmp_path / "tls.yaml").write_text(SPEC.replace("issuer: issuing, hostnames", "issuer: nowhere, hostnames"))
    result = run(tmp_path, command, "tls.yaml", "--format", "github")
    assert result.returncode == 1
    assert "::error file=tls.yaml,line=8,col=19::brokers.kafka.issuer: no CA named 'nowhere'" in result.stdout


def test_verify_problems_as_github_annotations(tree):
    (tree / "out/clients/app/client.properties").write_text("edited\n")
    result = run(tree, "verify", "tls.yaml", "--format", "github")
    assert result.returncode == 1
    assert "::error file=out/clients/app/client.properties::edited by hand (tlsgen apply repairs it)" in result.stdout


def test_annotation_escapes_what_the_runner_would_misread():
    assert common.annotation("error", "50% done\nnext", "a,b:c.yaml", 3, 4) == \
        "::error file=a%2Cb%3Ac.yaml,line=3,col=4::50%25 done%0Anext"


# --- big plans, and progress outside a terminal ---------------------------------------------------

def test_a_broker_port_change_in_a_300_client_topology_reads_in_a_screenful(tmp_path):
    lines = ["version: 1", "output: out", "defaults: {key: ec-p256}", "cas: {root: {}}",
             "brokers:", "  kafka: {issuer: root, port: 9093}", "clients:"]
    lines += [f"  client-{i}: {{issuer: root, brokers: [kafka]}}" for i in range(300)]
    (tmp_path / "tls.yaml").write_text("\n".join(lines) + "\n")
    assert run(tmp_path, "apply", "tls.yaml").returncode == 0
    (tmp_path / "tls.yaml").write_text((tmp_path / "tls.yaml").read_text().replace("port: 9093", "port: 9094"))
    plan = run(tmp_path, "plan", "tls.yaml")
    assert len(plan.stdout.splitlines()) <= 10, plan.stdout
    assert ("clients/* (300): ~ update  <name>.env, client.properties, librdkafka.properties  "
            "(bootstrap.servers changed: kafka:9093 → kafka:9094)") in plan.stdout
    verbose = run(tmp_path, "plan", "tls.yaml", "--verbose")
    assert sum("~ update" in line for line in verbose.stdout.splitlines()) == 901
    doc = json.loads(run(tmp_path, "plan", "tls.yaml", "--json").stdout)
    assert len(doc["changes"]) == 901  # --json stays complete


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_progress_outside_a_terminal_is_a_line_every_few_seconds():
    stream, clock = io.StringIO(), _Clock()
    progress = common.progress_printer(stream, clock)
    for second in range(0, 12):
        clock.now = float(second)
        progress(f"step {second}")
    assert stream.getvalue().splitlines() == ["tlsgen: step 5", "tlsgen: step 10"]


def test_verify_reports_the_same_with_its_checks_side_by_side_or_one_after_the_other(tree):
    """verify runs the consumer checks in a forked child beside the drift check; where it cannot fork
    (another thread runs) it runs them in turn. Both report the same problems, of both kinds."""
    import threading

    from tlsgen.audit.verify import verify
    from tlsgen.crypto import workers
    from tlsgen.model.read import read_spec
    from tlsgen.reconcile.outdir import OutDir

    store = tree / "out/brokers/kafka/keystore.p12"
    store.write_bytes(store.read_bytes()[:100])  # a consumer trips over it
    config = tree / "out/clients/app/client.properties"
    config.write_text(config.read_text() + "# edited\n")  # drift only
    spec = read_spec(tree / "tls.yaml")
    now = datetime.now(timezone.utc)
    reports = []
    for thread_running in (False, True):
        stop = threading.Event()
        thread = threading.Thread(target=stop.wait)
        if thread_running:
            thread.start()
        try:
            assert workers.can_fork() is not thread_running
            report = verify(spec, OutDir(spec.output), now)
        finally:
            stop.set()
            if thread_running:
                thread.join()
        reports.append(sorted((p.path, p.message) for p in report.problems))
    assert reports[0] == reports[1]
    assert [path for path, _ in reports[0]] == ["brokers/kafka/keystore.p12", "clients/app/client.properties"]
    assert "does not open with keystore.password" in reports[0][0][1]  # the consumer check's words
