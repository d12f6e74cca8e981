"""A plan is plain data: changes from a closed set of actions, each with reason codes.

English comes only at display time (`Reason.text`); `--json` prints the codes and their details.
`apply` executes a plan's work list and never decides anything again.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, TextIO


class Action(str, Enum):
    CREATE = "create"
    UPDATE = "update"
    RENEW = "renew"
    ROTATE = "rotate"
    REPAIR = "repair"
    DELETE = "delete"

    @property
    def counted_as(self) -> str:
        return {"create": "create", "delete": "delete"}.get(self.value, "update")


REASONS: dict[str, str] = {
    "new_ca": "new CA",
    "new_entity": "new entity",
    "new_file": "new file",
    "subject_changed": "subject changed: {old} → {new}",
    "sans_changed": "SANs changed: {diff}",
    "usages_changed": "usages changed: {old} → {new}",
    "issuer_changed": "issuer changed: {old} → {new}",
    "validity_changed": "validity changed: {old} → {new}",
    "path_length_changed": "path_length changed: {old} → {new}",
    "expiring": "expires in {days} days (renew_before {renew_before})",
    "expired": "expired {days} days ago",
    "issuer_reissued": "issuer {issuer} was reissued",
    "imported_changed": "the imported certificate changed",
    "key_type_changed": "key type changed {old} → {new}",
    "key_replaced": "the key no longer matches the certificate",
    "rotate_requested": "requested with --rotate-key",
    "renew_requested": "requested with --renew",
    "cert_reissued": "certificate reissued",
    "key_rotated": "key rotated",
    "trust_changed": "trusted certificates changed",
    "password_changed": "password changed",
    "store_format_changed": "store format changed {old} → {new}",
    "pkcs12_changed": "pkcs12 profile changed {old} → {new}",
    "content_changed": "settings changed",
    "owner_changed": "owner changed to {owner}",
    "edited": "edited by hand",
    "deleted": "deleted by hand",
    "symlink": "replaced by a symlink (tlsgen writes a regular file in its place)",
    "removed": "removed from the spec",
    "not_needed": "no longer produced ({why})",
}


@dataclass(frozen=True)
class Reason:
    code: str
    detail: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, code: str, **detail: Any) -> "Reason":
        assert code in REASONS, code
        return cls(code, tuple(sorted(detail.items())))

    @property
    def text(self) -> str:
        return REASONS[self.code].format(**dict(self.detail))

    def as_json(self) -> dict:
        return {"code": self.code, **dict(self.detail), "message": self.text}


@dataclass(frozen=True)
class Change:
    path: str  # relative to out/
    owner: str  # "cas/<ca>", "<kind>/<name>", or "" for files of the whole output
    action: Action
    reasons: tuple[Reason, ...]

    def as_json(self) -> dict:
        return {"path": self.path, "owner": self.owner, "action": self.action.value,
                "reasons": [r.as_json() for r in self.reasons]}


@dataclass
class Plan:
    out: str
    changes: list[Change]
    work: Any = field(default=None, repr=False)  # what apply needs to carry the changes out (planner.Work)

    @property
    def empty(self) -> bool:
        return not self.changes

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

    def as_json(self) -> dict:
        return {"out": self.out, "changes": [c.as_json() for c in self.changes], "summary": self.counts()}

    def write_text(self, stream: TextIO, done: bool = False) -> None:
        """Grouped by entity; reasons shared by all of an entity's changes are said once, on its line."""
        paint = _painter(stream)
        groups: dict[str, list[Change]] = {}
        for change in self.changes:
            groups.setdefault(change.owner, []).append(change)
        for owner, changes in groups.items():
            shared = changes[0].reasons if len({c.reasons for c in changes}) == 1 else ()
            header = owner or "(output)"
            print(paint("1", header) + (f"  ({_said(shared)})" if shared else ""), file=stream)
            for change in changes:
                mark = {"create": "+", "delete": "-"}.get(change.action.counted_as, "~")
                color = {"+": "32", "-": "31", "~": "33"}[mark]
                name = change.path[len(owner) + 1:] if owner and change.path.startswith(owner + "/") else change.path
                reasons = "" if shared else f"  ({_said(change.reasons)})"
                print(f"  {paint(color, mark + ' ' + change.action.value.ljust(6))}  {name}{reasons}", file=stream)
        print(paint("1", self.summary(done)), file=stream)


def _said(reasons: tuple[Reason, ...]) -> str:
    return "; ".join(r.text for r in reasons)


def _painter(stream: TextIO):
    color = stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"
    return (lambda code, text: f"\033[{code}m{text}\033[0m") if color else (lambda code, text: text)


def print_json(doc: dict) -> None:
    json.dump(doc, sys.stdout, indent=2)
    sys.stdout.write("\n")
