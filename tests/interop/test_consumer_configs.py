"""The config files `tlsgen apply` writes, used by their real consumers exactly as written.

One spec, applied once by the CLI: a broker `kafka` (localhost, 127.0.0.1), a broker `elsewhere`
whose certificate names another host, librdkafka/Java clients (pkcs12 and pem, under mounts other
than the default), two Kafka Connect workers (pkcs12 with the Confluent image's mount; jks under a
mount of its own) that reach a MongoDB `server`. Each file is read as its consumer reads it; the
only translation is from the paths a service sees (`<mount>/<file>`) to the same file in out/.

  librdkafka.properties  → a confluent_kafka.Producer ↔ `openssl s_server` with the broker's chain,
                           requiring and verifying a client certificate
  <worker>.env           → KAFKA_OPTS word-split, its -Djavax.net.ssl.* alone configure the JVM's
                           default SSLContext ↔ `openssl s_server` serving the server's <name>.pem
  *.properties           → only documented Kafka names; JSSE loads the stores as Kafka does, a
                           client from client.properties / worker.properties ↔ a server from
                           server.properties
  tlsgen verify          → 0 on a fresh apply; 1 and a line naming the file for each kind of damage
  tlsgen status --json   → kafka_principal is what Java reports for the verified peer
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from conftest import tlsgen
from test_render import KAFKA_DOCUMENTED  # the colleague's list of documented Kafka configs

from interop.consumers import (JavaStores, java_client, java_probe, java_server, keytool_entries, openssl_server,
                               openssl_verify)

CONNECT_PREFIXES = ("producer.", "consumer.", "admin.")
JAVA_TYPES = {"PKCS12": "pkcs12", "JKS": "jks", "PEM": "pem"}
CERT_RE = re.compile(r"-----BEGIN CERTIFICATE-----\n.*?-----END CERTIFICATE-----\n", re.DOTALL)
# Subjects that RFC 2253 (Java) and the spec's users spell with escapes: a comma, a plus, quotes,
# non-ASCII; `#`/`=` inside a value, which Java escapes and RFC 4514 does not; and more than one
# leading or trailing space, each of which Java escapes.
SPEC = {
    "version": 1,
    "output": "../out",
    "defaults": {"subject": {"organization": "Acme, Inc.", "country": "GB"}},
    "cas": {"root": {"subject": {"common_name": "Consumer Root"}},
            "issuing": {"issuer": "root", "path_length": 0, "subject": {"common_name": "Consumer Issuing"}},
            # MongoDB under a root of its own: the workers' default trust must take it in, and
            # mongodb's must take in the workers' root.
            "mongo-root": {"subject": {"common_name": "Mongo Root"}}},
    "brokers": {
        "kafka": {"issuer": "issuing", "hostnames": ["localhost", "kafka"], "ip_addresses": ["127.0.0.1"]},
        "elsewhere": {"issuer": "issuing", "hostnames": ["elsewhere.example"], "key": "ec-p256"},
    },
    "clients": {
        "app": {"issuer": "issuing", "brokers": ["kafka"], "mount": "/opt/app/tls",
                "subject": {"organizational_unit": 'R+D "Labs"; <Ops>', "locality": "Zürich"}},
        "app-pem": {"issuer": "issuing", "brokers": ["kafka"], "key": "ec-p256", "keystore": "pem",
                    "truststore": "pem"},
        "app-hash": {"issuer": "issuing", "brokers": ["kafka"], "key": "ec-p256", "mount": "/srv/hash",
                     "subject": {"organizational_unit": "Team#1 (a=b)"}},
        "app-spaces": {"issuer": "issuing", "brokers": ["kafka"], "key": "ec-p256",
                       "subject": {"organizational_unit": "  two leading", "locality": "ends in \\ "}},
    },
    "workers": {
        "mongo-sink": {"issuer": "issuing", "brokers": ["kafka"], "connects_to": ["mongodb"], "image": "confluent"},
        "mongo-sink-jks": {"issuer": "issuing", "brokers": ["kafka"], "connects_to": ["mongodb"], "key": "ec-p256",
                           "keystore": "jks", "truststore": "jks", "mount": "/opt/connect/tls"},
    },
    "servers": {"mongodb": {"issuer": "mongo-root", "hostnames": ["mongodb", "localhost"], "mount": "/etc/tls"}},
    "compose": {"file": None},
}
DEFAULT_MOUNT = "/etc/kafka/secrets"
PROPERTIES = {"brokers": "server.properties", "clients": "client.properties", "workers": "worker.properties"}


@dataclass(frozen=True)
class Entity:
    kind: str
    name: str
    dir: Path  # in out/
    mount: str  # where the service sees that directory

    def to_out(self, value: str) -> Path:
        """A path as the service sees it → the same file in out/ (it must be under the mount)."""
        assert value.startswith(self.mount + "/"), f"{self.name}: {value} is not under the mount {self.mount}"
        return self.dir / value[len(self.mount) + 1:]

    def file(self, name: str) -> Path:
        return self.dir / name


@dataclass(frozen=True)
class Applied:
    project: Path
    out: Path
    entities: dict[str, Entity]


def write_project(project: Path, spec: dict) -> Path:
    (project / "specs").mkdir(parents=True)
    (project / "specs/tlsgen.yaml").write_text(yaml.safe_dump(spec, sort_keys=False, allow_unicode=True),
                                               encoding="utf-8")
    return project


@pytest.fixture(scope="module")
def applied(tmp_path_factory) -> Applied:
    project = write_project(tmp_path_factory.mktemp("consumer-configs"), SPEC)
    result = tlsgen("apply", "specs", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    out = project / "out"
    entities = {name: Entity(kind, name, out / kind / name, body.get("mount", DEFAULT_MOUNT))
                for kind in ("brokers", "clients", "workers", "servers") for name, body in SPEC[kind].items()}
    return Applied(project, out, entities)


# --- reading the files as their consumers do ----------------------------------------------------

def java_properties(path: Path) -> dict[str, str]:
    """key → value as java.util.Properties.load reads the file, as Kafka's Utils.loadProps does
    (JsseProbe's properties mode); every key of tlsgen's files plain and set once."""
    keys = [line.partition("=")[0] for line in path.read_text(encoding="latin-1").splitlines()
            if line.strip() and not line.lstrip().startswith(("#", "!"))]
    assert all(key and "\\" not in key for key in keys), f"{path}: {keys}"
    assert len(keys) == len(set(keys)), f"{path}: a key set twice"
    result = java_probe("properties", "--file", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    settings = {}
    for line in result.stdout.splitlines():  # "<key> <the value's UTF-16 code units, in hex>"
        key, _, units = line.partition(" ")
        settings[key] = b"".join(int(u, 16).to_bytes(2, "big") for u in units.split(",") if u).decode("utf-16-be")
    return settings


def key_values(path: Path) -> dict[str, str]:
    """librdkafka.properties (kcat -F: split at the first `=`) and env files (unquoted values)."""
    settings = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f"{path}: {line!r}"
            settings[key] = value
    return settings


def java_stores(e: Entity, props: dict[str, str], prefix: str = "") -> JavaStores:
    """The stores Kafka's DefaultSslEngineFactory opens for these ssl.* settings."""
    get = lambda key: props.get(prefix + key)  # noqa: E731
    return JavaStores(
        keystore=e.to_out(get("ssl.keystore.location")), keystore_type=JAVA_TYPES[get("ssl.keystore.type")],
        keystore_password=get("ssl.keystore.password"), key_password=get("ssl.key.password"),
        truststore=e.to_out(get("ssl.truststore.location")), truststore_type=JAVA_TYPES[get("ssl.truststore.type")],
        truststore_password=get("ssl.truststore.password"))


def intermediates(pem_file: Path, scratch: Path) -> Path | None:
    """The certificates after the first in a PEM file (`s_server -cert` sends only its first one),
    or None when there are none (a leaf issued by a root)."""
    certs = CERT_RE.findall(pem_file.read_text())
    assert certs, f"{pem_file}: no certificate"
    if len(certs) == 1:
        return None
    path = scratch / f"{pem_file.parent.name}-{pem_file.name}.intermediates"
    path.write_text("".join(certs[1:]))
    return path


def client_verified(server_output: str, name: str) -> bool:
    """Did s_server (-Verify 1 -verify_return_error) verify a client certificate whose CN is `name`?"""
    return re.search(rf"^depth=0 (?:.*, )?CN = {re.escape(name)}\s*\nverify return:1$", server_output,
                     re.MULTILINE) is not None


def test_java_properties_load_reads_back_every_value_as_it_was_written(tmp_path):
    """java_value's output, read by java.util.Properties.load as Kafka reads its files: every character
    of 0-0x17F and three beyond, alone, after a space, after a letter, before `\\ ` and doubled before a
    space, comes back as it was written, from the printable ASCII java_value writes (test_render)."""
    from tlsgen.render.syntax import java_value

    values = [value for ch in map(chr, [*range(0x180), 0x2028, 0xFEFF, 0x1F600])
              for value in (ch, f" {ch}", f"a{ch}", f"{ch}\\ b", f"{ch}{ch} ")]
    written = [java_value(value) for value in values]
    # The controls, written raw: Java unescapes \\u00e9 and drops a leading space, as java_value expects.
    lines = [f"v{i}={w}" for i, w in enumerate(written)] + ["raw_escape=\\u00e9", "raw_space=  x"]
    (tmp_path / "values.properties").write_text("\n".join(lines) + "\n", encoding="latin-1")  # as Java reads it
    read = java_properties(tmp_path / "values.properties")
    assert read.pop("raw_escape") == "é" and read.pop("raw_space") == "x"
    assert read == {f"v{i}": value for i, value in enumerate(values)}


# --- Kafka property names and paths ---------------------------------------------------------------

def test_kafka_properties_use_documented_names_and_paths_that_exist(applied):
    checked = 0
    for e in applied.entities.values():
        if e.kind not in PROPERTIES:
            continue
        props = java_properties(e.file(PROPERTIES[e.kind]))
        for key, value in props.items():
            bare = key
            for prefix in CONNECT_PREFIXES:
                bare = bare.removeprefix(prefix)
            assert bare in KAFKA_DOCUMENTED, f"{e.name}/{PROPERTIES[e.kind]}: {key}"
            if value.startswith("/") or key.endswith(".location"):
                path = e.to_out(value)
                assert path.is_file(), f"{e.name}: {key}={value} → {path} does not exist"
                checked += 1
        # Hostname verification is on for every client side, including Connect's prefixed copies.
        prefixes = ("",) + (CONNECT_PREFIXES if e.kind == "workers" else ())
        for prefix in prefixes:
            assert props[prefix + "ssl.endpoint.identification.algorithm"] == "https", (e.name, prefix)
            if e.kind != "brokers":
                assert props[prefix + "security.protocol"] == "SSL", (e.name, prefix)
    assert checked >= 2 * 7  # every entity has at least a keystore and a truststore


# --- librdkafka -------------------------------------------------------------------------------------

def librdkafka_handshake(e: Entity, port: int, *, until) -> tuple[list[str], list[str]]:
    """A Producer configured from librdkafka.properties only (bootstrap.servers aside), polled until
    `until()` or 10 s. Returns (librdkafka's log lines, errors reported to error_cb)."""
    try:
        import confluent_kafka
    except ImportError:  # as consumers.librdkafka_config_error: required under CI
        if os.environ.get("CI") == "true":
            pytest.fail("confluent-kafka is not installed; .ci/run should have installed it")
        pytest.skip("confluent-kafka is not installed")
    settings = key_values(e.file("librdkafka.properties"))
    config = {}
    for key, value in settings.items():
        config[key] = str(e.to_out(value)) if value.startswith("/") else value
    assert config.pop("bootstrap.servers") == "localhost:9093"  # the broker's first hostname and port
    # Logging and error reporting only: nothing that changes how TLS is set up.
    lines, errors = [], []

    class Collect(logging.Handler):
        def emit(self, record):
            lines.append(record.getMessage())

    logger = logging.getLogger(f"librdkafka-{e.name}-{port}")
    logger.addHandler(Collect())
    logger.setLevel(logging.DEBUG)
    producer = confluent_kafka.Producer({**config, "bootstrap.servers": f"localhost:{port}", "logger": logger,
                                         "debug": "broker,security", "error_cb": lambda err: errors.append(str(err))})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not until(lines, errors):
        producer.poll(0.1)
    return lines, errors


@pytest.mark.parametrize("name", ["app", "app-pem"])
def test_librdkafka_properties_complete_a_mutual_tls_handshake(applied, tmp_path, name):
    e, broker = applied.entities[name], applied.entities["kafka"]
    with openssl_server(broker.file("kafka.crt"), broker.file("kafka.key"), broker.file("ca.pem"),
                        chain=intermediates(broker.file("chain.pem"), tmp_path)) as server:
        lines, errors = librdkafka_handshake(
            e, server.port, until=lambda lines, errors: client_verified(server.output(), name)
            and any("SSL_HANDSHAKE -> APIVERSION_QUERY" in line for line in lines))
        assert client_verified(server.output(), name), server.output() + "\n".join(lines + errors)
    log = "\n".join(lines)
    assert "Enabled endpoint identification using hostname localhost" in log, log
    assert "SSL_HANDSHAKE -> APIVERSION_QUERY" in log, log  # the client finished its side too


def test_librdkafka_refuses_a_broker_certificate_for_another_host(applied, tmp_path):
    e, other = applied.entities["app"], applied.entities["elsewhere"]
    with openssl_server(other.file("elsewhere.crt"), other.file("elsewhere.key"), other.file("ca.pem"),
                        chain=intermediates(other.file("chain.pem"), tmp_path)) as server:
        lines, errors = librdkafka_handshake(
            e, server.port, until=lambda lines, errors: any("SSL handshake failed" in x for x in lines + errors))
        assert not client_verified(server.output(), "app")
    failures = [x for x in lines + errors if "SSL handshake failed" in x]
    assert failures, "\n".join(lines + errors)
    # librdkafka words a host name mismatch like an unknown CA ("broker certificate could not be
    # verified, verify that ssl.ca.location is correctly configured"); the CA is fine, the name is not:
    assert "certificate verify failed" in failures[0], failures[0]
    assert openssl_verify(e.file("ca.pem"), other.file("chain.pem")).returncode == 0
    assert openssl_verify(e.file("ca.pem"), other.file("chain.pem"), hostname="localhost").returncode != 0


# --- KAFKA_OPTS: the JVM default SSLContext of a Connect worker -------------------------------------

def kafka_opts(e: Entity) -> list[str]:
    env = key_values(e.file(f"{e.name}.env"))
    value = env["KAFKA_OPTS"]
    assert value and value[0] not in "'\"", value  # compose passes it on as written
    options = value.split()  # kafka-run-class.sh expands $KAFKA_OPTS unquoted
    mapped = []
    for option in options:
        assert option.startswith("-Djavax.net.ssl."), option
        key, _, val = option.partition("=")
        mapped.append(f"{key}={e.to_out(val)}" if val.startswith("/") else option)
    return mapped


@pytest.mark.parametrize("name", ["mongo-sink", "mongo-sink-jks"])
def test_kafka_opts_give_the_jvm_default_context_the_worker_stores(applied, tmp_path, name):
    worker, mongodb = applied.entities[name], applied.entities["mongodb"]
    options = kafka_opts(worker)
    assert {o.partition("=")[0] for o in options} == {
        f"-Djavax.net.ssl.{p}" for p in ("keyStore", "keyStorePassword", "keyStoreType", "trustStore",
                                         "trustStorePassword", "trustStoreType")}
    d = dict(o[len("-Djavax.net.ssl."):].partition("=")[::2] for o in options)
    trusted = keytool_entries(Path(d["trustStore"]), JAVA_TYPES[d["trustStoreType"]], d["trustStorePassword"])
    assert trusted == {"root": "trustedCertEntry", "mongo-root": "trustedCertEntry"}  # its brokers', its server's
    both = mongodb.file("mongodb.pem")  # mongod's certificateKeyFile: chain, then key
    with openssl_server(both, both, mongodb.file("ca.pem"), chain=intermediates(both, tmp_path)) as server:
        mark = server.mark()
        result = java_probe("jvm-default-client", "--connect", "127.0.0.1", "--port", str(server.port),
                            "--host", "mongodb", jvm_options=options)
        assert result.returncode == 0 and "OK peer=" in result.stdout, result.stdout + result.stderr
        assert re.search(r"^OK peer=CN=mongodb,", result.stdout, re.MULTILINE), result.stdout
        server.wait_for(rf"^depth=0 (?:.*, )?CN = {re.escape(name)}\s*\nverify return:1$", since=mark)

        wrong = java_probe("jvm-default-client", "--connect", "127.0.0.1", "--port", str(server.port),
                           "--host", "wronghost", jvm_options=options)
        assert wrong.returncode != 0
        assert "No subject alternative DNS name matching wronghost" in wrong.stderr, wrong.stdout + wrong.stderr


# --- Java clients and a broker, each from its properties file ---------------------------------------

JAVA_CLIENTS = {"app": "", "app-pem": "", "app-hash": "", "app-spaces": "", "mongo-sink": "producer.",
                "mongo-sink-jks": "consumer."}


@pytest.fixture(scope="module")
def java_sessions(applied) -> dict[str, tuple]:
    """Per client: (its Handshake, the peer subject the broker's JSSE reported for it)."""
    broker = applied.entities["kafka"]
    server_props = java_properties(broker.file("server.properties"))
    sessions = {}
    with java_server(java_stores(broker, server_props), client_auth=server_props["ssl.client.auth"]) as server:
        for name, prefix in JAVA_CLIENTS.items():
            e = applied.entities[name]
            props = java_properties(e.file(PROPERTIES[e.kind]))
            host = props["bootstrap.servers"].split(",")[0].rpartition(":")[0]
            mark = server.mark()
            handshake = java_client(server.port, host, java_stores(e, props, prefix))
            seen = None
            if handshake:
                seen = server.wait_for(r"^HANDSHAKE OK peer=(.*) protocol=", since=mark, timeout=15).group(1)
            sessions[name] = (handshake, seen)
    return sessions


@pytest.mark.parametrize("name", list(JAVA_CLIENTS))
def test_java_client_from_its_properties_reaches_the_broker_from_server_properties(java_sessions, name):
    handshake, seen = java_sessions[name]
    assert handshake, handshake.output
    assert handshake.peer.startswith("CN=kafka,")
    assert seen is not None and seen.startswith(f"CN={name},")


def status_principals(applied) -> dict[str, str | None]:
    result = tlsgen("status", "specs", "--json", cwd=applied.project)
    assert result.returncode == 0, result.stderr
    return {item["name"]: item["kafka_principal"] for item in json.loads(result.stdout)["items"]}


@pytest.fixture(scope="module")
def principals(applied) -> dict[str, str | None]:
    return status_principals(applied)


@pytest.mark.parametrize("name", ["app", "app-pem", "app-hash", "app-spaces", "mongo-sink", "mongo-sink-jks"])
def test_status_kafka_principal_is_what_java_sees(applied, java_sessions, principals, name):
    handshake, seen = java_sessions[name]
    assert handshake and seen, handshake.output
    assert principals[name] == f"User:{seen}"


def test_java_sees_the_subjects_with_their_rfc_2253_escapes(java_sessions):
    """The subjects really carry the characters the principal test is about, as Kafka would see them."""
    assert java_sessions["app"][1] == 'CN=app,OU=R\\+D \\"Labs\\"\\; \\<Ops\\>,O=Acme\\, Inc.,L=Zürich,C=GB'
    assert java_sessions["app-hash"][1] == "CN=app-hash,OU=Team\\#1 (a\\=b),O=Acme\\, Inc.,C=GB"
    assert java_sessions["app-spaces"][1] == ("CN=app-spaces,OU=\\ \\ two leading,O=Acme\\, Inc.,"
                                              "L=ends in \\\\\\ ,C=GB")


# --- tlsgen verify ----------------------------------------------------------------------------------

def verify(project: Path, out: Path):
    result = tlsgen("verify", "specs", "--out", out, cwd=project)
    problems = [line for line in result.stdout.splitlines() if line.startswith("problem:")]
    return result, problems


@pytest.fixture
def damaged(applied, tmp_path) -> Path:
    """A copy of the applied out/ (modes and owners kept: the images' users own their directories) to break."""
    copy = tmp_path / "out"
    subprocess.run(["cp", "-a", str(applied.out), str(copy)], check=True)
    return copy


def test_verify_passes_a_fresh_apply(applied):
    result, problems = verify(applied.project, applied.out)
    assert result.returncode == 0 and problems == [], result.stdout + result.stderr
    assert "no problems" in result.stdout


@pytest.mark.parametrize("damage", ["truncate", "garble"])
@pytest.mark.parametrize("store", ["clients/app/keystore.p12", "workers/mongo-sink-jks/keystore.jks"])
def test_verify_names_a_corrupted_keystore(applied, damaged, store, damage):
    path = damaged / store
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[:len(data) // 2]
    else:
        middle = len(data) // 2
        data[middle:middle + 32] = bytes(b ^ 0x5A for b in data[middle:middle + 32])
    path.write_bytes(bytes(data))
    result, problems = verify(applied.project, damaged)
    assert result.returncode == 1, result.stdout + result.stderr
    assert len(problems) == 1 and str(path) in problems[0], result.stdout


@pytest.mark.parametrize("entity", ["clients/app", "workers/mongo-sink-jks", "brokers/kafka"])
def test_verify_names_the_truststore_a_wrong_password_file_cannot_open(applied, damaged, entity):
    (damaged / entity / "truststore.password").write_text("WrongPassword0123456789abcdefghij")
    result, problems = verify(applied.project, damaged)
    assert result.returncode == 1, result.stdout + result.stderr
    # Two files differ from what tlsgen wrote, one line each: the store a consumer cannot open, and the
    # password file that was edited.
    assert len(problems) == 2, result.stdout
    assert f"{damaged / entity}/truststore." in problems[0] and "does not open with truststore.password" in problems[0]
    assert f"{damaged / entity}/truststore.password: edited by hand" in problems[1], problems[1]


@pytest.fixture(scope="module")
def expired(tmp_path_factory) -> Path:
    """A client certificate valid for 30 days, issued 400 days ago (Python API with a moved clock),
    and a broker it connects to whose certificate (800 days) is still valid."""
    from tlsgen.reconcile.apply import apply_plan
    from tlsgen.reconcile.outdir import OutDir
    from tlsgen.reconcile.planner import Options, make_plan
    from tlsgen.model.read import read_spec

    project = write_project(tmp_path_factory.mktemp("expired"), {
        "version": 1, "output": "../out", "cas": {"root": {"validity": "3650d"}},
        "brokers": {"kafka": {"issuer": "root", "key": "ec-p256", "validity": "800d"}},
        "clients": {"old-client": {"issuer": "root", "key": "ec-p256", "validity": "30d", "renew_before": "7d",
                                   "brokers": ["kafka"]}},
        "compose": {"file": None}})
    spec = read_spec(project / "specs")
    out = OutDir(Path(spec.output))
    with out.lock(30):
        apply_plan(make_plan(spec, out, Options(now=datetime.now(timezone.utc) - timedelta(days=400))), out)
    return project


def test_verify_reports_an_expired_certificate(expired):
    result, problems = verify(expired, expired / "out")
    assert result.returncode == 1, result.stdout + result.stderr
    crt = expired / "out/clients/old-client/old-client.crt"
    assert any(str(crt) in p and "expired" in p for p in problems), result.stdout


def test_verify_reports_an_expired_certificate_in_one_line(expired):
    """Not also as a chain.pem that "does not verify", nor as a broker's ca.pem that "does not trust" it."""
    result, problems = verify(expired, expired / "out")
    assert result.returncode == 1
    assert len(problems) == 1, result.stdout
