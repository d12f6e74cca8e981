"""Every default applied: the parsed spec becomes a `Draft` of the topology's frozen dataclasses.

Nothing is judged here (`rules` does that): a CA or entity is built from what it says and what it
inherits, and `origins` remembers where each of its settings was written, so that a rule, or
`apply` long after validation, can name the line to change.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterator, Mapping

from ..diagnostics import Diagnostic
from ..spec import schema
from ..spec.loader import Locations, SpecPath, dotted
from ..spec.translate import Parsed
from .acls import KafkaSettings, resolve_acls, resolve_kafka
from .sources import CertFacts, Sources
from .topology import CA, CA_DEFAULT_VALIDITY, KINDS, SERVING_KINDS, SUBJECT_ORDER, Compose, Entity, Kubernetes, Origin, \
    Secret, Strimzi, Subject, \
    Trusted

FROM_DEFAULTS = "from defaults"
# Settings a CA or entity inherits from `defaults` when it leaves them out. Each has the same name in
# the entry, in `defaults` and in the resolved CA/Entity; the value is what a CA takes when it leaves
# the setting out (None: not a CA setting), since a CA's validity is ten years, not a leaf's.
INHERITED: dict[str, Any] = {
    "key": FROM_DEFAULTS,
    "validity": CA_DEFAULT_VALIDITY,
    "renew_before": FROM_DEFAULTS,
    "keystore": None,
    "truststore": None,
    "pkcs12": None,
    "password": None,
    "mount": None,
    "owner": None,
    "image": None,
}


@dataclass
class Draft:
    """The spec resolved but not yet judged: what `rules` look at."""

    source: Path
    locations: Locations
    now: datetime
    defaults: schema.Defaults
    cas: dict[str, CA]
    entities: dict[str, Entity]
    trusted: dict[str, Trusted]
    facts: dict[str, CertFacts]  # imported CA name -> what its certificate says
    names: list[tuple[str, str]]  # (section, name) of every entry written, in spec order
    # entries whose own problems were reported (schema errors, unreadable files): references to them
    # are not judged, and settings that did not parse are left alone
    unknown: dict[str, str]
    broken: set[SpecPath]
    output: Path
    output_at: SpecPath | None  # ("output",) when the spec chose the directory; None for --out or the default
    out_option: bool  # the directory came from --out
    compose: Compose
    compose_file_at: SpecPath | None  # None when compose did not parse
    kubernetes: Kubernetes | None = None
    # (section, name) -> {setting: OWN | DEFAULTS | ENTRY}: where each setting of a CA or entity was written
    origins: dict[tuple[str, str], Mapping[str, str]] = field(default_factory=dict)
    kinds: dict[str, str] = field(default_factory=dict)  # entity name -> its kind, for every entity written
    kafka: KafkaSettings = KafkaSettings()  # the `kafka:` section

    def at(self, entry: CA | Entity, setting: str) -> SpecPath:
        """Where a CA's or entity's setting was written: its own line, `defaults`, or (built in) the entry."""
        path = _path_of(entry)
        return _where(path, setting, self.origins[path][setting])

    def written(self, entry: CA | Entity, setting: str) -> bool:
        """Whether the entry sets this itself (not inherited, not built in)."""
        return self.origins[_path_of(entry)][setting] == OWN

    def set_origins(self, path: tuple[str, str], where: dict[str, SpecPath]) -> None:
        """Remember where each setting of the entry at `path` was written (`_setting`'s paths): as one
        mapping shared by every entry written alike, since a spec of 5,000 entities has 85,000 settings."""
        shape = {setting: OWN if at == path + (setting,) else DEFAULTS if at == _defaults_at(setting) else ENTRY
                 for setting, at in where.items()}
        key = tuple(shape.items())
        self.origins[path] = _SHAPES.setdefault(key, MappingProxyType(shape))

    def known(self, *paths: SpecPath) -> bool:
        """Whether each of these settings parsed: a rule about one that did not would be a follow-on error."""
        return not any(p[:i] in self.broken for p in paths for i in range(1, len(p) + 1))

    def diagnostic(self, path: SpecPath, message: str, hint: str | None = None, *, key: bool = False) -> Diagnostic:
        return self.locations.diagnostic(path, message, hint, key=key)

    def public_origins(self) -> Mapping[tuple[str, str], Origin]:
        """(name, setting) -> Origin, for the spec that passed the rules (so names are unique)."""
        return _Origins(self.locations, self.origins)


OWN, DEFAULTS, ENTRY = "own", "defaults", "entry"  # a setting is written in the entry, in defaults, or built in
_SHAPES: dict[tuple, Mapping[str, str]] = {}


def _where(path: tuple[str, str], setting: str, written: str) -> SpecPath:
    """The path a message about the setting points at: its own, defaults', or the entry's (built in)."""
    return path + (setting,) if written == OWN else _defaults_at(setting) if written == DEFAULTS else path


class _Origins(Mapping):
    """Origins placed when asked for: most runs never need one, and a spec has thousands."""

    def __init__(self, locations: Locations, origins: dict[tuple[str, str], Mapping[str, str]]):
        self.locations, self.origins = locations, origins
        self.section = {name: section for section, name in origins}

    def __getitem__(self, key: tuple[str, str]) -> Origin:
        name, setting = key
        path = (self.section[name], name)
        at = _where(path, setting, self.origins[path][setting])
        return Origin(dotted(at), self.locations.of(at))

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return ((name, setting) for (_, name), shape in self.origins.items() for setting in shape)

    def __len__(self) -> int:
        return sum(len(shape) for shape in self.origins.values())


def _path_of(entry: CA | Entity) -> SpecPath:
    return ("cas", entry.name) if isinstance(entry, CA) else (entry.kind, entry.name)


def resolve(parsed: Parsed, sources: Sources, out: Path | None, source: Path, now: datetime) -> Draft:
    locations = sources.locations
    output, output_at = _output_dir(parsed, locations, out)
    draft = Draft(source=source, locations=locations, now=now, defaults=parsed.defaults, cas={}, entities={},
                  trusted={}, facts={}, names=parsed.names, unknown=dict(parsed.failed), broken=parsed.broken,
                  output=output, output_at=output_at, out_option=out is not None,
                  compose=_compose(parsed, sources, output, output_at),
                  compose_file_at=("compose", "file") if ("compose",) not in parsed.broken else None)
    draft.kinds = {name: section for section, name in parsed.names if section in KINDS}
    k = parsed.kubernetes
    if k is not None:
        s = k.strimzi
        draft.kubernetes = Kubernetes(k.namespace, Strimzi(s.cluster, s.cluster_ca, s.clients_ca) if s else None)
    draft.kafka = resolve_kafka(parsed.kafka)
    for name, item in parsed.entries["cas"].items():
        _resolve_ca(draft, sources, name, item)
    for name, item in parsed.entries["trusted"].items():
        trusted = sources.trusted(name, item)
        if trusted is None:
            draft.unknown[name] = "trusted"
        else:
            draft.trusted[name] = trusted
    for kind, name, item in parsed.entities():
        draft.entities[name] = _resolve_entity(draft, sources, kind, name, item)
    return draft


def _setting(draft: Draft, path: SpecPath, item: Any, name: str, at: SpecPath) -> tuple[Any, SpecPath]:
    """A setting's value and where it was written: the entry's own (`at`, the setting's path), else
    `defaults`' (written there, or built in: then the entry's own path, since that is where a message
    about it belongs)."""
    own = getattr(item, name, None)
    if own is not None:
        return own, at
    if name in draft.defaults.model_fields_set or not draft.known(_defaults_at(name)):
        return getattr(draft.defaults, name), _defaults_at(name)
    return getattr(draft.defaults, name), path


@functools.lru_cache(maxsize=None)
def _defaults_at(setting: str) -> SpecPath:
    return ("defaults", setting)


def _resolve_ca(draft: Draft, sources: Sources, name: str, item: schema.CASpec) -> None:
    path = ("cas", name)
    values, where = {}, {}
    for setting, ca_default in INHERITED.items():
        at = path + (setting,)
        if ca_default is FROM_DEFAULTS:
            values[setting], where[setting] = _setting(draft, path, item, setting, at)
        elif ca_default is not None:
            own = getattr(item, setting)
            values[setting] = own if own is not None else ca_default
            where[setting] = at if own is not None else path
    where["issuer"] = path + ("issuer",) if item.issuer is not None else path
    draft.set_origins(path, where)
    imported = None
    if item.import_ is not None:
        read = sources.imported_ca(path, item.import_)
        if read is None:
            draft.unknown[name] = "cas"
            return
        imported, draft.facts[name] = read
    draft.cas[name] = CA(name=name, subject=_subject(draft, item.subject, name),
                         issuer=item.issuer if imported is None else None, path_length=item.path_length,
                         imported=imported, **values)


def _resolve_entity(draft: Draft, sources: Sources, kind: str, name: str, item: schema.EntityBase) -> Entity:
    path = (kind, name)
    values, where = {}, {}
    for setting in INHERITED:
        values[setting], where[setting] = _setting(draft, path, item, setting, path + (setting,))
    if kind == "servers":  # a server's image is its own (mongo | none): defaults.image names a Kafka image
        own, at = getattr(item, "image", None), path + ("image",)
        values["image"], where["image"] = (own, at) if own else ("none", path)
    values["password"] = _password(sources, where["password"], values["password"])
    if values["owner"]:
        uid, _, gid = values["owner"].partition(":")
        values["owner"] = (int(uid), int(gid) if gid else None)
    for setting in ("issuer", "hostnames", "ip_addresses", "trust", "service", "brokers", "connects_to"):
        where[setting] = path + (setting,) if setting in item.model_fields_set else path
    draft.set_origins(path, where)
    hostnames = item.hostnames if item.hostnames is not None else ([name] if kind in SERVING_KINDS else [])
    return Entity(
        kind=kind, name=name, issuer=item.issuer, subject=_subject(draft, item.subject, name),
        trust=tuple(item.trust or ()), service=item.service if "service" in item.model_fields_set else name,
        hostnames=tuple(hostnames), ip_addresses=tuple(item.ip_addresses or ()), port=getattr(item, "port", None),
        client_auth=getattr(item, "client_auth", None), brokers=tuple(getattr(item, "brokers", ())),
        connects_to=tuple(getattr(item, "connects_to", ())), acls=resolve_acls(getattr(item, "acls", ())), **values)


def _password(sources: Sources, at: SpecPath, source: Any) -> Secret | None:
    if source == "generate":
        return None
    value = sources.secret(at, source, strip=True)
    return Secret(value) if value is not None else None


def _subject(draft: Draft, subject: schema.Subject | None, name: str) -> Subject:
    """defaults.subject, then the entry's own attributes over it; the common name defaults to the name."""
    values = {**draft.defaults.subject.model_dump(exclude_none=True),
              **(subject.model_dump(exclude_none=True) if subject else {})}
    values.setdefault("common_name", name)
    return tuple((short, values[attribute]) for short, attribute in SUBJECT_ORDER if attribute in values)


def _output_dir(parsed: Parsed, locations: Locations, out: Path | None) -> tuple[Path, SpecPath | None]:
    if out is not None:
        return out, None
    if parsed.output:
        return Path(os.path.normpath(locations.file_of(("output",)).parent / parsed.output)), ("output",)
    return Path("out"), None


def _compose(parsed: Parsed, sources: Sources, output: Path, output_at: SpecPath | None) -> Compose:
    c, locations = parsed.compose, sources.locations
    # One path or a list: a list's items have places of their own.
    ats = [("compose", "services_from", i) if ("compose", "services_from", i) in locations.values
           else ("compose", "services_from") for i in range(len(c.services_from or ()))]
    files = [Path(os.path.normpath(sources.file(at, name))) for at, name in zip(ats, c.services_from or ())]
    found = [sources.compose_services(at, file) for at, file in zip(ats, files)]
    services = tuple(dict.fromkeys(n for f in found for n in f.names)) if files and None not in found else None
    if c.project_dir is not None:
        project = Path(os.path.normpath(locations.file_of(("compose", "project_dir")).parent / c.project_dir))
    elif files:  # Compose's project directory is the directory of the first -f file
        project = files[0].absolute().parent
    elif output_at is not None:  # the spec places out/ (e.g. ../out beside the compose file): its parent
        project = Path(os.path.normpath(output.absolute().parent))
    else:  # --out, or out/ in the current directory: paths the user typed where they run docker compose
        project = Path(os.path.abspath(os.curdir))
    return Compose(file=c.file, project_dir=project, services_from=tuple(files), services=services,
                   includes=tuple(file for file, f in zip(files, found) if f is not None and f.includes))
