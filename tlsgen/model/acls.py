"""Kafka authorization in the resolved spec: each entity's principal as the brokers map it, super.users,
and the ACL bindings out/kafka-acls.sh adds. Pure: no I/O.

What Kafka accepts, from apache/kafka at 1eb7644349cb07139d6a3c1ad1986979647cac99:
- operations: clients/src/main/java/org/apache/kafka/common/acl/AclOperation.java (UNKNOWN and ANY are
  filters only; AclControlManager.validateNewAcl refuses them in a new ACL);
- which operations each resource type takes: server/src/main/java/org/apache/kafka/security/authorizer/
  AclEntry.java, supportedOperations(), plus ALL; core/src/main/scala/kafka/admin/AclCommand.scala
  (validateOperation) refuses any other pair: "ResourceType TOPIC only supports operations ...";
- the cluster resource has one name, kafka-cluster, and only a literal pattern: AclCommand adds
  `--cluster` as ResourcePatternFilter(CLUSTER, "kafka-cluster", LITERAL), and with
  `--resource-pattern-type prefixed` drops it;
- super.users: StandardAuthorizer.getConfiguredSuperUsers (metadata/src/main/java/org/apache/kafka/
  metadata/authorizer/StandardAuthorizer.java) splits the value at ';', trims each piece and parses it
  with SecurityUtils.parseKafkaPrincipal ("principalType:principalName").
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass
from typing import Sequence

from .principals import PrincipalError, Rule, parse_rules, principal, rfc2253, rules_config_value

from .topology import DEFAULT_RULES, Acl, Entity, KafkaSettings, Spec  # noqa: F401 (Acl, KafkaSettings: spoken of here)

# AclOperation's names (the spec writes them in lowercase), in Kafka's order.
OPERATIONS = ("all", "read", "write", "create", "delete", "alter", "describe", "cluster_action", "describe_configs",
              "alter_configs", "idempotent_write", "create_tokens", "describe_tokens")
# The resource types a binding can name, as spec keys. DELEGATION_TOKEN and USER resources (delegation
# tokens) are left out: they do not concern certificate principals.
RESOURCE_KEYS = ("topic", "group", "cluster", "transactional_id")
# AclEntry.supportedOperations(); GROUP's describe_configs and alter_configs came with Kafka 4.0
# (KAFKA-14510, group configs), and kafka-acls of 3.x refuses them.
SUPPORTED = {
    "topic": ("read", "write", "create", "describe", "delete", "alter", "describe_configs", "alter_configs"),
    "group": ("read", "describe", "delete", "describe_configs", "alter_configs"),
    "cluster": ("create", "cluster_action", "describe_configs", "alter_configs", "idempotent_write", "alter",
                "describe"),
    "transactional_id": ("describe", "write"),
}
CLUSTER_NAME = "kafka-cluster"  # org.apache.kafka.common.resource.Resource.CLUSTER_NAME
# Kinds whose certificates authenticate to the brokers (servers such as MongoDB never do).
KAFKA_KINDS = ("brokers", "clients", "workers")
ACL_KINDS = ("clients", "workers")


@dataclass(frozen=True)
class Binding:
    """One Kafka ACL as kafka-acls adds it: one principal, one operation on one resource pattern."""

    entity: str
    principal: str
    acl: Acl
    operation: str

    @property
    def key(self) -> tuple:
        """What makes two bindings the same ACL to Kafka (StandardAcl's fields)."""
        a = self.acl
        return (a.resource, a.name, a.pattern, self.principal, a.host, self.operation, a.allow)

    def as_json(self) -> dict:
        a = self.acl
        return {"entity": self.entity, "principal": self.principal, "resource_type": a.resource,
                "name": a.name, "pattern": a.pattern, "operation": self.operation,
                "permission": "allow" if a.allow else "deny", "host": a.host}


def is_principal(text: str) -> bool:
    """A super_users item written as a principal (`User:admin`) rather than an entity name."""
    return ":" in text


def principal_problem(text: str) -> str | None:
    """Why Kafka cannot take this principal in super.users, or None."""
    kind, _, name = text.partition(":")
    if ";" in text:
        return "it holds ';', where Kafka splits super.users"
    if text != text.strip():
        return "it starts or ends with a space, which Kafka trims from each super.users entry"
    if not kind or not name:
        return "a principal is TYPE:NAME, such as User:admin"
    return None


@functools.lru_cache(maxsize=8)
def mapping_rules(rules: tuple[str, ...]) -> tuple[Rule, ...]:
    """The parsed rules (RuleError when Kafka, or tlsgen, would not take them)."""
    return tuple(parse_rules(rules))


def principal_of(spec: Spec, e: Entity) -> str:
    """`User:<name>` as the brokers map this entity's certificate; PrincipalError when no rule maps it."""
    return principal(mapping_rules(spec.kafka.rules), rfc2253(e.subject))


def rules_value(spec: Spec) -> str | None:
    """ssl.principal.mapping.rules for the brokers, or None when it is Kafka's default (DEFAULT)."""
    rules = tuple(spec.kafka.rules)
    return None if rules == DEFAULT_RULES else rules_config_value(rules)


def uses_authorization(spec: Spec) -> bool:
    """Whether the spec asks for authorization at all: ACLs, super users or an admin client."""
    return bool(spec.kafka.super_users or spec.kafka.admin or any(e.acls for e in spec.entities.values()))


def super_users(spec: Spec) -> list[str]:
    """super.users, in order: the spec's own, then the admin client and every broker (which replicate and
    talk to the controller as themselves: with an authorizer and no ACL for them, Kafka refuses them)."""
    if not uses_authorization(spec):
        return []
    found = [text if is_principal(text) else principal_of(spec, spec.entities[text]) for text in spec.kafka.super_users]
    implied = [spec.entities[spec.kafka.admin]] if spec.kafka.admin else []
    implied += [e for e in spec.entities.values() if e.kind == "brokers"]
    found += [principal_of(spec, e) for e in implied]
    return list(dict.fromkeys(found))


def super_users_value(spec: Spec) -> str | None:
    """super.users for the brokers (';' between principals, as Kafka splits it), or None."""
    return ";".join(super_users(spec)) or None


def bindings(spec: Spec) -> list[Binding]:
    """Every ACL of the spec, one per operation, in spec order, each once."""
    seen, found = set(), []
    for e in spec.entities.values():
        if not e.acls:
            continue
        name = principal_of(spec, e)
        for acl in e.acls:
            for operation in acl.operations:
                binding = Binding(e.name, name, acl, operation)
                if binding.key not in seen:
                    seen.add(binding.key)
                    found.append(binding)
    return found


def mapped_or_none(rules: Sequence[str], subject: str) -> str | None:
    """`User:<name>` for an RFC 2253 subject, or None when Kafka would refuse it (for status)."""
    try:
        return principal(mapping_rules(tuple(rules)), subject)
    except (PrincipalError, ValueError):
        return None


def resolve_acls(written: Sequence) -> tuple[Acl, ...]:
    """The spec's bindings (spec/kafka.py's AclSpec) as the model holds them; operations as written, so that
    a rule can place each one (bindings() adds each ACL once)."""
    return tuple(Acl(resource=key, name=CLUSTER_NAME if key == "cluster" else getattr(acl, key), pattern=acl.pattern,
                     operations=tuple(acl.operations), allow=acl.allow, host=java_host(acl.host))
                 for acl in written for key in RESOURCE_KEYS if getattr(acl, key) is not None)


def resolve_kafka(written) -> KafkaSettings:
    """The spec's `kafka:` section (spec/kafka.py's KafkaSpec) as the model holds it."""
    return KafkaSettings(rules=tuple(written.principal_mapping_rules), super_users=tuple(written.super_users),
                         admin=written.admin)


def java_host(text: str) -> str:
    """An ACL's host as Kafka compares it: with the client's InetAddress.getHostAddress()
    (StandardAuthorizerData), which writes IPv6 uncompressed and without leading zeros ("0:0:0:0:0:0:0:1",
    not "::1"). Anything but an IP address is left as written, for a rule to refuse."""
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return text
    if ip.version == 4 or ip.scope_id:  # a zone: the rule refuses it
        return str(ip) if ip.version == 4 else text
    return ":".join(f"{int(group, 16):x}" for group in ip.exploded.split(":"))
