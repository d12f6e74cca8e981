"""A plan is plain data: a frozen list of steps from a closed set, each with its reasons.

Terraform's rule: `plan` decides everything and `apply` only carries the steps out, checking that
what it writes is what the plan said; the plan can be printed (`write_text`, `as_json`) without
touching the disk. Steps: make a key, issue a certificate, write a file from a named source (its
layout artifact), set a file's or directory's mode and owner, delete a file.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from datetime import datetime
from typing import Mapping, TextIO, Union

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
    artifact: Artifact
    action: Action
    reasons: tuple[Reason, ...]
    made_from: dict  # the inputs it is made from, as state records them; None where still to be made
    expect: str | None  # the digest of the exact bytes, where the plan knows them (apply checks it)
    chown: Owner | None = None


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
        changes = []
        for step in self.steps:
            if isinstance(step, WriteFile):
                changes.append(Change(step.artifact.path, step.artifact.part, step.action, step.reasons))
            elif isinstance(step, SetAttributes):
                changes.append(Change(step.target.path, step.target.part, step.action, step.reasons))
            elif isinstance(step, DeleteFile):
                changes.append(Change(step.path, step.part, Action.DELETE, step.reasons))
        return tuple(changes)

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
        for change in self.changes:
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
        all_changes = self.changes
        groups = {} if verbose else _same_for_many(all_changes)
        covered = {id(c) for group in groups.values() for c in group}
        parts: dict[str, list[Change]] = {}
        for change in all_changes:
            parts.setdefault(change.part, []).append(change)
        said_groups = set()
        for part, changes in parts.items():
            for key, group in groups.items():
                if key not in said_groups and any(c.part == part for c in group):
                    said_groups.add(key)
                    print(_group_line(key, group, paint), file=stream)
            changes = [c for c in changes if id(c) not in covered]
            if changes:
                _write_part(stream, paint, part, changes)
        print(paint("1", self.summary(done)), file=stream)


GROUP_MIN = 3  # entities of a kind with the same changes, from which they are said once for all


def _same_for_many(changes: tuple[Change, ...]) -> dict[tuple, list[Change]]:
    """Changes of entity parts keyed by (kind, action, reasons, the set of files): a key that many
    entities share is one line; file names that carry the entity's name are compared as <name>."""
    per_part: dict[tuple, dict[str, list[Change]]] = {}
    for change in changes:
        kind, _, name = change.part.partition("/")
        if not name or kind == "cas":
            continue
        file = change.path[len(change.part) + 1:].replace(name, "<name>")
        per_part.setdefault((kind, change.action, change.reasons), {}).setdefault(change.part, []).append((file, change))
    groups: dict[tuple, list[Change]] = {}
    for (kind, action, reasons), by_part in per_part.items():
        by_files: dict[tuple, list] = {}
        for part, entries in by_part.items():
            by_files.setdefault(tuple(sorted(f for f, _ in entries)), []).extend(c for _, c in entries)
        for files, group in by_files.items():
            if len({c.part for c in group}) >= GROUP_MIN:
                groups[(kind, action, reasons, files)] = group
    return groups


def _group_line(key: tuple, group: list[Change], paint) -> str:
    kind, action, reasons, files = key
    mark = {"create": "+", "delete": "-"}.get(action.counted_as, "~")
    color = {"+": "32", "-": "31", "~": "33"}[mark]
    count = len({c.part for c in group})
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
