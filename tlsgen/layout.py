"""out/'s layout: every path tlsgen writes, what it holds, whose it is, and its mode.

The one owner of these facts: the planner asks which files the spec needs, apply writes them with
the mode said here, verify and status check and list them, and the renderers name the files that
services read. Nothing else spells a file name under out/.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import Mapping

from .model import CA, Entity, Spec

KINDS = ("brokers", "clients", "workers", "servers")
DIR_MODE = 0o700
SECRET_MODE, PUBLIC_MODE = 0o600, 0o644
SCRIPT_MODE = 0o755  # kafka-acls.sh: run by hand, and holds no secret (it names the admin's properties file)

GITIGNORE = ".gitignore"  # "*": out/ holds private keys and is never committed
TLSGEN_DIR = ".tlsgen"  # tlsgen's own records: state, journal, salt
ACL_SCRIPT = "kafka-acls.sh"  # the spec's Kafka ACLs, added with kafka-acls (render/acls.py)
# Names at the top of out/ that belong to tlsgen; a compose file may not take one.
KUBERNETES_DIR = "kubernetes"  # out/kubernetes/kustomization.yaml, for kubectl apply -k
RESERVED = (*KINDS, "cas", TLSGEN_DIR, GITIGNORE, KUBERNETES_DIR, ACL_SCRIPT)

CA_KEY, CA_CERT = "ca.key", "ca.crt"
CHAIN = "chain.pem"  # leaf first, then intermediates
CA_BUNDLE = "ca.pem"  # the trusted certificates, one PEM bundle
KEY_PASSWORD = "key.password"
KEYSTORE_PASSWORD = "keystore.password"
TRUSTSTORE_PASSWORD = "truststore.password"
_KEYSTORE_FILES = {"pkcs12": "keystore.p12", "jks": "keystore.jks", "pem": "keystore.pem"}
# A pem "truststore" is the trust bundle itself: Kafka reads ssl.truststore.type=PEM from ca.pem.
_TRUSTSTORE_FILES = {"pkcs12": "truststore.p12", "jks": "truststore.jks", "pem": CA_BUNDLE}

ENV = "env"  # the config id of an entity's env file, named after the entity
# The config files each kind gets, by config id (a file name, or ENV); render/ has one renderer each.
CONFIGS = {
    "brokers": ("server.properties", ENV),
    "clients": ("client.properties", "librdkafka.properties", ENV),
    "workers": ("worker.properties", ENV),
    "servers": (ENV,),
}


class Role(str, Enum):
    """What a file holds; the value is what state.json records."""

    GITIGNORE = "gitignore"
    KEY = "key"
    CERTIFICATE = "certificate"
    CHAIN = "chain"
    TRUST_BUNDLE = "trust bundle"
    CERT_AND_KEY = "certificate and key"  # a server's <name>.pem: MongoDB's net.tls.certificateKeyFile
    KEYSTORE = "keystore"
    TRUSTSTORE = "truststore"
    PASSWORD = "password"
    CONFIG = "config"
    COMPOSE = "compose"
    KUSTOMIZATION = "kustomization"  # config: "kubernetes" (the one to apply), a kind, or "cas" (Strimzi's)
    ACL_SCRIPT = "kafka-acls script"


# Every config holds a password or names a key (a librdkafka file names the unencrypted key; a broker
# env file names password files), so all are secret: a file's mode never flips with a store format.
_SECRET_ROLES = frozenset({Role.KEY, Role.CERT_AND_KEY, Role.KEYSTORE, Role.TRUSTSTORE, Role.PASSWORD,
                           Role.CONFIG})


def mode_of(role: Role) -> int:
    """A file's mode follows from what it holds."""
    if role is Role.ACL_SCRIPT:
        return SCRIPT_MODE
    return SECRET_MODE if role in _SECRET_ROLES else PUBLIC_MODE


@dataclass(frozen=True, slots=True)
class Artifact:
    """One file under out/."""

    path: str  # relative to out/, POSIX
    part: str  # the directory of the CA or entity it belongs to ("cas/root", "brokers/kafka"); "" for all of out/
    role: Role
    name: str | None = None  # the CA or entity; None for files of all of out/
    config: str | None = None  # Role.CONFIG: which one (a key of CONFIGS' tuples)

    @property
    def secret(self) -> bool:
        return self.role in _SECRET_ROLES

    @property
    def mode(self) -> int:
        return mode_of(self.role)

    @property
    def file_name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True, slots=True)
class Directory:
    """A directory tlsgen makes (0700): out/ itself (""), .tlsgen, cas, a kind, or a CA's or entity's."""

    path: str
    part: str

    @property
    def mode(self) -> int:
        return DIR_MODE


# --- names inside an entity's directory (what services see under their mount) --------------------

def key_file(e: Entity) -> str:
    return f"{e.name}.key"


def cert_file(e: Entity) -> str:
    return f"{e.name}.crt"


def cert_and_key_file(e: Entity) -> str:
    return f"{e.name}.pem"


def keystore_file(e: Entity) -> str:
    return _KEYSTORE_FILES[e.keystore]


def truststore_file(e: Entity) -> str:
    return _TRUSTSTORE_FILES[e.truststore]


def env_file(e: Entity) -> str:
    return f"{e.name}.env"


def config_file(e: Entity, config: str) -> str:
    return env_file(e) if config == ENV else config


# --- the whole tree -------------------------------------------------------------------------------

def ca_artifacts(ca: CA, rollover_step: str | None = None) -> list[Artifact]:
    """ca.key and ca.crt are always the CA that issues now. A rollover adds the other one: after its
    trust step the new CA (next.key, next.crt), after its issue step the old certificate (previous.crt),
    each trusted beside ca.crt until the retire step."""
    files = [] if ca.imported is not None else [Artifact(f"{ca.dir}/{CA_KEY}", ca.dir, Role.KEY, ca.name)]
    files.append(Artifact(f"{ca.dir}/{CA_CERT}", ca.dir, Role.CERTIFICATE, ca.name))
    if rollover_step == "trust":
        nxt = other_identity(ca.name, NEXT)
        if ca.imported is None:
            files.append(Artifact(f"{ca.dir}/{NEXT}.key", ca.dir, Role.KEY, nxt))
        files.append(Artifact(f"{ca.dir}/{NEXT}.crt", ca.dir, Role.CERTIFICATE, nxt))
    elif rollover_step == "issue":
        files.append(Artifact(f"{ca.dir}/{PREVIOUS}.crt", ca.dir, Role.CERTIFICATE, other_identity(ca.name, PREVIOUS)))
    return files


NEXT, PREVIOUS = "next", "previous"  # the other CA of a rollover: made at the trust step, kept after the issue step


def other_identity(ca_name: str, which: str) -> str:
    """The identity name of a rollover's other CA ("root/next"); "/" never occurs in a spec name."""
    return f"{ca_name}/{which}"


def identity_base(name: str) -> str:
    """The CA or entity an identity belongs to ("root/next" → "root")."""
    return name.split("/", 1)[0]


def entity_artifacts(e: Entity) -> list[Artifact]:
    part = e.dir  # one string for all of them: 5,000 entities have 60,000 files

    def at(file: str, role: Role, config: str | None = None) -> Artifact:
        return Artifact(f"{part}/{file}", part, role, e.name, config)

    files = [at(key_file(e), Role.KEY), at(cert_file(e), Role.CERTIFICATE), at(CHAIN, Role.CHAIN),
             at(CA_BUNDLE, Role.TRUST_BUNDLE)]
    if e.kind == "servers":
        files.append(at(cert_and_key_file(e), Role.CERT_AND_KEY))
    files.append(at(keystore_file(e), Role.KEYSTORE))
    if e.keystore != "pem":
        files.append(at(KEYSTORE_PASSWORD, Role.PASSWORD))
    files.append(at(KEY_PASSWORD, Role.PASSWORD))
    if e.truststore != "pem":
        files += [at(truststore_file(e), Role.TRUSTSTORE), at(TRUSTSTORE_PASSWORD, Role.PASSWORD)]
    files += [at(config_file(e, config), Role.CONFIG, config) for config in CONFIGS[e.kind]]
    return files


def artifacts(spec: Spec, rollover_steps: Mapping[str, str] = MappingProxyType({})) -> list[Artifact]:
    """Every file out/ should hold for this spec (and the step of each CA rollover in progress), CAs
    (issuers first) before entities."""
    files = [Artifact(GITIGNORE, "", Role.GITIGNORE)]
    for ca in spec.ca_order():
        files += ca_artifacts(ca, rollover_steps.get(ca.name))
    for e in spec.entities.values():
        files += entity_artifacts(e)
    if spec.compose.file is not None:
        files.append(Artifact(spec.compose.file, "", Role.COMPOSE))
    if spec.kubernetes is not None:
        files += kubernetes_artifacts(spec)
    if any(e.acls for e in spec.entities.values()):
        files.append(Artifact(ACL_SCRIPT, "", Role.ACL_SCRIPT))
    return files


KUSTOMIZATION = "kustomization.yaml"
STRIMZI_TRUSTSTORE, STRIMZI_PASSWORD = "ca.p12", "ca.password"


def strimzi_cas(spec: Spec) -> list[CA]:
    strimzi = spec.kubernetes.strimzi if spec.kubernetes is not None else None
    return [spec.cas[name] for name in dict.fromkeys(strimzi.roles.values())] if strimzi else []


def kubernetes_artifacts(spec: Spec) -> list[Artifact]:
    """Kustomizations that make Secrets from out/'s own files, never copies. kustomize reads files only
    in or below a kustomization's directory, so each kind's directory has one (`<kind>/<name>/<file>`),
    cas/ has Strimzi's, and kubernetes/ gathers them as resources (../brokers, ...)."""
    files = []
    for ca in strimzi_cas(spec):  # Strimzi's ca.crt holds the chain; ca.p12 + ca.password its truststore
        if ca.issuer is not None:
            files.append(Artifact(f"{ca.dir}/{CHAIN}", ca.dir, Role.CHAIN, ca.name))
        files += [Artifact(f"{ca.dir}/{STRIMZI_TRUSTSTORE}", ca.dir, Role.TRUSTSTORE, ca.name),
                  Artifact(f"{ca.dir}/{STRIMZI_PASSWORD}", ca.dir, Role.PASSWORD, ca.name)]
    if spec.kubernetes.strimzi is not None:
        files.append(Artifact(f"cas/{KUSTOMIZATION}", "", Role.KUSTOMIZATION, config="cas"))
    files += [Artifact(f"{kind}/{KUSTOMIZATION}", "", Role.KUSTOMIZATION, config=kind) for kind in kinds_of(spec)]
    return files + [Artifact(f"{KUBERNETES_DIR}/{KUSTOMIZATION}", "", Role.KUSTOMIZATION, config=KUBERNETES_DIR)]


def kinds_of(spec: Spec) -> list[str]:
    return [kind for kind in KINDS if any(e.kind == kind for e in spec.entities.values())]


def directories(spec: Spec) -> list[Directory]:
    """The directories out/ should have, parents first; only an entity's own is chowned to its owner."""
    dirs = [Directory("", ""), Directory(TLSGEN_DIR, "")]
    if spec.cas:
        dirs.append(Directory("cas", ""))
    dirs += [Directory(kind, "") for kind in kinds_of(spec)]
    if spec.kubernetes is not None:
        dirs.append(Directory(KUBERNETES_DIR, ""))
    dirs += [Directory(ca.dir, ca.dir) for ca in spec.ca_order()]
    return dirs + [Directory(e.dir, e.dir) for e in spec.entities.values()]


def parts(spec: Spec) -> list[str]:
    """The directory of every CA and entity, in plan order, after "" (all of out/)."""
    return ["", *(ca.dir for ca in spec.ca_order()), *(e.dir for e in spec.entities.values())]


def is_ca_part(part: str) -> bool:
    return part.startswith("cas/")


def part_of(path: str) -> str:
    """The part of out/ a path belongs to: a CA's or entity's directory, or "" for the rest."""
    parts = path.split("/")
    if len(parts) >= 3 and parts[0] in ("cas", *KINDS):
        return f"{parts[0]}/{parts[1]}"
    return ""
