"""Containers that can read their files (SPEC: "Containers that can read their files").

A service reads its files as its image's user, through the bind mount the compose override gives it. So
each test here applies the Callisto spec through the real CLI, merges the override with the user's
compose file in docker-compose, and then, in a mount namespace of its own, bind-mounts each volume where
compose would (`source` at `target`, read-only, with none of the host's parent directories in the way)
and reads every file the service is told to read, with `setpriv` as the image's uid and gid and no other
groups. Which files: every `<mount>/<file>` a generated file names (properties values, KAFKA_OPTS, the
mongod command line the server's env file gives) and the names the Kafka images' configure scripts look
up in /etc/kafka/secrets (*_FILENAME, *_CREDENTIALS).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml
from conftest import REPO, need, tlsgen

from interop.test_compose import USER_COMPOSE, binds, compose_config

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="chown and mount namespaces need root")

IMAGE_USER = {"confluent": (1000, 1000), "apache": (1000, 1000), "mongo": (999, 999)}
STRANGER = (1234, 1234)  # a uid no image runs as
KAFKA_IMAGE_SECRETS = "/etc/kafka/secrets"  # where the Kafka images' configure scripts look names up
ENTITY_DIRS = {"kafka": "brokers/kafka", "kafka-tester": "clients/kafka-tester", "mongo-sink": "workers/mongo-sink",
               "mongodb": "servers/mongodb"}


def callisto(tmp_path: Path, edit=lambda text: text) -> Path:
    """A project: the example spec with services_from on, and the user's compose file beside specs/."""
    project = tmp_path / "project"
    (project / "specs").mkdir(parents=True)
    text = (REPO / "specs/callisto.yaml").read_text().replace("  # services_from: ../compose.yaml",
                                                             "  services_from: ../compose.yaml")
    assert "\n  services_from: ../compose.yaml" in text
    (project / "specs/tlsgen.yaml").write_text(edit(text))
    (project / "compose.yaml").write_text(yaml.safe_dump({"services": USER_COMPOSE}, sort_keys=False))
    return project


def applied(project: Path, *args: str) -> subprocess.CompletedProcess:
    result = tlsgen("apply", "specs", *args, cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def named_files(text: str, mount: str) -> set[str]:
    """The in-container paths a generated file (or a service's environment, as text) tells it to read."""
    mount = mount.rstrip("/")
    paths = set(re.findall(rf"(?<![\w/.]){re.escape(mount)}/[\w.@+:-]*[\w@+-]", text))  # not a sentence's full stop
    if mount == KAFKA_IMAGE_SECRETS:
        paths |= {f"{mount}/{name}" for name in re.findall(r"^KAFKA_SSL_\w+_(?:FILENAME|CREDENTIALS)=(\S+)$", text, re.M)}
    return paths


def container_reads(volumes: set[tuple[str, str, bool]], paths: set[str], uid: int, gid: int) -> dict[str, str]:
    """path → "" when `cat` as uid:gid (no other groups) read it through the service's volumes, else its error."""
    root = tempfile.mkdtemp(prefix="tlsgen-container-")
    lines = ["set -e", f"mount -t tmpfs -o mode=0755 container-root {shlex.quote(root)}"]
    for source, target, _ in sorted(volumes, key=lambda v: v[1]):
        inside = shlex.quote(root + target)
        lines += [f"mkdir -p {inside}", f"mount --bind -o ro {shlex.quote(source)} {inside}"]
    lines.append("set +e")
    for path in sorted(paths):
        cat = f"setpriv --reuid={uid} --regid={gid} --clear-groups cat {shlex.quote(root + path)}"
        lines.append(f'err=$({cat} 2>&1 >/dev/null); printf "%s\\t%s\\n" {shlex.quote(path)} "$err"')
    try:
        result = subprocess.run([need("unshare"), "--mount", "--propagation", "private", "sh", "-c", "\n".join(lines)],
                                capture_output=True, text=True, timeout=60)
    finally:
        os.rmdir(root)
    assert result.returncode == 0, result.stderr
    return dict(line.split("\t", 1) for line in result.stdout.splitlines())


def files_each_service_reads(project: Path, out: Path) -> dict[str, tuple[set, set[str]]]:
    """entity → (its service's volumes as merged by docker-compose, the in-container paths it is told to read)."""
    services = compose_config(project, os.path.relpath(out / "compose.tls.yaml", project))["services"]
    spec = yaml.safe_load((project / "specs/tlsgen.yaml").read_text())
    found = {}
    for kind in ("brokers", "clients", "workers", "servers"):
        for name, entity in spec[kind].items():
            mount = entity.get("mount", "/etc/kafka/secrets")
            service = services[name]
            environment = "\n".join(f"{k}={v}" for k, v in service.get("environment", {}).items())
            texts = [p.read_text() for p in (out / kind / name).iterdir() if p.suffix in (".properties", ".env")]
            found[name] = (binds(service), set().union(*(named_files(t, mount) for t in [environment, *texts])))
    return found


def test_each_service_reads_its_files_as_its_images_user_and_no_other_uid_can(tmp_path):
    need("setpriv")
    project = callisto(tmp_path)
    applied(project)
    reads = files_each_service_reads(project, project / "out")
    # The parse found what each service needs, not an empty set that every check would pass.
    assert {"/etc/kafka/secrets/keystore.p12", "/etc/kafka/secrets/keystore.password",
            "/etc/kafka/secrets/key.password", "/etc/kafka/secrets/truststore.p12"} <= reads["kafka"][1]
    assert {"/etc/tls/mongodb.pem", "/etc/tls/ca.pem"} <= reads["mongodb"][1]
    assert {"/etc/kafka/secrets/keystore.p12", "/etc/kafka/secrets/truststore.p12"} <= reads["mongo-sink"][1]
    assert "/etc/kafka/secrets/client.properties" in reads["kafka-tester"][1]
    images = {"kafka": "confluent", "kafka-tester": "confluent", "mongo-sink": "confluent", "mongodb": "mongo"}
    for name, (volumes, paths) in reads.items():
        mount = "/etc/tls" if name == "mongodb" else "/etc/kafka/secrets"
        assert (str(project / "out" / ENTITY_DIRS[name]), mount, True) in volumes, name
        uid, gid = IMAGE_USER[images[name]]
        assert container_reads(volumes, paths, uid, gid) == {p: "" for p in paths}, name
        refused = container_reads(volumes, paths, *STRANGER)
        assert all("Permission denied" in error for error in refused.values()), (name, refused)
        assert set(refused) == paths


def test_an_owner_of_the_spec_wins_and_then_the_images_user_cannot_read(tmp_path):
    """The negative control: the same reads fail when the files belong to someone else."""
    need("setpriv")
    project = callisto(tmp_path, lambda text: text.replace("    # owner: 999:999 ", "    owner: '1234:1234'"))
    applied(project)
    volumes, paths = files_each_service_reads(project, project / "out")["mongodb"]
    refused = container_reads(volumes, paths, *IMAGE_USER["mongo"])
    assert paths and all("Permission denied" in error for error in refused.values()), refused
    assert container_reads(volumes, paths, *STRANGER) == {p: "" for p in paths}
    assert {(p.stat().st_uid, p.stat().st_gid) for p in (project / "out/servers/mongodb").iterdir()} == {STRANGER}
    assert {p.stat().st_uid for p in (project / "out/brokers/kafka").iterdir()} == {1000}


def test_a_nested_out_mounts_the_same_files_for_the_same_users(tmp_path):
    need("setpriv")
    project = callisto(tmp_path)
    applied(project, "--out", "build/tls")
    volumes, paths = files_each_service_reads(project, project / "build/tls")["kafka"]
    assert (str(project / "build/tls/brokers/kafka"), "/etc/kafka/secrets", True) in volumes
    assert container_reads(volumes, paths, *IMAGE_USER["confluent"]) == {p: "" for p in paths}


# --- not root: tlsgen cannot chown, so plan and apply say who will not be able to read ---------------------


@pytest.fixture
def unprivileged_project(tmp_path):
    """The project in a directory of its own under /tmp (pytest's are 0700 root), owned by a plain uid."""
    base = Path(tempfile.mkdtemp(prefix="tlsgen-user-"))
    try:
        project = callisto(base)
        for path in [base, *base.rglob("*")]:
            os.chown(path, 4321, 4321)
        os.chmod(base, 0o755)
        yield project
    finally:
        shutil.rmtree(base)


def as_user(uid: int, project: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "HOME": str(project)}
    return subprocess.run([need("setpriv"), f"--reuid={uid}", f"--regid={uid}", "--clear-groups", sys.executable,
                           "-m", "tlsgen", *args], cwd=project, env=env, capture_output=True, text=True, timeout=300)


def warned(stderr: str) -> dict[str, str]:
    """entity path → its warning line."""
    lines = [line for line in stderr.splitlines() if line.startswith("warning: ")]
    return {re.search(r": (\w+\.[\w-]+)\.image: ", line).group(1): line for line in lines}


def test_without_root_plan_and_apply_warn_per_entity_and_apply_still_succeeds(unprivileged_project):
    project = unprivileged_project
    spec_lines = (project / "specs/tlsgen.yaml").read_text().splitlines()
    plan = as_user(4321, project, "plan", "specs")
    assert plan.returncode == 0, plan.stderr
    lines = warned(plan.stderr)
    assert set(lines) == {"brokers.kafka", "clients.kafka-tester", "workers.mongo-sink", "servers.mongodb"}
    line = spec_lines.index("    image: mongo                     # the official image runs mongod as 999:999, who "
                            "then owns these files") + 1
    assert lines["servers.mongodb"] == (
        f"warning: specs/tlsgen.yaml:{line}:12: servers.mongodb.image: service 'mongodb' runs the mongo image as "
        "uid 999, but this run (uid 4321) cannot chown: mongodb's files will be owned by uid 4321 with mode 0600, "
        "and uid 999 will not be able to read them (run apply as root: it chowns them to 999:999, or to the owner: "
        "you set; or run tlsgen as uid 999; or, when the service runs as uid 4321 (compose `user: \"4321\"`), set "
        "owner: 4321)")
    assert "confluentinc/cp-* image as uid 1000" in lines["brokers.kafka"]
    assert "warning" not in plan.stdout  # the plan itself stays on stdout; warnings go to stderr

    document = json.loads(as_user(4321, project, "plan", "specs", "--json").stdout)
    assert [w["path"] for w in document["warnings"]] == ["brokers.kafka.image", "clients.kafka-tester.image",
                                                         "workers.mongo-sink.image", "servers.mongodb.image"]
    assert document["warnings"][3] == {"file": "specs/tlsgen.yaml", "line": line, "column": 12,
                                       "path": "servers.mongodb.image", "message": lines["servers.mongodb"].split(
                                           "servers.mongodb.image: ", 1)[1]}

    github = [w for w in as_user(4321, project, "plan", "specs", "--format", "github").stdout.splitlines()
              if w.startswith("::warning ")]
    assert len(github) == 4 and any(w.startswith(f"::warning file=specs/tlsgen.yaml,line={line},col=12::servers.mongodb.image: service "
                            "'mongodb' runs the mongo image as uid 999") for w in github), github

    apply = as_user(4321, project, "apply", "specs", "--json")
    assert apply.returncode == 0, apply.stderr
    assert len(json.loads(apply.stdout)["warnings"]) == 4 and len(warned(apply.stderr)) == 4
    assert {p.stat().st_uid for p in (project / "out/servers/mongodb").iterdir()} == {4321}
    again = as_user(4321, project, "apply", "specs")
    assert again.returncode == 0 and set(warned(again.stderr)) == set(lines) and "no changes" in again.stdout


def test_run_as_the_images_user_only_the_other_images_entities_are_warned_about(unprivileged_project):
    """The control: uid 1000 is the Kafka images' user, so their files are readable and only mongodb's are not."""
    project = unprivileged_project
    for path in [project.parent, *project.parent.rglob("*")]:
        os.chown(path, 1000, 1000)
    plan = as_user(1000, project, "plan", "specs")
    assert plan.returncode == 0, plan.stderr
    assert set(warned(plan.stderr)) == {"servers.mongodb"}
