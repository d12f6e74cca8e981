"""The compose override in its real consumer: Debian's docker-compose v1 merges it with a user's
compose file (`docker-compose -f compose.yaml -f out/compose.tls.yaml config`; no Docker engine
needed), mounts each entity directory read-only where the spec says, and loads its env file."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import need, tlsgen

from tlsgen.model import Compose
from tlsgen.render import Passwords, render_compose, render_entity_files
from tlsgen.model.read import read_spec

REPO = Path(__file__).resolve().parents[2]
# Every character validate.PASSWORD_RE lets a user's password hold: all must pass through unchanged.
PASSWORD = "Aa9-_.:@%+=,/~^!z"
USER_COMPOSE = {
    "kafka": {"image": "confluentinc/cp-kafka:7.6.1",
              "environment": {"KAFKA_ADVERTISED_LISTENERS": "PLAINTEXT://kafka:9092,SSL://kafka:9093"}},
    "kafka-tester": {"image": "confluentinc/cp-kafka:7.6.1", "command": ["sleep", "infinity"]},
    "mongo-sink": {"image": "confluentinc/cp-kafka-connect:7.6.1",
                   "environment": {"CONNECT_GROUP_ID": "mongo-sink"}},
    "mongodb": {"image": "mongo:7"},
}


def project_with(tmp_path: Path, version: str | None) -> Path:
    project = tmp_path / "project"
    (project / "specs").mkdir(parents=True)
    (project / "specs/tlsgen.yaml").write_text((REPO / "specs/callisto.yaml").read_text())
    user = {"services": USER_COMPOSE} if version is None else {"version": version, "services": USER_COMPOSE}
    (project / "compose.yaml").write_text(yaml.safe_dump(user, sort_keys=False))
    return project


def write_out(spec) -> None:
    """What the reconciler would write for compose's sake: each entity directory and its env file."""
    out = Path(spec.output)
    for e in spec.entities.values():
        directory = out / e.dir
        directory.mkdir(parents=True, exist_ok=True)
        for name, text in render_entity_files(spec, e, Passwords(PASSWORD, PASSWORD, PASSWORD)).items():
            (directory / name).write_text(text)
    (out / spec.compose.file).write_text(render_compose(spec))


def compose_config(project: Path, override: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
    result = subprocess.run([need("docker-compose"), "-f", "compose.yaml", "-f", override, "config"],
                            cwd=project, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def binds(service: dict) -> set[tuple[str, str, bool]]:
    """(source, target, read-only) of each volume in `config` output. docker-compose 1.29 prints the
    short form as it resolved it, but doubles `$` in plain strings (compose/config/serialize.py:
    serialize_string_escape_dollar), which is what the long form's fields are."""
    out = set()
    for volume in service.get("volumes", []):
        if isinstance(volume, str):
            source, target, *mode = volume.split(":")
            out.add((source, target, mode == ["ro"]))
        else:
            source, target = (volume[k].replace("$$", "$") for k in ("source", "target"))
            out.add((source, target, bool(volume.get("read_only"))))
    return out


def env_settings(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))


@pytest.mark.parametrize("version", [None, "3.8", "2.4"], ids=["no-version", "3.8", "2.4"])
def test_override_merges_mounts_read_only_and_loads_env_files(tmp_path, version):
    project = project_with(tmp_path, version)
    spec = read_spec(project / "specs")
    write_out(spec)
    services = compose_config(project, "out/compose.tls.yaml")["services"]

    for e in spec.entities.values():
        service = services[e.service]
        assert (str(project / "out" / e.dir), e.mount, True) in binds(service), e.name
        env_file = render_entity_files(spec, e, Passwords(PASSWORD, PASSWORD, PASSWORD))[f"{e.name}.env"]
        for key, value in env_settings(env_file).items():
            assert service["environment"][key] == value, (e.name, key)
    # The user's settings stay, and sit beside the env file's.
    assert services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"] == "PLAINTEXT://kafka:9092,SSL://kafka:9093"
    assert services["kafka"]["environment"]["KAFKA_SSL_KEYSTORE_FILENAME"] == "keystore.p12"
    assert services["mongo-sink"]["environment"]["CONNECT_GROUP_ID"] == "mongo-sink"
    opts = services["mongo-sink"]["environment"]["KAFKA_OPTS"]
    assert f"-Djavax.net.ssl.keyStorePassword={PASSWORD} " in opts
    assert len(opts.split(" ")) == 6
    assert services["kafka-tester"]["command"] == ["sleep", "infinity"]


def test_odd_paths_shared_services_and_an_output_outside_the_project(tmp_path):
    project = project_with(tmp_path, None)
    spec = read_spec(project / "specs")
    entities = dict(spec.entities)
    # Two entities in one service at different mounts; one with no service; a `$` and a `:` in mounts.
    entities["kafka-tester"] = dataclasses.replace(entities["kafka-tester"], service="kafka", mount="/etc/client")
    entities["mongo-sink"] = dataclasses.replace(entities["mongo-sink"], service=None)
    entities["mongodb"] = dataclasses.replace(entities["mongodb"], mount="/etc/t$ls")
    entities["kafka"] = dataclasses.replace(entities["kafka"], mount="/etc/kafka:tls", image="none")
    spec = dataclasses.replace(spec, entities=entities, output=tmp_path / "elsewhere $x" / "out",
                               compose=Compose("nested/tls.yaml", project))
    (spec.output / "nested").mkdir(parents=True)
    write_out(spec)
    services = compose_config(project, os.path.relpath(spec.output / "nested/tls.yaml", project))["services"]

    out = tmp_path / "elsewhere $x" / "out"
    assert {(str(out / "brokers/kafka"), "/etc/kafka:tls", True),
            (str(out / "clients/kafka-tester"), "/etc/client", True)} <= binds(services["kafka"])
    # Compose reads the override's `$$` as one literal `$`, not as a variable to interpolate.
    assert (str(out / "servers/mongodb"), "/etc/t$ls", True) in binds(services["mongodb"])
    assert "volumes" not in services["mongo-sink"]



@pytest.mark.parametrize("version", [None, "3.8", "2.4"], ids=["no-version", "3.8", "2.4"])
def test_override_without_services_still_merges(tmp_path, version):
    project = project_with(tmp_path, version)
    spec = read_spec(project / "specs")
    spec = dataclasses.replace(spec, entities={n: dataclasses.replace(e, service=None)
                                               for n, e in spec.entities.items()})
    write_out(spec)
    services = compose_config(project, "out/compose.tls.yaml")["services"]
    assert set(services) == set(USER_COMPOSE) and all("volumes" not in s for s in services.values())


# --- through the CLI: the user's compose file, and paths for any --out and project directory -----------------


def cli_project(tmp_path: Path, compose_at: str = "compose.yaml", services: dict | None = None,
                compose_settings: str = "  services_from: ../compose.yaml\n", edit=lambda text: text) -> Path:
    """The example spec in project/specs/, its compose section replaced, and the user's compose file."""
    project = tmp_path / "project"
    (project / "specs").mkdir(parents=True)
    text = (REPO / "specs/callisto.yaml").read_text()
    text = text[:text.index("compose:\n")] + "compose:\n" + compose_settings
    (project / "specs/tlsgen.yaml").write_text(edit(text))
    (project / compose_at).parent.mkdir(parents=True, exist_ok=True)
    (project / compose_at).write_text(yaml.safe_dump({"services": services or USER_COMPOSE}, sort_keys=False))
    return project


def cli(project: Path, *args: str) -> subprocess.CompletedProcess:
    return tlsgen(*args, cwd=project)


ENTITY_DIRS = {"kafka": "brokers/kafka", "kafka-tester": "clients/kafka-tester", "mongo-sink": "workers/mongo-sink",
               "mongodb": "servers/mongodb"}
MOUNTS = {"kafka": "/etc/kafka/secrets", "kafka-tester": "/etc/kafka/secrets", "mongo-sink": "/etc/kafka/secrets",
          "mongodb": "/etc/tls"}


@pytest.mark.parametrize("out_option, out_dir", [
    ((), "out"),  # the spec's output: ../out
    (("--out", "build/tls"), "build/tls"),  # nested in the project
    (("--out", "../sibling"), "../sibling"),  # beside it
    (("--out", "/ABS/abs-out"), "../abs-out"),  # absolute, outside it
], ids=["spec-output", "nested", "sibling", "absolute"])
@pytest.mark.parametrize("services_from", [True, False], ids=["services_from", "no-services_from"])
def test_volumes_are_the_right_host_paths_for_any_out(tmp_path, out_option, out_dir, services_from):
    settings = "  services_from: ../compose.yaml\n" if services_from else "  file: compose.tls.yaml\n"
    project = cli_project(tmp_path, compose_settings=settings)
    args = [a.replace("/ABS", str(tmp_path)) for a in out_option]
    result = cli(project, "apply", "specs", *args)
    assert result.returncode == 0, result.stderr
    out = Path(os.path.normpath(project / out_dir))
    services = compose_config(project, os.path.relpath(out / "compose.tls.yaml", project))["services"]
    for name, directory in ENTITY_DIRS.items():
        assert binds(services[name]) == {(str(out / directory), MOUNTS[name], True)}, name
        assert services[name]["image"] == USER_COMPOSE[name]["image"]
    assert services["kafka"]["environment"]["KAFKA_SSL_KEYSTORE_FILENAME"] == "keystore.p12"


def test_a_compose_file_in_another_directory_is_the_project_directory(tmp_path):
    """Compose resolves paths from the first -f file's directory: services_from's, here deploy/."""
    project = cli_project(tmp_path, "deploy/compose.yaml", compose_settings="  services_from: ../deploy/compose.yaml\n")
    assert cli(project, "apply", "specs", "--out", "build/tls").returncode == 0
    override = (project / "build/tls/compose.tls.yaml").read_text()
    assert "#   docker compose -f compose.yaml -f ../build/tls/compose.tls.yaml up" in override
    services = compose_config(project / "deploy", "../build/tls/compose.tls.yaml")["services"]
    assert binds(services["mongodb"]) == {(str(project / "build/tls/servers/mongodb"), "/etc/tls", True)}


def test_an_explicit_project_dir_wins(tmp_path):
    project = cli_project(tmp_path, "deploy/compose.yaml", compose_settings="  project_dir: ../deploy\n")
    assert cli(project, "apply", "specs", "--out", "../elsewhere").returncode == 0
    services = compose_config(project / "deploy", "../../elsewhere/compose.tls.yaml")["services"]
    assert binds(services["kafka"]) == {(str(tmp_path / "elsewhere/brokers/kafka"), "/etc/kafka/secrets", True)}


def test_only_the_services_of_the_users_file_get_volumes_and_service_null_gets_none(tmp_path):
    services = {**USER_COMPOSE, "zookeeper": {"image": "confluentinc/cp-zookeeper:7.6.1"}}
    project = cli_project(tmp_path, services=services,
                          edit=lambda text: text.replace("    mount: /etc/tls\n", "    mount: /etc/tls\n    service: null\n"))
    result = cli(project, "apply", "specs")
    assert result.returncode == 0, result.stderr
    merged = compose_config(project, "out/compose.tls.yaml")["services"]
    assert set(merged) == set(services)
    assert "volumes" not in merged["mongodb"] and "volumes" not in merged["zookeeper"]
    assert binds(merged["mongo-sink"]) == {(str(project / "out/workers/mongo-sink"), "/etc/kafka/secrets", True)}
    assert "mongodb" not in yaml.safe_load((project / "out/compose.tls.yaml").read_text())["services"]


@pytest.mark.parametrize("json_output", [False, True], ids=["text", "json"])
def test_an_entity_whose_service_the_users_file_lacks_is_a_spec_error_and_nothing_is_written(tmp_path, json_output):
    services = {k: v for k, v in USER_COMPOSE.items() if k != "mongodb"} | {"mongo": USER_COMPOSE["mongodb"]}
    project = cli_project(tmp_path, services=services)
    result = cli(project, "apply", "specs", *(["--json"] if json_output else []))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    line = (project / "specs/tlsgen.yaml").read_text().splitlines().index("  mongodb:") + 1
    message = ("compose.yaml defines no service 'mongodb' (an entity's service defaults to its name); its services: "
               "kafka, kafka-tester, mongo-sink, mongo (did you mean 'mongo'? otherwise set service: to one of them, "
               "or service: null when no service mounts mongodb)")
    assert f"specs/tlsgen.yaml:{line}:3: servers.mongodb: {message}" in result.stderr.splitlines()
    if json_output:
        assert json.loads(result.stdout)["errors"] == [{"file": "specs/tlsgen.yaml", "line": line, "column": 3,
                                                        "path": "servers.mongodb", "message": message}]
    assert not (project / "out").exists()
    # Without services_from, the same spec writes an override that docker-compose refuses: what the error prevents.
    fine = cli_project(tmp_path / "control", services=services, compose_settings="  file: compose.tls.yaml\n")
    assert cli(fine, "apply", "specs").returncode == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
    refused = subprocess.run([need("docker-compose"), "-f", "compose.yaml", "-f", "out/compose.tls.yaml", "config"],
                             cwd=fine, env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "mongodb" in refused.stderr


@pytest.mark.parametrize("content, message", [
    ("services: [kafka]\n", "its `services:` is not a mapping of service names"),
    ("name: x\n", "it has no top-level `services:` mapping, so it is not a compose file"),
    ("services:\n  kafka: [unclosed\n", "it cannot be read as YAML: "),
    ("a: &a [" + "[" * 70 + "]" * 70 + "]\nservices: {}\n", "it cannot be read as YAML: values nested deeper than 64 levels"),
], ids=["services-list", "no-services", "bad-yaml", "too-deep"])
def test_a_compose_file_that_gives_no_services_is_an_error_at_services_from(tmp_path, content, message):
    project = cli_project(tmp_path)
    (project / "compose.yaml").write_text(content)
    result = cli(project, "validate", "specs")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    line = (project / "specs/tlsgen.yaml").read_text().splitlines().index("  services_from: ../compose.yaml") + 1
    assert f"specs/tlsgen.yaml:{line}:18: compose.services_from: cannot take services from compose.yaml: {message}" \
        in result.stderr


def test_the_users_compose_file_gets_the_specs_care(tmp_path):
    """A FIFO is refused, not waited on; aliases are never expanded (a billion-laughs file is read in no time)."""
    project = cli_project(tmp_path, compose_settings="  services_from: [../compose.yaml, ../fifo.yaml]\n")
    laughs = "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n" for i in range(1, 10))
    (project / "compose.yaml").write_text("l0: &l0 [lol]\n" + laughs + "services:\n" +
                                          "".join(f"  {name}: {{image: x, labels: *l9}}\n" for name in USER_COMPOSE))
    os.mkfifo(project / "fifo.yaml")
    result = cli(project, "validate", "specs")
    assert result.returncode == 1
    assert "compose.services_from[1]: cannot read fifo.yaml: it is not a regular file" in result.stderr
    os.unlink(project / "fifo.yaml")
    (project / "fifo.yaml").write_text("services:\n  extra: {image: x}\n")
    assert cli(project, "validate", "specs").returncode == 0
    spec = read_spec(project / "specs")
    assert {project / "compose.yaml", project / "fifo.yaml"} <= {p.absolute() for p in spec.inputs}
    assert spec.compose.services == (*USER_COMPOSE, "extra")
