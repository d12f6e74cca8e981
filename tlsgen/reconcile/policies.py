"""Why something must change: ordered chains of small checks, each returning its reason.

cert-manager's shape: every check is a pure function of the facts gathered about one thing (what
is wanted, what exists, the time, passed in and never read from the wall clock here). The first
check that fires decides the action; every fired reason is shown to the user. Two chains: why a
certificate is reissued, and why a file is rewritten or has its mode or owner set.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from cryptography import x509

from ..crypto import pki
from ..layout import Artifact
from ..model import CA, Entity, Subject, subject_text
from ..spec.duration import Duration
from .outdir import Current
from .reasons import Action, Reason
from .state import FileRecord

@dataclass(frozen=True, slots=True)
class CertWant:
    subject: Subject
    hostnames: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    usages: tuple[str, ...]
    issuer: str | None  # CA name; None for a self-signed root
    path_length: int | None  # CAs only
    validity: Duration
    renew_before: Duration

    @property
    def sans(self) -> tuple[str, ...]:
        """As `pki.sans_of` reads them back from a certificate: "DNS:kafka", "IP:127.0.0.1"."""
        return tuple([f"DNS:{h}" for h in self.hostnames] + [f"IP:{i}" for i in self.ip_addresses])

    def made_from(self) -> dict:
        """The settings recorded in state: the ones a certificate does not show by itself."""
        return {"issuer": self.issuer, "validity": str(self.validity)}


def ca_want(ca: CA) -> CertWant:
    return CertWant(subject=ca.subject, hostnames=(), ip_addresses=(), usages=(), issuer=ca.issuer,
                    path_length=ca.path_length, validity=ca.validity, renew_before=ca.renew_before)


def entity_want(e: Entity) -> CertWant:
    return CertWant(subject=e.subject, hostnames=e.hostnames, ip_addresses=e.ip_addresses, usages=e.usages,
                    issuer=e.issuer, path_length=None, validity=e.validity, renew_before=e.renew_before)


@dataclass(frozen=True, slots=True)
class CertFacts:
    """Everything the checks look at for one certificate."""

    want: CertWant
    cert: x509.Certificate
    recorded: dict  # made_from of the last apply ({} when unknown)
    now: datetime
    key_fp: str | None  # fingerprint of the key it must carry; None while a new key is being made
    cert_key_fp: str
    key_reasons: tuple[Reason, ...] = ()  # why a new key is being made
    issuer_name_reissued: str | None = None  # set when the issuer gets a new certificate in this plan
    issuer_signed: bool = True  # the current issuer's key verifies this certificate
    renew_requested: bool = False


def check_key(f: CertFacts) -> Reason | None:
    return f.key_reasons[0] if f.key_reasons else None


def check_key_match(f: CertFacts) -> Reason | None:
    if f.key_fp is not None and f.key_fp != f.cert_key_fp:
        return Reason.of("key_replaced")
    return None


def check_subject(f: CertFacts) -> Reason | None:
    have = pki.subject_of(f.cert)
    if have != f.want.subject:
        return Reason.of("subject_changed", old=subject_text(have), new=subject_text(f.want.subject))
    return None


def check_sans(f: CertFacts) -> Reason | None:
    have, want = pki.sans_of(f.cert), f.want.sans
    if set(have) == set(want):
        return None
    plain = lambda s: s.split(":", 1)[1]  # noqa: E731
    diff = [f"+{plain(s)}" for s in want if s not in have] + [f"-{plain(s)}" for s in have if s not in want]
    return Reason.of("sans_changed", diff=", ".join(diff))


def check_usages(f: CertFacts) -> Reason | None:
    have = pki.usages_of(f.cert)
    if set(have) != set(f.want.usages):
        return Reason.of("usages_changed", old="+".join(have) or "none", new="+".join(f.want.usages) or "none")
    return None


def check_issuer(f: CertFacts) -> Reason | None:
    old = f.recorded.get("issuer", f.want.issuer)
    if old != f.want.issuer:
        return Reason.of("issuer_changed", old=old or "self-signed", new=f.want.issuer or "self-signed")
    return None


def check_validity(f: CertFacts) -> Reason | None:
    old = f.recorded.get("validity", str(f.want.validity))
    if old != str(f.want.validity):
        return Reason.of("validity_changed", old=old, new=str(f.want.validity))
    return None


def check_path_length(f: CertFacts) -> Reason | None:
    constraints = pki.basic_constraints(f.cert)
    if f.want.path_length is None and not (constraints and constraints.ca):
        return None
    have = constraints.path_length if constraints else None
    if have != f.want.path_length:
        text = lambda n: "unlimited" if n is None else str(n)  # noqa: E731
        return Reason.of("path_length_changed", old=text(have), new=text(f.want.path_length))
    return None


def check_issuer_reissued(f: CertFacts) -> Reason | None:
    if f.issuer_name_reissued:
        return Reason.of("issuer_reissued", issuer=f.issuer_name_reissued)
    if not f.issuer_signed:
        return Reason.of("issuer_reissued", issuer=f.want.issuer)
    return None


def check_expiry(f: CertFacts) -> Reason | None:
    left = f.cert.not_valid_after_utc - f.now
    if left.total_seconds() <= 0:
        return Reason.of("expired", days=-left.days)
    if left <= f.want.renew_before.delta:
        return Reason.of("expiring", days=left.days, renew_before=str(f.want.renew_before))
    return None


def check_renew_requested(f: CertFacts) -> Reason | None:
    return Reason.of("renew_requested") if f.renew_requested else None


CERT_CHECKS: tuple[tuple[Action, Callable[[CertFacts], Reason | None]], ...] = (
    (Action.ROTATE, check_key),
    (Action.UPDATE, check_key_match),
    (Action.UPDATE, check_subject),
    (Action.UPDATE, check_sans),
    (Action.UPDATE, check_usages),
    (Action.UPDATE, check_issuer),
    (Action.UPDATE, check_validity),
    (Action.UPDATE, check_path_length),
    (Action.RENEW, check_issuer_reissued),
    (Action.RENEW, check_expiry),
    (Action.RENEW, check_renew_requested),
)


def reissue_reasons(facts: CertFacts) -> tuple[Action | None, tuple[Reason, ...]]:
    """The action (that of the first check that fired) and every fired reason; (None, ()) to keep it."""
    action, reasons = None, []
    for check_action, check in CERT_CHECKS:
        reason = check(facts)
        if reason is not None:
            action = action or check_action
            reasons.append(reason)
    return action, tuple(reasons)


# --- files ------------------------------------------------------------------------------------

# Which recorded input, when it differs, explains a file's update.
_INPUT_REASONS = {"cert": "cert_reissued", "chain": "cert_reissued", "key": "key_rotated",
                  "trust": "trust_changed", "password": "password_changed"}


@dataclass(frozen=True, slots=True)
class FileFacts:
    """Everything the file checks look at for one file of the layout."""

    artifact: Artifact
    current: Current
    record: FileRecord | None  # what the last apply recorded; None for a file it never wrote
    untouched: bool  # the file still has the digest the last apply recorded
    wanted: bytes | None  # the exact bytes it should hold, when the plan knows them and the file exists
    made_from: dict  # the inputs it should be made from; None where they are still to be made
    new_reason: Reason  # why it is new, if it is: a new CA, entity or file
    material: tuple[Action | None, tuple[Reason, ...]] = (None, ())  # keys and certificates: make new?
    holds: Callable[[bytes], bool] | None = None  # stores: does this file hold what it should?
    chown: tuple[int, int | None] | None = None  # the owner the spec asks for

    @property
    def pending(self) -> bool:
        return _has_none(self.made_from)


Verdict = tuple[Action, tuple[Reason, ...]]


def check_new_material(f: FileFacts) -> Verdict | None:
    action, reasons = f.material
    if action is None:
        return None
    if not f.current.exists and f.record is None:
        return Action.CREATE, reasons or f.new_reason.alone()
    return action, reasons


def check_missing(f: FileFacts) -> Verdict | None:
    if f.current.exists:
        return None
    if f.record is None:
        return Action.CREATE, f.new_reason.alone()
    return Action.REPAIR, (Reason.of("deleted"), *input_reasons(f.record.made_from, f.made_from))


def check_not_a_file(f: FileFacts) -> Verdict | None:
    if f.current.symlink:
        return Action.REPAIR, (Reason.of("symlink"),)
    if f.current.data is None:
        return Action.REPAIR, (Reason.of("not_a_file"),)
    return None


def check_content(f: FileFacts) -> Verdict | None:
    data = f.current.data
    if f.wanted is not None:
        if data == f.wanted:
            return None
    elif not f.pending:
        if f.untouched and f.record.made_from == f.made_from:
            return None
        if f.holds is not None and f.holds(data):
            return None  # a store holding exactly what it should: never re-serialise it
    inputs = input_reasons(f.record.made_from, f.made_from) if f.record is not None else ()
    if f.untouched:
        return Action.UPDATE, inputs or (Reason.of("content_changed"),)
    return Action.REPAIR, (Reason.of("edited"), *inputs)


def check_owner(f: FileFacts) -> Verdict | None:
    if f.chown is None or f.current.owned_by(f.chown):
        return None
    return Action.UPDATE, (Reason.of("owner_changed", old=f.current.owner_text, new=owner_text(f.chown)),)


def check_mode(f: FileFacts) -> Verdict | None:
    if f.current.mode == f.artifact.mode:
        return None
    return Action.REPAIR, (Reason.of("mode_changed", old=f"{f.current.mode:04o}", new=f"{f.artifact.mode:04o}"),)


# A file that fails one of these is written anew (which also sets its mode and owner) ...
WRITE_CHECKS: tuple[Callable[[FileFacts], Verdict | None], ...] = (
    check_new_material, check_missing, check_not_a_file, check_content)
# ... and one that passes them all may still need its mode or owner set.
ATTRIBUTE_CHECKS: tuple[Callable[[FileFacts], Verdict | None], ...] = (check_owner, check_mode)


def rewrite_verdict(facts: FileFacts) -> Verdict | None:
    """Why the file must be written anew: the first write check that fires, or None."""
    for check in WRITE_CHECKS:
        verdict = check(facts)
        if verdict is not None:
            return verdict
    return None


def attribute_verdict(facts: FileFacts) -> Verdict | None:
    """Why a file whose content stays must have its owner or mode set: every check that fires."""
    fired = [verdict for check in ATTRIBUTE_CHECKS if (verdict := check(facts)) is not None]
    if not fired:
        return None
    return fired[0][0], tuple(reason for _, reasons in fired for reason in reasons)


def input_reasons(recorded: dict, wanted: dict) -> tuple[Reason, ...]:
    reasons = []
    for key in sorted(set(recorded) | set(wanted)):
        old, new = recorded.get(key), wanted.get(key)
        if old == new:
            continue
        if key == "brokers":
            reasons.append(Reason.of("brokers_changed", old=old or "none", new=new or "none"))
        elif key == "format":
            reasons.append(Reason.of("store_format_changed", old=old, new=new))
        elif key == "profile":
            reasons.append(Reason.of("pkcs12_changed", old=old, new=new))
        elif key in _INPUT_REASONS:
            reasons.append(Reason.of(_INPUT_REASONS[key]))
        else:
            reasons.append(Reason.of("content_changed"))
    return tuple(dict.fromkeys(reasons))


def owner_text(owner: tuple[int, int | None]) -> str:
    return f"{owner[0]}" + (f":{owner[1]}" if owner[1] is not None else "")


def _has_none(value) -> bool:
    if value is None:
        return True
    if isinstance(value, dict):
        return any(_has_none(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_none(v) for v in value)
    return False
