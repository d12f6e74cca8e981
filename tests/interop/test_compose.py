"""The compose override in its real consumer: Debian's docker-compose v1 merges it with a user's
compose file (`docker-compose -f compose.yaml -f out/compose.tls.yaml config`; no Docker engine
needed), mounts each entity directory read-only where the spec says, and loads its env file."""

from __future__ import annotations

import dataclasses
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import need

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
