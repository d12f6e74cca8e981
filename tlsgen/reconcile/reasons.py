"""The closed sets a plan is made of: actions, and reasons as codes.

English comes only at display time (`Reason.text`); `--json` prints the codes and their details.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any


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
    "imported_key_changed": "the imported CA certificate has a new key",
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
    "brokers_changed": "bootstrap.servers changed: {old} → {new}",
    "owner_changed": "owner {old} → {new}",
    "mode_changed": "mode {old} → {new}",
    "not_a_file": "not a regular file (tlsgen writes a regular file in its place)",
    "interrupted": "left by an interrupted apply",
    "edited": "edited by hand",
    "deleted": "deleted by hand",
    "symlink": "replaced by a symlink (tlsgen writes a regular file in its place)",
    "removed": "removed from the spec",
    "rollover_promoted": "the new CA of the rollover now issues, as ca.key and ca.crt",
    "rollover_retired": "the rollover retires the old CA",
    "not_needed": "no longer produced ({why})",
}


_PLAIN: dict[str, "Reason"] = {}
_ALONE: dict["Reason", tuple["Reason"]] = {}


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    detail: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, code: str, **detail: Any) -> "Reason":
        assert code in REASONS, code
        if not detail:  # most reasons of a large plan are one of a few ("new_file" for 60,000 files): shared
            return _PLAIN.setdefault(code, cls(code))
        return cls(code, tuple(sorted(detail.items())))

    def alone(self) -> tuple["Reason"]:
        """(self,); for a plain reason, one tuple shared by every step that has only it (60,000 new files)."""
        return (self,) if self.detail else _ALONE.setdefault(self, (self,))

    @property
    def text(self) -> str:
        return REASONS[self.code].format(**dict(self.detail))

    def as_json(self) -> dict:
        return {"code": self.code, **dict(self.detail), "message": self.text}
