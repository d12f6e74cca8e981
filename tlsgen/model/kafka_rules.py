"""The checks of the spec's Kafka authorization: principal mapping rules, super users, the admin client and
each entity's ACLs, in the shape of `rules.py` (small functions of the `Draft`, each diagnostic at the
place of the setting to change), plus the warnings: what is legal but probably not meant.

Run after `rules.check` by `read.py`. Like every rule, these leave alone what did not parse (a broken
`kafka.principal_mapping_rules` maps nobody here: its own error says why).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Callable, Iterable, Iterator

from ..diagnostics import Diagnostic, did_you_mean
from ..spec.loader import SpecPath
from .acls import (ACL_KINDS, KAFKA_KINDS, SUPPORTED, Acl, is_principal, principal_of, principal_problem,
                   uses_authorization)
from .principals import PrincipalError, Rule, RuleError, map_principal, parse_rules, rfc2253
from .resolve import Draft
from .topology import Entity

RULES_AT: SpecPath = ("kafka", "principal_mapping_rules")
WORD = {"brokers": "broker", "clients": "client", "workers": "worker", "servers": "server"}
# Kafka's legal topic names (clients/src/main/java/org/apache/kafka/common/internals/Topic.java: validate()).
TOPIC_RE = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")

Check = Callable[[Draft], Iterable[Diagnostic]]


def check(draft: Draft) -> list[Diagnostic]:
    return [d for rule in RULES for d in rule(draft)]


def warnings(draft: Draft) -> list[Diagnostic]:
    return [d for rule in WARNINGS for d in rule(draft)]


def parsed_rules(draft: Draft) -> tuple[Rule, ...] | None:
    """The spec's rules as Kafka parses them, or None when they did not parse or Kafka would not take them."""
    if not draft.known(RULES_AT) or not draft.kafka.rules:
        return None
    try:
        return tuple(parse_rules(draft.kafka.rules))
    except RuleError:
        return None


def kafka_entities(draft: Draft) -> list[Entity]:
    """The entities whose certificates the brokers authenticate, when their subjects are known."""
    if not draft.known(("defaults", "subject")):
        return []
    return [e for e in draft.entities.values() if e.kind in KAFKA_KINDS]


# --- rules ------------------------------------------------------------------------------------------


def mapping_rules(draft: Draft) -> Iterator[Diagnostic]:
    """Each rule Kafka would refuse (or read otherwise), at its own item; all of them, not the first."""
    rules = draft.kafka.rules
    if not draft.known(RULES_AT):
        return
    if not rules:
        yield draft.diagnostic(RULES_AT, "an empty list maps no certificate, so Kafka would refuse every client",
                               "remove it to use DEFAULT, or list rules")
        return
    alone_ok = True
    for index, rule in enumerate(rules):
        try:
            parse_rules([rule])
        except RuleError as error:
            alone_ok = False
            yield draft.diagnostic(RULES_AT + (index,), error.message)
    if alone_ok:
        try:
            parse_rules(rules)
        except RuleError as error:  # the comma-joined value reads otherwise (MISREAD)
            yield draft.diagnostic(RULES_AT + (error.index,), error.message)


def mapped_entities(draft: Draft) -> Iterator[Diagnostic]:
    """Every broker, client and worker gets a principal: Kafka refuses a certificate no rule maps."""
    rules = parsed_rules(draft)
    if rules is None:
        return
    for e in kafka_entities(draft):
        subject = rfc2253(e.subject)
        try:
            mapped = map_principal(rules, subject)
        except PrincipalError as error:
            yield draft.diagnostic((e.kind, e.name), str(error), key=True)
            continue
        if mapped is None:
            yield draft.diagnostic((e.kind, e.name), f"no principal mapping rule matches its subject {subject}, so "
                                   "Kafka refuses its authentication (SslPrincipalMapper: NoMatchingRule)",
                                   "add a rule that matches it to kafka.principal_mapping_rules, or end them with "
                                   "DEFAULT", key=True)


def super_users(draft: Draft) -> Iterator[Diagnostic]:
    if not draft.known(("kafka", "super_users")):
        return
    for index, text in enumerate(draft.kafka.super_users):
        at = ("kafka", "super_users", index)
        if is_principal(text):
            problem = principal_problem(text)
            if problem:
                yield draft.diagnostic(at, f"'{text}' is not a principal Kafka takes in super.users: {problem}")
        elif text in draft.kinds and draft.kinds[text] not in KAFKA_KINDS:
            yield draft.diagnostic(at, f"'{text}' is a {WORD[draft.kinds[text]]}, which does not connect to Kafka",
                                   "name a broker, client or worker, or write a principal such as User:admin")
        elif text not in draft.kinds:
            names = [n for n, kind in draft.kinds.items() if kind in KAFKA_KINDS]
            yield draft.diagnostic(at, f"no broker, client or worker named '{text}'",
                                   did_you_mean(text, names) or "a principal is written TYPE:NAME, such as User:admin")
        elif text in draft.entities:
            yield from _principal_fits(draft, draft.entities[text], at)
    for e in _implied_super_users(draft):
        yield from _principal_fits(draft, e, (e.kind, e.name))


def _implied_super_users(draft: Draft) -> list[Entity]:
    if not all(draft.known(("kafka", key)) for key in ("super_users", "admin")) or not uses_authorization(draft):
        return []
    admin = draft.entities.get(draft.kafka.admin or "")
    return [e for e in draft.entities.values() if e.kind == "brokers" or (e is admin and e.kind == "clients")]


def _principal_fits(draft: Draft, e: Entity, at: SpecPath) -> Iterator[Diagnostic]:
    """An entity's principal goes into super.users: Kafka must read it back as the same one."""
    if parsed_rules(draft) is None or e not in kafka_entities(draft):
        return
    try:
        name = principal_of(draft, e)
    except PrincipalError:
        return  # mapped_entities says why
    problem = principal_problem(name)
    if problem:
        yield draft.diagnostic(at, f"{WORD[e.kind]} '{e.name}' maps to {name}, which super.users cannot hold: "
                               f"{problem}", "map it to another name with a rule in kafka.principal_mapping_rules",
                               key=at == (e.kind, e.name))


def admin(draft: Draft) -> Iterator[Diagnostic]:
    name, at = draft.kafka.admin, ("kafka", "admin")
    if name is None or not draft.known(at) or draft.unknown.get(name) == "clients":
        return
    if name not in draft.kinds:
        yield draft.diagnostic(at, f"no client named '{name}'",
                               did_you_mean(name, [n for n, kind in draft.kinds.items() if kind == "clients"]))
    elif draft.kinds[name] != "clients":
        yield draft.diagnostic(at, f"'{name}' is a {WORD[draft.kinds[name]]}, not a client: kafka-acls.sh runs with "
                               "a client's client.properties", "name a client")


def acls(draft: Draft) -> Iterator[Diagnostic]:
    for e in draft.entities.values():
        if e.kind not in ACL_KINDS:
            continue
        for index, acl in enumerate(e.acls):
            at = (e.kind, e.name, "acls", index)
            yield from _operations(draft, acl, at)
            yield from _resource(draft, acl, at)
            yield from _host(draft, acl, at)


def _operations(draft: Draft, acl: Acl, at: SpecPath) -> Iterator[Diagnostic]:
    if not acl.operations:
        yield draft.diagnostic(at + ("operations",), "a binding with no operations allows or denies nothing",
                               "list them, such as [read, describe]")
    takes = ("all", *SUPPORTED[acl.resource])
    for index, operation in enumerate(acl.operations):
        if operation not in takes:
            yield draft.diagnostic(at + ("operations", index), f"a {acl.resource} does not take the operation "
                                   f"{operation}: kafka-acls refuses the pair (AclEntry.supportedOperations)",
                                   f"a {acl.resource} takes {', '.join(takes)}")


def _resource(draft: Draft, acl: Acl, at: SpecPath) -> Iterator[Diagnostic]:
    if acl.resource == "cluster":
        if acl.pattern != "literal":
            yield draft.diagnostic(at + ("pattern",), "the cluster has one name, kafka-cluster, so it takes no "
                                   "pattern (kafka-acls ignores --cluster with a prefixed pattern)", "remove pattern")
        return
    where, prefixed, name = at + (acl.resource,), acl.pattern == "prefixed", acl.name
    if name == "*" and prefixed:
        yield draft.diagnostic(where, f"with pattern: prefixed, '*' is a literal first character, not every "
                               f"{acl.resource}", f"remove pattern: only with the literal pattern is '*' every "
                               f"{acl.resource}")
    elif acl.resource == "topic" and name != "*" and not _topic_name(name, prefixed):
        yield draft.diagnostic(where, f"'{name}' is not a Kafka topic name{' prefix' if prefixed else ''}: Kafka's "
                               "topics are letters, digits, '.', '_' and '-', at most 249, and not . or ..",
                               "for every topic write topic: '*'" if "*" in name else
                               "rename it, such as billing.invoices")
    elif any(ord(c) < 32 or ord(c) == 127 for c in name):
        yield draft.diagnostic(where, f"the {acl.resource} name holds a control character (such as a newline), "
                               "which kafka-acls.sh would pass on the command line", "remove it")


def _topic_name(name: str, prefix: bool) -> bool:
    return bool(TOPIC_RE.match(name)) and (prefix or name not in (".", ".."))


def _host(draft: Draft, acl: Acl, at: SpecPath) -> Iterator[Diagnostic]:
    if acl.host == "*":
        return
    try:
        ip = ipaddress.ip_address(acl.host)
    except ValueError:
        ip = None
    if ip is None or getattr(ip, "scope_id", None):
        yield draft.diagnostic(at + ("host",), f"'{acl.host}' is not an IP address: Kafka compares a binding's host "
                               "with the client's IP address, so a host name (or a zone) never matches",
                               "write the client's IP address, or '*' for any")


# --- warnings ---------------------------------------------------------------------------------------


def shared_principals(draft: Draft) -> Iterator[Diagnostic]:
    """Two entities that Kafka sees as one principal share every ACL and super-user right."""
    if parsed_rules(draft) is None:
        return
    first: dict[str, Entity] = {}
    for e in kafka_entities(draft):
        try:
            name = principal_of(draft, e)
        except PrincipalError:
            continue
        other = first.setdefault(name, e)
        if other is not e:
            yield draft.diagnostic((e.kind, e.name), f"maps to principal {name}, as {WORD[other.kind]} '{other.name}' "
                                   f"(at {draft.locations.of((other.kind, other.name), key=True)}) does: Kafka cannot "
                                   "tell them apart, and they share every ACL and super-user right",
                                   "give them subjects that the rules map apart, if they should differ", key=True)


RULES: tuple[Check, ...] = (mapping_rules, mapped_entities, super_users, admin, acls)
WARNINGS: tuple[Check, ...] = (shared_principals,)
