"""Why a certificate must be reissued: an ordered chain of small checks, each returning its reason.

cert-manager's shape: every check is a pure function of what is wanted, what exists and the time
(passed in, never read from the wall clock here). The first check that fires decides the action;
every fired reason is shown to the user.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..model import Subject, subject_text
from .plan import Action, Reason
from ..spec.duration import Duration

_SHORT = {NameOID.COUNTRY_NAME: "C", NameOID.STATE_OR_PROVINCE_NAME: "ST", NameOID.LOCALITY_NAME: "L",
          NameOID.ORGANIZATION_NAME: "O", NameOID.ORGANIZATIONAL_UNIT_NAME: "OU", NameOID.COMMON_NAME: "CN"}
_USAGE = {ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth", ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth"}


@dataclass(frozen=True)
class CertWant:
    subject: Subject
    sans: tuple[str, ...]  # "DNS:kafka", "IP:127.0.0.1"
    usages: tuple[str, ...]
    issuer: str | None  # CA name; None for a self-signed root
    path_length: int | None  # CAs only
    validity: Duration
    renew_before: Duration

    def made_from(self) -> dict:
        """The settings recorded in state: the ones a certificate does not show by itself."""
        return {"issuer": self.issuer, "validity": str(self.validity)}


@dataclass(frozen=True)
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
    extra: dict = field(default_factory=dict)


def subject_of(cert: x509.Certificate) -> Subject:
    return tuple((_SHORT.get(a.oid, a.oid.dotted_string), str(a.value)) for a in cert.subject)


def sans_of(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    return tuple([f"DNS:{n}" for n in ext.get_values_for_type(x509.DNSName)]
                 + [f"IP:{ip}" for ip in ext.get_values_for_type(x509.IPAddress)])


def usages_of(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return ()
    return tuple(_USAGE.get(oid, oid.dotted_string) for oid in ext)


def path_length_of(cert: x509.Certificate) -> int | None:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length
    except x509.ExtensionNotFound:
        return None


def check_key(f: CertFacts) -> Reason | None:
    return f.key_reasons[0] if f.key_reasons else None


def check_key_match(f: CertFacts) -> Reason | None:
    if f.key_fp is not None and f.key_fp != f.cert_key_fp:
        return Reason.of("key_replaced")
    return None


def check_subject(f: CertFacts) -> Reason | None:
    have = subject_of(f.cert)
    if have != f.want.subject:
        return Reason.of("subject_changed", old=subject_text(have), new=subject_text(f.want.subject))
    return None


def check_sans(f: CertFacts) -> Reason | None:
    have, want = sans_of(f.cert), f.want.sans
    if set(have) == set(want):
        return None
    plain = lambda s: s.split(":", 1)[1]  # noqa: E731
    diff = [f"+{plain(s)}" for s in want if s not in have] + [f"-{plain(s)}" for s in have if s not in want]
    return Reason.of("sans_changed", diff=", ".join(diff))


def check_usages(f: CertFacts) -> Reason | None:
    have = usages_of(f.cert)
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
    if f.want.path_length is None and not _is_ca(f.cert):
        return None
    have = path_length_of(f.cert)
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


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


CHECKS: tuple[tuple[Action, Callable[[CertFacts], Reason | None]], ...] = (
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
    for check_action, check in CHECKS:
        reason = check(facts)
        if reason is not None:
            action = action or check_action
            reasons.append(reason)
    return action, tuple(reasons)
