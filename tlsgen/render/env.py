"""Env files (`<name>.env`, loaded by the compose override's env_file) for brokers, clients and
workers, following the env conventions of the entity's `image:`.

The two Kafka images share one convention for a broker's TLS (both read it in a `configure`
script before start):
- confluent: confluentinc/kafka-images, kafka/include/etc/confluent/docker/configure, then
  kafka.properties.template turns every other KAFKA_* variable into a property (ub envToProps);
- apache: apache/kafka, docker/resources/common-scripts/configure, then
  core/src/main/scala/kafka/docker/KafkaDockerWrapper.scala does the same conversion.
Once KAFKA_ADVERTISED_LISTENERS holds an `SSL://` listener, both require KAFKA_SSL_KEYSTORE_FILENAME,
KAFKA_SSL_KEYSTORE_CREDENTIALS and KAFKA_SSL_KEY_CREDENTIALS (names inside /etc/kafka/secrets),
read the passwords out of the credentials files into ssl.keystore.password / ssl.key.password,
and, only when KAFKA_SSL_CLIENT_AUTH is required or requested, do the same for
KAFKA_SSL_TRUSTSTORE_FILENAME / KAFKA_SSL_TRUSTSTORE_CREDENTIALS. Variable names map to properties
by `_` → `.`, `__` → `_`, `___` → `-` (ub ConvertKey; the wrapper's replace chain).

Kafka Connect: confluentinc/cp-kafka-connect (kafka-connect-base/include/etc/confluent/docker/
kafka-connect.properties.template) turns every CONNECT_* variable into a worker property the same
way, and its launch runs connect-distributed, whose kafka-run-class.sh passes $KAFKA_OPTS to the
JVM unquoted. The apache/kafka image has no Connect launcher: there a worker runs
connect-distributed.sh with worker.properties, and only KAFKA_OPTS comes from the environment.
"""

from __future__ import annotations

from ..model import Entity, Spec
from .connect import kafka_opts, worker_settings
from .kafka import ENABLED_PROTOCOLS, ENDPOINT_IDENTIFICATION
from ..layout import KEY_PASSWORD, KEYSTORE_PASSWORD, TRUSTSTORE_PASSWORD, keystore_file, truststore_file
from .acls import broker_env_entries
from .inputs import STORE_TYPES, WRITTEN_BY, Passwords, advertised_host, bootstrap_servers, required
from .syntax import Entry, dotenv

IMAGE_NAMES = {"confluent": "confluentinc/cp-kafka", "apache": "apache/kafka"}
KAFKA_OPTS = "KAFKA_OPTS"


def env_name(prefix: str, prop: str) -> str:
    """The variable the Confluent and Apache images turn into `prop` (the inverse of ub ConvertKey)."""
    return prefix + prop.replace("_", "__").replace("-", "___").replace(".", "_").upper()


def image_env_problem(keystore: str, truststore: str, client_auth: str | None) -> str | None:
    """Why the image's env convention cannot carry a broker's stores of these formats, or None.

    The configure scripts always set ssl.keystore.password from KAFKA_SSL_KEYSTORE_CREDENTIALS
    (and, with client auth, ssl.truststore.password), and Kafka refuses either password for a PEM
    store (DefaultSslEngineFactory)."""
    if keystore == "pem":
        return ("keystore: pem cannot go through the image's env: its configure script always sets "
                "ssl.keystore.password, which Kafka refuses for a PEM keystore")
    if truststore == "pem" and client_auth in ("required", "requested"):
        return ("truststore: pem with client_auth cannot go through the image's env: its configure script "
                "then sets ssl.truststore.password, which Kafka refuses for a PEM truststore")
    return None


def render_broker_env(spec: Spec, e: Entity, pw: Passwords) -> str:
    if e.image not in IMAGE_NAMES:
        return dotenv([
            WRITTEN_BY,
            f"Kafka broker {e.name}. Nothing to set here: with image: none no image script reads SSL",
            f"settings from the environment; the broker takes them from {e.in_mount('server.properties')}.",
        ])
    image, host = IMAGE_NAMES[e.image], f"SSL://{advertised_host(e)}:{e.port}"
    head: list[Entry] = [
        WRITTEN_BY,
        f"Kafka broker {e.name}, for the {image} image.",
        "The image reads these once KAFKA_ADVERTISED_LISTENERS has an SSL:// listener. Listeners stay",
        f"yours: add {host} to KAFKA_ADVERTISED_LISTENERS (and SSL:SSL to",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP if you set one). Values in the service's environment:",
        "win over this file.",
    ]
    problem = image_env_problem(e.keystore, e.truststore, e.client_auth)
    if problem is not None:
        return dotenv([*head, "", f"Nothing set: {problem}.",
                         f"Use {e.in_mount('server.properties')} instead, or pkcs12/jks stores."])
    trust_type = STORE_TYPES[e.truststore]
    if e.client_auth in ("required", "requested"):
        trust: list[Entry] = [
            ("KAFKA_SSL_TRUSTSTORE_FILENAME", truststore_file(e)),
            ("KAFKA_SSL_TRUSTSTORE_CREDENTIALS", TRUSTSTORE_PASSWORD),
        ]
    else:
        # Without client auth the scripts skip the truststore, but the broker still needs it to
        # verify the other brokers when they replicate over SSL: set the properties directly.
        trust = ["The image loads the truststore only with client auth; set directly for inter-broker SSL:",
                 ("KAFKA_SSL_TRUSTSTORE_LOCATION", e.in_mount(truststore_file(e)))]
        if e.truststore != "pem":
            trust.append(("KAFKA_SSL_TRUSTSTORE_PASSWORD", required(pw.truststore, "truststore", e)))
    return dotenv([
        *head,
        ("KAFKA_SSL_KEYSTORE_FILENAME", keystore_file(e)),
        ("KAFKA_SSL_KEYSTORE_CREDENTIALS", KEYSTORE_PASSWORD),
        ("KAFKA_SSL_KEY_CREDENTIALS", KEY_PASSWORD),
        ("KAFKA_SSL_KEYSTORE_TYPE", STORE_TYPES[e.keystore]),
        *trust,
        ("KAFKA_SSL_TRUSTSTORE_TYPE", trust_type),
        ("KAFKA_SSL_CLIENT_AUTH", e.client_auth or "required"),
        ("KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM", ENDPOINT_IDENTIFICATION),
        ("KAFKA_SSL_ENABLED_PROTOCOLS", ENABLED_PROTOCOLS),
        *broker_env_entries(spec, env_name),
    ])


def render_client_env(spec: Spec, e: Entity, pw: Passwords) -> str:
    # Kafka's Java clients build their own SSLContext from ssl.* settings and ignore the JVM's
    # javax.net.ssl.* defaults, and neither image maps environment variables to a client's config
    # (their scripts configure a broker). So a client has nothing to take from here.
    servers = bootstrap_servers(spec, e) or "HOST:PORT"
    return dotenv([
        WRITTEN_BY,
        f"Kafka client {e.name}.",
        "Nothing to set here: Kafka clients read TLS settings from a properties file, not the environment.",
        f"  kafka-console-consumer --bootstrap-server {servers} --topic TOPIC"
        f" --consumer.config {e.in_mount('client.properties')}",
        f"librdkafka-based clients: {e.in_mount('librdkafka.properties')}.",
    ])


def render_worker_env(spec: Spec, e: Entity, pw: Passwords) -> str:
    opts: list[Entry] = [
        "The JVM default SSLContext, through which connectors such as MongoDB's reach their servers.",
        "A KAFKA_OPTS in the service's environment: wins over this file; then add these options to it.",
        (KAFKA_OPTS, kafka_opts(e, pw)),
    ]
    if e.image != "confluent":
        return dotenv([
            WRITTEN_BY,
            f"Kafka Connect worker {e.name}.",
            f"The worker reads its Kafka settings from {e.in_mount('worker.properties')}",
            "(connect-distributed.sh <that file>); only KAFKA_OPTS comes from the environment.",
            *opts,
        ], words=frozenset({KAFKA_OPTS}))
    connect: list[Entry] = [(env_name("CONNECT_", key), value)
                            for key, value in _settings_only(worker_settings(spec, e, pw))]
    return dotenv([
        WRITTEN_BY,
        f"Kafka Connect worker {e.name}, for the confluentinc/cp-kafka-connect image.",
        "The image turns each CONNECT_* variable into a worker property (CONNECT_SSL_KEYSTORE_LOCATION is",
        "ssl.keystore.location); CONNECT_GROUP_ID, the *_STORAGE_TOPIC ones, converters and",
        "CONNECT_REST_ADVERTISED_HOST_NAME stay yours. Values in the service's environment: win.",
        *connect,
        *opts,
    ], words=frozenset({KAFKA_OPTS}))


def _settings_only(entries: list[Entry]) -> list[tuple[str, str]]:
    return [entry for entry in entries if isinstance(entry, tuple)]
