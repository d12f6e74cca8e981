"""tlsgen.render: the config files each consumer reads, checked line by line and against the names
the consumers document."""

from __future__ import annotations

import dataclasses
import re
import shlex
from pathlib import Path

import pytest
import yaml

from tlsgen.model import Compose
from tlsgen import layout
from tlsgen.render import RENDERERS, Passwords, render_compose, render_entity_files
from tlsgen.render.env import env_name, image_env_problem
from tlsgen.render.syntax import java_value
from tlsgen.model.read import read_spec

REPO = Path(__file__).resolve().parent.parent
PW = Passwords(keystore="Ks-pass.1", truststore="Ts-pass.2", key="Ks-pass.1")
PEM_PW = Passwords(keystore=None, truststore=None, key="Key-pass.3")

# Kafka's documented config names that tlsgen may write, from apache/kafka at
# 1eb7644349cb07139d6a3c1ad1986979647cac99:
#   clients/src/main/java/org/apache/kafka/common/config/SslConfigs.java (every *_CONFIG),
#   clients/src/main/java/org/apache/kafka/common/config/internals/BrokerSecurityConfigs.java (ssl.*),
#   clients/src/main/java/org/apache/kafka/clients/CommonClientConfigs.java,
#   server/src/main/java/org/apache/kafka/network/SocketServerConfigs.java,
#   server/src/main/java/org/apache/kafka/server/config/ReplicationConfigs.java,
#   metadata/src/main/java/org/apache/kafka/metadata/authorizer/StandardAuthorizer.java (super.users).
KAFKA_DOCUMENTED = frozenset("""
    ssl.protocol ssl.provider ssl.cipher.suites ssl.enabled.protocols ssl.keystore.type ssl.keystore.key
    ssl.keystore.certificate.chain ssl.truststore.certificates ssl.keystore.location ssl.keystore.password
    ssl.key.password ssl.truststore.type ssl.truststore.location ssl.truststore.password
    ssl.keymanager.algorithm ssl.trustmanager.algorithm ssl.endpoint.identification.algorithm
    ssl.secure.random.implementation ssl.engine.factory.class
    ssl.principal.mapping.rules ssl.client.auth ssl.allow.dn.changes ssl.allow.san.changes super.users
    bootstrap.servers security.protocol
    listeners advertised.listeners listener.security.protocol.map
    security.inter.broker.protocol inter.broker.listener.name
""".split())
# Kafka Connect passes these prefixes' settings to the clients it makes for connectors
# (connect/runtime/.../Worker.java: originalsWithPrefix("producer."), ("consumer."), ("admin.")).
CONNECT_PREFIXES = ("producer.", "consumer.", "admin.")
# The image conventions' own variables (file names inside /etc/kafka/secrets), read by the images'
# configure scripts rather than by Kafka: confluentinc/kafka-images kafka/include/etc/confluent/
# docker/configure, apache/kafka docker/resources/common-scripts/configure.
IMAGE_CONVENTION_VARS = frozenset({"KAFKA_SSL_KEYSTORE_FILENAME", "KAFKA_SSL_KEYSTORE_CREDENTIALS",
                                   "KAFKA_SSL_KEY_CREDENTIALS", "KAFKA_SSL_TRUSTSTORE_FILENAME",
                                   "KAFKA_SSL_TRUSTSTORE_CREDENTIALS"})
# librdkafka's global configuration properties for bootstrap and TLS, from confluentinc/librdkafka
# CONFIGURATION.md at 4c3b017c3de8d9c10de12b9eec0ea688e8d5787d.
LIBRDKAFKA_DOCUMENTED = frozenset("""
    bootstrap.servers metadata.broker.list security.protocol ssl.cipher.suites ssl.curves.list
    ssl.sigalgs.list ssl.key.location ssl.key.password ssl.key.pem ssl.certificate.location
    ssl.certificate.pem ssl.ca.location ssl.ca.pem ssl.ca.certificate.stores ssl.crl.location
    ssl.keystore.location ssl.keystore.password ssl.providers ssl.engine.location ssl.engine.id
    enable.ssl.certificate.verification ssl.endpoint.identification.algorithm
""".split())
# What the reconciler writes in an entity directory (SPEC.md, "The output tree").
STORE_FILES = {"keystore.p12", "keystore.jks", "keystore.pem", "truststore.p12", "truststore.jks", "ca.pem",
               "chain.pem", "keystore.password", "truststore.password", "key.password"}


@pytest.fixture(scope="module")
def callisto():
    return read_spec(REPO / "specs")


def settings(text: str) -> list[tuple[str, str]]:
    """(key, value) of every non-comment line, in order."""
    out = []
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, line
            out.append((key, value))
    return out


def commented_settings(text: str) -> list[str]:
    """Keys of settings shown in comments as examples (`#   key=value`)."""
    return re.findall(r"^#\s+([a-z]+(?:\.[a-z]+)+)=", text, re.M)


def files(spec, name, pw=PW) -> dict[str, str]:
    return render_entity_files(spec, spec.entities[name], pw)


def with_entity(spec, name, **changes):
    entities = dict(spec.entities)
    entities[name] = dataclasses.replace(entities[name], **changes)
    return dataclasses.replace(spec, entities=entities)


def write_spec(tmp_path: Path, body: str):
    (tmp_path / "specs").mkdir(exist_ok=True)
    (tmp_path / "specs/tlsgen.yaml").write_text("version: 1\noutput: ../out\n"
                                                 "cas:\n  root: {}\n" + body)
    return read_spec(tmp_path / "specs")


# --- the interface ------------------------------------------------------------------------------

def test_files_per_kind(callisto):
    assert set(files(callisto, "kafka")) == {"server.properties", "kafka.env"}
    assert set(files(callisto, "kafka-tester")) == {"client.properties", "librdkafka.properties", "kafka-tester.env"}
    assert set(files(callisto, "mongo-sink")) == {"worker.properties", "mongo-sink.env"}
    assert set(files(callisto, "mongodb")) == {"mongodb.env"}


def test_every_config_file_of_the_layout_has_a_renderer_and_no_renderer_is_unused():
    wanted = {(kind, config) for kind, configs in layout.CONFIGS.items() for config in configs}
    assert set(RENDERERS) == wanted


def test_passwords_never_show_in_reprs():
    assert "Ks-pass" not in repr(PW) and "Ts-pass" not in repr(PW) and "Key-pass" not in repr(PEM_PW)


def test_same_input_same_bytes(callisto):
    for e in callisto.entities.values():
        assert render_entity_files(callisto, e, PW) == render_entity_files(callisto, e, PW)
    assert render_compose(callisto) == render_compose(callisto)


# --- Kafka's Java configs -----------------------------------------------------------------------

SSL_PKCS12 = [
    ("ssl.keystore.type", "PKCS12"),
    ("ssl.keystore.location", "/etc/kafka/secrets/keystore.p12"),
    ("ssl.keystore.password", "Ks-pass.1"),
    ("ssl.key.password", "Ks-pass.1"),
    ("ssl.truststore.type", "PKCS12"),
    ("ssl.truststore.location", "/etc/kafka/secrets/truststore.p12"),
    ("ssl.truststore.password", "Ts-pass.2"),
    ("ssl.endpoint.identification.algorithm", "https"),
]


def test_server_properties(callisto):
    assert settings(files(callisto, "kafka")["server.properties"]) == [
        ("listeners", "SSL://0.0.0.0:9093"),
        ("advertised.listeners", "SSL://kafka:9093"),
        ("ssl.client.auth", "required"),
        *SSL_PKCS12,
        ("ssl.enabled.protocols", "TLSv1.3,TLSv1.2"),
    ]
    text = files(callisto, "kafka")["server.properties"]
    assert "#   security.inter.broker.protocol=SSL" in text  # offered, not set: see kafka.py


def test_client_properties_work_with_the_console_consumer(callisto):
    text = files(callisto, "kafka-tester")["client.properties"]
    assert settings(text) == [("bootstrap.servers", "kafka:9093"), ("security.protocol", "SSL"), *SSL_PKCS12]
    assert "--consumer.config /etc/kafka/secrets/client.properties" in text


def test_worker_properties_repeat_the_client_settings_under_each_prefix(callisto):
    got = settings(files(callisto, "mongo-sink")["worker.properties"])
    own = [("bootstrap.servers", "kafka:9093"), ("security.protocol", "SSL"), *SSL_PKCS12]
    prefixed = [("security.protocol", "SSL"), *SSL_PKCS12]
    assert got == own + [(p + k, v) for p in CONNECT_PREFIXES for k, v in prefixed]


def test_pem_stores_take_no_store_password(callisto):
    spec = with_entity(callisto, "kafka-tester", keystore="pem", truststore="pem")
    assert settings(files(spec, "kafka-tester", PEM_PW)["client.properties"])[2:] == [
        ("ssl.keystore.type", "PEM"),
        ("ssl.keystore.location", "/etc/kafka/secrets/keystore.pem"),
        ("ssl.key.password", "Key-pass.3"),
        ("ssl.truststore.type", "PEM"),
        ("ssl.truststore.location", "/etc/kafka/secrets/ca.pem"),
        ("ssl.endpoint.identification.algorithm", "https"),
    ]


def test_jks_stores(callisto):
    spec = with_entity(callisto, "kafka", keystore="jks", truststore="jks", client_auth="requested")
    got = dict(settings(files(spec, "kafka")["server.properties"]))
    assert got["ssl.keystore.type"] == got["ssl.truststore.type"] == "JKS"
    assert got["ssl.keystore.location"] == "/etc/kafka/secrets/keystore.jks"
    assert got["ssl.truststore.location"] == "/etc/kafka/secrets/truststore.jks"
    assert got["ssl.client.auth"] == "requested"


def test_missing_password_for_a_store_that_needs_one_is_a_bug_not_a_blank(callisto):
    with pytest.raises(ValueError, match="keystore"):
        files(callisto, "kafka", Passwords(keystore=None, truststore="x", key="x"))


def pw_for(e) -> Passwords:
    """The passwords the planner hands over: none for a pem store."""
    return Passwords(keystore=None if e.keystore == "pem" else PW.keystore,
                     truststore=None if e.truststore == "pem" else PW.truststore, key=PW.key)


def _variants(callisto):
    """The example spec, and each kind with every store format and client_auth."""
    yield callisto
    for fmt in ("jks", "pem"):
        for name in ("kafka", "kafka-tester"):
            yield with_entity(callisto, name, keystore=fmt, truststore=fmt)
    yield with_entity(callisto, "kafka", truststore="pem", client_auth="none")
    for auth in ("none", "requested"):
        yield with_entity(callisto, "kafka", client_auth=auth)
    for image in ("apache", "none"):
        spec = callisto
        for name in ("kafka", "kafka-tester", "mongo-sink"):
            spec = with_entity(spec, name, image=image)
        yield spec


def _rendered(callisto):
    for spec in _variants(callisto):
        for e in spec.entities.values():
            yield spec, e, render_entity_files(spec, e, pw_for(e))


def test_every_kafka_key_is_a_documented_kafka_config(callisto):
    seen = set()
    for _, e, rendered in _rendered(callisto):
        for name, text in rendered.items():
            if name in ("server.properties", "client.properties", "worker.properties"):
                keys = [k for k, _ in settings(text)] + commented_settings(text)
            elif name.endswith(".env"):  # the variables the images turn into properties
                keys = [_property_of(k) for k, _ in settings(text) if _property_of(k)]
            else:
                continue
            for key in keys:
                for prefix in CONNECT_PREFIXES:
                    key = key.removeprefix(prefix)
                assert key in KAFKA_DOCUMENTED, f"{e.name}/{name}: {key}"
                seen.add(key)
    assert {"listeners", "advertised.listeners", "ssl.client.auth", "bootstrap.servers",
            "security.protocol", "ssl.keystore.location"} <= seen


def _property_of(var: str) -> str | None:
    """The property an image makes of an env variable (ub ConvertKey), or None for the others."""
    if var in IMAGE_CONVENTION_VARS or var == "KAFKA_OPTS":
        return None
    prefix = next(p for p in ("KAFKA_", "CONNECT_") if var.startswith(p))
    rest = var[len(prefix):].replace("___", "\0").replace("__", "\1").replace("_", ".")
    return rest.replace("\0", "-").replace("\1", "_").lower()


def test_env_names_invert_the_images_conversion():
    for prop in ("ssl.keystore.location", "producer.ssl.key.password", "a_b.c-d"):
        assert _property_of(env_name("CONNECT_", prop)) == prop


def test_java_properties_escape_what_properties_load_would_eat():
    assert java_value("/etc/k\\s") == "/etc/k\\\\s"
    assert java_value("/etc/kafké") == "/etc/kafk\\u00e9"
    assert java_value(" x") == "\\ x"
    assert java_value("p=a:s!s#") == "p=a:s!s#"


def test_every_value_is_written_in_printable_ascii():
    """Plain values go out as they are, everything else escaped, in printable ASCII only (what ISO-8859-1
    and every editor keep). That java.util.Properties.load reads each back as it was is checked with
    Java itself (interop/test_consumer_configs.py)."""
    for code in [*range(0x180), 0x2028, 0xFEFF, 0x1F600]:
        ch = chr(code)
        for value in (ch, f" {ch}", f"a{ch}", f"{ch}\\ b", f"{ch}{ch} "):
            written = java_value(value)
            assert all(" " <= c <= "~" for c in written), (value, written)


# --- librdkafka ---------------------------------------------------------------------------------

def test_librdkafka_properties(callisto):
    assert settings(files(callisto, "kafka-tester")["librdkafka.properties"]) == [
        ("bootstrap.servers", "kafka:9093"),
        ("security.protocol", "ssl"),
        ("ssl.ca.location", "/etc/kafka/secrets/ca.pem"),
        ("ssl.certificate.location", "/etc/kafka/secrets/chain.pem"),
        ("ssl.key.location", "/etc/kafka/secrets/kafka-tester.key"),
        ("ssl.endpoint.identification.algorithm", "https"),
    ]


def test_every_librdkafka_key_is_documented_and_every_path_is_pem(callisto):
    for spec in _variants(callisto):
        text = files(spec, "kafka-tester", pw_for(spec.entities["kafka-tester"]))["librdkafka.properties"]
        for key, value in settings(text):
            assert key in LIBRDKAFKA_DOCUMENTED, key
            if key.endswith(".location"):
                assert value.endswith((".pem", ".key")), value


def test_librdkafka_accepts_the_names_and_values(callisto):
    confluent_kafka = pytest.importorskip("confluent_kafka")
    conf = dict(settings(files(callisto, "kafka-tester")["librdkafka.properties"]))
    quiet = {"bootstrap.servers": "127.0.0.1:9", "log_level": 0}
    # librdkafka checks every name and enum value when a client is made...
    confluent_kafka.Producer({**{k: v for k, v in conf.items() if not k.endswith(".location")}, **quiet})
    # ...and opens the files then: these exist only inside the container, so it fails on the file.
    for key in [k for k in conf if k.endswith(".location")]:
        with pytest.raises(confluent_kafka.KafkaException, match=re.escape(key) + " failed"):
            confluent_kafka.Producer({key: conf[key], "security.protocol": "ssl", **quiet})


# --- paths --------------------------------------------------------------------------------------

def test_every_path_is_inside_the_mount_and_names_a_file_tlsgen_writes(callisto):
    moved = with_entity(callisto, "mongo-sink", mount="/opt/connect/tls", image="none")
    for _, e, rendered in [*_rendered(moved), *_rendered(callisto)]:
        own = STORE_FILES | {f"{e.name}.key", f"{e.name}.crt", f"{e.name}.pem", *rendered}
        for name, text in rendered.items():
            values = [v for _, v in settings(text)]
            values += [w.partition("=")[2] for v in values for w in v.split() if w.startswith("-D")]
            for value in values:
                if value.startswith("/"):
                    assert value.startswith(e.mount + "/"), (e.name, name, value)
                    assert value[len(e.mount) + 1:] in own, (e.name, name, value)
            for key, value in settings(text):
                if key.endswith(("_FILENAME", "_CREDENTIALS")):  # names inside /etc/kafka/secrets
                    assert e.mount == "/etc/kafka/secrets" and value in own, (e.name, key, value)


# --- env files ----------------------------------------------------------------------------------

def test_worker_env_kafka_opts(callisto):
    env = dict(settings(files(callisto, "mongo-sink")["mongo-sink.env"]))
    opts = env["KAFKA_OPTS"]
    words = opts.split(" ")
    assert shlex.split(opts) == words  # the image's shell word-splits it: nothing to quote or escape
    assert words == [
        "-Djavax.net.ssl.trustStore=/etc/kafka/secrets/truststore.p12",
        "-Djavax.net.ssl.trustStorePassword=Ts-pass.2",
        "-Djavax.net.ssl.trustStoreType=PKCS12",
        "-Djavax.net.ssl.keyStore=/etc/kafka/secrets/keystore.p12",
        "-Djavax.net.ssl.keyStorePassword=Ks-pass.1",
        "-Djavax.net.ssl.keyStoreType=PKCS12",
    ]
    for word in words:
        assert not re.search(r"""["'\s\\$]""", word)


def test_worker_env_for_cp_kafka_connect(callisto):
    env = dict(settings(files(callisto, "mongo-sink")["mongo-sink.env"]))
    assert env["CONNECT_BOOTSTRAP_SERVERS"] == "kafka:9093"
    assert env["CONNECT_SECURITY_PROTOCOL"] == "SSL"
    for prefix in ("CONNECT_", "CONNECT_PRODUCER_", "CONNECT_CONSUMER_", "CONNECT_ADMIN_"):
        assert env[prefix + "SSL_KEYSTORE_LOCATION"] == "/etc/kafka/secrets/keystore.p12"
        assert env[prefix + "SSL_KEYSTORE_PASSWORD"] == "Ks-pass.1"
        assert env[prefix + "SSL_TRUSTSTORE_PASSWORD"] == "Ts-pass.2"
        assert env[prefix + "SSL_ENDPOINT_IDENTIFICATION_ALGORITHM"] == "https"
    assert "CONNECT_PRODUCER_SECURITY_PROTOCOL" in env and "CONNECT_PRODUCER_BOOTSTRAP_SERVERS" not in env


@pytest.mark.parametrize("image", ["apache", "none"])
def test_worker_env_without_connect_image_holds_only_kafka_opts(callisto, image):
    spec = with_entity(callisto, "mongo-sink", image=image)
    assert [k for k, _ in settings(files(spec, "mongo-sink")["mongo-sink.env"])] == ["KAFKA_OPTS"]


@pytest.mark.parametrize("image", ["confluent", "apache"])
def test_broker_env_for_the_kafka_images(callisto, image):
    spec = with_entity(callisto, "kafka", image=image)
    assert settings(files(spec, "kafka")["kafka.env"]) == [
        ("KAFKA_SSL_KEYSTORE_FILENAME", "keystore.p12"),
        ("KAFKA_SSL_KEYSTORE_CREDENTIALS", "keystore.password"),
        ("KAFKA_SSL_KEY_CREDENTIALS", "key.password"),
        ("KAFKA_SSL_KEYSTORE_TYPE", "PKCS12"),
        ("KAFKA_SSL_TRUSTSTORE_FILENAME", "truststore.p12"),
        ("KAFKA_SSL_TRUSTSTORE_CREDENTIALS", "truststore.password"),
        ("KAFKA_SSL_TRUSTSTORE_TYPE", "PKCS12"),
        ("KAFKA_SSL_CLIENT_AUTH", "required"),
        ("KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM", "https"),
        ("KAFKA_SSL_ENABLED_PROTOCOLS", "TLSv1.3,TLSv1.2"),
    ]
    assert "SSL://kafka:9093" in files(spec, "kafka")["kafka.env"]  # what to add to the user's listeners


def test_broker_env_without_client_auth_still_loads_the_truststore(callisto):
    spec = with_entity(callisto, "kafka", client_auth="none")
    env = dict(settings(files(spec, "kafka")["kafka.env"]))
    assert "KAFKA_SSL_TRUSTSTORE_FILENAME" not in env  # the scripts ignore it without client auth
    assert env["KAFKA_SSL_TRUSTSTORE_LOCATION"] == "/etc/kafka/secrets/truststore.p12"
    assert env["KAFKA_SSL_TRUSTSTORE_PASSWORD"] == "Ts-pass.2"
    assert env["KAFKA_SSL_CLIENT_AUTH"] == "none"


def test_broker_env_refuses_what_the_images_cannot_carry(callisto):
    spec = with_entity(callisto, "kafka", keystore="pem")
    text = files(spec, "kafka", Passwords(None, "Ts-pass.2", "Key-pass.3"))["kafka.env"]
    assert settings(text) == [] and "Nothing set" in text
    assert "keystore: pem cannot go through the image's env" in text
    assert image_env_problem("pkcs12", "pem", "required")
    assert image_env_problem("pkcs12", "pem", "requested")
    assert image_env_problem("pkcs12", "pem", "none") is None  # without client auth the truststore password is unset
    assert image_env_problem("jks", "pkcs12", "required") is None
    assert settings(files(callisto, "kafka")["kafka.env"]) != []  # the control: pkcs12 stores go through


def test_env_files_without_settings_say_why(callisto):
    for spec, name in [(with_entity(callisto, "kafka", image="none"), "kafka"),
                       (callisto, "kafka-tester"), (callisto, "mongodb")]:
        text = files(spec, name)[f"{name}.env"]
        assert settings(text) == [] and "Nothing to set here" in text


def test_server_env_shows_mongod_options_for_client_auth(callisto):
    text = files(callisto, "mongodb")["mongodb.env"]
    assert "--tlsCertificateKeyFile /etc/tls/mongodb.pem --tlsCAFile /etc/tls/ca.pem" in text
    assert "AllowConnectionsWithoutCertificates" not in text
    relaxed = files(with_entity(callisto, "mongodb", client_auth="requested"), "mongodb")["mongodb.env"]
    assert "--tlsAllowConnectionsWithoutCertificates" in relaxed


def test_env_values_compose_would_rewrite_are_refused(callisto):
    # v1 expands ${VAR}, v2 expands $VAR and reads $$ as $: no spelling survives both.
    spec = with_entity(callisto, "mongo-sink", mount="/etc/$HOME/tls")
    with pytest.raises(ValueError, match="env_file"):
        files(spec, "mongo-sink")
    # The properties file alone would be fine: Java reads `$` literally.
    spec = with_entity(spec, "mongo-sink", image="none")
    with pytest.raises(ValueError, match=r"\$"):
        files(spec, "mongo-sink")


def test_no_dollar_in_any_env_file(callisto):
    for _, e, rendered in _rendered(callisto):
        for name, text in rendered.items():
            if name.endswith(".env"):
                assert all("$" not in v for _, v in settings(text)), name


# --- small specs from YAML ----------------------------------------------------------------------

def test_specs_from_yaml(tmp_path):
    spec = write_spec(tmp_path, """
brokers:
  b1: {issuer: root, hostnames: ["*.kafka.test", b1.kafka.test], port: 19093, client_auth: none}
  b2: {issuer: root, hostnames: [], ip_addresses: ["::1"], port: 29093, keystore: jks, truststore: jks}
clients:
  app: {issuer: root, brokers: [b1, b2], keystore: pem, truststore: pem}
  lonely: {issuer: root}
""")
    b1 = dict(settings(files(spec, "b1")["server.properties"]))
    assert b1["advertised.listeners"] == "SSL://b1.kafka.test:19093"  # a wildcard cannot be dialled
    assert b1["ssl.client.auth"] == "none"
    assert dict(settings(files(spec, "b2")["server.properties"]))["advertised.listeners"] == "SSL://[::1]:29093"
    app = dict(settings(files(spec, "app", PEM_PW)["client.properties"]))
    assert app["bootstrap.servers"] == "b1.kafka.test:19093,[::1]:29093"
    assert "ssl.keystore.password" not in app and "ssl.truststore.password" not in app
    lonely = files(spec, "lonely")
    assert "bootstrap.servers" not in dict(settings(lonely["client.properties"]))
    assert "# bootstrap.servers: lonely names no brokers" in lonely["client.properties"]
    assert "bootstrap.servers" not in dict(settings(lonely["librdkafka.properties"]))


# --- the compose override -----------------------------------------------------------------------

def test_compose_override(callisto):
    text = render_compose(callisto)
    assert "docker compose -f compose.yaml -f out/compose.tls.yaml up" in text
    assert yaml.safe_load(text) == {"services": {
        "kafka": {"volumes": ["./out/brokers/kafka:/etc/kafka/secrets:ro"],
                  "env_file": ["./out/brokers/kafka/kafka.env"]},
        "kafka-tester": {"volumes": ["./out/clients/kafka-tester:/etc/kafka/secrets:ro"],
                         "env_file": ["./out/clients/kafka-tester/kafka-tester.env"]},
        "mongo-sink": {"volumes": ["./out/workers/mongo-sink:/etc/kafka/secrets:ro"],
                       "env_file": ["./out/workers/mongo-sink/mongo-sink.env"]},
        "mongodb": {"volumes": ["./out/servers/mongodb:/etc/tls:ro"],
                    "env_file": ["./out/servers/mongodb/mongodb.env"]},
    }}


def test_compose_none_without_a_compose_file(callisto):
    assert render_compose(dataclasses.replace(callisto, compose=Compose(None, callisto.compose.project_dir))) is None


def test_compose_skips_service_null_and_merges_shared_services(callisto):
    spec = with_entity(callisto, "kafka-tester", service="kafka", mount="/etc/client")
    spec = with_entity(spec, "mongodb", service=None)
    services = yaml.safe_load(render_compose(spec))["services"]
    assert set(services) == {"kafka", "mongo-sink"}
    assert services["kafka"] == {
        "volumes": ["./out/clients/kafka-tester:/etc/client:ro", "./out/brokers/kafka:/etc/kafka/secrets:ro"],
        "env_file": ["./out/brokers/kafka/kafka.env", "./out/clients/kafka-tester/kafka-tester.env"],
    }


def test_compose_does_not_change_when_the_spec_is_reordered(callisto):
    reordered = dataclasses.replace(callisto, entities=dict(reversed(list(callisto.entities.items()))))
    assert render_compose(reordered) == render_compose(callisto)


def test_compose_paths_are_relative_to_the_project_dir(callisto, tmp_path):
    project = tmp_path / "deploy" / "dev"
    spec = dataclasses.replace(callisto, output=tmp_path / "gen" / "out",
                               compose=Compose("compose/tls.yaml", project))
    text = render_compose(spec)
    assert "-f ../../gen/out/compose/tls.yaml up" in text
    volumes = yaml.safe_load(text)["services"]["kafka"]["volumes"]
    assert volumes == ["../../gen/out/brokers/kafka:/etc/kafka/secrets:ro"]


def test_compose_doubles_dollars_and_quotes_odd_names(callisto, tmp_path):
    spec = with_entity(callisto, "mongodb", mount="/etc/t$ls/", service="on")
    spec = dataclasses.replace(spec, output=tmp_path / "o$t", compose=Compose("compose.tls.yaml", tmp_path))
    services = yaml.safe_load(render_compose(spec))["services"]
    assert services["on"]["volumes"] == ["./o$$t/servers/mongodb:/etc/t$$ls:ro"]  # a YAML 1.1 bool, quoted
    assert services["on"]["env_file"] == ["./o$$t/servers/mongodb/mongodb.env"]


def test_compose_without_services_still_merges_in_compose_v1(callisto):
    spec = callisto
    for name in callisto.entities:
        spec = with_entity(spec, name, service=None)
    assert yaml.safe_load(render_compose(spec)) == {"version": "3.8", "services": {}}


def test_compose_uses_the_long_volume_form_for_a_path_with_a_colon(callisto):
    spec = with_entity(callisto, "mongodb", mount="/etc/mongo:tls")
    assert yaml.safe_load(render_compose(spec))["services"]["mongodb"]["volumes"] == [
        {"type": "bind", "source": "./out/servers/mongodb", "target": "/etc/mongo:tls", "read_only": True}]
