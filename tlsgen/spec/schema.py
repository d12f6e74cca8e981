"""The spec as users write it: pydantic models, frozen, unknown keys rejected, no I/O.

Fields left unset on an entity inherit from `defaults`; `model/resolve.py` resolves that. Every field has a
description: `tlsgen schema` turns them into hover docs in editors.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from ..model.topology import KEY_TYPES, STORE_FORMATS
from .duration import Duration
from .kafka import AclList, KafkaSpec

KAFKA_IMAGE_MOUNT = "/etc/kafka/secrets"  # both Kafka images read their secrets from here

NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
LABEL_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SERVICE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
OWNER_RE = re.compile(r"^[0-9]+(:[0-9]+)?$")


def _check_name(value: Any) -> Any:
    if isinstance(value, str) and not NAME_RE.match(value):
        if len(value) > 63:
            raise PydanticCustomError("name", "name '{v}' is longer than 63 characters", {"v": value[:20] + "…"})
        raise PydanticCustomError(
            "name", "'{v}' is not a valid name: use lowercase letters, digits and '-' (not first or last), at most 63",
            {"v": value})
    return value


Name = Annotated[str, BeforeValidator(_check_name), Field(json_schema_extra={"pattern": NAME_RE.pattern})]


def _none_is_empty(value: Any) -> Any:
    return {} if value is None else value


def _choice(allowed: tuple[str, ...], what: str, weaker: tuple[str, ...] = ()):
    def check(value: Any) -> Any:
        if isinstance(value, str) and value not in allowed:
            if value in weaker or re.match(r"^(rsa-(512|768|1024|1536)|ec-p(192|224)|dsa.*)$", value):
                raise PydanticCustomError("weak", "{what} '{v}' is too weak; allowed: {allowed}",
                                          {"what": what, "v": value, "allowed": ", ".join(allowed)})
            raise PydanticCustomError("choice", "unknown {what} '{v}'; allowed: {allowed}",
                                      {"what": what, "v": value, "allowed": ", ".join(allowed)})
        return value
    return BeforeValidator(check)


KeyType = Annotated[Literal[KEY_TYPES], _choice(KEY_TYPES, "key type")]
StoreFormat = Annotated[Literal[STORE_FORMATS], _choice(STORE_FORMATS, "store format")]
Pkcs12Profile = Annotated[Literal["modern", "legacy"], _choice(("modern", "legacy"), "pkcs12 profile")]
ClientAuth = Annotated[Literal["required", "requested", "none"], _choice(("required", "requested", "none"), "client_auth")]
Image = Annotated[Literal["apache", "confluent", "none"], _choice(("apache", "confluent", "none"), "image")]
# A server's image names only the user its container runs as: no image reads a server's TLS from the env.
ServerImage = Annotated[Literal["mongo", "none"], _choice(("mongo", "none"), "server image")]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _printable(value: Any) -> Any:
    if isinstance(value, str) and any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise PydanticCustomError("control", "control characters (such as a newline or tab) cannot go in a subject")
    return value


DNText = Annotated[str, BeforeValidator(_printable)]


# cryptography's NameAttribute refuses a common name of more than 64 bytes of UTF-8 (ub-common-name), so
# `max_length` in characters would let `apply` fail on "é" * 40. The other attributes' bounds are in
# characters (RFC 5280), and neither cryptography nor OpenSSL counts their bytes.
COMMON_NAME_MAX_BYTES = 64


def _common_name_bytes(value: Any) -> Any:
    size = len(value.encode("utf-8")) if isinstance(value, str) else 0
    if size > COMMON_NAME_MAX_BYTES:
        raise PydanticCustomError(
            "common_name_bytes", "is {size} bytes long in UTF-8; a certificate's common name holds at most {max} bytes",
            {"size": size, "max": COMMON_NAME_MAX_BYTES})
    return value


class Subject(StrictModel):
    """Distinguished-name attributes. Written in the certificate in the order C, ST, L, O, OU, CN."""

    common_name: Annotated[DNText, AfterValidator(_common_name_bytes)] | None = Field(
        None, min_length=1, max_length=64, description="CN; defaults to the CA's or entity's name")
    country: Annotated[DNText, Field(pattern=r"^[A-Z]{2}$", json_schema_extra={"pattern": r"^[A-Z]{2}$"})] | None = Field(None, description="C: two capital letters, such as GB (quote NO)")
    state: DNText | None = Field(None, min_length=1, max_length=128, description="ST: state or province")
    locality: DNText | None = Field(None, min_length=1, max_length=128, description="L: city or locality")
    organization: DNText | None = Field(None, min_length=1, max_length=64, description="O: organization")
    organizational_unit: DNText | None = Field(None, min_length=1, max_length=64, description="OU: organizational unit")


class EnvRef(StrictModel):
    env: str = Field(pattern=ENV_NAME_RE.pattern, description="name of an environment variable holding the value")


class FileRef(StrictModel):
    file: str = Field(min_length=1, description="path of a file holding the value, relative to this spec file")


def _check_source(what: str, keywords: tuple[str, ...] = ()):
    shapes = " | ".join((*keywords, "{env: NAME}", "{file: PATH}"))

    def check(value: Any) -> Any:
        if isinstance(value, str) and value in keywords:
            return value
        if isinstance(value, dict) and len(value) == 1 and set(value) <= {"env", "file"}:
            return value
        if isinstance(value, dict) and {"env", "file"} <= set(value):
            raise PydanticCustomError("source", "give either env or file for the {what}, not both", {"what": what})
        raise PydanticCustomError("source", "the {what} must be {shapes}", {"what": what, "shapes": shapes})
    return BeforeValidator(check)


PasswordSource = Annotated[Union[Literal["generate"], EnvRef, FileRef], _check_source("password", ("generate",))]
PASSWORD_DOC = ("password of the keystore, truststore and key: generate (32 random letters and digits, kept "
                "across applies), {env: NAME} or {file: PATH}")
SecretSource = Annotated[Union[EnvRef, FileRef], _check_source("value")]


def _owner_text(value: Any) -> Any:
    # `owner: 1000` is how anyone writes the Kafka images' uid; YAML reads it as a number.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


# chown takes 32-bit ids, and reads 4294967295 ((uid_t) -1) as "leave unchanged": an owner of that id would
# never be set, and every apply would try again.
MAX_OWNER_ID = 2**32 - 2


def _owner_in_range(value: str) -> str:
    for part in value.split(":"):
        if len(part) <= 10 and int(part) == MAX_OWNER_ID + 1:
            raise PydanticCustomError("owner_range", "{id} is the id chown reads as 'leave unchanged', so it can "
                                      "never be set; ids go up to {max}", {"id": part, "max": MAX_OWNER_ID})
        if len(part) > 10 or int(part) > MAX_OWNER_ID:
            raise PydanticCustomError("owner_range", "{id} is beyond the largest uid or gid, {max}",
                                      {"id": part if len(part) <= 20 else part[:20] + "…", "max": MAX_OWNER_ID})
    return value


OwnerField = Annotated[str, BeforeValidator(_owner_text), Field(pattern=OWNER_RE.pattern), AfterValidator(_owner_in_range)]
OWNER_DOC = ("UID[:GID] to chown the entity's directory and files to, so a container user can read its 0600 files "
             "on a bind mount; needs the right to chown. Default, where tlsgen runs as root: the user of the "
             "entity's image (apache, confluent: 1000:1000; mongo: 999:999)")
# Mount paths reach KAFKA_OPTS (word-split, unquoted), env files and compose: no quotes, `$`, `#`, spaces.
MountPath = Annotated[str, Field(pattern=r"^(/([A-Za-z0-9_@+:-]|\.[A-Za-z0-9_@+:-]|\.\.[A-Za-z0-9._@+:-])[A-Za-z0-9._@+:-]*)+/?$")]
MOUNT_DOC = "absolute path where the service sees its own directory; paths in generated files point there"


class Defaults(StrictModel):
    """Settings every CA and entity inherits unless it sets its own."""

    subject: Subject = Field(Subject(), description="DN attributes added to every subject")
    key: KeyType = Field("rsa-2048", description="key type: " + " | ".join(KEY_TYPES))
    validity: Duration = Field(Duration(365 * 24), description="validity of leaf certificates, Nd or Nh")
    renew_before: Duration = Field(Duration(30 * 24), description="reissue a certificate this close to its expiry")
    keystore: StoreFormat = Field("pkcs12", description="keystore format: pkcs12 | jks | pem")
    truststore: StoreFormat = Field("pkcs12", description="truststore format: pkcs12 | jks | pem (pem: ca.pem)")
    pkcs12: Pkcs12Profile = Field("modern", description=(
        "modern: AES-256-CBC, PBKDF2-SHA256, HMAC-SHA256; legacy: 3DES and a SHA-1 MAC, for Java 8 before "
        "8u301 and OpenSSL 1.x"))
    password: PasswordSource = Field("generate", description=PASSWORD_DOC)
    mount: MountPath = Field(KAFKA_IMAGE_MOUNT, description=MOUNT_DOC)
    image: Image = Field("none", description=(
        "apache | confluent | none: the docker image of brokers, clients and workers, whose env conventions "
        "their env files follow and whose user (uid 1000) owns their files when tlsgen runs as root; servers "
        "do not inherit it"))
    owner: OwnerField | None = Field(None, description=OWNER_DOC)


class ImportSpec(StrictModel):
    cert: str = Field(min_length=1, description="PEM file of the CA certificate, relative to this spec file")
    key: SecretSource | None = Field(None, description=(
        "the CA's private key as {file: PATH} or {env: NAME} (PEM text); without it the CA only adds trust"))
    password: SecretSource | None = Field(None, description="password of an encrypted CA key")


class CASpec(StrictModel):
    """A certificate authority: generated (self-signed root or intermediate) or imported."""

    subject: Subject | None = Field(None, description="the CA's DN; common_name defaults to its name")
    issuer: Name | None = Field(None, description="the CA that signs this one; none: a self-signed root")
    path_length: int | None = Field(None, ge=0, le=16, strict=True, description=(
        "how many CAs may stand below this one (0: it issues only leaf certificates)"))
    key: KeyType | None = Field(None, description="key type; default: defaults.key")
    validity: Duration | None = Field(None, description="the CA certificate's validity; default 3650d")
    renew_before: Duration | None = Field(None, description="reissue this close to expiry; default: defaults.renew_before")
    import_: ImportSpec | None = Field(None, alias="import", description=(
        "an existing CA, used instead of generating one; without key: trust only"))


def _entity_field(kind_default: str) -> Any:
    return Field(None, description=f"{kind_default}; default: from defaults")


Hostname = Annotated[str, Field(description="DNS name, RFC 1123; a leading '*.' makes a wildcard")]


class EntityBase(StrictModel):
    issuer: Name = Field(description="the CA that issues this certificate")
    subject: Subject | None = Field(None, description="DN attributes added to defaults.subject; common_name defaults to the name")
    key: KeyType | None = _entity_field("key type")
    validity: Duration | None = _entity_field("certificate validity, Nd or Nh")
    renew_before: Duration | None = _entity_field("reissue this close to expiry")
    keystore: StoreFormat | None = _entity_field("keystore format")
    truststore: StoreFormat | None = _entity_field("truststore format")
    pkcs12: Pkcs12Profile | None = _entity_field("PKCS12 profile: modern | legacy")
    password: PasswordSource | None = Field(None, description=PASSWORD_DOC)
    mount: MountPath | None = Field(None, description=MOUNT_DOC)
    owner: OwnerField | None = Field(None, description=OWNER_DOC)
    trust: list[Name] | None = Field(None, description=(
        "CAs or trusted entries for the truststore; default: the roots this entity needs for mutual TLS "
        "with every entity it talks to"))
    service: str | None = Field(None, pattern=SERVICE_RE.pattern, description=(
        "compose service to mount this directory into; default: the entity's name; null: none"))
    hostnames: list[Hostname] | None = Field(None, description="DNS subject alternative names")
    ip_addresses: list[str] | None = Field(None, description="IPv4 or IPv6 subject alternative names")


class BrokerSpec(EntityBase):
    """A Kafka broker: server.properties for its SSL listener; serverAuth and clientAuth usages."""

    hostnames: list[Hostname] | None = Field(None, description="DNS SANs; default [name]; the first is advertised")
    port: int = Field(9093, ge=1, le=65535, strict=True, description="the SSL listener's port")
    client_auth: ClientAuth = Field("required", description="ssl.client.auth: required | requested | none")
    image: Image | None = Field(None, description="apache | confluent | none: env file conventions of that image")


class ClientSpec(EntityBase):
    """A Kafka client (Java or librdkafka); clientAuth usage."""

    brokers: list[Name] = Field([], description="brokers for bootstrap.servers (first hostname and port of each)")
    image: Image | None = Field(None, description="apache | confluent | none: env file conventions of that image")
    acls: AclList = []


class WorkerSpec(EntityBase):
    """A Kafka Connect worker; its connectors reach `connects_to` through KAFKA_OPTS."""

    brokers: list[Name] = Field([], description="brokers for bootstrap.servers (first hostname and port of each)")
    connects_to: list[Name] = Field([], description=(
        "TLS servers its connectors reach through the JVM default SSLContext (KAFKA_OPTS)"))
    image: Image | None = Field(None, description="apache | confluent | none: env file conventions of that image")
    acls: AclList = []


class ServerSpec(EntityBase):
    """Another TLS server (MongoDB, Schema Registry, ...): <name>.pem holds certificate chain and key."""

    hostnames: list[Hostname] | None = Field(None, description="DNS SANs; default [name]")
    client_auth: ClientAuth = Field("required", description="whether clients must present certificates")
    image: ServerImage | None = Field(None, description=(
        "mongo | none: the docker image the server runs; mongo (the official image) runs mongod as "
        "999:999, who owns the files when tlsgen runs as root; default none (not from defaults.image)"))


class TrustedSpec(StrictModel):
    file: str = Field(min_length=1, description="PEM file with one or more certificates, relative to this spec file")


def _one_or_more(value: Any) -> Any:
    """`services_from: compose.yaml` or a list of files, as `docker compose -f a -f b` takes them."""
    if isinstance(value, str):
        return [value]
    if value is not None and not isinstance(value, list):
        raise PydanticCustomError("paths", "expected a path or a list of paths, such as ../compose.yaml")
    if value == []:
        raise PydanticCustomError("paths", "an empty list names no compose file; name one, or remove services_from")
    return value


# A path that goes into the override's comments as it is: no line breaks or other control characters.
ComposePath = Annotated[str, Field(min_length=1, pattern=r"^[^\x00-\x1f\x7f]+$")]


class ComposeSpec(StrictModel):
    file: str | None = Field("compose.tls.yaml", description="compose override written inside the output directory; null: none")
    services_from: Annotated[list[ComposePath], BeforeValidator(_one_or_more)] | None = Field(
        None, min_length=1, description=(
            "your compose file (or files, as given to docker compose -f), relative to this spec file: only the "
            "services it defines get volumes and env files, and an entity whose service it lacks is an error"))
    project_dir: str | None = Field(None, description=(
        "the compose project directory (Compose resolves relative paths from it), relative to this spec file's "
        "directory; default: the directory of the first services_from file; without one, the parent of the "
        "spec's output directory, or the current directory when --out or the default out/ is used"))


# A Kubernetes namespace is a DNS-1123 label (k8s.io/apimachinery validation.IsDNS1123Label).
NAMESPACE_RE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


class StrimziSpec(StrictModel):
    """Strimzi's custom-CA Secrets (Kafka.spec.clusterCa/clientsCa.generateCertificateAuthority: false)."""

    cluster: Name = Field(description="the Kafka resource's name: Secrets are <cluster>-cluster-ca-cert, ...")
    cluster_ca: Name = Field(description="the CA that signs the brokers' certificates in Strimzi (its key goes in a Secret)")
    clients_ca: Name = Field(description="the CA that signs the clients' certificates in Strimzi (its key goes in a Secret)")


class KubernetesSpec(StrictModel):
    """Kubernetes Secrets from the same files: out/kubernetes/kustomization.yaml, for kubectl apply -k."""

    namespace: str = Field(pattern=NAMESPACE_RE.pattern, description="the namespace of every Secret")
    strimzi: StrimziSpec | None = Field(None, description=(
        "also write Strimzi's cluster and clients CA Secrets in its documented 'bring your own CA' form"))


Section = BeforeValidator(_none_is_empty)


def _not_a_bool(value: Any) -> Any:
    if isinstance(value, bool):  # YAML's yes/no/on/off: pydantic would take True as 1
        raise PydanticCustomError("bool", "expected a number, got a yes/no value")
    return value


class SpecModel(StrictModel):
    """A tlsgen spec: CAs, Kafka brokers, clients, Connect workers and TLS servers, and where output goes."""

    version: Annotated[Literal[1], BeforeValidator(_not_a_bool)] = Field(description="spec format version; 1")
    output: str | None = Field(None, min_length=1, description=(
        "output directory, relative to this file; default: out/ in the current directory"))
    defaults: Annotated[Defaults, Section] = Field(Defaults(), description="settings inherited by every CA and entity")
    cas: Annotated[dict[Name, CASpec], Section] = Field({}, description="certificate authorities")
    brokers: Annotated[dict[Name, BrokerSpec], Section] = Field({}, description="Kafka brokers")
    clients: Annotated[dict[Name, ClientSpec], Section] = Field({}, description="Kafka clients")
    workers: Annotated[dict[Name, WorkerSpec], Section] = Field({}, description="Kafka Connect workers")
    servers: Annotated[dict[Name, ServerSpec], Section] = Field({}, description="other TLS servers, such as MongoDB")
    trusted: Annotated[dict[Name, TrustedSpec], Section] = Field({}, description="certificates to trust that tlsgen does not issue")
    compose: Annotated[ComposeSpec, Section] = Field(ComposeSpec(), description="the docker compose override")
    kafka: Annotated[KafkaSpec, Section] = Field(KafkaSpec(), description=(
        "cluster-wide Kafka settings: principal mapping rules, super users, the admin client for ACLs"))
    kubernetes: KubernetesSpec | None = Field(None, description="Kubernetes Secrets from the same spec (kustomize)")


def json_schema() -> dict:
    schema = SpecModel.model_json_schema(by_alias=True)
    for name, prop in schema["properties"].items():
        if "patternProperties" in prop:
            # Names that validate refuses must be refused in the editor too.
            prop["additionalProperties"] = False
        if name in ("defaults", "compose", "cas", "brokers", "clients", "workers", "servers", "trusted", "kafka"):
            # A section whose entries are all commented out is null in YAML; validate takes it as empty.
            body = {k: prop.pop(k) for k in list(prop) if k not in ("description", "default", "title")}
            prop["anyOf"] = [body, {"type": "null"}]
    # services_from takes one path as well as a list (see _one_or_more); pydantic only sees the list.
    services_from = schema["$defs"]["ComposeSpec"]["properties"]["services_from"]["anyOf"]
    services_from.insert(0, services_from[0]["items"])
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema, "title": "tlsgen spec"}
