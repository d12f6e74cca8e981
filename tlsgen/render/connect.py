"""Kafka Connect: a worker's worker.properties, and the KAFKA_OPTS that give its connectors' JVM
default SSLContext (the MongoDB connector's way to MongoDB) the worker's keystore and truststore.
"""

from __future__ import annotations

from ..model import Entity, Spec
from .kafka import client_settings, ssl_settings
from ..layout import keystore_file, truststore_file
from .inputs import STORE_TYPES, WRITTEN_BY, Passwords, required
from .syntax import Entry, java_properties

# The clients a worker makes for its connectors read only settings under these prefixes, not the
# worker's own (Worker.baseProducerConfigs / baseConsumerConfigs / adminConfigs in apache/kafka
# connect/runtime); bootstrap.servers alone is passed down from the worker.
CLIENT_PREFIXES = ("producer.", "consumer.", "admin.")


def worker_settings(spec: Spec, e: Entity, pw: Passwords) -> list[Entry]:
    """Every worker.properties setting, in order: the worker's own, then each prefixed copy."""
    own = client_settings(spec, e, pw)
    prefixed = [("security.protocol", "SSL"), *ssl_settings(e, pw)]
    out = list(own)
    for prefix in CLIENT_PREFIXES:
        out.append("")
        out.extend((prefix + key, value) for key, value in prefixed)
    return out


def render_worker_properties(spec: Spec, e: Entity, pw: Passwords) -> str:
    return java_properties([
        WRITTEN_BY,
        f"Kafka Connect worker {e.name}. Merge into your worker config: group.id, the *.storage.topic",
        "settings, converters and plugin.path stay yours. The worker's own settings come first;",
        "Connect's producers, consumers and admin clients for connectors read only the producer.,",
        "consumer. and admin. copies below.",
        *worker_settings(spec, e, pw),
    ])


def jvm_ssl_options(e: Entity, pw: Passwords) -> list[str]:
    """-Djavax.net.ssl.* for the JVM default SSLContext, as the MongoDB connector guide sets them.

    JSSE's default key manager opens every key with javax.net.ssl.keyStorePassword; tlsgen gives the
    key the keystore's password, so that is enough. Setting trustStore replaces the JDK's cacerts
    for everything in this JVM that uses the default SSLContext: public CAs a connector needs go
    in the spec's `trusted:`."""
    if e.keystore == "pem" or e.truststore == "pem":
        raise ValueError(f"{e.kind}.{e.name}: the JVM default SSLContext needs pkcs12 or jks stores, not pem")
    return [
        f"-Djavax.net.ssl.trustStore={e.in_mount(truststore_file(e))}",
        f"-Djavax.net.ssl.trustStorePassword={required(pw.truststore, 'truststore', e)}",
        f"-Djavax.net.ssl.trustStoreType={STORE_TYPES[e.truststore]}",
        f"-Djavax.net.ssl.keyStore={e.in_mount(keystore_file(e))}",
        f"-Djavax.net.ssl.keyStorePassword={required(pw.keystore, 'keystore', e)}",
        f"-Djavax.net.ssl.keyStoreType={STORE_TYPES[e.keystore]}",
    ]


def kafka_opts(e: Entity, pw: Passwords) -> str:
    """KAFKA_OPTS as kafka-run-class.sh uses it: expanded unquoted, so split at spaces (no quotes)."""
    return " ".join(jvm_ssl_options(e, pw))
