"""SPEC's default trust, so that every mutual-TLS pair of the spec just works.

An entity without `trust:` trusts the root of its own issuer; the roots of the issuers of every
entity it connects to (a client's or worker's `brokers`, a worker's `connects_to`); and, for brokers
and servers, the roots of the issuers of every entity that connects to them. A Kafka client
bootstraps from the brokers it lists, then talks to every broker of the cluster (partition leaders),
and brokers talk to each other: so all brokers count as one peer group.

The indexes (roots of the whole cluster, of every broker client, of each server's clients) are built
once, so a spec of thousands of entities costs a pass, not a pass per entity.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Iterable

from .topology import CA, Entity, chain_of


def with_default_trust(entities: dict[str, Entity], cas: dict[str, CA], explicit: set[str]) -> dict[str, Entity]:
    """The entities, each not in `explicit` given its default trust (CA names, roots only, first seen first)."""
    root_of: dict[str, str] = {}

    def root(issuer: str) -> str:
        if issuer not in root_of:
            root_of[issuer] = chain_of(cas, issuer)[-1].name
        return root_of[issuer]

    def roots(of: Iterable[Entity]) -> list[str]:
        return list(dict.fromkeys(root(e.issuer) for e in of))

    cluster = roots(e for e in entities.values() if e.kind == "brokers")
    broker_clients = roots(e for e in entities.values() if e.brokers)
    connecting: dict[str, list[Entity]] = {}
    for e in entities.values():
        for name in e.connects_to:
            connecting.setdefault(name, []).append(e)
    result = {}
    for name, e in entities.items():
        if name in explicit:
            result[name] = e
            continue
        trust = [root(e.issuer), *(root(entities[n].issuer) for n in e.connects_to)]
        if e.brokers or e.kind == "brokers":
            trust += cluster
        if e.serves:
            trust += roots(connecting.get(name, ()))
        if e.kind == "brokers":
            trust += broker_clients
        result[name] = replace(e, trust=tuple(dict.fromkeys(trust)))
    return result
