"""Kafka authorization for the brokers and the operator: the brokers' ssl.principal.mapping.rules and
super.users settings, and out/kafka-acls.sh, which adds the spec's ACLs with Kafka's kafka-acls tool.

kafka-acls (core/src/main/scala/kafka/admin/AclCommand.scala in apache/kafka) takes one resource pattern
and one principal per --add here, with one --operation per operation; `--opt=value` keeps a name that
starts with '-' from being read as an option.
"""

from __future__ import annotations

import shlex

from ..model import Spec
from ..model.acls import Binding, bindings, rules_value, super_users_value
from ..layout import ACL_SCRIPT
from .inputs import WRITTEN_BY, advertised_host, bootstrap_servers
from .syntax import Entry, compose_string, env_value, java_value

# kafka-acls' resource options and operation names (SecurityUtils.operationName: PascalCase).
RESOURCE_OPTIONS = {"topic": "--topic", "group": "--group", "cluster": "--cluster",
                    "transactional_id": "--transactional-id"}
AUTHORIZERS = ("org.apache.kafka.metadata.authorizer.StandardAuthorizer (KRaft)",
               "kafka.security.authorizer.AclAuthorizer (ZooKeeper, Kafka before 4.0)")


def operation_name(operation: str) -> str:
    return "".join(word.capitalize() for word in operation.split("_"))


def broker_settings(spec: Spec) -> list[tuple[str, str, list[str]]]:
    """(property, value, why) for the brokers: the mapping rules unless they are Kafka's default, and
    super.users when the spec uses authorization at all."""
    settings = []
    rules = rules_value(spec)
    if rules is not None:
        settings.append(("ssl.principal.mapping.rules", rules, [
            "How the broker names a client from its certificate's subject (spec: kafka.principal_mapping_rules);",
            "tlsgen status shows each entity's principal under these rules."]))
    supers = super_users_value(spec)
    if supers is not None:
        settings.append(("super.users", supers, [
            "The spec's kafka.super_users, its admin client and every broker: brokers replicate and reach the",
            "controller as themselves, and with an authorizer Kafka refuses a principal that has no ACL.",
            "KRaft controllers authorize the ACL requests brokers forward: give them the same super.users.",
            "Super users and ACLs take effect only with an authorizer, such as authorizer.class.name=",
            *(f"  {name}" for name in AUTHORIZERS),
            f"out/{ACL_SCRIPT} adds the spec's ACLs once the brokers run."]))
    return settings


def server_properties_entries(spec: Spec) -> list[Entry]:
    entries: list[Entry] = []
    for key, value, why in broker_settings(spec):
        entries += ["", *why, (key, value)]
    return entries


def broker_env_entries(spec: Spec, env_name) -> list[Entry]:
    """The same settings for an image's env file. The images write each KAFKA_* value into the broker's
    properties file as it is (confluent: kafka.properties.template; apache: KafkaDockerWrapper.scala), so
    the value is escaped for java.util.Properties; one that Compose's env_file readers would change (a
    rule's `$1`, a space in a principal) is given as a line for the compose file's `environment:` instead,
    where `$$` is one `$` for Compose v1 and v2 alike."""
    entries: list[Entry] = []
    for key, value, why in broker_settings(spec):
        name, escaped = env_name("KAFKA_", key), java_value(value)
        entries += ["", *why]
        try:
            entries.append((name, env_value(name, escaped)))
        except ValueError:
            entries += [f"{name} is not set here: its value holds characters that Compose's env_file readers",
                        "(v1 and v2 differ) do not pass through unchanged. Add it to the service's environment:",
                        f"  {name}: {compose_string(escaped)}"]
    return entries


# --- out/kafka-acls.sh --------------------------------------------------------------------------------


def render_acl_script(spec: Spec) -> str:
    admin = spec.entities.get(spec.kafka.admin or "")
    brokers = [e for e in spec.entities.values() if e.kind == "brokers"]
    bootstrap = (bootstrap_servers(spec, admin) if admin else None) or \
        ",".join(f"{advertised_host(b)}:{b.port}" for b in brokers)
    config = admin.in_mount("client.properties") if admin else None
    lines = [
        "#!/usr/bin/env bash",
        f"# {WRITTEN_BY}",
        "# The spec's Kafka ACLs (each entity's acls:) for the principals the brokers map the entities'",
        "# certificates to: one `kafka-acls --add` per principal and resource, with its operations.",
        "# Safe to run again: a broker keeps each ACL once, and adding one it has changes nothing",
        "# (apache/kafka metadata/src/main/java/org/apache/kafka/controller/AclControlManager.java, createAcls).",
        "# It only adds: an ACL taken out of the spec stays until `kafka-acls --remove` removes it.",
        "#",
        *_usage(spec, admin, bootstrap),
        "set -euo pipefail",
        "",
        *_setup(config, bootstrap),
        "",
        "add() {",
        '  "$acls" --bootstrap-server "$bootstrap" --command-config "$config" --add "$@"',
        "}",
    ]
    for entity, commands in _commands(spec):
        lines += ["", f"# {entity}"] + commands
    return "\n".join(lines) + "\n"


def _usage(spec: Spec, admin, bootstrap: str) -> list[str]:
    if admin is not None:
        service = admin.service or "SERVICE"
        where = [f"# Run it where client {admin.name}'s files are mounted (kafka.admin), for example from this",
                 f"# directory: docker compose exec -T {service} bash -s < {ACL_SCRIPT}",
                 "# or anywhere with Kafka's tools, naming an admin client's properties file:"]
    else:
        where = ["# Run it anywhere with Kafka's tools, naming an admin client's properties file (the spec",
                 "# names no kafka.admin client); its principal needs Alter on the cluster (a super user):"]
    return where + [
        f"#   ./{ACL_SCRIPT} ADMIN.properties",
        f"# Environment: BOOTSTRAP_SERVERS (default {bootstrap or 'none: set it'}); KAFKA_ACLS, the tool",
        "# (default: kafka-acls or kafka-acls.sh on PATH, else the apache/kafka image's /opt/kafka/bin/kafka-acls.sh).",
    ]


def _setup(config: str | None, bootstrap: str) -> list[str]:
    given = f"default_config={shlex.quote(config)}" if config else "default_config="
    return [
        given,
        f"default_bootstrap={shlex.quote(bootstrap)}",
        'config="${1:-$default_config}"',
        'bootstrap="${BOOTSTRAP_SERVERS:-$default_bootstrap}"',
        'acls="${KAFKA_ACLS:-$(command -v kafka-acls || command -v kafka-acls.sh || command -v '
        '/opt/kafka/bin/kafka-acls.sh || true)}"',
        'if [ -z "$config" ]; then',
        f'  echo "usage: {ACL_SCRIPT} ADMIN.properties (the spec names no kafka.admin client)" >&2; exit 2',
        "fi",
        'if [ -z "$bootstrap" ]; then',
        f'  echo "{ACL_SCRIPT}: set BOOTSTRAP_SERVERS to host:port of a broker" >&2; exit 2',
        "fi",
        'if [ -z "$acls" ]; then',
        f'  echo "{ACL_SCRIPT}: no kafka-acls or kafka-acls.sh on PATH; set KAFKA_ACLS to Kafka\'s '
        'bin/kafka-acls.sh" >&2',
        "  exit 1",
        "fi",
        'if [ ! -r "$config" ]; then',
        f'  echo "{ACL_SCRIPT}: cannot read $config, the admin client\'s properties" >&2; exit 1',
        "fi",
    ]


def _commands(spec: Spec) -> list[tuple[str, list[str]]]:
    """Per entity (`clients.billing: User:billing`), one `add` line per resource pattern, permission and host."""
    groups: dict[tuple, list[Binding]] = {}
    for b in bindings(spec):
        groups.setdefault(b.key[:-2] + b.key[-1:], []).append(b)  # all but the operation
    by_entity: dict[str, list[str]] = {}
    for found in groups.values():
        e = spec.entities[found[0].entity]
        by_entity.setdefault(f"{e.kind}.{e.name}: {found[0].principal}", []).append(_add(found))
    return list(by_entity.items())


def _add(found: list[Binding]) -> str:
    acl, principal = found[0].acl, found[0].principal
    who = "allow" if acl.allow else "deny"
    words = [f"--{who}-principal={principal}", f"--{who}-host={acl.host}"]
    if acl.resource == "cluster":
        words.append("--cluster")
    else:
        words += [f"{RESOURCE_OPTIONS[acl.resource]}={acl.name}", f"--resource-pattern-type={acl.pattern}"]
    words += [f"--operation={operation_name(b.operation)}" for b in found]
    return "add " + " ".join(shlex.quote(word) for word in words)
