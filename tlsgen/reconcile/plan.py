"""A plan is plain data: a frozen list of steps from a closed set, each with its reasons.

Terraform's rule: `plan` decides everything and `apply` only carries the steps out, checking that
what it writes is what the plan said; the plan can be printed (`write_text`, `as_json`) without
touching the disk. Steps: make a key, issue a certificate, write a file from a named source (its
layout artifact), set a file's or directory's mode and owner, delete a file.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterator, Mapping, TextIO, Union

from ..layout import Artifact, Directory
from ..model import Spec
from .policies import CertWant
from .reasons import Action, Reason
from .rollover import Note
from .state import FileRecord, Generation, Journal, Rollover

Owner = tuple[int, "int | None"]


@dataclass(frozen=True, slots=True)
class KnownKey:
    """A private key that exists and stays: its PKCS#8 PEM (never printed) and what it is."""

    pem: bytes = field(repr=False)
    fingerprint: str
    key_type: str


@dataclass(frozen=True, slots=True)
class MakeKey:
    identity: str  # the CA or entity
    key_type: str
    reasons: tuple[Reason, ...]


@dataclass(frozen=True, slots=True)
class IssueCert:
    identity: str
    want: CertWant
    is_ca: bool
    action: Action
    reasons: tuple[Reason, ...]


@dataclass(frozen=True, slots=True)
class WriteFile:
    """A file to write, and what apply must find it made of (`matches`). A plan of 60,000 files keeps
    16 bytes per file for that, not each file's inputs and digest (~250 bytes)."""

    artifact: Artifact
    action: Action
    reasons: tuple[Reason, ...]
    check: bytes  # _file_check of its inputs as the plan knew them, and of its bytes' digest where it knew them
    unknown: frozenset[tuple]  # where in its inputs (made_from) the plan had None: things still to be made
    knew_bytes: bool
    chown: Owner | None = None

    @classmethod
    def planned(cls, artifact: Artifact, action: Action, reasons: tuple[Reason, ...], made_from: dict,
                digest: str | None, chown: Owner | None) -> "WriteFile":
        """`made_from`: the inputs as state records them, None where still to be made; `digest`: of the
        exact bytes, where the plan knows them."""
        unknown = frozenset(_none_paths(made_from))
        return cls(artifact, action, reasons, _file_check(made_from, digest), _SHARED.setdefault(unknown, unknown),
                   digest is not None, chown)

    def matches(self, made_from: dict, digest: str) -> bool:
        """Whether apply made what the plan said: the same inputs wherever the plan knew them, and the
        same bytes where it knew those."""
        return _file_check(_blanked(made_from, self.unknown), digest if self.knew_bytes else None) == self.check


_SHARED: dict[frozenset, frozenset] = {}  # a few shapes of unknown inputs, shared by every file of a plan


def _file_check(made_from: dict, digest: str | None) -> bytes:
    text = json.dumps([made_from, digest], sort_keys=True, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


def _none_paths(value, path: tuple = ()) -> Iterator[tuple]:
    if value is None:
        yield path
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _none_paths(v, path + (k,))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _none_paths(v, path + (i,))


def _blanked(value, unknown: frozenset[tuple], path: tuple = ()):
    """`value` with None wherever the plan had None (whatever apply made there)."""
    if path in unknown:
        return None
    if not unknown:
        return value
    if isinstance(value, dict):
        return {k: _blanked(v, unknown, path + (k,)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_blanked(v, unknown, path + (i,)) for i, v in enumerate(value)]
    return value


@dataclass(frozen=True, slots=True)
class SetAttributes:
    """A file whose content stays, or a directory, gets the mode (and owner) it should have."""

    target: Artifact | Directory
    action: Action
    reasons: tuple[Reason, ...]
    chown: Owner | None = None


@dataclass(frozen=True, slots=True)
class DeleteFile:
    path: str
    part: str
    reasons: tuple[Reason, ...]


Step = Union[MakeKey, IssueCert, WriteFile, SetAttributes, DeleteFile]


@dataclass(frozen=True, slots=True)
class Change:
    """What a user sees of a step on a file: path, part of out/, action, reasons."""

    path: str  # relative to out/
    part: str  # "cas/<ca>", "<kind>/<name>", or "" for files of the whole output
    action: Action
    reasons: tuple[Reason, ...]

    def as_json(self) -> dict:
        return {"path": self.path, "owner": self.part, "action": self.action.value,
                "reasons": [r.as_json() for r in self.reasons]}


@dataclass(frozen=True, slots=True)
class Plan:
    out: str
    spec: Spec = field(repr=False)
    now: datetime
    steps: tuple[Step, ...]
    keys: Mapping[str, KnownKey] = field(repr=False)  # keys that stay, by CA or entity
    certs: Mapping[str, bytes] = field(repr=False)  # PEM of the certificates that stay (imported CAs too)
    passwords: Mapping[str, str] = field(repr=False)  # by entity
    kept: Mapping[str, FileRecord] = field(repr=False)  # records of the files whose content stays
    salt: bytes = field(repr=False)  # keys the HMAC digests of secret files (state.py)
    salt_is_new: bool
    serial: int  # of the state the plan was made from
    journal: Journal  # what interrupted applies set out to write: ours until an apply completes
    state_changed: bool  # the state must be rewritten even with no file step (a file left, a record moved)
    next_due: datetime | None  # the earliest moment a certificate falls within renew_before (for watch)
    rollovers: Mapping[str, Rollover] = field(default_factory=dict)  # CA rollovers in progress after this apply
    notes: tuple[Note, ...] = ()  # what this plan does to CA rollovers, and what comes next
    strimzi: Mapping[str, Generation] = field(default_factory=dict)  # Strimzi CA role → generations after apply

    @property
    def changes(self) -> tuple[Change, ...]:
        return tuple(self._changes())

    def _changes(self) -> Iterator[Change]:
        for step in self.steps:
            if isinstance(step, WriteFile):
                yield Change(step.artifact.path, step.artifact.part, step.action, step.reasons)
            elif isinstance(step, SetAttributes):
                yield Change(step.target.path, step.target.part, step.action, step.reasons)
            elif isinstance(step, DeleteFile):
                yield Change(step.path, step.part, Action.DELETE, step.reasons)

    @property
    def empty(self) -> bool:
        return not any(isinstance(s, (WriteFile, SetAttributes, DeleteFile)) for s in self.steps)

    @property
    def noop(self) -> bool:
        """Nothing to write at all, not even the state: apply leaves every byte and mtime alone."""
        return self.empty and not self.state_changed

    def of_type(self, kind: type) -> list:
        return [s for s in self.steps if isinstance(s, kind)]

    def counts(self) -> dict[str, int]:
        counts = {"create": 0, "update": 0, "delete": 0}
        for change in self._changes():
            counts[change.action.counted_as] += 1
        return counts

    def summary(self, done: bool = False) -> str:
        if self.empty:
            return "no changes: out/ matches the spec" if not done else "no changes"
        c = self.counts()
        verb = ("created", "updated", "deleted") if done else ("to create", "to update", "to delete")
        return f"{c['create']} {verb[0]}, {c['update']} {verb[1]}, {c['delete']} {verb[2]}"

    def as_json(self, command: str = "tlsgen apply") -> dict:
        return {"out": self.out, "changes": [c.as_json() for c in self.changes], "summary": self.counts(),
                "rollovers": [n.as_json(command) for n in self.notes]}

    def write_notes(self, stream: TextIO, command: str = "tlsgen apply", done: bool = False) -> None:
        """What this plan does to CA rollovers and what comes next (said even when nothing changes)."""
        for note in self.notes:
            for line in note.lines(command, done):
                print(line, file=stream)

    def write_text(self, stream: TextIO, done: bool = False, verbose: bool = False) -> None:
        """Grouped by part of out/; reasons shared by all of a part's changes are said once, on its line.
        Changes that are the same for many entities of a kind are said once for all of them
        (`clients/* (300): ~ update client.properties (...)`) unless `verbose`."""
        paint = _painter(stream)
        parts: dict[str, list[Change]] = {}
        for change in self._changes():
            parts.setdefault(change.part, []).append(change)
        groups = {} if verbose else _same_for_many(parts)
        starts: dict[str, list[tuple]] = {}  # a group is said where its first part comes
        for key, group_parts in groups.items():
            starts.setdefault(group_parts[0], []).append(key)
        covered = {(part, action, reasons) for (_, action, reasons, _), group_parts in groups.items()
                   for part in group_parts}
        for part, changes in parts.items():
            for key in starts.get(part, ()):
                print(_group_line(key, len(groups[key]), paint), file=stream)
            changes = [c for c in changes if (part, c.action, c.reasons) not in covered]
            if changes:
                _write_part(stream, paint, part, changes)
        print(paint("1", self.summary(done)), file=stream)


GROUP_MIN = 3  # entities of a kind with the same changes, from which they are said once for all


def _same_for_many(parts: dict[str, list[Change]]) -> dict[tuple, list[str]]:
    """The entity parts whose changes of one action and reasons are the same, keyed by (kind, action,
    reasons, the files): a key that many parts share is one line. File names that carry the entity's
    name are compared as <name>. Per part a tuple of names, not per change: 60,000 changes are many."""
    per_key: dict[tuple, dict[tuple, list[str]]] = {}
    for part, changes in parts.items():
        kind, _, name = part.partition("/")
        if not name or kind == "cas":
            continue
        files: dict[tuple, list[str]] = {}
        for change in changes:
            files.setdefault((change.action, change.reasons), []).append(
                change.path[len(part) + 1:].replace(name, "<name>"))
        for (action, reasons), names in files.items():
            per_key.setdefault((kind, action, reasons), {}).setdefault(tuple(sorted(names)), []).append(part)
    return {(kind, action, reasons, files): group_parts for (kind, action, reasons), by_files in per_key.items()
            for files, group_parts in by_files.items() if len(group_parts) >= GROUP_MIN}


def _group_line(key: tuple, count: int, paint) -> str:
    kind, action, reasons, files = key
    mark = {"create": "+", "delete": "-"}.get(action.counted_as, "~")
    color = {"+": "32", "-": "31", "~": "33"}[mark]
    return (f"{paint('1', f'{kind}/* ({count})')}: {paint(color, mark + ' ' + action.value)}  {', '.join(files)}"
            f"  ({_said(reasons)})")


def _write_part(stream: TextIO, paint, part: str, changes: list[Change]) -> None:
    shared = changes[0].reasons if len({c.reasons for c in changes}) == 1 else ()
    print(paint("1", part or "(output)") + (f"  ({_said(shared)})" if shared else ""), file=stream)
    for change in changes:
        mark = {"create": "+", "delete": "-"}.get(change.action.counted_as, "~")
        color = {"+": "32", "-": "31", "~": "33"}[mark]
        name = change.path[len(part) + 1:] if part and change.path.startswith(part + "/") else \
            "." if change.path == part else change.path
        reasons = "" if shared else f"  ({_said(change.reasons)})"
        print(f"  {paint(color, mark + ' ' + change.action.value.ljust(6))}  {name or '.'}{reasons}", file=stream)


def _said(reasons: tuple[Reason, ...]) -> str:
    return "; ".join(r.text for r in reasons)


def _painter(stream: TextIO):
    isatty = getattr(stream, "isatty", lambda: False)
    color = isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"
    return (lambda code, text: f"\033[{code}m{text}\033[0m") if color else (lambda code, text: text)


def print_json(doc: dict) -> None:
    json.dump(doc, sys.stdout, indent=2)
    sys.stdout.write("\n")
