"""The resolved spec: every default applied, every reference checked, every source read.

`spec/schema.py` is what users write; this is what the rest of tlsgen works from. Values here are plain
frozen dataclasses so that plans can compare them and nothing downstream re-reads `defaults`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from ..diagnostics import Diagnostic, Place
from ..spec.duration import Duration

# The closed sets a spec chooses from. The schema, the resolver and crypto all take them from here.
KINDS = ("brokers", "clients", "workers", "servers")
KEY_TYPES = ("rsa-2048", "rsa-3072", "rsa-4096", "ec-p256", "ec-p384")
STORE_FORMATS = ("pkcs12", "jks", "pem")
# DN attributes in the order they are written into a certificate, with their spec field names.
SUBJECT_ORDER = (
    ("C", "country"),
    ("ST", "state"),
    ("L", "locality"),
    ("O", "organization"),
    ("OU", "organizational_unit"),
    ("CN", "common_name"),
)
CA_DEFAULT_VALIDITY = Duration(3650 * 24)
# Kinds whose certificates serve TLS (and so also need DNS/IP SANs by default).
SERVING_KINDS = ("brokers", "servers")


class Secret(str):
    """A password read from the user's env or file: a str that never shows itself in logs or reprs."""

    def __repr__(self) -> str:
        return "Secret('***')"


Subject = tuple[tuple[str, str], ...]  # (("C", "GB"), ("O", "UK Home Office"), ("CN", "kafka"))


def subject_text(subject: Subject) -> str:
    """OpenSSL-style one-line DN, for messages and state ("/C=GB/O=UK Home Office/CN=kafka")."""
    return "".join(f"/{k}={v}" for k, v in subject)


DEFAULT_RULES = ("DEFAULT",)  # ssl.principal.mapping.rules when the spec sets none


@dataclass(frozen=True, slots=True)
class Acl:
    """One binding of an entity's `acls`, resolved: the cluster's name filled in, operations once each."""

    resource: str  # one of RESOURCE_KEYS
    name: str
    pattern: str = "literal"  # literal | prefixed
    operations: tuple[str, ...] = ()
    allow: bool = True
    host: str = "*"


@dataclass(frozen=True, slots=True)
class KafkaSettings:
    """The spec's `kafka:` section, resolved."""

    rules: tuple[str, ...] = DEFAULT_RULES
    super_users: tuple[str, ...] = ()  # as written: entity names, or principals (they hold a ':')
    admin: str | None = None  # the client kafka-acls.sh runs as



@dataclass(frozen=True, slots=True)
class ImportedCA:
    cert_file: Path
    cert_pem: bytes
    key_pem: bytes | None  # never copied into out/
    key_password: Secret | None


@dataclass(frozen=True, slots=True)
class CA:
    name: str
    subject: Subject
    issuer: str | None  # None: self-signed root
    path_length: int | None
    key: str
    validity: Duration
    renew_before: Duration
    imported: ImportedCA | None = None

    @property
    def can_issue(self) -> bool:
        return self.imported is None or self.imported.key_pem is not None

    @property
    def dir(self) -> str:
        return f"cas/{self.name}"


@dataclass(frozen=True, slots=True)
class Entity:
    kind: str  # brokers | clients | workers | servers
    name: str
    issuer: str
    subject: Subject
    key: str
    validity: Duration
    renew_before: Duration
    keystore: str
    truststore: str
    pkcs12: str
    password: Secret | None  # None: generated and kept across applies
    mount: str
    owner: tuple[int, int | None] | None
    trust: tuple[str, ...]  # CA or trusted names, in the order their certificates go in ca.pem
    service: str | None
    hostnames: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    image: str = "none"  # brokers, clients, workers: apache | confluent | none; servers: mongo | none
    port: int | None = None  # brokers
    client_auth: str | None = None  # brokers and servers
    brokers: tuple[str, ...] = ()  # clients and workers
    connects_to: tuple[str, ...] = ()  # workers
    acls: tuple[Acl, ...] = ()  # clients and workers: Kafka ACLs for their principal

    @property
    def dir(self) -> str:
        return f"{self.kind}/{self.name}"

    @property
    def serves(self) -> bool:
        return self.kind in SERVING_KINDS

    @property
    def usages(self) -> tuple[str, ...]:
        # Brokers talk to each other, so serving certificates are client certificates too.
        return ("serverAuth", "clientAuth") if self.serves else ("clientAuth",)

    def in_mount(self, file: str) -> str:
        """The path the service sees for one of its files."""
        return f"{self.mount.rstrip('/')}/{file}"


def chain_of(cas: dict[str, CA], ca_name: str) -> list[CA]:
    """The CA and its issuers up to the root, nearest first (the CA graph is checked acyclic)."""
    chain, name = [], ca_name
    while name is not None:
        chain.append(cas[name])
        name = cas[name].issuer
    return chain


@dataclass(frozen=True, slots=True)
class Trusted:
    name: str
    file: Path
    certs_pem: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Compose:
    file: str | None  # relative to the output directory
    project_dir: Path
    services_from: tuple[Path, ...] = ()  # the user's compose files
    services: tuple[str, ...] | None = None  # the services they define; None: not known (no services_from)
    includes: tuple[Path, ...] = ()  # those of services_from with an `include:`, whose services tlsgen does not see


@dataclass(frozen=True, slots=True)
class Strimzi:
    cluster: str
    cluster_ca: str
    clients_ca: str

    @property
    def roles(self) -> dict[str, str]:
        """Strimzi's CA role ("cluster", "clients") → the tlsgen CA that plays it."""
        return {"cluster": self.cluster_ca, "clients": self.clients_ca}


@dataclass(frozen=True, slots=True)
class Kubernetes:
    namespace: str
    strimzi: Strimzi | None = None


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a setting was written (its own line, or `defaults`), for a message about it after validation."""

    path: str  # dotted spec path, e.g. "defaults.owner"
    place: Place | None


@dataclass(frozen=True, slots=True)
class Spec:
    source: Path  # the file or directory the user named
    output: Path
    cas: dict[str, CA]
    entities: dict[str, Entity]  # brokers, clients, workers, servers, each in spec order
    trusted: dict[str, Trusted]
    compose: Compose
    inputs: tuple[Path, ...] = field(default=())  # spec files and every file the spec references
    environment: tuple[str, ...] = ()  # the environment variables the spec reads
    kubernetes: Kubernetes | None = None
    # (CA or entity name, setting) -> where it was written; not part of what a spec means
    origins: Mapping[tuple[str, str], Origin] = field(default_factory=dict, compare=False, repr=False)
    kafka: KafkaSettings = KafkaSettings()  # principal mapping rules, super users, the admin client
    # what validation found worth saying that is not an error (two entities with one principal)
    warnings: tuple[Diagnostic, ...] = field(default=(), compare=False, repr=False)

    def chain_of(self, ca_name: str) -> list[CA]:
        return chain_of(self.cas, ca_name)

    def root_of(self, ca_name: str) -> str:
        return self.chain_of(ca_name)[-1].name

    def origin(self, name: str, setting: str) -> Origin | None:
        return self.origins.get((name, setting))

    def ca_order(self) -> list[CA]:
        """CAs with every issuer before the CAs it signs."""
        return sorted(self.cas.values(), key=lambda ca: (len(self.chain_of(ca.name)), ca.name))
