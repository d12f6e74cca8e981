"""From spec files to a resolved `Spec`, or every problem found, each at its place.

The flow, one module per step: load the YAML with its places (`spec.loader`) → check each entry's
shape (`spec.translate`) → read what the spec points at (`sources`) and apply the defaults
(`resolve`) → judge the whole (`rules`, `ca_rules`) → default trust (`trust`). Each step goes on
with whatever the previous ones could make sense of, so one run reports every problem; nothing here
writes anything.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

from ..diagnostics import UserError
from ..spec.loader import load
from ..spec.translate import parse
from . import kafka_rules, rules
from .resolve import Draft, resolve
from .ownership import with_image_owners
from .sources import Sources
from .topology import Spec
from .trust import with_default_trust

DEFAULT_SPEC = Path("specs")


def read_spec(source: Path | None = None, out: Path | None = None, now: datetime | None = None,
              euid: int | None = None) -> Spec:
    """The resolved spec, or UserError with every diagnostic. `now` dates imported CAs (default: the clock);
    `euid` is who will write out/ (default: this process): as root, owners default to the images' users."""
    source = source or DEFAULT_SPEC
    raw = load(source)
    parsed = parse(raw)
    sources = Sources(raw.locations)
    draft = resolve(parsed, sources, out, source, now or datetime.now(timezone.utc))
    problems = [*raw.problems, *parsed.problems, *sources.problems, *rules.check(draft), *kafka_rules.check(draft)]
    if problems:
        raise UserError(problems)
    return _finished(draft, sources, os.geteuid() if euid is None else euid)


def _finished(draft: Draft, sources: Sources, euid: int) -> Spec:
    """The spec as the rest of tlsgen wants it: lists without repeats, IPs in canonical form, default trust,
    and (for root, who can chown) each entity's owner defaulted to its image's user."""
    entities = {name: replace(e, brokers=tuple(dict.fromkeys(e.brokers)), connects_to=tuple(dict.fromkeys(e.connects_to)),
                              ip_addresses=tuple(str(ipaddress.ip_address(ip.strip("[]"))) for ip in e.ip_addresses))
                for name, e in draft.entities.items()}
    explicit = {name for name, e in entities.items() if draft.written(e, "trust")}
    return Spec(source=draft.source, output=draft.output, cas=draft.cas,
                entities=with_image_owners(with_default_trust(entities, draft.cas, explicit), euid), trusted=draft.trusted,
                compose=draft.compose, inputs=tuple(dict.fromkeys(sources.inputs)), origins=draft.public_origins(),
                kubernetes=draft.kubernetes, kafka=draft.kafka,
                warnings=(*rules.warnings(draft), *kafka_rules.warnings(draft)),
                environment=tuple(dict.fromkeys(sources.environment)))
