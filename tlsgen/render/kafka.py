"""Kafka's own Java configs: a broker's SSL listener (server.properties) and a Java client's
client.properties.

Every name written here is one of Kafka's documented configs: SslConfigs.java,
BrokerSecurityConfigs.java and CommonClientConfigs.java (clients/), SocketServerConfigs.java and
ReplicationConfigs.java (server/) in apache/kafka. tests/test_render.py holds that list and checks
every key against it.
"""

from __future__ import annotations

from ..model import Entity, Spec
from ..layout import keystore_file, truststore_file
from .acls import server_properties_entries
from .inputs import STORE_TYPES, WRITTEN_BY, Passwords, advertised_host, bootstrap_servers, required
from .syntax import Entry, java_properties

# Kafka's default on Java 11+ (SslConfigs DEFAULT_SSL_ENABLED_PROTOCOLS), written out so a broker's
# protocols do not depend on its Kafka version: before 2.5 the default also enabled TLSv1.1 and
# TLSv1. TLSv1.3 first states the preference.
ENABLED_PROTOCOLS = "TLSv1.3,TLSv1.2"
# Hostname verification: the peer's certificate must name the host that was dialled. Kafka's
# default since 2.0, written out because tutorials (and the apache/kafka image's SSL example)
# blank it, and the SPEC promises it on.
ENDPOINT_IDENTIFICATION = "https"


def ssl_settings(e: Entity, pw: Passwords) -> list[Entry]:
    """The ssl.* settings for an entity's own keystore and truststore, as Kafka's
    DefaultSslEngineFactory wants them for each store type."""
    settings: list[Entry] = [
        ("ssl.keystore.type", STORE_TYPES[e.keystore]),
        ("ssl.keystore.location", e.in_mount(keystore_file(e))),
    ]
    # A PEM keystore takes only the key's password: Kafka refuses ssl.keystore.password with
    # type PEM ("SSL key store password cannot be specified with PEM format").
    if e.keystore != "pem":
        settings.append(("ssl.keystore.password", required(pw.keystore, "keystore", e)))
    settings.append(("ssl.key.password", required(pw.key, "key", e)))
    settings += [
        ("ssl.truststore.type", STORE_TYPES[e.truststore]),
        ("ssl.truststore.location", e.in_mount(truststore_file(e))),
    ]
    # Likewise a PEM truststore has no password ("SSL trust store password cannot be specified
    # for PEM format").
    if e.truststore != "pem":
        settings.append(("ssl.truststore.password", required(pw.truststore, "truststore", e)))
    settings.append(("ssl.endpoint.identification.algorithm", ENDPOINT_IDENTIFICATION))
    return settings


def client_settings(spec: Spec, e: Entity, pw: Passwords) -> list[Entry]:
    """What a Java client (or a Connect worker) needs to reach the brokers it names over mutual TLS."""
    servers = bootstrap_servers(spec, e)
    head: list[Entry] = [("bootstrap.servers", servers)] if servers else [
        f"bootstrap.servers: {e.name} names no brokers in the spec; add host:port of yours"]
    return head + [("security.protocol", "SSL")] + ssl_settings(e, pw)


def render_server_properties(spec: Spec, e: Entity, pw: Passwords) -> str:
    port, host = e.port, advertised_host(e)
    return java_properties([
        WRITTEN_BY,
        f"Kafka broker {e.name}: its SSL listener on port {port}. Paths are where the broker sees them.",
        "",
        "Kafka takes one listeners and one advertised.listeners line: if this broker has other",
        "listeners (PLAINTEXT, CONTROLLER, ...), merge them into one line each, for example",
        f"  listeners=PLAINTEXT://0.0.0.0:9092,SSL://0.0.0.0:{port}",
        "A listener named SSL uses protocol SSL by default; a listener.security.protocol.map of your",
        "own must keep SSL:SSL.",
        ("listeners", f"SSL://0.0.0.0:{port}"),
        ("advertised.listeners", f"SSL://{host}:{port}"),
        "",
        ("ssl.client.auth", e.client_auth or "required"),
        *ssl_settings(e, pw),
        ("ssl.enabled.protocols", ENABLED_PROTOCOLS),
        *server_properties_entries(spec),
        "",
        "Brokers replicate over the listener security.inter.broker.protocol names (PLAINTEXT unless",
        "set). It is left to you: Kafka refuses it next to inter.broker.listener.name, and a broker",
        "with a PLAINTEXT listener may keep replication there. To replicate over this listener:",
        "  security.inter.broker.protocol=SSL",
    ])


def render_client_properties(spec: Spec, e: Entity, pw: Passwords) -> str:
    servers = bootstrap_servers(spec, e) or "HOST:PORT"
    return java_properties([
        WRITTEN_BY,
        f"Kafka client {e.name}, usable as it is by the Java tools, for example",
        f"  kafka-console-consumer --bootstrap-server {servers} --topic TOPIC"
        f" --consumer.config {e.in_mount('client.properties')}",
        "(--producer.config, --command-config for the admin tools).",
        *client_settings(spec, e, pw),
    ])
