"""librdkafka clients (confluent-kafka for Python, Go, .NET; kcat): librdkafka.properties, PEM paths
only, since librdkafka reads neither JKS nor a Java truststore.

Names and values as confluentinc/librdkafka CONFIGURATION.md documents them; tests/test_render.py
holds that list and checks every key against it.
"""

from __future__ import annotations

from ..model import Entity, Spec
from ..layout import CA_BUNDLE, CHAIN, key_file
from .inputs import WRITTEN_BY, Passwords, bootstrap_servers
from .syntax import librdkafka_properties


def librdkafka_settings(spec: Spec, e: Entity) -> list:
    servers = bootstrap_servers(spec, e)
    return [
        ("bootstrap.servers", servers) if servers else
        f"bootstrap.servers: {e.name} names no brokers in the spec; add host:port of yours",
        ("security.protocol", "ssl"),
        ("ssl.ca.location", e.in_mount(CA_BUNDLE)),
        # librdkafka loads ssl.certificate.location with SSL_CTX_use_certificate_chain_file
        # (src/rdkafka_ssl.c), so the file may carry the intermediates: sending them lets a broker
        # that trusts only the root verify this client.
        ("ssl.certificate.location", e.in_mount(CHAIN)),
        # The PKCS#8 key file is unencrypted, so no ssl.key.password.
        ("ssl.key.location", e.in_mount(key_file(e))),
        ("ssl.endpoint.identification.algorithm", "https"),
    ]


def render_librdkafka_properties(spec: Spec, e: Entity, pw: Passwords) -> str:
    return librdkafka_properties([
        WRITTEN_BY,
        f"librdkafka client {e.name}, PEM files only. kcat: kcat -F <this file>; confluent-kafka:",
        "pass these settings as its config dict.",
        *librdkafka_settings(spec, e),
    ])
