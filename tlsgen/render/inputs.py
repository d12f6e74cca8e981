"""What every renderer takes besides the entity: the passwords that open its stores, the addresses
entities reach each other by, and Kafka's names for store types. File names come from tlsgen.layout.

Paths inside generated files are the paths the service sees (`Entity.in_mount`), never paths on
the host: the directory is bind-mounted into the container at `mount`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..model import Entity, Spec

# Kafka's names for the store formats (ssl.keystore.type / ssl.truststore.type). Java's KeyStore
# types take the same spellings for PKCS12 and JKS (javax.net.ssl.keyStoreType).
STORE_TYPES = {"pkcs12": "PKCS12", "jks": "JKS", "pem": "PEM"}

# The first comment line of every rendered file.
WRITTEN_BY = "Written by tlsgen: edits are undone by the next `tlsgen apply`."


@dataclass(frozen=True)
class Passwords:
    """The passwords of one entity's stores; None where that store has none (a pem truststore).

    `key` opens the private key inside the keystore: for pkcs12/jks the same value as the keystore
    password, for pem the password of the encrypted key in keystore.pem.
    """

    keystore: str | None = field(repr=False)
    truststore: str | None = field(repr=False)
    key: str | None = field(repr=False)


def required(value: str | None, what: str, e: Entity) -> str:
    """A password the consumer cannot do without; the planner always has it for these formats."""
    if value is None:
        raise ValueError(f"{e.kind}.{e.name}: no {what} password for a {what} the consumer opens with one")
    return value


def advertised_host(broker: Entity) -> str:
    """The name a broker is reached by: its first DNS SAN (a wildcard can't be dialled), else its first IP."""
    for host in broker.hostnames:
        if not host.startswith("*."):
            return host
    if broker.ip_addresses:
        ip = broker.ip_addresses[0]
        return f"[{ip}]" if ":" in ip else ip
    return broker.name


def bootstrap_servers(spec: Spec, e: Entity) -> str | None:
    """`host:port` of each broker the client or worker names, in the order it names them."""
    if not e.brokers:
        return None
    return ",".join(f"{advertised_host(b)}:{b.port}" for b in (spec.entities[name] for name in e.brokers))
